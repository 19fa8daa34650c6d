import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { seededUniform } from '../../src/responsible/bootstrap';
import {
  demographicParityDifference,
  demographicParityRatio,
  equalizedOddsDifference,
  equalizedOddsRatio,
  equalOpportunityDifference,
  equalOpportunityRatio,
  type FairnessOptions,
  groupConfusionMetrics,
} from '../../src/responsible/fairness';
import { expectNoLeak } from '../helpers/leaks';
import { thrownWithoutLeak } from '../helpers/rejections';

// Weighted table, counted by hand:
//   group x: yTrue 1 1 0 0, yPred 1 0 1 0, weight 2 1 3 0.5 -> tp 2, fn 1, fp 3, tn 0.5
//   group y: yTrue 1 0 0,   yPred 1 1 0,   weight 1 1 2     -> tp 1, fp 1, tn 2
const w = {
  yTrue: [1, 1, 0, 0, 1, 0, 0],
  yPred: [1, 0, 1, 0, 1, 1, 0],
  groups: ['x', 'x', 'x', 'x', 'y', 'y', 'y'],
  sampleWeight: [2, 1, 3, 0.5, 1, 1, 2],
};

describe('sampleWeight', () => {
  it('gives weighted counts and rates (hand counts)', () => {
    const { byGroup, overall } = groupConfusionMetrics(w.yTrue, w.yPred, w.groups, {
      sampleWeight: w.sampleWeight,
    });
    expect(byGroup.get('x')).toEqual({
      count: 6.5,
      tp: 2,
      fp: 3,
      tn: 0.5,
      fn: 1,
      selectionRate: 5 / 6.5,
      truePositiveRate: 2 / 3,
      falsePositiveRate: 3 / 3.5,
      accuracy: 2.5 / 6.5,
      precision: 2 / 5,
    });
    expect(byGroup.get('y')).toEqual({
      count: 4,
      tp: 1,
      fp: 1,
      tn: 2,
      fn: 0,
      selectionRate: 0.5,
      truePositiveRate: 1,
      falsePositiveRate: 1 / 3,
      accuracy: 0.75,
      precision: 0.5,
    });
    expect(overall.count).toBe(10.5);
    expect(overall.tp).toBe(3);
    expect(overall.selectionRate).toBeCloseTo(7 / 10.5, 12);
    const o = { sampleWeight: w.sampleWeight };
    expect(demographicParityDifference(w.yPred, w.groups, o)).toBeCloseTo(5 / 6.5 - 0.5, 12);
    expect(demographicParityRatio(w.yPred, w.groups, o)).toBeCloseTo(0.5 / (5 / 6.5), 12);
    expect(equalizedOddsDifference(w.yTrue, w.yPred, w.groups, o)).toBeCloseTo(
      Math.max(1 - 2 / 3, 3 / 3.5 - 1 / 3),
      12,
    );
    expect(equalizedOddsRatio(w.yTrue, w.yPred, w.groups, o)).toBeCloseTo(1 / 3 / (3 / 3.5), 12);
    expect(equalOpportunityDifference(w.yTrue, w.yPred, w.groups, o)).toBeCloseTo(1 / 3, 12);
    expect(equalOpportunityRatio(w.yTrue, w.yPred, w.groups, o)).toBeCloseTo(2 / 3, 12);
  });

  it('integer weights equal duplicated rows', () => {
    const u = seededUniform(3);
    const n = 60;
    const yTrue = Array.from({ length: n }, () => (u() < 0.5 ? 1 : 0));
    const yPred = Array.from({ length: n }, () => (u() < 0.4 ? 1 : 0));
    const groups = Array.from({ length: n }, (_, i) => ['a', 'b', 'c'][i % 3]!);
    // Weights 0..3, with a positive weight in each group's first row.
    const weights = Array.from({ length: n }, (_, i) => (i < 3 ? 1 : Math.floor(u() * 4)));
    const rep = { yTrue: [] as number[], yPred: [] as number[], groups: [] as string[] };
    weights.forEach((k, i) => {
      for (let j = 0; j < k; j++) {
        rep.yTrue.push(yTrue[i]!);
        rep.yPred.push(yPred[i]!);
        rep.groups.push(groups[i]!);
      }
    });
    const o = { sampleWeight: weights };
    const pairs: [number, number][] = [
      [
        demographicParityDifference(yPred, groups, o),
        demographicParityDifference(rep.yPred, rep.groups),
      ],
      [demographicParityRatio(yPred, groups, o), demographicParityRatio(rep.yPred, rep.groups)],
      [
        equalizedOddsDifference(yTrue, yPred, groups, o),
        equalizedOddsDifference(rep.yTrue, rep.yPred, rep.groups),
      ],
      [
        equalizedOddsRatio(yTrue, yPred, groups, o),
        equalizedOddsRatio(rep.yTrue, rep.yPred, rep.groups),
      ],
      [
        equalOpportunityDifference(yTrue, yPred, groups, o),
        equalOpportunityDifference(rep.yTrue, rep.yPred, rep.groups),
      ],
      [
        equalOpportunityRatio(yTrue, yPred, groups, o),
        equalOpportunityRatio(rep.yTrue, rep.yPred, rep.groups),
      ],
    ];
    for (const [weighted, repeated] of pairs) expect(weighted).toBeCloseTo(repeated, 12);
    const a = groupConfusionMetrics(yTrue, yPred, groups, o);
    const b = groupConfusionMetrics(rep.yTrue, rep.yPred, rep.groups);
    for (const g of ['a', 'b', 'c']) {
      const [ma, mb] = [a.byGroup.get(g)!, b.byGroup.get(g)!];
      for (const key of Object.keys(mb) as (keyof typeof mb)[]) {
        expect(ma[key]).toBeCloseTo(mb[key], 12);
      }
    }
  });

  it('reads weights from a tensor without leaking or disposing it', () => {
    const weights = tf.tensor1d(w.sampleWeight);
    let got = 0;
    expectNoLeak(() => {
      got = demographicParityDifference(w.yPred, w.groups, { sampleWeight: weights });
      return [];
    });
    expect(got).toBeCloseTo(5 / 6.5 - 0.5, 6);
    expect(weights.isDisposed).toBe(false);
    weights.dispose();
  });
});

