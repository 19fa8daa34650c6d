import {
  add,
  matMul,
  reshape,
  type Tensor1D,
  type Tensor2D,
  type Tensor3D,
  type Tensor4D,
  tidy,
  transpose,
} from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import {
  checkDim,
  checkFloatTensor,
  checkInteger,
  checkOptionKeys,
  formatShape,
  optionKeys,
} from '../internal/checks';
import { initLinear, type LinearParams } from './linear';

/** Configuration of {@link initPatchEmbedding}. */
export type PatchEmbeddingConfig = {
  /** Side of the square patches, in pixels. */
  patchSize: number;
  /** Channels of the images (3 for RGB). */
  channels: number;
  /** Width of each patch's embedding (the model's residual width). */
  dModel: number;
};

/**
 * Parameters of {@link patchEmbedding}: a linear map of a flattened patch.
 * `kernel` rows are ordered (patchRow, patchCol, channel), so
 * `reshape(kernel, [patchSize, patchSize, channels, dModel])` is the equivalent
 * `tf.conv2d` filter.
 */
export type PatchEmbeddingParams = {
  /** `[patchSize · patchSize · channels, dModel]`. */
  kernel: Tensor2D;
  /** `[dModel]`. */
  bias: Tensor1D;
};

const PATCH_EMBEDDING_CONFIG_KEYS = optionKeys<PatchEmbeddingConfig>({
  patchSize: true,
  channels: true,
  dModel: true,
});

/**
 * Creates {@link PatchEmbeddingParams} with a Glorot-uniform kernel and a
 * zero bias, reproducible from `seed`.
 *
 * @example
 * ```ts
 * const params = initPatchEmbedding({ patchSize: 16, channels: 3, dModel: 768 }, 0);
 * ```
 */
export function initPatchEmbedding(
  config: PatchEmbeddingConfig,
  seed: number,
): PatchEmbeddingParams {
  const { patchSize, channels, dModel } = checkPatchEmbeddingConfig('initPatchEmbedding', config);
  const linear = initLinear(
    { inFeatures: patchSize * patchSize * channels, outFeatures: dModel },
    seed,
  );
  return linear as Required<LinearParams>;
}

/** Throws unless `config` is a complete {@link PatchEmbeddingConfig}. */
function checkPatchEmbeddingConfig(fn: string, config: PatchEmbeddingConfig): PatchEmbeddingConfig {
  checkOptionKeys(fn, config, PATCH_EMBEDDING_CONFIG_KEYS, 'config');
  const patchSize = checkInteger(fn, 'config.patchSize', config?.patchSize, 1);
  const channels = checkInteger(fn, 'config.channels', config.channels, 1);
  const dModel = checkInteger(fn, 'config.dModel', config.dModel, 1);
  return { patchSize, channels, dModel };
}

/**
 * Cuts images into non-overlapping square patches and embeds each one
 * linearly (ViT's input layer, Dosovitskiy et al., https://arxiv.org/abs/2010.11929).
 *
 * Patches come out in row-major order (left to right, then top to bottom).
 * The result equals `tf.conv2d(images, reshape(kernel, [p, p, channels, dModel]), p, 'valid')`
 * plus the bias, reshaped to `[batch, numPatches, dModel]`; it is computed with
 * a rank-4 transpose and one 2-D matMul instead, because the wasm backend
 * has no Conv2DBackpropFilter (a conv's kernel could not train there) and
 * its 2-D matMul is its fastest kernel.
 *
 * `config` is the one {@link initPatchEmbedding} took: `kernel` must be
 * `[patchSize² · config.channels, dModel]`.
 *
 * @param images - `[batch, height, width, channels]` (NHWC, tfjs's layout);
 *   height and width divisible by the patch size.
 * @returns `[batch, (height / patchSize) · (width / patchSize), dModel]`.
 * @example
 * ```ts
 * const config = { patchSize: 4, channels: 3, dModel: 64 };
 * const params = initPatchEmbedding(config, 0);
 * const tokens = patchEmbedding(config, params, tf.randomUniform([2, 32, 32, 3])); // [2, 64, 64]
 * ```
 */
export function patchEmbedding(
  config: PatchEmbeddingConfig,
  params: PatchEmbeddingParams,
  images: Tensor4D,
): Tensor3D {
  const fn = 'patchEmbedding';
  const { patchSize, channels: configChannels, dModel } = checkPatchEmbeddingConfig(fn, config);
  const x = checkFloatTensor<Tensor4D>(fn, 'images', images, {
    rank: 4,
    layout: '[batch, height, width, channels]',
  });
  const kernel = checkFloatTensor<Tensor2D>(fn, 'params.kernel', params?.kernel, {
    rank: 2,
    layout: '[patchSize · patchSize · channels, dModel]',
  });
  checkFloatTensor(fn, 'params.bias', params.bias, { rank: 1, layout: '[dModel]' });
  const [batch, height, width, channels] = x.shape;
  const [rows, dim] = kernel.shape;
  if (patchSize * patchSize * channels !== rows) {
    throw new TfjsBlocksError(
      fn,
      'params.kernel.shape[0]',
      `patchSize² · channels with channels = images.shape[3] = ${channels}`,
      String(rows),
    );
  }
  checkDim(fn, 'images.shape[3]', channels, configChannels, 'config.channels');
  checkDim(fn, 'params.kernel.shape[1]', dim, dModel, 'config.dModel');
  if (params.bias.shape[0] !== dim) {
    throw new TfjsBlocksError(
      fn,
      'params.bias',
      `of shape [${dim}]`,
      formatShape(params.bias.shape),
    );
  }
  if (height % patchSize !== 0 || width % patchSize !== 0) {
    throw new TfjsBlocksError(
      fn,
      'images',
      `of height and width divisible by the patch size ${patchSize}`,
      `shape ${formatShape(x.shape)}`,
    );
  }
  const gridH = height / patchSize;
  const gridW = width / patchSize;
  return tidy(() => {
    // Within one pixel row, (gridCol, patchCol, channel) are contiguous, so
    // patchCol and channel merge into one axis and a rank-4 transpose (the
    // rank-6 one is ~100x slower on wasm) moves gridCol before patchRow.
    const rowsOfPatches = reshape(x, [batch * gridH, patchSize, gridW, patchSize * channels]);
    const patches = transpose(rowsOfPatches, [0, 2, 1, 3]); // [batch·gridH, gridW, patchRow, patchCol·channel]
    const flat = reshape(patches, [batch * gridH * gridW, rows]); // rows ordered (patchRow, patchCol, channel)
    const y = add(matMul(flat as Tensor2D, kernel), params.bias); // [batch·numPatches, dim]
    return reshape(y, [batch, gridH * gridW, dim]);
  });
}
