import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { TfjsBlocksError } from '../../src/errors';
import {
  exponentiatedGradient,
  type FairFit,
  type WeightedSamples,
} from '../../src/responsible/exponentiated-gradient';
import { groupThresholds } from '../../src/responsible/group-thresholds';
import { rejectionOf } from '../helpers/rejections';

/** Samples: a 1-D score and a group index; positives score higher, group 1 has fewer positives. */
type Sample = readonly [score: number, group: number];

function synthetic(seed: number, sizes: number[], base: number[], shift: number) {
  let state = seed;
  const rand = () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648;
  };
  const x: Sample[] = [];
  const labels: number[] = [];
  sizes.forEach((size, g) => {
    for (let i = 0; i < size; i++) {
      const y = rand() < base[g]! ? 1 : 0;
      labels.push(y);
      x.push([Math.round((y * shift + rand()) * 100) / 100, g]);
    }
  });
  return { x, labels, groups: x.map(([, g]) => g) };
}

/**
 * The exact weighted best response over "score ≥ t_g" per group: the weighted
 * error separates by group, so each group's threshold is chosen alone.
 */
const thresholdFit = ({
  x,
  labels,
  weights,
}: WeightedSamples<Sample[]>): ((xs: Sample[]) => number[]) => {
  const thresholds = new Map<number, number>();
  for (const g of new Set(x.map(([, h]) => h))) {
    const idx = x.flatMap(([, h], i) => (h === g ? [i] : []));
    let best = { t: Number.POSITIVE_INFINITY, cost: Number.POSITIVE_INFINITY };
    for (const t of [Number.POSITIVE_INFINITY, ...idx.map((i) => x[i]![0])]) {
      const cost = idx.reduce(
        (c, i) => c + (Number(x[i]![0] >= t) !== labels[i] ? weights[i]! : 0),
        0,
      );
      if (cost < best.cost - 1e-12) best = { t, cost };
    }
    thresholds.set(g, best.t);
  }
  return (xs) => xs.map(([s, g]) => Number(s >= (thresholds.get(g) ?? Number.POSITIVE_INFINITY)));
};

/** Per group, the (selection rate, correct count) of every threshold "score ≥ t". */
function groupPoints(d: ReturnType<typeof synthetic>, g: number) {
  const idx = d.groups.flatMap((h, i) => (h === g ? [i] : []));
  const ts = [Number.POSITIVE_INFINITY, ...idx.map((i) => d.x[i]![0])];
  return ts.map((t) => {
    const sel = idx.filter((i) => d.x[i]![0] >= t);
    const correct = idx.filter((i) => Number(d.x[i]![0] >= t) === d.labels[i]).length;
    return { x: sel.length / idx.length, y: correct };
  });
}

/** The best correct count at rate r, mixing at most two thresholds. */
function hullAt(pts: { x: number; y: number }[], r: number): number {
  let best = Number.NEGATIVE_INFINITY;
  for (const a of pts) {
    if (a.x === r) best = Math.max(best, a.y);
    for (const b of pts)
      if (a.x < r && r < b.x) best = Math.max(best, a.y + ((r - a.x) / (b.x - a.x)) * (b.y - a.y));
  }
  return best;
}

/**
 * Brute force, two groups: the least error of randomized per-group
 * thresholds with |rate_g − overall rate| ≤ ε, i.e. |r_0 − r_1| ≤ ε / max(p_0, p_1).
 */
function bruteFairError(d: ReturnType<typeof synthetic>, epsilon: number): number {
  const n = d.labels.length;
  const p0 = d.groups.filter((g) => g === 0).length / n;
  const D = epsilon / Math.max(p0, 1 - p0);
  const [a, b] = [groupPoints(d, 0), groupPoints(d, 1)];
  const grid = (pts: { x: number }[]) => {
    const s = new Set(pts.map((p) => p.x));
    for (let i = 0; i <= 400; i++) s.add(i / 400);
    return [...s];
  };
  let best = Number.NEGATIVE_INFINITY;
  for (const ra of grid(a)) {
    const rbs = [ra - D, ra + D, ...b.map((p) => p.x)].filter(
      (r) => r >= 0 && r <= 1 && Math.abs(r - ra) <= D + 1e-12,
    );
    for (const rb of rbs) best = Math.max(best, hullAt(a, ra) + hullAt(b, rb));
  }
  return 1 - best / n;
}

function rates(d: ReturnType<typeof synthetic>, p: number[]) {
  const mean = (f: (i: number) => boolean) => {
    const idx = d.labels.map((_, i) => i).filter(f);
    return idx.reduce((s, i) => s + p[i]!, 0) / idx.length;
  };
  return {
    gammaDp: [0, 1].map((g) => Math.abs(mean((i) => d.groups[i] === g) - mean(() => true))),
    gammaEo: [0, 1].flatMap((y) =>
      [0, 1].map((g) =>
        Math.abs(
          mean((i) => d.groups[i] === g && d.labels[i] === y) - mean((i) => d.labels[i] === y),
        ),
      ),
    ),
    error: d.labels.reduce((s, y, i) => s + (y === 1 ? 1 - p[i]! : p[i]!), 0) / d.labels.length,
  };
}

