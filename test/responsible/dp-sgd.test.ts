import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import { TfjsBlocksError } from '../../src/errors';
import { applyUpdates, chain, scaleByLearningRate, softmaxCrossEntropy } from '../../src/index';
import { differentiallyPrivateAggregate, dpSgd } from '../../src/responsible/dp-sgd';
import {
  type PerExampleLoss,
  perExampleGradients,
  perExampleGradientsOfLinearLayers,
} from '../../src/responsible/per-example-gradients';
import type { TensorMap } from '../../src/tree/types';
import { describeEachBackend } from '../helpers/backends';
import { expectClose } from '../helpers/close';
import { expectNoLeak } from '../helpers/leaks';
import { describeRejections } from '../helpers/rejections';

const values = (t: tf.Tensor) => Array.from(t.dataSync());

/** An MLP over a sequence: tanh hidden layer, mean over time, linear head, cross-entropy. */
function sequenceModel(seed: number) {
  const params: TensorMap = {
    'hidden.kernel': tf.randomNormal([6, 5], 0, 0.5, 'float32', seed),
    'hidden.bias': tf.randomNormal([5], 0, 0.5, 'float32', seed + 1),
    'out.kernel': tf.randomNormal([5, 3], 0, 0.5, 'float32', seed + 2),
  };
  const batch: TensorMap = {
    x: tf.randomNormal([8, 4, 6], 0, 1, 'float32', seed + 3),
    labels: tf.tensor1d([0, 1, 2, 0, 1, 2, 0, 1], 'int32'),
  };
  const loss: PerExampleLoss = (_p, b, tape) => {
    const h = tf.tanh(tape.linear('hidden', b.x!));
    return softmaxCrossEntropy(tape.linear('out', tf.mean(h, 1)), b.labels!, { reduction: 'none' });
  };
  return { params, batch, loss };
}

/** A 2-layer MLP on flat inputs with a squared error, the first layer applied twice (shared). */
function sharedLayerModel(seed: number) {
  const params: TensorMap = {
    'a.kernel': tf.randomNormal([4, 4], 0, 0.5, 'float32', seed),
    'a.bias': tf.randomNormal([4], 0, 0.5, 'float32', seed + 1),
    'b.kernel': tf.randomNormal([4, 2], 0, 0.5, 'float32', seed + 2),
    'b.bias': tf.randomNormal([2], 0, 0.5, 'float32', seed + 3),
  };
  const batch: TensorMap = {
    x: tf.randomNormal([6, 4], 0, 1, 'float32', seed + 4),
    y: tf.randomNormal([6, 2], 0, 1, 'float32', seed + 5),
  };
  const loss: PerExampleLoss = (_p, b, tape) => {
    const h = tf.relu(tape.linear('a', tf.relu(tape.linear('a', b.x!))));
    return tf.sum(tf.square(tf.sub(tape.linear('b', h), b.y!)), -1);
  };
  return { params, batch, loss };
}

function fullBatchGradient(loss: PerExampleLoss, params: TensorMap, batch: TensorMap): TensorMap {
  const names = Object.keys(params);
  const g = tf.grads((...xs: tf.Tensor[]) => {
    const p = Object.fromEntries(names.map((n, i) => [n, xs[i]!]));
    const tape = {
      linear: (layer: string, x: tf.Tensor) => {
        const y = tf.matMul(
          tf.reshape(x, [-1, p[`${layer}.kernel`]!.shape[0]!]),
          p[`${layer}.kernel`]! as tf.Tensor2D,
        );
        const withBias = p[`${layer}.bias`] ? tf.add(y, p[`${layer}.bias`]!) : y;
        return tf.reshape(withBias, [...x.shape.slice(0, -1), p[`${layer}.kernel`]!.shape[1]!]);
      },
    };
    return tf.sum(loss(p, batch, tape)) as tf.Scalar;
  })(names.map((n) => params[n]!));
  return Object.fromEntries(names.map((n, i) => [n, g[i]!]));
}

