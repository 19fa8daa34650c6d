import {
  add,
  concat,
  gather,
  reshape,
  scalar,
  slice,
  type Tensor,
  type Tensor3D,
  type Tensor4D,
  tensor,
  tidy,
  transpose,
  where,
  zeros,
} from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import {
  checkBroadcastsTo,
  checkDim,
  checkFlag,
  checkFloatTensor,
  checkInteger,
  checkOptionKeys,
  describeValue,
  optionKeys,
} from '../internal/checks';
import { splitSeed } from '../internal/seed';
import { tidyParams } from '../internal/tidy-params';
import { affine, initLinear, type LinearParams } from '../nn/linear';
import { checkKernel } from '../nn/quantized-weights';
import {
  ATTENTION_OPTION_KEYS,
  type AttentionOptions,
  checkSlidingWindow,
} from './attention-setup';
import {
  applyRotaryEmbedding,
  applyRotaryEmbeddingCore,
  checkRopeScaling,
  ROTARY_OPTION_KEYS,
  type RotaryEmbeddingOptions,
  rotaryOptions,
} from './rotary-embedding';
import { attentionUnchecked, scaledDotProductAttention } from './scaled-dot-product-attention';

/** Configuration of {@link initMultiHeadAttention}. */
export interface MultiHeadAttentionConfig {
  /** Width of the input and output. */
  dModel: number;
  /** Number of query heads; must divide `dModel` unless `headDim` is given. */
  numHeads: number;
  /** Number of key/value heads (GQA; 1 = MQA). Must divide `numHeads`. Default `numHeads`. */
  numKvHeads?: number;
  /** Per-head width. Default `dModel / numHeads`. */
  headDim?: number;
  /** Width of the cross-attention `context`. Default `dModel`. */
  contextDim?: number;
  /** Biases on the four projections. Default `true` (as `torch.nn.MultiheadAttention`). */
  useBias?: boolean;
  /**
   * A bias on the output projection; the query, key and value projections
   * follow `useBias`. Default `useBias` (Qwen2 has q/k/v biases and none on
   * the output: `useBias: true, outputBias: false`).
   */
  outputBias?: boolean;
}

/**
 * Parameters of {@link multiHeadAttention}: four projections (tensors only;
 * the head counts that say how to split them are in the
 * {@link MultiHeadAttentionConfig}). Kernels are `[in, out]`, the transpose
 * of PyTorch's `Linear.weight`.
 */
export type MultiHeadAttentionParams = {
  /** `[dModel, numHeads · headDim]`. */
  query: LinearParams;
  /** `[contextDim, numKvHeads · headDim]`. */
  key: LinearParams;
  /** `[contextDim, numKvHeads · headDim]`. */
  value: LinearParams;
  /** `[numHeads · headDim, dModel]`. */
  output: LinearParams;
};

/** Options of {@link multiHeadAttention}. */
export interface MultiHeadAttentionOptions extends AttentionOptions {
  /**
   * Keys and values come from this `[batch, tk, contextDim]` sequence
   * (cross-attention). Default: `x` itself (self-attention).
   */
  context?: Tensor3D;
  /** Rotate queries and keys with RoPE (`true` for the defaults). Default `false`. */
  rope?: boolean | RotaryEmbeddingOptions;
  /** Use the memory-efficient chunked path with this block size. Default: off. */
  chunkSize?: number;
}

/**
 * One attention layer's cached keys and values, `[batch, kvHeads, capacity,
 * headDim]` (after RoPE), preallocated to the longest sequence: the
 * `self_attention_cache` of KerasHub's `CachedMultiHeadAttention`.
 *
 * @example
 * ```ts
 * const cache: AttentionCache = { key: tf.zeros([1, 2, 64, 16]), value: tf.zeros([1, 2, 64, 16]) };
 * ```
 */
export type AttentionCache = {
  /** Keys `[batch, kvHeads, capacity, headDim]`. */
  key: Tensor4D;
  /** Values `[batch, kvHeads, capacity, headDim]`. */
  value: Tensor4D;
};

