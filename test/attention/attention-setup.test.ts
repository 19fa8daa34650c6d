// The attention set-up shared by scaledDotProductAttention and
// memoryEfficientAttention (issue 22): a rejection naming the argument for
// every validation path, the edges of each option's range (scale 0, negative
// and huge; dropout 0; seed 0), and options combined rather than one at a time.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { memoryEfficientAttention } from '../../src/attention/memory-efficient-attention';
import {
  attentionUnchecked,
  type ScaledDotProductAttentionOptions,
  scaledDotProductAttention,
} from '../../src/attention/scaled-dot-product-attention';
import { expectClose } from '../helpers/close';
import { expectNoLeak } from '../helpers/leaks';
import { thrownWithoutLeak } from '../helpers/rejections';

const four = (x: tf.Tensor) => x as tf.Tensor4D;
const TOL = { rtol: 1e-5, atol: 1e-6 };

/** softmax(q kᵀ · scale + bias) v per (batch, head), in float64, from plain arrays. */
function reference(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  scale: number,
  allowed: (b: number, h: number, i: number, j: number) => number,
): { output: number[]; weights: number[] } {
  const [batch, heads, tq, d] = q.shape;
  const [, kvHeads, tk] = k.shape;
  const dv = v.shape[3];
  const groups = heads / kvHeads;
  const qa = q.arraySync();
  const ka = k.arraySync();
  const va = v.arraySync();
  const output: number[] = [];
  const weights: number[] = [];
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      const g = Math.floor(h / groups);
      for (let i = 0; i < tq; i++) {
        const s = Array.from({ length: tk }, (_, j) => {
          let dot = 0;
          for (let c = 0; c < d; c++) dot += qa[b]![h]![i]![c]! * ka[b]![g]![j]![c]!;
          return dot * scale + allowed(b, h, i, j);
        });
        const m = Math.max(...s);
        const e = s.map((x) => (Number.isFinite(m) ? Math.exp(x - m) : 0));
        const total = e.reduce((a, x) => a + x, 0);
        const w = e.map((x) => (total === 0 ? 0 : x / total));
        weights.push(...w);
        for (let c = 0; c < dv; c++) {
          output.push(w.reduce((a, x, j) => a + x * va[b]![g]![j]![c]!, 0));
        }
      }
    }
  }
  return { output, weights };
}