describeEachBackend('per-example gradients', () => {
  for (const [title, make] of [
    ['sequence inputs, cross-entropy', sequenceModel],
    ['a layer used twice, squared error', sharedLayerModel],
  ] as const) {
    it(`${title}: the one-pass path equals the loop, and rows sum to the batch gradient`, () => {
      tf.tidy(() => {
        const { params, batch, loss } = make(7);
        const looped = perExampleGradients(loss, params, batch);
        const fast = perExampleGradientsOfLinearLayers(loss, params, batch);
        const full = fullBatchGradient(loss, params, batch);
        const size = batch.x!.shape[0]!;
        for (const name of Object.keys(params)) {
          expect(fast[name]!.shape).toEqual([size, ...params[name]!.shape]);
          expectClose(fast[name]!, looped[name]!, { rtol: 1e-5, atol: 1e-5 });
          expectClose(tf.sum(looped[name]!, 0), full[name]!, { rtol: 1e-4, atol: 1e-5 });
          // The rows differ: this is not the batch gradient copied.
          expect(
            tf
              .max(tf.abs(tf.sub(tf.slice(fast[name]!, 0, 1), tf.slice(fast[name]!, 1, 1))))
              .dataSync()[0],
          ).toBeGreaterThan(1e-4);
        }
      });
    });
  }

  it('microbatches get the gradient of their mean loss', () => {
    tf.tidy(() => {
      const { params, batch, loss } = sequenceModel(3);
      const perExample = perExampleGradients(loss, params, batch);
      const micro = perExampleGradients(loss, params, batch, { microbatchSize: 4 });
      const k = perExample['out.kernel']!;
      expect(micro['out.kernel']!.shape).toEqual([2, 5, 3]);
      expectClose(tf.slice(micro['out.kernel']!, 1, 1), tf.mean(tf.slice(k, 4, 4), 0, true), {
        rtol: 1e-5,
        atol: 1e-6,
      });
    });
  });

  it('leave no tensor behind and keep their inputs', () => {
    const { params, batch, loss } = sharedLayerModel(1);
    expectNoLeak(() => perExampleGradients(loss, params, batch));
    expectNoLeak(() => perExampleGradientsOfLinearLayers(loss, params, batch));
    const before = tf.memory().numTensors;
    const misuse: PerExampleLoss = (p, b, tape) =>
      tf.add(tf.sum(tape.linear('b', tape.linear('a', b.x!)), -1), tf.sum(p['a.bias']!));
    expect(() => perExampleGradientsOfLinearLayers(misuse, params, batch)).toThrow();
    expect(tf.memory().numTensors).toBe(before);
    expect(params['a.kernel']!.isDisposed).toBe(false);
    tf.dispose([params, batch]);
  });
});

describeRejections('per-example gradients reject bad input', () => {
  const { params, batch, loss } = sharedLayerModel(2);
  const misuse: PerExampleLoss = (p, b, tape) =>
    tf.add(tf.sum(tape.linear('b', tape.linear('a', b.x!)), -1), tf.sum(p['a.bias']!));
  const meanLoss: PerExampleLoss = (p, b, tape) => tf.mean(loss(p, b, tape));
  return [
    [
      'a parameter used outside tape.linear',
      () => perExampleGradientsOfLinearLayers(misuse, params, batch),
      /perExampleGradientsOfLinearLayers: params must be used only through tape.linear/,
    ],
    [
      'a parameter the loss does not use',
      () => perExampleGradients(loss, { ...params, extra: tf.zeros([3]) }, batch),
      /perExampleGradients: params must be tensors that the loss depends on/,
    ],
    [
      'batch tensors of different lengths',
      () => perExampleGradients(loss, params, { x: batch.x!, y: tf.zeros([5, 2]) }),
      /batch.y.shape\[0\] must be the batch size 6 \(as batch.x\); got 5/,
    ],
    [
      'a microbatch size that does not divide the batch',
      () => perExampleGradients(loss, params, batch, { microbatchSize: 4 }),
      /options.microbatchSize must be a divisor of the batch size 6; got 4/,
    ],
    [
      'a loss reduced over the batch',
      () => perExampleGradientsOfLinearLayers(meanLoss, params, batch),
      /loss\(params, batch, tape\) must be a tensor of per-example losses of shape \[6\]; got a float32 tensor of shape \[\]/,
    ],
    [
      'a layer with no kernel',
      () =>
        perExampleGradientsOfLinearLayers(
          (_p, b, tape) => tf.sum(tape.linear('c', b.x!), -1),
          params,
          batch,
        ),
      /tape.linear\('c', x\) must be a layer whose kernel is params\['c.kernel'\]/,
    ],
    [
      'an int32 parameter',
      () => perExampleGradients(loss, { ...params, step: tf.scalar(1, 'int32') }, batch),
      /params.step must be a float32 tensor; got a int32 tensor of shape \[\]/,
    ],
  ];
});

