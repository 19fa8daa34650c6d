import {
  add,
  cast,
  expandDims,
  fill,
  mul,
  scalar,
  slice,
  Tensor,
  type Tensor3D,
  tidy,
  where,
  zeros,
} from '@tensorflow/tfjs-core';
import type { AttentionCache } from '../attention/multi-head-attention';
import {
  blockCheckpointing,
  checkCheckpointingWithoutCache,
  type GradientCheckpointing,
} from '../blocks/checkpoint';
import {
  blockCache,
  type CachedDecoderBlockResult,
  type CheckedBlockConfig,
  checkBlockConfig,
  checkDecoderCache,
  type DecoderCache,
  initTransformerDecoderBlock,
  type TransformerBlockConfig,
  type TransformerDecoderBlockParams,
  transformerDecoderBlock,
  transformerDecoderBlockCore,
} from '../blocks/transformer-block';
import { TfjsBlocksError } from '../errors';
import {
  checkInteger,
  checkNumber,
  checkOptionKeys,
  formatShape,
  optionKeys,
} from '../internal/checks';
import { checkClassLabels } from '../internal/label-checks';
import { recordSnapshot, sameSnapshot } from '../internal/records';
import { splitSeed } from '../internal/seed';
import { tidyParams } from '../internal/tidy-params';
import {
  type EmbeddingConfig,
  type EmbeddingParams,
  embed,
  embedCore,
  initEmbedding,
  positionEmbedding,
  tableRowsCore,
  tiedOutputProjection,
  tiedOutputProjectionCore,
} from '../nn/embedding';
import { affine, initLinear, type LinearConfig, type LinearParams, linear } from '../nn/linear';
import { initNorm, type NormParams, normalize, normalizeCore } from '../nn/norm';
import { isQuantizedTensor, type WithQuantizedKernels } from '../nn/quantized-weights';
import { visitLeaves } from '../tree/walk';

/**
 * A decoder-only language model: token embeddings (plus learned positions,
 * or RoPE inside attention), `numLayers` decoder blocks, a final norm and
 * the output projection (tied to the token embedding, or its own).
 * {@link gpt2Config} and {@link llamaConfig} fill it in for the two common
 * families.
 */
export type DecoderLmConfig = {
  /** Vocabulary size. */
  vocabSize: number;
  /** Longest sequence (size of the learned position table). */
  maxLength: number;
  /** Number of decoder blocks. */
  numLayers: number;
  /** How positions enter: a learned table added to the embeddings, RoPE in attention, or ALiBi's attention bias. */
  positions: 'learned' | 'rope' | 'alibi';
  /** Output projection shares the token embedding. */
  tieEmbeddings: boolean;
  /** The blocks' configuration (its `rope` is set from `positions`). */
  block: TransformerBlockConfig;
  /**
   * Multiplies the token embeddings before the first block (not the tied
   * output projection): Gemma's `sqrt(dModel)`, which transformers computes
   * in the model's dtype (float32 here). Default: none (a factor of 1).
   */
  embeddingScale?: number;
};

/** The keys of a {@link DecoderLmConfig}. */
export const DECODER_LM_CONFIG_KEYS = optionKeys<DecoderLmConfig>({
  vocabSize: true,
  maxLength: true,
  numLayers: true,
  positions: true,
  tieEmbeddings: true,
  block: true,
  embeddingScale: true,
});

/** Parameters of {@link decoderLm}. */
export type DecoderLmParams = {
  /** `[vocabSize, dModel]`. */
  tokenEmbedding: EmbeddingParams;
  /** `[maxLength, dModel]`, with learned positions. */
  positionEmbedding?: EmbeddingParams;
  /** One entry per layer. */
  blocks: TransformerDecoderBlockParams[];
  /** The norm after the last block. */
  finalNorm: NormParams;
  /** `[dModel, vocabSize]`, when the embeddings are not tied. */
  lmHead?: LinearParams;
};

/** Sizes shared by the presets. */
export type DecoderLmSizes = {
  /** Vocabulary size. */
  vocabSize: number;
  /** Longest sequence. */
  maxLength: number;
  /** Width of the residual stream. */
  dModel: number;
  /** Number of blocks. */
  numLayers: number;
  /** Attention heads. */
  numHeads: number;
};

