import { TfjsBlocksError } from '../errors';
import { checkInteger, describeChoice, optionKeys } from '../internal/checks';
import {
  checkScheduleOptions,
  checkScheduleValue,
  progress,
  type Schedule,
  scheduleFrom,
} from './schedule';

/** Options of {@link wsdSchedule}. */
export interface WsdScheduleOptions {
  /** The value at step 0, where the warmup starts. Default `0`. */
  initValue?: number;
  /** The value of the stable phase. */
  peakValue: number;
  /** The steps of the linear warmup: an integer >= 0. */
  warmupSteps: number;
  /** The steps held at `peakValue`: an integer >= 0. */
  stableSteps: number;
  /** The steps of the final decay: an integer >= 1. */
  decaySteps: number;
  /** The value at the end of the decay and after. Default `0`. */
  endValue?: number;
  /**
   * The decay's shape over its fraction `t` in [0, 1]: `'linear'` (`1 - t`),
   * `'cosine'` (`(1 + cos(pi t)) / 2`) or `'sqrt'` (`1 - sqrt(t)`). Default `'linear'`.
   */
  decayShape?: 'linear' | 'cosine' | 'sqrt';
}

const WSD_KEYS = optionKeys<WsdScheduleOptions>({
  initValue: true,
  peakValue: true,
  warmupSteps: true,
  stableSteps: true,
  decaySteps: true,
  endValue: true,
  decayShape: true,
});

const DECAY_SHAPES = {
  linear: (t: number) => 1 - t,
  cosine: (t: number) => 0.5 * (1 + Math.cos(Math.PI * t)),
  sqrt: (t: number) => 1 - Math.sqrt(t),
};

/**
 * Warmup-stable-decay (the "trapezoidal" schedule of MiniCPM,
 * https://arxiv.org/abs/2404.06395, and Hägele et al., https://arxiv.org/abs/2405.18392):
 * a linear warmup from `initValue` to `peakValue` over `warmupSteps`, the
 * peak held for `stableSteps`, then a decay to `endValue` over `decaySteps`:
 * `end + (peak - end) * shape((step - warmupSteps - stableSteps) / decaySteps)`.
 * PyTorch has no such scheduler (a `SequentialLR` of `LinearLR`,
 * `ConstantLR` and `LinearLR` builds the linear one). Plots: docs/schedules.md.
 *
 * @param options - see {@link WsdScheduleOptions}.
 * @returns a {@link Schedule}.
 * @example
 * ```ts
 * const schedule = wsdSchedule({ peakValue: 1e-3, warmupSteps: 500, stableSteps: 8000, decaySteps: 1500, decayShape: 'sqrt' });
 * schedule(4000); // 1e-3
 * ```
 */
export function wsdSchedule(options: WsdScheduleOptions): Schedule {
  const fn = 'wsdSchedule';
  checkScheduleOptions(fn, options, WSD_KEYS);
  const init = checkScheduleValue(fn, 'options.initValue', options.initValue ?? 0);
  const peak = checkScheduleValue(fn, 'options.peakValue', options.peakValue);
  const warmup = checkInteger(fn, 'options.warmupSteps', options.warmupSteps, 0);
  const stable = checkInteger(fn, 'options.stableSteps', options.stableSteps, 0);
  const decay = checkInteger(fn, 'options.decaySteps', options.decaySteps, 1);
  const end = checkScheduleValue(fn, 'options.endValue', options.endValue ?? 0);
  const shapeName = options.decayShape ?? 'linear';
  if (!Object.keys(DECAY_SHAPES).includes(shapeName)) {
    throw new TfjsBlocksError(
      fn,
      'options.decayShape',
      "'linear', 'cosine' or 'sqrt'",
      describeChoice(shapeName),
    );
  }
  const shape = DECAY_SHAPES[shapeName];
  const decayBegin = warmup + stable;
  return scheduleFrom(fn, (step) => {
    if (step < warmup) return init + (peak - init) * (step / warmup);
    if (step < decayBegin) return peak;
    return end + (peak - end) * shape(progress(step, decayBegin, decay));
  });
}
