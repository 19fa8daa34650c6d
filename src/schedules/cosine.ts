import { checkInteger, checkNumber, optionKeys } from '../internal/checks';
import {
  checkScheduleOptions,
  checkScheduleValue,
  progress,
  type Schedule,
  scheduleFrom,
} from './schedule';

/** `(1 + cos(pi * fraction)) / 2`: 1 at the start of a half cosine, 0 at its end. */
function halfCosine(fraction: number): number {
  return 0.5 * (1 + Math.cos(Math.PI * fraction));
}

/** Options of {@link cosineDecaySchedule}, as optax's `cosine_decay_schedule`. */
export interface CosineDecayScheduleOptions {
  /** The value at step 0. */
  initValue: number;
  /** The steps the decay takes; the value stays at `initValue * alpha` after: an integer >= 1. */
  decaySteps: number;
  /** The final value as a fraction of `initValue`: a finite number. Default `0`. */
  alpha?: number;
  /** The power of the half cosine: a finite number > 0. Default `1`. */
  exponent?: number;
}

const COSINE_DECAY_KEYS = optionKeys<CosineDecayScheduleOptions>({
  initValue: true,
  decaySteps: true,
  alpha: true,
  exponent: true,
});

/**
 * Cosine decay (Loshchilov & Hutter, https://arxiv.org/abs/1608.03983, without restarts):
 * `initValue * ((1 - alpha) * c ** exponent + alpha)` with
 * `c = (1 + cos(pi * min(step, decaySteps) / decaySteps)) / 2`.
 *
 * PyTorch: `CosineAnnealingLR(opt, T_max, eta_min)` with base rate `lr` is
 * `cosineDecaySchedule({ initValue: lr, decaySteps: T_max, alpha: eta_min / lr })`
 * for steps <= T_max (torch's cosine climbs back after T_max; this one stays
 * at its minimum). Plots: docs/schedules.md.
 *
 * @param options - see {@link CosineDecayScheduleOptions}.
 * @returns a {@link Schedule}.
 * @example
 * ```ts
 * const schedule = cosineDecaySchedule({ initValue: 1e-3, decaySteps: 10_000, alpha: 0.1 });
 * schedule(5000); // 5.5e-4
 * ```
 */
export function cosineDecaySchedule(options: CosineDecayScheduleOptions): Schedule {
  const fn = 'cosineDecaySchedule';
  checkScheduleOptions(fn, options, COSINE_DECAY_KEYS);
  const init = checkScheduleValue(fn, 'options.initValue', options.initValue);
  const steps = checkInteger(fn, 'options.decaySteps', options.decaySteps, 1);
  const alpha = checkScheduleValue(fn, 'options.alpha', options.alpha ?? 0);
  const exponent = checkNumber(fn, 'options.exponent', options.exponent ?? 1, {
    min: 0,
    minExclusive: true,
  });
  return scheduleFrom(
    fn,
    (step) => init * ((1 - alpha) * halfCosine(progress(step, 0, steps)) ** exponent + alpha),
  );
}

/** Options of {@link warmupCosineDecaySchedule}, as optax's `warmup_cosine_decay_schedule`. */
export interface WarmupCosineDecayScheduleOptions {
  /** The value at step 0, where the warmup starts. Default `0`. */
  initValue?: number;
  /** The value at the end of the warmup, where the decay starts. */
  peakValue: number;
  /** The steps of the linear warmup: an integer >= 0 (0: no warmup). */
  warmupSteps: number;
  /** The steps of warmup and decay together: an integer > `warmupSteps`. */
  decaySteps: number;
  /** The value from step `decaySteps` on. Default `0`. */
  endValue?: number;
  /** The power of the half cosine: a finite number > 0. Default `1`. */
  exponent?: number;
}

const WARMUP_COSINE_DECAY_KEYS = optionKeys<WarmupCosineDecayScheduleOptions>({
  initValue: true,
  peakValue: true,
  warmupSteps: true,
  decaySteps: true,
  endValue: true,
  exponent: true,
});

