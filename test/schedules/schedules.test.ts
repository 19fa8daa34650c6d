import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { TfjsBlocksError } from '../../src/errors';
import { constantSchedule } from '../../src/schedules/constant';
import {
  cosineDecaySchedule,
  cosineRestartsSchedule,
  warmupCosineDecaySchedule,
} from '../../src/schedules/cosine';
import { exponentialDecaySchedule } from '../../src/schedules/exponential';
import { inverseSqrtSchedule } from '../../src/schedules/inverse-sqrt';
import { joinSchedules } from '../../src/schedules/join';
import { oneCycleSchedule } from '../../src/schedules/one-cycle';
import { piecewiseConstantSchedule } from '../../src/schedules/piecewise';
import { linearSchedule, polynomialSchedule } from '../../src/schedules/polynomial';
import type { Schedule } from '../../src/schedules/schedule';
import { wsdSchedule } from '../../src/schedules/wsd';
import { describeRejections } from '../helpers/rejections';

interface ScheduleGolden {
  schedule: string;
  options: Record<string, unknown>;
  reference: string;
  lrs: number[];
}

const golden = JSON.parse(
  readFileSync(fileURLToPath(new URL('../goldens/schedules.json', import.meta.url)), 'utf8'),
) as { torch: string; cases: Record<string, ScheduleGolden | { lrs: number[] }> };

// biome-ignore lint/suspicious/noExplicitAny: each golden carries its factory's options as JSON.
const FACTORIES: Record<string, (options: any) => Schedule> = {
  linearSchedule,
  exponentialDecaySchedule,
  piecewiseConstantSchedule,
  cosineDecaySchedule,
  polynomialSchedule,
  oneCycleSchedule,
  cosineRestartsSchedule,
  warmupCosineDecaySchedule,
};

const RTOL = 1e-7;

/** The largest `|a - e| / |e|` (0 where both are 0), and fails where `|a - e| > 1e-7 |e| + 1e-15`. */
function expectMatchesTorch(schedule: Schedule, expected: number[]): number {
  let worst = 0;
  expected.forEach((e, step) => {
    const a = schedule(step);
    const error = Math.abs(a - e);
    if (!(error <= RTOL * Math.abs(e) + 1e-15)) {
      expect.fail(`step ${step}: ${a} vs torch ${e} (relative error ${error / Math.abs(e)})`);
    }
    if (e !== 0) worst = Math.max(worst, error / Math.abs(e));
  });
  return worst;
}

/** `expect(actual).toBeCloseTo(expected)` at 1e-12 relative: for hand-computed values. */
function expectNear(actual: number, expected: number): void {
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(1e-12 * Math.abs(expected) + 1e-18);
}

const scheduleCases = Object.entries(golden.cases).filter(
  (entry): entry is [string, ScheduleGolden] => 'schedule' in entry[1],
);

describe(`schedules equal torch.optim.lr_scheduler ${golden.torch} over 1,000 steps`, () => {
  const errors: Record<string, number> = {};
  for (const [name, c] of scheduleCases) {
    it(`${name} == ${c.schedule}`, () => {
      expect(c.lrs).toHaveLength(1000);
      const factory = FACTORIES[c.schedule]!;
      const options =
        c.schedule === 'piecewiseConstantSchedule'
          ? {
              ...c.options,
              boundariesAndScales: Object.fromEntries(
                Object.entries(c.options.boundariesAndScales as Record<string, number>).map(
                  ([k, v]) => [Number(k), v],
                ),
              ),
            }
          : c.options;
      errors[name] = expectMatchesTorch(factory(options), c.lrs);
    });
  }

  it('SequentialLR(LinearLR, CosineAnnealingLR) == joinSchedules(linear, cosine decay)', () => {
    const c = golden.cases['SequentialLR-warmup-cosine'] as ScheduleGolden;
    const joined = joinSchedules(
      [
        linearSchedule({ initValue: 0.1 * 0.01, endValue: 0.1, transitionSteps: 100 }),
        cosineDecaySchedule({ initValue: 0.1, decaySteps: 900, alpha: 1e-5 / 0.1 }),
      ],
      [100],
    );
    errors['SequentialLR via joinSchedules'] = expectMatchesTorch(joined, c.lrs);
  });

  it('StepLR == piecewiseConstantSchedule with a boundary every step_size', () => {
    const c = golden.cases.StepLR as ScheduleGolden;
    const boundariesAndScales: Record<number, number> = {};
    for (let b = 30; b < 1000; b += 30) boundariesAndScales[b] = 0.7;
    const schedule = piecewiseConstantSchedule({ initValue: 0.1, boundariesAndScales });
    errors['StepLR via piecewiseConstantSchedule'] = expectMatchesTorch(schedule, c.lrs);
  });

  it('reports the largest relative errors', () => {
    console.info('max relative error vs torch:', JSON.stringify(errors, null, 1));
    for (const error of Object.values(errors)) expect(error).toBeLessThanOrEqual(RTOL);
  });
});

