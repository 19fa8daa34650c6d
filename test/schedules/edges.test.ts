// The schedules' input space (issue 22): warm-ups that start above 0, decay
// rate 1 with a bound, the edges of every range (exclusive minimums, first
// boundaries), and a rejection test for every validation path, asserting
// the error's `argument`.
import { describe, expect, it } from 'vitest';
import {
  constantSchedule,
  cosineDecaySchedule,
  cosineRestartsSchedule,
  exponentialDecaySchedule,
  inverseSqrtSchedule,
  joinSchedules,
  linearSchedule,
  oneCycleSchedule,
  piecewiseConstantSchedule,
  polynomialSchedule,
  type Schedule,
  warmupCosineDecaySchedule,
  wsdSchedule,
} from '../../src/index';
import { thrownBy } from '../helpers/rejections';

// biome-ignore lint/suspicious/noExplicitAny: bad options are the point of these tests.
const bad = (x: unknown) => x as any;

function expectValues(schedule: Schedule, expected: Record<number, number>): void {
  for (const [step, value] of Object.entries(expected)) {
    expect(schedule(Number(step)), `step ${step}`).toBeCloseTo(value, 10);
  }
}

describe('warm-ups from an initValue above 0', () => {
  it('warmupCosineDecaySchedule rises linearly from initValue to peakValue, then decays to endValue', () => {
    const s = warmupCosineDecaySchedule({
      initValue: 0.1,
      peakValue: 1,
      warmupSteps: 4,
      decaySteps: 8,
      endValue: 0.2,
    });
    expectValues(s, { 0: 0.1, 1: 0.325, 2: 0.55, 4: 1, 6: 0.6, 8: 0.2, 100: 0.2 });
  });

  it('warmupCosineDecaySchedule with an exponent raises the half cosine to it', () => {
    const s = warmupCosineDecaySchedule({
      initValue: 0.5,
      peakValue: 1,
      warmupSteps: 2,
      decaySteps: 6,
      exponent: 2,
    });
    expectValues(s, { 0: 0.5, 1: 0.75, 2: 1, 4: 0.25, 6: 0 });
  });

  it('wsdSchedule rises from initValue, holds, then decays to endValue in each shape', () => {
    const base = { initValue: 0.1, peakValue: 1, warmupSteps: 4, stableSteps: 2, decaySteps: 4 };
    const c = 0.5 * (1 + Math.cos(Math.PI / 4));
    for (const [shape, at7] of [
      ['linear', 0.2 + 0.8 * 0.75],
      ['cosine', 0.2 + 0.8 * c],
      ['sqrt', 0.2 + 0.8 * 0.5],
    ] as const) {
      const s = wsdSchedule({ ...base, endValue: 0.2, decayShape: shape });
      expectValues(s, { 0: 0.1, 2: 0.55, 4: 1, 5: 1, 6: 1, 7: at7, 10: 0.2, 50: 0.2 });
    }
  });

  it('wsdSchedule without warm-up starts at the peak', () => {
    const s = wsdSchedule({ peakValue: 2, warmupSteps: 0, stableSteps: 0, decaySteps: 2 });
    expectValues(s, { 0: 2, 1: 1, 2: 0 });
  });
});

