import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  bertConfig,
  encoderClassifier,
  initEncoderClassifier,
} from '../../src/models/encoder-classifier';
import { groupThresholds } from '../../src/responsible/group-thresholds';
import { reweighing } from '../../src/responsible/reweighing';
import { thrownWithoutLeak } from '../helpers/rejections';

/** Synthetic scores: group g's positives shifted up by shift[g], plus seeded noise. */
function synthetic(seed: number, sizes: number[], base: number[], shift: number[]) {
  let state = seed;
  const rand = () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648;
  };
  const scores: number[] = [];
  const labels: number[] = [];
  const groups: string[] = [];
  sizes.forEach((size, g) => {
    for (let i = 0; i < size; i++) {
      const y = rand() < base[g]! ? 1 : 0;
      labels.push(y);
      groups.push(`g${g}`);
      // Rounded to 0.05 so that some scores tie.
      scores.push(Math.round((y * shift[g]! + rand()) * 20) / 20);
    }
  });
  return { scores, labels, groups };
}

type Data = ReturnType<typeof synthetic>;

/** Per group, each threshold's counts, found by direct counting (no sorting tricks). */
function thresholdPoints(d: Data, g: string) {
  const idx = d.groups.flatMap((h, i) => (h === g ? [i] : []));
  const ts = [Number.POSITIVE_INFINITY, ...idx.map((i) => d.scores[i]!), Number.NEGATIVE_INFINITY];
  const pos = idx.filter((i) => d.labels[i] === 1).length;
  return {
    size: idx.length,
    pos,
    neg: idx.length - pos,
    points: ts.map((t) => {
      const sel = idx.filter((i) => d.scores[i]! > t);
      const tp = sel.filter((i) => d.labels[i] === 1).length;
      return { tp, fp: sel.length - tp };
    }),
  };
}

/** The best of f over mixtures of at most two points whose x is exactly `x`. */
function bestMix(pts: { x: number; y: number }[], x: number): number {
  let best = Number.NEGATIVE_INFINITY;
  for (const a of pts) {
    if (a.x === x) best = Math.max(best, a.y);
    for (const b of pts) {
      if (a.x < x && x < b.x) {
        const p = (x - a.x) / (b.x - a.x);
        best = Math.max(best, (1 - p) * a.y + p * b.y);
      }
    }
  }
  return best;
}

function coefficients(d: Data, objective: 'accuracy' | 'balancedAccuracy') {
  const n = d.labels.length;
  const P = d.labels.filter((y) => y === 1).length;
  const N = n - P;
  return objective === 'accuracy'
    ? { alpha: 1 / n, beta: 1 / n, base: N / n, P, N }
    : { alpha: 1 / (2 * P), beta: 1 / (2 * N), base: 0.5, P, N };
}

/** Brute force, demographic parity: every group's rate is r, r any group's achievable rate. */
function bruteDemographicParity(d: Data, objective: 'accuracy' | 'balancedAccuracy') {
  const { alpha, beta, base } = coefficients(d, objective);
  const per = [...new Set(d.groups)].map((g) => {
    const t = thresholdPoints(d, g);
    return t.points.map((p) => ({ x: (p.tp + p.fp) / t.size, y: alpha * p.tp - beta * p.fp }));
  });
  let best = Number.NEGATIVE_INFINITY;
  for (const r of new Set(per.flat().map((p) => p.x))) {
    best = Math.max(
      best,
      per.reduce((s, pts) => s + bestMix(pts, r), 0),
    );
  }
  return base + best;
}

/** Brute force, deterministic thresholds only: equal selection counts (equal-size groups). */
function bruteDeterministicParity(d: Data) {
  const [a, b] = [...new Set(d.groups)].map((g) => thresholdPoints(d, g));
  let best = Number.NEGATIVE_INFINITY;
  for (const p of a!.points)
    for (const q of b!.points)
      if ((p.tp + p.fp) / a!.size === (q.tp + q.fp) / b!.size) {
        const correct = p.tp + (a!.neg - p.fp) + q.tp + (b!.neg - q.fp);
        best = Math.max(best, correct / d.labels.length);
      }
  return best;
}

