import { type serialization, type Tensor, tidy } from '@tensorflow/tfjs-core';
import { checkNumber, optionKeys } from '../internal/checks';
import { initNorm, type NormParams } from '../nn/norm';
import { rmsNorm } from '../nn/rms-norm';
import {
  type BaseLayerArgs,
  checkLayerArgs,
  FunctionalLayer,
  firstInput,
  lastDim,
  registerLayer,
} from './functional-layer';

/** Options of the {@link RMSNormalization} layer. */
export type RMSNormalizationLayerArgs = BaseLayerArgs & {
  /** Added to the mean square. Default `1e-6`. */
  epsilon?: number;
};

const RMS_NORMALIZATION_ARG_KEYS = optionKeys<Omit<RMSNormalizationLayerArgs, keyof BaseLayerArgs>>(
  {
    epsilon: true,
  },
);

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

  /**
   * Makes the layer; its weights are created when it first sees an input.
   *
   * @param args - see {@link RMSNormalizationLayerArgs}.
   */
  constructor(args: RMSNormalizationLayerArgs = {}) {
    super(args);
    checkLayerArgs('RMSNormalization', args, RMS_NORMALIZATION_ARG_KEYS);
    this.epsilon = checkNumber('RMSNormalization', 'args.epsilon', args.epsilon ?? 1e-6, {
      min: 0,
      minExclusive: true,
    });
  }

  protected initParams(inputShape: number[]): NormParams {
    return initNorm({ kind: 'rms', dModel: lastDim('RMSNormalization', inputShape) });
  }

  /** Normalizes. */
  override call(inputs: Tensor | Tensor[]): Tensor {
    return tidy(() => rmsNorm(firstInput(inputs), this.params().gamma, { epsilon: this.epsilon }));
  }

  /** Plain-JSON config. */
  override getConfig(): serialization.ConfigDict {
    return { ...super.getConfig(), epsilon: this.epsilon };
  }
}

registerLayer(RMSNormalization);