describe('exponentialDecaySchedule bounds', () => {
  it('decayRate 1 with an endValue above initValue stays at initValue (a ceiling, as optax)', () => {
    const s = exponentialDecaySchedule({
      initValue: 0.5,
      transitionSteps: 1,
      decayRate: 1,
      endValue: 0.9,
    });
    expectValues(s, { 0: 0.5, 1: 0.5, 10: 0.5, 1000: 0.5 });
  });

  it('clips at every step, before transitionBegin too, as optax (it used to jump there)', () => {
    const floorAbove = exponentialDecaySchedule({
      initValue: 1,
      transitionSteps: 1,
      decayRate: 0.5,
      endValue: 2,
      transitionBegin: 2,
    });
    expectValues(floorAbove, { 0: 2, 2: 2, 3: 2, 50: 2 });
    const ceilingBelow = exponentialDecaySchedule({
      initValue: 1,
      transitionSteps: 1,
      decayRate: 2,
      endValue: 0.5,
    });
    expectValues(ceilingBelow, { 0: 0.5, 1: 0.5, 9: 0.5 });
    const flatBelow = exponentialDecaySchedule({
      initValue: 1,
      transitionSteps: 1,
      decayRate: 1,
      endValue: 0.25,
    });
    expectValues(flatBelow, { 0: 0.25, 1: 0.25, 9: 0.25 });
  });

  it('a decaying value stops at its floor; a growing one at its ceiling', () => {
    const down = exponentialDecaySchedule({
      initValue: 1,
      transitionSteps: 1,
      decayRate: 0.5,
      endValue: 0.2,
    });
    expectValues(down, { 0: 1, 1: 0.5, 2: 0.25, 3: 0.2, 30: 0.2 });
    const up = exponentialDecaySchedule({
      initValue: 1,
      transitionSteps: 2,
      decayRate: 2,
      endValue: 3,
    });
    expectValues(up, { 0: 1, 2: 2, 3: 2 ** 1.5, 4: 3, 40: 3 });
  });

  it('holds initValue until transitionBegin, then decays continuously or in stairs', () => {
    const o = { initValue: 1, transitionSteps: 2, decayRate: 0.25, transitionBegin: 3 };
    expectValues(exponentialDecaySchedule(o), { 0: 1, 3: 1, 4: 0.5, 5: 0.25 });
    expectValues(exponentialDecaySchedule({ ...o, staircase: true }), {
      3: 1,
      4: 1,
      4.9: 1,
      5: 0.25,
      6: 0.25,
      7: 0.0625,
    });
  });
});

describe('schedules at the edges of their ranges', () => {
  it('linearSchedule and polynomialSchedule hold before transitionBegin and after the end', () => {
    const lin = linearSchedule({
      initValue: 2,
      endValue: 1,
      transitionSteps: 4,
      transitionBegin: 2,
    });
    expectValues(lin, { 0: 2, 2: 2, 3: 1.75, 6: 1, 60: 1 });
    const poly = polynomialSchedule({
      initValue: 1,
      endValue: 0.5,
      power: 2,
      transitionSteps: 2,
      transitionBegin: 1,
    });
    expectValues(poly, { 0: 1, 1: 1, 2: 0.625, 3: 0.5, 30: 0.5 });
  });

  it('cosineDecaySchedule with alpha and exponent, and after decaySteps', () => {
    const s = cosineDecaySchedule({ initValue: 2, decaySteps: 4, alpha: 0.5, exponent: 2 });
    const c = 0.5 * (1 + Math.cos(Math.PI / 4));
    expectValues(s, { 0: 2, 1: 2 * (0.5 * c ** 2 + 0.5), 2: 2 * (0.5 * 0.25 + 0.5), 4: 1, 9: 1 });
  });

  it('cosineRestartsSchedule restarts at each period, growing by the multiplier', () => {
    const s = cosineRestartsSchedule({
      initValue: 1,
      firstPeriod: 2,
      periodMultiplier: 2,
      minValue: 0.2,
    });
    expectValues(s, { 0: 1, 1: 0.6, 2: 1, 4: 0.6, 6: 1, 8: 0.2 + 0.8 * 0.5 * (1 + Math.SQRT1_2) });
    const flat = cosineRestartsSchedule({ initValue: 1, firstPeriod: 4 });
    expectValues(flat, { 0: 1, 2: 0.5, 4: 1, 6: 0.5 });
  });

  it('inverseSqrtSchedule: warm-up to the peak, then 1/sqrt; modelDim and scale give the peak', () => {
    const s = inverseSqrtSchedule({ peakValue: 1, warmupSteps: 4 });
    expectValues(s, { 0: 0.25, 1: 0.5, 3: 1, 15: 0.5, 63: 0.25 });
    const byDim = inverseSqrtSchedule({ modelDim: 16, warmupSteps: 4, scale: 2 });
    expectValues(byDim, { 3: 2 / 8, 15: 1 / 8 });
  });

  it('inverseSqrtSchedule treats an explicitly undefined peakValue or modelDim as absent', () => {
    const byDim = inverseSqrtSchedule(bad({ peakValue: undefined, modelDim: 16, warmupSteps: 4 }));
    expectValues(byDim, { 3: 1 / 8 });
    const byPeak = inverseSqrtSchedule(bad({ peakValue: 2, modelDim: undefined, warmupSteps: 4 }));
    expectValues(byPeak, { 3: 2, 15: 1 });
  });

  it('oneCycleSchedule: three phases and the linear anneal reach the documented values', () => {
    const s = oneCycleSchedule({
      maxValue: 1,
      totalSteps: 11,
      pctStart: 0.2,
      annealStrategy: 'linear',
      divFactor: 4,
      finalDivFactor: 5,
      threePhase: true,
    });
    // Phase ends at steps 1.2, 2.4 and 10: 0.25 -> 1 -> 0.25 -> 0.05.
    expectValues(s, { 0: 0.25, 10: 0.05, 20: 0.05 });
    expect(s(1)).toBeCloseTo(0.25 + 0.75 / 1.2, 10);
    const two = oneCycleSchedule({ maxValue: 1, totalSteps: 11, pctStart: 0.5, divFactor: 2 });
    expectValues(two, { 0: 0.5, 4.5: 1, 10: 0.5 / 1e4 });
  });

  it('joinSchedules accepts a first boundary of 0 or 1, and takes over exactly there', () => {
    const zero = joinSchedules([constantSchedule(1), (step) => 10 + step], [0]);
    expect([0, 1].map(zero)).toEqual([10, 11]);
    const one = joinSchedules([constantSchedule(1), (step) => 10 + step], [1]);
    expect([0, 1, 2].map(one)).toEqual([1, 10, 11]);
  });

  it('piecewiseConstantSchedule sorts its boundaries and multiplies from each one on', () => {
    const s = piecewiseConstantSchedule({
      initValue: 2,
      boundariesAndScales: { 30: 0.5, 10: 0.1, 0: 3 },
    });
    expectValues(s, { 0: 6, 9: 6, 10: 0.6, 29: 0.6, 30: 0.3 });
    expectValues(piecewiseConstantSchedule({ initValue: 2 }), { 0: 2, 1e6: 2 });
    // Keys that are not canonical integers ('010') come after the integer keys in
    // Object.entries order: only the sort puts 10 before 20.
    const padded = piecewiseConstantSchedule({
      initValue: 1,
      boundariesAndScales: bad({ 20: 0.5, '010': 0.1, '005': 0.2 }),
    });
    expectValues(padded, { 0: 1, 5: 0.2, 10: 0.02, 19: 0.02, 20: 0.01 });
  });
});

