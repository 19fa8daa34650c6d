import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import { it } from 'vitest';
import {
  feedForward,
  initFeedForward,
  initMultiHeadAttention,
  multiHeadAttention,
  rmsNorm,
} from '../../src/index';
import { FeedForward, MultiHeadAttention, RMSNormalization } from '../../src/layers/index';
import { describeEachBackend } from '../helpers/backends';
import { expectClose } from '../helpers/close';
import { randn, runs } from './support';

const TOL = { rtol: 1e-5, atol: 1e-6 };

/** Input sizes: batch 1-3, time 1-9. */
const batchTime = {
  batch: fc.integer({ min: 1, max: 3 }),
  time: fc.integer({ min: 1, max: 9 }),
  seed: fc.integer({ min: 0, max: 10_000 }),
};

// Each layer builds its weights with the functional init and its own seed, so
// the functional core on the same seed's params is the reference.
describeEachBackend('property: Layer == functional core', () => {
  it('MultiHeadAttention layer == multiHeadAttention (20 runs)', () => {
    fc.assert(
      fc.property(
        fc.record({
          ...batchTime,
          numHeads: fc.constantFrom(1, 2, 4),
          kvDivisor: fc.constantFrom(1, 2, 4),
          headDim: fc.integer({ min: 1, max: 8 }),
          causal: fc.boolean(),
          rope: fc.boolean(),
          useBias: fc.boolean(),
        }),
        ({ batch, time, seed, numHeads, kvDivisor, headDim, causal, rope, useBias }) => {
          const numKvHeads = numHeads % kvDivisor === 0 ? numHeads / kvDivisor : numHeads;
          const dModel = numHeads * headDim;
          // RoPE needs an even head width.
          const withRope = rope && headDim % 2 === 0;
          const layer = new MultiHeadAttention({
            numHeads,
            numKvHeads,
            causal,
            rope: withRope,
            useBias,
            seed,
          });
          const config = { dModel, numHeads, numKvHeads, useBias };
          const params = initMultiHeadAttention(config, seed);
          try {
            tf.tidy(() => {
              const x = randn([batch, time, dModel], seed + 1) as tf.Tensor3D;
              const expected = multiHeadAttention(config, params, x, { causal, rope: withRope });
              expectClose(layer.apply(x) as tf.Tensor, expected, TOL);
            });
          } finally {
            layer.dispose();
            tf.dispose(params as unknown as tf.TensorContainer);
          }
        },
      ),
      runs(20),
    );
  });

  it('RMSNormalization layer == rmsNorm with unit scale (20 runs)', () => {
    fc.assert(
      fc.property(
        fc.record({
          ...batchTime,
          features: fc.integer({ min: 1, max: 16 }),
          epsilon: fc.constantFrom(1e-6, 1e-5, 1e-3, 0.5),
          std: fc.constantFrom(1e-3, 1, 100),
        }),
        ({ batch, time, seed, features, epsilon, std }) => {
          const layer = new RMSNormalization({ epsilon });
          try {
            tf.tidy(() => {
              const x = randn([batch, time, features], seed, std);
              const expected = rmsNorm(x, tf.ones([features]), { epsilon });
              expectClose(layer.apply(x) as tf.Tensor, expected, TOL);
            });
          } finally {
            layer.dispose();
          }
        },
      ),
      runs(20),
    );
  });

  it('FeedForward layer == feedForward (20 runs)', () => {
    fc.assert(
      fc.property(
        fc.record({
          ...batchTime,
          dModel: fc.integer({ min: 1, max: 8 }),
          hidden: fc.integer({ min: 1, max: 16 }),
          kind: fc.constantFrom('mlp' as const, 'gated' as const),
          activation: fc.constantFrom('gelu' as const, 'silu' as const, 'relu' as const),
        }),
        ({ batch, time, seed, dModel, hidden, kind, activation }) => {
          const layer = new FeedForward({ hidden, kind, activation, seed });
          const config = { dModel, hidden, kind, activation };
          const params = initFeedForward(config, seed);
          try {
            tf.tidy(() => {
              const x = randn([batch, time, dModel], seed + 1);
              expectClose(layer.apply(x) as tf.Tensor, feedForward(config, params, x), TOL);
            });
          } finally {
            layer.dispose();
            tf.dispose(params as unknown as tf.TensorContainer);
          }
        },
      ),
      runs(20),
    );
  });
});
