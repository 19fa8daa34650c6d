// multiHeadAttention with a key/value cache (issue 17, item 3): the cached
// forward is the training forward plus a cache, so attention over k steps
// of a sequence equals attention over the whole sequence.
import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import {
  type AttentionCache,
  alibiBias,
  contextAttentionCache,
  initAttentionCache,
  initMultiHeadAttention,
  type MultiHeadAttentionConfig,
  type MultiHeadAttentionParams,
  multiHeadAttention,
} from '../../src/index';
import { describeEachBackend } from '../helpers/backends';
import { expectClose } from '../helpers/close';
import { expectNoLeak } from '../helpers/leaks';
import { thrownWithoutLeak } from '../helpers/rejections';

const TIME = 7;
const CHUNKS = [3, 1, 2, 1]; // a prefill, then single tokens and a pair
const TOL = { rtol: 1e-4, atol: 1e-5 };

type Variant = { name: string; config: MultiHeadAttentionConfig; rope?: boolean; alibi?: boolean };
const VARIANTS: Variant[] = [
  { name: 'GQA (8 heads, 2 kv heads)', config: { dModel: 32, numHeads: 8, numKvHeads: 2 } },
  { name: 'RoPE', config: { dModel: 32, numHeads: 4 }, rope: true },
  {
    name: 'GQA + RoPE, no biases',
    config: { dModel: 32, numHeads: 4, numKvHeads: 1, useBias: false },
    rope: true,
  },
  { name: 'ALiBi', config: { dModel: 32, numHeads: 4 }, alibi: true },
];

/** ALiBi's bias for `t` queries at `index …` over `capacity` cache slots (unwritten slots get 0). */
function alibiOver(heads: number, t: number, index: number, capacity: number): tf.Tensor {
  const bias = alibiBias(heads, t, index + t);
  if (index + t === capacity) return bias;
  return tf.concat([bias, tf.zeros([1, heads, t, capacity - index - t])], 3);
}

/** The whole sequence at once, then the same sequence in CHUNKS through a cache. */
function fullAndCached(variant: Variant, params: MultiHeadAttentionParams, x: tf.Tensor3D) {
  const heads = variant.config.numHeads;
  return tf.tidy(() => {
    const full = multiHeadAttention(variant.config, params, x, {
      causal: true,
      rope: variant.rope,
      mask: variant.alibi ? alibiBias(heads, TIME, TIME) : undefined,
    });
    let cache: AttentionCache = initAttentionCache(variant.config, x.shape[0], TIME);
    let index = 0;
    const parts: tf.Tensor[] = [];
    for (const t of CHUNKS) {
      const chunk = tf.slice(x, [0, index, 0], [-1, t, -1]) as tf.Tensor3D;
      const r = multiHeadAttention(variant.config, params, chunk, {
        causal: true,
        rope: variant.rope,
        mask: variant.alibi ? alibiOver(heads, t, index, TIME) : undefined,
        cache,
        cacheUpdateIndex: index,
      });
      parts.push(r.output);
      cache = r.cache;
      index += t;
    }
    return { full, cached: tf.concat(parts, 1) };
  });
}

describeEachBackend('multiHeadAttention with a cache', () => {
  for (const variant of VARIANTS) {
    it(`${variant.name}: ${CHUNKS.length} cached steps == the whole sequence`, () => {
      const params = initMultiHeadAttention(variant.config, 3);
      const x = tf.randomNormal([2, TIME, 32], 0, 1, 'float32', 5) as tf.Tensor3D;
      const { full, cached } = fullAndCached(variant, params, x);
      expectClose(cached, full, TOL);
      tf.dispose([params, x, full, cached]);
    });
  }

  it('a fixed cache (cross-attention keys projected once) == attending to the context', () => {
    const config = { dModel: 16, numHeads: 4, numKvHeads: 2, contextDim: 12 };
    const params = initMultiHeadAttention(config, 1);
    const x = tf.randomNormal([2, 3, 16], 0, 1, 'float32', 2) as tf.Tensor3D;
    const context = tf.randomNormal([2, 5, 12], 0, 1, 'float32', 3) as tf.Tensor3D;
    const mask = tf.tensor(
      [true, true, true, false, false, true, true, true, true, true],
      [2, 1, 1, 5],
      'bool',
    );
    const expected = multiHeadAttention(config, params, x, { context, mask });
    const cross = contextAttentionCache(config, params, context);
    const r = multiHeadAttention(config, params, x, { cache: cross, mask });
    expect(r.cache.key).toBe(cross.key);
    expect(r.cache.value).toBe(cross.value);
    expectClose(r.output, expected, TOL);
    tf.dispose([params, x, context, mask, expected, cross.key, cross.value, r.output]);
  });

  it('adds exactly its outputs (the output and the new cache), also when it throws', () => {
    const config = { dModel: 16, numHeads: 4, numKvHeads: 2 };
    const params = initMultiHeadAttention(config, 0);
    const cache = initAttentionCache(config, 1, 6);
    const x = tf.randomNormal([1, 2, 16]) as tf.Tensor3D;
    expectNoLeak(() =>
      multiHeadAttention(config, params, x, {
        cache,
        cacheUpdateIndex: 1,
        causal: true,
        rope: true,
      }),
    );
    expectNoLeak(() => contextAttentionCache(config, params, x));
    expectNoLeak(() => initAttentionCache(config, 2, 3));
    // Fails after the projections would run: the index is checked first, nothing is left.
    thrownWithoutLeak(() => multiHeadAttention(config, params, x, { cache, cacheUpdateIndex: 5 }));
    tf.dispose([params, cache.key, cache.value, x]);
  });

  it('rejects a bad cache with a typed error naming the argument', () => {
    const config = { dModel: 16, numHeads: 4, numKvHeads: 2 };
    const params = initMultiHeadAttention(config, 0);
    const cache = initAttentionCache(config, 1, 6);
    const wrongHeads = initAttentionCache({ dModel: 16, numHeads: 4 }, 1, 6);
    const x = tf.randomNormal([1, 2, 16]) as tf.Tensor3D;
    const context = tf.randomNormal([1, 3, 16]) as tf.Tensor3D;
    const argumentOf = (options: object) =>
      thrownWithoutLeak(() => multiHeadAttention(config, params, x, options as never)).argument;
    expect(argumentOf({ cacheUpdateIndex: 0 })).toBe('options.cacheUpdateIndex');
    expect(argumentOf({ cache, cacheUpdateIndex: 5 })).toBe('options.cacheUpdateIndex');
    expect(argumentOf({ cache, cacheUpdateIndex: -1 })).toBe('options.cacheUpdateIndex');
    expect(argumentOf({ cache, cacheUpdateIndex: 1.5 })).toBe('options.cacheUpdateIndex');
    expect(argumentOf({ cache: wrongHeads, cacheUpdateIndex: 0 })).toBe(
      'options.cache.key.shape[1]',
    );
    expect(argumentOf({ cache: { key: cache.key, value: 3 } as never, cacheUpdateIndex: 0 })).toBe(
      'options.cache.value',
    );
    expect(argumentOf({ cache: null as never })).toBe('options.cache');
    expect(argumentOf({ cache, cacheUpdateIndex: 0, context })).toBe('options.context');
    expect(argumentOf({ cache, context })).toBe('options.context');
    expect(thrownWithoutLeak(() => initAttentionCache(config, 0, 6)).argument).toBe('batch');
    tf.dispose([params, cache.key, cache.value, wrongHeads.key, wrongHeads.value, x, context]);
  });
});