/** A synthetic population: group a selected with probability pa, b with pb. */
function syntheticPredictions(seed: number, n: number, pa: number, pb: number) {
  const u = seededUniform(seed);
  const yPred: number[] = [];
  const groups: string[] = [];
  for (let i = 0; i < n; i++) {
    const a = i % 2 === 0;
    groups.push(a ? 'a' : 'b');
    yPred.push(u() < (a ? pa : pb) ? 1 : 0);
  }
  return { yPred, groups };
}

describe('confidenceInterval', () => {
  it('covers the true demographic parity difference at about the nominal rate', () => {
    // 200 seeded synthetic data sets of 300 samples; true difference 0.6 − 0.4 = 0.2.
    let covered = 0;
    const trials = 200;
    for (let t = 0; t < trials; t++) {
      const { yPred, groups } = syntheticPredictions(1000 + t, 300, 0.6, 0.4);
      const { interval } = demographicParityDifference(yPred, groups, {
        confidenceInterval: { nBoot: 200, level: 0.9, seed: t },
      });
      if (interval[0] <= 0.2 && 0.2 <= interval[1]) covered++;
    }
    // Nominal 0.9; a binomial(200, 0.9) lies in [0.84, 0.95] with probability > 0.99.
    expect(covered / trials).toBeGreaterThanOrEqual(0.84);
    expect(covered / trials).toBeLessThanOrEqual(0.95);
  });

  it('covers a true weighted selection rate at about the nominal rate', () => {
    // Weights 1 or 3 independent of the outcome: the weighted rate of a is still 0.3.
    let covered = 0;
    const trials = 150;
    for (let t = 0; t < trials; t++) {
      const { yPred, groups } = syntheticPredictions(5000 + t, 240, 0.3, 0.5);
      const u = seededUniform(t);
      const sampleWeight = yPred.map(() => (u() < 0.5 ? 1 : 3));
      const r = groupConfusionMetrics(yPred, yPred, groups, {
        sampleWeight,
        confidenceInterval: { nBoot: 200, level: 0.9, seed: t },
      });
      const [lo, hi] = r.intervals.byGroup.get('a')!.selectionRate.interval;
      if (lo <= 0.3 && 0.3 <= hi) covered++;
    }
    expect(covered / trials).toBeGreaterThanOrEqual(0.82);
    expect(covered / trials).toBeLessThanOrEqual(0.96);
  });

  it('is deterministic by seed and changes with it', () => {
    const { yPred, groups } = syntheticPredictions(1, 80, 0.5, 0.3);
    const at = (seed: number) =>
      demographicParityRatio(yPred, groups, { confidenceInterval: { nBoot: 300, seed } });
    expect(at(4)).toEqual(at(4));
    expect(at(4).interval).not.toEqual(at(5).interval);
  });

  it('returns a typed shape: value as without the option, lo <= value <= hi, defaults', () => {
    const { yPred, groups } = syntheticPredictions(2, 100, 0.5, 0.3);
    const yTrue = yPred.map((p, i) => (i % 3 === 0 ? 1 - p : p));
    const r = equalizedOddsDifference(yTrue, yPred, groups, { confidenceInterval: {} });
    expect(r.value).toBe(equalizedOddsDifference(yTrue, yPred, groups));
    expect(r.nBoot).toBe(1000);
    expect(r.level).toBe(0.95);
    expect(r.undefinedResamples).toBe(0);
    expect(r.standardError).toBeGreaterThan(0);
    expect(r.interval[0]).toBeLessThanOrEqual(r.interval[1]);
    // A wider level gives a wider interval (same resamples).
    const narrow = equalizedOddsDifference(yTrue, yPred, groups, {
      confidenceInterval: { level: 0.5 },
    });
    expect(narrow.interval[0]).toBeGreaterThanOrEqual(r.interval[0]);
    expect(narrow.interval[1]).toBeLessThanOrEqual(r.interval[1]);
    const table = groupConfusionMetrics(yTrue, yPred, groups, {
      confidenceInterval: { nBoot: 50 },
    });
    expect(table.byGroup).toEqual(groupConfusionMetrics(yTrue, yPred, groups).byGroup);
    expect([...table.intervals.byGroup.keys()]).toEqual(['a', 'b']);
    expect(table.intervals.overall.accuracy.value).toBe(table.overall.accuracy);
  });

  it('keeps every group (and label) in every resample: TPR intervals stay defined', () => {
    // Group b has a single positive: were it lost, its TPR would read 0 by convention.
    const yTrue = [1, 1, 1, 0, 0, 1, 0, 0, 0, 0];
    const yPred = [1, 0, 1, 0, 1, 1, 0, 0, 1, 0];
    const groups = ['a', 'a', 'a', 'a', 'a', 'b', 'b', 'b', 'b', 'b'];
    const r = groupConfusionMetrics(yTrue, yPred, groups, {
      confidenceInterval: { nBoot: 300, seed: 3 },
    });
    // b's only positive is always drawn, and always predicted 1.
    expect(r.intervals.byGroup.get('b')!.truePositiveRate.interval).toEqual([1, 1]);
    const eo = equalOpportunityRatio(yTrue, yPred, groups, {
      confidenceInterval: { nBoot: 300, seed: 3 },
    });
    expect(eo.undefinedResamples).toBe(0);
  });

  it('with tensor inputs leaks nothing', () => {
    const yTrue = tf.tensor1d([1, 0, 1, 0, 1, 0, 1, 1], 'int32');
    const yPred = tf.tensor1d([1, 0, 0, 0, 1, 1, 1, 0], 'int32');
    const groups = tf.tensor1d([0, 0, 0, 0, 1, 1, 1, 1], 'int32');
    const sampleWeight = tf.tensor1d([1, 2, 1, 2, 1, 2, 1, 2]);
    const o = { sampleWeight, confidenceInterval: { nBoot: 20 } };
    expectNoLeak(() => {
      demographicParityDifference(yPred, groups, o);
      demographicParityRatio(yPred, groups, o);
      equalizedOddsDifference(yTrue, yPred, groups, o);
      equalizedOddsRatio(yTrue, yPred, groups, o);
      equalOpportunityDifference(yTrue, yPred, groups, o);
      equalOpportunityRatio(yTrue, yPred, groups, o);
      groupConfusionMetrics(yTrue, yPred, groups, o);
      return [];
    });
    tf.dispose([yTrue, yPred, groups, sampleWeight]);
  });
});