const SIZES_KEYS = optionKeys<DecoderLmSizes>({
  vocabSize: true,
  maxLength: true,
  dModel: true,
  numLayers: true,
  numHeads: true,
});

/**
 * The sizes {@link llamaConfig} takes.
 *
 * @example
 * ```ts
 * const sizes: LlamaSizes = { vocabSize: 32000, maxLength: 2048, dModel: 512, numLayers: 8, numHeads: 8, numKvHeads: 2, hidden: 1376 };
 * ```
 */
export type LlamaSizes = DecoderLmSizes & {
  /** Key/value heads (grouped-query attention). Default `numHeads`. */
  numKvHeads?: number;
  /** Width of the SwiGLU feed-forward. */
  hidden: number;
  /** RMSNorm epsilon. Default 1e-6. */
  epsilon?: number;
  /** RoPE base. Default 10000. */
  ropeBase?: number;
  /** Share the token table with the output projection. Default false. */
  tieEmbeddings?: boolean;
};

const LLAMA_SIZES_KEYS = [
  ...SIZES_KEYS,
  ...optionKeys<Omit<LlamaSizes, keyof DecoderLmSizes>>({
    numKvHeads: true,
    hidden: true,
    epsilon: true,
    ropeBase: true,
    tieEmbeddings: true,
  }),
];

/**
 * GPT-2's architecture: learned positions, pre-norm LayerNorm (ε 1e-5),
 * GELU (tanh approximation) MLP of width 4·dModel, biases everywhere, tied
 * embeddings. See Radford et al., 2019.
 *
 * @example
 * ```ts
 * const config = gpt2Config({ vocabSize: 50257, maxLength: 1024, dModel: 768, numLayers: 12, numHeads: 12 });
 * ```
 */
export function gpt2Config(sizes: DecoderLmSizes): DecoderLmConfig {
  checkOptionKeys('gpt2Config', sizes, SIZES_KEYS, 'sizes');
  checkInteger('gpt2Config', 'sizes.dModel', sizes?.dModel, 1);
  return {
    vocabSize: sizes.vocabSize,
    maxLength: sizes.maxLength,
    numLayers: sizes.numLayers,
    positions: 'learned',
    tieEmbeddings: true,
    block: {
      dModel: sizes.dModel,
      numHeads: sizes.numHeads,
      norm: { kind: 'layer', epsilon: 1e-5 },
      normPosition: 'pre',
      feedForward: {
        hidden: 4 * sizes.dModel,
        kind: 'mlp',
        activation: 'gelu-tanh',
        useBias: true,
      },
      attentionBias: true,
    },
  };
}

/**
 * Llama's architecture: RoPE, pre-norm RMSNorm (ε 1e-6 by default), SwiGLU
 * feed-forward, grouped-query attention, no biases, separate output
 * projection unless `tieEmbeddings`. See Touvron et al., https://arxiv.org/abs/2302.13971.
 *
 * @example
 * ```ts
 * const config = llamaConfig({ vocabSize: 32000, maxLength: 2048, dModel: 512, numLayers: 8, numHeads: 8, numKvHeads: 2, hidden: 1376 });
 * ```
 */
export function llamaConfig(sizes: LlamaSizes): DecoderLmConfig {
  checkOptionKeys('llamaConfig', sizes, LLAMA_SIZES_KEYS, 'sizes');
  checkInteger('llamaConfig', 'sizes.dModel', sizes?.dModel, 1);
  return {
    vocabSize: sizes.vocabSize,
    maxLength: sizes.maxLength,
    numLayers: sizes.numLayers,
    positions: 'rope',
    tieEmbeddings: sizes.tieEmbeddings ?? false,
    block: {
      dModel: sizes.dModel,
      numHeads: sizes.numHeads,
      numKvHeads: sizes.numKvHeads,
      norm: { kind: 'rms', epsilon: sizes.epsilon ?? 1e-6 },
      normPosition: 'pre',
      feedForward: { hidden: sizes.hidden, kind: 'gated', activation: 'silu', useBias: false },
      attentionBias: false,
      rope: { base: sizes.ropeBase ?? 10000 },
    },
  };
}

