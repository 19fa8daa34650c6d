import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import {
  adamw,
  chain,
  clipByGlobalNorm,
  type GradientTransformation,
  layerNorm,
  memoryEfficientAttention,
  rmsNorm,
  scaledDotProductAttention,
  softmaxCrossEntropy,
} from '../../src/index';
import { treeLeaves } from '../../src/tree/leaves';
import { describeEachBackend } from '../helpers/backends';
import { expectClose } from '../helpers/close';
import { READY_OPTIMIZERS as READY } from '../helpers/optimizers';
import { type Attend, allFinite, attendValueAndGrads, maxAbs } from './support';

const PATHS: Array<[string, Attend]> = [
  ['plain', (q, k, v, o) => scaledDotProductAttention(q, k, v, o)],
  ['chunked', (q, k, v, o) => memoryEfficientAttention(q, k, v, { ...o, chunkSize: 2 })],
];

/** Output and the gradients of sum(output · w) for a fixed cotangent w. */
function attendWithGrads(attend: Attend, q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, o = {}) {
  const shape = [q.shape[0]!, q.shape[1]!, q.shape[2]!, v.shape[3]!];
  const w = tf.reshape(tf.linspace(-1, 1, shape[0]! * shape[1]! * shape[2]! * shape[3]!), shape);
  return attendValueAndGrads(attend, [q, k, v], w, o);
}

/** Runs `steps` updates with the gradients `grads()`; returns every update of every step. */
function updatesOf(
  optimizer: GradientTransformation<unknown>,
  grads: () => Record<string, tf.Tensor>,
  steps: number,
) {
  const params = { w: tf.randomNormal([3, 4], 0, 1, 'float32', 1), b: tf.zeros([4]) };
  let state = optimizer.init(params);
  const all: tf.Tensor[] = [];
  for (let i = 0; i < steps; i++) {
    const { updates, state: next } = optimizer.update(grads(), state, params);
    tf.dispose(treeLeaves(state));
    state = next;
    all.push(...Object.values(updates));
  }
  tf.dispose(treeLeaves(state));
  return all;
}

