import { add, cast, serialization, type Tensor, type Tensor3D, tidy } from '@tensorflow/tfjs-core';
import {
  initMultiHeadAttention,
  type MultiHeadAttentionParams,
  multiHeadAttention,
} from '../attention/multi-head-attention';
import type { RotaryEmbeddingOptions } from '../attention/rotary-embedding';
import {
  checkBlockConfig,
  initTransformerDecoderBlock,
  initTransformerEncoderBlock,
  type TransformerBlockConfig,
  type TransformerDecoderBlockParams,
  type TransformerEncoderBlockParams,
  transformerDecoderBlock,
  transformerEncoderBlock,
} from '../blocks/transformer-block';
import { TfjsBlocksError } from '../errors';
import { checkInteger, checkNumber } from '../internal/checks';
import { splitSeed } from '../internal/seed';
import { type EmbeddingParams, embed, initEmbedding, positionEmbedding } from '../nn/embedding';
import {
  checkFeedForwardConfig,
  type FeedForwardActivation,
  type FeedForwardParams,
  feedForward,
  initFeedForward,
} from '../nn/feed-forward';
import { initNorm, type NormParams } from '../nn/norm';
import { rmsNorm } from '../nn/rms-norm';
import { type BaseLayerArgs, FunctionalLayer } from './functional-layer';

type Kwargs = { training?: boolean; [key: string]: unknown };
type Serializable = Record<string, unknown>;

function layerSeed(seed: number | undefined): number {
  return seed ?? Math.floor(Math.random() * 2 ** 31);
}

function lastDim(fn: string, shape: number[]): number {
  const d = shape[shape.length - 1];
  if (d === undefined || d === null || d < 1)
    throw new TfjsBlocksError(fn, 'inputShape', 'a known last dimension', String(d));
  return d;
}

function single(inputs: Tensor | Tensor[]): Tensor {
  return Array.isArray(inputs) ? inputs[0]! : inputs;
}

/** Options of the {@link MultiHeadAttention} layer. */
export type MultiHeadAttentionLayerArgs = BaseLayerArgs & {
  /** Query heads; must divide the input width. */
  numHeads: number;
  /** Key/value heads (GQA). Default `numHeads`. */
  numKvHeads?: number;
  /** Biases on the projections. Default `true`. */
  useBias?: boolean;
  /** Causal self-attention. Default `false`. */
  causal?: boolean;
  /** RoPE on queries and keys. Default off. */
  rope?: boolean | RotaryEmbeddingOptions;
  /** Attention dropout while training. Default `0`. */
  dropoutRate?: number;
  /** Initialisation seed. Default: random. */
  seed?: number;
};

/**
 * {@link multiHeadAttention} as a tfjs-layers layer: input `[batch, time,
 * dModel]` (self-attention) or `[x, context]` (cross-attention).
 *
 * @example
 * ```ts
 * const x = tf.input({ shape: [16, 64] });
 * const y = new MultiHeadAttention({ numHeads: 8, causal: true }).apply(x) as tf.SymbolicTensor;
 * ```
 */
export class MultiHeadAttention extends FunctionalLayer<MultiHeadAttentionParams> {
  /** Registered name. */
  static className = 'MultiHeadAttention';
  private readonly args: MultiHeadAttentionLayerArgs;

  /** @param args - see {@link MultiHeadAttentionLayerArgs}. */
  constructor(args: MultiHeadAttentionLayerArgs) {
    super(args);
    const fn = 'MultiHeadAttention';
    checkInteger(fn, 'args.numHeads', args.numHeads, 1);
    checkNumber(fn, 'args.dropoutRate', args.dropoutRate ?? 0, { min: 0, max: 1 });
    this.args = { ...args, seed: layerSeed(args.seed) };
  }

  protected initParams(inputShape: number[]): MultiHeadAttentionParams {
    const dModel = lastDim('MultiHeadAttention', inputShape);
    const { numHeads, numKvHeads, useBias } = this.args;
    return initMultiHeadAttention({ dModel, numHeads, numKvHeads, useBias }, this.args.seed!);
  }

  /** Runs the attention. */
  override call(inputs: Tensor | Tensor[], kwargs: Kwargs): Tensor {
    return tidy(() => {
      const [x, context] = Array.isArray(inputs) ? inputs : [inputs, undefined];
      return multiHeadAttention(this.params(), x as Tensor3D, {
        context: context as Tensor3D | undefined,
        causal: this.args.causal,
        rope: this.args.rope,
        dropoutRate: kwargs.training ? (this.args.dropoutRate ?? 0) : 0,
      });
    });
  }

