/**
 * tfjs-blocks/layers: the blocks as tfjs-layers `Layer`s, registered for
 * serialization under the package name when this module loads, and the
 * tfjs-layers callbacks that drive the learning rate from a schedule.
 *
 * @packageDocumentation
 */

export {
  feedForward,
  mixtureOfExperts,
  multiHeadAttention,
  patchEmbedding,
  positionEmbedding,
  rmsNormalization,
  tokenAndPositionEmbedding,
  transformerDecoderBlock,
  transformerEncoderBlock,
} from './factories';
export { FeedForward, type FeedForwardLayerArgs } from './feed-forward';
export type { BaseLayerArgs, Kwargs as LayerCallKwargs, LayerLoraArgs } from './functional-layer';
export {
  LearningRateScheduler,
  type LearningRateSchedulerOptions,
  learningRateScheduler,
  ReduceLearningRateOnPlateau,
  type ReduceLearningRateOnPlateauOptions,
  reduceLearningRateOnPlateau,
} from './learning-rate-callbacks';
export { MixtureOfExperts, type MixtureOfExpertsLayerArgs } from './mixture-of-experts';
export { MultiHeadAttention, type MultiHeadAttentionLayerArgs } from './multi-head-attention';
export { PatchEmbedding, type PatchEmbeddingLayerArgs } from './patch-embedding';
export { PositionEmbedding, type PositionEmbeddingLayerArgs } from './position-embedding';
export { RMSNormalization, type RMSNormalizationLayerArgs } from './rms-normalization';
export {
  TokenAndPositionEmbedding,
  type TokenAndPositionEmbeddingLayerArgs,
} from './token-and-position-embedding';
export {
  type TransformerBlockLayerArgs,
  TransformerDecoderBlock,
  TransformerEncoderBlock,
} from './transformer-blocks';
