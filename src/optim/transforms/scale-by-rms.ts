import { add, div, mul, sqrt, square, sub } from '@tensorflow/tfjs-core';
import { checkFlag, checkOptionKeys, optionKeys } from '../../internal/checks';
import { checkDecay, checkEpsilon } from '../hyperparameters';
import type { GradientTransformation } from '../types';
import { type MomentState, perParameterTransform } from './per-parameter';

/** Options of {@link scaleByRms}. */
export interface ScaleByRmsOptions {
  /** Decay of the running mean square (PyTorch's `alpha`). Default `0.99`. */
  decay?: number;
  /** Added to the root mean square: a number > 0. Default `1e-8`. */
  epsilon?: number;
  /** Divide by the centred root mean square `sqrt(E[g²] - E[g]²)`. Default `false`. */
  centered?: boolean;
}

/** The option names of {@link ScaleByRmsOptions}, for `checkOptionKeys`. */
export const SCALE_BY_RMS_KEYS = optionKeys<ScaleByRmsOptions>({
  decay: true,
  epsilon: true,
  centered: true,
});

/**
 * RMSprop's direction `g / (sqrt(E[g²]) + epsilon)` (centred on request), as
 * `torch.optim.RMSprop` computes it; its momentum is a {@link trace}
 * after this transform. See Hinton's lecture 6e,
 * https://www.cs.toronto.edu/~tijmen/csc321/slides/lecture_slides_lec6.pdf.
 *
 * @example
 * ```ts
 * const optimizer = chain(scaleByRms({ centered: true }), trace({ decay: 0.9 }), scaleByLearningRate(1e-2));
 * ```
 */
export function scaleByRms(
  options: ScaleByRmsOptions = {},
): GradientTransformation<MomentState<'squareAvg' | 'gradAvg'>> {
  const fn = 'scaleByRms';
  checkOptionKeys(fn, options, SCALE_BY_RMS_KEYS);
  const decay = checkDecay(fn, 'options.decay', options.decay ?? 0.99);
  const epsilon = checkEpsilon(fn, 'options.epsilon', options.epsilon ?? 1e-8);
  const centered = checkFlag(fn, 'options.centered', options.centered, false);
  return perParameterTransform<'squareAvg' | 'gradAvg'>({
    fn,
    moments: centered ? ['squareAvg', 'gradAvg'] : ['squareAvg'],
    rule(g, { squareAvg, gradAvg }) {
      const squareAvg1 = add(mul(squareAvg, decay), mul(square(g), 1 - decay));
      const gradAvg1 = centered ? add(mul(gradAvg, decay), mul(g, 1 - decay)) : gradAvg;
      const meanSquare = centered ? sub(squareAvg1, square(gradAvg1)) : squareAvg1;
      const update = div(g, add(sqrt(meanSquare), epsilon));
      return { update, moments: { squareAvg: squareAvg1, gradAvg: gradAvg1 } };
    },
  });
}
