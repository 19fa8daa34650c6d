import {
  add,
  concat,
  dropout,
  fill,
  type Tensor,
  type Tensor3D,
  tidy,
  where,
  zeros,
} from '@tensorflow/tfjs-core';
import { alibiBias } from '../attention/alibi';
import {
  type AttentionCache,
  checkMultiHeadAttentionConfig,
  checkRopeOption,
  initMultiHeadAttention,
  type MultiHeadAttentionConfig,
  type MultiHeadAttentionParams,
  multiHeadAttention,
  multiHeadAttentionCore,
} from '../attention/multi-head-attention';
import { type RotaryEmbeddingOptions, rotaryOptions } from '../attention/rotary-embedding';
import { TfjsBlocksError } from '../errors';
import {
  checkFloatTensor,
  checkInteger,
  checkNumber,
  checkOptionKeys,
  describeChoice,
  describeValue,
  optionKeys,
} from '../internal/checks';
import { recordSnapshot, sameSnapshot } from '../internal/records';
import { splitSeed } from '../internal/seed';
import { tidyParams } from '../internal/tidy-params';
import {
  checkFeedForwardConfig,
  type FeedForwardActivation,
  type FeedForwardConfig,
  type FeedForwardParams,
  feedForward,
  feedForwardCore,
  initFeedForward,
} from '../nn/feed-forward';
import {
  checkNormConfig,
  initNorm,
  type NormConfig,
  type NormParams,
  normalize,
  normalizeCore,
} from '../nn/norm';
import {
  checkCheckpointingWithoutCache,
  checkGradientCheckpointing,
  checkpointBlock,
  type GradientCheckpointing,
} from './checkpoint';

/** A block's feed-forward layer: {@link FeedForwardConfig} without `dModel`. */
export type BlockFeedForwardConfig = {
  /** Hidden width. */
  hidden: number;
  /** `'mlp'` or `'gated'` (SwiGLU, GeGLU). */
  kind: 'mlp' | 'gated';
  /** The activation. */
  activation: FeedForwardActivation;
  /** Biases. Default `true` for `'mlp'`, `false` for `'gated'`. */
  useBias?: boolean;
};

/**
 * Configuration of a Transformer block. `normPosition` picks the residual
 * layout: `'pre'` (GPT-2, Llama: `x + f(norm(x))`), `'post'` (the original
 * Transformer, BERT: `norm(x + f(x))`) or `'parallel'` (GPT-NeoX: attention
 * and feed-forward both read `x`, `x + attn(norm₁(x)) + ffn(norm₂(x))`).
 */
export type TransformerBlockConfig = {
  /** Width of the residual stream. */
  dModel: number;
  /** Query heads; must divide `dModel` unless `headDim` is given. */
  numHeads: number;
  /** Key/value heads (GQA; 1 = MQA). Default `numHeads`. */
  numKvHeads?: number;
  /**
   * Per-head width of the attention projections (queries, keys, values:
   * `numHeads · headDim` wide; the output projection maps back to `dModel`).
   * Default `dModel / numHeads`. Gemma sets its own (e.g. 256 with
   * `dModel` 2048 and 8 heads).
   */
  headDim?: number;
  /** The feed-forward layer (its `dModel` is the block's). */
  feedForward: BlockFeedForwardConfig;
  /** LayerNorm or RMSNorm, with its epsilon. */
  norm: NormConfig;
  /** Residual layout. Default `'pre'`. */
  normPosition?: 'pre' | 'post' | 'parallel';
  /** Biases on the attention projections. Default `true`. */
  attentionBias?: boolean;
  /**
   * A bias on the attention's output projection (query, key and value
   * follow `attentionBias`). Default `attentionBias`; Qwen2 has
   * `attentionBias: true, attentionOutputBias: false`.
   */
  attentionOutputBias?: boolean;
  /** Rotary position embedding on queries and keys. Default off. */
  rope?: boolean | RotaryEmbeddingOptions;
  /** ALiBi: add the per-head linear distance bias to self-attention scores. Default `false`. */
  alibi?: boolean;
  /**
   * Sliding-window self-attention (Mistral): a token at position `i` attends
   * to positions `i - slidingWindow < j <= i`, in the training forward and
   * in cached decoding, where the cache may then be a rolling buffer of
   * `slidingWindow` slots (see `CachedAttentionOptions`). Decoder blocks
   * only (the window is causal); not with `alibi`. Default: no window.
   */
  slidingWindow?: number;
  /** Dropout on each residual branch while training. Default `0`. */
  dropoutRate?: number;
  /** Dropout on the attention weights while training. Default `0`. */
  attentionDropoutRate?: number;
};

