// multiHeadAttention's config, params, options and cache over their edges
// (issue 22): the config's defaults, a headDim that does not divide dModel,
// the projections against a reference written with plain tf ops, cached
// decoding without `causal`, with a RoPE offset, with bool and float masks,
// and a rejection naming the argument of every validation path.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  type AttentionCache,
  type CachedAttentionOptions,
  checkMultiHeadAttentionConfig,
  contextAttentionCache,
  initAttentionCache,
  initMultiHeadAttention,
  type MultiHeadAttentionConfig,
  type MultiHeadAttentionParams,
  multiHeadAttention,
  multiHeadAttentionCore,
} from '../../src/attention/multi-head-attention';
import { scaledDotProductAttention } from '../../src/attention/scaled-dot-product-attention';
import { expectClose } from '../helpers/close';
import { expectNoLeak } from '../helpers/leaks';
import { thrownWithoutLeak } from '../helpers/rejections';

const TOL = { rtol: 1e-4, atol: 1e-5 };
const leaves = (p: MultiHeadAttentionParams) =>
  Object.values(p).flatMap((l) => [l.kernel, ...(l.bias ? [l.bias] : [])]);

/** `x · kernel + bias` split into heads, written with plain tf ops. */
function heads(x: tf.Tensor, kernel: tf.Tensor, bias: tf.Tensor | undefined, n: number, d: number) {
  const [b, t] = x.shape as [number, number];
  const y = tf.matMul(tf.reshape(x, [b * t, -1]), kernel as tf.Tensor2D);
  const withBias = bias ? tf.add(y, bias) : y;
  return tf.transpose(tf.reshape(withBias, [b, t, n, d]), [0, 2, 1, 3]) as tf.Tensor4D;
}

describe('multiHeadAttention config', () => {
  it('fills the defaults: kv heads = heads, headDim = dModel / heads, contextDim = dModel, biases on', () => {
    expect(checkMultiHeadAttentionConfig('f', { dModel: 12, numHeads: 3 })).toEqual({
      dModel: 12,
      numHeads: 3,
      numKvHeads: 3,
      headDim: 4,
      contextDim: 12,
      useBias: true,
      outputBias: true,
    });
    expect(
      checkMultiHeadAttentionConfig('f', { dModel: 10, numHeads: 4, headDim: 3, useBias: false }),
    ).toEqual({
      dModel: 10,
      numHeads: 4,
      numKvHeads: 4,
      headDim: 3,
      contextDim: 10,
      useBias: false,
      outputBias: false,
    });
    expect(
      checkMultiHeadAttentionConfig('f', {
        dModel: 8,
        numHeads: 4,
        numKvHeads: 1,
        contextDim: 5,
        useBias: false,
        outputBias: true,
      }),
    ).toMatchObject({ numKvHeads: 1, headDim: 2, contextDim: 5, useBias: false, outputBias: true });
  });

  it('init makes the shapes of the config; only the output bias with useBias false, outputBias true', () => {
    const params = initMultiHeadAttention(
      {
        dModel: 10,
        numHeads: 4,
        numKvHeads: 2,
        headDim: 3,
        contextDim: 6,
        useBias: false,
        outputBias: true,
      },
      1,
    );
    expect(params.query.kernel.shape).toEqual([10, 12]);
    expect(params.key.kernel.shape).toEqual([6, 6]);
    expect(params.value.kernel.shape).toEqual([6, 6]);
    expect(params.output.kernel.shape).toEqual([12, 10]);
    expect([params.query.bias, params.key.bias, params.value.bias]).toEqual([
      undefined,
      undefined,
      undefined,
    ]);
    expect(params.output.bias?.shape).toEqual([10]);
    // The four kernels come from four different streams of the seed.
    const [q, k, v] = [params.query.kernel, params.key.kernel, params.value.kernel];
    expect(tf.any(tf.notEqual(k, v)).dataSync()[0]).toBe(1);
    expect(tf.any(tf.notEqual(tf.slice(q, [0, 0], [6, 6]), k)).dataSync()[0]).toBe(1);
    tf.dispose(leaves(params));
  });

  it('a headDim that does not divide dModel, GQA, cross-attention and biases: the reference', () => {
    const config = { dModel: 10, numHeads: 4, numKvHeads: 2, headDim: 3, contextDim: 6 };
    const params = initMultiHeadAttention(config, 2);
    // Non-zero biases, so that a dropped or misplaced bias shows.
    const withBiases = Object.fromEntries(
      Object.entries(params).map(([name, p], i) => [
        name,
        { kernel: p.kernel, bias: tf.randomNormal(p.bias!.shape, 0, 1, 'float32', 10 + i) },
      ]),
    ) as MultiHeadAttentionParams;
    const x = tf.randomNormal([2, 3, 10], 0, 1, 'float32', 3) as tf.Tensor3D;
    const context = tf.randomNormal([2, 5, 6], 0, 1, 'float32', 4) as tf.Tensor3D;
    const got = multiHeadAttention(config, withBiases, x, { context });
    const want = tf.tidy(() => {
      const q = heads(x, withBiases.query.kernel, withBiases.query.bias, 4, 3);
      const k = heads(context, withBiases.key.kernel, withBiases.key.bias, 2, 3);
      const v = heads(context, withBiases.value.kernel, withBiases.value.bias, 2, 3);
      const attended = scaledDotProductAttention(q, k, v);
      const merged = tf.reshape(tf.transpose(attended, [0, 2, 1, 3]), [6, 12]);
      const out = tf.add(tf.matMul(merged, withBiases.output.kernel), withBiases.output.bias!);
      return tf.reshape(out, [2, 3, 10]);
    });
    expect(got.shape).toEqual([2, 3, 10]);
    expectClose(got, want, TOL);
    tf.dispose([got, want, x, context, ...leaves(params), ...leaves(withBiases)]);
  });
});

