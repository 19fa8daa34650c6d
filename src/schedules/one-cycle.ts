import { TfjsBlocksError } from '../errors';
import { checkInteger, checkNumber, describeChoice, optionKeys } from '../internal/checks';
import { checkScheduleOptions, checkScheduleValue, type Schedule, scheduleFrom } from './schedule';

/** Options of {@link oneCycleSchedule}, as PyTorch's `OneCycleLR`. */
export interface OneCycleScheduleOptions {
  /** The peak value (torch's `max_lr`). */
  maxValue: number;
  /** The steps of the whole cycle: an integer >= 2. */
  totalSteps: number;
  /** The fraction of the cycle spent rising: a number in (0, 1). Default `0.3`. */
  pctStart?: number;
  /** How each phase anneals: `'cos'` or `'linear'`. Default `'cos'`. */
  annealStrategy?: 'cos' | 'linear';
  /** The start value is `maxValue / divFactor`: a number > 0. Default `25`. */
  divFactor?: number;
  /** The final value is the start value divided by this: a number > 0. Default `1e4`. */
  finalDivFactor?: number;
  /**
   * Three phases (rise, fall back to the start value, anneal to the final
   * value) instead of two (rise, anneal). Default `false`.
   */
  threePhase?: boolean;
}

const ONE_CYCLE_KEYS = optionKeys<OneCycleScheduleOptions>({
  maxValue: true,
  totalSteps: true,
  pctStart: true,
  annealStrategy: true,
  divFactor: true,
  finalDivFactor: true,
  threePhase: true,
});

interface Phase {
  /** The step at which the phase reaches `endValue` (torch's `end_step`). */
  endStep: number;
  startValue: number;
  endValue: number;
}

/**
 * The 1cycle policy (Smith & Topin, https://arxiv.org/abs/1708.07120): from
 * `maxValue / divFactor` up to `maxValue` over the first `pctStart` of the
 * cycle, then down to `maxValue / divFactor / finalDivFactor` at step
 * `totalSteps - 1`; the value stays there after.
 *
 * Same phases and arithmetic as PyTorch's `OneCycleLR(opt, max_lr, total_steps, ...)`
 * with `cycle_momentum=False` (this schedule drives the rate only): step k
 * is the rate after k `scheduler.step()` calls. Plots: docs/schedules.md.
 *
 * @param options - see {@link OneCycleScheduleOptions}.
 * @returns a {@link Schedule}.
 * @example
 * ```ts
 * const schedule = oneCycleSchedule({ maxValue: 1e-2, totalSteps: 1000 });
 * schedule(0); // 4e-4
 * schedule(299); // 1e-2
 * ```
 */
export function oneCycleSchedule(options: OneCycleScheduleOptions): Schedule {
  const fn = 'oneCycleSchedule';
  checkScheduleOptions(fn, options, ONE_CYCLE_KEYS);
  const maxValue = checkScheduleValue(fn, 'options.maxValue', options.maxValue);
  const total = checkInteger(fn, 'options.totalSteps', options.totalSteps, 2);
  const pctStart = checkNumber(fn, 'options.pctStart', options.pctStart ?? 0.3, {
    min: 0,
    max: 1,
    minExclusive: true,
  });
  const strategy = options.annealStrategy ?? 'cos';
  if (strategy !== 'cos' && strategy !== 'linear') {
    throw new TfjsBlocksError(
      fn,
      'options.annealStrategy',
      "'cos' or 'linear'",
      describeChoice(strategy),
    );
  }
  const divFactor = checkNumber(fn, 'options.divFactor', options.divFactor ?? 25, {
    min: 0,
    minExclusive: true,
  });
  const finalDivFactor = checkNumber(fn, 'options.finalDivFactor', options.finalDivFactor ?? 1e4, {
    min: 0,
    minExclusive: true,
  });
  const initial = maxValue / divFactor;
  const final = initial / finalDivFactor;
  // torch's phase boundaries, computed the same way so the values match bit for bit.
  const phases: Phase[] = options.threePhase
    ? [
        { endStep: pctStart * total - 1, startValue: initial, endValue: maxValue },
        { endStep: 2 * pctStart * total - 2, startValue: maxValue, endValue: initial },
        { endStep: total - 1, startValue: initial, endValue: final },
      ]
    : [
        { endStep: pctStart * total - 1, startValue: initial, endValue: maxValue },
        { endStep: total - 1, startValue: maxValue, endValue: final },
      ];
  let previousEnd = 0;
  for (const phase of phases) {
    // A phase of length zero would divide 0 by 0 at its first step (torch returns NaN there).
    if (!(phase.endStep > previousEnd)) {
      throw new TfjsBlocksError(
        fn,
        'options.pctStart',
        `a fraction that gives every phase at least one step (phase ends at steps ${phases.map((p) => p.endStep).join(', ')})`,
        String(pctStart),
      );
    }
    previousEnd = phase.endStep;
  }
  const anneal = strategy === 'cos' ? annealCos : annealLinear;
  return scheduleFrom(fn, (step) => {
    const s = Math.min(step, total - 1);
    let start = 0;
    for (const phase of phases) {
      if (s <= phase.endStep || phase === phases[phases.length - 1]) {
        return anneal(phase.startValue, phase.endValue, (s - start) / (phase.endStep - start));
      }
      start = phase.endStep;
    }
    return final;
  });
}

function annealCos(start: number, end: number, fraction: number): number {
  return end + ((start - end) / 2) * (Math.cos(Math.PI * fraction) + 1);
}

function annealLinear(start: number, end: number, fraction: number): number {
  return (end - start) * fraction + start;
}