  /** Same shape as the (first) input. */
  override computeOutputShape(inputShape: number[] | number[][]): number[] {
    return (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as number[];
  }

  /** Plain-JSON config. */
  override getConfig(): serialization.ConfigDict {
    const { numHeads, numKvHeads, useBias, causal, rope, dropoutRate, seed } = this.args;
    return {
      ...super.getConfig(),
      ...(strip({
        numHeads,
        numKvHeads,
        useBias,
        causal,
        rope,
        dropoutRate,
        seed,
      }) as serialization.ConfigDict),
    };
  }
}

/** Options of the {@link RMSNormalization} layer. */
export type RMSNormalizationLayerArgs = BaseLayerArgs & {
  /** Added to the mean square. Default `1e-6`. */
  epsilon?: number;
};

/**
 * {@link rmsNorm} over the last axis as a layer, with a trainable scale.
 *
 * @example
 * ```ts
 * const y = new RMSNormalization({ epsilon: 1e-6 }).apply(x);
 * ```
 */
export class RMSNormalization extends FunctionalLayer<NormParams> {
  /** Registered name. */
  static className = 'RMSNormalization';
  private readonly epsilon: number;

  /** @param args - see {@link RMSNormalizationLayerArgs}. */
  constructor(args: RMSNormalizationLayerArgs = {}) {
    super(args);
    this.epsilon = checkNumber('RMSNormalization', 'args.epsilon', args.epsilon ?? 1e-6, {
      min: 0,
      minExclusive: true,
    });
  }

  protected initParams(inputShape: number[]): NormParams {
    return initNorm({ kind: 'rms' }, lastDim('RMSNormalization', inputShape));
  }

  /** Normalizes. */
  override call(inputs: Tensor | Tensor[]): Tensor {
    return tidy(() => rmsNorm(single(inputs), this.params().gamma, { epsilon: this.epsilon }));
  }

  /** Plain-JSON config. */
  override getConfig(): serialization.ConfigDict {
    return { ...super.getConfig(), epsilon: this.epsilon };
  }
}

/** Options of the {@link FeedForward} layer. */
export type FeedForwardLayerArgs = BaseLayerArgs & {
  /** Hidden width. */
  hidden: number;
  /** `'mlp'` or `'gated'` (SwiGLU/GeGLU). Default `'mlp'`. */
  kind?: 'mlp' | 'gated';
  /** Activation. Default `'gelu'`. */
  activation?: FeedForwardActivation;
  /** Biases. Default `true` for MLP, `false` for gated. */
  useBias?: boolean;
  /** Initialisation seed. Default: random. */
  seed?: number;
};

/**
 * {@link feedForward} (MLP, SwiGLU, GeGLU) as a layer.
 *
 * @example
 * ```ts
 * const y = new FeedForward({ hidden: 256, kind: 'gated', activation: 'silu' }).apply(x);
 * ```
 */
export class FeedForward extends FunctionalLayer<FeedForwardParams> {
  /** Registered name. */
  static className = 'FeedForward';
  private readonly args: FeedForwardLayerArgs;

  /** @param args - see {@link FeedForwardLayerArgs}. */
  constructor(args: FeedForwardLayerArgs) {
    super(args);
    const config = {
      dModel: 1,
      hidden: args.hidden,
      kind: args.kind ?? 'mlp',
      activation: args.activation ?? 'gelu',
    } as const;
    checkFeedForwardConfig('FeedForward', 'args', config);
    this.args = {
      ...args,
      kind: config.kind,
      activation: config.activation,
      seed: layerSeed(args.seed),
    };
  }

  private config(dModel: number) {
    return {
      dModel,
      hidden: this.args.hidden,
      kind: this.args.kind!,
      activation: this.args.activation!,
      useBias: this.args.useBias,
    };
  }

  protected initParams(inputShape: number[]): FeedForwardParams {
    return initFeedForward(this.config(lastDim('FeedForward', inputShape)), this.args.seed!);
  }

  /** Runs the feed-forward layer. */
  override call(inputs: Tensor | Tensor[]): Tensor {
    const x = single(inputs);
    return feedForward(this.config(x.shape[x.rank - 1]!), this.params(), x);
  }