/** Brute force, equalized odds: a grid of common FPRs, each group's best TPR by pairs of ROC points. */
function bruteEqualizedOdds(d: Data, objective: 'accuracy' | 'balancedAccuracy') {
  const { alpha, beta, base, P, N } = coefficients(d, objective);
  const per = [...new Set(d.groups)].map((g) => {
    const t = thresholdPoints(d, g);
    return t.points.map((p) => ({ x: p.fp / t.neg, y: p.tp / t.pos }));
  });
  const xs = new Set(per.flat().map((p) => p.x));
  for (let i = 0; i <= 1000; i++) xs.add(i / 1000);
  let best = Number.NEGATIVE_INFINITY;
  for (const x of xs) {
    const y = Math.min(...per.map((pts) => bestMix(pts, x)));
    best = Math.max(best, alpha * y * P - beta * x * N);
  }
  return base + best;
}

/** Expected per-group rates and objective of the fitted rule on the training data. */
function expectedOnTraining(d: Data, proba: number[], objective: 'accuracy' | 'balancedAccuracy') {
  const { alpha, beta, base } = coefficients(d, objective);
  const rates = new Map<string, { sel: number; tpr: number; fpr: number }>();
  let value = base;
  for (const g of new Set(d.groups)) {
    const idx = d.groups.flatMap((h, i) => (h === g ? [i] : []));
    const sum = (f: (i: number) => boolean) => idx.filter(f).reduce((s, i) => s + proba[i]!, 0);
    const tp = sum((i) => d.labels[i] === 1);
    const fp = sum((i) => d.labels[i] === 0);
    const pos = idx.filter((i) => d.labels[i] === 1).length;
    rates.set(g, { sel: (tp + fp) / idx.length, tpr: tp / pos, fpr: fp / (idx.length - pos) });
    value += alpha * tp - beta * fp;
  }
  return { rates: [...rates.values()], value };
}

const datasets: [string, Data][] = [
  ['two groups', synthetic(1, [40, 30], [0.6, 0.3], [0.5, 0.4])],
  ['three groups', synthetic(2, [25, 35, 20], [0.5, 0.3, 0.7], [0.3, 0.8, 0.5])],
  ['weak scores', synthetic(3, [30, 30], [0.4, 0.6], [0.1, 0.2])],
];

describe('groupThresholds: demographic parity', () => {
  for (const [name, d] of datasets) {
    for (const objective of ['accuracy', 'balancedAccuracy'] as const) {
      it(`${name}, ${objective}: equals the brute-force optimum, parity holds exactly`, () => {
        const rule = groupThresholds(d.scores, d.labels, d.groups, { objective });
        const brute = bruteDemographicParity(d, objective);
        expect(rule.trainObjective).toBeCloseTo(brute, 10);
        const { rates, value } = expectedOnTraining(
          d,
          rule.predictProba(d.scores, d.groups),
          objective,
        );
        expect(value).toBeCloseTo(rule.trainObjective, 10);
        for (const r of rates) expect(r.sel).toBeCloseTo(rates[0]!.sel, 10);
        for (const parts of rule.byGroup.values()) {
          expect(parts.reduce((s, p) => s + p.probability, 0)).toBeCloseTo(1, 12);
          expect(parts.length).toBeLessThanOrEqual(2);
        }
      });
    }
  }

  it('deterministic case: equal to the best pair of plain thresholds with equal selection', () => {
    // Positives above negatives within each group: every threshold is on the hull.
    const d: Data = {
      scores: [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.95, 0.85, 0.5, 0.45, 0.4, 0.3, 0.2, 0.1],
      labels: [1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0],
      groups: [...'aaaaaaaa', ...'bbbbbbbb'],
    };
    const rule = groupThresholds(d.scores, d.labels, d.groups);
    expect(rule.trainObjective).toBeCloseTo(bruteDeterministicParity(d), 12);
    for (const parts of rule.byGroup.values()) expect(parts).toHaveLength(1);
    const { rates } = expectedOnTraining(d, rule.predictProba(d.scores, d.groups), 'accuracy');
    expect(rates[0]!.sel).toBeCloseTo(rates[1]!.sel, 12);
  });
});

