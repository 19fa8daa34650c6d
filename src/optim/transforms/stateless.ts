import { isNaN as isNaNTensor, type Tensor, tidy, where } from '@tensorflow/tfjs-core';
import type { TensorMap } from '../../tree/types';
import { checkTensorMap, mapTensors, requireParams } from '../tree';
import type { GradientTransformation } from '../types';

/** State of transforms that keep only a step count. */
export type CountState = {
  /** Steps taken so far. */
  count: number;
};

/**
 * A transform that maps the updates tensor by tensor and keeps only a step
 * count (for schedules). `f` runs inside `tf.tidy` and must return fresh
 * tensors.
 */
export function mapUpdatesTransform(
  fn: string,
  f: (updates: TensorMap, step: number, params: TensorMap | undefined) => TensorMap,
  needsParams = false,
): GradientTransformation<CountState> {
  return {
    init: () => ({ count: 0 }),
    update(grads, state, params) {
      checkTensorMap(fn, 'grads', grads);
      if (needsParams) requireParams(fn, params, grads);
      const updates = tidy(() => f(grads, state.count, params));
      return { updates, state: { count: state.count + 1 } };
    },
  };
}

/**
 * Maps each update with its own `tf.tidy`, so intermediates are freed
 * tensor by tensor (a large model's step would otherwise hold them all).
 */
export function eachTensor(updates: TensorMap, f: (u: Tensor, name: string) => Tensor): TensorMap {
  return mapTensors(updates, (u, name) => tidy(() => f(u, name)));
}

/**
 * `result`, but NaN wherever `source` is NaN. For ops that swallow NaN on
 * some backend (`sign(NaN)` is 0; the wasm backend clamps NaN to a bound):
 * a NaN gradient must give a NaN update, as in Adam and SGD, so that it is
 * seen (or skipped by {@link applyIfFinite}) rather than silently frozen.
 */
export function keepNaN(source: Tensor, result: Tensor): Tensor {
  return where(isNaNTensor(source), source, result);
}
