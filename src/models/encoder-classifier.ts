import {
  add,
  cast,
  div,
  expandDims,
  maximum,
  mul,
  reshape,
  slice,
  sum,
  type Tensor,
  type Tensor2D,
  type Tensor3D,
  tidy,
} from '@tensorflow/tfjs-core';
import {
  checkBlockConfig,
  initTransformerEncoderBlock,
  type TransformerBlockConfig,
  type TransformerEncoderBlockParams,
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
  positionEmbedding,
} from '../nn/embedding';
import { initLinear, type LinearConfig, type LinearParams, linear } from '../nn/linear';
import { initNorm, type NormParams, normalize } from '../nn/norm';

/**
 * A BERT-like encoder classifier: token + learned position embeddings, a
 * norm on the embeddings, encoder blocks, pooling over the sequence, and a
 * linear head. {@link bertConfig} fills in BERT's choices.
 */
export type EncoderClassifierConfig = {
  /** Vocabulary size. */
  vocabSize: number;
  /** Longest sequence. */
  maxLength: number;
  /** Number of encoder blocks. */
  numLayers: number;
  /** Number of output classes. */
  numClasses: number;
  /** `'cls'`: the first token's state (put a [CLS] token first); `'mean'`: mean over non-padding tokens. */
  pooling: 'cls' | 'mean';
  /** The encoder blocks' configuration. */
  block: TransformerBlockConfig;
};

const CONFIG_KEYS = optionKeys<EncoderClassifierConfig>({
  vocabSize: true,
  maxLength: true,
  numLayers: true,
  numClasses: true,
  pooling: true,
  block: true,
});

/**
 * The sizes {@link bertConfig} takes.
 *
 * @example
 * ```ts
 * const sizes: BertSizes = { vocabSize: 30522, maxLength: 512, dModel: 256, numLayers: 4, numHeads: 4, numClasses: 2 };
 * ```
 */
export interface BertSizes {
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
  /** Output classes. */
  numClasses: number;
  /** How the sequence becomes one vector: the first token's state or the mean. Default `'cls'`. */
  pooling?: 'cls' | 'mean';
}

const BERT_SIZES_KEYS = optionKeys<BertSizes>({
  vocabSize: true,
  maxLength: true,
  dModel: true,
  numLayers: true,
  numHeads: true,
  numClasses: true,
  pooling: true,
});

/** Parameters of {@link encoderClassifier}. */
export type EncoderClassifierParams = {
  /** `[vocabSize, dModel]`. */
  tokenEmbedding: EmbeddingParams;
  /** `[maxLength, dModel]`. */
  positionEmbedding: EmbeddingParams;
  /** Norm on the summed embeddings (BERT's). */
  embeddingNorm: NormParams;
  /** One entry per layer. */
  blocks: TransformerEncoderBlockParams[];
  /** Norm after the last block, for pre-norm and parallel blocks (they leave the stream unnormalised). */
  finalNorm?: NormParams;
  /** `[dModel, numClasses]`. */
  head: LinearParams;
};

/**
 * BERT's encoder: post-norm LayerNorm (ε 1e-12), exact GELU MLP of
 * 4·dModel, learned positions, [CLS] pooling. See Devlin et al.,
 * https://arxiv.org/abs/1810.04805.
 *
 * @example
 * ```ts
 * const config = bertConfig({ vocabSize: 30522, maxLength: 512, dModel: 256, numLayers: 4, numHeads: 4, numClasses: 2 });
 * ```
 */
export function bertConfig(sizes: BertSizes): EncoderClassifierConfig {
  checkOptionKeys('bertConfig', sizes, BERT_SIZES_KEYS, 'sizes');
  checkInteger('bertConfig', 'sizes.dModel', sizes?.dModel, 1);
  return {
    vocabSize: sizes.vocabSize,
    maxLength: sizes.maxLength,
    numLayers: sizes.numLayers,
    numClasses: sizes.numClasses,
    pooling: sizes.pooling ?? 'cls',
    block: {
      dModel: sizes.dModel,
      numHeads: sizes.numHeads,
      norm: { kind: 'layer', epsilon: 1e-12 },
      normPosition: 'post',
      feedForward: { hidden: 4 * sizes.dModel, kind: 'mlp', activation: 'gelu' },
    },
  };
}

function checkConfig(fn: string, config: EncoderClassifierConfig): void {
  checkOptionKeys(fn, config, CONFIG_KEYS, 'config');
  checkInteger(fn, 'config.vocabSize', config?.vocabSize, 1);
  checkInteger(fn, 'config.maxLength', config.maxLength, 1);
  checkInteger(fn, 'config.numLayers', config.numLayers, 1);
  checkInteger(fn, 'config.numClasses', config.numClasses, 1);
  if (config.pooling !== 'cls' && config.pooling !== 'mean') {
    throw new TfjsBlocksError(fn, 'config.pooling', "'cls' or 'mean'", String(config.pooling));
  }
  checkBlockConfig(fn, config.block, 'config.block');
}

