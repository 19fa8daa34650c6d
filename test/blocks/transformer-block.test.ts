import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import {
  adamw,
  chain,
  clipByGlobalNorm,
  decoderLm,
  embed,
  feedForward,
  gpt2Config,
  initDecoderLm,
  initEmbedding,
  initFeedForward,
  initTransformerDecoderBlock,
  initTransformerEncoderBlock,
  llamaConfig,
  softmaxCrossEntropy,
  type TransformerBlockConfig,
  tiedOutputProjection,
  transformerDecoderBlock,
  transformerEncoderBlock,
} from '../../src/index';
import { describeEachBackend } from '../helpers/backends';
import { expectClose } from '../helpers/close';
import { expectGradientsMatchFiniteDifferences } from '../helpers/gradcheck';
import { expectNoLeak } from '../helpers/leaks';
import { flattenParams, trainParams } from '../helpers/params';
import { describeRejections } from '../helpers/rejections';

const ids = (values: number[][]) => tf.tensor2d(values, undefined, 'int32');
const blockConfig: TransformerBlockConfig = {
  dModel: 16,
  numHeads: 4,
  norm: { kind: 'rms' },
  feedForward: { hidden: 24, kind: 'gated', activation: 'silu' },
  rope: true,
};

describeEachBackend('embeddings, feed-forward and blocks', () => {
  it('embedding lookups and their gradient (scatter-add of repeated ids) match a one-hot reference', () => {
    tf.tidy(() => {
      const config = { numEmbeddings: 7, embeddingDim: 3 };
      const params = initEmbedding(config, 1);
      const tokens = ids([
        [1, 4, 1],
        [6, 0, 1],
      ]);
      const w = tf.randomNormal([2, 3, 3], 0, 1, 'float32', 2);
      const reference = (t: tf.Tensor) =>
        tf.matMul(tf.reshape(tf.oneHot(tf.reshape(tokens, [-1]), 7), [6, 7]), t as tf.Tensor2D);
      expectClose(tf.reshape(embed(config, params, tokens), [6, 3]), reference(params.table), {
        rtol: 0,
        atol: 0,
      });
      const ours = tf.grad((t: tf.Tensor) =>
        tf.sum(tf.mul(embed(config, { table: t as tf.Tensor2D }, tokens), w)),
      )(params.table);
      const expected = tf.grad((t: tf.Tensor) =>
        tf.sum(tf.mul(tf.reshape(reference(t), [2, 3, 3]), w)),
      )(params.table);
      expectClose(ours, expected, { rtol: 1e-6, atol: 1e-7 });
    });
  });

  it('tied output projection is x · tableᵀ', () => {
    tf.tidy(() => {
      const config = { numEmbeddings: 5, embeddingDim: 4 };
      const params = initEmbedding(config, 3);
      const x = tf.randomNormal([2, 3, 4], 0, 1, 'float32', 4);
      expectClose(
        tiedOutputProjection(config, params, x),
        tf.reshape(
          tf.matMul(tf.reshape(x, [6, 4]) as tf.Tensor2D, params.table, false, true),
          [2, 3, 5],
        ),
        { rtol: 1e-6 },
      );
    });
  });

  it('blocks have gradients that match finite differences', () => {
    tf.tidy(() => {
      const params = initTransformerDecoderBlock(blockConfig, 5);
      const x = tf.randomNormal([1, 3, 16], 0, 1, 'float32', 6);
      const w = tf.randomNormal([1, 3, 16], 0, 1, 'float32', 7);
      expectGradientsMatchFiniteDifferences(
        (a) =>
          tf.sum(
            tf.mul(transformerDecoderBlock(blockConfig, params, a as tf.Tensor3D), w),
          ) as tf.Scalar,
        [x],
      );
    });
  });

  it('GQA with kvHeads == heads is plain multi-head attention; parallel residual is its own layout', () => {
    tf.tidy(() => {
      const withKv = { ...blockConfig, numKvHeads: 4 };
      const params = initTransformerEncoderBlock(withKv, 8);
      const x = tf.randomNormal([2, 5, 16], 0, 1, 'float32', 9) as tf.Tensor3D;
      expectClose(
        transformerEncoderBlock(withKv, params, x),
        transformerEncoderBlock(blockConfig, params, x),
        { rtol: 0, atol: 0 },
      );
      const parallel = transformerEncoderBlock(
        { ...blockConfig, normPosition: 'parallel' },
        params,
        x,
      );
      const sequential = transformerEncoderBlock(blockConfig, params, x);
      expect(tf.max(tf.abs(tf.sub(parallel, sequential))).dataSync()[0]).toBeGreaterThan(1e-4);
    });
  });

  it('dropout is active only in training, and seeded', () => {
    tf.tidy(() => {
      const config = { ...blockConfig, dropoutRate: 0.5 };
      const params = initTransformerEncoderBlock(config, 10);
      const x = tf.randomNormal([2, 5, 16], 0, 1, 'float32', 11) as tf.Tensor3D;
      expectClose(
        transformerEncoderBlock(config, params, x),
        transformerEncoderBlock(blockConfig, params, x),
        { rtol: 0, atol: 0 },
      );
      const a = transformerEncoderBlock(config, params, x, { training: true, seed: 3 });
      const b = transformerEncoderBlock(config, params, x, { training: true, seed: 3 });
      expectClose(a, b, { rtol: 0, atol: 0 });
      expect(
        tf.max(tf.abs(tf.sub(a, transformerEncoderBlock(blockConfig, params, x)))).dataSync()[0],
      ).toBeGreaterThan(1e-3);
    });
  });

  it('a GPT-2-style and a Llama-style model learn a repeating sequence with adamw', () => {
    for (const config of [
      gpt2Config({ vocabSize: 8, maxLength: 8, dModel: 16, numLayers: 1, numHeads: 2 }),
      llamaConfig({
        vocabSize: 8,
        maxLength: 8,
        dModel: 16,
        numLayers: 1,
        numHeads: 4,
        numKvHeads: 2,
        hidden: 24,
      }),
    ]) {
      const initial = initDecoderLm(config, 0);
      const input = ids([[0, 1, 2, 3, 0, 1, 2]]);
      const target = ids([[1, 2, 3, 0, 1, 2, 3]]);
      const before = tf.memory().numTensors;
      const { params, first, last } = trainParams(
        initial,
        (p) => softmaxCrossEntropy(decoderLm(config, p, input), target) as tf.Scalar,
        chain(clipByGlobalNorm(1), adamw({ learningRate: 3e-2, weightDecay: 0 })),
        40,
      );
      expect(last).toBeLessThan(first * 0.3);
      // 40 steps keep exactly one set of params alive besides the initial one.
      const trained = Object.values(flattenParams(params));
      expect(tf.memory().numTensors).toBe(before + trained.length);
      tf.dispose([input, target, trained, Object.values(flattenParams(initial))]);
    }
  });

  it('leaves no tensor behind', () => {
    const params = initTransformerDecoderBlock(blockConfig, 1, { withCrossAttention: true });
    const x = tf.randomNormal([2, 4, 16]) as tf.Tensor3D;
    const context = tf.randomNormal([2, 6, 16]) as tf.Tensor3D;
    expectNoLeak(() => transformerDecoderBlock(blockConfig, params, x, { context }));
    expectNoLeak(() =>
      tf.grad((a) =>
        tf.sum(transformerDecoderBlock(blockConfig, params, a as tf.Tensor3D, { context })),
      )(x),
    );
    const ff = { dModel: 16, hidden: 32, kind: 'mlp', activation: 'gelu' } as const;
    const ffParams = initFeedForward(ff, 2);
    expectNoLeak(() => feedForward(ff, ffParams, x));
    const config = gpt2Config({
      vocabSize: 10,
      maxLength: 8,
      dModel: 16,
      numLayers: 2,
      numHeads: 4,
    });
    const lm = initDecoderLm(config, 0);
    const tokens = ids([[1, 2, 3]]);
    expectNoLeak(() => decoderLm(config, lm, tokens));
    expectNoLeak(() => initDecoderLm(config, 1));
    tf.dispose([params, x, context, ffParams, lm, tokens] as tf.TensorContainer);
  });
});

