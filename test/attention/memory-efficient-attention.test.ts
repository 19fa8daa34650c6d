// The chunked (online-softmax) path over its block edges (issue 22): one key
// per block, one block for every key, a block larger than the keys, a last
// block shorter than the others, rows masked in the early blocks only,
// rows masked everywhere, large scores, and a mask made inside the
// differentiated function. Values and gradients against the plain path.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  memoryEfficientAttention,
  type ScaledDotProductAttentionOptions,
  scaledDotProductAttention,
} from '../../src/index';
import { expectClose } from '../helpers/close';
import { expectNoLeak } from '../helpers/leaks';

const four = (x: tf.Tensor) => x as tf.Tensor4D;
const TOL = { rtol: 1e-4, atol: 1e-5 };

/** Value and gradients (of q, k, v against a fixed weighting) of one attention call. */
function valueAndGrads(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  options: ScaledDotProductAttentionOptions,
  w: tf.Tensor,
) {
  const f = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
    tf.sum(tf.mul(scaledDotProductAttention(four(a), four(b), four(c), options), w));
  const out = scaledDotProductAttention(q, k, v, options);
  const grads = tf.grads(f)([q, k, v]);
  return [out, ...grads];
}

function expectPathsAgree(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  options: ScaledDotProductAttentionOptions,
  chunkSizes: number[],
) {
  const w = tf.randomNormal([q.shape[0], q.shape[1], q.shape[2], v.shape[3]], 0, 1, 'float32', 99);
  const plain = valueAndGrads(q, k, v, options, w);
  for (const chunkSize of chunkSizes) {
    const chunked = valueAndGrads(q, k, v, { ...options, chunkSize }, w);
    chunked.forEach((t, i) => {
      expect(t.shape).toEqual(plain[i]!.shape);
      expectClose(t, plain[i]!, TOL);
      expect(tf.any(tf.isNaN(t)).dataSync()[0]).toBe(0);
    });
    tf.dispose(chunked);
  }
  tf.dispose([w, ...plain]);
}

