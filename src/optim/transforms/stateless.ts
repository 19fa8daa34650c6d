import { clone, isNaN as isNaNTensor, type Tensor, tidy, where } from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../../errors';
import { checkFlag, checkOptionKeys, describeValue, optionKeys } from '../../internal/checks';
import type { TensorMap } from '../../tree/types';
import { checkShapes, checkTensorMap, mapTensors, requireParams, shapesOf } from '../tree';
import type { GradientTransformation } from '../types';

/** State of transforms that keep only a step count. */
export type CountState = {
  /** Steps taken so far. */
  count: number;
};

/** Options of {@link mapUpdatesTransform}. */
export interface MapUpdatesOptions {
  /** The name its errors give (a transform built on it passes its own). Default `'mapUpdatesTransform'`. */
  name?: string;
  /** Whether `f` reads the parameters: `update` then rejects a call without them. Default `false`. */
  needsParams?: boolean;
}

/** The option names of {@link MapUpdatesOptions}, for `checkOptionKeys`. */
const MAP_UPDATES_KEYS = optionKeys<MapUpdatesOptions>({ name: true, needsParams: true });

/**
 * A stateless gradient transformation from a function of the updates (like
 * optax's `stateless`): `f(updates, step, params)` returns the new updates,
 * one float32 tensor of the same shape per name; the state only counts steps
 * (`step` is 0 on the first update, for schedules). `f` runs inside
 * `tf.tidy`, so its intermediates are freed; an update it returns unchanged
 * (one of its inputs) is handed on as a fresh handle, so a {@link chain} that
 * frees intermediate updates never frees the caller's gradients. A result
 * with missing, extra or reshaped names is rejected by name.
 *
 * @param f - `(updates, step, params) => updates`; `params` is `undefined`
 *   unless the caller of `update` passes them (see `options.needsParams`).
 * @param options - `name` for error messages, `needsParams`.
 *
 * @example
 * ```ts
 * // signSGD: the sign of each gradient, scaled by the learning rate.
 * const signOf = mapUpdatesTransform((updates) =>
 *   Object.fromEntries(Object.entries(updates).map(([name, u]) => [name, tf.sign(u)])),
 * );
 * const optimizer = chain(signOf, scaleByLearningRate(1e-3));
 * ```
 */
export function mapUpdatesTransform(
  f: (updates: TensorMap, step: number, params: TensorMap | undefined) => TensorMap,
  options: MapUpdatesOptions = {},
): GradientTransformation<CountState> {
  const self = 'mapUpdatesTransform';
  if (typeof f !== 'function') {
    throw new TfjsBlocksError(
      self,
      'f',
      'a function (updates, step, params) => updates',
      describeValue(f),
    );
  }
  checkOptionKeys(self, options, MAP_UPDATES_KEYS);
  if (options.name !== undefined && (typeof options.name !== 'string' || options.name === '')) {
    throw new TfjsBlocksError(
      self,
      'options.name',
      'a non-empty string',
      describeValue(options.name),
    );
  }
  const fn = options.name ?? self;
  const needsParams = checkFlag(self, 'options.needsParams', options.needsParams, false);
  return {
    init: () => ({ count: 0 }),
    update(grads, state, params) {
      checkTensorMap(fn, 'grads', grads);
      if (needsParams) requireParams(fn, params, grads);
      const inputs = new Set<Tensor>([...Object.values(grads), ...Object.values(params ?? {})]);
      const updates = tidy(() => {
        const out = f(grads, state.count, params);
        checkShapes(fn, 'f(grads)', out, shapesOf(grads), 'the gradients');
        return mapTensors(out, (u) => (inputs.has(u) ? clone(u) : u));
      });
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
