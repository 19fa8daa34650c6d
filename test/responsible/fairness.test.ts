import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { TfjsBlocksError } from '../../src/errors';
import {
  demographicParityDifference,
  demographicParityRatio,
  equalizedOddsDifference,
  equalizedOddsRatio,
  equalOpportunityDifference,
  equalOpportunityRatio,
  groupConfusionMetrics,
} from '../../src/responsible/fairness';
import { expectNoLeak } from '../helpers/leaks';
import { describeRejections } from '../helpers/rejections';

// Table 1: three groups of four.
//   group a: yTrue 1 1 0 0, yPred 1 0 1 0 -> tp 1, fn 1, fp 1, tn 1
//   group b: yTrue 1 1 1 0, yPred 1 1 1 0 -> tp 3, tn 1
//   group c: yTrue 1 0 0 0, yPred 0 0 1 1 -> fn 1, fp 2, tn 1
const t1 = {
  yTrue: [1, 1, 0, 0, 1, 1, 1, 0, 1, 0, 0, 0],
  yPred: [1, 0, 1, 0, 1, 1, 1, 0, 0, 0, 1, 1],
  groups: ['a', 'a', 'a', 'a', 'b', 'b', 'b', 'b', 'c', 'c', 'c', 'c'],
};

// Table 2: two groups of unequal size.
//   group x (6): yTrue 1 1 1 1 0 0,       yPred 1 1 1 0 1 0       -> tp 3, fn 1, fp 1, tn 1
//   group y (8): yTrue 1 1 0 0 0 0 0 0,   yPred 1 0 1 0 0 0 0 0   -> tp 1, fn 1, fp 1, tn 5
// selection: x 4/6, y 2/8; TPR: x 3/4, y 1/2; FPR: x 1/2, y 1/6.
const t2 = {
  yTrue: [1, 1, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0],
  yPred: [1, 1, 1, 0, 1, 0, 1, 0, 1, 0, 0, 0, 0, 0],
  groups: [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1],
};

describe('groupConfusionMetrics', () => {
  it('counts and rates per group and overall (table 1)', () => {
    const { byGroup, overall } = groupConfusionMetrics(t1.yTrue, t1.yPred, t1.groups);
    expect([...byGroup.keys()]).toEqual(['a', 'b', 'c']);
    expect(byGroup.get('a')).toEqual({
      count: 4,
      tp: 1,
      fp: 1,
      tn: 1,
      fn: 1,
      selectionRate: 0.5,
      truePositiveRate: 0.5,
      falsePositiveRate: 0.5,
      accuracy: 0.5,
      precision: 0.5,
    });
    expect(byGroup.get('b')).toEqual({
      count: 4,
      tp: 3,
      fp: 0,
      tn: 1,
      fn: 0,
      selectionRate: 0.75,
      truePositiveRate: 1,
      falsePositiveRate: 0,
      accuracy: 1,
      precision: 1,
    });
    // c has no true positive and no predicted positive that is right: precision 0/2.
    expect(byGroup.get('c')).toEqual({
      count: 4,
      tp: 0,
      fp: 2,
      tn: 1,
      fn: 1,
      selectionRate: 0.5,
      truePositiveRate: 0,
      falsePositiveRate: 2 / 3,
      accuracy: 0.25,
      precision: 0,
    });
    expect(overall).toEqual({
      count: 12,
      tp: 4,
      fp: 3,
      tn: 3,
      fn: 2,
      selectionRate: 7 / 12,
      truePositiveRate: 4 / 6,
      falsePositiveRate: 3 / 6,
      accuracy: 7 / 12,
      precision: 4 / 7,
    });
  });

  it('gives 0 for a rate with a zero denominator (fairlearn/sklearn convention)', () => {
    // Group n has no positives (TPR 0/0) and predicts none (precision 0/0);
    // group p has no negatives (FPR 0/0).
    const { byGroup } = groupConfusionMetrics([0, 0, 1, 1], [0, 0, 1, 0], ['n', 'n', 'p', 'p']);
    expect(byGroup.get('n')!.truePositiveRate).toBe(0);
    expect(byGroup.get('n')!.precision).toBe(0);
    expect(byGroup.get('p')!.falsePositiveRate).toBe(0);
    expect(byGroup.get('p')!.truePositiveRate).toBe(0.5);
  });

  it('takes booleans and keeps the order of options.groups', () => {
    const { byGroup } = groupConfusionMetrics([true, false, true], [true, true, false], [2, 1, 2], {
      groups: [1, 2],
    });
    expect([...byGroup.keys()]).toEqual([1, 2]);
    expect(byGroup.get(1)!.fp).toBe(1);
    expect(byGroup.get(2)!.tp).toBe(1);
    expect(byGroup.get(2)!.fn).toBe(1);
  });
});

