import { checkScheduleValue, type Schedule, scheduleFrom } from './schedule';

/**
 * A schedule that returns `value` at every step (optax's
 * `constant_schedule`; PyTorch: no scheduler). Useful as a piece of
 * {@link joinSchedules}. Plots and PyTorch equivalents: docs/schedules.md.
 *
 * @param value - the value (a finite number).
 * @returns a {@link Schedule}.
 * @example
 * ```ts
 * const schedule = joinSchedules([constantSchedule(1e-4), constantSchedule(1e-3)], [100]);
 * schedule(99); // 1e-4
 * schedule(100); // 1e-3
 * ```
 */
export function constantSchedule(value: number): Schedule {
  const constant = checkScheduleValue('constantSchedule', 'value', value);
  return scheduleFrom('constantSchedule', () => constant);
}