/**
 * Options of {@link multiHeadAttention} with a key/value cache (incremental
 * decoding). With `cacheUpdateIndex`, `x`'s keys and values are written into
 * the cache at that position, RoPE counts positions from it, and the queries
 * attend over the cache: keys at or after `cacheUpdateIndex + time` (not yet
 * written) are hidden, and with `causal` so is every key after the query's
 * own position. Without it the cache is fixed (cross-attention over an
 * encoder output projected once) and `x` only gives the queries. `mask`
 * broadcasts to `[batch, heads, time, capacity]`.
 *
 * With `slidingWindow` (and `causal`) the cache is a **rolling buffer**:
 * position `p` is written to slot `p mod capacity`, so a cache of capacity
 * `slidingWindow` serves any number of positions (a smaller one only while
 * nothing wraps). The queries attend over the cache as it was before the
 * call followed by `x`'s own keys, so `mask` then broadcasts to `[batch,
 * heads, time, capacity + time]`: the slots before the write, then the new
 * keys (true = a real token). Slots hold keys after RoPE: nothing is
 * re-rotated when a slot is reused.
 *
 * @example
 * ```ts
 * const step = multiHeadAttention(config, params, x1, { cache, cacheUpdateIndex: 5, causal: true });
 * ```
 */
export interface CachedAttentionOptions extends MultiHeadAttentionOptions {
  /** The cached keys and values. */
  cache: AttentionCache;
  /** Position of `x`'s first token: where its keys and values are written. Default: the cache is fixed. */
  cacheUpdateIndex?: number;
}

/**
 * What {@link multiHeadAttention} returns with a cache.
 *
 * @example
 * ```ts
 * const { output, cache: next } = multiHeadAttention(config, params, x, { cache, cacheUpdateIndex: 0 });
 * ```
 */
export type CachedAttentionResult = {
  /** `[batch, time, dModel]`. */
  output: Tensor3D;
  /** The cache with `x`'s keys and values written (the given one when it is fixed). */
  cache: AttentionCache;
};

const CONFIG_KEYS = optionKeys<MultiHeadAttentionConfig>({
  dModel: true,
  numHeads: true,
  numKvHeads: true,
  headDim: true,
  contextDim: true,
  useBias: true,
  outputBias: true,
});

const OPTION_KEYS = [
  ...ATTENTION_OPTION_KEYS,
  ...optionKeys<Omit<MultiHeadAttentionOptions, keyof AttentionOptions>>({
    context: true,
    rope: true,
    chunkSize: true,
  }),
  ...optionKeys<Omit<CachedAttentionOptions, keyof MultiHeadAttentionOptions>>({
    cache: true,
    cacheUpdateIndex: true,
  }),
];

/**
 * Throws unless `rope` is a boolean or a plain {@link RotaryEmbeddingOptions}
 * record (the nested option record of attention options and block configs).
 */
export function checkRopeOption(fn: string, name: string, rope: unknown): void {
  if (rope === undefined || typeof rope === 'boolean') return;
  if (rope === null || typeof rope !== 'object' || Array.isArray(rope)) {
    throw new TfjsBlocksError(
      fn,
      name,
      'a boolean or {offset?, base?, scaling?}',
      describeValue(rope),
    );
  }
  checkOptionKeys(fn, rope, ROTARY_OPTION_KEYS, name);
  checkRopeScaling(fn, `${name}.scaling`, (rope as RotaryEmbeddingOptions).scaling);
}

/**
 * Creates {@link MultiHeadAttentionParams}: Glorot-uniform kernels and zero
 * biases, reproducible from `seed`.
 *
 * @example
 * ```ts
 * const params = initMultiHeadAttention({ dModel: 64, numHeads: 8, numKvHeads: 2 }, 42);
 * ```
 */
