import {
  abs,
  clipByValue as clipTensor,
  div,
  greater,
  max,
  maximum,
  mul,
  onesLike,
  scalar,
  sqrt,
  square,
  sum,
  where,
} from '@tensorflow/tfjs-core';
import { checkNumber } from '../../internal/checks';
import { maximumOfTensors, sumTensors } from '../../internal/reduce';
import type { GradientTransformation } from '../types';
import { type CountState, eachTensor, keepNaN, mapUpdatesTransform } from './stateless';

/**
 * Rescales all updates together so that their global L2 norm is at most
 * `maxNorm` (as `torch.nn.utils.clip_grad_norm_`); no host sync.
 *
 * @example
 * ```ts
 * const optimizer = chain(clipByGlobalNorm(1), adamw({ learningRate: 3e-4 }));
 * ```
 */
export function clipByGlobalNorm(maxNorm: number): GradientTransformation<CountState> {
  const fn = 'clipByGlobalNorm';
  const limit = checkNumber(fn, 'maxNorm', maxNorm, { min: 0, minExclusive: true });
  return mapUpdatesTransform(
    (updates) => {
      const tensors = Object.values(updates);
      if (tensors.length === 0) return {};
      // The norm is taken of the updates divided by their largest magnitude,
      // then scaled back: squaring float32 values past ~1.8e19 overflows, and
      // an Infinity norm would zero the whole step.
      const peaks = tensors.map((u) => max(abs(u)));
      const peak = maximumOfTensors(peaks);
      const scale = where(greater(peak, 0), peak, onesLike(peak));
      const squares = tensors.map((u) => sum(square(div(u, scale))));
      const norm = mul(scale, sqrt(sumTensors(squares)));
      // limit / max(norm, limit): 1 when the norm is within the limit.
      const factor = div(scalar(limit), maximum(norm, limit));
      return eachTensor(updates, (u) => mul(u, factor));
    },
    { name: fn },
  );
}

/**
 * Clips every update element to `[-maxAbs, maxAbs]` (as
 * `torch.nn.utils.clip_grad_value_`); a NaN element stays NaN.
 *
 * @example
 * ```ts
 * const optimizer = chain(clipByValue(0.5), sgd({ learningRate: 0.1 }));
 * ```
 */
export function clipByValue(maxAbs: number): GradientTransformation<CountState> {
  const fn = 'clipByValue';
  const limit = checkNumber(fn, 'maxAbs', maxAbs, { min: 0 });
  return mapUpdatesTransform(
    (updates) =>
      // NaN stays NaN (the wasm backend's clip would turn it into a bound).
      eachTensor(updates, (u) => keepNaN(u, clipTensor(u, -limit, limit))),
    { name: fn },
  );
}
