import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  computeDpFederatedEpsilon,
  dpFederatedAveragingRound,
  privateDeltaAverage,
  sampleClients,
} from '../../src/responsible/dp-federated-averaging';
import { computeDpSgdEpsilon } from '../../src/responsible/privacy-accountant';
import { expectNoLeak } from '../helpers/leaks';
import { rejectionOf, thrownWithoutLeak } from '../helpers/rejections';

type Adapter = { layer: { a: tf.Tensor; b: tf.Tensor; scale: number } };

const adapter = (a: number, b: number): Adapter => ({
  layer: { a: tf.fill([3, 2], a), b: tf.fill([2, 3], b), scale: 2 },
});
const values = (t: tf.Tensor) => Array.from(t.dataSync());
const norm = (x: Adapter) =>
  Math.sqrt(
    [x.layer.a, x.layer.b].reduce((s, t) => s + values(t).reduce((u, v) => u + v * v, 0), 0),
  );
const options = { l2NormClip: 1, noiseMultiplier: 0, expectedClients: 2, seed: 0, round: 0 };

describe('privateDeltaAverage', () => {
  it('clips each delta to norm S and divides by the fixed expected count', () => {
    const global = adapter(0, 0);
    const small = adapter(0.1, 0.1); // norm √12 · 0.1 ≈ 0.35: kept
    const large = adapter(1, 2); // norm √(6 + 24) ≈ 5.5: scaled to 1
    const average = privateDeltaAverage(global, [small, large], { ...options, expectedClients: 4 });
    const factor = 1 / norm(large);
    expect(values(average.layer.a)[0]).toBeCloseTo((0.1 + 1 * factor) / 4, 6);
    expect(values(average.layer.b)[0]).toBeCloseTo((0.1 + 2 * factor) / 4, 6);
    expect(average.layer.scale).toBe(2);
    // One client moves the average by at most S / m.
    const alone = privateDeltaAverage(global, [large], { ...options, expectedClients: 4 });
    expect(norm(alone)).toBeCloseTo(1 / 4, 6);
    tf.dispose([global, small, large, average, alone].flatMap((x) => [x.layer.a, x.layer.b]));
  });

  it('adds Gaussian noise of standard deviation z·S/m to every coordinate', () => {
    const big = (v: number) => ({ w: tf.fill([100, 100], v) });
    const global = big(0);
    const delta = big(0.001); // norm 0.1 < S: unclipped, a known mean of 0.001 / m
    const z = 2;
    const m = 5;
    const S = 1;
    const noisy = privateDeltaAverage(global, [delta], {
      l2NormClip: S,
      noiseMultiplier: z,
      expectedClients: m,
      seed: 3,
      round: 1,
    });
    const v = values(noisy.w).map((x) => x - 0.001 / m);
    const n = v.length;
    const mean = v.reduce((a, b) => a + b, 0) / n;
    const std = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1));
    const expected = (z * S) / m;
    // 10,000 normals: the sample std is within 5 standard errors (5/√(2n) = 3.5%) of the truth.
    expect(Math.abs(std / expected - 1)).toBeLessThan(5 / Math.sqrt(2 * n));
    expect(Math.abs(mean)).toBeLessThan((5 * expected) / Math.sqrt(n));
    // Same seed and round: same noise; next round: fresh noise.
    const same = privateDeltaAverage(global, [delta], {
      l2NormClip: S,
      noiseMultiplier: z,
      expectedClients: m,
      seed: 3,
      round: 1,
    });
    const next = privateDeltaAverage(global, [delta], {
      l2NormClip: S,
      noiseMultiplier: z,
      expectedClients: m,
      seed: 3,
      round: 2,
    });
    expect(values(same.w)).toEqual(values(noisy.w));
    expect(values(next.w)).not.toEqual(values(noisy.w));
    tf.dispose([global.w, delta.w, noisy.w, same.w, next.w]);
  });

  it('with no client answering, is zero without noise and pure noise with it', () => {
    const global = adapter(1, 1);
    const none = privateDeltaAverage(global, [], options);
    expect(values(none.layer.a)).toEqual([0, 0, 0, 0, 0, 0]);
    const noisy = privateDeltaAverage(global, [], { ...options, noiseMultiplier: 1 });
    expect(values(noisy.layer.a).some((x) => x !== 0)).toBe(true);
    tf.dispose([global, none, noisy].flatMap((x) => [x.layer.a, x.layer.b]));
  });

  it('leaves no tensor behind', () => {
    const global = adapter(0, 0);
    const delta = adapter(3, 1);
    expectNoLeak(() =>
      privateDeltaAverage(global, [delta, delta], { ...options, noiseMultiplier: 1 }),
    );
    tf.dispose([global, delta].flatMap((x) => [x.layer.a, x.layer.b]));
  });
});