describeEachBackend('numerical hardening', () => {
  for (const [name, attend] of PATHS) {
    it(`attention (${name}): scores of ±1e4 give finite outputs and gradients`, () => {
      tf.tidy(() => {
        // headDim 1, scale 1: the scores are q_i · k_j = ±1e4.
        const q = tf.tensor4d([100, -100, 50], [1, 1, 3, 1]);
        const k = tf.tensor4d([100, -100, 1], [1, 1, 3, 1]);
        const v = tf.tensor4d([1, 2, 3, 4, 5, 6], [1, 1, 3, 2]);
        const { output, grads } = attendWithGrads(attend, q, k, v, { scale: 1 });
        expect(allFinite(output, ...grads)).toBe(true);
        // The softmax saturates: query 0 sees only key 0, query 1 only key 1.
        expectClose(tf.slice(output, [0, 0, 0, 0], [1, 1, 2, 2]), [1, 2, 3, 4], { atol: 1e-6 });
      });
    });

    it(`attention (${name}): fully masked rows give zeros and zero gradients`, () => {
      tf.tidy(() => {
        const q = tf.randomNormal([2, 2, 3, 4], 0, 1, 'float32', 3);
        const k = tf.randomNormal([2, 2, 5, 4], 0, 1, 'float32', 4);
        const v = tf.randomNormal([2, 2, 5, 4], 0, 1, 'float32', 5);
        // Query row 1 may attend to nothing; the other rows to some keys.
        const mask = tf.tensor2d(
          [
            [true, false, true, false, true],
            [false, false, false, false, false],
            [false, false, false, false, true],
          ],
          [3, 5],
          'bool',
        );
        const { output, grads } = attendWithGrads(attend, q, k, v, { mask });
        expect(allFinite(output, ...grads)).toBe(true);
        expect(maxAbs(tf.slice(output, [0, 0, 1, 0], [-1, -1, 1, -1]))).toBe(0);
        expect(maxAbs(tf.slice(grads[0]!, [0, 0, 1, 0], [-1, -1, 1, -1]))).toBe(0);
        // Every key masked for every query: all zeros, all gradients zero.
        const none = tf.zeros([3, 5], 'bool');
        const all = attendWithGrads(attend, q, k, v, { mask: none });
        expect(maxAbs(all.output, ...all.grads)).toBe(0);
        // Causal with more queries than keys: the first tq - tk rows see no key.
        const causal = attendWithGrads(
          attend,
          tf.randomNormal([1, 1, 4, 2], 0, 1, 'float32', 6),
          tf.ones([1, 1, 2, 2]),
          tf.ones([1, 1, 2, 2]),
          { causal: true },
        );
        expect(allFinite(causal.output, ...causal.grads)).toBe(true);
        expect(maxAbs(tf.slice(causal.output, [0, 0, 0, 0], [1, 1, 2, 2]))).toBe(0);
      });
    });

    it(`attention (${name}): float16-range inputs (±65504) stay finite`, () => {
      tf.tidy(() => {
        const x = tf.tensor4d([65504, -65504, 1, 0, -65504, 65504], [1, 1, 3, 2]);
        const { output, grads } = attendWithGrads(attend, x, x, x);
        expect(allFinite(output, ...grads)).toBe(true);
      });
    });
  }

  it('softmaxCrossEntropy: logits of ±1e4 and ±65504 give finite values and gradients', () => {
    tf.tidy(() => {
      for (const big of [1e4, 65504]) {
        const logits = tf.tensor2d([
          [big, -big, 0],
          [-big, -big, big],
        ]);
        const labels = tf.tensor1d([1, 2], 'int32');
        for (const options of [{}, { labelSmoothing: 0.1 }, { zLossWeight: 1e-4 }]) {
          const loss = softmaxCrossEntropy(logits, labels, options);
          const grad = tf.grad((l: tf.Tensor) => softmaxCrossEntropy(l, labels, options))(logits);
          expect(allFinite(loss, grad)).toBe(true);
        }
        // The wrong-class row costs 2·big; the right one 0.
        expectClose(softmaxCrossEntropy(logits, labels, { reduction: 'none' }), [2 * big, 0], {
          rtol: 1e-6,
        });
        const soft = tf.tensor2d([
          [0.5, 0.5, 0],
          [0, 0, 1],
        ]);
        const grad = tf.grad((l: tf.Tensor) => softmaxCrossEntropy(l, soft))(logits);
        expect(allFinite(softmaxCrossEntropy(logits, soft), grad)).toBe(true);
      }
    });
  });

  it('softmaxCrossEntropy: a logit spread beyond float32 (3e38 - -3e38) is not finite (documented)', () => {
    tf.tidy(() => {
      const loss = softmaxCrossEntropy(tf.tensor2d([[3e38, -3e38, 0]]), tf.tensor1d([1], 'int32'));
      expect(Number.isFinite(loss.dataSync()[0]!)).toBe(false);
      // 1e20 is still fine: the loss is the logit gap, 2e20.
      const ok = softmaxCrossEntropy(tf.tensor2d([[1e20, -1e20, 0]]), tf.tensor1d([1], 'int32'));
      expectClose(ok, 2e20, { rtol: 1e-6 });
    });
  });

  for (const [name, make] of READY) {
    it(`${name}: zero gradients for 3 steps give finite (zero) updates`, () => {
      tf.tidy(() => {
        const updates = updatesOf(make(), () => ({ w: tf.zeros([3, 4]), b: tf.zeros([4]) }), 3);
        expect(allFinite(...updates)).toBe(true);
      });
    });
  }

  it('clipByGlobalNorm: gradients of 1e30 give finite updates of norm <= maxNorm', () => {
    tf.tidy(() => {
      for (const big of [1e30, 1e20, 1e10]) {
        const grads = { a: tf.fill([3], big), b: tf.tensor1d([big, -big]) };
        const { updates } = clipByGlobalNorm(1).update(grads, { count: 0 });
        const values = Object.values(updates);
        expect(allFinite(...values)).toBe(true);
        const norm = Math.sqrt(values.reduce((s, u) => s + tf.sum(tf.square(u)).dataSync()[0]!, 0));
        expect(norm).toBeLessThanOrEqual(1 + 1e-6);
        // The norm is computed on rescaled values, so 1e30 (whose square
        // overflows float32) is clipped to norm 1 like 1e10.
        expectClose(norm, 1, { rtol: 1e-5 });
      }
      // Through a whole chain: adam after the clip stays finite too.
      const updates = updatesOf(
        chain(clipByGlobalNorm(1), adamw()) as GradientTransformation<unknown>,
        () => ({ w: tf.fill([3, 4], 1e30), b: tf.fill([4], -1e30) }),
        2,
      );
      expect(allFinite(...updates)).toBe(true);
    });
  });

  it('layerNorm / rmsNorm: float16-range inputs (±65504) give finite values and gradients', () => {
    tf.tidy(() => {
      const x = tf.tensor2d([
        [65504, -65504, 1, 0],
        [65504, 65504, 65504, 65504],
        [-65504, 0, 0, 0],
      ]);
      const gamma = tf.ones([4]);
      const beta = tf.zeros([4]);
      const w = tf.tensor1d([1, 2, 3, 4]);
      const ln = layerNorm(x, gamma, beta);
      const rms = rmsNorm(x, gamma);
      const lnGrads = tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.mul(layerNorm(a, g, b), w)),
      )([x, gamma, beta]);
      const rmsGrads = tf.grads((a: tf.Tensor, g: tf.Tensor) => tf.sum(tf.mul(rmsNorm(a, g), w)))([
        x,
        gamma,
      ]);
      expect(allFinite(ln, rms, ...lnGrads, ...rmsGrads)).toBe(true);
      // A constant row normalizes to 0 (layerNorm) and to 1 (rmsNorm).
      expectClose(tf.slice(ln, [1, 0], [1, 4]), [0, 0, 0, 0], { atol: 1e-6 });
      expectClose(tf.slice(rms, [1, 0], [1, 4]), [1, 1, 1, 1], { rtol: 1e-5 });
    });
  });

  it('layerNorm / rmsNorm: |x| beyond ~1.8e19 overflows x² and the row becomes 0 (documented)', () => {
    tf.tidy(() => {
      const x = tf.tensor2d([[1e20, -1e20, 3e19]]);
      const ln = layerNorm(x, tf.ones([3]), tf.zeros([3]));
      const rms = rmsNorm(x, tf.ones([3]));
      // Finite, but not the normalized values (x / sqrt(Infinity) = 0).
      expect(maxAbs(ln, rms)).toBe(0);
    });
  });
});
