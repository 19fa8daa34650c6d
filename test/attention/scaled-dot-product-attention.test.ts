import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import {
  memoryEfficientAttention,
  type ScaledDotProductAttentionOptions,
  scaledDotProductAttention,
} from '../../src/index';
import { describeEachBackend } from '../helpers/backends';
import { expectClose } from '../helpers/close';
import {
  decode,
  type EncodedTensor,
  expectMatchesGolden,
  type GradientGolden,
  loadGoldens,
} from '../helpers/goldens';
import { expectGradientsMatchFiniteDifferences } from '../helpers/gradcheck';
import { expectNoLeak } from '../helpers/leaks';
import { describeRejections } from '../helpers/rejections';

interface AttentionGolden extends GradientGolden {
  options: { causal: boolean; scale?: number };
  mask?: EncodedTensor;
}

const goldens = loadGoldens<Record<string, AttentionGolden>>('attention');
const attentionCases = Object.entries(goldens).filter(([name]) => name.startsWith('sdpa_'));
const TOL = { rtol: 1e-5, atol: 1e-6 };

type Attend = (
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  options: ScaledDotProductAttentionOptions,
) => tf.Tensor4D;

const paths: Array<[string, Attend]> = [
  ['plain', (q, k, v, o) => scaledDotProductAttention(q, k, v, o)],
  ['chunkSize 2', (q, k, v, o) => memoryEfficientAttention(q, k, v, { ...o, chunkSize: 2 })],
  [
    'chunkSize 3 via sdpa',
    (q, k, v, o) => scaledDotProductAttention(q, k, v, { ...o, chunkSize: 3 }),
  ],
];

function fourD(x: tf.Tensor): tf.Tensor4D {
  return x as tf.Tensor4D;
}

describeEachBackend('scaledDotProductAttention vs PyTorch', () => {
  for (const [name, golden] of attentionCases) {
    for (const [pathName, attend] of paths) {
      it(`${name} (${pathName}): value and gradients`, () => {
        expectMatchesGolden(
          golden,
          ({ q, k, v }) => {
            const options: ScaledDotProductAttentionOptions = { ...golden.options };
            if (golden.mask) options.mask = decode(golden.mask);
            return attend(fourD(q!), fourD(k!), fourD(v!), options);
          },
          TOL,
        );
      });
    }
  }
});