describeRejections('blocks and models reject bad configs with a TfjsBlocksError', () => [
  [
    'dModel not divisible by heads',
    () => initTransformerEncoderBlock({ ...blockConfig, numHeads: 5 }, 0),
    /config.numHeads must be a divisor of dModel \(16\), or config.headDim given; got 5/,
  ],
  [
    'unknown norm',
    () => initTransformerEncoderBlock({ ...blockConfig, norm: { kind: 'batch' } as never }, 0),
    /config.norm.kind must be 'layer' or 'rms'; got batch/,
  ],
  [
    'negative dropout',
    () => initTransformerDecoderBlock({ ...blockConfig, dropoutRate: -0.1 }, 0),
    /config.dropoutRate must be a finite number in \[0, 1\); got -0.1/,
  ],
  [
    'unknown activation',
    () => initFeedForward({ dModel: 4, hidden: 8, kind: 'mlp', activation: 'tanh' as never }, 0),
    /config.activation must be 'gelu', 'gelu-tanh', 'relu', 'silu'; got tanh/,
  ],
  [
    'token id out of range',
    () => {
      const config = { numEmbeddings: 4, embeddingDim: 2 };
      return embed(config, initEmbedding(config, 0), ids([[4]]));
    },
    /ids must be an int32 tensor of shape \[1, 1\] with values in \[0, 4\); got 4/,
  ],
  [
    'sequence longer than maxLength',
    () => {
      const config = gpt2Config({
        vocabSize: 4,
        maxLength: 2,
        dModel: 8,
        numLayers: 1,
        numHeads: 2,
      });
      decoderLm(config, initDecoderLm(config, 0), ids([[1, 2, 3]]));
    },
    /ids.shape\[1\] must be at most config.maxLength = 2; got 3/,
  ],
]);
