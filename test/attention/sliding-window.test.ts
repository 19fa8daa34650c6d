// Sliding-window attention (issue 18, Mistral): a query at position i sees
// keys i - window < j <= i (transformers' sliding_window_causal_mask_function),
// in the full forward and through a cache, which may be a rolling buffer of
// `window` slots (position p in slot p mod capacity).
import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import {
  type AttentionCache,
  initAttentionCache,
  initMultiHeadAttention,
  initTransformerDecoderBlock,
  initTransformerEncoderBlock,
  type MultiHeadAttentionConfig,
  memoryEfficientAttention,
  multiHeadAttention,
  scaledDotProductAttention,
  type TransformerBlockConfig,
  transformerDecoderBlock,
  transformerEncoderBlock,
} from '../../src/index';
import { describeEachBackend } from '../helpers/backends';
import { expectClose } from '../helpers/close';
import { expectNoLeak } from '../helpers/leaks';
import { thrownWithoutLeak } from '../helpers/rejections';

const TOL = { rtol: 1e-4, atol: 1e-5 };
const WINDOW = 3;
const TIME = 9;

/** The rule written out: `[1, 1, tq, tk]` bool, queries the last tq of tk positions. */
function bandMask(tq: number, tk: number, window: number): tf.Tensor {
  const rows: boolean[] = [];
  for (let i = tk - tq; i < tk; i++) {
    for (let j = 0; j < tk; j++) rows.push(j <= i && j > i - window);
  }
  return tf.tensor(rows, [1, 1, tq, tk], 'bool');
}

const CONFIG: MultiHeadAttentionConfig = { dModel: 16, numHeads: 4, numKvHeads: 2 };

/** Runs x in `chunks` through a cache of `capacity` slots; returns the outputs, concatenated. */
function cachedRun(
  params: ReturnType<typeof initMultiHeadAttention>,
  x: tf.Tensor3D,
  chunks: number[],
  capacity: number,
  window: number,
): tf.Tensor {
  return tf.tidy(() => {
    let cache: AttentionCache = initAttentionCache(CONFIG, x.shape[0], capacity);
    let index = 0;
    const parts: tf.Tensor[] = [];
    for (const t of chunks) {
      const chunk = tf.slice(x, [0, index, 0], [-1, t, -1]) as tf.Tensor3D;
      const r = multiHeadAttention(CONFIG, params, chunk, {
        causal: true,
        slidingWindow: window,
        rope: true,
        cache,
        cacheUpdateIndex: index,
      });
      parts.push(r.output);
      cache = r.cache;
      index += t;
    }
    return tf.concat(parts, 1);
  });
}