  /** Plain-JSON config. */
  override getConfig(): serialization.ConfigDict {
    const { hidden, kind, activation, useBias, seed } = this.args;
    return {
      ...super.getConfig(),
      ...(strip({ hidden, kind, activation, useBias, seed }) as serialization.ConfigDict),
    };
  }
}

/** Options of the {@link TokenAndPositionEmbedding} layer. */
export type TokenAndPositionEmbeddingLayerArgs = BaseLayerArgs & {
  /** Vocabulary size. */
  vocabSize: number;
  /** Longest sequence. */
  maxLength: number;
  /** Embedding width. */
  dim: number;
  /** Initialisation seed. Default: random. */
  seed?: number;
};

/**
 * Token embedding plus learned position embedding (GPT-2's input layer):
 * int ids `[batch, time]` to `[batch, time, dim]`. Its gradient works on
 * the wasm backend.
 *
 * @example
 * ```ts
 * const ids = tf.input({ shape: [32], dtype: 'int32' });
 * const x = new TokenAndPositionEmbedding({ vocabSize: 64, maxLength: 32, dim: 128 }).apply(ids);
 * ```
 */
export class TokenAndPositionEmbedding extends FunctionalLayer<{
  tokens: EmbeddingParams;
  positions: EmbeddingParams;
}> {
  /** Registered name. */
  static className = 'TokenAndPositionEmbedding';
  private readonly args: TokenAndPositionEmbeddingLayerArgs;

  /** @param args - see {@link TokenAndPositionEmbeddingLayerArgs}. */
  constructor(args: TokenAndPositionEmbeddingLayerArgs) {
    super(args);
    const fn = 'TokenAndPositionEmbedding';
    checkInteger(fn, 'args.vocabSize', args.vocabSize, 1);
    checkInteger(fn, 'args.maxLength', args.maxLength, 1);
    checkInteger(fn, 'args.dim', args.dim, 1);
    this.args = { ...args, seed: layerSeed(args.seed) };
  }

  protected initParams(): { tokens: EmbeddingParams; positions: EmbeddingParams } {
    const [st, sp] = splitSeed(this.args.seed!, 2) as [number, number];
    return {
      tokens: initEmbedding({ rows: this.args.vocabSize, dim: this.args.dim }, st),
      positions: initEmbedding({ rows: this.args.maxLength, dim: this.args.dim, std: 0.01 }, sp),
    };
  }

  /** Embeds ids (cast to int32) and adds positions. */
  override call(inputs: Tensor | Tensor[]): Tensor {
    return tidy(() => {
      const ids = cast(single(inputs), 'int32');
      const { tokens, positions } = this.params();
      return add(embed(tokens, ids), positionEmbedding(positions, ids.shape[1]!));
    });
  }

  /** `[batch, time, dim]`. */
  override computeOutputShape(inputShape: number[]): number[] {
    return [...inputShape, this.args.dim];
  }

  /** Plain-JSON config. */
  override getConfig(): serialization.ConfigDict {
    const { vocabSize, maxLength, dim, seed } = this.args;
    return { ...super.getConfig(), vocabSize, maxLength, dim, seed: seed! };
  }
}

/** Options of the block layers: a {@link TransformerBlockConfig} without `dModel` (taken from the input). */
export type TransformerBlockLayerArgs = BaseLayerArgs &
  Omit<TransformerBlockConfig, 'dModel'> & {
    /** Initialisation seed. Default: random. */
    seed?: number;
  };

function blockConfigOf(args: TransformerBlockLayerArgs, dModel: number): TransformerBlockConfig {
  const {
    numHeads,
    numKvHeads,
    feedForward: ff,
    norm,
    normPosition,
    attentionBias,
    rope,
    dropoutRate,
    attentionDropoutRate,
  } = args;
  return strip({
    dModel,
    numHeads,
    numKvHeads,
    feedForward: ff,
    norm,
    normPosition,
    attentionBias,
    rope,
    dropoutRate,
    attentionDropoutRate,
  }) as TransformerBlockConfig;
}

function blockLayerConfig(args: TransformerBlockLayerArgs): serialization.ConfigDict {
  const { dModel: _d, ...config } = blockConfigOf(args, 1);
  return strip({ ...config, seed: args.seed }) as serialization.ConfigDict;
}

/**
 * {@link transformerEncoderBlock} as a layer (bidirectional self-attention
 * and feed-forward; pre-, post- or parallel-norm).
 *
 * @example
 * ```ts
 * const block = new TransformerEncoderBlock({ numHeads: 4, norm: { kind: 'layer' }, feedForward: { hidden: 256, kind: 'mlp', activation: 'gelu' } });
 * const y = block.apply(x);
 * ```
 */
export class TransformerEncoderBlock extends FunctionalLayer<TransformerEncoderBlockParams> {
  /** Registered name. */
  static className = 'TransformerEncoderBlock';
  private readonly args: TransformerBlockLayerArgs;