describe('attention options at the edges of their range', () => {
  it('scale 0 averages the values; a negative scale prefers the least similar key', () => {
    const q = tf.randomNormal([1, 2, 3, 4], 0, 1, 'float32', 1) as tf.Tensor4D;
    const k = tf.randomNormal([1, 2, 5, 4], 0, 1, 'float32', 2) as tf.Tensor4D;
    const v = tf.randomNormal([1, 2, 5, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
    for (const chunkSize of [undefined, 2]) {
      const flat = scaledDotProductAttention(q, k, v, { scale: 0, chunkSize });
      const mean = tf.tile(tf.mean(v, 2, true), [1, 1, 3, 1]);
      expectClose(flat, mean, TOL);
      const negative = scaledDotProductAttention(q, k, v, { scale: -0.7, chunkSize });
      expectClose(negative, reference(q, k, v, -0.7, () => 0).output, TOL, [1, 2, 3, 3]);
      tf.dispose([flat, mean, negative]);
    }
    tf.dispose([q, k, v]);
  });

  it('a huge scale picks the best key alone (one-hot weights), finite on both paths', () => {
    const q = tf.tensor4d([1, 0, 0, 1], [1, 1, 2, 2]);
    const k = tf.tensor4d([0.9, 0.1, 0.2, 0.8, -1, -1], [1, 1, 3, 2]);
    const v = tf.tensor4d([1, 2, 3, 4, 5, 6], [1, 1, 3, 2]);
    for (const chunkSize of [undefined, 1]) {
      const out = scaledDotProductAttention(q, k, v, { scale: 1e6, chunkSize });
      expectClose(out, [1, 2, 3, 4], { rtol: 0, atol: 1e-6 });
      tf.dispose(out);
    }
    const { weights } = scaledDotProductAttention(q, k, v, { scale: 1e6, returnWeights: true });
    expectClose(weights, [1, 0, 0, 0, 1, 0], { rtol: 0, atol: 0 });
    tf.dispose([q, k, v, weights]);
  });

  it('default scale is 1 / sqrt(headDim), on both paths and in the unchecked core', () => {
    const q = tf.randomNormal([1, 1, 2, 9], 0, 1, 'float32', 4) as tf.Tensor4D;
    const k = tf.randomNormal([1, 1, 3, 9], 0, 1, 'float32', 5) as tf.Tensor4D;
    const want = reference(q, k, k, 1 / 3, () => 0).output;
    for (const out of [
      scaledDotProductAttention(q, k, k),
      memoryEfficientAttention(q, k, k),
      attentionUnchecked(q, k, k, {}),
    ]) {
      expectClose(out, want, TOL);
      out.dispose();
    }
    tf.dispose([q, k]);
  });

  it('dropoutRate 0 and seed 0 are accepted, and 0 dropout changes nothing', () => {
    const q = tf.randomNormal([1, 2, 3, 4], 0, 1, 'float32', 6) as tf.Tensor4D;
    const plain = scaledDotProductAttention(q, q, q);
    const zero = scaledDotProductAttention(q, q, q, { dropoutRate: 0, seed: 0 });
    expectClose(zero, plain, { rtol: 0, atol: 0 });
    const dropped = scaledDotProductAttention(q, q, q, { dropoutRate: 0.5, seed: 0 });
    expect(tf.any(tf.notEqual(dropped, plain)).dataSync()[0]).toBe(1);
    tf.dispose([q, plain, zero, dropped]);
  });

  it('the unchecked core draws the same dropout mask as the checked path for a seed', () => {
    const q = tf.randomNormal([1, 2, 4, 4], 0, 1, 'float32', 7) as tf.Tensor4D;
    const k = tf.randomNormal([1, 1, 4, 4], 0, 1, 'float32', 8) as tf.Tensor4D;
    const options = { dropoutRate: 0.4, seed: 11, causal: true };
    const checked = scaledDotProductAttention(q, k, k, options);
    const core = attentionUnchecked(q, k, k, options);
    expectClose(core, checked, { rtol: 0, atol: 0 });
    // Without a seed it still drops (a random seed), and keeps the shape.
    const unseeded = attentionUnchecked(q, k, k, { dropoutRate: 0.4 });
    expect(unseeded.shape).toEqual([1, 2, 4, 4]);
    tf.dispose([q, k, checked, core, unseeded]);
  });
});

describe('attention options combined', () => {
  const combos: Array<[string, ScaledDotProductAttentionOptions]> = [
    ['causal + float mask + scale', { causal: true, scale: 0.5 }],
    ['causal + window + bool mask', { causal: true, slidingWindow: 2 }],
    ['bool mask alone', {}],
  ];

  it('GQA with every combination: both paths equal the float64 reference, weights included', () => {
    const q = tf.randomNormal([2, 4, 3, 4], 0, 1, 'float32', 9) as tf.Tensor4D;
    const k = tf.randomNormal([2, 2, 5, 4], 0, 1, 'float32', 10) as tf.Tensor4D;
    const v = tf.randomNormal([2, 2, 5, 2], 0, 1, 'float32', 11) as tf.Tensor4D;
    // A per-batch, per-head float mask and a per-batch bool key mask.
    const floatMask = tf.randomNormal([2, 4, 3, 5], 0, 1, 'float32', 12);
    const keep = [
      [true, true, true, true, true],
      [false, true, true, false, true],
    ];
    const boolMask = tf.tensor(keep.flat(), [2, 1, 1, 5], 'bool');
    const fm = floatMask.arraySync() as number[][][][];
    for (const [name, base] of combos) {
      const useFloat = name.includes('float');
      const options = { ...base, mask: useFloat ? floatMask : boolMask };
      const scale = base.scale ?? 0.5;
      const window = base.slidingWindow;
      const allowed = (b: number, h: number, i: number, j: number) => {
        const pos = i + 5 - 3;
        if (base.causal && j > pos) return Number.NEGATIVE_INFINITY;
        if (window !== undefined && j <= pos - window) return Number.NEGATIVE_INFINITY;
        if (useFloat) return fm[b]![h]![i]![j]!;
        return keep[b]![j] ? 0 : Number.NEGATIVE_INFINITY;
      };
      const want = reference(q, k, v, scale, allowed);
      const { output, weights } = scaledDotProductAttention(q, k, v, {
        ...options,
        returnWeights: true,
      });
      expect(weights.shape, name).toEqual([2, 4, 3, 5]);
      expectClose(output, want.output, TOL, [2, 4, 3, 2]);
      expectClose(weights, want.weights, TOL);
      for (const chunkSize of [1, 2, 5, 8]) {
        const chunked = scaledDotProductAttention(q, k, v, { ...options, chunkSize });
        expectClose(chunked, want.output, TOL, [2, 4, 3, 2]);
        chunked.dispose();
      }
      tf.dispose([output, weights]);
    }
    tf.dispose([q, k, v, floatMask, boolMask]);
  });

  it('masks of rank 1, 2 and 3 broadcast like their rank-4 form, on both paths', () => {
    const q = tf.randomNormal([2, 2, 3, 4], 0, 1, 'float32', 13) as tf.Tensor4D;
    const k = tf.randomNormal([2, 2, 4, 4], 0, 1, 'float32', 14) as tf.Tensor4D;
    const masks = [
      tf.tensor1d([0, -1, 2, Number.NEGATIVE_INFINITY]),
      tf.tensor(
        [true, false, true, true, true, true, false, true, true, true, true, false],
        [3, 4],
        'bool',
      ),
      tf.randomNormal([2, 3, 4], 0, 1, 'float32', 15),
      // Broadcast over the keys: one bias per query row.
      tf.tensor([0.5, -1, 2], [1, 1, 3, 1]),
    ];
    for (const mask of masks) {
      const m4 = tf.reshape(mask, [...Array(4 - mask.rank).fill(1), ...mask.shape]);
      const full = tf.broadcastTo(m4, [2, 2, 3, 4]);
      const want = scaledDotProductAttention(q, k, k, { mask: full, causal: true });
      for (const chunkSize of [undefined, 1, 3]) {
        const got = scaledDotProductAttention(q, k, k, { mask, causal: true, chunkSize });
        expectClose(got, want, TOL);
        got.dispose();
      }
      tf.dispose([m4, full, want]);
    }
    tf.dispose([q, k, ...masks]);
  });

  it('returnWeights: false gives the plain output tensor; weights are [batch, heads, tq, tk] with GQA', () => {
    const q = tf.randomNormal([1, 6, 2, 4], 0, 1, 'float32', 16) as tf.Tensor4D;
    const k = tf.randomNormal([1, 2, 3, 4], 0, 1, 'float32', 17) as tf.Tensor4D;
    const out = scaledDotProductAttention(q, k, k, { returnWeights: false, chunkSize: 2 });
    expect(out.shape).toEqual([1, 6, 2, 4]);
    const { weights } = scaledDotProductAttention(q, k, k, { returnWeights: true });
    expect(weights.shape).toEqual([1, 6, 2, 3]);
    expectClose(weights, reference(q, k, k, 0.5, () => 0).weights, TOL);
    tf.dispose([q, k, out, weights]);
    const one = tf.ones([1, 1, 1, 2]) as tf.Tensor4D;
    const two = tf.ones([1, 2, 1, 2]) as tf.Tensor4D;
    expectNoLeak(() => scaledDotProductAttention(two, one, one, { returnWeights: true }));
    tf.dispose([one, two]);
  });
});

describe('attention rejections', () => {
  it('names the argument of every validation path, on both functions, without a leak', () => {
    const q = tf.zeros([2, 4, 3, 8]) as tf.Tensor4D;
    const k = tf.zeros([2, 2, 5, 8]) as tf.Tensor4D;
    const disposed = tf.zeros([2, 2, 5, 8]) as tf.Tensor4D;
    disposed.dispose();
    const disposedMask = tf.ones([3, 5], 'bool');
    disposedMask.dispose();
    const disposedFloat = tf.ones([3, 5]);
    disposedFloat.dispose();
    const made: tf.Tensor[] = [];
    const t = (shape: number[], dtype: 'float32' | 'int32' | 'bool' = 'float32') => {
      const x = tf.zeros(shape, dtype);
      made.push(x);
      return x as tf.Tensor4D;
    };
    const cases: Array<[[unknown, unknown, unknown, unknown], string]> = [
      [[q, k, k, null], 'options'],
      [[q, k, k, 'causal'], 'options'],
      [[q, k, k, { casual: true }], 'options.casual'],
      [[undefined, k, k, {}], 'q'],
      [[q, 'k', k, {}], 'k'],
      [[q, k, disposed, {}], 'v'],
      [[q, t([2, 2, 5, 8], 'int32'), k, {}], 'k'],
      [[q, t([2, 5, 8]), k, {}], 'k'],
      [[q, k, t([2, 2, 5]), {}], 'v'],
      [[q, t([2, 2, 0, 8]), k, {}], 'k'],
      [[q, t([1, 2, 5, 8]), k, {}], 'k.shape[0]'],
      [[q, k, t([1, 2, 5, 8]), {}], 'v.shape[0]'],
      [[q, t([2, 2, 5, 4]), k, {}], 'k.shape[3]'],
      [[q, k, t([2, 1, 5, 8]), {}], 'v.shape[1]'],
      [[q, k, t([2, 2, 4, 8]), {}], 'v.shape[2]'],
      [[q, t([2, 3, 5, 8]), t([2, 3, 5, 8]), {}], 'k.shape[1]'],
      [[q, k, k, { mask: null }], 'options.mask'],
      [[q, k, k, { mask: [[true]] }], 'options.mask'],
      [[q, k, k, { mask: disposedMask }], 'options.mask'],
      [[q, k, k, { mask: disposedFloat }], 'options.mask'],
      [[q, k, k, { mask: t([3, 5], 'int32') }], 'options.mask'],
      [[q, k, k, { mask: t([3, 4], 'bool') }], 'options.mask'],
      [[q, k, k, { mask: t([3, 3, 5]) }], 'options.mask'],
      [[q, k, k, { mask: t([2, 2, 4, 3, 5]) }], 'options.mask'],
      [[q, k, k, { causal: 'yes' }], 'options.causal'],
      [[q, k, k, { causal: 1 }], 'options.causal'],
      [[q, k, k, { slidingWindow: 2 }], 'options.slidingWindow'],
      [[q, k, k, { causal: false, slidingWindow: 2 }], 'options.slidingWindow'],
      [[q, k, k, { causal: true, slidingWindow: 0 }], 'options.slidingWindow'],
      [[q, k, k, { causal: true, slidingWindow: 2.5 }], 'options.slidingWindow'],
      [[q, k, k, { scale: Number.POSITIVE_INFINITY }], 'options.scale'],
      [[q, k, k, { scale: '1' }], 'options.scale'],
      [[q, k, k, { scale: null }], 'options.scale'],
      [[q, k, k, { dropoutRate: -0.1 }], 'options.dropoutRate'],
      [[q, k, k, { dropoutRate: 1 }], 'options.dropoutRate'],
      [[q, k, k, { dropoutRate: Number.NaN }], 'options.dropoutRate'],
      [[q, k, k, { seed: -1 }], 'options.seed'],
      [[q, k, k, { seed: 1.5 }], 'options.seed'],
      [[q, k, k, { seed: '3' }], 'options.seed'],
      [[q, k, k, { chunkSize: 0 }], 'options.chunkSize'],
      [[q, k, k, { chunkSize: 1.5 }], 'options.chunkSize'],
      [[q, k, k, { chunkSize: '2' }], 'options.chunkSize'],
    ];
    for (const [fn, attend] of [
      ['scaledDotProductAttention', scaledDotProductAttention],
      ['memoryEfficientAttention', memoryEfficientAttention],
    ] as const) {
      for (const [[a, b, c, options], argument] of cases) {
        let e: ReturnType<typeof thrownWithoutLeak> | undefined;
        try {
          e = thrownWithoutLeak(() =>
            (attend as (...args: unknown[]) => unknown)(a, b, c, options),
          );
        } catch (err) {
          throw new Error(`${fn} ${argument}: ${err}`);
        }
        expect(e.functionName, `${argument} (${fn})`).toBe(fn);
        expect(e.argument, `${argument} (${fn})`).toBe(argument);
      }
    }
    // Only scaledDotProductAttention knows returnWeights; it refuses it with chunkSize.
    expect(
      thrownWithoutLeak(() =>
        scaledDotProductAttention(q, k, k, { chunkSize: 2, returnWeights: true }),
      ).argument,
    ).toBe('options.returnWeights');
    expect(
      thrownWithoutLeak(() => memoryEfficientAttention(q, k, k, { returnWeights: true } as never))
        .argument,
    ).toBe('options.returnWeights');
    tf.dispose([q, k, ...made]);
  });

  it('a bool mask of the right shape, and a float one, are accepted', () => {
    const q = tf.ones([1, 1, 2, 2]) as tf.Tensor4D;
    for (const mask of [tf.ones([2, 3], 'bool'), tf.zeros([1, 1, 1, 3])]) {
      const out = scaledDotProductAttention(
        q,
        four(tf.ones([1, 1, 3, 2])),
        four(tf.ones([1, 1, 3, 2])),
        {
          mask,
        },
      );
      expect(out.shape).toEqual([1, 1, 2, 2]);
      tf.dispose([mask, out]);
    }
    tf.dispose(q);
  });
});
