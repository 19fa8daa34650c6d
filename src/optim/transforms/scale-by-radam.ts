import { add, div, mul, sqrt, square } from '@tensorflow/tfjs-core';
import { checkOptionKeys, optionKeys } from '../../internal/checks';
import { checkDecay, checkEpsilon } from '../hyperparameters';
import type { GradientTransformation } from '../types';
import { type MomentState, perParameterTransform } from './per-parameter';

/** Options of {@link scaleByRadam}. */
export interface ScaleByRadamOptions {
  /** Decay of the first moment. Default `0.9`. */
  b1?: number;
  /** Decay of the second moment. Default `0.999`. */
  b2?: number;
  /** Added to the root second moment: a number > 0. Default `1e-8`. */
  epsilon?: number;
}

/** The option names of {@link ScaleByRadamOptions}, for `checkOptionKeys`. */
export const SCALE_BY_RADAM_KEYS = optionKeys<ScaleByRadamOptions>({
  b1: true,
  b2: true,
  epsilon: true,
});

/**
 * Rectified Adam's direction: plain bias-corrected momentum while the
 * variance estimate is unreliable (ρ_t ≤ 5), the rectified Adam step after,
 * as `torch.optim.RAdam`. See Liu et al., https://arxiv.org/abs/1908.03265.
 *
 * @example
 * ```ts
 * const optimizer = chain(scaleByRadam(), scaleByLearningRate(1e-3));
 * ```
 */
export function scaleByRadam(
  options: ScaleByRadamOptions = {},
): GradientTransformation<MomentState<'mu' | 'nu'>> {
  const fn = 'scaleByRadam';
  checkOptionKeys(fn, options, SCALE_BY_RADAM_KEYS);
  const b1 = checkDecay(fn, 'options.b1', options.b1 ?? 0.9);
  const b2 = checkDecay(fn, 'options.b2', options.b2 ?? 0.999);
  const epsilon = checkEpsilon(fn, 'options.epsilon', options.epsilon ?? 1e-8);
  const rhoInf = 2 / (1 - b2) - 1;
  return perParameterTransform<'mu' | 'nu'>({
    fn,
    moments: ['mu', 'nu'],
    rule(g, { mu, nu }, { count }) {
      const mu1 = add(mul(mu, b1), mul(g, 1 - b1));
      const nu1 = add(mul(nu, b2), mul(square(g), 1 - b2));
      const bc1 = 1 - b1 ** count;
      const bc2 = 1 - b2 ** count;
      const rho = rhoInf - (2 * count * b2 ** count) / bc2;
      if (rho <= 5) return { update: mul(mu1, 1 / bc1), moments: { mu: mu1, nu: nu1 } };
      const rect = Math.sqrt(
        ((rho - 4) * (rho - 2) * rhoInf) / ((rhoInf - 4) * (rhoInf - 2) * rho),
      );
      const update = div(mul(mu1, (rect * Math.sqrt(bc2)) / bc1), add(sqrt(nu1), epsilon));
      return { update, moments: { mu: mu1, nu: nu1 } };
    },
  });
}
