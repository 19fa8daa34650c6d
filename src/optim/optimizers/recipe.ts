import type { Schedule } from '../../schedules/schedule';
import { chain } from '../chain';
import { checkNonNegative, checkSchedule } from '../hyperparameters';
import {
  addDecayedWeights,
  checkMask,
  type ParameterMask,
} from '../transforms/add-decayed-weights';
import { scaleByLearningRate } from '../transforms/scale-by-learning-rate';
import type { GradientTransformation } from '../types';

/** Options every ready-made optimizer takes. */
export interface LearningRateOption {
  /** A number >= 0 or a schedule `(step) => number` (steps count from 0). */
  learningRate?: number | Schedule;
}

/**
 * PyTorch's coupled weight decay (L2): `g + weightDecay · param` before the
 * direction, then the direction, then `-learningRate`.
 */
export function l2Recipe(
  fn: string,
  weightDecay: number | undefined,
  direction: GradientTransformation<unknown>[],
  learningRate: number | Schedule,
): GradientTransformation<unknown[]> {
  const decay = checkNonNegative(fn, 'options.weightDecay', weightDecay ?? 0);
  checkSchedule(fn, 'options.learningRate', learningRate);
  return chain(
    ...(decay > 0 ? [addDecayedWeights(decay) as GradientTransformation<unknown>] : []),
    ...direction,
    scaleByLearningRate(learningRate) as GradientTransformation<unknown>,
  );
}

/**
 * Decoupled weight decay (AdamW, Lion, LAMB): the direction, then
 * `+ weightDecay · param` on the masked parameters, then any scaling that
 * must see the decayed update (LAMB's trust ratio), then `-learningRate`.
 */
export function decoupledRecipe(
  fn: string,
  options: LearningRateOption & { weightDecay?: number; mask?: ParameterMask },
  defaults: { learningRate: number; weightDecay: number },
  direction: GradientTransformation<unknown>,
  afterDecay: GradientTransformation<unknown>[] = [],
): GradientTransformation<unknown[]> {
  const learningRate = options.learningRate ?? defaults.learningRate;
  checkSchedule(fn, 'options.learningRate', learningRate);
  const weightDecay = checkNonNegative(
    fn,
    'options.weightDecay',
    options.weightDecay ?? defaults.weightDecay,
  );
  checkMask(fn, 'options.mask', options.mask);
  return chain(
    direction,
    addDecayedWeights(weightDecay, options.mask) as GradientTransformation<unknown>,
    ...afterDecay,
    scaleByLearningRate(learningRate) as GradientTransformation<unknown>,
  );
}