/** Parameters of {@link transformerEncoderBlock}. */
export type TransformerEncoderBlockParams = {
  /** Norm before (pre) or after (post) self-attention. */
  attentionNorm: NormParams;
  /** Self-attention. */
  attention: MultiHeadAttentionParams;
  /** Norm around the feed-forward layer. */
  feedForwardNorm: NormParams;
  /** Feed-forward layer. */
  feedForward: FeedForwardParams;
};

/** Parameters of {@link transformerDecoderBlock}: an encoder block plus optional cross-attention. */
export type TransformerDecoderBlockParams = TransformerEncoderBlockParams & {
  /** Norm around cross-attention (when the block attends to a context). */
  crossAttentionNorm?: NormParams;
  /** Cross-attention over the encoder's output. */
  crossAttention?: MultiHeadAttentionParams;
};

/** Options when applying a block. */
export type TransformerBlockOptions = {
  /** Apply dropout (training mode). Default `false`. */
  training?: boolean;
  /** Seed of the dropout masks. Default: random. */
  seed?: number;
  /** Attention mask over the block's own sequence, broadcastable to `[batch, heads, time, time]` (true = may attend). */
  mask?: Tensor;
  /** Position of the first token (RoPE offset, cached decoding). Default `0`. */
  offset?: number;
  /**
   * Recompute the block in the backward pass instead of keeping its
   * intermediates (see {@link GradientCheckpointing}): less activation
   * memory for about one more forward pass. Not with a cache. Default `false`.
   */
  gradientCheckpointing?: GradientCheckpointing;
};

/** Options of {@link transformerDecoderBlock}. */
export type TransformerDecoderBlockOptions = TransformerBlockOptions & {
  /** Encoder output `[batch, sourceTime, dModel]` for cross-attention. */
  context?: Tensor3D;
  /** Mask over the context, broadcastable to `[batch, heads, time, sourceTime]`. */
  contextMask?: Tensor;
};

/**
 * A decoder block's key/value caches for incremental decoding: its
 * self-attention cache, written at `index` each call, and (encoder-decoder
 * blocks) the cross-attention keys and values of the encoder output,
 * projected once. Tensors are `[batch, kvHeads, capacity, headDim]`.
 *
 * @example
 * ```ts
 * const cache: DecoderBlockCache = { self: { key: tf.zeros([1, 4, 64, 16]), value: tf.zeros([1, 4, 64, 16]) }, index: 0 };
 * ```
 */
export type DecoderBlockCache = {
  /** Self-attention keys and values (RoPE applied). */
  self: AttentionCache;
  /** Cross-attention keys and values of the encoder output (blocks with cross-attention). */
  cross?: AttentionCache;
  /** Position of `x`'s first token: the number of tokens already in `self`. */
  index: number;
};

/**
 * A decoder stack's key/value caches, one entry per layer (what
 * {@link DecoderBlockCache} holds for one block): the `cache` option of
 * `decoderLm` and `runDecoder`.
 *
 * @example
 * ```ts
 * const { logits, cache: next } = decoderLm(config, params, ids, { cache: { self: layers, index: 0 } });
 * ```
 */
export type DecoderCache = {
  /** Self-attention keys and values per layer. */
  self: AttentionCache[];
  /** Cross-attention keys and values per layer (encoder-decoders). */
  cross?: AttentionCache[];
  /** Position of the first new token: the number of tokens already cached. */
  index: number;
};

/** Throws unless `cache` is absent or a {@link DecoderCache} with one entry per layer. */
export function checkDecoderCache(
  fn: string,
  cache: unknown,
  layers: number,
): DecoderCache | undefined {
  if (cache === undefined) return undefined;
  if (cache === null || typeof cache !== 'object' || Array.isArray(cache)) {
    throw new TfjsBlocksError(fn, 'options.cache', '{self, cross?, index}', describeValue(cache));
  }
  checkOptionKeys(fn, cache, DECODER_BLOCK_CACHE_KEYS, 'options.cache');
  const { self, cross, index } = cache as DecoderCache;
  for (const [name, list] of [
    ['self', self],
    ['cross', cross],
  ] as const) {
    if (name === 'cross' && list === undefined) continue;
    if (!Array.isArray(list) || list.length !== layers) {
      throw new TfjsBlocksError(
        fn,
        `options.cache.${name}`,
        `an array of ${layers} {key, value} (one per layer)`,
        Array.isArray(list) ? `${list.length} entries` : describeValue(list),
      );
    }
  }
  checkInteger(fn, 'options.cache.index', index, 0);
  return cache as DecoderCache;
}

