import { cast, type serialization, type Tensor, tidy } from '@tensorflow/tfjs-core';
import { checkInteger, optionKeys } from '../internal/checks';
import {
  initTokenAndPositionEmbedding,
  type TokenAndPositionEmbeddingParams,
  tokenAndPositionEmbedding,
} from '../nn/embedding';
import {
  type BaseLayerArgs,
  checkLayerArgs,
  FunctionalLayer,
  firstInput,
  layerSeed,
  registerLayer,
} from './functional-layer';

/** Options of the {@link TokenAndPositionEmbedding} layer. */
export type TokenAndPositionEmbeddingLayerArgs = BaseLayerArgs & {
  /** Vocabulary size. */
  vocabSize: number;
  /** Longest sequence. */
  maxLength: number;
  /** Embedding width (the model's residual width). */
  dModel: number;
  /** Initialisation seed. Default: random. */
  seed?: number;
};

const TOKEN_AND_POSITION_EMBEDDING_ARG_KEYS = optionKeys<
  Omit<TokenAndPositionEmbeddingLayerArgs, keyof BaseLayerArgs>
>({
  vocabSize: true,
  maxLength: true,
  dModel: true,
  seed: true,
});

/**
 * Token embedding plus learned position embedding (GPT-2's input layer):
 * int ids `[batch, time]` to `[batch, time, dModel]`. Its gradient works on
 * the wasm backend.
 *
 * @example
 * ```ts
 * const ids = tf.input({ shape: [32], dtype: 'int32' });
 * const x = new TokenAndPositionEmbedding({ vocabSize: 64, maxLength: 32, dModel: 128 }).apply(ids);
 * ```
 */
export class TokenAndPositionEmbedding extends FunctionalLayer<TokenAndPositionEmbeddingParams> {
  /** Registered name. */
  static className = 'TokenAndPositionEmbedding';
  private readonly args: TokenAndPositionEmbeddingLayerArgs;

  /**
   * Makes the layer; its weights are created when it first sees an input.
   *
   * @param args - see {@link TokenAndPositionEmbeddingLayerArgs}.
   */
  constructor(args: TokenAndPositionEmbeddingLayerArgs) {
    super(args);
    checkLayerArgs('TokenAndPositionEmbedding', args, TOKEN_AND_POSITION_EMBEDDING_ARG_KEYS);
    const fn = 'TokenAndPositionEmbedding';
    checkInteger(fn, 'args.vocabSize', args.vocabSize, 1);
    checkInteger(fn, 'args.maxLength', args.maxLength, 1);
    checkInteger(fn, 'args.dModel', args.dModel, 1);
    this.args = { ...args, seed: layerSeed(args.seed) };
  }

  protected initParams(): TokenAndPositionEmbeddingParams {
    const { vocabSize, maxLength, dModel, seed } = this.args;
    return initTokenAndPositionEmbedding({ vocabSize, maxLength, dModel }, seed!);
  }

  /** Embeds ids (cast to int32) and adds positions. */
  override call(inputs: Tensor | Tensor[]): Tensor {
    const { vocabSize, maxLength, dModel } = this.args;
    return tidy(() =>
      tokenAndPositionEmbedding(
        { vocabSize, maxLength, dModel },
        this.params(),
        cast(firstInput(inputs), 'int32'),
      ),
    );
  }

  /** `[batch, time, dModel]`. */
  override computeOutputShape(inputShape: number[]): number[] {
    return [...inputShape, this.args.dModel];
  }

  /** Plain-JSON config. */
  override getConfig(): serialization.ConfigDict {
    const { vocabSize, maxLength, dModel, seed } = this.args;
    return { ...super.getConfig(), vocabSize, maxLength, dModel, seed: seed! };
  }
}

registerLayer(TokenAndPositionEmbedding);