describe('disparity metrics, hand-worked', () => {
  it('table 1', () => {
    const { yTrue, yPred, groups } = t1;
    expect(demographicParityDifference(yPred, groups)).toBeCloseTo(0.75 - 0.5, 12);
    expect(demographicParityRatio(yPred, groups)).toBeCloseTo(0.5 / 0.75, 12);
    // TPR a .5, b 1, c 0 -> diff 1; FPR a .5, b 0, c 2/3 -> diff 2/3.
    expect(equalizedOddsDifference(yTrue, yPred, groups)).toBeCloseTo(1, 12);
    expect(equalizedOddsRatio(yTrue, yPred, groups)).toBe(0);
    expect(equalOpportunityDifference(yTrue, yPred, groups)).toBeCloseTo(1, 12);
    expect(equalOpportunityRatio(yTrue, yPred, groups)).toBe(0);
  });

  it('table 2', () => {
    const { yTrue, yPred, groups } = t2;
    expect(demographicParityDifference(yPred, groups)).toBeCloseTo(4 / 6 - 2 / 8, 12);
    expect(demographicParityRatio(yPred, groups)).toBeCloseTo(2 / 8 / (4 / 6), 12);
    // TPR diff 3/4 - 1/2 = 1/4; FPR diff 1/2 - 1/6 = 1/3: the FPR side is the worst case.
    expect(equalizedOddsDifference(yTrue, yPred, groups)).toBeCloseTo(1 / 3, 12);
    // TPR ratio (1/2)/(3/4) = 2/3; FPR ratio (1/6)/(1/2) = 1/3.
    expect(equalizedOddsRatio(yTrue, yPred, groups)).toBeCloseTo(1 / 3, 12);
    expect(equalOpportunityDifference(yTrue, yPred, groups)).toBeCloseTo(1 / 4, 12);
    expect(equalOpportunityRatio(yTrue, yPred, groups)).toBeCloseTo(2 / 3, 12);
  });

  it('parity: 0 difference and ratio 1', () => {
    const g = ['a', 'a', 'b', 'b'];
    expect(demographicParityDifference([1, 0, 0, 1], g)).toBe(0);
    expect(demographicParityRatio([1, 0, 0, 1], g)).toBe(1);
    expect(equalizedOddsDifference([1, 0, 1, 0], [1, 0, 1, 0], g)).toBe(0);
    expect(equalizedOddsRatio([1, 0, 1, 0], [1, 1, 1, 1], g)).toBe(1);
  });

  it('a ratio of 0/0 is NaN, as in fairlearn', () => {
    const g = ['a', 'a', 'b', 'b'];
    expect(demographicParityRatio([0, 0, 0, 0], g)).toBeNaN();
    expect(demographicParityDifference([0, 0, 0, 0], g)).toBe(0);
    // No false positive anywhere: the FPR ratio is 0/0.
    expect(equalizedOddsRatio([1, 0, 1, 0], [1, 0, 1, 0], g)).toBeNaN();
    expect(equalOpportunityRatio([1, 1, 1, 1], [0, 0, 0, 0], g)).toBeNaN();
  });

  it('tensor inputs give the same numbers and leak nothing', () => {
    const yTrue = tf.tensor1d(t2.yTrue, 'int32');
    const yPred = tf.tensor1d(t2.yPred, 'float32');
    const groups = tf.tensor1d(t2.groups, 'int32');
    const expected = [
      demographicParityDifference(t2.yPred, t2.groups),
      demographicParityRatio(t2.yPred, t2.groups),
      equalizedOddsDifference(t2.yTrue, t2.yPred, t2.groups),
      equalizedOddsRatio(t2.yTrue, t2.yPred, t2.groups),
      equalOpportunityDifference(t2.yTrue, t2.yPred, t2.groups),
      equalOpportunityRatio(t2.yTrue, t2.yPred, t2.groups),
    ];
    let got: number[] = [];
    expectNoLeak(() => {
      got = [
        demographicParityDifference(yPred, groups),
        demographicParityRatio(yPred, groups),
        equalizedOddsDifference(yTrue, yPred, groups),
        equalizedOddsRatio(yTrue, yPred, groups),
        equalOpportunityDifference(yTrue, yPred, groups),
        equalOpportunityRatio(yTrue, yPred, groups),
      ];
      groupConfusionMetrics(yTrue, yPred, groups);
      return [];
    });
    expect(got).toEqual(expected);
    expect(yTrue.isDisposed || yPred.isDisposed || groups.isDisposed).toBe(false);
    tf.dispose([yTrue, yPred, groups]);
  });
});