/** Layer `i`'s {@link DecoderBlockCache} of a stack's cache. */
export function blockCache(cache: DecoderCache, i: number): DecoderBlockCache {
  const layer: DecoderBlockCache = { self: cache.self[i]!, index: cache.index };
  if (cache.cross) layer.cross = cache.cross[i]!;
  return layer;
}

/**
 * Options of {@link transformerDecoderBlock} with a cache: see
 * {@link DecoderBlockCache}. `mask` broadcasts to `[batch, heads, time,
 * capacity]` (which cached keys are real); the block hides unwritten and
 * future keys itself. `context` may be left out when `cache.cross` is given.
 *
 * @example
 * ```ts
 * const { output, cache: next } = transformerDecoderBlock(config, params, x, { cache });
 * ```
 */
export type CachedDecoderBlockOptions = TransformerDecoderBlockOptions & {
  /** The block's caches. */
  cache: DecoderBlockCache;
};

/**
 * What {@link transformerDecoderBlock} returns with a cache.
 *
 * @example
 * ```ts
 * const { output, cache: next } = transformerDecoderBlock(config, params, x, { cache });
 * ```
 */
export type CachedDecoderBlockResult = {
  /** `[batch, time, dModel]`. */
  output: Tensor3D;
  /** The caches with `x`'s keys and values written (`cross` and `index` as given). */
  cache: DecoderBlockCache;
};

/** The keys of a {@link TransformerBlockConfig}. */
export const BLOCK_CONFIG_KEYS = optionKeys<TransformerBlockConfig>({
  dModel: true,
  numHeads: true,
  numKvHeads: true,
  headDim: true,
  feedForward: true,
  norm: true,
  normPosition: true,
  attentionBias: true,
  attentionOutputBias: true,
  rope: true,
  alibi: true,
  slidingWindow: true,
  dropoutRate: true,
  attentionDropoutRate: true,
});

const BLOCK_FEED_FORWARD_KEYS = optionKeys<BlockFeedForwardConfig>({
  hidden: true,
  kind: true,
  activation: true,
  useBias: true,
});

const BLOCK_OPTION_KEYS = optionKeys<TransformerBlockOptions>({
  training: true,
  seed: true,
  mask: true,
  offset: true,
  gradientCheckpointing: true,
});

const DECODER_BLOCK_OPTION_KEYS = [
  ...BLOCK_OPTION_KEYS,
  ...optionKeys<Omit<TransformerDecoderBlockOptions, keyof TransformerBlockOptions>>({
    context: true,
    contextMask: true,
  }),
  ...optionKeys<Omit<CachedDecoderBlockOptions, keyof TransformerDecoderBlockOptions>>({
    cache: true,
  }),
];

/**
 * Options of {@link initTransformerDecoderBlock}.
 *
 * @example
 * ```ts
 * const options: InitDecoderBlockOptions = { withCrossAttention: true }; // an encoder-decoder's decoder
 * ```
 */
export interface InitDecoderBlockOptions {
  /** Also make a cross-attention sub-block (for encoder-decoder models). Default false. */
  withCrossAttention?: boolean;
}
const INIT_DECODER_BLOCK_OPTION_KEYS = optionKeys<InitDecoderBlockOptions>({
  withCrossAttention: true,
});

/**
 * Validates a block config, its nested `feedForward`, `norm` and `rope`
 * records included (unknown keys are rejected); returns it with defaults
 * filled in, frozen. `name` is how messages call the config (`config.block`
 * inside a model's config).
 *
 * Each config object is validated once: a model runs every layer, forward
 * pass after forward pass, with the same config, so a config that passed is
 * remembered (weakly, with a snapshot of its values) and its checked form
 * returned again without re-validating. A config changed in place since it
 * passed is validated again, and a config that failed is never remembered,
 * so a bad config, hand-built or edited, throws the same typed error on
 * every call.
 */
