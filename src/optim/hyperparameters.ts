import { TfjsBlocksError } from '../errors';
import { checkNumber, describeChoice } from '../internal/checks';
import type { Schedule } from '../schedules/schedule';

/** Validates a learning rate or schedule when the transform is made. */
export function checkSchedule(fn: string, name: string, value: unknown): number | Schedule {
  if (typeof value === 'function') return value as Schedule;
  return checkNumber(fn, name, value, { min: 0 });
}

/** The value of a rate or schedule at `step`; a schedule that returns a bad value is named. */
export function valueAt(
  fn: string,
  name: string,
  schedule: number | Schedule,
  step: number,
): number {
  if (typeof schedule === 'number') return schedule;
  const value = schedule(step);
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new TfjsBlocksError(
      fn,
      `${name}(${step})`,
      'a finite number >= 0',
      describeChoice(value),
    );
  }
  return value;
}

/** Checks a decay rate such as Adam's betas: a number in [0, 1). */
export function checkDecay(fn: string, name: string, value: unknown): number {
  return checkNumber(fn, name, value, { min: 0, max: 1 });
}

/** Checks a non-negative number such as epsilon or a weight-decay rate. */
export function checkNonNegative(fn: string, name: string, value: unknown): number {
  return checkNumber(fn, name, value, { min: 0 });
}

/**
 * Checks an epsilon that keeps a denominator away from 0: a finite number
 * > 0. With 0, a zero gradient (a frozen or unused parameter) gives 0 / 0 =
 * NaN at the first step.
 */
export function checkEpsilon(fn: string, name: string, value: unknown): number {
  return checkNumber(fn, name, value, { min: 0, minExclusive: true });
}

/**
 * The entries of `options` whose keys are in `keys`: what an optimizer hands
 * to one of its transforms, which rejects keys it does not know (an
 * optimizer's `learningRate` is not an option of `scaleByAdam`).
 */
export function pickOptions<T extends object>(options: T, keys: readonly string[]): T {
  return Object.fromEntries(Object.entries(options).filter(([key]) => keys.includes(key))) as T;
}
