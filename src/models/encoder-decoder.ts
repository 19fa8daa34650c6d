import { add, cast, reshape, slice, type Tensor, type Tensor3D, tidy } from '@tensorflow/tfjs-core';
import type { AttentionCache } from '../attention/multi-head-attention';
import { sinusoidalPositionEncoding } from '../attention/sinusoidal-position-encoding';
import {
  blockCheckpointing,
  checkCheckpointingWithoutCache,
  checkGradientCheckpointing,
  type GradientCheckpointing,
} from '../blocks/checkpoint';
import {
  blockCache,
  checkBlockConfig,
  checkDecoderCache,
  type DecoderCache,
  initTransformerDecoderBlock,
  initTransformerEncoderBlock,
  type TransformerBlockConfig,
  type TransformerDecoderBlockParams,
  type TransformerEncoderBlockParams,
  transformerDecoderBlock,
  transformerEncoderBlock,
} from '../blocks/transformer-block';
import { TfjsBlocksError } from '../errors';
import { checkInteger, checkOptionKeys, formatShape, optionKeys } from '../internal/checks';
import { splitSeed } from '../internal/seed';
import { tidyParams } from '../internal/tidy-params';
import {
  type EmbeddingConfig,
  type EmbeddingParams,
  embed,
  initEmbedding,
  tiedOutputProjection,
} from '../nn/embedding';
import { initLinear, type LinearConfig, type LinearParams, linear } from '../nn/linear';
import { initNorm, type NormParams, normalize } from '../nn/norm';
import type { CachedDecoderResult } from './decoder-lm';

/**
 * An encoder-decoder (seq2seq) Transformer: the encoder reads the source,
 * the decoder generates the target with causal self-attention and
 * cross-attention to the encoder's output. Positions are the fixed
 * sinusoidal table (added to the embeddings) or RoPE inside attention,
 * as set by `block.rope`.
 */
export type EncoderDecoderConfig = {
  /** Source vocabulary size. */
  sourceVocabSize: number;
  /** Target vocabulary size. */
  targetVocabSize: number;
  /** Longest source or target sequence. */
  maxLength: number;
  /** Encoder blocks. */
  numEncoderLayers: number;
  /** Decoder blocks. */
  numDecoderLayers: number;
  /** Configuration shared by encoder and decoder blocks. */
  block: TransformerBlockConfig;
  /** The output projection shares the target embedding. Default `true`. */
  tieEmbeddings?: boolean;
};

/** Parameters of {@link encoderDecoder}. */
export type EncoderDecoderParams = {
  /** `[sourceVocabSize, dModel]`. */
  sourceEmbedding: EmbeddingParams;
  /** `[targetVocabSize, dModel]`. */
  targetEmbedding: EmbeddingParams;
  /** Encoder blocks. */
  encoder: TransformerEncoderBlockParams[];
  /** Decoder blocks (with cross-attention). */
  decoder: TransformerDecoderBlockParams[];
  /** Final norms of pre-norm stacks. */
  encoderNorm?: NormParams;
  /** Final norm of a pre-norm decoder. */
  decoderNorm?: NormParams;
  /** `[dModel, targetVocabSize]`, when embeddings are not tied. */
  lmHead?: LinearParams;
};

const CONFIG_KEYS = optionKeys<EncoderDecoderConfig>({
  sourceVocabSize: true,
  targetVocabSize: true,
  maxLength: true,
  numEncoderLayers: true,
  numDecoderLayers: true,
  block: true,
  tieEmbeddings: true,
});

function checkConfig(fn: string, config: EncoderDecoderConfig): void {
  checkOptionKeys(fn, config, CONFIG_KEYS, 'config');
  checkInteger(fn, 'config.sourceVocabSize', config?.sourceVocabSize, 1);
  checkInteger(fn, 'config.targetVocabSize', config.targetVocabSize, 1);
  checkInteger(fn, 'config.maxLength', config.maxLength, 1);
  checkInteger(fn, 'config.numEncoderLayers', config.numEncoderLayers, 1);
  checkInteger(fn, 'config.numDecoderLayers', config.numDecoderLayers, 1);
  checkBlockConfig(fn, config.block, 'config.block');
}

/**
 * Creates an encoder-decoder's parameters, reproducible from `seed`.
 *
 * @example
 * ```ts
 * const config: EncoderDecoderConfig = {
 *   sourceVocabSize: 30, targetVocabSize: 40, maxLength: 32, numEncoderLayers: 2, numDecoderLayers: 2,
 *   block: { dModel: 64, numHeads: 4, norm: { kind: 'layer' }, feedForward: { hidden: 256, kind: 'mlp', activation: 'gelu' } },
 * };
 * const params = initEncoderDecoder(config, 0);
 * ```
 */