export function initMultiHeadAttention(
  config: MultiHeadAttentionConfig,
  seed: number,
): MultiHeadAttentionParams {
  const { dModel, numHeads, numKvHeads, headDim, contextDim, useBias, outputBias } =
    checkMultiHeadAttentionConfig('initMultiHeadAttention', config);
  const [sq, sk, sv, so] = splitSeed(seed, 4) as [number, number, number, number];
  return tidyParams(() => ({
    query: initLinear({ inFeatures: dModel, outFeatures: numHeads * headDim, useBias }, sq),
    key: initLinear({ inFeatures: contextDim, outFeatures: numKvHeads * headDim, useBias }, sk),
    value: initLinear({ inFeatures: contextDim, outFeatures: numKvHeads * headDim, useBias }, sv),
    output: initLinear(
      { inFeatures: numHeads * headDim, outFeatures: dModel, useBias: outputBias },
      so,
    ),
  }));
}

/**
 * Throws unless `config` is a complete, consistent
 * {@link MultiHeadAttentionConfig}; returns it with its defaults filled in.
 */
export function checkMultiHeadAttentionConfig(
  fn: string,
  config: MultiHeadAttentionConfig,
): Required<MultiHeadAttentionConfig> {
  checkOptionKeys(fn, config, CONFIG_KEYS, 'config');
  const dModel = checkInteger(fn, 'config.dModel', config?.dModel, 1);
  const numHeads = checkInteger(fn, 'config.numHeads', config.numHeads, 1);
  const numKvHeads = checkInteger(fn, 'config.numKvHeads', config.numKvHeads ?? numHeads, 1);
  if (numHeads % numKvHeads !== 0) {
    throw new TfjsBlocksError(
      fn,
      'config.numKvHeads',
      `a divisor of numHeads (${numHeads})`,
      String(numKvHeads),
    );
  }
  if (config.headDim === undefined && dModel % numHeads !== 0) {
    throw new TfjsBlocksError(
      fn,
      'config.numHeads',
      `a divisor of dModel (${dModel}), or config.headDim given`,
      String(numHeads),
    );
  }
  const headDim = checkInteger(fn, 'config.headDim', config.headDim ?? dModel / numHeads, 1);
  const contextDim = checkInteger(fn, 'config.contextDim', config.contextDim ?? dModel, 1);
  const useBias = config.useBias ?? true;
  const outputBias = config.outputBias ?? useBias;
  return { dModel, numHeads, numKvHeads, headDim, contextDim, useBias, outputBias };
}

/**
 * Multi-head attention over plain params: project `x` to queries and
 * `context` (or `x`) to keys and values, split heads, optionally rotate
 * with RoPE, attend with {@link scaledDotProductAttention}, merge heads and
 * project back. With the same weights it matches
 * `torch.nn.MultiheadAttention(batch_first=True)` (whose boolean masks mean
 * the opposite: `true` = blocked there, `true` = may attend here).
 * `config` is the one {@link initMultiHeadAttention} took; the params must
 * have its shapes.
 *
 * @param x - `[batch, time, dModel]`.
 * @returns `[batch, time, dModel]`.
 * @example
 * ```ts
 * const config = { dModel: 64, numHeads: 8 };
 * const params = initMultiHeadAttention(config, 0);
 * const y = multiHeadAttention(config, params, tf.randomNormal([2, 10, 64]), { causal: true, rope: true });
 * ```
 */