/**
 * The blocks' config: RoPE on with `positions: 'rope'`, off with learned
 * positions. The same object is returned for the same model config while
 * its `positions` and `block` are unchanged, so the blocks' once-per-config
 * validation (`checkBlockConfig`) is not repeated on every forward pass (a
 * new object per call cost a full validation per decoded token).
 */
export function decoderBlockConfig(config: DecoderLmConfig): TransformerBlockConfig {
  const snapshot = recordSnapshot({ positions: config.positions, block: config.block });
  const known = derivedBlockConfigs.get(config);
  if (known && sameSnapshot(known.snapshot, snapshot)) return known.block;
  const block: TransformerBlockConfig =
    config.positions === 'rope'
      ? { ...config.block, rope: config.block.rope ?? true, alibi: false }
      : { ...config.block, rope: false, alibi: config.positions === 'alibi' };
  derivedBlockConfigs.set(config, { snapshot, block });
  return block;
}

/** The block config last derived from each model config, and the values it came from. */
const derivedBlockConfigs = new WeakMap<
  DecoderLmConfig,
  { snapshot: unknown[]; block: TransformerBlockConfig }
>();

function checkConfig(fn: string, config: DecoderLmConfig): void {
  checkOptionKeys(fn, config, DECODER_LM_CONFIG_KEYS, 'config');
  checkInteger(fn, 'config.vocabSize', config?.vocabSize, 1);
  checkInteger(fn, 'config.maxLength', config.maxLength, 1);
  checkInteger(fn, 'config.numLayers', config.numLayers, 1);
  if (!['learned', 'rope', 'alibi'].includes(config.positions)) {
    throw new TfjsBlocksError(
      fn,
      'config.positions',
      "'learned', 'rope' or 'alibi'",
      String(config.positions),
    );
  }
  if (config.embeddingScale !== undefined) {
    checkNumber(fn, 'config.embeddingScale', config.embeddingScale, { min: 0, minExclusive: true });
  }
  // The blocks' config (nested records included) is checked before any
  // tensor is made, so a typo there names config.block, not a block.
  checkBlockConfig(fn, config.block, 'config.block');
}

/**
 * Creates a decoder-only model's parameters, reproducible from `seed`
 * (embeddings `N(0, 0.02²)`, Glorot-uniform projections, unit norms).
 *
 * @example
 * ```ts
 * const params = initDecoderLm(gpt2Config({ vocabSize: 64, maxLength: 128, dModel: 128, numLayers: 2, numHeads: 4 }), 0);
 * ```
 */
export function initDecoderLm(config: DecoderLmConfig, seed: number): DecoderLmParams {
  const fn = 'initDecoderLm';
  checkConfig(fn, config);
  const { dModel } = config.block;
  const seeds = splitSeed(seed, config.numLayers + 3);
  return tidyParams(() => ({
    tokenEmbedding: initEmbedding(tableConfigs(config).tokens, seeds[0]!),
    ...(config.positions === 'learned'
      ? {
          positionEmbedding: initEmbedding(
            { ...tableConfigs(config).positions, std: 0.01 },
            seeds[1]!,
          ),
        }
      : {}),
    blocks: Array.from({ length: config.numLayers }, (_, i) =>
      initTransformerDecoderBlock(decoderBlockConfig(config), seeds[3 + i]!),
    ),
    finalNorm: initNorm({ ...config.block.norm, dModel }),
    ...(config.tieEmbeddings
      ? {}
      : {
          lmHead: initLinear(lmHeadConfig(config), seeds[2]!),
        }),
  }));
}

/** Options of {@link decoderLm}. */
export type DecoderLmOptions = {
  /** Dropout (training mode). Default `false`. */
  training?: boolean;
  /** Dropout seed. Default: random. */
  seed?: number;
  /** Padding mask `[batch, time]`, bool or 0/1 (true = real token), combined with the causal mask. */
  paddingMask?: Tensor;
  /**
   * Position of each token `[batch, time]` (int32) for learned positions,
   * e.g. counting from the first real token of a left-padded row. Default
   * `0 … time - 1`.
   */
  positionIds?: Tensor;
  /**
   * Gradient checkpointing of every block (see {@link GradientCheckpointing}):
   * each block keeps only its input for the backward pass, which recomputes
   * it. `trainable` sees model paths (`blocks.0.attention.query.lora.a`).
   * Not with a cache. Default `false`.
   */
  gradientCheckpointing?: GradientCheckpointing;
  /**
   * Logits for the last `logitsToKeep` positions only, `[batch,
   * logitsToKeep, vocabSize]` (Hugging Face's `logits_to_keep`): a prompt's
   * prefill needs the next-token logits of its last position, and the
   * output head over every position is a large share of its cost. An
   * integer in `[0, time]`; `0` (the default) keeps all.
   */
  logitsToKeep?: number;
};