export function checkBlockConfig(
  fn: string,
  config: TransformerBlockConfig,
  name = 'config',
): CheckedBlockConfig {
  const known = checkedConfigs.get(config);
  if (known && sameSnapshot(known.values, recordSnapshot(config))) return known.checked;
  const checked = Object.freeze(validateBlockConfig(fn, config, name));
  checkedConfigs.set(config, { values: recordSnapshot(config), checked });
  return checked;
}

/** Configs that passed {@link checkBlockConfig}: their values when they passed, and the result. */
const checkedConfigs = new WeakMap<object, { values: unknown[]; checked: CheckedBlockConfig }>();

/** The checks behind {@link checkBlockConfig}, run on a config it has not seen pass. */
function validateBlockConfig(fn: string, config: TransformerBlockConfig, name: string) {
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new TfjsBlocksError(fn, name, 'a block config object', describeValue(config));
  }
  checkOptionKeys(fn, config, BLOCK_CONFIG_KEYS, name);
  const dModel = checkInteger(fn, `${name}.dModel`, config.dModel, 1);
  const numHeads = checkInteger(fn, `${name}.numHeads`, config.numHeads, 1);
  if (config.headDim === undefined && dModel % numHeads !== 0) {
    throw new TfjsBlocksError(
      fn,
      `${name}.numHeads`,
      `a divisor of dModel (${dModel}), or ${name}.headDim given`,
      String(numHeads),
    );
  }
  const headDim = checkInteger(fn, `${name}.headDim`, config.headDim ?? dModel / numHeads, 1);
  const numKvHeads = checkInteger(fn, `${name}.numKvHeads`, config.numKvHeads ?? numHeads, 1);
  if (numHeads % numKvHeads !== 0) {
    throw new TfjsBlocksError(
      fn,
      `${name}.numKvHeads`,
      `a divisor of numHeads (${numHeads})`,
      String(numKvHeads),
    );
  }
  const normPosition = config.normPosition ?? 'pre';
  if (!['pre', 'post', 'parallel'].includes(normPosition)) {
    throw new TfjsBlocksError(
      fn,
      `${name}.normPosition`,
      "'pre', 'post' or 'parallel'",
      describeChoice(normPosition),
    );
  }
  checkNormConfig(fn, `${name}.norm`, config.norm);
  checkOptionKeys(fn, config.feedForward, BLOCK_FEED_FORWARD_KEYS, `${name}.feedForward`);
  checkFeedForwardConfig(fn, `${name}.feedForward`, { ...config.feedForward, dModel });
  checkRopeOption(fn, `${name}.rope`, config.rope);
  if (config.slidingWindow !== undefined) {
    checkInteger(fn, `${name}.slidingWindow`, config.slidingWindow, 1);
    if (config.alibi === true) {
      throw new TfjsBlocksError(
        fn,
        `${name}.alibi`,
        'false or absent with slidingWindow (ALiBi over a rolling cache is not implemented)',
        'true',
      );
    }
  }
  const dropoutRate = checkNumber(fn, `${name}.dropoutRate`, config.dropoutRate ?? 0, {
    min: 0,
    max: 1,
  });
  const attentionDropoutRate = checkNumber(
    fn,
    `${name}.attentionDropoutRate`,
    config.attentionDropoutRate ?? 0,
    { min: 0, max: 1 },
  );
  return {
    ...config,
    dModel,
    numHeads,
    numKvHeads,
    headDim,
    normPosition,
    dropoutRate,
    attentionDropoutRate,
  };
}

/** The {@link MultiHeadAttentionConfig} of a block's self- and cross-attention. */
export function blockAttentionConfig(config: CheckedBlockConfig): MultiHeadAttentionConfig {
  const { dModel, numHeads, numKvHeads, headDim } = config;
  const useBias = config.attentionBias ?? true;
  const outputBias = config.attentionOutputBias ?? useBias;
  return { dModel, numHeads, numKvHeads, headDim, useBias, outputBias };
}

function initAttention(config: CheckedBlockConfig, seed: number): MultiHeadAttentionParams {
  return initMultiHeadAttention(blockAttentionConfig(config), seed);
}

/**
 * Creates the parameters of an encoder block, reproducible from `seed`.
 *
 * @example
 * ```ts
 * const config: TransformerBlockConfig = { dModel: 64, numHeads: 4, norm: { kind: 'layer' }, feedForward: { hidden: 256, kind: 'mlp', activation: 'gelu' } };
 * const params = initTransformerEncoderBlock(config, 0);
 * ```
 */
