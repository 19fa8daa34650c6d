import { TfjsBlocksError } from '../errors';
import { checkInteger, describeValue } from '../internal/checks';
import { type Schedule, scheduleFrom } from './schedule';

/**
 * Runs schedules one after another (optax's `join_schedules`): before
 * `boundaries[0]` the value is `schedules[0](step)`; from boundary `b_i` on it
 * is `schedules[i + 1](step - b_i)`, so each schedule starts from its own
 * step 0.
 *
 * PyTorch: `SequentialLR(opt, [s0, s1], milestones=[b])` is
 * `joinSchedules([s0', s1'], [b])` with `s0'`, `s1'` the equivalents of `s0`,
 * `s1`. Plots: docs/schedules.md.
 *
 * @param schedules - the schedules, at least one; functions `(step) => number`.
 * @param boundaries - the steps where each next schedule takes over:
 *   `schedules.length - 1` strictly increasing integers >= 0.
 * @returns a {@link Schedule}.
 * @example
 * ```ts
 * const schedule = joinSchedules(
 *   [linearSchedule({ initValue: 0, endValue: 1e-3, transitionSteps: 100 }), cosineDecaySchedule({ initValue: 1e-3, decaySteps: 900 })],
 *   [100],
 * );
 * schedule(100); // 1e-3
 * ```
 */
export function joinSchedules(
  schedules: readonly Schedule[],
  boundaries: readonly number[],
): Schedule {
  const fn = 'joinSchedules';
  if (!Array.isArray(schedules) || schedules.length === 0) {
    throw new TfjsBlocksError(
      fn,
      'schedules',
      'a non-empty array of schedules',
      describeValue(schedules),
    );
  }
  schedules.forEach((s, i) => {
    if (typeof s !== 'function') {
      throw new TfjsBlocksError(fn, `schedules[${i}]`, 'a function (step) => number', typeof s);
    }
  });
  if (!Array.isArray(boundaries) || boundaries.length !== schedules.length - 1) {
    throw new TfjsBlocksError(
      fn,
      'boundaries',
      `an array of ${schedules.length - 1} step(s), one fewer than the schedules`,
      Array.isArray(boundaries) ? `${boundaries.length} step(s)` : describeValue(boundaries),
    );
  }
  let previous = -1;
  boundaries.forEach((b, i) => {
    checkInteger(fn, `boundaries[${i}]`, b, previous + 1);
    previous = b;
  });
  const pieces = [...schedules];
  const starts = [0, ...boundaries];
  return scheduleFrom(fn, (step) => {
    let i = starts.length - 1;
    while (step < starts[i]!) i--;
    return pieces[i]!(step - starts[i]!);
  });
}
