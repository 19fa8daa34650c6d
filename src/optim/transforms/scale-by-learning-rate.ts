import { mul } from '@tensorflow/tfjs-core';
import type { Schedule } from '../../schedules/schedule';
import { checkSchedule, valueAt } from '../hyperparameters';
import type { GradientTransformation } from '../types';
import { type CountState, eachTensor, mapUpdatesTransform } from './stateless';

/**
 * Multiplies the updates by `-learningRate` (by `learningRate(step)` for a
 * schedule, the step counting from 0): the last link of most chains, which
 * turns a direction into a descent step.
 *
 * @param learningRate - a number >= 0, or a schedule `(step) => number`.
 * @example
 * ```ts
 * const optimizer = chain(scaleByAdam(), scaleByLearningRate((step) => 1e-3 * Math.min(1, step / 100)));
 * ```
 */
export function scaleByLearningRate(
  learningRate: number | Schedule,
): GradientTransformation<CountState> {
  const fn = 'scaleByLearningRate';
  const schedule = checkSchedule(fn, 'learningRate', learningRate);
  return mapUpdatesTransform(
    (updates, step) => {
      const lr = valueAt(fn, 'learningRate', schedule, step);
      return eachTensor(updates, (u) => mul(u, -lr));
    },
    { name: fn },
  );
}
