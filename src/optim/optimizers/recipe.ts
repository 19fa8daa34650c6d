import { chain } from '../chain';
import { checkNonNegative, checkSchedule } from '../hyperparameters';
import { addDecayedWeights } from '../transforms/add-decayed-weights';
import { scaleByLearningRate } from '../transforms/scale-by-learning-rate';
import type { GradientTransformation, ScheduleLike } from '../types';

/** Options every ready-made optimizer takes. */
export interface LearningRateOption {
  /** A number >= 0 or a schedule `(step) => number` (steps count from 0). */
  learningRate?: ScheduleLike;
}

/**
 * PyTorch's coupled weight decay (L2): `g + weightDecay · param` before the
 * direction, then the direction, then `-learningRate`.
 */
export function l2Recipe(
  fn: string,
  weightDecay: number | undefined,
  direction: GradientTransformation<unknown>[],
  learningRate: ScheduleLike,
): GradientTransformation<unknown[]> {
  const decay = checkNonNegative(fn, 'options.weightDecay', weightDecay ?? 0);
  checkSchedule(fn, 'options.learningRate', learningRate);
  return chain(
    ...(decay > 0 ? [addDecayedWeights(decay) as GradientTransformation<unknown>] : []),
    ...direction,
    scaleByLearningRate(learningRate) as GradientTransformation<unknown>,
  );
}