/**
 * Options of {@link decoderLm} with a key/value cache (incremental
 * decoding): `ids` are the new tokens, at positions `cache.index …`; with a
 * cache, `paddingMask` is `[batch, capacity]` and says which cached
 * positions (the new ones included) hold real tokens. With
 * `config.block.slidingWindow` the cache is a rolling buffer (position `p`
 * in slot `p mod capacity`; see `CachedAttentionOptions`) and `paddingMask`
 * is `[batch, capacity + time]`: the slots before this call, then the new
 * tokens.
 *
 * @example
 * ```ts
 * const { logits, cache: next } = decoderLm(config, params, ids, { cache: { self: layers, index: 5 } });
 * ```
 */
export type CachedDecoderLmOptions = DecoderLmOptions & {
  /** The per-layer caches (see {@link DecoderCache}). */
  cache: DecoderCache;
};

/**
 * What {@link decoderLm} and `runDecoder` return with a cache.
 *
 * @example
 * ```ts
 * const { logits, cache: next } = decoderLm(config, params, ids, { cache });
 * ```
 */
export type CachedDecoderResult = {
  /** `[batch, time, vocab]`. */
  logits: Tensor3D;
  /** The caches with the new tokens' keys and values written (same `index`). */
  cache: DecoderCache;
};

const DECODER_LM_OPTION_KEYS = optionKeys<CachedDecoderLmOptions>({
  training: true,
  seed: true,
  paddingMask: true,
  positionIds: true,
  gradientCheckpointing: true,
  logitsToKeep: true,
  cache: true,
});

/**
 * Runs a decoder-only language model: token ids to next-token logits.
 *
 * The linears' kernels may be quantized (a QLoRA-style frozen base from
 * `quantizeParams(params, { bits, kernelsOnly: true })`): each product
 * dequantizes its kernel and frees it, so only int8/int4 stays resident.
 *
 * @param ids - int32 `[batch, time]`, `time <= maxLength`.
 * @returns logits `[batch, time, vocabSize]`.
 * @example
 * ```ts
 * const logits = decoderLm(config, params, tf.tensor2d([[1, 5, 9]], undefined, 'int32'));
 * const loss = softmaxCrossEntropy(logits, targets);
 * ```
 */