describe('groupThresholds: equalized odds', () => {
  for (const [name, d] of datasets) {
    for (const objective of ['accuracy', 'balancedAccuracy'] as const) {
      it(`${name}, ${objective}: at least the grid brute force, TPR and FPR equal`, () => {
        const rule = groupThresholds(d.scores, d.labels, d.groups, {
          constraint: 'equalizedOdds',
          objective,
        });
        const brute = bruteEqualizedOdds(d, objective);
        expect(rule.trainObjective).toBeGreaterThanOrEqual(brute - 1e-9);
        expect(rule.trainObjective - brute).toBeLessThan(0.01);
        const { rates, value } = expectedOnTraining(
          d,
          rule.predictProba(d.scores, d.groups),
          objective,
        );
        expect(value).toBeCloseTo(rule.trainObjective, 10);
        for (const r of rates) {
          expect(r.tpr).toBeCloseTo(rates[0]!.tpr, 10);
          expect(r.fpr).toBeCloseTo(rates[0]!.fpr, 10);
        }
      });
    }
  }

  it('randomizes where the hulls differ: a perfect group is mixed with the diagonal', () => {
    // Group a is perfectly separable, group b's scores are noise.
    const d: Data = {
      scores: [0.9, 0.8, 0.2, 0.1, 0.9, 0.2, 0.8, 0.1],
      labels: [1, 1, 0, 0, 1, 1, 0, 0],
      groups: [...'aaaa', ...'bbbb'],
    };
    const rule = groupThresholds(d.scores, d.labels, d.groups, { constraint: 'equalizedOdds' });
    const a = rule.byGroup.get('a')!;
    // Its part "predict 1 with probability FPR" shows as an infinite threshold.
    expect(a.some((p) => !Number.isFinite(p.threshold))).toBe(true);
    expect(rule.byGroup.get('b')!.every((p) => Number.isFinite(p.threshold))).toBe(true);
    const { rates } = expectedOnTraining(d, rule.predictProba(d.scores, d.groups), 'accuracy');
    expect(rates[0]!.tpr).toBeCloseTo(rates[1]!.tpr, 12);
    expect(rates[0]!.fpr).toBeCloseTo(rates[1]!.fpr, 12);
  });
});

describe('with a model of the library', () => {
  it("post-processes encoderClassifier's logit differences; reweighing feeds per-example losses", () => {
    const config = bertConfig({
      vocabSize: 16,
      maxLength: 6,
      dModel: 8,
      numLayers: 1,
      numHeads: 2,
      numClasses: 2,
    });
    const params = initEncoderClassifier(config, 0);
    const n = 24;
    const idsData = Array.from({ length: n * 6 }, (_, i) => (i * 7 + Math.floor(i / 6)) % 16);
    const ids = tf.tensor2d(idsData, [n, 6], 'int32');
    const labels = Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 1 : i % 5 === 0 ? 1 : 0));
    const groups = Array.from({ length: n }, (_, i) => (i < 14 ? 'a' : 'b'));
    const before = tf.memory().numTensors;
    // Score: logit of class 1 minus logit of class 0.
    const logits = encoderClassifier(config, params, ids);
    const diff = tf.tidy(() =>
      tf.sub(tf.slice(logits, [0, 1], [-1, 1]), tf.slice(logits, [0, 0], [-1, 1])),
    );
    const scores = Array.from(diff.dataSync());
    tf.dispose([logits, diff]);
    const rule = groupThresholds(scores, labels, groups);
    const p = rule.predictProba(scores, groups);
    const rate = (g: string) =>
      p.filter((_, i) => groups[i] === g).reduce((a, b) => a + b, 0) /
      groups.filter((h) => h === g).length;
    expect(rate('a')).toBeCloseTo(rate('b'), 10);
    // Reweighing's weights on per-example cross-entropy: a weighted mean, no NaN.
    const { weights } = reweighing(labels, groups);
    const loss = tf.tidy(() => {
      const out = encoderClassifier(config, params, ids);
      const perExample = tf.neg(
        tf.sum(tf.mul(tf.logSoftmax(out), tf.oneHot(tf.tensor1d(labels, 'int32'), 2)), 1),
      );
      const w = tf.tensor1d(weights);
      return tf.div(tf.sum(tf.mul(perExample, w)), tf.sum(w));
    });
    expect(Number.isFinite(loss.dataSync()[0])).toBe(true);
    loss.dispose();
    expect(tf.memory().numTensors).toBe(before);
    ids.dispose();
    tf.dispose(params as unknown as tf.TensorContainer);
  });
});