export function initTransformerEncoderBlock(
  config: TransformerBlockConfig,
  seed: number,
): TransformerEncoderBlockParams {
  const checked = checkBlockConfig('initTransformerEncoderBlock', config);
  const [sa, sf] = splitSeed(seed, 2) as [number, number];
  return tidyParams(() => ({
    attentionNorm: initNorm({ ...checked.norm, dModel: checked.dModel }),
    attention: initAttention(checked, sa),
    feedForwardNorm: initNorm({ ...checked.norm, dModel: checked.dModel }),
    feedForward: initFeedForward({ ...checked.feedForward, dModel: checked.dModel }, sf),
  }));
}

/**
 * Creates the parameters of a decoder block; `withCrossAttention` adds the
 * cross-attention sub-layer of an encoder-decoder model.
 *
 * @example
 * ```ts
 * const params = initTransformerDecoderBlock(config, 0, { withCrossAttention: true });
 * ```
 */
export function initTransformerDecoderBlock(
  config: TransformerBlockConfig,
  seed: number,
  options: InitDecoderBlockOptions = {},
): TransformerDecoderBlockParams {
  const fn = 'initTransformerDecoderBlock';
  checkOptionKeys(fn, options, INIT_DECODER_BLOCK_OPTION_KEYS);
  const checked = checkBlockConfig(fn, config);
  const [se, sc] = splitSeed(seed, 2) as [number, number];
  return tidyParams(() => {
    const block: TransformerDecoderBlockParams = initTransformerEncoderBlock(config, se);
    if (!options?.withCrossAttention) return block;
    return {
      ...block,
      crossAttentionNorm: initNorm({ ...checked.norm, dModel: checked.dModel }),
      crossAttention: initAttention(checked, sc),
    };
  });
}

/** A block config with its defaults filled in (see {@link checkBlockConfig}). */
export type CheckedBlockConfig = Readonly<ReturnType<typeof validateBlockConfig>>;
type Checked = CheckedBlockConfig;

/**
 * One residual branch in the configured layout (pre or post norm), with
 * dropout when training; `fast` runs the norm unchecked (params validated
 * at the model's entry).
 */
function residual(
  config: Checked,
  norm: NormParams,
  x: Tensor,
  f: (h: Tensor) => Tensor,
  drop: (t: Tensor) => Tensor,
  fast = false,
): Tensor {
  const apply = fast ? normalizeCore : normalize;
  if (config.normPosition === 'post') return apply(config.norm, norm, add(x, drop(f(x))));
  return add(x, drop(f(apply(config.norm, norm, x))));
}

/**
 * The {@link MultiHeadAttentionConfig} of a checked block config with its
 * defaults filled in, made once per checked config (the unchecked path's
 * attention config).
 */
function blockAttentionConfigChecked(config: Checked): Required<MultiHeadAttentionConfig> {
  let known = checkedAttentionConfigs.get(config);
  if (known === undefined) {
    known = checkMultiHeadAttentionConfig('transformerDecoderBlock', blockAttentionConfig(config));
    checkedAttentionConfigs.set(config, known);
  }
  return known;
}

const checkedAttentionConfigs = new WeakMap<Checked, Required<MultiHeadAttentionConfig>>();

function dropper(config: Checked, options: TransformerBlockOptions, count: number) {
  const seeds = splitSeed(options.seed ?? Math.floor(Math.random() * 2 ** 31), count);
  let used = 0;
  const active = options.training === true && config.dropoutRate > 0;
  return {
    drop: (t: Tensor) => (active ? dropout(t, config.dropoutRate, undefined, seeds[used++]) : t),
    attentionSeed: () => seeds[used++]!,
  };
}

type AttendExtra = {
  causal?: boolean;
  context?: Tensor3D;
  mask?: Tensor;
  /** Self-attention: RoPE and ALiBi apply. */
  rope?: boolean;
  /** A key/value cache, written at `cacheUpdateIndex` (self) or fixed (cross). */
  cache?: AttentionCache;
  cacheUpdateIndex?: number;
  /** Receives the cache with the new keys and values. */
  updated?: (cache: AttentionCache) => void;
  /** Run attention unchecked (validated at the model's entry). */
  fast?: boolean;
};

/**
 * One attention sub-layer of a block: the same call for the training
 * forward and for cached decoding (which only adds the cache).
 */