  /** @param args - see {@link TransformerBlockLayerArgs}. */
  constructor(args: TransformerBlockLayerArgs) {
    super(args);
    // dModel comes from the input; check the rest now, with a dModel every head count divides.
    checkInteger('TransformerEncoderBlock', 'args.numHeads', args.numHeads, 1);
    checkBlockConfig('TransformerEncoderBlock', blockConfigOf(args, args.numHeads));
    this.args = { ...args, seed: layerSeed(args.seed) };
  }

  protected initParams(inputShape: number[]): TransformerEncoderBlockParams {
    return initTransformerEncoderBlock(
      blockConfigOf(this.args, lastDim('TransformerEncoderBlock', inputShape)),
      this.args.seed!,
    );
  }

  /** Runs the block (dropout when `training`). */
  override call(inputs: Tensor | Tensor[], kwargs: Kwargs): Tensor {
    const x = single(inputs) as Tensor3D;
    return transformerEncoderBlock(blockConfigOf(this.args, x.shape[2]), this.params(), x, {
      training: kwargs.training === true,
    });
  }

  /** Plain-JSON config. */
  override getConfig(): serialization.ConfigDict {
    return { ...super.getConfig(), ...blockLayerConfig(this.args) };
  }
}

/**
 * {@link transformerDecoderBlock} as a layer: causal self-attention and
 * feed-forward, plus cross-attention when called on `[x, context]`
 * (set `crossAttention: true`).
 *
 * @example
 * ```ts
 * const block = new TransformerDecoderBlock({ numHeads: 4, norm: { kind: 'rms' }, feedForward: { hidden: 172, kind: 'gated', activation: 'silu' }, rope: true });
 * const y = block.apply(x);
 * ```
 */
export class TransformerDecoderBlock extends FunctionalLayer<TransformerDecoderBlockParams> {
  /** Registered name. */
  static className = 'TransformerDecoderBlock';
  private readonly args: TransformerBlockLayerArgs & { crossAttention?: boolean };

  /** @param args - block options, and `crossAttention` to attend to a second input. */
  constructor(args: TransformerBlockLayerArgs & { crossAttention?: boolean }) {
    super(args);
    checkInteger('TransformerDecoderBlock', 'args.numHeads', args.numHeads, 1);
    checkBlockConfig('TransformerDecoderBlock', blockConfigOf(args, args.numHeads));
    this.args = { ...args, seed: layerSeed(args.seed) };
  }

  protected initParams(inputShape: number[]): TransformerDecoderBlockParams {
    const config = blockConfigOf(this.args, lastDim('TransformerDecoderBlock', inputShape));
    return initTransformerDecoderBlock(config, this.args.seed!, {
      withCrossAttention: this.args.crossAttention === true,
    });
  }

  /** Runs the block on `x` or `[x, context]`. */
  override call(inputs: Tensor | Tensor[], kwargs: Kwargs): Tensor {
    const [x, context] = (Array.isArray(inputs) ? inputs : [inputs]) as Tensor3D[];
    return transformerDecoderBlock(blockConfigOf(this.args, x!.shape[2]), this.params(), x!, {
      context,
      training: kwargs.training === true,
    });
  }

  /** Same shape as `x`. */
  override computeOutputShape(inputShape: number[] | number[][]): number[] {
    return (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as number[];
  }

  /** Plain-JSON config. */
  override getConfig(): serialization.ConfigDict {
    return {
      ...super.getConfig(),
      ...blockLayerConfig(this.args),
      crossAttention: this.args.crossAttention === true,
    };
  }
}

/** Drops undefined entries (tfjs configs are plain JSON). */
function strip(o: Serializable): Serializable {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

for (const cls of [
  MultiHeadAttention,
  RMSNormalization,
  FeedForward,
  TokenAndPositionEmbedding,
  TransformerEncoderBlock,
  TransformerDecoderBlock,
]) {
  serialization.registerClass(
    cls as unknown as serialization.SerializableConstructor<serialization.Serializable>,
    'tfjs-blocks',
  );
}