describe('memoryEfficientAttention block edges', () => {
  it('chunk sizes 1, 2, tk - 1, tk and beyond give the plain values and gradients (GQA, causal)', () => {
    const q = tf.randomNormal([2, 4, 3, 4], 0, 1, 'float32', 1) as tf.Tensor4D;
    const k = tf.randomNormal([2, 2, 5, 4], 0, 1, 'float32', 2) as tf.Tensor4D;
    const v = tf.randomNormal([2, 2, 5, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
    expectPathsAgree(q, k, v, { causal: true }, [1, 2, 4, 5, 7]);
    tf.dispose([q, k, v]);
  });

  it('one key, and one query over many keys', () => {
    const q1 = tf.randomNormal([1, 1, 2, 4], 0, 1, 'float32', 4) as tf.Tensor4D;
    const k1 = tf.randomNormal([1, 1, 1, 4], 0, 1, 'float32', 5) as tf.Tensor4D;
    expectPathsAgree(q1, k1, k1, {}, [1, 3]);
    const q2 = tf.randomNormal([1, 2, 1, 4], 0, 1, 'float32', 6) as tf.Tensor4D;
    const k2 = tf.randomNormal([1, 2, 9, 4], 0, 1, 'float32', 7) as tf.Tensor4D;
    expectPathsAgree(q2, k2, k2, { causal: true, slidingWindow: 4 }, [2, 4]);
    tf.dispose([q1, k1, q2, k2]);
  });

  it('the default block size (128) covers 130 keys in two blocks', () => {
    const q = tf.randomNormal([1, 1, 2, 4], 0, 1, 'float32', 8) as tf.Tensor4D;
    const k = tf.randomNormal([1, 1, 130, 4], 0, 1, 'float32', 9) as tf.Tensor4D;
    const plain = scaledDotProductAttention(q, k, k, { causal: true });
    const chunked = memoryEfficientAttention(q, k, k, { causal: true });
    expectClose(chunked, plain, TOL);
    tf.dispose([q, k, plain, chunked]);
  });

  it('rows that see no key in the first blocks, and rows that see none at all', () => {
    // Row 0 sees only the last key, row 1 nothing, row 2 every key.
    const allowed = [
      [false, false, false, false, true],
      [false, false, false, false, false],
      [true, true, true, true, true],
    ];
    const mask = tf.tensor(allowed.flat(), [1, 1, 3, 5], 'bool');
    const q = tf.randomNormal([1, 2, 3, 4], 0, 1, 'float32', 10) as tf.Tensor4D;
    const k = tf.randomNormal([1, 2, 5, 4], 0, 1, 'float32', 11) as tf.Tensor4D;
    const v = tf.randomNormal([1, 2, 5, 4], 0, 1, 'float32', 12) as tf.Tensor4D;
    expectPathsAgree(q, k, v, { mask }, [1, 2, 3]);
    const out = memoryEfficientAttention(q, k, v, { mask, chunkSize: 2 });
    // Row 0 is exactly the last value; row 1 is zero.
    expectClose(
      tf.slice(out, [0, 0, 0, 0], [-1, -1, 1, -1]),
      tf.slice(v, [0, 0, 4, 0], [-1, -1, 1, -1]),
      { rtol: 1e-6, atol: 1e-6 },
    );
    expect(Array.from(tf.slice(out, [0, 0, 1, 0], [-1, -1, 1, -1]).dataSync())).toEqual(
      new Array(8).fill(0),
    );
    tf.dispose([mask, q, k, v, out]);
  });

  it('large scores (|q·k| ~ 1e3) stay finite and agree with the plain path', () => {
    const q = tf.mul(tf.randomNormal([1, 1, 3, 4], 0, 1, 'float32', 13), 30) as tf.Tensor4D;
    const k = tf.mul(tf.randomNormal([1, 1, 6, 4], 0, 1, 'float32', 14), 30) as tf.Tensor4D;
    const v = tf.randomNormal([1, 1, 6, 2], 0, 1, 'float32', 15) as tf.Tensor4D;
    expectPathsAgree(q, k, v, { causal: true }, [1, 4]);
    tf.dispose([q, k, v]);
  });

  it('a mask made inside the differentiated function survives to the backward pass', () => {
    const q = tf.randomNormal([1, 2, 3, 4], 0, 1, 'float32', 16) as tf.Tensor4D;
    const k = tf.randomNormal([1, 2, 4, 4], 0, 1, 'float32', 17) as tf.Tensor4D;
    const w = tf.randomNormal([1, 2, 3, 4], 0, 1, 'float32', 18);
    const loss =
      (kind: 'bool' | 'float', chunkSize?: number) =>
      (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => {
        // Made here, so disposed with the forward's scope before the backward runs.
        const mask =
          kind === 'bool'
            ? tf.tensor([true, false, true, true], [1, 1, 1, 4], 'bool')
            : tf.tensor([0.5, 0, -0.5], [1, 1, 3, 1]);
        const out = scaledDotProductAttention(four(a), four(b), four(c), { mask, chunkSize });
        return tf.sum(tf.mul(out, w));
      };
    for (const kind of ['bool', 'float'] as const) {
      const plain = tf.grads(loss(kind))([q, k, k]);
      for (const chunkSize of [2, 3]) {
        const chunked = tf.grads(loss(kind, chunkSize))([q, k, k]);
        for (const [i, g] of chunked.entries()) expectClose(g, plain[i]!, TOL);
        tf.dispose(chunked);
      }
      tf.dispose(plain);
    }
    tf.dispose([q, k, w]);
  });

  it('the backward of one block and of several adds only the gradients', () => {
    const q = tf.randomNormal([1, 2, 3, 4], 0, 1, 'float32', 19) as tf.Tensor4D;
    const k = tf.randomNormal([1, 1, 4, 4], 0, 1, 'float32', 20) as tf.Tensor4D;
    for (const chunkSize of [4, 8, 3]) {
      expectNoLeak(() =>
        tf.grads((a, b, c) =>
          tf.sum(memoryEfficientAttention(four(a), four(b), four(c), { chunkSize, causal: true })),
        )([q, k, k]),
      );
    }
    tf.dispose([q, k]);
  });
});