describe('edge cases', () => {
  it('a group with one member: a point estimate works, an interval is a typed error', () => {
    const yPred = [1, 0, 1, 1];
    const groups = ['a', 'a', 'a', 'b'];
    expect(demographicParityDifference(yPred, groups)).toBeCloseTo(1 / 3, 12);
    const e = thrownWithoutLeak(() =>
      demographicParityDifference(yPred, groups, { confidenceInterval: {} }),
    );
    expect(e.argument).toBe('sensitiveFeatures');
    expect(e.message).toMatch(/at least 2 samples in every group.*"b" with 1/);
  });

  it('all-positive labels: FPRs are 0 (documented); differences get intervals, a 0/0 ratio a typed error', () => {
    const yTrue = [1, 1, 1, 1, 1, 1];
    const yPred = [1, 0, 1, 1, 1, 0];
    const groups = ['a', 'a', 'a', 'b', 'b', 'b'];
    const d = equalizedOddsDifference(yTrue, yPred, groups, { confidenceInterval: { nBoot: 100 } });
    expect(Number.isFinite(d.value) && d.interval.every(Number.isFinite)).toBe(true);
    expect(d.value).toBe(0); // TPR 2/3 in both groups, FPR 0 in both.
    const e = thrownWithoutLeak(() =>
      equalizedOddsRatio(yTrue, yPred, groups, { confidenceInterval: {} }),
    );
    expect(e.argument).toBe('yTrue');
    const s = thrownWithoutLeak(() =>
      demographicParityRatio([0, 0, 0, 0], ['a', 'a', 'b', 'b'], { confidenceInterval: {} }),
    );
    expect(s.argument).toBe('yPred');
  });

  it('drops and counts resamples whose ratio is 0/0', () => {
    // Each group has one positive of two samples: a resample may select nobody.
    const r = demographicParityRatio([1, 0, 1, 0], ['a', 'a', 'b', 'b'], {
      confidenceInterval: { nBoot: 400, seed: 9 },
    });
    expect(r.undefinedResamples).toBeGreaterThan(0);
    expect(r.interval.every(Number.isFinite)).toBe(true);
  });

  const rejections: [string, FairnessOptions, string][] = [
    ['a negative weight', { sampleWeight: [1, -1, 1, 1] }, 'options.sampleWeight[1]'],
    ['a NaN weight', { sampleWeight: [1, 1, Number.NaN, 1] }, 'options.sampleWeight[2]'],
    ['an infinite weight', { sampleWeight: [Infinity, 1, 1, 1] }, 'options.sampleWeight[0]'],
    ['a string weight', { sampleWeight: ['1', 1, 1, 1] as never }, 'options.sampleWeight[0]'],
    ['weights of another length', { sampleWeight: [1, 1, 1] }, 'options.sampleWeight'],
    ['weights that are not an array', { sampleWeight: 3 as never }, 'options.sampleWeight'],
    ['a group of total weight 0', { sampleWeight: [1, 1, 0, 0] }, 'options.sampleWeight'],
    ['nBoot 1', { confidenceInterval: { nBoot: 1 } }, 'options.confidenceInterval.nBoot'],
    ['nBoot 2.5', { confidenceInterval: { nBoot: 2.5 } }, 'options.confidenceInterval.nBoot'],
    ['level 1', { confidenceInterval: { level: 1 } }, 'options.confidenceInterval.level'],
    ['level 0', { confidenceInterval: { level: 0 } }, 'options.confidenceInterval.level'],
    ['a NaN seed', { confidenceInterval: { seed: Number.NaN } }, 'options.confidenceInterval.seed'],
    [
      'an unknown interval option',
      { confidenceInterval: { samples: 10 } as never },
      'options.confidenceInterval.samples',
    ],
    [
      'an interval option that is a number',
      { confidenceInterval: 5 as never },
      'options.confidenceInterval',
    ],
  ];
  for (const [name, options, argument] of rejections) {
    it(`rejects ${name}, naming ${argument}`, () => {
      const calls = [
        () => demographicParityDifference([1, 0, 1, 0], ['a', 'a', 'b', 'b'], options),
        () => equalizedOddsRatio([1, 0, 1, 0], [1, 0, 0, 0], ['a', 'a', 'b', 'b'], options),
        () => groupConfusionMetrics([1, 0, 1, 0], [1, 0, 0, 0], ['a', 'a', 'b', 'b'], options),
      ];
      for (const call of calls) expect(thrownWithoutLeak(call).argument).toBe(argument);
    });
  }
});
