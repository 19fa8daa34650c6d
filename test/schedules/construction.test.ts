import { describe, expect, it } from 'vitest';
import {
  constantSchedule,
  cosineDecaySchedule,
  cosineRestartsSchedule,
  exponentialDecaySchedule,
  inverseSqrtSchedule,
  LearningRateScheduler,
  linearSchedule,
  oneCycleSchedule,
  piecewiseConstantSchedule,
  polynomialSchedule,
  ReduceLearningRateOnPlateau,
  type TfjsBlocksError,
  warmupCosineDecaySchedule,
  wsdSchedule,
} from '../../src/index';
import { expectRejected } from '../property/support';

// biome-ignore lint/suspicious/noExplicitAny: bad options are the point of these tests.
const bad = (x: unknown) => x as any;

/**
 * A schedule's values are rates (finite, >= 0): options that would make one
 * negative or infinite at some step are rejected when it is made, not when an
 * optimizer reaches that step (linearSchedule({ endValue: -5 }) used to throw
 * at step 2, in scaleByLearningRate).
 */
const REJECTED: Array<[string, () => unknown, RegExp]> = [
  ['constantSchedule(-1)', () => constantSchedule(-1), /^value$/],
  [
    'linearSchedule endValue -5',
    () => linearSchedule({ initValue: 1, endValue: -5, transitionSteps: 4 }),
    /^options\.endValue$/,
  ],
  [
    'linearSchedule initValue -1',
    () => linearSchedule({ initValue: -1, endValue: 1, transitionSteps: 4 }),
    /^options\.initValue$/,
  ],
  [
    'polynomialSchedule endValue -1',
    () => polynomialSchedule({ initValue: 1, endValue: -1, transitionSteps: 4 }),
    /^options\.endValue$/,
  ],
  [
    'cosineDecaySchedule alpha -0.5',
    () => cosineDecaySchedule({ initValue: 1, decaySteps: 10, alpha: -0.5 }),
    /^options\.alpha$/,
  ],
  [
    'cosineDecaySchedule initValue -1',
    () => cosineDecaySchedule({ initValue: -1, decaySteps: 10 }),
    /^options\.initValue$/,
  ],
  [
    'warmupCosineDecaySchedule peakValue -1',
    () => warmupCosineDecaySchedule({ peakValue: -1, warmupSteps: 1, decaySteps: 10 }),
    /^options\.peakValue$/,
  ],
  [
    'warmupCosineDecaySchedule endValue -1',
    () => warmupCosineDecaySchedule({ peakValue: 1, warmupSteps: 1, decaySteps: 10, endValue: -1 }),
    /^options\.endValue$/,
  ],
  [
    'cosineRestartsSchedule minValue -1',
    () => cosineRestartsSchedule({ initValue: 1, firstPeriod: 5, minValue: -1 }),
    /^options\.minValue$/,
  ],
  [
    'exponentialDecaySchedule endValue -1',
    () =>
      exponentialDecaySchedule({ initValue: 1, transitionSteps: 1, decayRate: 0.5, endValue: -1 }),
    /^options\.endValue$/,
  ],
  [
    'exponentialDecaySchedule growing without a ceiling (reached Infinity mid-training)',
    () => exponentialDecaySchedule({ initValue: 1, transitionSteps: 1, decayRate: 2 }),
    /^options\.endValue$/,
  ],
  [
    'inverseSqrtSchedule peakValue -1',
    () => inverseSqrtSchedule({ peakValue: -1, warmupSteps: 10 }),
    /^options\.peakValue$/,
  ],
  [
    'inverseSqrtSchedule scale -1',
    () => inverseSqrtSchedule({ modelDim: 64, warmupSteps: 10, scale: -1 }),
    /^options\.scale$/,
  ],
  [
    'oneCycleSchedule maxValue -1',
    () => oneCycleSchedule({ maxValue: -1, totalSteps: 100 }),
    /^options\.maxValue$/,
  ],
  [
    'piecewiseConstantSchedule scale -1',
    () => piecewiseConstantSchedule({ initValue: 1, boundariesAndScales: { 10: -1 } }),
    /^options\.boundariesAndScales\["10"\]$/,
  ],
  [
    'wsdSchedule endValue -1',
    () =>
      wsdSchedule({ peakValue: 1, warmupSteps: 1, stableSteps: 1, decaySteps: 1, endValue: -1 }),
    /^options\.endValue$/,
  ],
  ['a schedule without options', () => linearSchedule(bad(undefined)), /^options$/],
  [
    'LearningRateScheduler perBatch "yes"',
    () => new LearningRateScheduler(() => 1, bad({ perBatch: 'yes' })),
    /^options\.perBatch$/,
  ],
];