/** A bad call and the `argument` its error must name. */
const REJECTED: Array<[string, () => unknown, string]> = [
  [
    'cosineDecaySchedule exponent 0',
    () => cosineDecaySchedule({ initValue: 1, decaySteps: 4, exponent: 0 }),
    'options.exponent',
  ],
  [
    'cosineDecaySchedule decaySteps 0',
    () => cosineDecaySchedule({ initValue: 1, decaySteps: 0 }),
    'options.decaySteps',
  ],
  [
    'warmupCosineDecaySchedule exponent 0',
    () => warmupCosineDecaySchedule({ peakValue: 1, warmupSteps: 1, decaySteps: 4, exponent: 0 }),
    'options.exponent',
  ],
  [
    'warmupCosineDecaySchedule initValue -1',
    () => warmupCosineDecaySchedule({ initValue: -1, peakValue: 1, warmupSteps: 1, decaySteps: 4 }),
    'options.initValue',
  ],
  [
    'polynomialSchedule power 0',
    () => polynomialSchedule({ initValue: 1, transitionSteps: 4, power: 0 }),
    'options.power',
  ],
  [
    'polynomialSchedule initValue -1',
    () => polynomialSchedule({ initValue: -1, transitionSteps: 4 }),
    'options.initValue',
  ],
  [
    'polynomialSchedule transitionBegin -1',
    () => polynomialSchedule({ initValue: 1, transitionSteps: 4, transitionBegin: -1 }),
    'options.transitionBegin',
  ],
  [
    'linearSchedule transitionBegin 0.5',
    () => linearSchedule({ initValue: 1, endValue: 0, transitionSteps: 4, transitionBegin: 0.5 }),
    'options.transitionBegin',
  ],
  [
    'exponentialDecaySchedule decayRate 0',
    () => exponentialDecaySchedule({ initValue: 1, transitionSteps: 1, decayRate: 0 }),
    'options.decayRate',
  ],
  [
    'exponentialDecaySchedule transitionSteps 0',
    () => exponentialDecaySchedule({ initValue: 1, transitionSteps: 0, decayRate: 0.5 }),
    'options.transitionSteps',
  ],
  [
    'exponentialDecaySchedule transitionBegin -1',
    () =>
      exponentialDecaySchedule({
        initValue: 1,
        transitionSteps: 1,
        decayRate: 0.5,
        transitionBegin: -1,
      }),
    'options.transitionBegin',
  ],
  [
    'exponentialDecaySchedule initValue -1',
    () => exponentialDecaySchedule({ initValue: -1, transitionSteps: 1, decayRate: 0.5 }),
    'options.initValue',
  ],
  [
    'oneCycleSchedule divFactor 0',
    () => oneCycleSchedule({ maxValue: 1, totalSteps: 10, divFactor: 0 }),
    'options.divFactor',
  ],
  [
    'oneCycleSchedule finalDivFactor 0',
    () => oneCycleSchedule({ maxValue: 1, totalSteps: 10, finalDivFactor: 0 }),
    'options.finalDivFactor',
  ],
  [
    'oneCycleSchedule pctStart 0',
    () => oneCycleSchedule({ maxValue: 1, totalSteps: 10, pctStart: 0 }),
    'options.pctStart',
  ],
  [
    'oneCycleSchedule pctStart 1',
    () => oneCycleSchedule({ maxValue: 1, totalSteps: 10, pctStart: 1 }),
    'options.pctStart',
  ],
  [
    'oneCycleSchedule pctStart leaving a phase empty',
    () => oneCycleSchedule({ maxValue: 1, totalSteps: 10, pctStart: 0.1 }),
    'options.pctStart',
  ],
  [
    'oneCycleSchedule three phases leaving the last one empty',
    () => oneCycleSchedule({ maxValue: 1, totalSteps: 10, pctStart: 0.6, threePhase: true }),
    'options.pctStart',
  ],
  [
    'oneCycleSchedule totalSteps 1',
    () => oneCycleSchedule({ maxValue: 1, totalSteps: 1 }),
    'options.totalSteps',
  ],
  [
    'oneCycleSchedule annealStrategy "exp"',
    () => oneCycleSchedule({ maxValue: 1, totalSteps: 10, annealStrategy: bad('exp') }),
    'options.annealStrategy',
  ],
  [
    'cosineRestartsSchedule firstPeriod 0',
    () => cosineRestartsSchedule({ initValue: 1, firstPeriod: 0 }),
    'options.firstPeriod',
  ],
  [
    'cosineRestartsSchedule periodMultiplier 0',
    () => cosineRestartsSchedule({ initValue: 1, firstPeriod: 2, periodMultiplier: 0 }),
    'options.periodMultiplier',
  ],
  [
    'cosineRestartsSchedule initValue -1',
    () => cosineRestartsSchedule({ initValue: -1, firstPeriod: 2 }),
    'options.initValue',
  ],
  [
    'inverseSqrtSchedule warmupSteps 0',
    () => inverseSqrtSchedule({ peakValue: 1, warmupSteps: 0 }),
    'options.warmupSteps',
  ],
  [
    'inverseSqrtSchedule with both peakValue and modelDim',
    () => inverseSqrtSchedule(bad({ peakValue: 1, modelDim: 8, warmupSteps: 2 })),
    'options',
  ],
  [
    'inverseSqrtSchedule with neither peakValue nor modelDim',
    () => inverseSqrtSchedule(bad({ warmupSteps: 2 })),
    'options',
  ],
  [
    'inverseSqrtSchedule modelDim 0',
    () => inverseSqrtSchedule({ modelDim: 0, warmupSteps: 2 }),
    'options.modelDim',
  ],
  [
    'wsdSchedule decaySteps 0',
    () => wsdSchedule({ peakValue: 1, warmupSteps: 1, stableSteps: 1, decaySteps: 0 }),
    'options.decaySteps',
  ],
  [
    'wsdSchedule stableSteps -1',
    () => wsdSchedule({ peakValue: 1, warmupSteps: 1, stableSteps: -1, decaySteps: 1 }),
    'options.stableSteps',
  ],
  [
    'wsdSchedule warmupSteps -1',
    () => wsdSchedule({ peakValue: 1, warmupSteps: -1, stableSteps: 1, decaySteps: 1 }),
    'options.warmupSteps',
  ],
  [
    'wsdSchedule initValue -1',
    () =>
      wsdSchedule({ initValue: -1, peakValue: 1, warmupSteps: 1, stableSteps: 1, decaySteps: 1 }),
    'options.initValue',
  ],
  [
    'wsdSchedule peakValue -1',
    () => wsdSchedule({ peakValue: -1, warmupSteps: 1, stableSteps: 1, decaySteps: 1 }),
    'options.peakValue',
  ],
  [
    'wsdSchedule decayShape "exp"',
    () =>
      wsdSchedule({
        peakValue: 1,
        warmupSteps: 1,
        stableSteps: 1,
        decaySteps: 1,
        decayShape: bad('exp'),
      }),
    'options.decayShape',
  ],
  ['joinSchedules with no schedules', () => joinSchedules([], []), 'schedules'],
  [
    'joinSchedules with a non-array',
    () =>
      joinSchedules(
        bad(() => 1),
        [],
      ),
    'schedules',
  ],
  [
    'joinSchedules with a non-function schedule',
    () => joinSchedules([() => 1, bad(2)], [3]),
    'schedules[1]',
  ],
  ['joinSchedules with too many boundaries', () => joinSchedules([() => 1], [3]), 'boundaries'],
  [
    'joinSchedules with boundaries not an array',
    () => joinSchedules([() => 1, () => 2], bad(3)),
    'boundaries',
  ],
  [
    'joinSchedules with a negative first boundary',
    () => joinSchedules([() => 1, () => 2], [-1]),
    'boundaries[0]',
  ],
  [
    'joinSchedules with a repeated boundary',
    () => joinSchedules([() => 1, () => 2, () => 3], [3, 3]),
    'boundaries[1]',
  ],
  [
    'joinSchedules with a fractional boundary',
    () => joinSchedules([() => 1, () => 2], [1.5]),
    'boundaries[0]',
  ],
  [
    'piecewiseConstantSchedule with a blank key',
    () => piecewiseConstantSchedule({ initValue: 1, boundariesAndScales: bad({ ' ': 0.5 }) }),
    'the key of options.boundariesAndScales[" "]',
  ],
  [
    'piecewiseConstantSchedule with an empty key',
    () => piecewiseConstantSchedule({ initValue: 1, boundariesAndScales: bad({ '': 0.5 }) }),
    'the key of options.boundariesAndScales[""]',
  ],
  [
    'piecewiseConstantSchedule with a negative key',
    () => piecewiseConstantSchedule({ initValue: 1, boundariesAndScales: { [-1]: 0.5 } }),
    'the key of options.boundariesAndScales["-1"]',
  ],
  [
    'piecewiseConstantSchedule with a fractional key',
    () => piecewiseConstantSchedule({ initValue: 1, boundariesAndScales: { 1.5: 0.5 } }),
    'the key of options.boundariesAndScales["1.5"]',
  ],
  [
    'piecewiseConstantSchedule with a number for boundariesAndScales',
    () => piecewiseConstantSchedule({ initValue: 1, boundariesAndScales: bad(5) }),
    'options.boundariesAndScales',
  ],
  [
    'piecewiseConstantSchedule with an array for boundariesAndScales',
    () => piecewiseConstantSchedule({ initValue: 1, boundariesAndScales: bad([0.5]) }),
    'options.boundariesAndScales',
  ],
  [
    'piecewiseConstantSchedule initValue -1',
    () => piecewiseConstantSchedule({ initValue: -1 }),
    'options.initValue',
  ],
  ['a schedule called at step -1', () => constantSchedule(1)(-1), 'step'],
  ['a schedule called at step NaN', () => constantSchedule(1)(Number.NaN), 'step'],
  ['a schedule made with null options', () => cosineDecaySchedule(bad(null)), 'options'],
];

describe('schedules reject bad input, naming the argument', () => {
  it('a schedule rejecting a step names the factory that made it', () => {
    expect(thrownBy(() => constantSchedule(1)(-1)).functionName).toBe('constantSchedule');
    const s = joinSchedules([constantSchedule(1)], []);
    expect(thrownBy(() => s(Number.NaN)).functionName).toBe('joinSchedules');
  });

  for (const [name, call, argument] of REJECTED) {
    it(`${name}: ${argument}`, () => {
      expect(thrownBy(call).argument).toBe(argument);
    });
  }
});