function attend(
  config: Checked,
  params: MultiHeadAttentionParams,
  x: Tensor,
  options: TransformerBlockOptions,
  seed: number,
  extra: AttendExtra,
): Tensor {
  const rope = extra.rope ? rotaryOptions(config.rope, options.offset ?? 0) : undefined;
  // ALiBi belongs to self-attention (extra.rope marks it), like RoPE. With a
  // cache the queries sit at index … index + time - 1 of `capacity` keys.
  const time = x.shape[1]!;
  const keys = (extra.cacheUpdateIndex ?? 0) + time;
  const mask =
    extra.rope && config.alibi
      ? withAlibi(extra.mask, config.numHeads, time, keys, extra.cache?.key.shape[2] ?? keys)
      : extra.mask;
  const attentionOptions = {
    causal: extra.causal,
    // The window belongs to causal self-attention, like RoPE and ALiBi.
    slidingWindow: extra.rope && extra.causal ? config.slidingWindow : undefined,
    mask,
    rope,
    dropoutRate: options.training ? config.attentionDropoutRate : 0,
    seed,
  };
  if (extra.fast) {
    const cached =
      extra.cache === undefined ? undefined : { cache: extra.cache, index: extra.cacheUpdateIndex };
    const r = multiHeadAttentionCore(
      blockAttentionConfigChecked(config),
      params,
      x as Tensor3D,
      { ...attentionOptions, context: extra.context },
      cached,
      attentionOptions.slidingWindow,
    );
    if (cached === undefined) return r as Tensor3D;
    const result = r as { output: Tensor3D; cache: AttentionCache };
    if (cached.index !== undefined) extra.updated?.(result.cache);
    return result.output;
  }
  const attentionConfig = blockAttentionConfig(config);
  if (extra.cache === undefined) {
    return multiHeadAttention(attentionConfig, params, x as Tensor3D, {
      ...attentionOptions,
      context: extra.context,
    });
  }
  const { output, cache } = multiHeadAttention(attentionConfig, params, x as Tensor3D, {
    ...attentionOptions,
    cache: extra.cache,
    cacheUpdateIndex: extra.cacheUpdateIndex,
  });
  extra.updated?.(cache);
  return output;
}

/**
 * An attention mask with ALiBi's bias `[1, heads, tq, tk]` added: a bool
 * mask becomes 0 / -Infinity first. `tk` may exceed the bias's keys (a
 * preallocated cache): the extra keys get no bias (they are masked anyway).
 */
function withAlibi(
  mask: Tensor | undefined,
  heads: number,
  tq: number,
  keys: number,
  capacity = keys,
): Tensor {
  let bias: Tensor = alibiBias(heads, tq, keys);
  if (capacity > keys) bias = concat([bias, zeros([1, heads, tq, capacity - keys])], 3);
  if (!mask) return bias;
  const additive =
    mask.dtype === 'bool'
      ? where(mask, zeros(mask.shape), fill(mask.shape, Number.NEGATIVE_INFINITY))
      : mask;
  return add(additive, bias);
}

/**
 * A Transformer encoder block: bidirectional self-attention and a
 * feed-forward layer, each in a residual branch. With `normPosition` and
 * `norm` set to match, it computes `torch.nn.TransformerEncoderLayer`
 * (`norm_first` = `'pre'`).
 *
 * @param x - `[batch, time, dModel]`.
 * @returns `[batch, time, dModel]`.
 * @example
 * ```ts
 * const y = transformerEncoderBlock(config, params, x, { mask: paddingMask }); // mask [batch, 1, 1, time]
 * ```
 */