describe('multiHeadAttention with a cache: the cases the decoding tests leave out', () => {
  const config: MultiHeadAttentionConfig = { dModel: 8, numHeads: 2, numKvHeads: 1 };

  it('without causal, each step attends to every written key (not to unwritten slots)', () => {
    const params = initMultiHeadAttention(config, 5);
    const x = tf.randomNormal([1, 5, 8], 0, 1, 'float32', 6) as tf.Tensor3D;
    const cache = initAttentionCache(config, 1, 8);
    const first = multiHeadAttention(
      config,
      params,
      tf.slice(x, [0, 0, 0], [-1, 3, -1]) as tf.Tensor3D,
      {
        cache,
        cacheUpdateIndex: 0,
      },
    );
    const second = multiHeadAttention(
      config,
      params,
      tf.slice(x, [0, 3, 0], [-1, 2, -1]) as tf.Tensor3D,
      {
        cache: first.cache,
        cacheUpdateIndex: 3,
      },
    );
    // Step one: the first three tokens among themselves; step two: all five.
    const three = multiHeadAttention(
      config,
      params,
      tf.slice(x, [0, 0, 0], [-1, 3, -1]) as tf.Tensor3D,
    );
    const five = multiHeadAttention(config, params, x);
    expectClose(first.output, three, TOL);
    expectClose(second.output, tf.slice(five, [0, 3, 0], [-1, 2, -1]), TOL);
    tf.dispose([params, x, cache, first, second, three, five] as never);
  });

  it('a RoPE offset adds to the cache index', () => {
    const params = initMultiHeadAttention(config, 7);
    const x = tf.randomNormal([1, 4, 8], 0, 1, 'float32', 8) as tf.Tensor3D;
    const rope = { offset: 5, base: 100 };
    const full = multiHeadAttention(config, params, x, { causal: true, rope });
    let cache: AttentionCache = initAttentionCache(config, 1, 4);
    const parts: tf.Tensor[] = [];
    for (const [index, t] of [
      [0, 2],
      [2, 1],
      [3, 1],
    ] as const) {
      const r = multiHeadAttention(
        config,
        params,
        tf.slice(x, [0, index, 0], [-1, t, -1]) as tf.Tensor3D,
        {
          causal: true,
          rope,
          cache,
          cacheUpdateIndex: index,
        },
      );
      tf.dispose([cache.key, cache.value]);
      parts.push(r.output);
      cache = r.cache;
    }
    const cached = tf.concat(parts, 1);
    expectClose(cached, full, TOL);
    tf.dispose([params, x, full, cache, cached, ...parts] as never);
  });

  it('a bool key mask with a cache index, and a float mask over a rolling cache, equal the full forward', () => {
    const params = initMultiHeadAttention(config, 9);
    const x = tf.randomNormal([2, 4, 8], 0, 1, 'float32', 10) as tf.Tensor3D;
    const valid = [true, false, true, true, true, true, true, false];
    const keyMask = tf.tensor(valid, [2, 1, 1, 4], 'bool');
    const full = multiHeadAttention(config, params, x, { causal: true, mask: keyMask });
    const cache = initAttentionCache(config, 2, 6);
    const padded = tf.concat([keyMask, tf.zeros([2, 1, 1, 2], 'bool')], 3);
    const r = multiHeadAttention(config, params, x, {
      causal: true,
      mask: padded,
      cache,
      cacheUpdateIndex: 0,
    });
    expectClose(r.output, full, TOL);

    // The float form of a key mask over a rolling cache: the slots, then the new keys.
    const bias = tf.randomNormal([2, 1, 4, 4], 0, 1, 'float32', 11);
    const windowed = multiHeadAttention(config, params, x, {
      causal: true,
      slidingWindow: 2,
      mask: bias,
    });
    const rolling = initAttentionCache(config, 2, 2);
    const slotsThenNew = tf.concat([tf.zeros([2, 1, 4, 2]), bias], 3);
    const rr = multiHeadAttention(config, params, x, {
      causal: true,
      slidingWindow: 2,
      mask: slotsThenNew,
      cache: rolling,
      cacheUpdateIndex: 0,
    });
    expectClose(rr.output, windowed, TOL);
    tf.dispose([
      params,
      x,
      keyMask,
      full,
      cache,
      padded,
      r,
      bias,
      windowed,
      rolling,
      slotsThenNew,
      rr,
    ] as never);
  });

  it('the unchecked core through a rolling cache == the checked call', () => {
    const full = { ...checkMultiHeadAttentionConfig('f', config) };
    const params = initMultiHeadAttention(config, 12);
    const x = tf.randomNormal([1, 3, 8], 0, 1, 'float32', 13) as tf.Tensor3D;
    const cache = initAttentionCache(config, 1, 2);
    const options: CachedAttentionOptions = {
      causal: true,
      slidingWindow: 2,
      rope: true,
      cache,
      cacheUpdateIndex: 4,
    };
    const checked = multiHeadAttention(config, params, x, {
      ...options,
      cache,
      cacheUpdateIndex: 4,
    });
    const core = multiHeadAttentionCore(
      full,
      params,
      x,
      options,
      { cache, index: 4 },
      2,
    ) as typeof checked;
    expectClose(core.output, checked.output, { rtol: 0, atol: 0 });
    expectClose(core.cache.key, checked.cache.key, { rtol: 0, atol: 0 });
    expectNoLeak(
      () => multiHeadAttentionCore(full, params, x, options, { cache, index: 4 }, 2) as never,
    );
    tf.dispose([params, x, cache, checked, core] as never);
  });

  it('a write keeps the slots before and after it (a cache that is rewound, or filled elsewhere)', () => {
    const params = initMultiHeadAttention(config, 16);
    const x = tf.randomNormal([2, 2, 8], 0, 1, 'float32', 17) as tf.Tensor3D;
    // Non-zero slots everywhere: the slots after the write hold older keys than the zeros of a fresh cache.
    const cache: AttentionCache = {
      key: tf.randomNormal([2, 1, 6, 4], 0, 1, 'float32', 18) as tf.Tensor4D,
      value: tf.randomNormal([2, 1, 6, 4], 0, 1, 'float32', 19) as tf.Tensor4D,
    };
    // No RoPE: the written keys and values are x's projections, as a fixed cache of x holds them.
    const projected = contextAttentionCache(config, params, x);
    for (const index of [0, 1, 4]) {
      const r = multiHeadAttention(config, params, x, { cache, cacheUpdateIndex: index });
      for (const name of ['key', 'value'] as const) {
        const expected = tf.concat(
          [
            tf.slice(cache[name], [0, 0, 0, 0], [-1, -1, index, -1]),
            projected[name],
            tf.slice(cache[name], [0, 0, index + 2, 0], [-1, -1, 4 - index, -1]),
          ],
          2,
        );
        expectClose(r.cache[name], expected, { rtol: 0, atol: 0 });
        expected.dispose();
      }
      tf.dispose([r.output, r.cache.key, r.cache.value]);
    }
    tf.dispose([params, x, cache, projected] as never);
  });

  it('a cache written exactly to its end is accepted; contextAttentionCache needs only key and value', () => {
    const params = initMultiHeadAttention(config, 14);
    const x = tf.randomNormal([1, 2, 8], 0, 1, 'float32', 15) as tf.Tensor3D;
    const cache = initAttentionCache(config, 1, 6);
    const r = multiHeadAttention(config, params, x, { cache, cacheUpdateIndex: 4 });
    expect(r.cache.key.shape).toEqual([1, 1, 6, 4]);
    const kv = contextAttentionCache(config, { key: params.key, value: params.value } as never, x);
    expect(kv.key.shape).toEqual([1, 1, 2, 4]);
    tf.dispose([params, x, cache, r, kv] as never);
  });
});