describeEachBackend('scaledDotProductAttention behaviour', () => {
  const q = () => tf.randomNormal([2, 4, 5, 8], 0, 1, 'float32', 1) as tf.Tensor4D;
  const kv = () => tf.randomNormal([2, 2, 6, 8], 0, 1, 'float32', 2) as tf.Tensor4D;

  it('returns weights that sum to one per row, and zero rows where every key is masked', () => {
    tf.tidy(() => {
      const mask = tf.tensor([true, true, false, false, false, false], [1, 1, 2, 3], 'bool');
      const qq = tf.randomNormal([1, 2, 2, 4]) as tf.Tensor4D;
      const kk = tf.randomNormal([1, 2, 3, 4]) as tf.Tensor4D;
      const { output, weights } = scaledDotProductAttention(qq, kk, kk, {
        mask,
        returnWeights: true,
      });
      expect(weights.shape).toEqual([1, 2, 2, 3]);
      const sums = tf.sum(weights, -1).arraySync() as number[][][];
      for (const head of sums[0]!) {
        expect(head[0]).toBeCloseTo(1, 6);
        expect(head[1]).toBe(0);
      }
      const masked = tf.slice(weights, [0, 0, 0, 2], [-1, -1, 1, 1]);
      expectClose(masked, [0, 0], { atol: 0, rtol: 0 });
      const fullyMaskedOutput = tf.slice(output, [0, 0, 1, 0], [-1, -1, 1, -1]);
      expectClose(fullyMaskedOutput, new Array(8).fill(0), { atol: 0, rtol: 0 });
    });
  });

  it('gives zero (not NaN) gradients for fully masked rows on both paths', () => {
    tf.tidy(() => {
      const qq = tf.randomNormal([1, 1, 4, 4], 0, 1, 'float32', 3) as tf.Tensor4D;
      const kk = tf.randomNormal([1, 1, 2, 4], 0, 1, 'float32', 4) as tf.Tensor4D;
      for (const chunkSize of [undefined, 1]) {
        const g = tf.grads((a, b, c) =>
          tf.sum(
            scaledDotProductAttention(fourD(a), fourD(b), fourD(c), { causal: true, chunkSize }),
          ),
        )([qq, kk, tf.clone(kk)]);
        for (const t of g) expect(tf.any(tf.isNaN(t)).dataSync()[0]).toBe(0);
        // Queries 0 and 1 see no key (tq = 4 > tk = 2): their gradient is zero.
        expectClose(tf.slice(g[0]!, [0, 0, 0, 0], [1, 1, 2, 4]), new Array(8).fill(0), { atol: 0 });
      }
    });
  });

  it('grouped-query attention equals multi-head attention over repeated kv heads', () => {
    tf.tidy(() => {
      const k = kv();
      const repeat = (t: tf.Tensor4D) =>
        tf.reshape(
          tf.tile(tf.reshape(t, [2, 2, 1, 6, 8]), [1, 1, 2, 1, 1]),
          [2, 4, 6, 8],
        ) as tf.Tensor4D;
      const grouped = scaledDotProductAttention(q(), k, k, { causal: true });
      const repeated = scaledDotProductAttention(q(), repeat(k), repeat(k), { causal: true });
      expectClose(grouped, repeated, { rtol: 1e-6, atol: 1e-7 });
    });
  });

  it('dropout zeroes a fraction dropoutRate of the weights and rescales the rest, on both paths', () => {
    // With v = identity (tk = valueDim), the output rows are the dropped weights themselves.
    const rate = 0.3;
    tf.tidy(() => {
      const tk = 64;
      const qq = tf.randomNormal([2, 4, 32, 16], 0, 1, 'float32', 5) as tf.Tensor4D;
      const kk = tf.randomNormal([2, 4, tk, 16], 0, 1, 'float32', 6) as tf.Tensor4D;
      const eye = tf.tile(tf.reshape(tf.eye(tk), [1, 1, tk, tk]), [2, 4, 1, 1]) as tf.Tensor4D;
      const { weights } = scaledDotProductAttention(qq, kk, eye, { returnWeights: true });
      for (const chunkSize of [undefined, 16]) {
        const dropped = scaledDotProductAttention(qq, kk, eye, {
          dropoutRate: rate,
          seed: 7,
          chunkSize,
        });
        const zeroFraction = tf.mean(tf.cast(tf.equal(dropped, 0), 'float32')).dataSync()[0]!;
        // Binomial(total, 0.3): standard deviation of the fraction is ~0.002.
        expect(Math.abs(zeroFraction - rate)).toBeLessThan(0.01);
        const kept = tf.notEqual(dropped, 0);
        const keptScale = tf.where(
          kept,
          tf.fill(dropped.shape, 1 / (1 - rate)),
          tf.zerosLike(dropped),
        );
        expectClose(dropped, tf.mul(weights, keptScale), { rtol: 1e-5 });
        // Same seed, same mask; another seed, another mask.
        const again = scaledDotProductAttention(qq, kk, eye, {
          dropoutRate: rate,
          seed: 7,
          chunkSize,
        });
        expectClose(again, dropped, { rtol: 0, atol: 0 });
        const other = scaledDotProductAttention(qq, kk, eye, {
          dropoutRate: rate,
          seed: 8,
          chunkSize,
        });
        expect(tf.any(tf.notEqual(other, dropped)).dataSync()[0]).toBe(1);
      }
    });
  });

  it('dropout gradients agree with finite differences on the chunked path (mask replayed in backward)', () => {
    tf.tidy(() => {
      const qq = tf.randomNormal([1, 2, 3, 4], 0, 1, 'float32', 9) as tf.Tensor4D;
      const kk = tf.randomNormal([1, 2, 5, 4], 0, 1, 'float32', 10) as tf.Tensor4D;
      const vv = tf.randomNormal([1, 2, 5, 4], 0, 1, 'float32', 13) as tf.Tensor4D;
      const w = tf.randomNormal([1, 2, 3, 4], 0, 1, 'float32', 11);
      const f = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
        tf.sum(
          tf.mul(
            memoryEfficientAttention(fourD(a), fourD(b), fourD(c), {
              dropoutRate: 0.4,
              seed: 3,
              chunkSize: 2,
            }),
            w,
          ),
        ) as tf.Scalar;
      expectGradientsMatchFiniteDifferences(f, [qq, kk, vv]);
    });
  });

  it('plain and chunked gradients agree with finite differences', () => {
    tf.tidy(() => {
      const w = tf.randomNormal([2, 4, 5, 8], 0, 1, 'float32', 12);
      for (const chunkSize of [undefined, 4]) {
        const f = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
          tf.sum(
            tf.mul(
              scaledDotProductAttention(fourD(a), fourD(b), fourD(c), { causal: true, chunkSize }),
              w,
            ),
          ) as tf.Scalar;
        expectGradientsMatchFiniteDifferences(f, [q(), kv(), kv()]);
      }
    });
  });

  it('leaves no tensor behind, forward and backward, on every path', () => {
    const qq = q();
    const k = kv();
    const mask = tf.greater(tf.randomUniform([2, 1, 5, 6], 0, 1, 'float32', 3), 0.3);
    const variants: ScaledDotProductAttentionOptions[] = [
      {},
      { causal: true, mask },
      { causal: true, chunkSize: 2 },
      { mask, dropoutRate: 0.2, seed: 1, chunkSize: 4 },
      { dropoutRate: 0.2, seed: 1 },
    ];
    for (const options of variants) {
      expectNoLeak(() => scaledDotProductAttention(qq, k, k, options));
      expectNoLeak(() =>
        tf.grads((a, b, c) =>
          tf.sum(scaledDotProductAttention(fourD(a), fourD(b), fourD(c), options)),
        )([qq, k, k]),
      );
    }
    expectNoLeak(() => scaledDotProductAttention(qq, k, k, { mask, returnWeights: true }));
    expectNoLeak(() => memoryEfficientAttention(qq, k, k, { causal: true }));
    tf.dispose([qq, k, mask]);
  });
});