/**
 * A linear warmup from `initValue` to `peakValue` over `warmupSteps`, then a
 * cosine decay to `endValue` at step `decaySteps` (which counts the warmup):
 * `end + (peak - end) * c ** exponent`, `c` the half cosine of
 * `(step - warmupSteps) / (decaySteps - warmupSteps)`.
 *
 * PyTorch, base rate `lr`: `SequentialLR(opt, [LinearLR(opt, start_factor=s, total_iters=W),
 * CosineAnnealingLR(opt, T_max=D - W, eta_min=e)], milestones=[W])` is
 * `warmupCosineDecaySchedule({ initValue: lr * s, peakValue: lr, warmupSteps: W, decaySteps: D, endValue: e })`.
 * Plots: docs/schedules.md.
 *
 * @param options - see {@link WarmupCosineDecayScheduleOptions}.
 * @returns a {@link Schedule}.
 * @example
 * ```ts
 * const schedule = warmupCosineDecaySchedule({ peakValue: 3e-4, warmupSteps: 2000, decaySteps: 100_000, endValue: 3e-5 });
 * const optimizer = adamw({ learningRate: schedule });
 * ```
 */
export function warmupCosineDecaySchedule(options: WarmupCosineDecayScheduleOptions): Schedule {
  const fn = 'warmupCosineDecaySchedule';
  checkScheduleOptions(fn, options, WARMUP_COSINE_DECAY_KEYS);
  const init = checkScheduleValue(fn, 'options.initValue', options.initValue ?? 0);
  const peak = checkScheduleValue(fn, 'options.peakValue', options.peakValue);
  const warmup = checkInteger(fn, 'options.warmupSteps', options.warmupSteps, 0);
  const total = checkInteger(fn, 'options.decaySteps', options.decaySteps, warmup + 1);
  const end = checkScheduleValue(fn, 'options.endValue', options.endValue ?? 0);
  const exponent = checkNumber(fn, 'options.exponent', options.exponent ?? 1, {
    min: 0,
    minExclusive: true,
  });
  const decay = total - warmup;
  return scheduleFrom(fn, (step) => {
    if (step < warmup) return init + (peak - init) * (step / warmup);
    return end + (peak - end) * halfCosine(progress(step, warmup, decay)) ** exponent;
  });
}

/** Options of {@link cosineRestartsSchedule}, as PyTorch's `CosineAnnealingWarmRestarts`. */
export interface CosineRestartsScheduleOptions {
  /** The value at the start of every period (torch: the base rate). */
  initValue: number;
  /** The length of the first period, in steps (torch's `T_0`): an integer >= 1. */
  firstPeriod: number;
  /** The factor by which each period is longer than the last (torch's `T_mult`): an integer >= 1. Default `1`. */
  periodMultiplier?: number;
  /** The value each period decays towards (torch's `eta_min`). Default `0`. */
  minValue?: number;
}

const COSINE_RESTARTS_KEYS = optionKeys<CosineRestartsScheduleOptions>({
  initValue: true,
  firstPeriod: true,
  periodMultiplier: true,
  minValue: true,
});

/**
 * Cosine annealing with warm restarts (SGDR, https://arxiv.org/abs/1608.03983):
 * `min + (init - min) * (1 + cos(pi * t / T)) / 2`, where `t` is the step
 * within the current period and `T` its length; periods are `firstPeriod`,
 * `firstPeriod * periodMultiplier`, ... and the value jumps back to
 * `initValue` at each restart.
 *
 * PyTorch: `CosineAnnealingWarmRestarts(opt, T_0, T_mult, eta_min)` stepped
 * once per optimizer step, base rate `lr`, is
 * `cosineRestartsSchedule({ initValue: lr, firstPeriod: T_0, periodMultiplier: T_mult, minValue: eta_min })`.
 * Plots: docs/schedules.md.
 *
 * @param options - see {@link CosineRestartsScheduleOptions}.
 * @returns a {@link Schedule}.
 * @example
 * ```ts
 * const schedule = cosineRestartsSchedule({ initValue: 0.1, firstPeriod: 100, periodMultiplier: 2 });
 * schedule(100); // 0.1: the second period (200 steps) starts
 * ```
 */
export function cosineRestartsSchedule(options: CosineRestartsScheduleOptions): Schedule {
  const fn = 'cosineRestartsSchedule';
  checkScheduleOptions(fn, options, COSINE_RESTARTS_KEYS);
  const init = checkScheduleValue(fn, 'options.initValue', options.initValue);
  const first = checkInteger(fn, 'options.firstPeriod', options.firstPeriod, 1);
  const multiplier = checkInteger(fn, 'options.periodMultiplier', options.periodMultiplier ?? 1, 1);
  const min = checkScheduleValue(fn, 'options.minValue', options.minValue ?? 0);
  return scheduleFrom(fn, (step) => {
    // Walking the periods keeps the arithmetic exact where a closed form would take a logarithm.
    let t = step;
    let period = first;
    if (multiplier === 1) t = step % first;
    else {
      while (t >= period) {
        t -= period;
        period *= multiplier;
      }
    }
    return min + (init - min) * halfCosine(t / period);
  });
}
