import { TfjsBlocksError } from '../errors';
import { checkNumber, checkOptionKeys } from '../internal/checks';

/**
 * A learning rate (or any hyperparameter) as a function of the step: a plain
 * `(step) => number` closure, where step 0 is the first optimizer update, as
 * in optax. Every factory in `src/schedules` returns one; it takes a finite
 * step >= 0 (fractional steps are fine) and holds no tensors. Its values are
 * finite numbers >= 0 at every step (what an optimizer accepts as a rate):
 * each factory checks its options when called, so a schedule that would go
 * negative or infinite at some step is rejected then, not mid-training.
 */
export type Schedule = (step: number) => number;

/**
 * Wraps a formula as a {@link Schedule} that rejects a bad step with a
 * message naming the factory, so a schedule misused deep inside a training
 * loop still says where it came from.
 */
export function scheduleFrom(factory: string, formula: (step: number) => number): Schedule {
  return (step: number) => formula(checkNumber(factory, 'step', step, { min: 0 }));
}

/** The fraction of a transition done at `step`: `(step - begin) / steps` clipped to [0, 1]. */
export function progress(step: number, begin: number, steps: number): number {
  return Math.min(Math.max(step - begin, 0), steps) / steps;
}

/**
 * Checks a value a schedule passes through (an initial, peak, end or
 * minimum value): a finite number >= 0, as every value of a {@link Schedule}.
 */
export function checkScheduleValue(fn: string, name: string, value: unknown): number {
  return checkNumber(fn, name, value, { min: 0 });
}

/**
 * Checks a schedule factory's options object: present (its values have no
 * defaults to fall back on) and with no key outside `known`.
 */
export function checkScheduleOptions(fn: string, options: unknown, known: readonly string[]): void {
  if (options === undefined) {
    throw new TfjsBlocksError(fn, 'options', 'an options object', 'undefined');
  }
  checkOptionKeys(fn, options, known);
}
