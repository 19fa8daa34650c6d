import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import {
  applyPruningMasks,
  chain,
  createOptimizer,
  keepPruned,
  magnitudePruningMasks,
  nmSparsityMask,
  polynomialSparsitySchedule,
  sgd,
} from '../../src/index';
import { describeEachBackend } from '../helpers/backends';
import { expectNoLeak } from '../helpers/leaks';
import { describeRejections } from '../helpers/rejections';

const zeros = (t: tf.Tensor) =>
  tf.tidy(() => tf.sum(tf.cast(tf.equal(t, 0), 'float32')).dataSync()[0]!);

describeEachBackend('pruning', () => {
  it('global and per-layer magnitude pruning remove exactly the smallest weights', () => {
    tf.tidy(() => {
      const params = {
        a: tf.tensor2d([
          [0.1, -5],
          [3, -0.2],
        ]),
        b: tf.tensor2d([
          [4, 0.3],
          [-0.05, 2],
          [1, -6],
        ]),
        bias: tf.tensor1d([0.001, 0.002]),
      };
      const global = magnitudePruningMasks(params, { sparsity: 0.5 });
      expect(Object.keys(global).sort()).toEqual(['a', 'b']); // biases are left alone
      // 10 weights, 5 smallest: 0.05, 0.1, 0.2, 0.3, 1.
      expect(Array.from(global.a!.dataSync())).toEqual([0, 1, 1, 0]);
      expect(Array.from(global.b!.dataSync())).toEqual([1, 0, 0, 1, 0, 1]);
      const perLayer = magnitudePruningMasks(params, { sparsity: 0.5, scope: 'per-layer' });
      expect(Array.from(perLayer.a!.dataSync())).toEqual([0, 1, 1, 0]);
      expect(Array.from(perLayer.b!.dataSync())).toEqual([1, 0, 0, 1, 0, 1]);
      const pruned = applyPruningMasks(params, global);
      expect(zeros(pruned.a!) + zeros(pruned.b!)).toBe(5);
      expect(pruned.bias).toBe(params.bias);
    });
  });

  it('N:M keeps exactly n of every m consecutive inputs per output', () => {
    tf.tidy(() => {
      const w = tf.randomNormal([16, 6], 0, 1, 'float32', 1);
      const mask = nmSparsityMask(w, { n: 2, m: 4 });
      const rows = mask.arraySync() as number[][];
      for (let c = 0; c < 6; c++) {
        for (let g = 0; g < 16; g += 4) {
          const kept = [0, 1, 2, 3].filter((i) => rows[g + i]![c] === 1);
          expect(kept.length).toBe(2);
          const mags = [0, 1, 2, 3].map((i) => Math.abs((w.arraySync() as number[][])[g + i]![c]!));
          const smallestKept = Math.min(...kept.map((i) => mags[i]!));
          const largestDropped = Math.max(
            ...[0, 1, 2, 3].filter((i) => !kept.includes(i)).map((i) => mags[i]!),
          );
          expect(smallestKept).toBeGreaterThanOrEqual(largestDropped);
        }
      }
    });
  });

  it('keepPruned keeps pruned weights at zero through training', () => {
    const w = tf.variable(tf.randomNormal([8, 4], 0, 1, 'float32', 2));
    const masks = magnitudePruningMasks({ w }, { sparsity: 0.75 });
    w.assign(applyPruningMasks({ w }, masks).w!);
    const x = tf.randomNormal([16, 8], 0, 1, 'float32', 3);
    const opt = createOptimizer(
      chain(sgd({ learningRate: 0.1, momentum: 0.9 }), keepPruned(masks)),
      { w },
    );
    for (let i = 0; i < 20; i++)
      opt.minimize(() => tf.mean(tf.square(tf.sub(tf.matMul(x, w), 1))) as tf.Scalar);
    expect(zeros(w)).toBe(24);
    opt.dispose();
    tf.dispose([w, x, masks]);
  });

  it('leaves no tensor behind', () => {
    const params = { w: tf.randomNormal([8, 4]) };
    expectNoLeak(() => magnitudePruningMasks(params, { sparsity: 0.5 }));
    expectNoLeak(() => nmSparsityMask(params.w, { n: 1, m: 2 }));
    const masks = magnitudePruningMasks(params, { sparsity: 0.5 });
    expectNoLeak(() => applyPruningMasks(params, masks).w!);
    tf.dispose([params.w, masks]);
  });
});

it('the sparsity schedule follows Zhu & Gupta’s cubic ramp', () => {
  const s = polynomialSparsitySchedule({
    initialSparsity: 0,
    finalSparsity: 0.8,
    beginStep: 100,
    endStep: 200,
  });
  expect(s(0)).toBe(0);
  expect(s(100)).toBe(0);
  expect(s(150)).toBeCloseTo(0.8 + (0 - 0.8) * 0.5 ** 3, 12);
  expect(s(200)).toBeCloseTo(0.8, 12);
  expect(s(10_000)).toBeCloseTo(0.8, 12);
});

describeRejections('pruning rejects bad input with a TfjsBlocksError', () => [
  [
    'sparsity 1',
    () => magnitudePruningMasks({ w: tf.zeros([2, 2]) }, { sparsity: 1 }),
    /options.sparsity must be a finite number in \[0, 1\); got 1/,
  ],
  [
    'n > m',
    () => nmSparsityMask(tf.zeros([4, 2]), { n: 3, m: 2 }),
    /options.n must be at most options.m \(2\); got 3/,
  ],
  [
    'm not dividing',
    () => nmSparsityMask(tf.zeros([6, 2]), { n: 2, m: 4 }),
    /options.m must be a divisor of the input size 6; got 4/,
  ],
  [
    'end before begin',
    () => polynomialSparsitySchedule({ finalSparsity: 0.5, beginStep: 10, endStep: 10 }),
    /options.endStep must be an integer >= 11; got number 10/,
  ],
]);