describeEachBackend('differentiallyPrivateAggregate', () => {
  const t = (rows: number[][]) => tf.tensor2d(rows);

  it('clips each example to the global norm, sums and averages (hand-computed)', () => {
    tf.tidy(() => {
      // Example 0: (a, b) = ([3, 0], [4]), norm 5 -> scaled by 1/5. Example 1: norm 0.5, kept.
      const grads = {
        a: t([
          [3, 0],
          [0.3, 0],
        ]),
        b: t([[4], [0.4]]),
      };
      const params = { a: tf.zeros([2]), b: tf.zeros([1]) };
      const dp = differentiallyPrivateAggregate({ l2NormClip: 1, noiseMultiplier: 0, seed: 0 });
      const { updates, state } = dp.update(grads, dp.init(params), params);
      expectClose(updates.a!, [0.45, 0], { atol: 1e-7 });
      expectClose(updates.b!, [0.6], { atol: 1e-7 });
      expect(updates.a!.shape).toEqual([2]);
      expect(state.count).toBe(1);
    });
  });

  it('without noise equals the mean of clipped gradients, for any clip', () => {
    tf.tidy(() => {
      const grads = {
        w: tf.randomNormal([5, 3, 2], 0, 1, 'float32', 1),
        v: tf.randomNormal([5, 4], 0, 1, 'float32', 2),
      };
      for (const clip of [0.1, 1, 100]) {
        const dp = differentiallyPrivateAggregate({
          l2NormClip: clip,
          noiseMultiplier: 0,
          seed: 3,
        });
        const { updates } = dp.update(grads, { count: 0 });
        const norms = tf.sqrt(
          tf.add(tf.sum(tf.square(grads.w), [1, 2]), tf.sum(tf.square(grads.v), 1)),
        );
        const scale = tf.minimum(1, tf.div(clip, norms));
        expectClose(updates.w!, tf.mean(tf.mul(grads.w, tf.reshape(scale, [5, 1, 1])), 0), {
          rtol: 1e-5,
          atol: 1e-7,
        });
        expectClose(updates.v!, tf.mean(tf.mul(grads.v, tf.reshape(scale, [5, 1])), 0), {
          rtol: 1e-5,
          atol: 1e-7,
        });
      }
    });
  });

  it('adds noise of mean 0 and std σ·C/B, fresh each step and per tensor, the same for a seed', () => {
    tf.tidy(() => {
      const batch = 4;
      const n = 20000;
      const grads = { a: tf.zeros([batch, n]), b: tf.zeros([batch, n]) };
      const dp = differentiallyPrivateAggregate({ l2NormClip: 0.5, noiseMultiplier: 2, seed: 11 });
      const step0 = dp.update(grads, { count: 0 }).updates;
      const step1 = dp.update(grads, { count: 1 }).updates;
      const again = dp.update(grads, { count: 0 }).updates;
      const other = differentiallyPrivateAggregate({
        l2NormClip: 0.5,
        noiseMultiplier: 2,
        seed: 12,
      }).update(grads, { count: 0 }).updates;
      const expectedStd = (2 * 0.5) / batch; // 0.25
      const a = values(step0.a!);
      const mean = a.reduce((s, x) => s + x, 0) / n;
      const std = Math.sqrt(a.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1));
      // 5 standard errors: the mean's is 0.25/√20000 ≈ 0.0018, the std's ≈ 0.5%.
      expect(Math.abs(mean)).toBeLessThan((5 * expectedStd) / Math.sqrt(n));
      expect(Math.abs(std / expectedStd - 1)).toBeLessThan(5 / Math.sqrt(2 * n));
      const correlation = (x: tf.Tensor, y: tf.Tensor) =>
        tf.sum(tf.mul(x, y)).dataSync()[0]! /
        Math.sqrt(tf.sum(tf.square(x)).dataSync()[0]! * tf.sum(tf.square(y)).dataSync()[0]!);
      expect(Math.abs(correlation(step0.a!, step1.a!))).toBeLessThan(5 / Math.sqrt(n));
      expect(Math.abs(correlation(step0.a!, step0.b!))).toBeLessThan(5 / Math.sqrt(n));
      expect(Math.abs(correlation(step0.a!, other.a!))).toBeLessThan(5 / Math.sqrt(n));
      expect(values(again.a!)).toEqual(a);
    });
  });

  it('leaves no tensor behind and keeps its inputs', () => {
    const grads = { w: tf.randomNormal([3, 2, 2]), v: tf.randomNormal([3, 5]) };
    const dp = differentiallyPrivateAggregate({ l2NormClip: 1, noiseMultiplier: 1, seed: 0 });
    expectNoLeak(() => dp.update(grads, { count: 0 }).updates);
    expect(grads.w.isDisposed).toBe(false);
    tf.dispose(grads);
  });
});