export function initEncoderDecoder(
  config: EncoderDecoderConfig,
  seed: number,
): EncoderDecoderParams {
  checkConfig('initEncoderDecoder', config);
  const { dModel } = config.block;
  const pre = config.block.normPosition !== 'post';
  const seeds = splitSeed(seed, config.numEncoderLayers + config.numDecoderLayers + 3);
  return tidyParams(() => ({
    sourceEmbedding: initEmbedding(tableConfig(config, 'source'), seeds[0]!),
    targetEmbedding: initEmbedding(tableConfig(config, 'target'), seeds[1]!),
    encoder: Array.from({ length: config.numEncoderLayers }, (_, i) =>
      initTransformerEncoderBlock(config.block, seeds[3 + i]!),
    ),
    decoder: Array.from({ length: config.numDecoderLayers }, (_, i) =>
      initTransformerDecoderBlock(config.block, seeds[3 + config.numEncoderLayers + i]!, {
        withCrossAttention: true,
      }),
    ),
    ...(pre
      ? {
          encoderNorm: initNorm({ ...config.block.norm, dModel }),
          decoderNorm: initNorm({ ...config.block.norm, dModel }),
        }
      : {}),
    ...(config.tieEmbeddings === false
      ? {
          lmHead: initLinear(lmHeadConfig(config), seeds[2]!),
        }
      : {}),
  }));
}

/** Options of {@link runEncoder}, {@link runDecoder} and {@link encoderDecoder}. */
export type EncoderDecoderOptions = {
  /** `[batch, sourceTime]` bool or 0/1, true = real source token. */
  sourceMask?: Tensor;
  /** Dropout (training mode). Default `false`. */
  training?: boolean;
  /** Dropout seed. Default: random. */
  seed?: number;
  /**
   * Gradient checkpointing of every encoder and decoder block (see
   * {@link GradientCheckpointing}); the decoder's recomputation also returns
   * the memory's gradient. `trainable` sees model paths
   * (`encoder.0.attention.query.lora.a`, `decoder.1.crossAttention.value.kernel`).
   * Not with a cache. Default `false`.
   */
  gradientCheckpointing?: GradientCheckpointing;
};

const OPTION_KEYS = optionKeys<EncoderDecoderOptions>({
  sourceMask: true,
  training: true,
  seed: true,
  gradientCheckpointing: true,
});

/**
 * Options of {@link runDecoder} with a key/value cache (incremental
 * decoding): `targetIds` are the new tokens, at positions `cache.index …`;
 * `cache.cross`, when given, holds each layer's cross-attention keys and
 * values of `memory`, projected once.
 *
 * @example
 * ```ts
 * const { logits, cache: next } = runDecoder(config, params, ids, memory, { sourceMask, cache });
 * ```
 */
export type CachedEncoderDecoderOptions = EncoderDecoderOptions & {
  /** The per-layer caches (see {@link DecoderCache}). */
  cache: DecoderCache;
};

const DECODER_OPTION_KEYS = [
  ...OPTION_KEYS,
  ...optionKeys<Omit<CachedEncoderDecoderOptions, keyof EncoderDecoderOptions>>({ cache: true }),
];

function embedWithPositions(
  config: EncoderDecoderConfig,
  side: 'source' | 'target',
  table: EmbeddingParams,
  ids: Tensor,
  fn: string,
  name: string,
  offset = 0,
): Tensor {
  if (ids?.rank !== 2)
    throw new TfjsBlocksError(
      fn,
      name,
      'an int32 tensor [batch, time]',
      ids ? `shape ${formatShape(ids.shape)}` : String(ids),
    );
  const time = ids.shape[1]!;
  if (offset + time > config.maxLength)
    throw new TfjsBlocksError(
      fn,
      `${name}.shape[1]`,
      `at most config.maxLength = ${config.maxLength}${offset ? ` - ${offset} (the offset)` : ''}`,
      String(time),
    );
  const x = embed(tableConfig(config, side), table, ids);
  if (config.block.rope) return x;
  const table2d = sinusoidalPositionEncoding(offset + time, config.block.dModel);
  return add(x, offset ? slice(table2d, [offset, 0], [time, -1]) : table2d);
}

function keyMask(mask: Tensor | undefined): Tensor | undefined {
  if (!mask) return undefined;
  const [batch, time] = mask.shape as [number, number];
  return reshape(cast(mask, 'bool'), [batch, 1, 1, time]);
}

/**
 * Runs the encoder over the source.
 *
 * @param sourceIds - int32 `[batch, sourceTime]`.
 * @returns the memory `[batch, sourceTime, dModel]` that {@link runDecoder} attends to.
 * @example
 * ```ts
 * const memory = runEncoder(config, params, sourceIds, { sourceMask });
 * ```
 */
export function runEncoder(
  config: EncoderDecoderConfig,
  params: EncoderDecoderParams,
  sourceIds: Tensor,
  options: EncoderDecoderOptions = {},
): Tensor3D {
  const fn = 'runEncoder';
  checkOptionKeys(fn, options, OPTION_KEYS);
  checkConfig(fn, config);
  const seeds = splitSeed(
    options.seed ?? Math.floor(Math.random() * 2 ** 31),
    config.numEncoderLayers,
  );
  const trainable = checkGradientCheckpointing(fn, options.gradientCheckpointing);
  return tidy(() => {
    let x = embedWithPositions(
      config,
      'source',
      params.sourceEmbedding,
      sourceIds,
      fn,
      'sourceIds',
    );
    const mask = keyMask(options.sourceMask);
    params.encoder.forEach((block, i) => {
      x = transformerEncoderBlock(config.block, block, x as Tensor3D, {
        mask,
        training: options.training,
        seed: seeds[i],
        gradientCheckpointing: blockCheckpointing(trainable, `encoder.${i}.`),
      });
    });
    return (
      params.encoderNorm ? normalize(config.block.norm, params.encoderNorm, x) : x
    ) as Tensor3D;
  });
}

