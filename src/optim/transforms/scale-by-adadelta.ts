import { add, div, mul, sqrt, square } from '@tensorflow/tfjs-core';
import { checkOptionKeys, optionKeys } from '../../internal/checks';
import { checkDecay, checkEpsilon } from '../hyperparameters';
import type { GradientTransformation } from '../types';
import { type MomentState, perParameterTransform } from './per-parameter';

/** Options of {@link scaleByAdadelta}. */
export interface ScaleByAdadeltaOptions {
  /** Decay of both running averages. Default `0.9`. */
  rho?: number;
  /** Added inside both square roots: a number > 0. Default `1e-6`. */
  epsilon?: number;
}

/** The option names of {@link ScaleByAdadeltaOptions}, for `checkOptionKeys`. */
export const SCALE_BY_ADADELTA_KEYS = optionKeys<ScaleByAdadeltaOptions>({
  rho: true,
  epsilon: true,
});

/**
 * Adadelta's direction `sqrt(E[Δ²] + epsilon) / sqrt(E[g²] + epsilon) · g`, as
 * `torch.optim.Adadelta`. See Zeiler, https://arxiv.org/abs/1212.5701.
 *
 * @example
 * ```ts
 * const optimizer = chain(scaleByAdadelta(), scaleByLearningRate(1.0));
 * ```
 */
export function scaleByAdadelta(
  options: ScaleByAdadeltaOptions = {},
): GradientTransformation<MomentState<'squareAvg' | 'deltaAvg'>> {
  const fn = 'scaleByAdadelta';
  checkOptionKeys(fn, options, SCALE_BY_ADADELTA_KEYS);
  const rho = checkDecay(fn, 'options.rho', options.rho ?? 0.9);
  const epsilon = checkEpsilon(fn, 'options.epsilon', options.epsilon ?? 1e-6);
  return perParameterTransform<'squareAvg' | 'deltaAvg'>({
    fn,
    moments: ['squareAvg', 'deltaAvg'],
    rule(g, { squareAvg, deltaAvg }) {
      const squareAvg1 = add(mul(squareAvg, rho), mul(square(g), 1 - rho));
      const delta = mul(div(sqrt(add(deltaAvg, epsilon)), sqrt(add(squareAvg1, epsilon))), g);
      const deltaAvg1 = add(mul(deltaAvg, rho), mul(square(delta), 1 - rho));
      return { update: delta, moments: { squareAvg: squareAvg1, deltaAvg: deltaAvg1 } };
    },
  });
}