export function multiHeadAttention(
  config: MultiHeadAttentionConfig,
  params: MultiHeadAttentionParams,
  x: Tensor3D,
  options?: MultiHeadAttentionOptions,
): Tensor3D;
export function multiHeadAttention(
  config: MultiHeadAttentionConfig,
  params: MultiHeadAttentionParams,
  x: Tensor3D,
  options: CachedAttentionOptions,
): CachedAttentionResult;
export function multiHeadAttention(
  config: MultiHeadAttentionConfig,
  params: MultiHeadAttentionParams,
  x: Tensor3D,
  options: MultiHeadAttentionOptions | CachedAttentionOptions = {},
): Tensor3D | CachedAttentionResult {
  const fn = 'multiHeadAttention';
  checkOptionKeys(fn, options, OPTION_KEYS);
  checkRopeOption(fn, 'options.rope', options.rope);
  const checked = checkMultiHeadAttentionConfig(fn, config);
  const { dModel, numHeads, numKvHeads, headDim, contextDim } = checked;
  const input = checkFloatTensor<Tensor3D>(fn, 'x', x, {
    rank: 3,
    layout: '[batch, time, dModel]',
  });
  const context =
    options.context === undefined
      ? input
      : checkFloatTensor<Tensor3D>(fn, 'options.context', options.context, {
          rank: 3,
          layout: '[batch, tk, contextDim]',
        });
  checkDim(fn, 'options.context.shape[0]', context.shape[0], input.shape[0], 'x.shape[0] (batch)');
  checkDim(fn, 'x.shape[-1]', input.shape[2], dModel, 'config.dModel');
  // A fixed cache (no cacheUpdateIndex) holds the keys and values: x gives only the queries.
  const fixedCache =
    (options as Partial<CachedAttentionOptions>).cache !== undefined &&
    (options as Partial<CachedAttentionOptions>).cacheUpdateIndex === undefined;
  if (!fixedCache) {
    checkDim(fn, 'options.context.shape[2]', context.shape[2], contextDim, 'config.contextDim');
  }
  checkProjections(fn, params, checked);
  const window = checkWindowOption(fn, options);
  const cached = checkCache(fn, options, input, { numKvHeads, headDim }, window);
  const rolling = window !== undefined && cached?.index !== undefined;
  if (rolling && options.mask !== undefined) {
    const t = input.shape[1];
    const columns = cached.cache.key.shape[2] + t;
    checkBroadcastsTo(
      fn,
      'options.mask',
      options.mask.shape,
      [input.shape[0], numHeads, t, columns],
      '[batch, heads, time, capacity + time] (a rolling cache: the slots, then the new keys)',
    );
  }
  return multiHeadAttentionCore(checked, params, input, options, cached, window, true);
}

/** The attention of one call: `scaledDotProductAttention` (checked) or its unchecked core. */
type AttentionFn = (q: Tensor4D, k: Tensor4D, v: Tensor4D, options: AttentionOptions) => Tensor4D;

/** The public path's attention: every option checked again by `scaledDotProductAttention`. */
const checkedAttention: AttentionFn = (q, k, v, options) =>
  scaledDotProductAttention(q, k, v, options);

/** The public path's RoPE: its options checked again by `applyRotaryEmbedding`. */
const checkedRotary = (x: Tensor4D, options: RotaryEmbeddingOptions) =>
  applyRotaryEmbedding(x, options);

/** A cache option as {@link multiHeadAttention} checked it: the cache and its write index (`undefined`: fixed). */
export type CheckedAttentionCache = { cache: AttentionCache; index: number | undefined };

/**
 * {@link multiHeadAttention} without checks: for blocks whose config,
 * params and options were validated once at the model's entry (cached
 * decoding calls this once per layer per token). `config` has its defaults
 * filled in; `cached` and `window` are what the checked path derives from
 * `options.cache`, `options.cacheUpdateIndex` and `options.slidingWindow`.
 * Projections go through `affine`, so LoRA factors on them apply.
 * `checkedOps` (the public path) runs RoPE and attention through their
 * checked functions, which validate a caller's mask and RoPE options.
 */
