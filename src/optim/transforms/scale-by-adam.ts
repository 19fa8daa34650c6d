import { add, div, maximum, mul, sqrt, square } from '@tensorflow/tfjs-core';
import { checkFlag, checkOptionKeys, optionKeys } from '../../internal/checks';
import { checkDecay, checkEpsilon } from '../hyperparameters';
import type { GradientTransformation } from '../types';
import { type MomentState, perParameterTransform } from './per-parameter';

/** Options of {@link scaleByAdam}. */
export interface ScaleByAdamOptions {
  /** Decay of the first moment. Default `0.9`. */
  b1?: number;
  /** Decay of the second moment. Default `0.999`. */
  b2?: number;
  /** Added to the bias-corrected root second moment: a number > 0. Default `1e-8`. */
  epsilon?: number;
  /** Keep the running maximum of the second moment (AMSGrad). Default `false`. */
  amsgrad?: boolean;
}

/** The option names of {@link ScaleByAdamOptions}, for `checkOptionKeys`. */
export const SCALE_BY_ADAM_KEYS = optionKeys<ScaleByAdamOptions>({
  b1: true,
  b2: true,
  epsilon: true,
  amsgrad: true,
});

/**
 * Adam's direction: `m̂ / (sqrt(v̂) + epsilon)` with bias-corrected moments,
 * exactly as `torch.optim.Adam` computes it (AMSGrad included), without the
 * learning rate. See Kingma & Ba, https://arxiv.org/abs/1412.6980.
 *
 * @example
 * ```ts
 * const adamLike = chain(scaleByAdam({ b2: 0.95 }), scaleByLearningRate(3e-4));
 * ```
 */
export function scaleByAdam(
  options: ScaleByAdamOptions = {},
): GradientTransformation<MomentState<'mu' | 'nu' | 'nuMax'>> {
  const fn = 'scaleByAdam';
  checkOptionKeys(fn, options, SCALE_BY_ADAM_KEYS);
  const b1 = checkDecay(fn, 'options.b1', options.b1 ?? 0.9);
  const b2 = checkDecay(fn, 'options.b2', options.b2 ?? 0.999);
  const epsilon = checkEpsilon(fn, 'options.epsilon', options.epsilon ?? 1e-8);
  const amsgrad = checkFlag(fn, 'options.amsgrad', options.amsgrad, false);
  return perParameterTransform<'mu' | 'nu' | 'nuMax'>({
    fn,
    moments: amsgrad ? ['mu', 'nu', 'nuMax'] : ['mu', 'nu'],
    rule(g, { mu, nu, nuMax }, { count }) {
      const mu1 = add(mul(mu, b1), mul(g, 1 - b1));
      const nu1 = add(mul(nu, b2), mul(square(g), 1 - b2));
      const nuMax1 = amsgrad ? maximum(nuMax, nu1) : nu1;
      // torch's (m / bc1) / (sqrt(v) / sqrt(bc2) + epsilon), with both corrections
      // folded into two scalars: one pass fewer over every parameter.
      const sqrtBc2 = Math.sqrt(1 - b2 ** count);
      const stepScale = sqrtBc2 / (1 - b1 ** count);
      const update = div(mul(mu1, stepScale), add(sqrt(nuMax1), epsilon * sqrtBc2));
      return { update, moments: { mu: mu1, nu: nu1, nuMax: nuMax1 } };
    },
  });
}
