import type { serialization, Tensor, Tensor3D } from '@tensorflow/tfjs-core';
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
import { checkInteger, optionKeys } from '../internal/checks';
import {
  type BaseLayerArgs,
  checkLayerArgs,
  FunctionalLayer,
  firstInput,
  type Kwargs,
  lastDim,
  layerSeed,
  plainConfig,
  registerLayer,
} from './functional-layer';

/** Options of the block layers: a {@link TransformerBlockConfig} without `dModel` (taken from the input). */
export type TransformerBlockLayerArgs = BaseLayerArgs &
  Omit<TransformerBlockConfig, 'dModel'> & {
    /** Initialisation seed. Default: random. */
    seed?: number;
  };

const BLOCK_LAYER_ARG_KEYS = optionKeys<Omit<TransformerBlockLayerArgs, keyof BaseLayerArgs>>({
  numHeads: true,
  numKvHeads: true,
  feedForward: true,
  norm: true,
  normPosition: true,
  attentionBias: true,
  attentionOutputBias: true,
  rope: true,
  alibi: true,
  dropoutRate: true,
  attentionDropoutRate: true,
  seed: true,
});

const DECODER_BLOCK_LAYER_ARG_KEYS = [...BLOCK_LAYER_ARG_KEYS, 'crossAttention'];

function blockConfigOf(args: TransformerBlockLayerArgs, dModel: number): TransformerBlockConfig {
  const {
    numHeads,
    numKvHeads,
    feedForward: ff,
    norm,
    normPosition,
    attentionBias,
    attentionOutputBias,
    rope,
    alibi,
    dropoutRate,
    attentionDropoutRate,
  } = args;
  return plainConfig({
    dModel,
    alibi,
    numHeads,
    numKvHeads,
    feedForward: ff,
    norm,
    normPosition,
    attentionBias,
    attentionOutputBias,
    rope,
    dropoutRate,
    attentionDropoutRate,
  }) as TransformerBlockConfig;
}

/** Each layer's block configs by width, so a call reuses one config object. */
const layerConfigs = new WeakMap<object, Map<number, TransformerBlockConfig>>();

/**
 * {@link blockConfigOf}, made once per layer and width: `checkBlockConfig`
 * then validates it on the first call only, not on every call.
 */
function layerBlockConfig(args: TransformerBlockLayerArgs, dModel: number): TransformerBlockConfig {
  let byWidth = layerConfigs.get(args);
  if (!byWidth) {
    byWidth = new Map();
    layerConfigs.set(args, byWidth);
  }
  let config = byWidth.get(dModel);
  if (!config) {
    config = blockConfigOf(args, dModel);
    byWidth.set(dModel, config);
  }
  return config;
}

function blockLayerConfig(args: TransformerBlockLayerArgs): serialization.ConfigDict {
  const { dModel: _d, ...config } = blockConfigOf(args, 1);
  return plainConfig({ ...config, seed: args.seed }) as serialization.ConfigDict;
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

  /**
   * Makes the layer; its weights are created when it first sees an input.
   *
   * @param args - see {@link TransformerBlockLayerArgs}.
   */
  constructor(args: TransformerBlockLayerArgs) {
    super(args);
    checkLayerArgs('TransformerEncoderBlock', args, BLOCK_LAYER_ARG_KEYS);
    // dModel comes from the input; check the rest now, with a dModel every head count divides.
    checkInteger('TransformerEncoderBlock', 'args.numHeads', args.numHeads, 1);
    checkBlockConfig('TransformerEncoderBlock', blockConfigOf(args, args.numHeads), 'args');
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
    const x = firstInput(inputs) as Tensor3D;
    return transformerEncoderBlock(layerBlockConfig(this.args, x.shape[2]), this.params(), x, {
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

  /**
   * Makes the layer; its weights are created when it first sees an input.
   *
   * @param args - block options, and `crossAttention` to attend to a second input.
   */
  constructor(args: TransformerBlockLayerArgs & { crossAttention?: boolean }) {
    super(args);
    checkLayerArgs('TransformerDecoderBlock', args, DECODER_BLOCK_LAYER_ARG_KEYS);
    checkInteger('TransformerDecoderBlock', 'args.numHeads', args.numHeads, 1);
    checkBlockConfig('TransformerDecoderBlock', blockConfigOf(args, args.numHeads), 'args');
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
    return transformerDecoderBlock(layerBlockConfig(this.args, x!.shape[2]), this.params(), x!, {
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

registerLayer(TransformerEncoderBlock);
registerLayer(TransformerDecoderBlock);
