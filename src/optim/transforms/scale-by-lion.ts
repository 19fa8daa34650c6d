import { add, mul, sign } from '@tensorflow/tfjs-core';
import { checkOptionKeys, optionKeys } from '../../internal/checks';
import { checkDecay } from '../hyperparameters';
import type { GradientTransformation } from '../types';
import { type MomentState, perParameterTransform } from './per-parameter';
import { keepNaN } from './stateless';

/** Options of {@link scaleByLion}. */
export interface ScaleByLionOptions {
  /** Interpolation between momentum and gradient for the update. Default `0.9`. */
  b1?: number;
  /** Decay of the momentum. Default `0.99`. */
  b2?: number;
}

/** The option names of {@link ScaleByLionOptions}, for `checkOptionKeys`. */
export const SCALE_BY_LION_KEYS = optionKeys<ScaleByLionOptions>({
  b1: true,
  b2: true,
});

/**
 * Lion's direction `sign(b1 · m + (1 - b1) · g)`, then `m ← b2 · m + (1 - b2) · g`.
 * A NaN gradient gives a NaN update (where `sign` alone would give 0), as in Adam.
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
  checkOptionKeys(fn, options, SCALE_BY_LION_KEYS);
  const b1 = checkDecay(fn, 'options.b1', options.b1 ?? 0.9);
  const b2 = checkDecay(fn, 'options.b2', options.b2 ?? 0.99);
  return perParameterTransform<'mu'>({
    fn,
    moments: ['mu'],
    rule(g, { mu }) {
      const interpolated = add(mul(mu, b1), mul(g, 1 - b1));
      // sign(NaN) is 0: a NaN gradient (and the NaN momentum it leaves) would
      // freeze the coordinate forever instead of showing up in the update.
      const update = keepNaN(interpolated, sign(interpolated));
      return { update, moments: { mu: add(mul(mu, b2), mul(g, 1 - b2)) } };
    },
  });
}
