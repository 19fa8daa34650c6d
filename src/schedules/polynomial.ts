import { checkInteger, checkNumber, optionKeys } from '../internal/checks';
import {
  checkScheduleOptions,
  checkScheduleValue,
  progress,
  type Schedule,
  scheduleFrom,
} from './schedule';

/** Options of {@link linearSchedule}, as optax's `linear_schedule`. */
export interface LinearScheduleOptions {
  /** The value up to step `transitionBegin`. */
  initValue: number;
  /** The value from step `transitionBegin + transitionSteps` on. */
  endValue: number;
  /** How many steps the ramp takes: an integer >= 1. */
  transitionSteps: number;
  /** The step where the ramp starts: an integer >= 0. Default `0`. */
  transitionBegin?: number;
}

const LINEAR_KEYS = optionKeys<LinearScheduleOptions>({
  initValue: true,
  endValue: true,
  transitionSteps: true,
  transitionBegin: true,
});

/**
 * A linear ramp from `initValue` to `endValue` over `transitionSteps`
 * steps, constant before and after:
 * `init + (end - init) * clip(step - transitionBegin, 0, transitionSteps) / transitionSteps`.
 *
 * PyTorch: `LinearLR(opt, start_factor=s, end_factor=e, total_iters=T)`
 * with base rate `lr` is `linearSchedule({ initValue: lr * s, endValue: lr * e, transitionSteps: T })`,
 * step k being the rate after k `scheduler.step()` calls. Plots: docs/schedules.md.
 *
 * @param options - see {@link LinearScheduleOptions}.
 * @returns a {@link Schedule}.
 * @example
 * ```ts
 * const warmup = linearSchedule({ initValue: 0, endValue: 1e-3, transitionSteps: 1000 });
 * warmup(500); // 5e-4
 * ```
 */
export function linearSchedule(options: LinearScheduleOptions): Schedule {
  const fn = 'linearSchedule';
  checkScheduleOptions(fn, options, LINEAR_KEYS);
  const init = checkScheduleValue(fn, 'options.initValue', options.initValue);
  const end = checkScheduleValue(fn, 'options.endValue', options.endValue);
  const steps = checkInteger(fn, 'options.transitionSteps', options.transitionSteps, 1);
  const begin = checkInteger(fn, 'options.transitionBegin', options.transitionBegin ?? 0, 0);
  return scheduleFrom(fn, (step) => init + (end - init) * progress(step, begin, steps));
}

/** Options of {@link polynomialSchedule}, as optax's `polynomial_schedule`. */
export interface PolynomialScheduleOptions {
  /** The value up to step `transitionBegin`. */
  initValue: number;
  /** The value from step `transitionBegin + transitionSteps` on. Default `0`. */
  endValue?: number;
  /** The exponent of the decay: a finite number > 0. Default `1` (linear). */
  power?: number;
  /** How many steps the decay takes: an integer >= 1. */
  transitionSteps: number;
  /** The step where the decay starts: an integer >= 0. Default `0`. */
  transitionBegin?: number;
}

const POLYNOMIAL_KEYS = optionKeys<PolynomialScheduleOptions>({
  initValue: true,
  endValue: true,
  power: true,
  transitionSteps: true,
  transitionBegin: true,
});

/**
 * A polynomial decay from `initValue` to `endValue`:
 * `(init - end) * (1 - clip(step - transitionBegin, 0, transitionSteps) / transitionSteps) ** power + end`.
 *
 * PyTorch: `PolynomialLR(opt, total_iters=T, power=p)` with base rate `lr` is
 * `polynomialSchedule({ initValue: lr, endValue: 0, power: p, transitionSteps: T })`.
 * Plots: docs/schedules.md.
 *
 * @param options - see {@link PolynomialScheduleOptions}.
 * @returns a {@link Schedule}.
 * @example
 * ```ts
 * const schedule = polynomialSchedule({ initValue: 1e-3, power: 2, transitionSteps: 10_000 });
 * schedule(5000); // 2.5e-4
 * ```
 */
export function polynomialSchedule(options: PolynomialScheduleOptions): Schedule {
  const fn = 'polynomialSchedule';
  checkScheduleOptions(fn, options, POLYNOMIAL_KEYS);
  const init = checkScheduleValue(fn, 'options.initValue', options.initValue);
  const end = checkScheduleValue(fn, 'options.endValue', options.endValue ?? 0);
  const power = checkNumber(fn, 'options.power', options.power ?? 1, {
    min: 0,
    minExclusive: true,
  });
  const steps = checkInteger(fn, 'options.transitionSteps', options.transitionSteps, 1);
  const begin = checkInteger(fn, 'options.transitionBegin', options.transitionBegin ?? 0, 0);
  return scheduleFrom(
    fn,
    (step) => (init - end) * (1 - progress(step, begin, steps)) ** power + end,
  );
}
