import {
  add,
  concat,
  dropout,
  mean,
  randomNormal,
  reshape,
  slice,
  type Tensor,
  type Tensor1D,
  type Tensor2D,
  type Tensor3D,
  type Tensor4D,
  tidy,
  tile,
} from '@tensorflow/tfjs-core';
import {
  checkBlockConfig,
  initTransformerEncoderBlock,
  type TransformerBlockConfig,
  type TransformerEncoderBlockParams,
  transformerEncoderBlock,
} from '../blocks/transformer-block';
import { TfjsBlocksError } from '../errors';
import {
  checkFloatTensor,
  checkInteger,
  checkNumber,
  checkOptionKeys,
  formatShape,
  optionKeys,
} from '../internal/checks';
import { splitSeed } from '../internal/seed';
import { tidyParams } from '../internal/tidy-params';
import { initLinear, type LinearConfig, type LinearParams, linear } from '../nn/linear';
import { initNorm, type NormParams, normalize } from '../nn/norm';
import {
  initPatchEmbedding,
  type PatchEmbeddingConfig,
  type PatchEmbeddingParams,
  patchEmbedding,
} from '../nn/patch-embedding';

/**
 * A Vision Transformer image classifier (Dosovitskiy et al.,
 * https://arxiv.org/abs/2010.11929): patch embedding, learned positions, a
 * pre-norm LayerNorm encoder, a final LayerNorm and a linear head on the
 * [CLS] token or on the mean of the patch tokens.
 */
export type VitConfig = {
  /** Side of the square input images, in pixels; divisible by `patchSize`. */
  imageSize: number;
  /** Side of the square patches. */
  patchSize: number;
  /** Image channels (3 for RGB). */
  channels: number;
  /** Width of the residual stream. */
  dModel: number;
  /** Encoder blocks. */
  numLayers: number;
  /** Attention heads; must divide `dModel`. */
  numHeads: number;
  /** Hidden width of the GELU MLPs. */
  hidden: number;
  /** Output classes. */
  numClasses: number;
  /** `'cls'`: classify a learned [CLS] token (ViT); `'mean'`: the mean of the patch tokens. */
  pooling: 'cls' | 'mean';
  /** Dropout on the embeddings and each residual branch while training. Default `0`. */
  dropoutRate?: number;
};

/** Parameters of {@link vit}. */
export type VitParams = {
  /** `[patchSize² · channels, dModel]`. */
  patchEmbedding: PatchEmbeddingParams;
  /** `[dModel]`, with `'cls'` pooling. */
  clsToken?: Tensor1D;
  /** `[numPatches (+ 1 with a [CLS] token), dModel]`. */
  positionEmbedding: Tensor2D;
  /** One entry per layer. */
  blocks: TransformerEncoderBlockParams[];
  /** LayerNorm after the last block. */
  finalNorm: NormParams;
  /** `[dModel, numClasses]`. */
  head: LinearParams;
};

/** Options of {@link vit}. */
export type VitOptions = {
  /** Apply dropout (training mode). Default `false`. */
  training?: boolean;
  /** Seed of the dropout masks. Default: random. */
  seed?: number;
};

const CONFIG_KEYS = optionKeys<VitConfig>({
  imageSize: true,
  patchSize: true,
  channels: true,
  dModel: true,
  numLayers: true,
  numHeads: true,
  hidden: true,
  numClasses: true,
  pooling: true,
  dropoutRate: true,
});

const OPTION_KEYS = optionKeys<VitOptions>({ training: true, seed: true });

const NORM = { kind: 'layer', epsilon: 1e-6 } as const;

/** The encoder blocks' configuration (ViT's: pre-norm LayerNorm ε 1e-6, GELU MLP). */
function blockConfig(config: VitConfig): TransformerBlockConfig {
  return {
    dModel: config.dModel,
    numHeads: config.numHeads,
    feedForward: { hidden: config.hidden, kind: 'mlp', activation: 'gelu' },
    norm: NORM,
    normPosition: 'pre',
    dropoutRate: config.dropoutRate ?? 0,
  };
}

function checkVitConfig(fn: string, config: VitConfig) {
  checkOptionKeys(fn, config, CONFIG_KEYS, 'config');
  const imageSize = checkInteger(fn, 'config.imageSize', config?.imageSize, 1);
  const patchSize = checkInteger(fn, 'config.patchSize', config.patchSize, 1);
  if (imageSize % patchSize !== 0) {
    throw new TfjsBlocksError(
      fn,
      'config.imageSize',
      `divisible by config.patchSize (${patchSize})`,
      String(imageSize),
    );
  }
  checkInteger(fn, 'config.channels', config.channels, 1);
  checkInteger(fn, 'config.numLayers', config.numLayers, 1);
  checkInteger(fn, 'config.numClasses', config.numClasses, 1);
  checkInteger(fn, 'config.hidden', config.hidden, 1);
  if (config.pooling !== 'cls' && config.pooling !== 'mean') {
    throw new TfjsBlocksError(fn, 'config.pooling', "'cls' or 'mean'", String(config.pooling));
  }
  checkNumber(fn, 'config.dropoutRate', config.dropoutRate ?? 0, { min: 0, max: 1 });
  // dModel and numHeads: checked with the blocks' config, before any tensor is made.
  checkBlockConfig(fn, blockConfig(config), 'config');
  const numPatches = (imageSize / patchSize) ** 2;
  return { numPatches, numTokens: numPatches + (config.pooling === 'cls' ? 1 : 0) };
}

