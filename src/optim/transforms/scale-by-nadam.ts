import { add, div, mul, sqrt, square } from '@tensorflow/tfjs-core';
import { checkOptionKeys, optionKeys } from '../../internal/checks';
import { checkDecay, checkEpsilon, checkNonNegative } from '../hyperparameters';
import type { GradientTransformation } from '../types';
import { type MomentState, perParameterTransform } from './per-parameter';

/** Options of {@link scaleByNadam}. */
export interface ScaleByNadamOptions {
  /** Decay of the first moment. Default `0.9`. */
  b1?: number;
  /** Decay of the second moment. Default `0.999`. */
  b2?: number;
  /** Added to the root second moment: a number > 0. Default `1e-8`. */
  epsilon?: number;
  /** ψ of the momentum schedule `μ_t = b1 (1 - 0.5 · 0.96^(t ψ))`. Default `4e-3`. */
  momentumDecay?: number;
}

/** The option names of {@link ScaleByNadamOptions}, for `checkOptionKeys`. */
export const SCALE_BY_NADAM_KEYS = optionKeys<ScaleByNadamOptions>({
  b1: true,
  b2: true,
  epsilon: true,
  momentumDecay: true,
});

/**
 * NAdam's direction (Adam with Nesterov momentum and Dozat's momentum
 * schedule), as `torch.optim.NAdam` (PyTorch 2). See Dozat,
 * https://openreview.net/forum?id=OM0jvwB8jIp57ZJjtNEZ.
 *
 * @example
 * ```ts
 * const optimizer = chain(scaleByNadam(), scaleByLearningRate(2e-3));
 * ```
 */
export function scaleByNadam(
  options: ScaleByNadamOptions = {},
): GradientTransformation<MomentState<'mu' | 'nu'>> {
  const fn = 'scaleByNadam';
  checkOptionKeys(fn, options, SCALE_BY_NADAM_KEYS);
  const b1 = checkDecay(fn, 'options.b1', options.b1 ?? 0.9);
  const b2 = checkDecay(fn, 'options.b2', options.b2 ?? 0.999);
  const epsilon = checkEpsilon(fn, 'options.epsilon', options.epsilon ?? 1e-8);
  const psi = checkNonNegative(fn, 'options.momentumDecay', options.momentumDecay ?? 4e-3);
  const momentumAt = (t: number) => b1 * (1 - 0.5 * 0.96 ** (t * psi));
  return perParameterTransform<'mu' | 'nu'>({
    fn,
    moments: ['mu', 'nu'],
    numbers: {
      initial: { muProduct: 1 },
      advance: (count, { muProduct }) => ({ muProduct: muProduct! * momentumAt(count) }),
    },
    rule(g, { mu, nu }, { count, numbers }) {
      const muProduct = numbers.muProduct!;
      const muT = momentumAt(count);
      const muNext = momentumAt(count + 1);
      const mu1 = add(mul(mu, b1), mul(g, 1 - b1));
      const nu1 = add(mul(nu, b2), mul(square(g), 1 - b2));
      const denom = add(sqrt(div(nu1, 1 - b2 ** count)), epsilon);
      const gradPart = mul(g, (1 - muT) / (1 - muProduct));
      const momentumPart = mul(mu1, muNext / (1 - muProduct * muNext));
      return { update: div(add(gradPart, momentumPart), denom), moments: { mu: mu1, nu: nu1 } };
    },
  });
}
