import { TfjsBlocksError } from '../errors';
import { checkNumber } from '../internal/checks';
import type { ScheduleLike } from './types';

/** Validates a learning rate or schedule when the transform is made. */
export function checkSchedule(fn: string, name: string, value: unknown): ScheduleLike {
  if (typeof value === 'function') return value as (step: number) => number;
  return checkNumber(fn, name, value, { min: 0 });
}

/** The value of a rate or schedule at `step`; a schedule that returns a bad value is named. */
export function valueAt(fn: string, name: string, schedule: ScheduleLike, step: number): number {
  if (typeof schedule === 'number') return schedule;
  const value = schedule(step);
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new TfjsBlocksError(fn, `${name}(${step})`, 'a finite number >= 0', String(value));
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