/**
 * Runs the decoder over the target (teacher forcing), attending to the memory.
 *
 * @param targetIds - int32 `[batch, targetTime]`.
 * @param memory - `[batch, sourceTime, dModel]` from {@link runEncoder}.
 * @returns logits `[batch, targetTime, targetVocabSize]`.
 * @example
 * ```ts
 * const logits = runDecoder(config, params, decoderInputIds, memory, { sourceMask });
 * ```
 */
export function runDecoder(
  config: EncoderDecoderConfig,
  params: EncoderDecoderParams,
  targetIds: Tensor,
  memory: Tensor3D,
  options?: EncoderDecoderOptions,
): Tensor3D;
export function runDecoder(
  config: EncoderDecoderConfig,
  params: EncoderDecoderParams,
  targetIds: Tensor,
  memory: Tensor3D,
  options: CachedEncoderDecoderOptions,
): CachedDecoderResult;
export function runDecoder(
  config: EncoderDecoderConfig,
  params: EncoderDecoderParams,
  targetIds: Tensor,
  memory: Tensor3D,
  options: EncoderDecoderOptions | CachedEncoderDecoderOptions = {},
): Tensor3D | CachedDecoderResult {
  const fn = 'runDecoder';
  checkOptionKeys(fn, options, DECODER_OPTION_KEYS);
  checkConfig(fn, config);
  const cache = checkDecoderCache(
    fn,
    (options as Partial<CachedEncoderDecoderOptions>).cache,
    params.decoder.length,
  );
  const seeds = splitSeed(
    options.seed ?? Math.floor(Math.random() * 2 ** 31),
    config.numDecoderLayers,
  );
  const trainable = checkCheckpointingWithoutCache(
    fn,
    options.gradientCheckpointing,
    cache !== undefined,
  );
  return tidy(() => {
    const contextMask = keyMask(options.sourceMask);
    let x = embedWithPositions(
      config,
      'target',
      params.targetEmbedding,
      targetIds,
      fn,
      'targetIds',
      cache?.index ?? 0,
    );
    const self: AttentionCache[] = [];
    params.decoder.forEach((block, i) => {
      const blockOptions = {
        context: memory,
        contextMask,
        training: options.training,
        seed: seeds[i],
        gradientCheckpointing: blockCheckpointing(trainable, `decoder.${i}.`),
      };
      if (cache === undefined) {
        x = transformerDecoderBlock(config.block, block, x as Tensor3D, blockOptions);
      } else {
        const layer = blockCache(cache, i);
        const r = transformerDecoderBlock(config.block, block, x as Tensor3D, {
          ...blockOptions,
          // Cached cross-attention keys stand for the memory.
          context: layer.cross ? undefined : memory,
          cache: layer,
        });
        x = r.output;
        self.push(r.cache.self);
      }
    });
    const h = params.decoderNorm ? normalize(config.block.norm, params.decoderNorm, x) : x;
    const logits = (
      params.lmHead
        ? linear(lmHeadConfig(config), params.lmHead, h)
        : tiedOutputProjection(tableConfig(config, 'target'), params.targetEmbedding, h)
    ) as Tensor3D;
    return cache === undefined ? logits : { logits, cache: { ...cache, self } };
  });
}

/** The config of the source or the target token table. */
function tableConfig(config: EncoderDecoderConfig, side: 'source' | 'target'): EmbeddingConfig {
  const numEmbeddings = side === 'source' ? config.sourceVocabSize : config.targetVocabSize;
  return { numEmbeddings, embeddingDim: config.block.dModel };
}

/** The config of an untied output head (no bias). */
function lmHeadConfig(config: EncoderDecoderConfig): LinearConfig {
  return { inFeatures: config.block.dModel, outFeatures: config.targetVocabSize, useBias: false };
}

/**
 * Encoder then decoder: target-side next-token logits given the source.
 *
 * @returns logits `[batch, targetTime, targetVocabSize]`.
 * @example
 * ```ts
 * const logits = encoderDecoder(config, params, sourceIds, decoderInputIds, { sourceMask });
 * const loss = softmaxCrossEntropy(logits, targetIds);
 * ```
 */
export function encoderDecoder(
  config: EncoderDecoderConfig,
  params: EncoderDecoderParams,
  sourceIds: Tensor,
  targetIds: Tensor,
  options: EncoderDecoderOptions = {},
): Tensor3D {
  checkOptionKeys('encoderDecoder', options, OPTION_KEYS);
  return tidy(() =>
    runDecoder(config, params, targetIds, runEncoder(config, params, sourceIds, options), options),
  );
}
