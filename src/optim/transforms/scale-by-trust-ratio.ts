import {
  div,
  equal,
  logicalOr,
  mul,
  norm,
  onesLike,
  type Tensor,
  where,
} from '@tensorflow/tfjs-core';
import { emptyRecord } from '../../internal/records';
import type { GradientTransformation } from '../types';
import { type CountState, mapUpdatesTransform } from './stateless';

/**
 * LAMB's layer-wise trust ratio: each parameter's update is scaled by
 * `‖param‖ / ‖update‖` (by 1 where either norm is 0), as optax's
 * `scale_by_trust_ratio`. See You et al., https://arxiv.org/abs/1904.00962.
 *
 * @example
 * ```ts
 * const lambLike = chain(scaleByAdam({ epsilon: 1e-6 }), addDecayedWeights(0.01), scaleByTrustRatio(), scaleByLearningRate(1e-3));
 * ```
 */
export function scaleByTrustRatio(): GradientTransformation<CountState> {
  return mapUpdatesTransform(
    (updates, _step, params) => {
      const out = emptyRecord<Tensor>();
      for (const [name, u] of Object.entries(updates)) {
        const paramNorm = norm(params![name]!);
        const updateNorm = norm(u);
        const degenerate = logicalOr(equal(paramNorm, 0), equal(updateNorm, 0));
        const ratio = div(paramNorm, where(degenerate, onesLike(updateNorm), updateNorm));
        out[name] = mul(u, where(degenerate, onesLike(ratio), ratio));
      }
      return out;
    },
    { name: 'scaleByTrustRatio', needsParams: true },
  );
}