export function transformerEncoderBlock(
  config: TransformerBlockConfig,
  params: TransformerEncoderBlockParams,
  x: Tensor3D,
  options: TransformerBlockOptions = {},
): Tensor3D {
  const fn = 'transformerEncoderBlock';
  checkOptionKeys(fn, options, BLOCK_OPTION_KEYS);
  const checked = checkBlockConfig(fn, config);
  if (checked.slidingWindow !== undefined) {
    throw new TfjsBlocksError(
      fn,
      'config.slidingWindow',
      'absent for an encoder block (a sliding window is causal: decoder blocks only)',
      String(checked.slidingWindow),
    );
  }
  checkFloatTensor(fn, 'x', x, { rank: 3, layout: `[batch, time, ${checked.dModel}]` });
  const trainable = checkGradientCheckpointing(fn, options.gradientCheckpointing);
  if (trainable !== undefined) {
    return checkpointBlock(params, x, options, trainable, (p, input, o) =>
      transformerEncoderBlock(config, p, input as Tensor3D, o),
    ) as Tensor3D;
  }
  return tidy(() => {
    const { drop, attentionSeed } = dropper(checked, options, 4);
    const selfAttention = (h: Tensor) =>
      attend(checked, params.attention, h, options, attentionSeed(), {
        mask: options.mask,
        rope: true,
      });
    const ffn = (h: Tensor) =>
      feedForward({ ...checked.feedForward, dModel: checked.dModel }, params.feedForward, h);
    if (checked.normPosition === 'parallel') {
      const a = selfAttention(normalize(checked.norm, params.attentionNorm, x));
      const f = ffn(normalize(checked.norm, params.feedForwardNorm, x));
      return add(add(x, drop(a)), drop(f));
    }
    const h = residual(checked, params.attentionNorm, x, selfAttention, drop);
    return residual(checked, params.feedForwardNorm, h, ffn, drop);
  }) as Tensor3D;
}

/**
 * A Transformer decoder block: causal self-attention, optional
 * cross-attention over `options.context` (encoder-decoder models), and a
 * feed-forward layer. With matching settings it computes GPT-2's and
 * Llama's blocks and `torch.nn.TransformerDecoderLayer`.
 *
 * @param x - `[batch, time, dModel]`.
 * @returns `[batch, time, dModel]`.
 * @example
 * ```ts
 * const y = transformerDecoderBlock(config, params, x, { context: encoderOutput });
 * ```
 */
export function transformerDecoderBlock(
  config: TransformerBlockConfig,
  params: TransformerDecoderBlockParams,
  x: Tensor3D,
  options?: TransformerDecoderBlockOptions,
): Tensor3D;
export function transformerDecoderBlock(
  config: TransformerBlockConfig,
  params: TransformerDecoderBlockParams,
  x: Tensor3D,
  options: CachedDecoderBlockOptions,
): CachedDecoderBlockResult;
export function transformerDecoderBlock(
  config: TransformerBlockConfig,
  params: TransformerDecoderBlockParams,
  x: Tensor3D,
  options: TransformerDecoderBlockOptions | CachedDecoderBlockOptions = {},
): Tensor3D | CachedDecoderBlockResult {
  const fn = 'transformerDecoderBlock';
  checkOptionKeys(fn, options, DECODER_BLOCK_OPTION_KEYS);
  const checked = checkBlockConfig(fn, config);
  checkFloatTensor(fn, 'x', x, { rank: 3, layout: `[batch, time, ${checked.dModel}]` });
  const cache = checkBlockCache(fn, (options as Partial<CachedDecoderBlockOptions>).cache);
  const hasContext = options.context !== undefined || cache?.cross !== undefined;
  if (hasContext !== (params.crossAttention !== undefined)) {
    throw new TfjsBlocksError(
      fn,
      'options.context',
      params.crossAttention
        ? 'given (or options.cache.cross): the block has cross-attention'
        : 'absent: the block has no cross-attention',
      options.context === undefined ? 'undefined' : 'a context tensor',
    );
  }
  const trainable = checkCheckpointingWithoutCache(
    fn,
    options.gradientCheckpointing,
    cache !== undefined,
  );
  if (trainable !== undefined) {
    return checkpointBlock(params, x, options, trainable, (p, input, o) =>
      transformerDecoderBlock(config, p, input as Tensor3D, o),
    ) as Tensor3D;
  }
  return decoderBlockForward(checked, params, x, options, cache, false);
}

/**
 * {@link transformerDecoderBlock} without checks: for models that
 * validated the block config (`checked`), the params and the options once
 * at their entry; the sub-layers run their unchecked cores (attention, norm,
 * feed-forward, all products through `affine`).
 *
 * @param x - `[batch, time, dModel]`.
 */
export function transformerDecoderBlockCore(
  checked: CheckedBlockConfig,
  params: TransformerDecoderBlockParams,
  x: Tensor3D,
  options: TransformerDecoderBlockOptions,
  cache: DecoderBlockCache | undefined,
): Tensor3D | CachedDecoderBlockResult {
  return decoderBlockForward(checked, params, x, options, cache, true);
}