export function multiHeadAttentionCore(
  config: Required<MultiHeadAttentionConfig>,
  params: MultiHeadAttentionParams,
  input: Tensor3D,
  options: MultiHeadAttentionOptions | CachedAttentionOptions,
  cached: CheckedAttentionCache | undefined,
  window: number | undefined,
  checkedOps = false,
): Tensor3D | CachedAttentionResult {
  // The public path re-checks what it hands attention and RoPE (a caller's mask, RoPE options).
  const attention = checkedOps ? checkedAttention : attentionUnchecked;
  const rotate = checkedOps ? checkedRotary : applyRotaryEmbeddingCore;
  const { numHeads, numKvHeads, headDim } = config;
  const context = options.context ?? input;
  const {
    context: _c,
    rope,
    cache: _k,
    cacheUpdateIndex: _i,
    ...attentionOptions
  } = options as CachedAttentionOptions;
  return tidy(() => {
    const q = projectHeads(params.query, input, numHeads, headDim);
    let ropeOptions = rotaryOptions(rope);
    if (ropeOptions && cached?.index !== undefined) {
      ropeOptions = { ...ropeOptions, offset: (ropeOptions.offset ?? 0) + cached.index };
    }
    const qr = ropeOptions ? rotate(q, ropeOptions) : q;
    const merge = (attended: Tensor4D) =>
      affine(params.output, mergeHeads(attended, numHeads * headDim)) as Tensor3D;
    if (cached === undefined) {
      // Training / full-sequence forward: keys and values from `context`.
      const k = projectHeads(params.key, context, numKvHeads, headDim);
      const v = projectHeads(params.value, context, numKvHeads, headDim);
      const kr = ropeOptions ? rotate(k, ropeOptions) : k;
      return merge(attention(qr, kr, v, attentionOptions));
    }
    let { key, value } = cached.cache;
    let mask = attentionOptions.mask;
    if (cached.index !== undefined) {
      // x's keys and values, rolled into the cache (a window) or written at the index.
      const k = projectHeads(params.key, input, numKvHeads, headDim);
      const v = projectHeads(params.value, input, numKvHeads, headDim);
      const kr = ropeOptions ? rotate(k, ropeOptions) : k;
      if (window !== undefined) {
        return attendRolling(qr, kr, v, cached.cache, cached.index, window, {
          ...attentionOptions,
          merge,
          attention,
        });
      }
      key = writeAt(key, kr, cached.index);
      value = writeAt(value, v, cached.index);
      mask = withCachePositions(
        mask,
        input.shape[1],
        key.shape[2],
        cached.index,
        attentionOptions.causal === true,
      );
    }
    const attended = attention(qr, key, value, {
      ...attentionOptions,
      causal: false,
      slidingWindow: undefined,
      mask,
    });
    return { output: merge(attended), cache: { key, value } };
  });
}

/**
 * Checks `options.causal` (a boolean) and `options.slidingWindow` before any
 * tensor is made (the cached path hands attention an explicit mask, so
 * `scaledDotProductAttention` would not see them): the window a whole number
 * >= 1, given only with `causal: true`.
 */
function checkWindowOption(fn: string, options: MultiHeadAttentionOptions): number | undefined {
  // Checked here too: the cached path hands attention `causal: false` and a
  // mask of its own, so a `causal: 'yes'` would otherwise pass as non-causal.
  const causal = checkFlag(fn, 'options.causal', options.causal, false);
  return checkSlidingWindow(fn, options.slidingWindow, causal);
}

/**
 * Attention of new queries over a rolling cache (see
 * {@link CachedAttentionOptions}): the keys are the cache's slots as they were
 * followed by the new keys `kr` (positions `index …`), masked by position
 * (`q - window < k <= q`, unwritten slots hidden); the next cache takes each
 * slot's newest position, so a slot whose position left every new query's
 * window is overwritten. One concat and one gather per call.
 */
function attendRolling(
  qr: Tensor4D,
  kr: Tensor4D,
  v: Tensor4D,
  cache: AttentionCache,
  index: number,
  window: number,
  options: AttentionOptions & { merge: (attended: Tensor4D) => Tensor3D; attention: AttentionFn },
): CachedAttentionResult {
  const { merge, attention, ...attentionOptions } = options;
  const capacity = cache.key.shape[2];
  const t = kr.shape[2];
  const keys = concat([cache.key, kr], 2) as Tensor4D; // [B, kvH, capacity + t, D]
  const values = concat([cache.value, v], 2) as Tensor4D;
  const mask = withRollingPositions(attentionOptions.mask, t, capacity, index, window);
  const attended = attention(qr, keys, values, {
    ...attentionOptions,
    causal: false,
    slidingWindow: undefined,
    mask,
  });
  // Slot s of the next cache: the newest of the new keys at a position ≡ s
  // (mod capacity), else the slot's old key.
  const source = new Int32Array(capacity);
  for (let s = 0; s < capacity; s++) source[s] = s;
  for (let j = Math.max(0, t - capacity); j < t; j++) source[(index + j) % capacity] = capacity + j;
  const slots = tensor(source, [capacity], 'int32');
  return {
    output: merge(attended),
    cache: { key: gather(keys, slots, 2) as Tensor4D, value: gather(values, slots, 2) as Tensor4D },
  };
}