describeRejections('fairness metrics reject bad input', () => [
  [
    'mismatched yTrue length',
    () => equalizedOddsDifference([1, 0], [1, 0, 1], ['a', 'b', 'b']),
    /equalizedOddsDifference: yTrue must be length 3 \(as yPred\); got 2/,
  ],
  [
    'mismatched sensitiveFeatures length',
    () => demographicParityDifference([1, 0, 1], ['a', 'b']),
    /sensitiveFeatures must be length 3/,
  ],
  [
    'a label that is not 0/1',
    () => equalOpportunityRatio([1, 2], [1, 0], ['a', 'b']),
    /yTrue\[1\] must be 0, 1, true or false; got 2/,
  ],
  [
    'a prediction that is a probability',
    () => demographicParityRatio([0.7, 0.2], ['a', 'b']),
    /yPred\[0\] must be 0, 1, true or false; got 0.7/,
  ],
  [
    'a tensor of probabilities',
    () => {
      const t = tf.tensor1d([0.5, 1]);
      try {
        return demographicParityRatio(t, ['a', 'b']);
      } finally {
        t.dispose();
      }
    },
    /yPred\[0\] must be 0, 1, true or false; got 0.5/,
  ],
  [
    'an empty explicit group',
    () => groupConfusionMetrics([1, 0], [1, 0], ['a', 'b'], { groups: ['a', 'b', 'c'] }),
    /options.groups must be groups with at least one sample; got "c" with none/,
  ],
  [
    'a sample outside the explicit groups',
    () => groupConfusionMetrics([1, 0], [1, 0], ['a', 'z'], { groups: ['a', 'b'] }),
    /sensitiveFeatures\[1\] must be one of options.groups; got "z"/,
  ],
  [
    'a single group',
    () => equalizedOddsRatio([1, 0], [1, 0], ['a', 'a']),
    /sensitiveFeatures must be at least two groups; got 1/,
  ],
  ['no samples', () => demographicParityDifference([], []), /yPred must be non-empty/],
  [
    'a NaN group',
    () => demographicParityDifference([1, 0], [Number.NaN, 1]),
    /sensitiveFeatures\[0\] must be a string, number or boolean; got NaN/,
  ],
  [
    'a disposed tensor',
    () => {
      const t = tf.tensor1d([1, 0]);
      t.dispose();
      return demographicParityDifference(t, ['a', 'b']);
    },
    /yPred must be an array or tensor; got a disposed tensor/,
  ],
]);

it('describes a 10-million-element typed array instead of printing it', () => {
  let error: unknown;
  try {
    demographicParityDifference(new Int8Array(10e6) as never, ['a', 'b']);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(TfjsBlocksError);
  expect((error as TfjsBlocksError).argument).toBe('yPred');
  expect((error as TfjsBlocksError).actual).toBe('a Int8Array of length 10000000');
});