describeEachBackend('sliding-window attention', () => {
  it('scaledDotProductAttention: the window equals the band mask written out', () => {
    const q = tf.randomNormal([2, 4, 5, 8], 0, 1, 'float32', 1) as tf.Tensor4D;
    const k = tf.randomNormal([2, 2, 7, 8], 0, 1, 'float32', 2) as tf.Tensor4D;
    const v = tf.randomNormal([2, 2, 7, 8], 0, 1, 'float32', 3) as tf.Tensor4D;
    const mask = bandMask(5, 7, WINDOW);
    const windowed = scaledDotProductAttention(q, k, v, { causal: true, slidingWindow: WINDOW });
    const explicit = scaledDotProductAttention(q, k, v, { mask });
    const plainCausal = scaledDotProductAttention(q, k, v, { causal: true });
    expectClose(windowed, explicit, TOL);
    // The window changes the result (the test can fail).
    expect(tf.max(tf.abs(tf.sub(windowed, plainCausal))).dataSync()[0]!).toBeGreaterThan(1e-3);
    const chunked = memoryEfficientAttention(q, k, v, {
      causal: true,
      slidingWindow: WINDOW,
      chunkSize: 2,
    });
    expectClose(chunked, explicit, TOL);
    tf.dispose([q, k, v, mask, windowed, explicit, plainCausal, chunked]);
  });

  it('a window as long as the sequence is plain causal attention', () => {
    const q = tf.randomNormal([1, 2, 6, 4], 0, 1, 'float32', 4) as tf.Tensor4D;
    const a = scaledDotProductAttention(q, q, q, { causal: true, slidingWindow: 6 });
    const b = scaledDotProductAttention(q, q, q, { causal: true });
    expectClose(a, b, TOL);
    tf.dispose([q, a, b]);
  });

  for (const [name, chunks, capacity] of [
    ['a full-length cache', [4, 1, 2, 1, 1], TIME],
    ['a rolling cache of window slots, prefill longer than the window', [5, 1, 1, 1, 1], WINDOW],
    ['a rolling cache, single tokens from the start', [1, 1, 1, 1, 1, 1, 1, 1, 1], WINDOW],
    ['a rolling cache, chunks that wrap', [2, 2, 3, 2], WINDOW],
    ['a rolling cache larger than the window', [4, 3, 1, 1], WINDOW + 2],
  ] as const) {
    it(`multiHeadAttention through ${name} == the full forward`, () => {
      const params = initMultiHeadAttention(CONFIG, 7);
      const x = tf.randomNormal([2, TIME, 16], 0, 1, 'float32', 8) as tf.Tensor3D;
      const full = multiHeadAttention(CONFIG, params, x, {
        causal: true,
        slidingWindow: WINDOW,
        rope: true,
      });
      const cached = cachedRun(params, x, [...chunks], capacity, WINDOW);
      expectClose(cached, full, TOL);
      tf.dispose([params, x, full, cached]);
    });
  }

  it('a rolling cache step adds only its outputs, and the cache keeps its shape', () => {
    const params = initMultiHeadAttention(CONFIG, 1);
    const cache = initAttentionCache(CONFIG, 1, WINDOW);
    const x = tf.randomNormal([1, 5, 16], 0, 1, 'float32', 2) as tf.Tensor3D;
    expectNoLeak(() => {
      const r = multiHeadAttention(CONFIG, params, x, {
        causal: true,
        slidingWindow: WINDOW,
        cache,
        cacheUpdateIndex: 4,
      });
      expect(r.cache.key.shape).toEqual([1, 2, WINDOW, 4]);
      return r;
    });
    tf.dispose([params, cache, x]);
  });

  it('the caller mask over a rolling cache covers the slots, then the new keys', () => {
    const params = initMultiHeadAttention(CONFIG, 1);
    const x = tf.randomNormal([2, 5, 16], 0, 1, 'float32', 2) as tf.Tensor3D;
    // Row 1's first two tokens are padding.
    const valid = [
      [true, true, true, true, true],
      [false, false, true, true, true],
    ];
    const keyMask = tf.tensor(valid.flat(), [2, 1, 1, 5], 'bool');
    const full = multiHeadAttention(CONFIG, params, x, {
      causal: true,
      slidingWindow: WINDOW,
      mask: keyMask,
    });
    const cache = initAttentionCache(CONFIG, 2, WINDOW);
    const slotsThenNew = tf.tensor(
      valid.flatMap((row) => [false, false, false, ...row]),
      [2, 1, 1, WINDOW + 5],
      'bool',
    );
    const r = multiHeadAttention(CONFIG, params, x, {
      causal: true,
      slidingWindow: WINDOW,
      mask: slotsThenNew,
      cache,
      cacheUpdateIndex: 0,
    });
    expectClose(r.output, full, TOL);
    tf.dispose([params, x, keyMask, full, cache, slotsThenNew, r.output, r.cache]);
  });

  it('a decoder block with config.slidingWindow: cached rolling steps == the full forward', () => {
    const config: TransformerBlockConfig = {
      dModel: 16,
      numHeads: 4,
      numKvHeads: 2,
      norm: { kind: 'rms' },
      feedForward: { hidden: 32, kind: 'gated', activation: 'silu' },
      attentionBias: false,
      rope: true,
      slidingWindow: WINDOW,
    };
    const params = initTransformerDecoderBlock(config, 3);
    const x = tf.randomNormal([1, 6, 16], 0, 1, 'float32', 4) as tf.Tensor3D;
    const full = transformerDecoderBlock(config, params, x);
    const unwindowed = transformerDecoderBlock({ ...config, slidingWindow: undefined }, params, x);
    const parts = tf.tidy(() => {
      let self: AttentionCache = initAttentionCache(
        { dModel: 16, numHeads: 4, numKvHeads: 2 },
        1,
        WINDOW,
      );
      const out: tf.Tensor[] = [];
      for (const [index, t] of [
        [0, 4],
        [4, 1],
        [5, 1],
      ] as const) {
        const r = transformerDecoderBlock(
          config,
          params,
          tf.slice(x, [0, index, 0], [-1, t, -1]) as tf.Tensor3D,
          { cache: { self, index } },
        );
        out.push(r.output);
        self = r.cache.self;
      }
      return tf.concat(out, 1);
    });
    expectClose(parts, full, TOL);
    expect(tf.max(tf.abs(tf.sub(full, unwindowed))).dataSync()[0]!).toBeGreaterThan(1e-4);
    tf.dispose([params, x, full, unwindowed, parts]);
  });

  it('bad windows throw naming the argument, leaving nothing behind', () => {
    const q = tf.ones([1, 1, 2, 4]) as tf.Tensor4D;
    expect(
      thrownWithoutLeak(() => scaledDotProductAttention(q, q, q, { slidingWindow: 2 })).argument,
    ).toBe('options.slidingWindow');
    expect(
      thrownWithoutLeak(() =>
        scaledDotProductAttention(q, q, q, { causal: true, slidingWindow: 0 }),
      ).argument,
    ).toBe('options.slidingWindow');
    const params = initMultiHeadAttention(CONFIG, 1);
    const x = tf.ones([1, 4, 16]) as tf.Tensor3D;
    expect(
      thrownWithoutLeak(() => multiHeadAttention(CONFIG, params, x, { slidingWindow: 2 })).argument,
    ).toBe('options.slidingWindow');
    expect(
      thrownWithoutLeak(() =>
        multiHeadAttention(CONFIG, params, x, { causal: true, slidingWindow: 1.5 }),
      ).argument,
    ).toBe('options.slidingWindow');
    // A cache smaller than the window cannot roll: it overflows as a plain one.
    const small = initAttentionCache(CONFIG, 1, 2);
    expect(
      thrownWithoutLeak(() =>
        multiHeadAttention(CONFIG, params, x, {
          causal: true,
          slidingWindow: 3,
          cache: small,
          cacheUpdateIndex: 0,
        }),
      ).argument,
    ).toBe('options.cacheUpdateIndex');
    const rolling = initAttentionCache(CONFIG, 1, 3);
    const shortMask = tf.ones([1, 1, 1, 3], 'bool');
    expect(
      thrownWithoutLeak(() =>
        multiHeadAttention(CONFIG, params, x, {
          causal: true,
          slidingWindow: 3,
          mask: shortMask,
          cache: rolling,
          cacheUpdateIndex: 0,
        }),
      ).argument,
    ).toBe('options.mask');
    const block: TransformerBlockConfig = {
      dModel: 16,
      numHeads: 4,
      norm: { kind: 'rms' },
      feedForward: { hidden: 32, kind: 'mlp', activation: 'gelu' },
      slidingWindow: 2,
    };
    expect(
      thrownWithoutLeak(() => initTransformerDecoderBlock({ ...block, slidingWindow: 0 }, 0))
        .argument,
    ).toBe('config.slidingWindow');
    expect(
      thrownWithoutLeak(() => initTransformerDecoderBlock({ ...block, alibi: true }, 0)).argument,
    ).toBe('config.alibi');
    const encoderParams = initTransformerEncoderBlock(block, 0);
    expect(thrownWithoutLeak(() => transformerEncoderBlock(block, encoderParams, x)).argument).toBe(
      'config.slidingWindow',
    );
    tf.dispose([q, params, x, small, rolling, shortMask, encoderParams]);
  });
});