/** The decoder block's forward, checked sub-layers or (`fast`) their unchecked cores. */
function decoderBlockForward(
  checked: CheckedBlockConfig,
  params: TransformerDecoderBlockParams,
  x: Tensor3D,
  options: TransformerDecoderBlockOptions,
  cache: DecoderBlockCache | undefined,
  fast: boolean,
): Tensor3D | CachedDecoderBlockResult {
  return tidy(() => {
    const { drop, attentionSeed } = dropper(checked, options, 6);
    let self: AttentionCache | undefined;
    const output = decoderBlockLayout(
      checked,
      params,
      x,
      drop,
      {
        self: (h) =>
          attend(checked, params.attention, h, options, attentionSeed(), {
            causal: true,
            mask: options.mask,
            rope: true,
            cache: cache?.self,
            cacheUpdateIndex: cache?.index,
            updated: (c) => {
              self = c;
            },
            fast,
          }),
        cross: (q) =>
          attend(checked, params.crossAttention!, q, options, attentionSeed(), {
            context: cache?.cross ? undefined : options.context,
            mask: options.contextMask,
            cache: cache?.cross,
            fast,
          }),
      },
      fast,
    ) as Tensor3D;
    if (cache === undefined) return output;
    // The new self-attention tensors are returned, so tidy keeps them.
    return { output, cache: { ...cache, self: self! } };
  });
}

/** Throws unless `cache` is absent or a {@link DecoderBlockCache} record with an integer index. */
function checkBlockCache(fn: string, cache: unknown): DecoderBlockCache | undefined {
  if (cache === undefined) return undefined;
  if (cache === null || typeof cache !== 'object' || Array.isArray(cache)) {
    throw new TfjsBlocksError(fn, 'options.cache', '{self, cross?, index}', describeValue(cache));
  }
  checkOptionKeys(fn, cache, DECODER_BLOCK_CACHE_KEYS, 'options.cache');
  const { self, index } = cache as DecoderBlockCache;
  if (self === null || typeof self !== 'object') {
    throw new TfjsBlocksError(fn, 'options.cache.self', '{key, value}', describeValue(self));
  }
  checkInteger(fn, 'options.cache.index', index, 0);
  return cache as DecoderBlockCache;
}

const DECODER_BLOCK_CACHE_KEYS = optionKeys<DecoderBlockCache>({
  self: true,
  cross: true,
  index: true,
});

/** The attention sub-layers of a decoder block, as functions of their normalised input. */
type DecoderBlockAttention = {
  /** Causal self-attention. */
  self: (h: Tensor) => Tensor;
  /** Cross-attention (blocks that have it). */
  cross: (h: Tensor) => Tensor;
};

/** A decoder block's residual layout around its attention sub-layers. */
function decoderBlockLayout(
  config: CheckedBlockConfig,
  params: TransformerDecoderBlockParams,
  x: Tensor,
  drop: (t: Tensor) => Tensor,
  attention: DecoderBlockAttention,
  fast = false,
): Tensor {
  const ffn = fast
    ? (h: Tensor) => feedForwardCore(blockFeedForwardConfig(config), params.feedForward, h)
    : (h: Tensor) =>
        feedForward({ ...config.feedForward, dModel: config.dModel }, params.feedForward, h);
  if (config.normPosition === 'parallel') {
    if (params.crossAttention) {
      throw new TfjsBlocksError(
        'transformerDecoderBlock',
        'config.normPosition',
        "'pre' or 'post' for a block with cross-attention",
        "'parallel'",
      );
    }
    const norm = fast ? normalizeCore : normalize;
    const a = attention.self(norm(config.norm, params.attentionNorm, x));
    const f = ffn(norm(config.norm, params.feedForwardNorm, x));
    return add(add(x, drop(a)), drop(f));
  }
  let h = residual(config, params.attentionNorm, x, attention.self, drop, fast);
  if (params.crossAttention && params.crossAttentionNorm) {
    h = residual(config, params.crossAttentionNorm, h, attention.cross, drop, fast);
  }
  return residual(config, params.feedForwardNorm, h, ffn, drop, fast);
}

/** The feed-forward config of a checked block config, made once per checked config. */
function blockFeedForwardConfig(config: CheckedBlockConfig): FeedForwardConfig {
  let known = feedForwardConfigs.get(config);
  if (known === undefined) {
    known = { ...config.feedForward, dModel: config.dModel };
    feedForwardConfigs.set(config, known);
  }
  return known;
}

const feedForwardConfigs = new WeakMap<CheckedBlockConfig, FeedForwardConfig>();