export function decoderLm(
  config: DecoderLmConfig,
  params: DecoderLmParams | WithQuantizedKernels<DecoderLmParams>,
  ids: Tensor,
  options?: DecoderLmOptions,
): Tensor3D;
export function decoderLm(
  config: DecoderLmConfig,
  params: DecoderLmParams | WithQuantizedKernels<DecoderLmParams>,
  ids: Tensor,
  options: CachedDecoderLmOptions,
): CachedDecoderResult;
export function decoderLm(
  config: DecoderLmConfig,
  params: DecoderLmParams | WithQuantizedKernels<DecoderLmParams>,
  ids: Tensor,
  options: DecoderLmOptions | CachedDecoderLmOptions = {},
): Tensor3D | CachedDecoderResult {
  const fn = 'decoderLm';
  checkOptionKeys(fn, options, DECODER_LM_OPTION_KEYS);
  checkConfig(fn, config);
  if (ids?.rank !== 2) {
    throw new TfjsBlocksError(
      fn,
      'ids',
      'an int32 tensor [batch, time]',
      ids ? `shape ${formatShape(ids.shape)}` : String(ids),
    );
  }
  const [, time] = ids.shape as [number, number];
  if (time > config.maxLength) {
    throw new TfjsBlocksError(
      fn,
      'ids.shape[1]',
      `at most config.maxLength = ${config.maxLength}`,
      String(time),
    );
  }
  if (options.logitsToKeep !== undefined) {
    checkInteger(fn, 'options.logitsToKeep', options.logitsToKeep, 0);
    if (options.logitsToKeep > time) {
      throw new TfjsBlocksError(
        fn,
        'options.logitsToKeep',
        `at most ids.shape[1] = ${time}`,
        String(options.logitsToKeep),
      );
    }
  }
  const cache = checkDecoderCache(
    fn,
    (options as Partial<CachedDecoderLmOptions>).cache,
    params.blocks.length,
  );
  const trainable = checkCheckpointingWithoutCache(
    fn,
    options.gradientCheckpointing,
    cache !== undefined,
  );
  const blockSeeds = splitSeed(
    options.seed ?? Math.floor(Math.random() * 2 ** 31),
    config.numLayers,
  );
  const blockCfg = decoderBlockConfig(config);
  const checkedBlock = checkBlockConfig(fn, blockCfg, 'config.block');
  // A checkpointed (training) call always takes the checked blocks, which
  // carry the checkpointing; the validated fast path is for inference.
  if (trainable === undefined && validatedRun(config, checkedBlock, params, ids, options, cache)) {
    return decoderLmForward(config, params, ids, options, cache, blockSeeds, checkedBlock);
  }
  const result = decoderLmForward(
    config,
    params,
    ids,
    options,
    cache,
    blockSeeds,
    undefined,
    trainable,
  );
  rememberValidated(config, checkedBlock, params);
  return result;
}

/**
 * The forward of {@link decoderLm} after its entry checks. With `checked`
 * (the block config, when the params are known valid: see
 * {@link validatedRun}) every layer runs its unchecked core; without it, the
 * checked public functions, whose checks validate the params.
 */
function decoderLmForward(
  config: DecoderLmConfig,
  params: DecoderLmParams | WithQuantizedKernels<DecoderLmParams>,
  ids: Tensor,
  options: DecoderLmOptions | CachedDecoderLmOptions,
  cache: DecoderCache | undefined,
  blockSeeds: number[],
  checked: CheckedBlockConfig | undefined,
  trainable?: (path: string) => boolean,
): Tensor3D | CachedDecoderResult {
  const [, time] = ids.shape as [number, number];
  // The checked path hands the blocks the config itself (they check it).
  const blockCfg = checked ? undefined : decoderBlockConfig(config);
  return tidy(() => {
    // [batch, time] -> [batch, 1, 1, time]: padded keys are hidden from every query.
    // With a cache, [batch, capacity]: which cached keys are real tokens, made
    // additive (0 / -Infinity) once per call, so each layer only adds its
    // position bias to it.
    const keyMask = options.paddingMask
      ? expandDims(expandDims(cast(options.paddingMask, 'bool'), 1), 1)
      : undefined;
    const mask =
      keyMask && cache
        ? where(keyMask, zeros(keyMask.shape), fill(keyMask.shape, Number.NEGATIVE_INFINITY))
        : keyMask;
    let x = checked
      ? embedCore(params.tokenEmbedding.table, ids)
      : embed(tableConfigs(config).tokens, params.tokenEmbedding, ids);
    if (config.embeddingScale !== undefined) x = mul(x, scalar(config.embeddingScale));
    if (params.positionEmbedding) {
      const table = params.positionEmbedding.table;
      const offset = cache?.index ?? 0;
      let positions: Tensor;
      if (checked) {
        positions = options.positionIds
          ? embedCore(table, options.positionIds)
          : tableRowsCore(table, offset, time);
      } else {
        const positionTable = tableConfigs(config).positions;
        positions = options.positionIds
          ? embed(positionTable, params.positionEmbedding, options.positionIds)
          : positionEmbedding(positionTable, params.positionEmbedding, time, { offset });
      }
      x = add(x, positions);
    }
    const self: AttentionCache[] = [];
    // Quantized kernels pass through the blocks to affine, which dequantizes them per product.
    (params.blocks as TransformerDecoderBlockParams[]).forEach((block, i) => {
      const blockOptions = {
        training: options.training,
        seed: blockSeeds[i],
        mask,
        gradientCheckpointing: blockCheckpointing(trainable, `blocks.${i}.`),
      };
      const layerCache = cache === undefined ? undefined : blockCache(cache, i);
      if (checked) {
        const r = transformerDecoderBlockCore(
          checked,
          block,
          x as Tensor3D,
          blockOptions,
          layerCache,
        );
        if (layerCache === undefined) x = r as Tensor3D;
        else {
          x = (r as CachedDecoderBlockResult).output;
          self.push((r as CachedDecoderBlockResult).cache.self);
        }
      } else if (layerCache === undefined) {
        x = transformerDecoderBlock(blockCfg!, block, x as Tensor3D, blockOptions);
      } else {
        const r = transformerDecoderBlock(blockCfg!, block, x as Tensor3D, {
          ...blockOptions,
          cache: layerCache,
        });
        x = r.output;
        self.push(r.cache.self);
      }
    });
    const keep = options.logitsToKeep ?? 0;
    if (keep > 0 && keep < time) x = slice(x, [0, time - keep, 0], [-1, keep, -1]);
    let logits: Tensor3D;
    if (checked) {
      const h = normalizeCore(config.block.norm, params.finalNorm, x);
      logits = (
        params.lmHead
          ? affine(params.lmHead, h)
          : tiedOutputProjectionCore(params.tokenEmbedding.table, h)
      ) as Tensor3D;
    } else {
      const h = normalize(config.block.norm, params.finalNorm, x);
      logits = (
        params.lmHead
          ? linear(lmHeadConfig(config), params.lmHead, h)
          : tiedOutputProjection(tableConfigs(config).tokens, params.tokenEmbedding, h)
      ) as Tensor3D;
    }
    // The new cache tensors are returned with the logits, so tidy keeps them.
    return cache === undefined ? logits : { logits, cache: { ...cache, self } };
  });
}

