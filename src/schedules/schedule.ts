import { checkNumber } from '../internal/checks';

/**
 * A learning rate (or any hyperparameter) as a function of the step: a plain
 * `(step) => number` closure, where step 0 is the first optimizer update, as
 * in optax. Every factory in `src/schedules` returns one; it takes a finite
 * step >= 0 (fractional steps are fine) and holds no tensors.
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