const UNKNOWN_KEYS: Array<[string, () => unknown, string, string]> = [
  [
    'linearSchedule',
    () =>
      linearSchedule(bad({ initValue: 0, endValue: 1, transitionSteps: 2, transitionBegins: 1 })),
    'transitionBegins',
    'transitionBegin',
  ],
  [
    'polynomialSchedule',
    () => polynomialSchedule(bad({ initValue: 1, transitionSteps: 2, powr: 2 })),
    'powr',
    'power',
  ],
  [
    'cosineDecaySchedule',
    () => cosineDecaySchedule(bad({ initValue: 1, decaySteps: 2, alfa: 0 })),
    'alfa',
    'alpha',
  ],
  [
    'warmupCosineDecaySchedule',
    () =>
      warmupCosineDecaySchedule(bad({ peakValue: 1, warmupSteps: 1, decaySteps: 5, endvalue: 0 })),
    'endvalue',
    'endValue',
  ],
  [
    'cosineRestartsSchedule',
    () => cosineRestartsSchedule(bad({ initValue: 1, firstPeriod: 2, periodMultipler: 2 })),
    'periodMultipler',
    'periodMultiplier',
  ],
  [
    'exponentialDecaySchedule',
    () =>
      exponentialDecaySchedule(
        bad({ initValue: 1, transitionSteps: 1, decayRate: 0.5, stairCase: true }),
      ),
    'stairCase',
    'staircase',
  ],
  [
    'inverseSqrtSchedule',
    () => inverseSqrtSchedule(bad({ peakValue: 1, warmupSteps: 2, warmupStep: 3 })),
    'warmupStep',
    'warmupSteps',
  ],
  [
    'oneCycleSchedule',
    () => oneCycleSchedule(bad({ maxValue: 1, totalSteps: 10, threePhases: true })),
    'threePhases',
    'threePhase',
  ],
  [
    'piecewiseConstantSchedule',
    () => piecewiseConstantSchedule(bad({ initValue: 1, boundariesAndScale: {} })),
    'boundariesAndScale',
    'boundariesAndScales',
  ],
  [
    'wsdSchedule',
    () =>
      wsdSchedule(
        bad({ peakValue: 1, warmupSteps: 1, stableSteps: 1, decaySteps: 1, decayShap: 'linear' }),
      ),
    'decayShap',
    'decayShape',
  ],
  [
    'LearningRateScheduler',
    () => new LearningRateScheduler(() => 1, bad({ perbatch: true })),
    'perbatch',
    'perBatch',
  ],
  [
    'ReduceLearningRateOnPlateau',
    () => new ReduceLearningRateOnPlateau(bad({ patiense: 2 })),
    'patiense',
    'patience',
  ],
];

describe('schedules validate every option when made', () => {
  for (const [name, call, argument] of REJECTED) it(name, () => expectRejected(call, argument));

  it('options at the edge of the range still make schedules whose values are rates', () => {
    const schedules = [
      linearSchedule({ initValue: 1, endValue: 0, transitionSteps: 4 }),
      cosineDecaySchedule({ initValue: 0, decaySteps: 3, alpha: 0 }),
      exponentialDecaySchedule({ initValue: 1, transitionSteps: 1, decayRate: 2, endValue: 8 }),
      exponentialDecaySchedule({ initValue: 1, transitionSteps: 1, decayRate: 1 }),
      inverseSqrtSchedule({ modelDim: 16, warmupSteps: 4 }),
    ];
    for (const s of schedules) {
      for (const step of [0, 1, 2, 10, 1e6]) {
        const v = s(step);
        expect(Number.isFinite(v) && v >= 0).toBe(true);
      }
    }
  });
});

describe('schedules and callbacks reject unknown option keys', () => {
  for (const [name, call, key, suggestion] of UNKNOWN_KEYS) {
    it(name, () => {
      expectRejected(call, new RegExp(`^options\\.${key}$`));
      try {
        call();
      } catch (e) {
        expect((e as TfjsBlocksError).expected).toContain(`'${suggestion}'`);
      }
    });
  }
});
