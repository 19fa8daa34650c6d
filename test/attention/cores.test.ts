// The unchecked attention cores (what a validated model runs per token):
// the same values as the checked functions, and no leak.
import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import {
  type CachedAttentionOptions,
  initAttentionCache,
  initMultiHeadAttention,
  multiHeadAttention,
  multiHeadAttentionCore,
} from '../../src/attention/multi-head-attention';
import {
  applyRotaryEmbedding,
  applyRotaryEmbeddingCore,
} from '../../src/attention/rotary-embedding';
import {
  attentionUnchecked,
  scaledDotProductAttention,
} from '../../src/attention/scaled-dot-product-attention';
import { treeLeaves } from '../../src/tree/leaves';
import { describeEachBackend } from '../helpers/backends';
import { expectNoLeak } from '../helpers/leaks';

const values = (t: tf.Tensor) => Array.from(t.dataSync());

describeEachBackend('attention unchecked cores', () => {
  it('attentionUnchecked == scaledDotProductAttention (GQA, causal, window, masks)', () => {
    const q = tf.randomNormal([2, 4, 5, 8], 0, 1, 'float32', 1) as tf.Tensor4D;
    const k = tf.randomNormal([2, 2, 5, 8], 0, 1, 'float32', 2) as tf.Tensor4D;
    const v = tf.randomNormal([2, 2, 5, 8], 0, 1, 'float32', 3) as tf.Tensor4D;
    const bool = tf.tensor([true, true, false, true, true], [1, 1, 1, 5], 'bool');
    const additive = tf.randomNormal([2, 1, 5, 5], 0, 1, 'float32', 4);
    for (const options of [
      {},
      { causal: true },
      { causal: true, slidingWindow: 2 },
      { mask: bool, scale: 0.3 },
      { mask: additive, causal: true },
    ]) {
      const checked = scaledDotProductAttention(q, k, v, options);
      const core = attentionUnchecked(q, k, v, options);
      expect(values(core)).toEqual(values(checked));
      tf.dispose([checked, core]);
      expectNoLeak(() => attentionUnchecked(q, k, v, options));
    }
    tf.dispose([q, k, v, bool, additive]);
  });

  it('applyRotaryEmbeddingCore == applyRotaryEmbedding', () => {
    const x = tf.randomNormal([1, 2, 3, 8], 0, 1, 'float32', 5) as tf.Tensor4D;
    for (const options of [{}, { offset: 7 }, { base: 500, offset: 2 }]) {
      const checked = applyRotaryEmbedding(x, options);
      const core = applyRotaryEmbeddingCore(x, options);
      expect(values(core)).toEqual(values(checked));
      tf.dispose([checked, core]);
      expectNoLeak(() => applyRotaryEmbeddingCore(x, options));
    }
    x.dispose();
  });

  it('multiHeadAttentionCore == multiHeadAttention, without and with a cache', () => {
    const config = { dModel: 8, numHeads: 4, numKvHeads: 2 };
    const full = {
      ...config,
      headDim: 2,
      contextDim: 8,
      useBias: true,
      outputBias: true,
    };
    const params = initMultiHeadAttention(config, 6);
    const x = tf.randomNormal([2, 3, 8], 0, 1, 'float32', 7) as tf.Tensor3D;
    const options = { causal: true, rope: true };
    const checked = multiHeadAttention(config, params, x, options);
    const core = multiHeadAttentionCore(full, params, x, options, undefined, undefined);
    expect(values(core as tf.Tensor)).toEqual(values(checked));
    tf.dispose([checked, core as tf.Tensor]);
    expectNoLeak(() => multiHeadAttentionCore(full, params, x, options, undefined, undefined));

    const cache = initAttentionCache(config, 2, 6);
    const cachedOptions: CachedAttentionOptions = { ...options, cache, cacheUpdateIndex: 1 };
    const c = multiHeadAttention(config, params, x, { ...options, cache, cacheUpdateIndex: 1 });
    const u = multiHeadAttentionCore(
      full,
      params,
      x,
      cachedOptions,
      { cache, index: 1 },
      undefined,
    ) as typeof c;
    expect(values(u.output)).toEqual(values(c.output));
    expect(values(u.cache.key)).toEqual(values(c.cache.key));
    expect(values(u.cache.value)).toEqual(values(c.cache.value));
    tf.dispose([c.output, c.cache.key, c.cache.value, u.output, u.cache.key, u.cache.value]);
    expectNoLeak(
      () =>
        multiHeadAttentionCore(full, params, x, cachedOptions, { cache, index: 1 }, undefined) as {
          output: tf.Tensor;
        },
    );
    tf.dispose([x, cache.key, cache.value, ...treeLeaves(params)]);
  });
});