describe('dpFederatedAveragingRound', () => {
  it('moves global by the clipped mean of the clients’ deltas, disposing what they return', async () => {
    const global = adapter(1, 1);
    const shift = (by: number) => (g: Adapter) => ({
      layer: { ...g.layer, a: tf.add(g.layer.a, by), b: tf.clone(g.layer.b) },
    });
    const before = tf.memory().numTensors;
    const next = await dpFederatedAveragingRound(global, [shift(0.1), shift(10)], {
      ...options,
      serverLearningRate: 0.5,
    });
    expect(tf.memory().numTensors - before).toBe(2);
    // Deltas: a += 0.1 (norm 0.1·√6 ≈ 0.245, kept), a += 10 (clipped to norm 1: 1/√6 per entry).
    const expected = 1 + 0.5 * ((0.1 + 1 / Math.sqrt(6)) / 2);
    expect(values(next.layer.a)[0]).toBeCloseTo(expected, 6);
    expect(values(next.layer.b)).toEqual([1, 1, 1, 1, 1, 1]);
    expect(global.layer.a.isDisposed).toBe(false);
    tf.dispose([global, next].flatMap((x) => [x.layer.a, x.layer.b]));
  });

  it('frees every client result when a client returns the wrong shape', async () => {
    const global = adapter(0, 0);
    const before = tf.memory().numTensors;
    const error = await rejectionOf(
      dpFederatedAveragingRound(
        global,
        [
          (g) => ({ layer: { ...g.layer, a: tf.add(g.layer.a, 1) } }),
          () => ({ layer: { a: tf.zeros([2, 2]), b: tf.zeros([2, 3]), scale: 2 } }),
        ],
        options,
      ),
    );
    expect(error.argument).toBe('clients[1](global)["layer.a"]');
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([global.layer.a, global.layer.b]);
  });
});

describe('sampleClients', () => {
  it('is Poisson sampling: reproducible, in range, about q·N per round', () => {
    const a = sampleClients(2000, 0.05, { seed: 1, round: 0 });
    expect(sampleClients(2000, 0.05, { seed: 1, round: 0 })).toEqual(a);
    expect(sampleClients(2000, 0.05, { seed: 1, round: 1 })).not.toEqual(a);
    let total = 0;
    for (let round = 0; round < 20; round++) {
      const s = sampleClients(2000, 0.05, { seed: 1, round });
      expect(
        s.every((i, k) => Number.isInteger(i) && i >= 0 && i < 2000 && (k === 0 || i > s[k - 1]!)),
      ).toBe(true);
      total += s.length;
    }
    // 40,000 Bernoulli(0.05) draws: mean 2000, sd ≈ 43.6; 6 sd is 262.
    expect(Math.abs(total - 2000)).toBeLessThan(262);
    expect(sampleClients(10, 0, { seed: 0, round: 0 })).toEqual([]);
    expect(sampleClients(10, 1, { seed: 0, round: 0 })).toHaveLength(10);
  });
});

describe('computeDpFederatedEpsilon', () => {
  it('equals the DP-SGD accountant with q = m / N, σ = z and steps = rounds', () => {
    for (const [rounds, m, N, z] of [
      [100, 10, 1000, 1],
      [2000, 100, 10000, 1.2],
      [1, 5, 5, 3],
    ] as const) {
      const ours = computeDpFederatedEpsilon({
        rounds,
        expectedClients: m,
        totalClients: N,
        noiseMultiplier: z,
        delta: 1e-5,
      });
      const dpSgd = computeDpSgdEpsilon({
        steps: rounds,
        samplingRate: m / N,
        noiseMultiplier: z,
        delta: 1e-5,
      });
      expect(ours).toEqual(dpSgd);
    }
  });
});

describe('DP federated averaging rejects bad input, naming the argument', () => {
  const g = adapter(0, 0);
  const wrong = { layer: { a: tf.zeros([3, 3]), b: tf.zeros([2, 3]), scale: 2 } };
  const cases: Array<[string, () => unknown, string]> = [
    [
      'clip 0',
      () => privateDeltaAverage(g, [], { ...options, l2NormClip: 0 }),
      'options.l2NormClip',
    ],
    [
      'negative noise',
      () => privateDeltaAverage(g, [], { ...options, noiseMultiplier: -1 }),
      'options.noiseMultiplier',
    ],
    [
      'expected clients 0',
      () => privateDeltaAverage(g, [], { ...options, expectedClients: 0 }),
      'options.expectedClients',
    ],
    [
      'a fractional round',
      () => privateDeltaAverage(g, [], { ...options, round: 0.5 }),
      'options.round',
    ],
    [
      'an unknown option',
      () => privateDeltaAverage(g, [], { ...options, sigma: 1 } as never),
      'options.sigma',
    ],
    [
      'a delta of another shape',
      () => privateDeltaAverage(g, [g, wrong], options),
      'deltas[1]["layer.a"]',
    ],
    [
      'a delta missing a tensor',
      () => privateDeltaAverage(g, [{ layer: { a: g.layer.a } } as never], options),
      'deltas[0]',
    ],
    ['deltas not an array', () => privateDeltaAverage(g, g as never, options), 'deltas'],
    [
      'a global without tensors',
      () => privateDeltaAverage({ x: 1 } as never, [], options),
      'global',
    ],
    ['sample: q 2', () => sampleClients(10, 2, { seed: 0, round: 0 }), 'samplingRate'],
    ['sample: -1 clients', () => sampleClients(-1, 0.5, { seed: 0, round: 0 }), 'totalClients'],
    ['sample: no seed', () => sampleClients(10, 0.5, { round: 0 } as never), 'options.seed'],
    [
      'accountant: more expected clients than clients',
      () =>
        computeDpFederatedEpsilon({
          rounds: 1,
          expectedClients: 20,
          totalClients: 10,
          noiseMultiplier: 1,
          delta: 1e-5,
        }),
      'options.expectedClients',
    ],
    [
      'accountant: fractional rounds',
      () =>
        computeDpFederatedEpsilon({
          rounds: 1.5,
          expectedClients: 2,
          totalClients: 10,
          noiseMultiplier: 1,
          delta: 1e-5,
        }),
      'options.rounds',
    ],
  ];
  for (const [name, call, argument] of cases) {
    it(name, () => {
      expect(thrownWithoutLeak(call).argument).toBe(argument);
    });
  }

  it('a round with a client that is not a function', async () => {
    const error = await rejectionOf(dpFederatedAveragingRound(g, [{} as never], options));
    expect(error.argument).toBe('clients');
  });
});
