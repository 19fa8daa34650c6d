import { TfjsBlocksError } from '../errors';
import { checkInteger, optionKeys } from '../internal/checks';
import { checkScheduleOptions, checkScheduleValue, type Schedule, scheduleFrom } from './schedule';

/**
 * Options of {@link inverseSqrtSchedule}: the warmup and either the peak
 * value or the Transformer's model width (with a scale).
 */
export type InverseSqrtScheduleOptions =
  | {
      /** The steps of the linear warmup: an integer >= 1. */
      warmupSteps: number;
      /** The value at the end of the warmup (step `warmupSteps - 1`). */
      peakValue: number;
    }
  | {
      /** The steps of the linear warmup: an integer >= 1. */
      warmupSteps: number;
      /** The model width `d_model` of the Noam formula: an integer >= 1. */
      modelDim: number;
      /** A factor on the Noam formula (Annotated Transformer's `factor`). Default `1`. */
      scale?: number;
    };

/** Every key of every variant of a union of option types. */
type KeysOfEach<T> = T extends unknown ? keyof T : never;

const INVERSE_SQRT_KEYS = optionKeys<{ [K in KeysOfEach<InverseSqrtScheduleOptions>]?: unknown }>({
  warmupSteps: true,
  peakValue: true,
  modelDim: true,
  scale: true,
});

/**
 * The Transformer's ("Noam") schedule, https://arxiv.org/abs/1706.03762 §5.3:
 * `scale * modelDim ** -0.5 * min(n ** -0.5, n * warmupSteps ** -1.5)`, a
 * linear warmup then a decay as `1 / sqrt(n)`. Given `peakValue` instead, it
 * is `peakValue * min(n / warmupSteps, sqrt(warmupSteps / n))`, the same
 * curve with `peakValue = scale * (modelDim * warmupSteps) ** -0.5`.
 *
 * Step convention: the paper counts steps from 1, so `n = step + 1`. Step 0
 * (the first update) gets `peak / warmupSteps`, not 0, and the peak falls
 * on step `warmupSteps - 1`. PyTorch has no such scheduler. Plots: docs/schedules.md.
 *
 * @param options - see {@link InverseSqrtScheduleOptions}.
 * @returns a {@link Schedule}.
 * @example
 * ```ts
 * const noam = inverseSqrtSchedule({ modelDim: 512, warmupSteps: 4000 });
 * const same = inverseSqrtSchedule({ peakValue: (512 * 4000) ** -0.5, warmupSteps: 4000 });
 * noam(15_999); // 512 ** -0.5 * 16000 ** -0.5
 * ```
 */
export function inverseSqrtSchedule(options: InverseSqrtScheduleOptions): Schedule {
  const fn = 'inverseSqrtSchedule';
  checkScheduleOptions(fn, options, INVERSE_SQRT_KEYS);
  const warmup = checkInteger(fn, 'options.warmupSteps', options.warmupSteps, 1);
  const hasPeak = 'peakValue' in options && options.peakValue !== undefined;
  const hasDim = 'modelDim' in options && options.modelDim !== undefined;
  if (hasPeak === hasDim) {
    throw new TfjsBlocksError(
      fn,
      'options',
      'an object with exactly one of peakValue and modelDim',
      hasPeak ? 'both' : 'neither',
    );
  }
  let peak: number;
  if ('peakValue' in options && hasPeak) {
    peak = checkScheduleValue(fn, 'options.peakValue', options.peakValue);
  } else {
    const dimOptions = options as { modelDim: number; scale?: number };
    const dim = checkInteger(fn, 'options.modelDim', dimOptions.modelDim, 1);
    const scale = checkScheduleValue(fn, 'options.scale', dimOptions.scale ?? 1);
    peak = scale * (dim * warmup) ** -0.5;
  }
  return scheduleFrom(fn, (step) => {
    const n = step + 1;
    return peak * Math.min(n / warmup, Math.sqrt(warmup / n));
  });
}