/**
 * Creates an encoder classifier's parameters, reproducible from `seed`.
 *
 * @example
 * ```ts
 * const params = initEncoderClassifier(bertConfig({ vocabSize: 100, maxLength: 32, dModel: 64, numLayers: 2, numHeads: 4, numClasses: 3 }), 0);
 * ```
 */
export function initEncoderClassifier(
  config: EncoderClassifierConfig,
  seed: number,
): EncoderClassifierParams {
  checkConfig('initEncoderClassifier', config);
  const { dModel } = config.block;
  const seeds = splitSeed(seed, config.numLayers + 3);
  return tidyParams(() => ({
    tokenEmbedding: initEmbedding(subConfigs(config).tokens, seeds[0]!),
    positionEmbedding: initEmbedding(subConfigs(config).positions, seeds[1]!),
    embeddingNorm: initNorm({ ...config.block.norm, dModel }),
    blocks: Array.from({ length: config.numLayers }, (_, i) =>
      initTransformerEncoderBlock(config.block, seeds[3 + i]!),
    ),
    ...(config.block.normPosition === 'post'
      ? {}
      : { finalNorm: initNorm({ ...config.block.norm, dModel }) }),
    head: initLinear(subConfigs(config).head, seeds[2]!),
  }));
}

/** Options of {@link encoderClassifier}. */
export type EncoderClassifierOptions = {
  /** `[batch, time]` bool or 0/1, true = real token. Padded keys are hidden from attention and from mean pooling. */
  paddingMask?: Tensor;
  /** Dropout (training mode). Default `false`. */
  training?: boolean;
  /** Dropout seed. Default: random. */
  seed?: number;
};

const OPTION_KEYS = optionKeys<EncoderClassifierOptions>({
  paddingMask: true,
  training: true,
  seed: true,
});

/**
 * Classifies token sequences.
 *
 * @param ids - int32 `[batch, time]`.
 * @returns logits `[batch, numClasses]`.
 * @example
 * ```ts
 * const logits = encoderClassifier(config, params, ids, { paddingMask });
 * const loss = softmaxCrossEntropy(logits, labels);
 * ```
 */
export function encoderClassifier(
  config: EncoderClassifierConfig,
  params: EncoderClassifierParams,
  ids: Tensor,
  options: EncoderClassifierOptions = {},
): Tensor2D {
  const fn = 'encoderClassifier';
  checkOptionKeys(fn, options, OPTION_KEYS);
  checkConfig(fn, config);
  if (ids?.rank !== 2)
    throw new TfjsBlocksError(
      fn,
      'ids',
      'an int32 tensor [batch, time]',
      ids ? `shape ${formatShape(ids.shape)}` : String(ids),
    );
  const [batch, time] = ids.shape as [number, number];
  if (time > config.maxLength)
    throw new TfjsBlocksError(
      fn,
      'ids.shape[1]',
      `at most config.maxLength = ${config.maxLength}`,
      String(time),
    );
  const { paddingMask } = options;
  if (
    paddingMask &&
    (paddingMask.rank !== 2 || paddingMask.shape[0] !== batch || paddingMask.shape[1] !== time)
  ) {
    throw new TfjsBlocksError(
      fn,
      'options.paddingMask',
      `[batch, time] = ${formatShape([batch, time])}`,
      `shape ${formatShape(paddingMask.shape)}`,
    );
  }
  const seeds = splitSeed(options.seed ?? Math.floor(Math.random() * 2 ** 31), config.numLayers);
  return tidy(() => {
    const norm = config.block.norm;
    const sub = subConfigs(config);
    let x = add(
      embed(sub.tokens, params.tokenEmbedding, ids),
      positionEmbedding(sub.positions, params.positionEmbedding, time),
    );
    x = normalize(norm, params.embeddingNorm, x);
    const keep = paddingMask ? cast(paddingMask, 'bool') : undefined;
    const mask = keep ? reshape(keep, [batch, 1, 1, time]) : undefined;
    params.blocks.forEach((block, i) => {
      x = transformerEncoderBlock(config.block, block, x as Tensor3D, {
        mask,
        training: options.training,
        seed: seeds[i],
      });
    });
    if (params.finalNorm) x = normalize(norm, params.finalNorm, x);
    let pooled: Tensor;
    if (config.pooling === 'cls') {
      pooled = reshape(slice(x, [0, 0, 0], [-1, 1, -1]), [batch, config.block.dModel]);
    } else {
      const weights = keep ? expandDims(cast(keep, 'float32'), 2) : undefined;
      pooled = weights
        ? div(sum(mul(x, weights), 1), maximum(sum(weights, 1), 1))
        : div(sum(x, 1), time);
    }
    return linear(sub.head, params.head, pooled) as Tensor2D;
  });
}

/** The configs of the classifier's tables and head. */
function subConfigs(config: EncoderClassifierConfig): {
  tokens: EmbeddingConfig;
  positions: EmbeddingConfig;
  head: LinearConfig;
} {
  const { dModel } = config.block;
  return {
    tokens: { numEmbeddings: config.vocabSize, embeddingDim: dModel },
    positions: { numEmbeddings: config.maxLength, embeddingDim: dModel },
    head: { inFeatures: dModel, outFeatures: config.numClasses },
  };
}
