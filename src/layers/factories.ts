import { FeedForward, type FeedForwardLayerArgs } from './feed-forward';
import { MixtureOfExperts, type MixtureOfExpertsLayerArgs } from './mixture-of-experts';
import { MultiHeadAttention, type MultiHeadAttentionLayerArgs } from './multi-head-attention';
import { PatchEmbedding, type PatchEmbeddingLayerArgs } from './patch-embedding';
import { PositionEmbedding, type PositionEmbeddingLayerArgs } from './position-embedding';
import { RMSNormalization, type RMSNormalizationLayerArgs } from './rms-normalization';
import {
  TokenAndPositionEmbedding,
  type TokenAndPositionEmbeddingLayerArgs,
} from './token-and-position-embedding';
import {
  type TransformerBlockLayerArgs,
  TransformerDecoderBlock,
  TransformerEncoderBlock,
} from './transformer-blocks';

// Factories in tfjs's style (`tf.layers.dense(args)`): import this subpath as
// a namespace, `import * as blocks from 'tfjs-blocks/layers'`, and call
// `blocks.transformerEncoderBlock({...})`.

/**
 * Makes a {@link MultiHeadAttention} layer.
 *
 * @example
 * ```ts
 * const attention = blocks.multiHeadAttention({ numHeads: 8, causal: true });
 * ```
 */
export function multiHeadAttention(args: MultiHeadAttentionLayerArgs): MultiHeadAttention {
  return new MultiHeadAttention(args);
}

/**
 * Makes an {@link RMSNormalization} layer.
 *
 * @example
 * ```ts
 * const norm = blocks.rmsNormalization({ epsilon: 1e-6 });
 * ```
 */
export function rmsNormalization(args: RMSNormalizationLayerArgs = {}): RMSNormalization {
  return new RMSNormalization(args);
}

/**
 * Makes a {@link FeedForward} layer.
 *
 * @example
 * ```ts
 * const ffn = blocks.feedForward({ hidden: 256, kind: 'gated', activation: 'silu' });
 * ```
 */
export function feedForward(args: FeedForwardLayerArgs): FeedForward {
  return new FeedForward(args);
}

/**
 * Makes a {@link PositionEmbedding} layer.
 *
 * @example
 * ```ts
 * const positions = blocks.positionEmbedding({ maxLength: 128 });
 * ```
 */
export function positionEmbedding(args: PositionEmbeddingLayerArgs): PositionEmbedding {
  return new PositionEmbedding(args);
}

/**
 * Makes a {@link TokenAndPositionEmbedding} layer.
 *
 * @example
 * ```ts
 * const embedding = blocks.tokenAndPositionEmbedding({ vocabSize: 96, maxLength: 128, dModel: 128 });
 * ```
 */
export function tokenAndPositionEmbedding(
  args: TokenAndPositionEmbeddingLayerArgs,
): TokenAndPositionEmbedding {
  return new TokenAndPositionEmbedding(args);
}

/**
 * Makes a {@link TransformerEncoderBlock} layer.
 *
 * @example
 * ```ts
 * const block = blocks.transformerEncoderBlock({ numHeads: 4, norm: { kind: 'layer' }, feedForward: { hidden: 256, kind: 'mlp', activation: 'gelu' } });
 * ```
 */
export function transformerEncoderBlock(args: TransformerBlockLayerArgs): TransformerEncoderBlock {
  return new TransformerEncoderBlock(args);
}

/**
 * Makes a {@link TransformerDecoderBlock} layer.
 *
 * @example
 * ```ts
 * const block = blocks.transformerDecoderBlock({ numHeads: 4, norm: { kind: 'rms' }, feedForward: { hidden: 172, kind: 'gated', activation: 'silu' }, rope: true });
 * ```
 */
export function transformerDecoderBlock(
  args: TransformerBlockLayerArgs & { crossAttention?: boolean },
): TransformerDecoderBlock {
  return new TransformerDecoderBlock(args);
}

/**
 * Makes a {@link MixtureOfExperts} layer.
 *
 * @example
 * ```ts
 * const moe = blocks.mixtureOfExperts({ hidden: 128, numExperts: 8, topK: 2 });
 * ```
 */
export function mixtureOfExperts(args: MixtureOfExpertsLayerArgs): MixtureOfExperts {
  return new MixtureOfExperts(args);
}

/**
 * Makes a {@link PatchEmbedding} layer.
 *
 * @example
 * ```ts
 * const patches = blocks.patchEmbedding({ patchSize: 4, dModel: 64 });
 * ```
 */
export function patchEmbedding(args: PatchEmbeddingLayerArgs): PatchEmbedding {
  return new PatchEmbedding(args);
}