/** A cached forward of one model: {@link decoderLm} with a cache, config and params bound. */
export type CachedDecoderLmForward = (
  ids: Tensor,
  options: CachedDecoderLmOptions,
) => CachedDecoderResult;

/**
 * {@link decoderLm} with a cache, without any check: for a loop of calls
 * whose config and params stay as they were when a checked `decoderLm` call
 * accepted them (generation's decoder after its prefill), and whose inputs
 * it makes itself (sampled ids, the cache's own mask, positions and
 * tensors). The block config is checked once, here.
 */
export function uncheckedDecoderLm(
  config: DecoderLmConfig,
  params: DecoderLmParams | WithQuantizedKernels<DecoderLmParams>,
): CachedDecoderLmForward {
  const checked = checkBlockConfig('decoderLm', decoderBlockConfig(config), 'config.block');
  return (ids, options) =>
    decoderLmForward(
      config,
      params,
      ids,
      options,
      options.cache,
      splitSeed(options.seed ?? Math.floor(Math.random() * 2 ** 31), config.numLayers),
      checked,
    ) as CachedDecoderResult;
}

/**
 * What a checked {@link decoderLm} run proved of a params record: the
 * tensors it held (by identity) and the config it ran with. A later call
 * with the same config values and the same tensors (none disposed) needs
 * no param check again.
 */
type ValidatedParams = {
  /** Its tensors and quantized kernels, by identity. */
  leaves: unknown[];
  checked: CheckedBlockConfig;
  config: unknown[];
};

const validatedParams = new WeakMap<object, ValidatedParams>();

/** The model-level config values a params check depends on (the block's are in its checked config). */
function configValues(config: DecoderLmConfig): unknown[] {
  return [
    config.vocabSize,
    config.maxLength,
    config.numLayers,
    config.positions,
    config.tieEmbeddings,
    config.embeddingScale,
    config.block,
  ];
}

/** Records that `params` passed a checked run of `config`. */
function rememberValidated(
  config: DecoderLmConfig,
  checked: CheckedBlockConfig,
  params: DecoderLmParams | WithQuantizedKernels<DecoderLmParams>,
): void {
  const leaves = paramLeaves(params);
  if (leaves) validatedParams.set(params, { leaves, checked, config: configValues(config) });
}

/**
 * The tensors and quantized kernels of `params` (a kernel swapped for
 * another quantized one must be noticed too), or `undefined` when it cannot
 * be walked (it is then never remembered).
 */
