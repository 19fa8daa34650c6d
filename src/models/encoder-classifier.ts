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
  tanh,
  tidy,
} from '@tensorflow/tfjs-core';
import {
  blockCheckpointing,
  checkGradientCheckpointing,
  type GradientCheckpointing,
} from '../blocks/checkpoint';
import {
  checkBlockConfig,
  initTransformerEncoderBlock,
  type TransformerBlockConfig,
  type TransformerEncoderBlockParams,
  transformerEncoderBlock,
} from '../blocks/transformer-block';
import { TfjsBlocksError } from '../errors';
import {
  checkInteger,
  checkOptionKeys,
  describeChoice,
  describeValue,
  formatShape,
  optionKeys,
} from '../internal/checks';
import { checkClassLabels } from '../internal/label-checks';
import { splitSeed } from '../internal/seed';
import { tidyParams } from '../internal/tidy-params';
import {
  type EmbeddingConfig,
  type EmbeddingParams,
  embed,
  initEmbedding,
  positionEmbedding,
  tableRowsCore,
} from '../nn/embedding';
import { initLinear, type LinearConfig, type LinearParams, linear } from '../nn/linear';
import { initNorm, type NormParams, normalize } from '../nn/norm';
import type { WithQuantizedKernels } from '../nn/quantized-weights';

/**
 * A BERT-like encoder classifier: token + learned position (+ token-type)
 * embeddings, a norm on the embeddings, encoder blocks, pooling over the
 * sequence, an optional tanh pooler, and a linear head.
 * {@link bertConfig} fills in BERT's choices.
 */
export type EncoderClassifierConfig = {
  /** Vocabulary size. */
  vocabSize: number;
  /** Longest sequence. */
  maxLength: number;
  /** Number of encoder blocks. */
  numLayers: number;
  /**
   * Number of output classes; `0` for an encoder without a classifier head
   * (a bare `BertModel`), which {@link encoderHiddenStates} runs.
   */
  numClasses: number;
  /** `'cls'`: the first token's state (put a [CLS] token first); `'mean'`: mean over non-padding tokens. */
  pooling: 'cls' | 'mean';
  /**
   * Rows of the token-type (segment) embedding table, BERT's
   * `type_vocab_size` (2: sentence A / B). Default: no token-type embeddings.
   */
  typeVocabSize?: number;
  /**
   * `'tanh'`: BERT's pooler, `tanh(pooled · W + b)` with `W` `[dModel, dModel]`,
   * between the pooling and the head (`BertPooler`). Default: none (the pooled
   * state goes to the head as it is).
   */
  pooler?: 'tanh';
  /** The encoder blocks' configuration. */
  block: TransformerBlockConfig;
};