describe('exponentiatedGradient', () => {
  const d = synthetic(11, [120, 80], [0.6, 0.25], 0.6);

  it('demographic parity: disparity within ε and error near the brute-force fair optimum', async () => {
    const unfair = rates(
      d,
      thresholdFit({ x: d.x, labels: d.labels, weights: d.labels.map(() => 1) })(d.x) as number[],
    );
    for (const epsilon of [0.02, 0.05]) {
      expect(Math.max(...unfair.gammaDp)).toBeGreaterThan(epsilon + 0.05);
      const fair = await exponentiatedGradient(d.x, d.labels, d.groups, {
        fit: thresholdFit,
        epsilon,
      });
      const p = await fair.predictProba(d.x);
      const r = rates(d, p);
      expect(Math.max(...r.gammaDp)).toBeLessThanOrEqual(epsilon + 0.005);
      expect(fair.trainDisparity).toBeCloseTo(Math.max(...r.gammaDp), 10);
      expect(fair.trainError).toBeCloseTo(r.error, 10);
      const optimum = bruteFairError(d, epsilon);
      // The paper's guarantee: error within 2·gap of the best fair mixture.
      expect(r.error).toBeLessThanOrEqual(optimum + 2 * fair.gap + 1e-9);
      expect(r.error).toBeGreaterThan(optimum - 0.01);
      // A tighter ν gets closer.
      const tight = await exponentiatedGradient(d.x, d.labels, d.groups, {
        fit: thresholdFit,
        epsilon,
        nu: 1e-3,
      });
      const rt = rates(d, await tight.predictProba(d.x));
      expect(tight.gap).toBeLessThan(1e-3);
      expect(Math.abs(rt.error - optimum)).toBeLessThan(1e-4);
      expect(Math.max(...rt.gammaDp)).toBeLessThanOrEqual(epsilon + 1e-3);
      expect(fair.weights.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
      expect(fair.fitCalls).toBeGreaterThan(1);
    }
  });

  it('equalized odds: TPR and FPR gaps within ε, error no worse than exact-fair thresholds', async () => {
    const epsilon = 0.03;
    const fair = await exponentiatedGradient(d.x, d.labels, d.groups, {
      fit: async (s) => thresholdFit(s),
      constraint: 'equalizedOdds',
      epsilon,
    });
    const r = rates(d, await fair.predictProba(d.x));
    // Post-processing the same scores to exact equalized odds (ε = 0) is feasible here.
    const exact = groupThresholds(
      d.x.map(([s]) => s),
      d.labels,
      d.groups,
      { constraint: 'equalizedOdds' },
    );
    expect(Math.max(...r.gammaEo)).toBeLessThanOrEqual(epsilon + 0.005);
    expect(r.error).toBeLessThan(1 - exact.trainObjective + 0.01);
  });

  it('predict is seeded 0/1 drawn from predictProba', async () => {
    const fair = await exponentiatedGradient(d.x, d.labels, d.groups, {
      fit: thresholdFit,
      epsilon: 0.05,
      maxIterations: 10,
    });
    const p = await fair.predictProba(d.x);
    const a = await fair.predict(d.x, 1);
    expect(await fair.predict(d.x, 1)).toEqual(a);
    for (const [i, v] of a.entries()) {
      expect([0, 1]).toContain(v);
      if (p[i] === 0) expect(v).toBe(0);
      if (p[i] === 1) expect(v).toBe(1);
    }
    expect(fair.iterations).toBeLessThanOrEqual(10);
  });

  it('takes tensors as x and labels, and leaves no tensor of its own behind', async () => {
    const xs = tf.tensor2d(d.x.map(([s, g]) => [s, g]));
    const labels = tf.tensor1d(d.labels, 'int32');
    const fit: FairFit<tf.Tensor2D> = (s) => {
      const rows = (s.x.arraySync() as number[][]).map(([a, b]) => [a, b] as const);
      const inner = thresholdFit({ x: rows as Sample[], labels: s.labels, weights: s.weights });
      return (x) =>
        inner((x.arraySync() as number[][]).map(([a, b]) => [a!, b!] as const)) as number[];
    };
    const before = tf.memory().numTensors;
    const fair = await exponentiatedGradient(xs, labels, d.groups, {
      fit,
      epsilon: 0.05,
      maxIterations: 5,
    });
    await fair.predict(xs, 0);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([xs, labels]);
  });

  it('a fit that throws rejects with a typed error naming options.fit, keeping the cause', async () => {
    const boom = new Error('out of memory');
    const e = await rejectionOf(() =>
      exponentiatedGradient(d.x, d.labels, d.groups, {
        fit: () => {
          throw boom;
        },
      }),
    );
    expect(e.argument).toBe('options.fit');
    expect(e.message).toMatch(/out of memory/);
    expect((e as TfjsBlocksError & { cause?: unknown }).cause).toBe(boom);
    const async = await rejectionOf(
      exponentiatedGradient(d.x, d.labels, d.groups, { fit: async () => Promise.reject(boom) }),
    );
    expect(async.argument).toBe('options.fit');
  });

  it('checks its arguments synchronously, before any fit runs', () => {
    let calls = 0;
    const fit = (s: WeightedSamples<Sample[]>) => {
      calls++;
      return thresholdFit(s);
    };
    expect(() => exponentiatedGradient(d.x, d.labels, d.groups, { fit, epsilon: 2 })).toThrow(
      TfjsBlocksError,
    );
    expect(calls).toBe(0);
  });

  it('rejects bad predictors and bad input with the argument named', async () => {
    const cases: [() => Promise<unknown>, string][] = [
      [
        () =>
          exponentiatedGradient(d.x, d.labels, d.groups, {
            fit: () => () => d.x.map(() => Number.NaN),
          }),
        'options.fit',
      ],
      [
        () => exponentiatedGradient(d.x, d.labels, d.groups, { fit: () => () => [1, 0] }),
        'options.fit',
      ],
      [
        () => exponentiatedGradient(d.x, d.labels, d.groups, { fit: () => 3 as never }),
        'options.fit',
      ],
      [
        () => exponentiatedGradient(d.x, d.labels, d.groups, { fit: 'fit' as never }),
        'options.fit',
      ],
      [() => exponentiatedGradient(d.x, d.labels, d.groups, undefined as never), 'options'],
      [
        () => exponentiatedGradient(d.x, d.labels, d.groups, { fit: thresholdFit, epsilon: 0 }),
        'options.epsilon',
      ],
      [
        () =>
          exponentiatedGradient(d.x, d.labels, d.groups, {
            fit: thresholdFit,
            epsilon: Number.NaN,
          }),
        'options.epsilon',
      ],
      [
        () =>
          exponentiatedGradient(d.x, d.labels, d.groups, { fit: thresholdFit, maxIterations: 0 }),
        'options.maxIterations',
      ],
      [
        () => exponentiatedGradient(d.x, d.labels, d.groups, { fit: thresholdFit, eta: -1 }),
        'options.eta',
      ],
      [
        () => exponentiatedGradient(d.x, d.labels, d.groups, { fit: thresholdFit, nu: 0 }),
        'options.nu',
      ],
      [
        () =>
          exponentiatedGradient(d.x, d.labels, d.groups, {
            fit: thresholdFit,
            constraint: 'x' as never,
          }),
        'options.constraint',
      ],
      [
        () => exponentiatedGradient(d.x, d.labels, d.groups, { fit: thresholdFit, T: 5 } as never),
        'options.T',
      ],
      [
        () =>
          exponentiatedGradient(d.x, [2, ...d.labels.slice(1)], d.groups, { fit: thresholdFit }),
        'labels[0]',
      ],
      [
        () =>
          exponentiatedGradient(
            d.x,
            d.labels,
            d.groups.map(() => 0),
            { fit: thresholdFit },
          ),
        'sensitiveFeatures',
      ],
      [
        () => exponentiatedGradient(d.x, d.labels, d.groups.slice(1), { fit: thresholdFit }),
        'sensitiveFeatures',
      ],
      // A group of one member has a single label: equalized odds cannot compare its rates.
      [
        () =>
          exponentiatedGradient(
            [
              [0.5, 0],
              [0.1, 0],
              [0.9, 1],
            ] as Sample[],
            [1, 0, 1],
            [0, 0, 1],
            { fit: thresholdFit, constraint: 'equalizedOdds' },
          ),
        'labels',
      ],
      [
        async () => {
          const fair = await exponentiatedGradient(d.x, d.labels, d.groups, {
            fit: thresholdFit,
            maxIterations: 2,
          });
          return fair.predict(d.x, 0.5);
        },
        'seed',
      ],
    ];
    for (const [call, argument] of cases) {
      const before = tf.memory().numTensors;
      expect((await rejectionOf(call)).argument).toBe(argument);
      expect(tf.memory().numTensors).toBe(before);
    }
  });

  it('all-positive labels: the constant classifier, no disparity, fit never sees one class', async () => {
    let calls = 0;
    const fair = await exponentiatedGradient(
      d.x,
      d.labels.map(() => 1),
      d.groups,
      {
        fit: (s) => {
          calls++;
          return thresholdFit(s);
        },
      },
    );
    expect(await fair.predictProba(d.x)).toEqual(d.x.map(() => 1));
    expect(fair.trainError).toBe(0);
    expect(fair.trainDisparity).toBe(0);
    expect(calls).toBe(0);
  });
});