describeRejections('scaledDotProductAttention rejects bad input with a TfjsBlocksError', () => {
  const q = tf.zeros([2, 4, 5, 8]) as tf.Tensor4D;
  const k = tf.zeros([2, 2, 6, 8]) as tf.Tensor4D;
  return [
    [
      'rank-3 q',
      () => scaledDotProductAttention(tf.zeros([2, 5, 8]) as unknown as tf.Tensor4D, k, k),
      /q must be a float32 tensor of rank 4 \[batch, heads, tq, headDim\]; got rank 3, shape \[2, 5, 8\]/,
    ],
    [
      'int q',
      () => scaledDotProductAttention(tf.zeros([2, 4, 5, 8], 'int32') as tf.Tensor4D, k, k),
      /q must be a float32 tensor.*got a int32 tensor/,
    ],
    [
      'not a tensor',
      () => scaledDotProductAttention([1, 2] as unknown as tf.Tensor4D, k, k),
      /q must be a float32 tensor.*got an array/,
    ],
    [
      'heads not divisible',
      () =>
        scaledDotProductAttention(
          q,
          tf.zeros([2, 3, 6, 8]) as tf.Tensor4D,
          tf.zeros([2, 3, 6, 8]) as tf.Tensor4D,
        ),
      /k.shape\[1\] must be a divisor of q's head count 4.*got 3/,
    ],
    [
      'headDim mismatch',
      () => scaledDotProductAttention(q, tf.zeros([2, 2, 6, 7]) as tf.Tensor4D, k),
      /k.shape\[3\] must be q.shape\[3\] \(headDim\) = 8; got 7/,
    ],
    [
      'batch mismatch',
      () => scaledDotProductAttention(q, tf.zeros([3, 2, 6, 8]) as tf.Tensor4D, k),
      /k.shape\[0\] must be q.shape\[0\] \(batch\) = 2; got 3/,
    ],
    [
      'tk mismatch',
      () => scaledDotProductAttention(q, k, tf.zeros([2, 2, 5, 8]) as tf.Tensor4D),
      /v.shape\[2\] must be k.shape\[2\] \(tk\) = 6; got 5/,
    ],
    [
      'mask not broadcastable',
      () => scaledDotProductAttention(q, k, k, { mask: tf.ones([5, 5], 'bool') }),
      /options.mask must be broadcastable to \[2, 4, 5, 6\].*got shape \[5, 5\]/,
    ],
    [
      'mask of rank 5',
      () => scaledDotProductAttention(q, k, k, { mask: tf.ones([1, 1, 1, 5, 6], 'bool') }),
      /options.mask must be broadcastable.*got rank 5/,
    ],
    [
      'int mask',
      () => scaledDotProductAttention(q, k, k, { mask: tf.ones([5, 6], 'int32') }),
      /options.mask must be a float32 tensor/,
    ],
    [
      'dropout rate 1',
      () => scaledDotProductAttention(q, k, k, { dropoutRate: 1 }),
      /options.dropoutRate must be a finite number in \[0, 1\); got 1/,
    ],
    [
      'NaN scale',
      () => scaledDotProductAttention(q, k, k, { scale: Number.NaN }),
      /options.scale must be a finite number/,
    ],
    [
      'chunkSize 0',
      () => scaledDotProductAttention(q, k, k, { chunkSize: 0 }),
      /options.chunkSize must be an integer >= 1; got number 0/,
    ],
    [
      'weights from chunked',
      () => scaledDotProductAttention(q, k, k, { chunkSize: 2, returnWeights: true }),
      /options.returnWeights must be false when options.chunkSize is set/,
    ],
    [
      'empty dim',
      () => scaledDotProductAttention(tf.zeros([2, 4, 0, 8]) as tf.Tensor4D, k, k),
      /q must be a tensor with no empty dimension/,
    ],
  ];
});