describe('groupThresholds: predict and bad input', () => {
  const d = datasets[0]![1];

  it('predict draws 0/1 from predictProba with a seeded coin (reproducible)', () => {
    const rule = groupThresholds(d.scores, d.labels, d.groups, { constraint: 'equalizedOdds' });
    const p = rule.predictProba(d.scores, d.groups);
    const a = rule.predict(d.scores, d.groups, 3);
    expect(rule.predict(d.scores, d.groups, 3)).toEqual(a);
    a.forEach((v, i) => {
      if (p[i] === 0) expect(v).toBe(0);
      if (p[i] === 1) expect(v).toBe(1);
    });
    // Over many seeds, the mean decision approaches the probability.
    const mean = new Array<number>(d.scores.length).fill(0);
    for (let s = 0; s < 400; s++) {
      rule.predict(d.scores, d.groups, s).forEach((v, i) => {
        mean[i]! += v / 400;
      });
    }
    for (const [i, m] of mean.entries()) expect(Math.abs(m - p[i]!)).toBeLessThan(0.1);
  });

  it('works on a one-member group for demographic parity and on tensors', () => {
    const labels = tf.tensor1d([1, 0, 1, 0, 1], 'int32');
    const before = tf.memory().numTensors;
    const rule = groupThresholds([0.9, 0.1, 0.8, 0.3, 0.5], labels, ['a', 'a', 'a', 'a', 'b']);
    rule.predict([0.9, 0.1], ['a', 'b'], 0);
    expect(tf.memory().numTensors, 'groupThresholds makes no tensor').toBe(before);
    labels.dispose();
    expect(
      rule
        .predictProba([0.9, 0.1, 0.8, 0.3, 0.5], ['a', 'a', 'a', 'a', 'b'])
        .every(Number.isFinite),
    ).toBe(true);
    expect(Number.isFinite(rule.trainObjective)).toBe(true);
    // All-positive labels: accuracy under parity selects everyone.
    const all = groupThresholds([0.2, 0.4, 0.6], [1, 1, 1], ['a', 'b', 'b']);
    expect(all.predictProba([0.2, 0.4, 0.6], ['a', 'b', 'b'])).toEqual([1, 1, 1]);
    expect(all.trainObjective).toBe(1);
  });

  it('rejects bad input with the argument named, leaving no tensor behind', () => {
    const s = [0.1, 0.2, 0.3, 0.4];
    const y = [1, 0, 1, 0];
    const g = ['a', 'a', 'b', 'b'];
    const rule = groupThresholds(s, y, g);
    const cases: [() => unknown, string][] = [
      [() => groupThresholds([0.1, Number.NaN, 0.3, 0.4], y, g), 'scores[1]'],
      [() => groupThresholds([0.1, 0.2, 0.3], y, g), 'scores'],
      [() => groupThresholds(s, [1, 0, 3, 0], g), 'labels[2]'],
      [() => groupThresholds(s, y, ['a', 'a', 'a', 'a']), 'sensitiveFeatures'],
      [() => groupThresholds(s, y, g, { constraint: 'parity' as never }), 'options.constraint'],
      [() => groupThresholds(s, y, g, { objective: 'f1' as never }), 'options.objective'],
      [() => groupThresholds(s, y, g, { grid: 10 } as never), 'options.grid'],
      [() => groupThresholds(s, [1, 1, 1, 1], g, { objective: 'balancedAccuracy' }), 'labels'],
      [() => groupThresholds(s, [1, 1, 1, 0], g, { constraint: 'equalizedOdds' }), 'labels'],
      [
        () =>
          groupThresholds([0.1, 0.2, 0.3], [1, 0, 1], ['a', 'a', 'b'], {
            constraint: 'equalizedOdds',
          }),
        'labels',
      ],
      [() => rule.predict(s, ['a', 'a', 'c', 'b'], 0), 'sensitiveFeatures[2]'],
      [() => rule.predict(s, g, 0.5), 'seed'],
      [() => rule.predictProba([Number.POSITIVE_INFINITY], ['a']), 'scores[0]'],
    ];
    for (const [call, argument] of cases) expect(thrownWithoutLeak(call).argument).toBe(argument);
  });
});