/**
 * Creates the parameters of a ViT, reproducible from `seed`: Glorot-uniform
 * projections, and the [CLS] token and position embeddings from `N(0, 0.02²)`.
 *
 * @example
 * ```ts
 * const config: VitConfig = { imageSize: 32, patchSize: 4, channels: 3, dModel: 64, numLayers: 4, numHeads: 4, hidden: 128, numClasses: 10, pooling: 'cls' };
 * const params = initVit(config, 0);
 * ```
 */
export function initVit(config: VitConfig, seed: number): VitParams {
  const fn = 'initVit';
  const { numTokens } = checkVitConfig(fn, config);
  const block = blockConfig(config);
  const [sp, sc, spos, sh, sb] = splitSeed(seed, 5) as [number, number, number, number, number];
  const blockSeeds = splitSeed(sb, config.numLayers);
  return tidyParams(() => {
    const params: VitParams = {
      patchEmbedding: initPatchEmbedding(patchConfig(config), sp),
      positionEmbedding: randomNormal(
        [numTokens, config.dModel],
        0,
        0.02,
        'float32',
        spos,
      ) as Tensor2D,
      blocks: blockSeeds.map((s) => initTransformerEncoderBlock(block, s)),
      finalNorm: initNorm({ ...NORM, dModel: config.dModel }),
      head: initLinear(headConfig(config), sh),
    };
    if (config.pooling === 'cls') {
      params.clsToken = randomNormal([config.dModel], 0, 0.02, 'float32', sc) as Tensor1D;
    }
    return params;
  });
}

/**
 * Classifies images with a Vision Transformer: patches → linear embedding
 * (+ [CLS]) + learned positions → `numLayers` pre-norm encoder blocks →
 * LayerNorm → pooling → linear head.
 *
 * @param images - `[batch, imageSize, imageSize, channels]` (NHWC).
 * @returns logits `[batch, numClasses]`.
 * @example
 * ```ts
 * const logits = vit(config, params, tf.randomUniform([8, 32, 32, 3]), { training: true, seed: step });
 * const loss = softmaxCrossEntropy(logits, labels);
 * ```
 */
export function vit(
  config: VitConfig,
  params: VitParams,
  images: Tensor4D,
  options: VitOptions = {},
): Tensor2D {
  const fn = 'vit';
  checkOptionKeys(fn, options, OPTION_KEYS);
  checkVitConfig(fn, config);
  const x = checkFloatTensor<Tensor4D>(fn, 'images', images, {
    rank: 4,
    layout: '[batch, imageSize, imageSize, channels]',
  });
  const { imageSize, channels } = config;
  if (x.shape[1] !== imageSize || x.shape[2] !== imageSize || x.shape[3] !== channels) {
    throw new TfjsBlocksError(
      fn,
      'images',
      `of shape [batch, ${imageSize}, ${imageSize}, ${channels}]`,
      formatShape(x.shape),
    );
  }
  if (config.pooling === 'cls' && params.clsToken === undefined) {
    throw new TfjsBlocksError(
      fn,
      'params.clsToken',
      "a [dModel] tensor for 'cls' pooling",
      'undefined',
    );
  }
  const block = blockConfig(config);
  const rate = config.dropoutRate ?? 0;
  const seeds = splitSeed(
    options.seed ?? Math.floor(Math.random() * 2 ** 31),
    config.numLayers + 1,
  );
  return tidy(() => {
    const batch = x.shape[0];
    let h: Tensor = patchEmbedding(patchConfig(config), params.patchEmbedding, x); // [batch, numPatches, dModel]
    if (config.pooling === 'cls') {
      const cls = tile(reshape(params.clsToken!, [1, 1, config.dModel]), [batch, 1, 1]);
      h = concat([cls, h], 1); // [batch, 1 + numPatches, dModel]
    }
    h = add(h, params.positionEmbedding);
    if (options.training && rate > 0) h = dropout(h, rate, undefined, seeds[0]);
    params.blocks.forEach((p, i) => {
      h = transformerEncoderBlock(block, p, h as Tensor3D, {
        training: options.training,
        seed: seeds[i + 1],
      });
    });
    h = normalize(NORM, params.finalNorm, h);
    const pooled =
      config.pooling === 'cls'
        ? reshape(slice(h, [0, 0, 0], [batch, 1, config.dModel]), [batch, config.dModel])
        : mean(h, 1); // [batch, dModel]
    return linear(headConfig(config), params.head, pooled as Tensor2D);
  });
}

/** The config of a ViT's patch embedding. */
function patchConfig(config: VitConfig): PatchEmbeddingConfig {
  return { patchSize: config.patchSize, channels: config.channels, dModel: config.dModel };
}

/** The config of a ViT's classification head. */
function headConfig(config: VitConfig): LinearConfig {
  return { inFeatures: config.dModel, outFeatures: config.numClasses };
}
