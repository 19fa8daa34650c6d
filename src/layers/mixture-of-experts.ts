import {
  dispose,
  mul,
  type Scalar,
  scalar,
  type serialization,
  type Tensor,
} from '@tensorflow/tfjs-core';
import { checkNumber, optionKeys } from '../internal/checks';
import { sumTensors } from '../internal/reduce';
import type { FeedForwardActivation } from '../nn/feed-forward';
import {
  checkMixtureOfExpertsConfig,
  initMixtureOfExperts,
  type MixtureOfExpertsConfig,
  type MixtureOfExpertsParams,
  mixtureOfExperts,
} from '../nn/mixture-of-experts';
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

/** Options of the {@link MixtureOfExperts} layer. */
export type MixtureOfExpertsLayerArgs = BaseLayerArgs & {
  /** Hidden width of each expert. */
  hidden: number;
  /** Number of experts. */
  numExperts: number;
  /** Experts per token. Default `2`. */
  topK?: number;
  /** `'mlp'` or `'gated'`. Default `'mlp'`. */
  kind?: 'mlp' | 'gated';
  /** Activation. Default `'gelu'`. */
  activation?: FeedForwardActivation;
  /** Biases on the expert projections. Default `true` for MLP, `false` for gated. */
  useBias?: boolean;
  /** Renormalise the top-k router probabilities (Mixtral). Default `true`. */
  normalizeTopK?: boolean;
  /** Weight of the load-balancing loss added to the training loss. Default `0.01` (Switch Transformer's). */
  auxLossWeight?: number;
  /** Initialisation seed. Default: random. */
  seed?: number;
};

const MIXTURE_OF_EXPERTS_ARG_KEYS = optionKeys<
  Omit<MixtureOfExpertsLayerArgs, keyof BaseLayerArgs>
>({
  hidden: true,
  numExperts: true,
  topK: true,
  kind: true,
  activation: true,
  useBias: true,
  normalizeTopK: true,
  auxLossWeight: true,
  seed: true,
});

/**
 * {@link mixtureOfExperts} as a layer: `[..., dModel]` to `[..., dModel]`.
 *
 * In training calls (inside `model.fit`) the layer adds
 * `auxLossWeight · auxLoss` to the model's loss through tfjs-layers'
 * `Layer.addLoss`, as regularizers do. tfjs-layers reads a layer's losses
 * through closures it calls once per training step, after the forward pass,
 * inside the gradient tape; so the layer registers one closure at
 * construction that sums (and forgets) the aux losses of the training calls
 * since the last step. Inference calls (`predict`, `evaluate`) drop the aux
 * loss, and `evaluate`'s loss does not include it.
 *
 * @example
 * ```ts
 * const x = tf.input({ shape: [16, 64] });
 * const y = new MixtureOfExperts({ hidden: 128, numExperts: 8, topK: 2 }).apply(x);
 * ```
 */
export class MixtureOfExperts extends FunctionalLayer<MixtureOfExpertsParams> {
  /** Registered name. */
  static className = 'MixtureOfExperts';
  private readonly args: MixtureOfExpertsLayerArgs;
  private pendingAuxLosses: Scalar[] = [];

  /**
   * Makes the layer; its weights are created when it first sees an input.
   *
   * @param args - see {@link MixtureOfExpertsLayerArgs}.
   */
  constructor(args: MixtureOfExpertsLayerArgs) {
    super(args);
    checkLayerArgs('MixtureOfExperts', args, MIXTURE_OF_EXPERTS_ARG_KEYS);
    const fn = 'MixtureOfExperts';
    this.args = {
      ...args,
      topK: args.topK ?? 2,
      kind: args.kind ?? 'mlp',
      activation: args.activation ?? 'gelu',
      auxLossWeight: checkNumber(fn, 'args.auxLossWeight', args.auxLossWeight ?? 0.01, { min: 0 }),
      seed: layerSeed(args.seed),
    };
    checkMixtureOfExpertsConfig(fn, 'args', this.config(1));
    this.addLoss(() => this.drainAuxLoss());
  }

  private config(dModel: number): MixtureOfExpertsConfig {
    const { hidden, numExperts, topK, kind, activation, useBias, normalizeTopK } = this.args;
    return {
      dModel,
      hidden,
      numExperts,
      topK: topK!,
      kind: kind!,
      activation: activation!,
      useBias,
      normalizeTopK,
    };
  }

  /** The weighted sum of the aux losses of the training calls since the last step (0 if none). */
  private drainAuxLoss(): Scalar {
    const live = this.pendingAuxLosses.filter((t) => !t.isDisposed);
    this.pendingAuxLosses = [];
    if (live.length === 0) return scalar(0);
    return mul(sumTensors(live), this.args.auxLossWeight!);
  }

  protected initParams(inputShape: number[]): MixtureOfExpertsParams {
    return initMixtureOfExperts(
      this.config(lastDim('MixtureOfExperts', inputShape)),
      this.args.seed!,
    );
  }

  /** Runs the experts; in training, records the aux loss for the model's loss. */
  override call(inputs: Tensor | Tensor[], kwargs: Kwargs = {}): Tensor {
    const x = firstInput(inputs);
    const { output, auxLoss } = mixtureOfExperts(
      this.config(x.shape[x.rank - 1]!),
      this.params(),
      x,
    );
    if (kwargs.training === true && this.args.auxLossWeight! > 0) {
      // Owned by the caller's scope (fit's gradient tape); stale ones are dropped.
      this.pendingAuxLosses = [...this.pendingAuxLosses.filter((t) => !t.isDisposed), auxLoss];
    } else {
      dispose(auxLoss);
    }
    return output;
  }

  /** Plain-JSON config. */
  override getConfig(): serialization.ConfigDict {
    const { hidden, numExperts, topK, kind, activation, useBias, normalizeTopK } = this.args;
    const { auxLossWeight, seed } = this.args;
    return {
      ...super.getConfig(),
      ...plainConfig({
        hidden,
        numExperts,
        topK,
        kind,
        activation,
        useBias,
        normalizeTopK,
        auxLossWeight,
        seed,
      }),
    };
  }
}

registerLayer(MixtureOfExperts);
