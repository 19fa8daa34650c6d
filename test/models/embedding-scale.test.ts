// DecoderLmConfig.embeddingScale: token embeddings multiplied before the
// first block (Gemma: sqrt(dModel)), the tied output projection unchanged.
import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import {
  type DecoderCache,
  type DecoderLmConfig,
  type DecoderLmParams,
  decoderLm,
  initAttentionCache,
  initDecoderLm,
} from '../../src/index';
import { describeEachBackend } from '../helpers/backends';
import { expectClose } from '../helpers/close';
import { expectNoLeak } from '../helpers/leaks';
import { thrownWithoutLeak } from '../helpers/rejections';

const SCALE = Math.sqrt(8);
const config: DecoderLmConfig = {
  vocabSize: 9,
  maxLength: 8,
  numLayers: 2,
  positions: 'rope',
  tieEmbeddings: true,
  embeddingScale: SCALE,
  block: {
    dModel: 8,
    numHeads: 2,
    norm: { kind: 'rms', unitOffset: true },
    feedForward: { hidden: 16, kind: 'gated', activation: 'gelu-tanh' },
    attentionBias: false,
  },
};

describeEachBackend('decoderLm embeddingScale', () => {
  it('== an unscaled model whose input table is scaled and whose untied head is the table', () => {
    const params = initDecoderLm(config, 3);
    // Equivalent model: input table s·E, separate head Eᵀ, no scale.
    const { embeddingScale: _, ...unscaled } = config;
    const untied: DecoderLmConfig = { ...unscaled, tieEmbeddings: false };
    const table = params.tokenEmbedding.table;
    const equivalent: DecoderLmParams = {
      ...params,
      tokenEmbedding: { table: tf.mul(table, SCALE) as tf.Tensor2D },
      lmHead: { kernel: tf.transpose(table) as tf.Tensor2D },
    };
    const ids = tf.tensor2d(
      [
        [1, 4, 2, 8],
        [0, 3, 3, 7],
      ],
      undefined,
      'int32',
    );
    const scaled = decoderLm(config, params, ids);
    const expected = decoderLm(untied, equivalent, ids);
    expectClose(scaled, expected, { rtol: 1e-5, atol: 1e-5 });
    // And the scale matters: without it the logits differ.
    const plain = decoderLm(unscaled, params, ids);
    expect(tf.max(tf.abs(tf.sub(plain, scaled))).dataSync()[0]).toBeGreaterThan(1e-3);
    expectNoLeak(() => decoderLm(config, params, ids));
    tf.dispose([params, equivalent.tokenEmbedding, equivalent.lmHead!, ids, scaled]);
    tf.dispose([expected, plain]);
  });

  it('the cached forward scales the new tokens the same way', () => {
    const params = initDecoderLm(config, 5);
    const ids = [[2, 7, 1, 8, 2]];
    const full = decoderLm(config, params, tf.tensor2d(ids, undefined, 'int32'));
    let cache: DecoderCache = {
      self: [0, 1].map(() => initAttentionCache({ dModel: 8, numHeads: 2 }, 1, 5)),
      index: 0,
    };
    const parts: tf.Tensor[] = [];
    for (const t of [3, 1, 1]) {
      const chunk = tf.tensor2d([ids[0]!.slice(cache.index, cache.index + t)], undefined, 'int32');
      const step = decoderLm(config, params, chunk, { cache });
      tf.dispose([chunk, ...cache.self.flatMap((l) => [l.key, l.value])]);
      parts.push(step.logits);
      cache = { self: step.cache.self, index: cache.index + t };
    }
    const cached = tf.concat(parts, 1);
    expectClose(cached, full, { rtol: 1e-4, atol: 1e-5 });
    tf.dispose([params, full, cached, ...parts, ...cache.self.flatMap((l) => [l.key, l.value])]);
  });
});

it('rejects a bad embeddingScale, naming it, before any tensor is made', () => {
  const params = initDecoderLm(config, 0);
  const ids = tf.tensor2d([[1, 2]], undefined, 'int32');
  for (const embeddingScale of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, '2']) {
    const bad = { ...config, embeddingScale } as unknown as DecoderLmConfig;
    expect(thrownWithoutLeak(() => decoderLm(bad, params, ids)).argument).toBe(
      'config.embeddingScale',
    );
    expect(thrownWithoutLeak(() => initDecoderLm(bad, 0)).argument).toBe('config.embeddingScale');
  }
  tf.dispose([params, ids]);
});
