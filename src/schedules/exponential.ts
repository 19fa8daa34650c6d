import { TfjsBlocksError } from '../errors';
import { checkInteger, checkNumber, optionKeys } from '../internal/checks';
import { checkScheduleOptions, checkScheduleValue, type Schedule, scheduleFrom } from './schedule';

/** Options of {@link exponentialDecaySchedule}, as optax's `exponential_decay`. */
export interface ExponentialDecayScheduleOptions {
  /** The value up to step `transitionBegin`. */
  initValue: number;
  /** The steps over which the value is multiplied by `decayRate` once: an integer >= 1. */
  transitionSteps: number;
  /** The factor per `transitionSteps` steps: a finite number > 0 (> 1 grows). */
  decayRate: number;
  /** Decay in whole steps of `transitionSteps` (a staircase) rather than continuously. Default `false`. */
  staircase?: boolean;
  /** The step where the decay starts: an integer >= 0. Default `0`. */
  transitionBegin?: number;
  /** A floor (a ceiling when `decayRate > 1`, where it is required) for the value: a number >= 0. Default: none. */
  endValue?: number;
}

const EXPONENTIAL_DECAY_KEYS = optionKeys<ExponentialDecayScheduleOptions>({
  initValue: true,
  transitionSteps: true,
  decayRate: true,
  staircase: true,
  transitionBegin: true,
  endValue: true,
});

/**
 * Exponential decay: `initValue * decayRate ** ((step - transitionBegin) / transitionSteps)`
 * after `transitionBegin` (the exponent floored when `staircase`), clipped at
 * `endValue` if given.
 *
 * PyTorch, base rate `lr`: `ExponentialLR(opt, gamma)` is
 * `exponentialDecaySchedule({ initValue: lr, transitionSteps: 1, decayRate: gamma })`;
 * `StepLR(opt, step_size, gamma)` is
 * `exponentialDecaySchedule({ initValue: lr, transitionSteps: step_size, decayRate: gamma, staircase: true })`.
 * Plots: docs/schedules.md.
 *
 * @param options - see {@link ExponentialDecayScheduleOptions}.
 * @returns a {@link Schedule}.
 * @example
 * ```ts
 * const stepLr = exponentialDecaySchedule({ initValue: 0.1, transitionSteps: 30, decayRate: 0.1, staircase: true });
 * stepLr(29); // 0.1
 * stepLr(30); // 0.01
 * ```
 */
export function exponentialDecaySchedule(options: ExponentialDecayScheduleOptions): Schedule {
  const fn = 'exponentialDecaySchedule';
  checkScheduleOptions(fn, options, EXPONENTIAL_DECAY_KEYS);
  const init = checkScheduleValue(fn, 'options.initValue', options.initValue);
  const steps = checkInteger(fn, 'options.transitionSteps', options.transitionSteps, 1);
  const rate = checkNumber(fn, 'options.decayRate', options.decayRate, {
    min: 0,
    minExclusive: true,
  });
  const staircase = options.staircase ?? false;
  const begin = checkInteger(fn, 'options.transitionBegin', options.transitionBegin ?? 0, 0);
  const end =
    options.endValue === undefined
      ? undefined
      : checkScheduleValue(fn, 'options.endValue', options.endValue);
  if (rate > 1 && end === undefined) {
    // Without a ceiling, a growing value reaches Infinity mid-training.
    throw new TfjsBlocksError(
      fn,
      'options.endValue',
      `a ceiling when options.decayRate (${rate}) > 1`,
      'undefined',
    );
  }
  return scheduleFrom(fn, (step) => {
    // Clipped at every step, as optax: before transitionBegin too, so an
    // endValue on the far side of initValue holds from step 0 (it used to
    // apply only after transitionBegin, a jump there).
    const elapsed = Math.max(step - begin, 0);
    const exponent = staircase ? Math.floor(elapsed / steps) : elapsed / steps;
    const value = init * rate ** exponent;
    if (end === undefined) return value;
    return rate < 1 ? Math.max(value, end) : Math.min(value, end);
  });
}
