import { add, type serialization, type Tensor, tidy, zerosLike } from '@tensorflow/tfjs-core';
import { checkInteger, optionKeys } from '../internal/checks';
import {
  type EmbeddingConfig,
  type EmbeddingParams,
  initEmbedding,
  positionEmbedding,
} from '../nn/embedding';
import {
  type BaseLayerArgs,
  checkLayerArgs,
  FunctionalLayer,
  firstInput,
  lastDim,
  layerSeed,
  registerLayer,
} from './functional-layer';

/** Options of the {@link PositionEmbedding} layer. */
export type PositionEmbeddingLayerArgs = BaseLayerArgs & {
  /** Longest sequence (rows of the table). */
  maxLength: number;
  /** Initialisation seed. Default: random. */
  seed?: number;
};

const POSITION_EMBEDDING_ARG_KEYS = optionKeys<
  Omit<PositionEmbeddingLayerArgs, keyof BaseLayerArgs>
>({
  maxLength: true,
  seed: true,
});

/**
 * Learned position embeddings (as KerasNLP's `PositionEmbedding`): for an
 * input `[batch, time, dModel]` it returns the embeddings of positions
 * `0 … time - 1`, broadcast to the input's shape, to be added to it.
 *
 * @example
 * ```ts
 * const x = tf.input({ shape: [32, 64] });
 * const withPositions = tf.layers.add().apply([x, new PositionEmbedding({ maxLength: 32 }).apply(x)]);
 * ```
 */
export class PositionEmbedding extends FunctionalLayer<EmbeddingParams> {
  /** Registered name. */
  static className = 'PositionEmbedding';
  private readonly maxLength: number;
  private readonly seed: number;
  /** The functional block's config, fixed when the layer is built. */
  private config: EmbeddingConfig | undefined;

  /**
   * Makes the layer; its weights are created when it first sees an input.
   *
   * @param args - see {@link PositionEmbeddingLayerArgs}.
   */
  constructor(args: PositionEmbeddingLayerArgs) {
    super(args);
    checkLayerArgs('PositionEmbedding', args, POSITION_EMBEDDING_ARG_KEYS);
    this.maxLength = checkInteger('PositionEmbedding', 'args.maxLength', args.maxLength, 1);
    this.seed = layerSeed(args.seed);
  }

  protected initParams(inputShape: number[]): EmbeddingParams {
    this.config = {
      numEmbeddings: this.maxLength,
      embeddingDim: lastDim('PositionEmbedding', inputShape),
      std: 0.01,
    };
    return initEmbedding(this.config, this.seed);
  }

  /** The position embeddings, broadcast to the input's shape. */
  override call(inputs: Tensor | Tensor[]): Tensor {
    return tidy(() => {
      const x = firstInput(inputs);
      return add(
        zerosLike(x),
        positionEmbedding(this.config!, this.params(), x.shape[x.rank - 2]!),
      );
    });
  }

  /** Plain-JSON config. */
  override getConfig(): serialization.ConfigDict {
    return { ...super.getConfig(), maxLength: this.maxLength, seed: this.seed };
  }
}

registerLayer(PositionEmbedding);
