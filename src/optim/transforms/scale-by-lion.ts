import { add, mul, sign } from '@tensorflow/tfjs-core';
import { checkDecay } from '../hyperparameters';
import type { GradientTransformation } from '../types';
import { type MomentState, perParameterTransform } from './per-parameter';

/** Options of {@link scaleByLion}. */
export interface ScaleByLionOptions {
  /** Interpolation between momentum and gradient for the update. Default `0.9`. */
  b1?: number;
  /** Decay of the momentum. Default `0.99`. */
  b2?: number;
}

/**
 * Lion's direction `sign(b1 · m + (1 - b1) · g)`, then `m ← b2 · m + (1 - b2) · g`.
 * See Chen et al., https://arxiv.org/abs/2302.06675 (Algorithm 2).
 *
 * @example
 * ```ts
 * const optimizer = chain(scaleByLion(), scaleByLearningRate(1e-4));
 * ```
 */
export function scaleByLion(
  options: ScaleByLionOptions = {},
): GradientTransformation<MomentState<'mu'>> {
  const fn = 'scaleByLion';
  const b1 = checkDecay(fn, 'options.b1', options.b1 ?? 0.9);
  const b2 = checkDecay(fn, 'options.b2', options.b2 ?? 0.99);
  return perParameterTransform<'mu'>({
    fn,
    moments: ['mu'],
    rule(g, { mu }) {
      const update = sign(add(mul(mu, b1), mul(g, 1 - b1)));
      return { update, moments: { mu: add(mul(mu, b2), mul(g, 1 - b2)) } };
    },
  });
}