/**
 * The position mask of {@link attendRolling} over `capacity + t` columns (the
 * old slots, then the new keys), additive (0 / -Infinity), combined with the
 * caller's `mask`. Slot `s` holds the newest position `p < index` with
 * `p ≡ s (mod capacity)`, none when `p < 0`; query `i` is at `index + i`.
 */
function withRollingPositions(
  mask: Tensor | undefined,
  t: number,
  capacity: number,
  index: number,
  window: number,
): Tensor {
  const columns = capacity + t;
  const bias = new Float32Array(t * columns).fill(Number.NEGATIVE_INFINITY);
  for (let i = 0; i < t; i++) {
    const q = index + i;
    for (let s = 0; s < capacity; s++) {
      const p = index - 1 - ((((index - 1 - s) % capacity) + capacity) % capacity);
      if (p >= 0 && p > q - window) bias[i * columns + s] = 0;
    }
    for (let j = Math.max(0, i - window + 1); j <= i; j++) bias[i * columns + capacity + j] = 0;
  }
  const positions = tensor(bias, [1, 1, t, columns]);
  if (mask === undefined) return positions;
  if (mask.dtype === 'bool') return where(mask, positions, scalar(Number.NEGATIVE_INFINITY));
  return add(mask, positions);
}

/** Throws unless `params` holds the projections (all four, or the `only` ones) of `config`'s shapes. */
function checkProjections(
  fn: string,
  params: MultiHeadAttentionParams,
  config: Required<MultiHeadAttentionConfig>,
  only?: readonly (keyof MultiHeadAttentionParams)[],
): void {
  const { dModel, numHeads, numKvHeads, headDim, contextDim, useBias, outputBias } = config;
  const shapes = {
    query: [dModel, numHeads * headDim, 'config.dModel', 'numHeads · headDim'],
    key: [contextDim, numKvHeads * headDim, 'config.contextDim', 'numKvHeads · headDim'],
    value: [contextDim, numKvHeads * headDim, 'config.contextDim', 'numKvHeads · headDim'],
    output: [numHeads * headDim, dModel, 'numHeads · headDim', 'config.dModel'],
  } as const;
  for (const [name, [rows, cols, rowsWhat, colsWhat]] of Object.entries(shapes)) {
    if (only && !only.includes(name as keyof MultiHeadAttentionParams)) continue;
    const projection = params?.[name as keyof MultiHeadAttentionParams];
    // float32 or quantized (a QLoRA-style base: affine dequantizes it per product)
    const kernel = checkKernel(fn, `params.${name}.kernel`, projection?.kernel, '[in, out]');
    checkDim(fn, `params.${name}.kernel.shape[0]`, kernel[0], rows, rowsWhat);
    checkDim(fn, `params.${name}.kernel.shape[1]`, kernel[1], cols, colsWhat);
    const biasFlag = name === 'output' && outputBias !== useBias ? 'outputBias' : 'useBias';
    if (name === 'output' ? outputBias : useBias) {
      // checkKernel has rejected a missing projection.
      const bias = checkFloatTensor(fn, `params.${name}.bias`, projection!.bias, {
        rank: 1,
        layout: `[out] (config.${biasFlag} is not false)`,
      });
      checkDim(fn, `params.${name}.bias.shape[0]`, bias.shape[0]!, cols, colsWhat);
    } else if (projection!.bias !== undefined) {
      throw new TfjsBlocksError(
        fn,
        `params.${name}.bias`,
        `absent (config.${biasFlag} is false)`,
        describeValue(projection.bias),
      );
    }
  }
}

/**
 * An empty {@link AttentionCache} for `batch` sequences of up to `capacity`
 * tokens (zeros `[batch, numKvHeads, capacity, headDim]`), to fill with
 * `multiHeadAttention(…, { cache, cacheUpdateIndex })`.
 *
 * @example
 * ```ts
 * const config = { dModel: 64, numHeads: 8, numKvHeads: 2 };
 * const params = initMultiHeadAttention(config, 0);
 * let cache = initAttentionCache(config, 1, 128);
 * const prompt = tf.randomNormal([1, 5, 64]) as tf.Tensor3D;
 * const step = multiHeadAttention(config, params, prompt, { cache, cacheUpdateIndex: 0, causal: true });
 * tf.dispose([cache.key, cache.value]); // each call returns new cache tensors
 * cache = step.cache;
 * ```
 */