describe('schedules follow their defining formulas', () => {
  it('constantSchedule', () => {
    const schedule = constantSchedule(3e-4);
    expect([0, 1, 1e6, 2.5].map(schedule)).toEqual([3e-4, 3e-4, 3e-4, 3e-4]);
  });

  it('linearSchedule with transitionBegin and fractional steps', () => {
    const schedule = linearSchedule({
      initValue: 1,
      endValue: 3,
      transitionSteps: 4,
      transitionBegin: 10,
    });
    expect([0, 10, 11, 12.5, 14, 100].map(schedule)).toEqual([1, 1, 1.5, 2.25, 3, 3]);
  });

  it('polynomialSchedule', () => {
    const schedule = polynomialSchedule({
      initValue: 2,
      endValue: 1,
      power: 3,
      transitionSteps: 10,
      transitionBegin: 5,
    });
    expectNear(schedule(5), 2);
    expectNear(schedule(10), 1 + 0.125);
    expectNear(schedule(15), 1);
    expectNear(schedule(50), 1);
  });

  it('exponentialDecaySchedule with transitionBegin, endValue, and growth', () => {
    const decay = exponentialDecaySchedule({
      initValue: 1,
      transitionSteps: 10,
      decayRate: 0.5,
      transitionBegin: 5,
      endValue: 0.2,
    });
    expect(decay(0)).toBe(1);
    expect(decay(5)).toBe(1);
    expectNear(decay(10), 0.5 ** 0.5);
    expectNear(decay(25), 0.25);
    expect(decay(100)).toBe(0.2);
    const growth = exponentialDecaySchedule({
      initValue: 1,
      transitionSteps: 1,
      decayRate: 2,
      endValue: 10,
    });
    expect([0, 3, 4, 50].map(growth)).toEqual([1, 8, 10, 10]);
  });

  it('piecewiseConstantSchedule sorts boundaries given in any order', () => {
    const schedule = piecewiseConstantSchedule({
      initValue: 1,
      boundariesAndScales: { 20: 0.5, 10: 4 },
    });
    expect([0, 9, 10, 19, 20, 1000].map(schedule)).toEqual([1, 1, 4, 4, 2, 2]);
  });

  it('cosineDecaySchedule with alpha and exponent, constant after decaySteps', () => {
    const schedule = cosineDecaySchedule({
      initValue: 2,
      decaySteps: 100,
      alpha: 0.1,
      exponent: 2,
    });
    expectNear(schedule(0), 2);
    expectNear(schedule(50), 2 * (0.9 * 0.25 + 0.1));
    expectNear(schedule(100), 0.2);
    expectNear(schedule(500), 0.2);
  });

  it('warmupCosineDecaySchedule: warmup, peak, decay, end', () => {
    const schedule = warmupCosineDecaySchedule({
      peakValue: 1,
      warmupSteps: 10,
      decaySteps: 110,
      endValue: 0.1,
    });
    expect(schedule(0)).toBe(0);
    expectNear(schedule(5), 0.5);
    expect(schedule(10)).toBe(1);
    expectNear(schedule(60), 0.55);
    expectNear(schedule(110), 0.1);
    expectNear(schedule(1000), 0.1);
    const noWarmup = warmupCosineDecaySchedule({ peakValue: 1, warmupSteps: 0, decaySteps: 10 });
    expect(noWarmup(0)).toBe(1);
  });

  it('cosineRestartsSchedule restarts at 0, T0, T0 (1 + m), ...', () => {
    const schedule = cosineRestartsSchedule({
      initValue: 1,
      firstPeriod: 10,
      periodMultiplier: 3,
      minValue: 0.5,
    });
    for (const restart of [0, 10, 40, 130]) expect(schedule(restart)).toBe(1);
    expectNear(schedule(5), 0.75);
    expectNear(schedule(25), 0.75);
    expectNear(schedule(85), 0.75);
  });

  it('oneCycleSchedule holds its final value after totalSteps - 1', () => {
    const schedule = oneCycleSchedule({ maxValue: 1, totalSteps: 100 });
    expectNear(schedule(0), 1 / 25);
    expectNear(schedule(29), 1);
    expectNear(schedule(99), 1 / 25 / 1e4);
    expect(schedule(500)).toBe(schedule(99));
  });

  it('inverseSqrtSchedule is the Noam formula with n = step + 1', () => {
    const noam = inverseSqrtSchedule({ modelDim: 512, warmupSteps: 4000, scale: 2 });
    const formula = (n: number) => 2 * 512 ** -0.5 * Math.min(n ** -0.5, n * 4000 ** -1.5);
    for (const step of [0, 1, 999, 3998, 3999, 4000, 15_999, 1e6]) {
      expectNear(noam(step), formula(step + 1));
    }
    const byPeak = inverseSqrtSchedule({ peakValue: 1e-3, warmupSteps: 100 });
    expectNear(byPeak(0), 1e-5);
    expectNear(byPeak(49), 5e-4);
    expectNear(byPeak(99), 1e-3);
    expectNear(byPeak(399), 5e-4);
  });

  it('wsdSchedule with each decay shape', () => {
    const options = {
      peakValue: 1,
      warmupSteps: 10,
      stableSteps: 20,
      decaySteps: 100,
      endValue: 0.2,
    };
    const linear = wsdSchedule(options);
    const cosine = wsdSchedule({ ...options, decayShape: 'cosine' });
    const sqrt = wsdSchedule({ ...options, decayShape: 'sqrt' });
    for (const s of [linear, cosine, sqrt]) {
      expect(s(0)).toBe(0);
      expectNear(s(5), 0.5);
      expect(s(10)).toBe(1);
      expect(s(29)).toBe(1);
      expect(s(30)).toBe(1);
      expectNear(s(130), 0.2);
      expectNear(s(10_000), 0.2);
    }
    expectNear(linear(55), 0.2 + 0.8 * 0.75);
    expectNear(cosine(80), 0.2 + 0.8 * 0.5);
    expectNear(sqrt(55), 0.2 + 0.8 * 0.5);
  });

  it('joinSchedules shifts each schedule to start from its own step 0', () => {
    const schedule = joinSchedules(
      [constantSchedule(1), (step) => 10 + step, (step) => 100 + step],
      [5, 8],
    );
    expect([0, 4, 5, 7, 8, 20].map(schedule)).toEqual([1, 1, 10, 12, 100, 112]);
    expect(joinSchedules([constantSchedule(7)], [])(3)).toBe(7);
  });
});

