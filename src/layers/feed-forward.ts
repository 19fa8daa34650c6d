import type { serialization, Tensor } from '@tensorflow/tfjs-core';
import { optionKeys } from '../internal/checks';
import {
  checkFeedForwardConfig,
  type FeedForwardActivation,
  type FeedForwardParams,
  feedForward,
  initFeedForward,
} from '../nn/feed-forward';
import {
  type BaseLayerArgs,
  checkLayerArgs,
  FunctionalLayer,
  firstInput,
  lastDim,
  layerSeed,
  plainConfig,
  registerLayer,
} from './functional-layer';

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

const FEED_FORWARD_ARG_KEYS = optionKeys<Omit<FeedForwardLayerArgs, keyof BaseLayerArgs>>({
  hidden: true,
  kind: true,
  activation: true,
  useBias: true,
  seed: true,
});

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

  /**
   * Makes the layer; its weights are created when it first sees an input.
   *
   * @param args - see {@link FeedForwardLayerArgs}.
   */
  constructor(args: FeedForwardLayerArgs) {
    super(args);
    checkLayerArgs('FeedForward', args, FEED_FORWARD_ARG_KEYS);
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
    const x = firstInput(inputs);
    return feedForward(this.config(x.shape[x.rank - 1]!), this.params(), x);
  }

  /** Plain-JSON config. */
  override getConfig(): serialization.ConfigDict {
    const { hidden, kind, activation, useBias, seed } = this.args;
    return {
      ...super.getConfig(),
      ...plainConfig({ hidden, kind, activation, useBias, seed }),
    };
  }
}

registerLayer(FeedForward);