export function initAttentionCache(
  config: MultiHeadAttentionConfig,
  batch: number,
  capacity: number,
): AttentionCache {
  const fn = 'initAttentionCache';
  const { numKvHeads, headDim } = checkMultiHeadAttentionConfig(fn, config);
  const rows = checkInteger(fn, 'batch', batch, 1);
  const length = checkInteger(fn, 'capacity', capacity, 1);
  return tidy(() => ({
    key: zeros([rows, numKvHeads, length, headDim]) as Tensor4D,
    value: zeros([rows, numKvHeads, length, headDim]) as Tensor4D,
  }));
}

/**
 * The fixed {@link AttentionCache} of a cross-attention `context` (an
 * encoder's output): its keys and values projected once, for every
 * decoding step's `multiHeadAttention(…, { cache })` (no `cacheUpdateIndex`).
 *
 * @param context - `[batch, sourceTime, contextDim]`.
 * @example
 * ```ts
 * const config = { dModel: 64, numHeads: 8 };
 * const params = initMultiHeadAttention(config, 0);
 * const encoderOutput = tf.randomNormal([1, 12, 64]) as tf.Tensor3D;
 * const cross = contextAttentionCache(config, params, encoderOutput);
 * const x = tf.randomNormal([1, 1, 64]) as tf.Tensor3D;
 * const y = multiHeadAttention(config, params, x, { cache: cross }).output;
 * ```
 */
export function contextAttentionCache(
  config: MultiHeadAttentionConfig,
  params: MultiHeadAttentionParams,
  context: Tensor3D,
): AttentionCache {
  const fn = 'contextAttentionCache';
  const checked = checkMultiHeadAttentionConfig(fn, config);
  const input = checkFloatTensor<Tensor3D>(fn, 'context', context, {
    rank: 3,
    layout: '[batch, sourceTime, contextDim]',
  });
  checkDim(fn, 'context.shape[2]', input.shape[2], checked.contextDim, 'config.contextDim');
  checkProjections(fn, params, checked, ['key', 'value']);
  const { numKvHeads, headDim } = checked;
  return tidy(() => ({
    key: projectHeads(params.key, input, numKvHeads, headDim),
    value: projectHeads(params.value, input, numKvHeads, headDim),
  }));
}

/**
 * Checks a cache option against the call: `undefined` without a cache,
 * else the cache and the write index (`undefined` for a fixed cache).
 */
