// TransformerBlockConfig.headDim: a per-head width other than dModel / numHeads
// (Gemma: 8 heads × 256 on a 2048-wide stream), through the block, decoderLm,
// its cached forward and generate's KV cache.
import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import {
  type DecoderCache,
  type DecoderLmConfig,
  decoderLm,
  generate,
  initAttentionCache,
  initDecoderLm,
  initTransformerDecoderBlock,
  modelCost,
  multiHeadAttention,
  rmsNorm,
  feedForward as runFeedForward,
  type TransformerBlockConfig,
  transformerDecoderBlock,
} from '../../src/index';
import { describeEachBackend } from '../helpers/backends';
import { expectClose } from '../helpers/close';
import { expectNoLeak } from '../helpers/leaks';
import { thrownWithoutLeak } from '../helpers/rejections';

const TOL = { rtol: 1e-4, atol: 1e-5 };

// dModel 10 is not a multiple of 4 heads: only headDim makes this config valid.
const block: TransformerBlockConfig = {
  dModel: 10,
  numHeads: 4,
  numKvHeads: 2,
  headDim: 6,
  norm: { kind: 'rms' },
  feedForward: { hidden: 12, kind: 'gated', activation: 'gelu-tanh' },
  attentionBias: false,
  rope: true,
};

const lm: DecoderLmConfig = {
  vocabSize: 13,
  maxLength: 12,
  numLayers: 2,
  positions: 'rope',
  tieEmbeddings: true,
  block,
};

describeEachBackend('headDim in blocks and decoderLm', () => {
  it('the projections are numHeads · headDim wide, and the block == its parts composed', () => {
    const params = initTransformerDecoderBlock(block, 3);
    expect(params.attention.query.kernel.shape).toEqual([10, 24]);
    expect(params.attention.key.kernel.shape).toEqual([10, 12]);
    expect(params.attention.value.kernel.shape).toEqual([10, 12]);
    expect(params.attention.output.kernel.shape).toEqual([24, 10]);
    const x = tf.randomNormal([2, 5, 10], 0, 1, 'float32', 7) as tf.Tensor3D;
    const y = transformerDecoderBlock(block, params, x);
    const expected = tf.tidy(() => {
      const attention = { dModel: 10, numHeads: 4, numKvHeads: 2, headDim: 6, useBias: false };
      const a = multiHeadAttention(
        attention,
        params.attention,
        rmsNorm(x, params.attentionNorm.gamma),
        { causal: true, rope: true },
      );
      const h = tf.add(x, a);
      const f = runFeedForward(
        { dModel: 10, ...block.feedForward },
        params.feedForward,
        rmsNorm(h, params.feedForwardNorm.gamma),
      );
      return tf.add(h, f);
    });
    expectClose(y, expected, TOL);
    expectNoLeak(() => transformerDecoderBlock(block, params, x));
    tf.dispose([params, x, y, expected]);
  });

  it('headDim = dModel / numHeads given explicitly is the default', () => {
    const plain: TransformerBlockConfig = { ...block, dModel: 8, numHeads: 4, headDim: undefined };
    const explicit: TransformerBlockConfig = { ...plain, headDim: 2 };
    const params = initTransformerDecoderBlock(plain, 1);
    const x = tf.randomNormal([1, 3, 8], 0, 1, 'float32', 2) as tf.Tensor3D;
    const a = transformerDecoderBlock(plain, params, x);
    const b = transformerDecoderBlock(explicit, params, x);
    expectClose(b, a, { rtol: 0, atol: 0 });
    tf.dispose([params, x, a, b]);
  });

  it('decoderLm with a cache of [batch, kvHeads, capacity, headDim] == the whole sequence', () => {
    const params = initDecoderLm(lm, 0);
    const ids = [[3, 1, 4, 1, 5, 9]];
    const full = decoderLm(lm, params, tf.tensor2d(ids, undefined, 'int32'));
    const attention = { dModel: 10, numHeads: 4, numKvHeads: 2, headDim: 6 };
    let cache: DecoderCache = {
      self: [0, 1].map(() => initAttentionCache(attention, 1, 6)),
      index: 0,
    };
    expect(cache.self[0]!.key.shape).toEqual([1, 2, 6, 6]);
    const parts: tf.Tensor[] = [];
    for (const t of [3, 1, 2]) {
      const chunk = tf.tensor2d([ids[0]!.slice(cache.index, cache.index + t)], undefined, 'int32');
      expectNoLeak(() => decoderLm(lm, params, chunk, { cache }));
      const step = decoderLm(lm, params, chunk, { cache });
      tf.dispose([chunk, ...cache.self.flatMap((l) => [l.key, l.value])]);
      parts.push(step.logits);
      cache = { self: step.cache.self, index: cache.index + t };
    }
    const cached = tf.concat(parts, 1);
    expectClose(cached, full, TOL);
    tf.dispose([params, full, cached, ...parts, ...cache.self.flatMap((l) => [l.key, l.value])]);
  });

  it('generate allocates its KV cache with headDim: cached == uncached, and leaves nothing', async () => {
    const params = initDecoderLm(lm, 4);
    const model = { kind: 'decoderLm', config: lm, params } as const;
    const before = tf.memory().numTensors;
    const prompts = [
      [1, 2, 3],
      [4, 5],
    ];
    const cached = await generate(model, prompts, { maxNewTokens: 5, temperature: 0 });
    const uncached = await generate(model, prompts, {
      maxNewTokens: 5,
      temperature: 0,
      useCache: false,
    });
    expect(cached).toEqual(uncached);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose(params);
  });
});

it('modelCost counts attention projections of numHeads · headDim', () => {
  const cost = modelCost(lm);
  // q: 10·24, k and v: 10·12 each, o: 24·10, per layer.
  expect(cost.parameters.attention).toBe(2 * (240 + 120 + 120 + 240));
});

it('rejects a bad headDim, naming it', () => {
  const x = tf.zeros([1, 2, 10]) as tf.Tensor3D;
  const params = initTransformerDecoderBlock(block, 0);
  for (const headDim of [0, 1.5, '6']) {
    const bad = { ...block, headDim } as unknown as TransformerBlockConfig;
    expect(thrownWithoutLeak(() => transformerDecoderBlock(bad, params, x)).argument).toBe(
      'config.headDim',
    );
    expect(thrownWithoutLeak(() => initDecoderLm({ ...lm, block: bad }, 0)).argument).toBe(
      'config.block.headDim',
    );
  }
  // Without headDim, numHeads must divide dModel, and the message says headDim is the way out.
  const noHeadDim = { ...block, headDim: undefined };
  const error = thrownWithoutLeak(() => initTransformerDecoderBlock(noHeadDim, 0));
  expect(error.argument).toBe('config.numHeads');
  expect(error.message).toMatch(/headDim/);
  // Params made for another headDim are named by the attention check.
  const other = { ...block, headDim: 4 };
  expect(thrownWithoutLeak(() => transformerDecoderBlock(other, params, x)).argument).toMatch(
    /params\.query/,
  );
  tf.dispose([x, params]);
});