describeEachBackend('dpSgd', () => {
  it('is -learningRate × the clipped mean without noise, with momentum on top', () => {
    tf.tidy(() => {
      const params = { w: tf.tensor1d([1, 1]) };
      const grads = {
        w: tf.tensor2d([
          [3, 4],
          [0, 0.5],
        ]),
      }; // clipped: [0.6, 0.8] and [0, 0.5]
      const optimizer = dpSgd({
        learningRate: 0.1,
        l2NormClip: 1,
        noiseMultiplier: 0,
        seed: 0,
        momentum: 0.5,
      });
      let state = optimizer.init(params);
      const first = optimizer.update(grads, state, params);
      expectClose(first.updates.w!, [-0.03, -0.065], { atol: 1e-7 }); // -0.1 · [0.3, 0.65]
      state = first.state;
      const second = optimizer.update(grads, state, params);
      expectClose(second.updates.w!, [-0.045, -0.0975], { atol: 1e-7 }); // buffer 1.5 × g
      const next = applyUpdates(params, second.updates);
      expectClose(next.w!, [0.955, 0.9025], { atol: 1e-6 });
    });
  });

  it('chains with other transforms and trains a linear model with noise', () => {
    const x = tf.randomNormal([32, 3], 0, 1, 'float32', 5);
    const trueW = tf.tensor2d([[1], [-2], [0.5]]);
    const y = tf.matMul(x, trueW);
    const loss: PerExampleLoss = (_p, b, tape) =>
      tf.sum(tf.square(tf.sub(tape.linear('l', b.x!), b.y!)), -1);
    let params: TensorMap = { 'l.kernel': tf.zeros([3, 1]), 'l.bias': tf.zeros([1]) };
    const optimizer = chain(
      differentiallyPrivateAggregate({ l2NormClip: 5, noiseMultiplier: 0.5, seed: 1 }),
      scaleByLearningRate(0.1),
    );
    let state = optimizer.init(params);
    const meanLoss = (p: TensorMap) =>
      tf.tidy(
        () =>
          tf
            .mean(
              loss(
                p,
                { x, y },
                {
                  linear: (_l, v) =>
                    tf.add(tf.matMul(v as tf.Tensor2D, p['l.kernel'] as tf.Tensor2D), p['l.bias']!),
                },
              ),
            )
            .dataSync()[0]!,
      );
    const start = meanLoss(params);
    for (let i = 0; i < 60; i++) {
      const g = perExampleGradientsOfLinearLayers(loss, params, { x, y });
      const { updates, state: next } = optimizer.update(g, state, params);
      const updated = applyUpdates(params, updates);
      tf.dispose([g, updates, params]);
      params = updated;
      state = next;
    }
    expect(meanLoss(params)).toBeLessThan(0.05 * start);
    tf.dispose([x, trueW, y, params]);
  });
});

describeRejections('DP aggregation rejects bad input', () => {
  const dp = differentiallyPrivateAggregate({ l2NormClip: 1, noiseMultiplier: 1, seed: 0 });
  const params = { w: tf.zeros([2]), v: tf.zeros([3]) };
  return [
    [
      'a clip of 0',
      () => differentiallyPrivateAggregate({ l2NormClip: 0, noiseMultiplier: 1, seed: 0 }),
      /differentiallyPrivateAggregate: options.l2NormClip must be a finite number in \(0, inf\); got 0/,
    ],
    [
      'a negative noise multiplier',
      () => dpSgd({ learningRate: 0.1, l2NormClip: 1, noiseMultiplier: -0.5, seed: 0 }),
      /options.noiseMultiplier must be a finite number in \[0, inf\); got -0.5/,
    ],
    [
      'a fractional seed',
      () => differentiallyPrivateAggregate({ l2NormClip: 1, noiseMultiplier: 1, seed: 0.5 }),
      /options.seed must be an integer/,
    ],
    [
      'batch sizes that differ between tensors',
      () => dp.update({ w: tf.zeros([4, 2]), v: tf.zeros([3, 3]) }, { count: 0 }),
      /grads.v.shape\[0\] must be the batch size 4 \(as grads.w\); got 3/,
    ],
    [
      'gradients without the batch axis',
      () => dp.update({ w: tf.zeros([2]), v: tf.zeros([3]) }, { count: 0 }, params),
      /grads.w must be shape \[batch, 2\] \(params.w is \[2\]\); got shape \[2\]/,
    ],
    [
      'a gradient missing',
      () => dp.update({ w: tf.zeros([4, 2]) }, { count: 0 }, params),
      /grads.v must be a per-example gradient for params.v; got nothing/,
    ],
    [
      'a gradient with no parameter',
      () =>
        dp.update(
          { w: tf.zeros([4, 2]), v: tf.zeros([4, 3]), u: tf.zeros([4, 1]) },
          { count: 0 },
          params,
        ),
      /grads.u must be named like a parameter/,
    ],
  ];
});

it('DP aggregation names a missing gradient for a parameter named constructor', () => {
  // `'constructor' in grads` is true for every plain object: only own keys count.
  const dp = differentiallyPrivateAggregate({ l2NormClip: 1, noiseMultiplier: 1, seed: 0 });
  const params = { w: tf.zeros([2]), constructor: tf.zeros([3]) } as unknown as TensorMap;
  const grads = { w: tf.zeros([4, 2]) };
  let error: unknown;
  try {
    dp.update(grads, { count: 0 }, params);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(TfjsBlocksError);
  expect((error as TfjsBlocksError).argument).toBe('grads.constructor');
  tf.dispose([Object.values(params), grads.w]);
});
