import type { serialization, Tensor, Tensor4D } from '@tensorflow/tfjs-core';
import { checkInteger, optionKeys } from '../internal/checks';
import {
  initPatchEmbedding,
  type PatchEmbeddingConfig,
  type PatchEmbeddingParams,
  patchEmbedding,
} from '../nn/patch-embedding';
import {
  type BaseLayerArgs,
  checkLayerArgs,
  FunctionalLayer,
  firstInput,
  lastDim,
  layerSeed,
  registerLayer,
} from './functional-layer';

/** Options of the {@link PatchEmbedding} layer. */
export type PatchEmbeddingLayerArgs = BaseLayerArgs & {
  /** Side of the square patches, in pixels. */
  patchSize: number;
  /** Width of each patch's embedding (the model's residual width). */
  dModel: number;
  /** Initialisation seed. Default: random. */
  seed?: number;
};

const PATCH_EMBEDDING_ARG_KEYS = optionKeys<Omit<PatchEmbeddingLayerArgs, keyof BaseLayerArgs>>({
  patchSize: true,
  dModel: true,
  seed: true,
});

/**
 * {@link patchEmbedding} as a layer: images `[batch, height, width, channels]`
 * to patch tokens `[batch, numPatches, dModel]` (ViT's input layer). Unlike a
 * strided `tf.layers.conv2d`, its kernel trains on the wasm backend.
 *
 * @example
 * ```ts
 * const images = tf.input({ shape: [32, 32, 3] });
 * const tokens = new PatchEmbedding({ patchSize: 4, dModel: 64 }).apply(images); // [null, 64, 64]
 * ```
 */
export class PatchEmbedding extends FunctionalLayer<PatchEmbeddingParams> {
  /** Registered name. */
  static className = 'PatchEmbedding';
  private readonly args: PatchEmbeddingLayerArgs;
  /** The functional block's config, fixed when the layer is built. */
  private config: PatchEmbeddingConfig | undefined;

  /**
   * Makes the layer; its weights are created when it first sees an input.
   *
   * @param args - see {@link PatchEmbeddingLayerArgs}.
   */
  constructor(args: PatchEmbeddingLayerArgs) {
    super(args);
    checkLayerArgs('PatchEmbedding', args, PATCH_EMBEDDING_ARG_KEYS);
    checkInteger('PatchEmbedding', 'args.patchSize', args.patchSize, 1);
    checkInteger('PatchEmbedding', 'args.dModel', args.dModel, 1);
    this.args = { ...args, seed: layerSeed(args.seed) };
  }

  protected initParams(inputShape: number[]): PatchEmbeddingParams {
    const channels = lastDim('PatchEmbedding', inputShape);
    this.config = { patchSize: this.args.patchSize, channels, dModel: this.args.dModel };
    return initPatchEmbedding(this.config, this.args.seed!);
  }

  /** Cuts the images into patches and embeds them. */
  override call(inputs: Tensor | Tensor[]): Tensor {
    return patchEmbedding(this.config!, this.params(), firstInput(inputs) as Tensor4D);
  }

  /** `[batch, (height / patchSize) · (width / patchSize), dModel]` (null when height or width is). */
  override computeOutputShape(inputShape: number[]): number[] {
    const [batch, height, width] = inputShape as Array<number | null>;
    const p = this.args.patchSize;
    const patches =
      height == null || width == null ? null : Math.floor(height / p) * Math.floor(width / p);
    return [batch, patches, this.args.dModel] as number[];
  }

  /** Plain-JSON config. */
  override getConfig(): serialization.ConfigDict {
    const { patchSize, dModel, seed } = this.args;
    return { ...super.getConfig(), patchSize, dModel, seed: seed! };
  }
}

registerLayer(PatchEmbedding);
