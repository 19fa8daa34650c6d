import * as tf from '@tensorflow/tfjs-core';
import { it } from 'vitest';
import {
  alibiBias,
  alibiSlopes,
  applyRotaryEmbedding,
  sinusoidalPositionEncoding,
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

interface Goldens {
  rope_default: GradientGolden & { options: { offset: number; base: number } };
  rope_offset: GradientGolden & { options: { offset: number; base: number } };
  rope_base: GradientGolden & { options: { offset: number; base: number } };
  alibi_slopes: Record<string, number[]>;
  alibi_bias: { numHeads: number; tq: number; tk: number; output: EncodedTensor };
  sinusoidal: { length: number; dim: number; output: EncodedTensor };
}
const goldens = loadGoldens<Goldens>('attention');
const TOL = { rtol: 1e-5, atol: 1e-6 };
const four = (x: tf.Tensor) => x as tf.Tensor4D;

describeEachBackend('applyRotaryEmbedding', () => {
  for (const name of ['rope_default', 'rope_offset', 'rope_base'] as const) {
    it(`${name} matches the Llama/NeoX reference, value and gradient`, () => {
      const golden = goldens[name];
      expectMatchesGolden(golden, ({ x }) => applyRotaryEmbedding(four(x!), golden.options), TOL);
    });
  }

  it('rotating one token at offset t equals row t of the full rotation (cached decoding)', () => {
    tf.tidy(() => {
      const x = tf.randomNormal([1, 2, 9, 8], 0, 1, 'float32', 1) as tf.Tensor4D;
      const full = applyRotaryEmbedding(x);
      const token = four(tf.slice(x, [0, 0, 6, 0], [-1, -1, 1, -1]));
      expectClose(
        applyRotaryEmbedding(token, { offset: 6 }),
        tf.slice(full, [0, 0, 6, 0], [-1, -1, 1, -1]),
        TOL,
      );
    });
  });

  it('preserves norms and has a gradient that matches finite differences', () => {
    tf.tidy(() => {
      const x = tf.randomNormal([1, 2, 5, 6], 0, 1, 'float32', 2) as tf.Tensor4D;
      expectClose(tf.norm(applyRotaryEmbedding(x, { offset: 3 })), tf.norm(x), { rtol: 1e-5 });
      const w = tf.randomNormal([1, 2, 5, 6], 0, 1, 'float32', 3);
      expectGradientsMatchFiniteDifferences(
        (a) => tf.sum(tf.mul(applyRotaryEmbedding(four(a), { offset: 2 }), w)) as tf.Scalar,
        [x],
      );
    });
  });

  it('leaves no tensor behind', () => {
    const x = tf.randomNormal([1, 2, 5, 8]) as tf.Tensor4D;
    expectNoLeak(() => applyRotaryEmbedding(x, { offset: 4 }));
    expectNoLeak(() => tf.grad((a) => tf.sum(applyRotaryEmbedding(four(a))))(x));
    x.dispose();
  });
});

describeEachBackend('ALiBi', () => {
  it('slopes match the authors’ construction for power-of-two and other head counts', () => {
    for (const [n, expected] of Object.entries(goldens.alibi_slopes)) {
      const slopes = alibiSlopes(Number(n));
      expectClose(slopes, expected, { rtol: 1e-6, atol: 0 });
      slopes.dispose();
    }
  });

  it('bias matches the reference with the query offset tk - tq', () => {
    const { numHeads, tq, tk, output } = goldens.alibi_bias;
    const bias = alibiBias(numHeads, tq, tk);
    expectClose(bias, decode(output), TOL);
    bias.dispose();
  });

  it('leaves no tensor behind', () => {
    expectNoLeak(() => alibiSlopes(12));
    expectNoLeak(() => alibiBias(6, 3, 5));
  });
});

describeEachBackend('sinusoidalPositionEncoding', () => {
  it('matches the Transformer paper’s table', () => {
    const { length, dim, output } = goldens.sinusoidal;
    const pe = sinusoidalPositionEncoding(length, dim);
    expectClose(pe, decode(output), TOL);
    pe.dispose();
  });

  it('leaves no tensor behind', () => {
    expectNoLeak(() => sinusoidalPositionEncoding(20, 8));
  });
});

describeRejections('positions reject bad input with a TfjsBlocksError', () => {
  return [
    [
      'odd headDim',
      () => applyRotaryEmbedding(tf.zeros([1, 2, 3, 5]) as tf.Tensor4D),
      /x.shape\[3\] must be an even headDim.*got 5/,
    ],
    [
      'rank-3 input',
      () => applyRotaryEmbedding(tf.zeros([2, 3, 4]) as unknown as tf.Tensor4D),
      /x must be a float32 tensor of rank 4/,
    ],
    [
      'negative offset',
      () => applyRotaryEmbedding(tf.zeros([1, 1, 2, 4]) as tf.Tensor4D, { offset: -1 }),
      /options.offset must be an integer >= 0; got number -1/,
    ],
    [
      'base 1',
      () => applyRotaryEmbedding(tf.zeros([1, 1, 2, 4]) as tf.Tensor4D, { base: 1 }),
      /options.base must be a finite number in \(1, inf\); got 1/,
    ],
    ['zero heads', () => alibiSlopes(0), /numHeads must be an integer >= 1; got number 0/],
    [
      'fractional heads',
      () => alibiBias(2.5, 2, 2),
      /numHeads must be an integer >= 1; got number 2.5/,
    ],
    ['odd dim', () => sinusoidalPositionEncoding(4, 7), /dim must be an even number; got 7/],
  ];
});
