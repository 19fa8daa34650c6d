import { add, div, fill, mul, sqrt, square } from '@tensorflow/tfjs-core';
import { checkOptionKeys, optionKeys } from '../../internal/checks';
import { checkEpsilon, checkNonNegative } from '../hyperparameters';
import type { GradientTransformation } from '../types';
import { type MomentState, perParameterTransform } from './per-parameter';

/** Options of {@link scaleByAdagrad}. */
export interface ScaleByAdagradOptions {
  /** Starting value of the sum of squares. Default `0`. */
  initialAccumulatorValue?: number;
  /** Added to the root sum of squares: a number > 0. Default `1e-10`. */
  epsilon?: number;
  /** The step is divided by `1 + (t - 1) · lrDecay`. Default `0`. */
  lrDecay?: number;
}

/** The option names of {@link ScaleByAdagradOptions}, for `checkOptionKeys`. */
export const SCALE_BY_ADAGRAD_KEYS = optionKeys<ScaleByAdagradOptions>({
  initialAccumulatorValue: true,
  epsilon: true,
  lrDecay: true,
});

/**
 * Adagrad's direction `g / (sqrt(Σ g²) + epsilon)`, as `torch.optim.Adagrad`.
 * See Duchi et al., https://jmlr.org/papers/v12/duchi11a.html.
 *
 * @example
 * ```ts
 * const optimizer = chain(scaleByAdagrad(), scaleByLearningRate(1e-2));
 * ```
 */
export function scaleByAdagrad(
  options: ScaleByAdagradOptions = {},
): GradientTransformation<MomentState<'sum'>> {
  const fn = 'scaleByAdagrad';
  checkOptionKeys(fn, options, SCALE_BY_ADAGRAD_KEYS);
  const initial = checkNonNegative(
    fn,
    'options.initialAccumulatorValue',
    options.initialAccumulatorValue ?? 0,
  );
  const epsilon = checkEpsilon(fn, 'options.epsilon', options.epsilon ?? 1e-10);
  const lrDecay = checkNonNegative(fn, 'options.lrDecay', options.lrDecay ?? 0);
  return perParameterTransform<'sum'>({
    fn,
    moments: ['sum'],
    initMoment: (p) => fill(p.shape, initial),
    rule(g, { sum }, { count }) {
      const sum1 = add(sum, square(g));
      const decay = 1 / (1 + (count - 1) * lrDecay);
      return { update: mul(div(g, add(sqrt(sum1), epsilon)), decay), moments: { sum: sum1 } };
    },
  });
}