function checkCache(
  fn: string,
  options: MultiHeadAttentionOptions | CachedAttentionOptions,
  x: Tensor3D,
  heads: { numKvHeads: number; headDim: number },
  window?: number,
): { cache: AttentionCache; index: number | undefined } | undefined {
  const { cache, cacheUpdateIndex } = options as Partial<CachedAttentionOptions>;
  if (cache === undefined) {
    if (cacheUpdateIndex !== undefined) {
      throw new TfjsBlocksError(
        fn,
        'options.cacheUpdateIndex',
        'absent without options.cache',
        describeValue(cacheUpdateIndex),
      );
    }
    return undefined;
  }
  if (cache === null || typeof cache !== 'object') {
    throw new TfjsBlocksError(fn, 'options.cache', '{key, value}', describeValue(cache));
  }
  const key = checkFloatTensor<Tensor4D>(fn, 'options.cache.key', cache.key, {
    rank: 4,
    layout: '[batch, kvHeads, capacity, headDim]',
  });
  const value = checkFloatTensor<Tensor4D>(fn, 'options.cache.value', cache.value, {
    rank: 4,
    layout: '[batch, kvHeads, capacity, headDim]',
  });
  for (const [name, t] of [
    ['key', key],
    ['value', value],
  ] as const) {
    const [batch, kvHeads, slots, dim] = t.shape;
    const at = `options.cache.${name}.shape`;
    checkDim(fn, `${at}[0]`, batch, x.shape[0], 'x.shape[0] (batch)');
    checkDim(fn, `${at}[1]`, kvHeads, heads.numKvHeads, 'numKvHeads');
    checkDim(fn, `${at}[2]`, slots, key.shape[2], 'options.cache.key.shape[2]');
    checkDim(fn, `${at}[3]`, dim, heads.headDim, 'headDim');
  }
  if (cacheUpdateIndex === undefined) {
    if (options.context !== undefined) {
      throw new TfjsBlocksError(
        fn,
        'options.context',
        'absent: a cache without cacheUpdateIndex already holds the keys and values',
        'a context tensor',
      );
    }
    return { cache, index: undefined };
  }
  if (options.context !== undefined) {
    throw new TfjsBlocksError(
      fn,
      'options.context',
      'absent with options.cacheUpdateIndex (a self-attention cache)',
      'a context tensor',
    );
  }
  const capacity = key.shape[2];
  const index = checkInteger(fn, 'options.cacheUpdateIndex', cacheUpdateIndex, 0);
  // A rolling cache (sliding window) may wrap once it holds a whole window.
  const wraps = window !== undefined && capacity >= window;
  if (!wraps && index + x.shape[1] > capacity) {
    throw new TfjsBlocksError(
      fn,
      'options.cacheUpdateIndex',
      `at most the cache capacity ${capacity} - ${x.shape[1]} (x's time)${window === undefined ? '' : `, or a cache of capacity >= options.slidingWindow (${window}) to roll`}`,
      String(index),
    );
  }
  return { cache, index };
}

/**
 * `x · kernel + bias` (checked by the caller), split into heads:
 * `[B, T, heads·D]` → `[B, heads, T, D]`.
 */
function projectHeads(
  projection: LinearParams,
  x: Tensor,
  heads: number,
  headDim: number,
): Tensor4D {
  const [batch, time] = x.shape as [number, number];
  const projected = affine(projection, x);
  return transpose(reshape(projected, [batch, time, heads, headDim]), [0, 2, 1, 3]) as Tensor4D;
}

/** Merges heads: `[B, heads, T, D]` → `[B, T, heads·D]`. */
function mergeHeads(attended: Tensor4D, width: number): Tensor {
  const [batch, , time] = attended.shape;
  return reshape(transpose(attended, [0, 2, 1, 3]), [batch, time, width]);
}

/** `cache` with `update` written at time `start` (fixed shape: two slices and a concat). */
function writeAt(cache: Tensor4D, update: Tensor4D, start: number): Tensor4D {
  const [, , capacity] = cache.shape;
  const t = update.shape[2];
  const parts: Tensor4D[] = [];
  if (start > 0) parts.push(slice(cache, [0, 0, 0, 0], [-1, -1, start, -1]));
  parts.push(update);
  if (start + t < capacity)
    parts.push(slice(cache, [0, 0, start + t, 0], [-1, -1, capacity - start - t, -1]));
  return parts.length === 1 ? update : (concat(parts, 2) as Tensor4D);
}

/**
 * `mask` restricted to the cache positions the `t` new queries may see:
 * written keys (`< index + t`), and with `causal` none after the query's own
 * position `index + i`. Returned as an additive float mask (0 / -Infinity),
 * made from a JS table in one upload plus one op, so a decoding step pays
 * no more mask ops than with a caller-made mask.
 */
function withCachePositions(
  mask: Tensor | undefined,
  t: number,
  capacity: number,
  index: number,
  causal: boolean,
): Tensor {
  const bias = new Float32Array(t * capacity);
  for (let i = 0; i < t; i++) {
    const last = causal ? index + i : index + t - 1;
    bias.fill(Number.NEGATIVE_INFINITY, i * capacity + last + 1, (i + 1) * capacity);
  }
  const positions = tensor(bias, [1, 1, t, capacity]);
  if (mask === undefined) return positions;
  if (mask.dtype === 'bool') return where(mask, positions, scalar(Number.NEGATIVE_INFINITY));
  return add(mask, positions);
}
