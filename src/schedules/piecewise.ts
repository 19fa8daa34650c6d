import { TfjsBlocksError } from '../errors';
import { checkInteger, describeValue, optionKeys } from '../internal/checks';
import { checkScheduleOptions, checkScheduleValue, type Schedule, scheduleFrom } from './schedule';

/** Options of {@link piecewiseConstantSchedule}, as optax's `piecewise_constant_schedule`. */
export interface PiecewiseConstantScheduleOptions {
  /** The value before the first boundary. */
  initValue: number;
  /**
   * Step boundaries (integers >= 0, as object keys) and the factor that
   * multiplies the value from that step on, e.g. `{ 100: 0.1, 300: 0.1 }`.
   * Default `{}` (constant).
   */
  boundariesAndScales?: Record<number, number>;
}

const PIECEWISE_CONSTANT_KEYS = optionKeys<PiecewiseConstantScheduleOptions>({
  initValue: true,
  boundariesAndScales: true,
});

/**
 * A piecewise-constant schedule: `initValue` times the product of the
 * scales of every boundary `<= step`.
 *
 * PyTorch: `MultiStepLR(opt, milestones=[m1, m2], gamma=g)` with base rate
 * `lr` is `piecewiseConstantSchedule({ initValue: lr, boundariesAndScales: { [m1]: g, [m2]: g } })`.
 * Plots: docs/schedules.md.
 *
 * @param options - see {@link PiecewiseConstantScheduleOptions}.
 * @returns a {@link Schedule}.
 * @example
 * ```ts
 * const schedule = piecewiseConstantSchedule({ initValue: 0.1, boundariesAndScales: { 100: 0.1, 300: 0.5 } });
 * schedule(99); // 0.1
 * schedule(100); // 0.01
 * schedule(300); // 0.005
 * ```
 */
export function piecewiseConstantSchedule(options: PiecewiseConstantScheduleOptions): Schedule {
  const fn = 'piecewiseConstantSchedule';
  checkScheduleOptions(fn, options, PIECEWISE_CONSTANT_KEYS);
  const init = checkScheduleValue(fn, 'options.initValue', options.initValue);
  const entries = options.boundariesAndScales ?? {};
  if (typeof entries !== 'object' || entries === null || Array.isArray(entries)) {
    throw new TfjsBlocksError(
      fn,
      'options.boundariesAndScales',
      'an object mapping step boundaries to scales',
      describeValue(entries),
    );
  }
  const pieces = Object.entries(entries)
    .map(([key, scale]) => {
      const name = `options.boundariesAndScales[${JSON.stringify(key)}]`;
      const boundary = checkInteger(
        fn,
        `the key of ${name}`,
        key.trim() === '' ? key : Number(key),
        0,
      );
      return { boundary, scale: checkScheduleValue(fn, name, scale) };
    })
    .sort((a, b) => a.boundary - b.boundary);
  return scheduleFrom(fn, (step) => {
    let value = init;
    for (const { boundary, scale } of pieces) {
      if (step < boundary) break;
      value *= scale;
    }
    return value;
  });
}
