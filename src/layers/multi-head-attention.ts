import { type serialization, type Tensor, type Tensor3D, tidy } from '@tensorflow/tfjs-core';
import {
  checkRopeOption,
  initMultiHeadAttention,
  type MultiHeadAttentionConfig,
  type MultiHeadAttentionParams,
  multiHeadAttention,
} from '../attention/multi-head-attention';
import type { RotaryEmbeddingOptions } from '../attention/rotary-embedding';
import { checkInteger, checkNumber, optionKeys } from '../internal/checks';
import {
  type BaseLayerArgs,
  checkLayerArgs,
  FunctionalLayer,
  type Kwargs,
  lastDim,
  layerSeed,
  plainConfig,
  registerLayer,
} from './functional-layer';

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

const MULTI_HEAD_ATTENTION_ARG_KEYS = optionKeys<
  Omit<MultiHeadAttentionLayerArgs, keyof BaseLayerArgs>
>({
  numHeads: true,
  numKvHeads: true,
  useBias: true,
  causal: true,
  rope: true,
  dropoutRate: true,
  seed: true,
});

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
  /** The functional block's config, fixed when the layer is built. */
  private config: MultiHeadAttentionConfig | undefined;

  /**
   * Makes the layer; its weights are created when it first sees an input.
   *
   * @param args - see {@link MultiHeadAttentionLayerArgs}.
   */
  constructor(args: MultiHeadAttentionLayerArgs) {
    super(args);
    checkLayerArgs('MultiHeadAttention', args, MULTI_HEAD_ATTENTION_ARG_KEYS);
    const fn = 'MultiHeadAttention';
    checkInteger(fn, 'args.numHeads', args.numHeads, 1);
    checkRopeOption(fn, 'args.rope', args.rope);
    checkNumber(fn, 'args.dropoutRate', args.dropoutRate ?? 0, { min: 0, max: 1 });
    this.args = { ...args, seed: layerSeed(args.seed) };
  }

  protected initParams(inputShape: number[]): MultiHeadAttentionParams {
    const dModel = lastDim('MultiHeadAttention', inputShape);
    const { numHeads, numKvHeads, useBias } = this.args;
    this.config = { dModel, numHeads, numKvHeads, useBias };
    return initMultiHeadAttention(this.config, this.args.seed!);
  }

  /** Runs the attention. */
  override call(inputs: Tensor | Tensor[], kwargs: Kwargs): Tensor {
    return tidy(() => {
      const [x, context] = Array.isArray(inputs) ? inputs : [inputs, undefined];
      return multiHeadAttention(this.config!, this.params(), x as Tensor3D, {
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
      ...plainConfig({
        numHeads,
        numKvHeads,
        useBias,
        causal,
        rope,
        dropoutRate,
        seed,
      }),
    };
  }
}

registerLayer(MultiHeadAttention);
