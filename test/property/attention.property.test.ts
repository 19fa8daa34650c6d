import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import { it } from 'vitest';
import {
  memoryEfficientAttention,
  type ScaledDotProductAttentionOptions,
  scaledDotProductAttention,
} from '../../src/index';
import { describeEachBackend } from '../helpers/backends';
import { expectClose } from '../helpers/close';
import { type Attend, attendValueAndGrads, randn, randomMask, repeatHeads, runs } from './support';

const TOL = { rtol: 1e-4, atol: 2e-5 };

/** Sizes of one attention call: batch 1-3, kv heads 1-2 times groups 1-2, time 1-9, headDim 1-8. */
const dims = fc.record({
  batch: fc.integer({ min: 1, max: 3 }),
  kvHeads: fc.integer({ min: 1, max: 2 }),
  groups: fc.integer({ min: 1, max: 2 }),
  tq: fc.integer({ min: 1, max: 9 }),
  tk: fc.integer({ min: 1, max: 9 }),
  headDim: fc.integer({ min: 1, max: 8 }),
  valueDim: fc.integer({ min: 1, max: 8 }),
});

/** Which broadcastable shape the boolean mask takes, if any. */
const maskKinds = [
  'none',
  '[tq, tk]',
  '[b, 1, tq, tk]',
  '[1, h, tq, tk]',
  '[b, h, tq, tk]',
  '[tk]',
  '[tq, 1]',
  '[b, 1, 1, tk]',
];

const cases = fc.record({
  dims,
  causal: fc.boolean(),
  maskKind: fc.constantFrom(...maskKinds),
  keep: fc.constantFrom(0.3, 0.7, 1),
  chunkSize: fc.integer({ min: 1, max: 10 }),
  seed: fc.integer({ min: 0, max: 10_000 }),
});

type Case = typeof cases extends fc.Arbitrary<infer C> ? C : never;

function maskShape(c: Case): number[] | undefined {
  const { batch, kvHeads, groups, tq, tk } = c.dims;
  const h = kvHeads * groups;
  return {
    none: undefined,
    '[tq, tk]': [tq, tk],
    '[b, 1, tq, tk]': [batch, 1, tq, tk],
    '[1, h, tq, tk]': [1, h, tq, tk],
    '[b, h, tq, tk]': [batch, h, tq, tk],
    '[tk]': [tk],
    '[tq, 1]': [tq, 1],
    '[b, 1, 1, tk]': [batch, 1, 1, tk],
  }[c.maskKind];
}

function inputs(c: Case) {
  const { batch, kvHeads, groups, tq, tk, headDim, valueDim } = c.dims;
  const q = randn([batch, kvHeads * groups, tq, headDim], c.seed) as tf.Tensor4D;
  const k = randn([batch, kvHeads, tk, headDim], c.seed + 1) as tf.Tensor4D;
  const v = randn([batch, kvHeads, tk, valueDim], c.seed + 2) as tf.Tensor4D;
  const cotangent = randn([batch, kvHeads * groups, tq, valueDim], c.seed + 3);
  const shape = maskShape(c);
  const mask = shape ? randomMask(shape, c.seed + 4, c.keep) : undefined;
  return { q, k, v, cotangent, mask };
}

const plain: Attend = (q, k, v, o) => scaledDotProductAttention(q, k, v, o);

describeEachBackend('property: attention paths agree', () => {
  it('memoryEfficientAttention == scaledDotProductAttention (values and gradients; 60 runs)', () => {
    fc.assert(
      fc.property(cases, (c) => {
        tf.tidy(() => {
          const { q, k, v, cotangent, mask } = inputs(c);
          const options = { causal: c.causal, mask };
          const reference = attendValueAndGrads(plain, [q, k, v], cotangent, options);
          const chunked = attendValueAndGrads(
            (a, b, d, o) => memoryEfficientAttention(a, b, d, { ...o, chunkSize: c.chunkSize }),
            [q, k, v],
            cotangent,
            options,
          );
          expectClose(chunked.output, reference.output, TOL);
          reference.grads.forEach((g, i) => {
            expectClose(chunked.grads[i]!, g, TOL);
          });
        });
      }),
      runs(60),
    );
  });

  it('grouped-query attention == plain attention with k/v heads repeated (values and gradients; 60 runs)', () => {
    fc.assert(
      fc.property(cases, fc.boolean(), (c, chunked) => {
        tf.tidy(() => {
          const { q, k, v, cotangent, mask } = inputs(c);
          const { groups } = c.dims;
          const options: ScaledDotProductAttentionOptions = {
            causal: c.causal,
            mask,
            ...(chunked ? { chunkSize: c.chunkSize } : {}),
          };
          const gqa = attendValueAndGrads(plain, [q, k, v], cotangent, options);
          // The reference: MHA on repeated heads; the k/v gradient sums over each group.
          const mha = attendValueAndGrads(
            (a, b, d, o) =>
              scaledDotProductAttention(a, repeatHeads(b, groups), repeatHeads(d, groups), {
                ...o,
                chunkSize: undefined,
              }),
            [q, k, v],
            cotangent,
            options,
          );
          expectClose(gqa.output, mha.output, TOL);
          gqa.grads.forEach((g, i) => {
            expectClose(g, mha.grads[i]!, TOL);
          });
        });
      }),
      runs(60),
    );
  });
});

describeEachBackend(
  'regression: grouped-query attention with a mask that broadcasts over queries',
  () => {
    // Shrunk counterexample of the GQA property: a [tk] mask with 2 query heads per
    // kv head threw a tfjs reshape error ("Size(4) must match the product of shape
    // 1,1,2,1,1"), because addBias took tq from the mask's shape instead of the scores'.
    it('mask [tk] = [false], groups 2, tq 2, tk 1 (both paths)', () => {
      tf.tidy(() => {
        const q = tf.tensor4d([0.5, -1, 2, 0.25], [1, 2, 2, 1]);
        const k = tf.tensor4d([1], [1, 1, 1, 1]);
        const v = tf.tensor4d([3], [1, 1, 1, 1]);
        const mask = tf.tensor1d([false], 'bool');
        const expected = tf.zeros([1, 2, 2, 1]); // every key masked: zero rows
        expectClose(scaledDotProductAttention(q, k, v, { mask }), expected, TOL);
        expectClose(memoryEfficientAttention(q, k, v, { mask, chunkSize: 1 }), expected, TOL);
        const open = tf.tensor1d([true], 'bool');
        expectClose(
          scaledDotProductAttention(q, k, v, { mask: open }),
          tf.fill([1, 2, 2, 1], 3),
          TOL,
        );
      });
    });

    it('mask [tq, 1] (broadcast over keys), groups 2, chunked over 3 keys', () => {
      tf.tidy(() => {
        const q = randn([1, 4, 3, 2], 1) as tf.Tensor4D;
        const k = randn([1, 2, 3, 2], 2) as tf.Tensor4D;
        const v = randn([1, 2, 3, 2], 3) as tf.Tensor4D;
        const mask = tf.tensor2d([[true], [false], [true]], [3, 1], 'bool');
        const reference = scaledDotProductAttention(q, repeatHeads(k, 2), repeatHeads(v, 2), {
          mask,
        });
        expectClose(scaledDotProductAttention(q, k, v, { mask }), reference, TOL);
        expectClose(memoryEfficientAttention(q, k, v, { mask, chunkSize: 2 }), reference, TOL);
      });
    });
  },
);