const CONFIG_KEYS = optionKeys<EncoderClassifierConfig>({
  vocabSize: true,
  maxLength: true,
  numLayers: true,
  numClasses: true,
  pooling: true,
  typeVocabSize: true,
  pooler: true,
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
  /** Token-type (segment) table rows, BERT's `type_vocab_size`. Default: none. */
  typeVocabSize?: number;
  /** `'tanh'`: BERT's pooler before the head. Default: none. */
  pooler?: 'tanh';
}

const BERT_SIZES_KEYS = optionKeys<BertSizes>({
  vocabSize: true,
  maxLength: true,
  dModel: true,
  numLayers: true,
  numHeads: true,
  numClasses: true,
  pooling: true,
  typeVocabSize: true,
  pooler: true,
});

/** Parameters of {@link encoderClassifier}. */
export type EncoderClassifierParams = {
  /** `[vocabSize, dModel]`. */
  tokenEmbedding: EmbeddingParams;
  /** `[maxLength, dModel]`. */
  positionEmbedding: EmbeddingParams;
  /** `[typeVocabSize, dModel]`, when `config.typeVocabSize` is set. */
  tokenTypeEmbedding?: EmbeddingParams;
  /** Norm on the summed embeddings (BERT's). */
  embeddingNorm: NormParams;
  /** One entry per layer. */
  blocks: TransformerEncoderBlockParams[];
  /** Norm after the last block, for pre-norm and parallel blocks (they leave the stream unnormalised). */
  finalNorm?: NormParams;
  /** `[dModel, dModel]`, when `config.pooler` is `'tanh'`. */
  pooler?: LinearParams;
  /** `[dModel, numClasses]`; absent when `config.numClasses` is 0 (an encoder without a head). */
  head?: LinearParams;
};

/**
 * BERT's encoder: post-norm LayerNorm (ε 1e-12), exact GELU MLP of
 * 4·dModel, learned positions, [CLS] pooling. `typeVocabSize` and
 * `pooler: 'tanh'` (both off by default) add `BertForSequenceClassification`'s
 * segment embeddings and pooler. See Devlin et al.,
 * https://arxiv.org/abs/1810.04805.
 *
 * @example
 * ```ts
 * const config = bertConfig({ vocabSize: 30522, maxLength: 512, dModel: 256, numLayers: 4, numHeads: 4, numClasses: 2 });
 * const hf = bertConfig({ vocabSize: 30522, maxLength: 512, dModel: 256, numLayers: 4, numHeads: 4, numClasses: 2, typeVocabSize: 2, pooler: 'tanh' });
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
    ...(sizes.typeVocabSize === undefined ? {} : { typeVocabSize: sizes.typeVocabSize }),
    ...(sizes.pooler === undefined ? {} : { pooler: sizes.pooler }),
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
  checkInteger(fn, 'config.numClasses', config.numClasses, 0);
  if (config.pooling !== 'cls' && config.pooling !== 'mean') {
    throw new TfjsBlocksError(fn, 'config.pooling', "'cls' or 'mean'", String(config.pooling));
  }
  if (config.typeVocabSize !== undefined) {
    checkInteger(fn, 'config.typeVocabSize', config.typeVocabSize, 1);
  }
  if (config.pooler !== undefined && config.pooler !== 'tanh') {
    throw new TfjsBlocksError(
      fn,
      'config.pooler',
      "'tanh' or undefined",
      describeChoice(config.pooler),
    );
  }
  checkBlockConfig(fn, config.block, 'config.block');
}

/** Throws unless `params` has every part `config` asks for (shapes are checked where each part is used). */
function checkParams(
  fn: string,
  config: EncoderClassifierConfig,
  params: EncoderClassifierParams | WithQuantizedKernels<EncoderClassifierParams>,
  needsHead: boolean,
): void {
  if (params === null || typeof params !== 'object') {
    throw new TfjsBlocksError(
      fn,
      'params',
      'an encoder classifier params record',
      describeValue(params),
    );
  }
  const need = (field: keyof EncoderClassifierParams, expected: string) => {
    if (params[field] === undefined) {
      throw new TfjsBlocksError(fn, `params.${field}`, expected, 'undefined');
    }
  };
  if (config.typeVocabSize !== undefined) {
    need(
      'tokenTypeEmbedding',
      `a [${config.typeVocabSize}, dModel] table (config.typeVocabSize is set)`,
    );
  }
  if (config.pooler === 'tanh')
    need('pooler', "a [dModel, dModel] linear (config.pooler is 'tanh')");
  if (needsHead) need('head', `a [dModel, ${config.numClasses}] linear`);
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
  // splitSeed's first seeds do not depend on the count: the parts added later
  // (token types, pooler) take the last two, so older configs init as before.
  const seeds = splitSeed(seed, config.numLayers + 5);
  const sub = subConfigs(config);
  return tidyParams(() => ({
    tokenEmbedding: initEmbedding(sub.tokens, seeds[0]!),
    positionEmbedding: initEmbedding(sub.positions, seeds[1]!),
    ...(sub.tokenTypes
      ? { tokenTypeEmbedding: initEmbedding(sub.tokenTypes, seeds[config.numLayers + 3]!) }
      : {}),
    embeddingNorm: initNorm({ ...config.block.norm, dModel }),
    blocks: Array.from({ length: config.numLayers }, (_, i) =>
      initTransformerEncoderBlock(config.block, seeds[3 + i]!),
    ),
    ...(config.block.normPosition === 'post'
      ? {}
      : { finalNorm: initNorm({ ...config.block.norm, dModel }) }),
    ...(config.pooler === 'tanh'
      ? { pooler: initLinear(sub.pooler, seeds[config.numLayers + 4]!) }
      : {}),
    ...(config.numClasses > 0 ? { head: initLinear(sub.head, seeds[2]!) } : {}),
  }));
}

/** Options of {@link encoderClassifier}. */
export type EncoderClassifierOptions = {
  /** `[batch, time]` bool or 0/1, true = real token. Padded keys are hidden from attention and from mean pooling. */
  paddingMask?: Tensor;
  /**
   * int32 `[batch, time]` token types (segments, in `[0, typeVocabSize)`),
   * BERT's `token_type_ids`; only with `config.typeVocabSize`. Default: all 0.
   */
  tokenTypeIds?: Tensor;
  /** Dropout (training mode). Default `false`. */
  training?: boolean;
  /** Dropout seed. Default: random. */
  seed?: number;
  /**
   * Gradient checkpointing of every block (see {@link GradientCheckpointing}):
   * each block keeps only its input for the backward pass, which recomputes
   * it. `trainable` sees model paths (`blocks.0.attention.query.lora.a`).
   * Default `false`.
   */
  gradientCheckpointing?: GradientCheckpointing;
};

const OPTION_KEYS = optionKeys<EncoderClassifierOptions>({
  paddingMask: true,
  tokenTypeIds: true,
  training: true,
  seed: true,
  gradientCheckpointing: true,
});

/**
 * Classifies token sequences: the encoder, pooling (`config.pooling`), the
 * pooler when `config.pooler` is set, and the head. The linears' kernels
 * may be quantized (`quantizeParams(params, { kernelsOnly: true })`).
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
  params: EncoderClassifierParams | WithQuantizedKernels<EncoderClassifierParams>,
  ids: Tensor,
  options: EncoderClassifierOptions = {},
): Tensor2D {
  const fn = 'encoderClassifier';
  const run = prepare(fn, config, params, ids, options, true);
  return tidy(() => {
    const { pooled } = run();
    return linear(subConfigs(config).head, params.head!, pooled) as Tensor2D;
  });
}

/**
 * What {@link encoderHiddenStates} returns.
 *
 * @example
 * ```ts
 * const { hiddenStates, pooled }: EncoderHiddenStates = encoderHiddenStates(config, params, ids);
 * ```
 */
export type EncoderHiddenStates = {
  /** The last block's output (after `finalNorm` when there is one), `[batch, time, dModel]`: HF's `last_hidden_state`. */
  hiddenStates: Tensor3D;
  /** `config.pooling` over `hiddenStates`, then the pooler when `config.pooler` is set, `[batch, dModel]`: HF's `pooler_output`. */
  pooled: Tensor2D;
};

/**
 * Runs an encoder classifier's encoder without its head, for embeddings:
 * the hidden states of every token and the pooled vector. Works with
 * `config.numClasses` 0 (an encoder without a head, such as a bare
 * `BertModel` loaded from Hugging Face) and with a classifier's params (the
 * head is not used). For mean-pooled sentence embeddings run it with
 * `{ ...config, pooling: 'mean', pooler: undefined }`, or pool
 * `hiddenStates` yourself.
 *
 * @param ids - int32 `[batch, time]`.
 * @returns `hiddenStates` `[batch, time, dModel]` and `pooled` `[batch, dModel]`.
 * @example
 * ```ts
 * const config = bertConfig({ vocabSize: 100, maxLength: 16, dModel: 32, numLayers: 2, numHeads: 4, numClasses: 0, typeVocabSize: 2, pooler: 'tanh' });
 * const params = initEncoderClassifier(config, 0);
 * const ids = tf.tensor2d([[1, 5, 7, 2]], undefined, 'int32');
 * const { hiddenStates, pooled } = encoderHiddenStates(config, params, ids, { tokenTypeIds: tf.zerosLike(ids) });
 * ```
 */
export function encoderHiddenStates(
  config: EncoderClassifierConfig,
  params: EncoderClassifierParams | WithQuantizedKernels<EncoderClassifierParams>,
  ids: Tensor,
  options: EncoderClassifierOptions = {},
): EncoderHiddenStates {
  const run = prepare('encoderHiddenStates', config, params, ids, options, false);
  return tidy(run);
}

/**
 * Checks a forward's arguments (before any tensor is made) and returns the
 * forward itself, to run inside the caller's `tidy`.
 */
function prepare(
  fn: string,
  config: EncoderClassifierConfig,
  params: EncoderClassifierParams | WithQuantizedKernels<EncoderClassifierParams>,
  ids: Tensor,
  options: EncoderClassifierOptions,
  needsHead: boolean,
): () => EncoderHiddenStates {
  checkOptionKeys(fn, options, OPTION_KEYS);
  checkConfig(fn, config);
  if (needsHead && config.numClasses === 0) {
    throw new TfjsBlocksError(
      fn,
      'config.numClasses',
      'at least 1 for a classifier (an encoder without a head runs with encoderHiddenStates)',
      '0',
    );
  }
  checkParams(fn, config, params, needsHead);
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
  const { paddingMask, tokenTypeIds } = options;
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
  if (tokenTypeIds !== undefined) {
    if (config.typeVocabSize === undefined) {
      throw new TfjsBlocksError(
        fn,
        'options.tokenTypeIds',
        'undefined (config.typeVocabSize is not set: the model has no token-type embeddings)',
        describeValue(tokenTypeIds),
      );
    }
    checkClassLabels(fn, 'options.tokenTypeIds', tokenTypeIds, [batch, time], config.typeVocabSize);
  }
  const seeds = splitSeed(options.seed ?? Math.floor(Math.random() * 2 ** 31), config.numLayers);
  const trainable = checkGradientCheckpointing(fn, options.gradientCheckpointing);
  return () => {
    const norm = config.block.norm;
    const sub = subConfigs(config);
    let x = embed(sub.tokens, params.tokenEmbedding, ids);
    if (sub.tokenTypes) {
      const table = params.tokenTypeEmbedding!;
      // Without ids every token is type 0: add the table's first row.
      x = add(
        x,
        tokenTypeIds
          ? embed(sub.tokenTypes, table, tokenTypeIds)
          : tableRowsCore(table.table, 0, 1),
      );
    }
    x = add(x, positionEmbedding(sub.positions, params.positionEmbedding, time));
    x = normalize(norm, params.embeddingNorm, x);
    const keep = paddingMask ? cast(paddingMask, 'bool') : undefined;
    const mask = keep ? reshape(keep, [batch, 1, 1, time]) : undefined;
    // Quantized kernels pass through the blocks to affine, which dequantizes them per product.
    (params.blocks as TransformerEncoderBlockParams[]).forEach((block, i) => {
      x = transformerEncoderBlock(config.block, block, x as Tensor3D, {
        mask,
        training: options.training,
        seed: seeds[i],
        gradientCheckpointing: blockCheckpointing(trainable, `blocks.${i}.`),
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
    if (config.pooler === 'tanh') pooled = tanh(linear(sub.pooler, params.pooler!, pooled));
    return { hiddenStates: x as Tensor3D, pooled: pooled as Tensor2D };
  };
}

/** The configs of the classifier's tables, pooler and head. */
function subConfigs(config: EncoderClassifierConfig): {
  tokens: EmbeddingConfig;
  positions: EmbeddingConfig;
  tokenTypes?: EmbeddingConfig;
  pooler: LinearConfig;
  head: LinearConfig;
} {
  const { dModel } = config.block;
  return {
    tokens: { numEmbeddings: config.vocabSize, embeddingDim: dModel },
    positions: { numEmbeddings: config.maxLength, embeddingDim: dModel },
    ...(config.typeVocabSize === undefined
      ? {}
      : { tokenTypes: { numEmbeddings: config.typeVocabSize, embeddingDim: dModel } }),
    pooler: { inFeatures: dModel, outFeatures: dModel },
    head: { inFeatures: dModel, outFeatures: config.numClasses },
  };
}
