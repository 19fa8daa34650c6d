/**
 * tfjs-blocks/layers: the blocks as tfjs-layers `Layer`s, registered for
 * serialization under the package name when this module loads.
 *
 * @packageDocumentation
 */

export type { BaseLayerArgs } from './functional-layer';
export {
  FeedForward,
  type FeedForwardLayerArgs,
  MultiHeadAttention,
  type MultiHeadAttentionLayerArgs,
  RMSNormalization,
  type RMSNormalizationLayerArgs,
  TokenAndPositionEmbedding,
  type TokenAndPositionEmbeddingLayerArgs,
  type TransformerBlockLayerArgs,
  TransformerDecoderBlock,
  TransformerEncoderBlock,
} from './layers';