describe('multiHeadAttention rejections', () => {
  it('names the argument of every validation path, leaving nothing behind', () => {
    const config = { dModel: 8, numHeads: 2, numKvHeads: 1 };
    const params = initMultiHeadAttention(config, 0);
    const noBias = initMultiHeadAttention({ ...config, useBias: false }, 0);
    const x = tf.zeros([1, 3, 8]) as tf.Tensor3D;
    const cache = initAttentionCache(config, 1, 4);
    const made: tf.Tensor[] = [];
    const t = (shape: number[], dtype: 'float32' | 'int32' = 'float32') => {
      const y = tf.zeros(shape, dtype);
      made.push(y);
      return y;
    };
    const withProjection = (name: keyof MultiHeadAttentionParams, value: unknown) => ({
      ...params,
      [name]: value,
    });
    // Made before the calls: a call must leave the tensor count as it found it.
    const v0 = t([2, 2]);
    const v1 = t([1, 3, 8], 'int32');
    const v2 = t([1, 3, 6]);
    const v3 = t([3, 8]);
    const v4 = t([2, 3, 8]);
    const v5 = t([1, 3, 6]);
    const v6 = t([6, 8]);
    const v7 = t([8]);
    const v8 = t([8, 6]);
    const v9 = t([8]);
    const v10 = t([1, 4]);
    const v11 = t([5]);
    const v12 = t([1, 1, 4]);
    const v13 = t([2, 1, 4, 4]);
    const v14 = t([1, 1, 4, 2]);
    const v15 = t([1, 2, 4, 4]);
    const v16 = t([1, 1, 5, 4]);
    const v17 = t([1, 1, 2, 4]);
    const v18 = t([1, 1, 2, 4]);
    const v19 = t([1, 1, 3, 3]);
    const cases: Array<[string, () => unknown]> = [
      ['options', () => multiHeadAttention(config, params, x, null as never)],
      ['options.casual', () => multiHeadAttention(config, params, x, { casual: true } as never)],
      ['options.rope', () => multiHeadAttention(config, params, x, { rope: 1 as never })],
      ['options.rope', () => multiHeadAttention(config, params, x, { rope: null as never })],
      ['options.rope', () => multiHeadAttention(config, params, x, { rope: [] as never })],
      [
        'options.rope.ofset',
        () => multiHeadAttention(config, params, x, { rope: { ofset: 1 } as never }),
      ],
      [
        'options.rope.scaling.factor',
        () =>
          multiHeadAttention(config, params, x, {
            rope: { scaling: { kind: 'linear', factor: 0 } },
          }),
      ],
      // RoPE's own options and the mask are checked by the functions the public path calls.
      ['options.offset', () => multiHeadAttention(config, params, x, { rope: { offset: -1 } })],
      ['options.mask', () => multiHeadAttention(config, params, x, { mask: v0 })],
      ['options.causal', () => multiHeadAttention(config, params, x, { causal: 'yes' as never })],
      [
        'options.causal',
        () =>
          multiHeadAttention(config, params, x, { causal: 1 as never, cache, cacheUpdateIndex: 0 }),
      ],
      ['config', () => multiHeadAttention(null as never, params, x)],
      ['config.dModel', () => multiHeadAttention(undefined as never, params, x)],
      ['config.dModel', () => multiHeadAttention({ ...config, dModel: 0 }, params, x)],
      ['config.numHeads', () => multiHeadAttention({ ...config, numHeads: 0 }, params, x)],
      ['config.numHeads', () => multiHeadAttention({ dModel: 8, numHeads: 3 }, params, x)],
      ['config.numKvHeads', () => multiHeadAttention({ ...config, numKvHeads: 0 }, params, x)],
      [
        'config.numKvHeads',
        () => multiHeadAttention({ dModel: 8, numHeads: 4, numKvHeads: 3 }, params, x),
      ],
      ['config.headDim', () => multiHeadAttention({ ...config, headDim: 0 }, params, x)],
      ['config.contextDim', () => multiHeadAttention({ ...config, contextDim: 1.5 }, params, x)],
      ['x', () => multiHeadAttention(config, params, 'x' as never)],
      ['x', () => multiHeadAttention(config, params, v1 as never)],
      ['x.shape[-1]', () => multiHeadAttention(config, params, v2 as tf.Tensor3D)],
      ['options.context', () => multiHeadAttention(config, params, x, { context: v3 as never })],
      [
        'options.context.shape[0]',
        () => multiHeadAttention(config, params, x, { context: v4 as tf.Tensor3D }),
      ],
      [
        'options.context.shape[2]',
        () => multiHeadAttention(config, params, x, { context: v5 as tf.Tensor3D }),
      ],
      ['params.query.kernel', () => multiHeadAttention(config, undefined as never, x)],
      [
        'params.key.kernel',
        () => multiHeadAttention(config, withProjection('key', undefined) as never, x),
      ],
      [
        'params.query.kernel.shape[0]',
        () =>
          multiHeadAttention(config, withProjection('query', { kernel: v6, bias: v7 }) as never, x),
      ],
      [
        'params.output.kernel.shape[1]',
        () =>
          multiHeadAttention(
            config,
            withProjection('output', { kernel: v8, bias: v9 }) as never,
            x,
          ),
      ],
      [
        'params.value.bias',
        () =>
          multiHeadAttention(
            config,
            withProjection('value', { kernel: params.value.kernel, bias: v10 }) as never,
            x,
          ),
      ],
      [
        'params.value.bias.shape[0]',
        () =>
          multiHeadAttention(
            config,
            withProjection('value', { kernel: params.value.kernel, bias: v11 }) as never,
            x,
          ),
      ],
      ['params.query.bias', () => multiHeadAttention({ ...config, useBias: false }, params, x)],
      [
        'params.output.bias',
        () => multiHeadAttention({ ...config, useBias: false, outputBias: true }, noBias, x),
      ],
      ['options.slidingWindow', () => multiHeadAttention(config, params, x, { slidingWindow: 2 })],
      // With a cache attention never sees the window: the door alone rejects it without causal.
      [
        'options.slidingWindow',
        () =>
          multiHeadAttention(config, params, x, { slidingWindow: 2, cache, cacheUpdateIndex: 0 }),
      ],
      // A self-attention cache projects x's keys: x must be as wide as config.contextDim.
      [
        'options.context.shape[2]',
        () =>
          multiHeadAttention({ ...config, contextDim: 6 }, params, x, {
            cache,
            cacheUpdateIndex: 0,
          }),
      ],
      [
        'options.slidingWindow',
        () => multiHeadAttention(config, params, x, { causal: true, slidingWindow: 0 }),
      ],
      [
        'options.cacheUpdateIndex',
        () => multiHeadAttention(config, params, x, { cacheUpdateIndex: 0 } as never),
      ],
      ['options.cache', () => multiHeadAttention(config, params, x, { cache: 3 as never })],
      [
        'options.cache.key',
        () => multiHeadAttention(config, params, x, { cache: { value: cache.value } as never }),
      ],
      [
        'options.cache.value',
        () =>
          multiHeadAttention(config, params, x, {
            cache: { key: cache.key, value: v12 } as never,
          }),
      ],
      // A rank-3 key whose sizes pass every per-axis check: only its rank tells.
      [
        'options.cache.key',
        () =>
          multiHeadAttention(config, params, x, {
            cache: { key: v12, value: cache.value } as never,
          }),
      ],
      [
        'options.cache.key.shape[0]',
        () =>
          multiHeadAttention(config, params, x, {
            cache: { key: v13, value: cache.value } as never,
          }),
      ],
      [
        'options.cache.key.shape[3]',
        () =>
          multiHeadAttention(config, params, x, {
            cache: { key: v14, value: cache.value } as never,
          }),
      ],
      [
        'options.cache.value.shape[1]',
        () =>
          multiHeadAttention(config, params, x, {
            cache: { key: cache.key, value: v15 } as never,
          }),
      ],
      [
        'options.cache.value.shape[2]',
        () =>
          multiHeadAttention(config, params, x, {
            cache: { key: cache.key, value: v16 } as never,
          }),
      ],
      [
        'options.cacheUpdateIndex',
        () => multiHeadAttention(config, params, x, { cache, cacheUpdateIndex: 2 }),
      ],
      [
        'options.cacheUpdateIndex',
        () => multiHeadAttention(config, params, x, { cache, cacheUpdateIndex: '0' as never }),
      ],
      [
        'options.mask',
        () =>
          multiHeadAttention(config, params, x, {
            causal: true,
            slidingWindow: 2,
            cache: { key: v17, value: v18 } as never,
            cacheUpdateIndex: 0,
            mask: v19,
          }),
      ],
    ];
    for (const [argument, call] of cases) {
      let e: ReturnType<typeof thrownWithoutLeak>;
      try {
        e = thrownWithoutLeak(call);
      } catch (err) {
        throw new Error(`${argument}: ${err}`);
      }
      expect(e.argument, argument).toBe(argument);
    }
    tf.dispose([x, cache.key, cache.value, ...made, ...leaves(params), ...leaves(noBias)]);
  });

  it('a bad rope option says that a boolean is allowed too, not only an options record', () => {
    const config = { dModel: 8, numHeads: 2 };
    const params = initMultiHeadAttention(config, 0);
    const x = tf.zeros([1, 2, 8]) as tf.Tensor3D;
    for (const rope of [1, 'yes', null, [], [true]]) {
      const e = thrownWithoutLeak(() => multiHeadAttention(config, params, x, { rope } as never));
      expect(e.argument, String(rope)).toBe('options.rope');
      expect(e.expected, String(rope)).toMatch(/^a boolean or \{/);
    }
    tf.dispose([x, ...leaves(params)]);
  });

  it('says which bias flag rules a projection out or in', () => {
    const config = { dModel: 8, numHeads: 2 };
    const params = initMultiHeadAttention(config, 0);
    const noBias = initMultiHeadAttention({ ...config, useBias: false }, 0);
    const x = tf.zeros([1, 2, 8]) as tf.Tensor3D;
    const message = (c: MultiHeadAttentionConfig, p: MultiHeadAttentionParams) =>
      thrownWithoutLeak(() => multiHeadAttention(c, p, x)).message;
    // outputBias false, useBias true: the output's bias is ruled out by outputBias.
    expect(message({ ...config, outputBias: false }, params)).toMatch(
      /params.output.bias must be absent \(config.outputBias is false\)/,
    );
    // useBias false, outputBias following it: the output's bias is ruled out by useBias.
    expect(message({ ...config, useBias: false }, { ...noBias, output: params.output })).toMatch(
      /params.output.bias must be absent \(config.useBias is false\)/,
    );
    expect(message({ ...config, useBias: false }, params)).toMatch(
      /params.query.bias must be absent \(config.useBias is false\)/,
    );
    // useBias false, outputBias true: the missing output bias is asked for by outputBias.
    expect(message({ ...config, useBias: false, outputBias: true }, noBias)).toMatch(
      /config.outputBias is not false/,
    );
    expect(message(config, noBias)).toMatch(
      /params.query.bias must be .*config.useBias is not false/,
    );
    // outputBias false, useBias true: the missing query bias is asked for by useBias.
    const { bias: _queryBias, ...queryKernel } = params.query;
    expect(message({ ...config, outputBias: false }, { ...params, query: queryKernel })).toMatch(
      /params.query.bias must be .*config.useBias is not false/,
    );
    tf.dispose([x, ...leaves(params), ...leaves(noBias)]);
  });

  it('initAttentionCache and contextAttentionCache name their arguments', () => {
    const config = { dModel: 8, numHeads: 2, contextDim: 6 };
    const params = initMultiHeadAttention(config, 0);
    const context = tf.zeros([1, 3, 6]) as tf.Tensor3D;
    const wide = tf.zeros([1, 3, 8]) as tf.Tensor3D;
    const flat = tf.zeros([3, 6]);
    const cases: Array<[string, string, () => unknown]> = [
      ['initAttentionCache', 'batch', () => initAttentionCache(config, 1.5, 4)],
      ['initAttentionCache', 'capacity', () => initAttentionCache(config, 1, 0)],
      [
        'initAttentionCache',
        'config.numHeads',
        () => initAttentionCache({ dModel: 8, numHeads: 0 }, 1, 4),
      ],
      [
        'initMultiHeadAttention',
        'config.dModel',
        () => initMultiHeadAttention({ dModel: -8, numHeads: 2 }, 0),
      ],
      [
        'contextAttentionCache',
        'context',
        () => contextAttentionCache(config, params, flat as never),
      ],
      [
        'contextAttentionCache',
        'context.shape[2]',
        () => contextAttentionCache(config, params, wide),
      ],
      [
        'contextAttentionCache',
        'params.key.kernel',
        () => contextAttentionCache(config, { query: params.query } as never, context),
      ],
      [
        'contextAttentionCache',
        'config.numKvHeads',
        () => contextAttentionCache({ ...config, numKvHeads: 3 }, params, context),
      ],
    ];
    for (const [fn, argument, call] of cases) {
      const e = thrownWithoutLeak(call);
      expect(e.functionName, argument).toBe(fn);
      expect(e.argument, argument).toBe(argument);
    }
    const cache = initAttentionCache({ dModel: 10, numHeads: 4, numKvHeads: 2, headDim: 3 }, 2, 5);
    expect(cache.key.shape).toEqual([2, 2, 5, 3]);
    expect(cache.value.shape).toEqual([2, 2, 5, 3]);
    tf.dispose([context, wide, flat, cache.key, cache.value, ...leaves(params)]);
  });
});