describeRejections('schedules reject bad options when made, and bad steps when called', () => [
  [
    'negative warmup',
    () => warmupCosineDecaySchedule({ peakValue: 1, warmupSteps: -1, decaySteps: 10 }),
    /warmupCosineDecaySchedule: options.warmupSteps must be an integer >= 0; got number -1/,
  ],
  [
    'decaySteps not beyond the warmup',
    () => warmupCosineDecaySchedule({ peakValue: 1, warmupSteps: 10, decaySteps: 10 }),
    /options.decaySteps must be an integer >= 11; got number 10/,
  ],
  [
    'non-integer transitionSteps',
    () => linearSchedule({ initValue: 0, endValue: 1, transitionSteps: 2.5 }),
    /linearSchedule: options.transitionSteps must be an integer >= 1; got number 2.5/,
  ],
  [
    'zero transitionSteps',
    () => polynomialSchedule({ initValue: 1, transitionSteps: 0 }),
    /options.transitionSteps must be an integer >= 1; got number 0/,
  ],
  [
    'NaN initValue',
    () => cosineDecaySchedule({ initValue: Number.NaN, decaySteps: 10 }),
    /cosineDecaySchedule: options.initValue must be a finite number in \[0, inf\); got number NaN/,
  ],
  [
    'missing peakValue',
    () => wsdSchedule({ warmupSteps: 1, stableSteps: 1, decaySteps: 1 } as never),
    /wsdSchedule: options.peakValue must be a finite number .*; got undefined/,
  ],
  [
    'unknown decay shape',
    () =>
      wsdSchedule({
        peakValue: 1,
        warmupSteps: 1,
        stableSteps: 1,
        decaySteps: 1,
        decayShape: 'exp' as never,
      }),
    /options.decayShape must be 'linear', 'cosine' or 'sqrt'; got exp/,
  ],
  [
    'decayRate 0',
    () => exponentialDecaySchedule({ initValue: 1, transitionSteps: 1, decayRate: 0 }),
    /options.decayRate must be a finite number in \(0, inf\); got 0/,
  ],
  [
    'negative boundary',
    () => piecewiseConstantSchedule({ initValue: 1, boundariesAndScales: { [-5]: 0.1 } }),
    /the key of options.boundariesAndScales\["-5"\] must be an integer >= 0; got number -5/,
  ],
  [
    'NaN scale',
    () => piecewiseConstantSchedule({ initValue: 1, boundariesAndScales: { 5: Number.NaN } }),
    /options.boundariesAndScales\["5"\] must be a finite number/,
  ],
  [
    'periodMultiplier not an integer',
    () => cosineRestartsSchedule({ initValue: 1, firstPeriod: 10, periodMultiplier: 1.5 }),
    /options.periodMultiplier must be an integer >= 1; got number 1.5/,
  ],
  [
    'pctStart out of (0, 1)',
    () => oneCycleSchedule({ maxValue: 1, totalSteps: 100, pctStart: 1 }),
    /options.pctStart must be a finite number in \(0, 1\); got 1/,
  ],
  [
    'a one-cycle phase of no steps',
    () => oneCycleSchedule({ maxValue: 1, totalSteps: 10, pctStart: 0.1 }),
    /options.pctStart must be a fraction that gives every phase at least one step/,
  ],
  [
    'unknown anneal strategy',
    () => oneCycleSchedule({ maxValue: 1, totalSteps: 10, annealStrategy: 'exp' as never }),
    /options.annealStrategy must be 'cos' or 'linear'; got exp/,
  ],
  [
    'inverse sqrt with both peakValue and modelDim',
    () => inverseSqrtSchedule({ peakValue: 1, modelDim: 4, warmupSteps: 10 } as never),
    /inverseSqrtSchedule: options must be an object with exactly one of peakValue and modelDim; got both/,
  ],
  [
    'inverse sqrt with no warmup',
    () => inverseSqrtSchedule({ peakValue: 1, warmupSteps: 0 }),
    /options.warmupSteps must be an integer >= 1; got number 0/,
  ],
  [
    'constant NaN',
    () => constantSchedule(Number.NaN),
    /constantSchedule: value must be a finite number/,
  ],
  [
    'boundaries out of order',
    () => joinSchedules([constantSchedule(1), constantSchedule(2), constantSchedule(3)], [10, 5]),
    /joinSchedules: boundaries\[1\] must be an integer >= 11; got number 5/,
  ],
  [
    'one boundary too many',
    () => joinSchedules([constantSchedule(1)], [10]),
    /joinSchedules: boundaries must be an array of 0 step\(s\), one fewer than the schedules; got 1 step\(s\)/,
  ],
  [
    'a schedule that is not a function',
    () => joinSchedules([constantSchedule(1), 2 as never], [10]),
    /joinSchedules: schedules\[1\] must be a function \(step\) => number; got number/,
  ],
  [
    'a negative step',
    () => linearSchedule({ initValue: 0, endValue: 1, transitionSteps: 4 })(-1),
    /linearSchedule: step must be a finite number in \[0, inf\); got -1/,
  ],
  [
    'a NaN step',
    () => oneCycleSchedule({ maxValue: 1, totalSteps: 10 })(Number.NaN),
    /oneCycleSchedule: step must be a finite number in \[0, inf\); got number NaN/,
  ],
  [
    'an infinite step',
    () => cosineDecaySchedule({ initValue: 1, decaySteps: 10 })(Number.POSITIVE_INFINITY),
    /cosineDecaySchedule: step must be a finite number/,
  ],
]);

describe('errors are TfjsBlocksError with the option named', () => {
  it('carries argument, expected and actual', () => {
    try {
      wsdSchedule({ peakValue: 1, warmupSteps: 1, stableSteps: -2, decaySteps: 1 });
      expect.fail('no error');
    } catch (e) {
      expect(e).toBeInstanceOf(TfjsBlocksError);
      expect((e as TfjsBlocksError).argument).toBe('options.stableSteps');
      expect((e as TfjsBlocksError).actual).toBe('number -2');
    }
  });
});