function paramLeaves(
  params: DecoderLmParams | WithQuantizedKernels<DecoderLmParams>,
): unknown[] | undefined {
  const leaves: unknown[] = [];
  try {
    visitLeaves(params, (leaf) => leaves.push(leaf), {
      fn: 'decoderLm',
      argument: 'params',
      isLeaf: (node) => node instanceof Tensor || isQuantizedTensor(node),
    });
    return leaves;
  } catch {
    return undefined;
  }
}

/**
 * Whether this call may run the unchecked cores: `params` passed a checked
 * run with this config and still hold the same live tensors, and the
 * per-call inputs are of the form the checked path accepts (ids in range,
 * positions within the table, a padding mask and a cache of the expected
 * shapes). Anything else takes the checked path, which throws the same
 * typed error it always did. Ids are range-checked here with `embed`'s own
 * check, so a bad id names `embed`/`ids` on both paths.
 */
function validatedRun(
  config: DecoderLmConfig,
  checked: CheckedBlockConfig,
  params: DecoderLmParams | WithQuantizedKernels<DecoderLmParams>,
  ids: Tensor,
  options: DecoderLmOptions,
  cache: DecoderCache | undefined,
): boolean {
  const known = validatedParams.get(params);
  if (known === undefined || known.checked !== checked) return false;
  if (!sameSnapshot(known.config, configValues(config))) return false;
  const leaves = paramLeaves(params);
  if (leaves === undefined || leaves.length !== known.leaves.length) return false;
  for (let i = 0; i < leaves.length; i++) {
    const leaf = leaves[i];
    if (leaf !== known.leaves[i] || (leaf instanceof Tensor && leaf.isDisposed)) return false;
  }
  const [batch, time] = ids.shape as [number, number];
  const { positionIds, paddingMask } = options;
  let columns = time;
  if (cache !== undefined) {
    if (cache.cross !== undefined || cache.self.length === 0) return false;
    const [b, heads, capacity, width] = cache.self[0]!.key.shape;
    if (b !== batch || heads !== checked.numKvHeads || width !== checked.headDim) return false;
    for (const layer of cache.self) {
      for (const t of [layer?.key, layer?.value]) {
        if (!(t instanceof Tensor) || t.isDisposed || t.dtype !== 'float32' || t.rank !== 4) {
          return false;
        }
        const shape = t.shape;
        if (shape[0] !== b || shape[1] !== heads || shape[2] !== capacity || shape[3] !== width) {
          return false;
        }
      }
    }
    const window = checked.slidingWindow;
    const rolls = window !== undefined && capacity >= window;
    if (!rolls && cache.index + time > capacity) return false;
    columns = window === undefined ? capacity : capacity + time;
  }
  if (paddingMask !== undefined) {
    if (!(paddingMask instanceof Tensor) || paddingMask.isDisposed || paddingMask.rank !== 2) {
      return false;
    }
    if (paddingMask.shape[0] !== batch || paddingMask.shape[1] !== columns) return false;
  }
  checkClassLabels('embed', 'ids', ids, ids.shape, config.vocabSize);
  if (params.positionEmbedding !== undefined) {
    if (positionIds !== undefined) {
      if (!(positionIds instanceof Tensor) || positionIds.rank !== 2) return false;
      if (positionIds.shape[0] !== batch || positionIds.shape[1] !== time) return false;
      checkClassLabels('embed', 'ids', positionIds, positionIds.shape, config.maxLength);
    } else if ((cache?.index ?? 0) + time > config.maxLength) {
      return false;
    }
  }
  return true;
}

/** The configs of a decoder's token and learned position tables. */
function tableConfigs(config: DecoderLmConfig): {
  tokens: EmbeddingConfig;
  positions: EmbeddingConfig;
} {
  const embeddingDim = config.block.dModel;
  return {
    tokens: { numEmbeddings: config.vocabSize, embeddingDim },
    positions: { numEmbeddings: config.maxLength, embeddingDim },
  };
}

/** The config of an untied output head (no bias, as GPT-2's and Llama's). */
function lmHeadConfig(config: DecoderLmConfig): LinearConfig {
  return { inFeatures: config.block.dModel, outFeatures: config.vocabSize, useBias: false };
}
