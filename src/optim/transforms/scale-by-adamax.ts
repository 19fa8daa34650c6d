import { abs, add, div, maximum, mul } from '@tensorflow/tfjs-core';
import { checkOptionKeys, optionKeys } from '../../internal/checks';
import { checkDecay, checkEpsilon } from '../hyperparameters';
import type { GradientTransformation } from '../types';
import { type MomentState, perParameterTransform } from './per-parameter';

/** Options of {@link scaleByAdamax}. */
export interface ScaleByAdamaxOptions {
  /** Decay of the first moment. Default `0.9`. */
  b1?: number;
  /** Decay of the infinity norm. Default `0.999`. */
  b2?: number;
  /** Added to `|g|` in the infinity norm: a number > 0. Default `1e-8`. */
  epsilon?: number;
}

/** The option names of {@link ScaleByAdamaxOptions}, for `checkOptionKeys`. */
export const SCALE_BY_ADAMAX_KEYS = optionKeys<ScaleByAdamaxOptions>({
  b1: true,
  b2: true,
  epsilon: true,
});

/**
 * Adamax's direction `m / ((1 - b1^t) · u)` with `u = max(b2 · u, |g| + epsilon)`,
 * as `torch.optim.Adamax`. See Kingma & Ba, https://arxiv.org/abs/1412.6980 (section 7).
 *
 * @example
 * ```ts
 * const optimizer = chain(scaleByAdamax(), scaleByLearningRate(2e-3));
 * ```
 */
export function scaleByAdamax(
  options: ScaleByAdamaxOptions = {},
): GradientTransformation<MomentState<'mu' | 'u'>> {
  const fn = 'scaleByAdamax';
  checkOptionKeys(fn, options, SCALE_BY_ADAMAX_KEYS);
  const b1 = checkDecay(fn, 'options.b1', options.b1 ?? 0.9);
  const b2 = checkDecay(fn, 'options.b2', options.b2 ?? 0.999);
  const epsilon = checkEpsilon(fn, 'options.epsilon', options.epsilon ?? 1e-8);
  return perParameterTransform<'mu' | 'u'>({
    fn,
    moments: ['mu', 'u'],
    rule(g, { mu, u }, { count }) {
      const mu1 = add(mul(mu, b1), mul(g, 1 - b1));
      const u1 = maximum(mul(u, b2), add(abs(g), epsilon));
      return { update: div(mul(mu1, 1 / (1 - b1 ** count)), u1), moments: { mu: mu1, u: u1 } };
    },
  });
}
