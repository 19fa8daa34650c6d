/**
 * tfjs-blocks: Transformer building blocks for TensorFlow.js, as pure
 * functions over plain tensors and param records, checked against PyTorch.
 *
 * @packageDocumentation
 */
import './internal/register-gradients';

export { alibiBias, alibiSlopes } from './attention/alibi';
export type { AttentionOptions } from './attention/attention-setup';
export {
  type MemoryEfficientAttentionOptions,
  memoryEfficientAttention,
} from './attention/memory-efficient-attention';
export {
  initMultiHeadAttention,
  type MultiHeadAttentionConfig,
  type MultiHeadAttentionOptions,
  type MultiHeadAttentionParams,
  multiHeadAttention,
} from './attention/multi-head-attention';
export { applyRotaryEmbedding, type RotaryEmbeddingOptions } from './attention/rotary-embedding';
export {
  type AttentionWithWeights,
  type ReturnWeightsOption,
  type ScaledDotProductAttentionOptions,
  scaledDotProductAttention,
} from './attention/scaled-dot-product-attention';
export {
  type SinusoidalPositionEncodingOptions,
  sinusoidalPositionEncoding,
} from './attention/sinusoidal-position-encoding';
export { TfjsBlocksError } from './errors';
export { type GeluOptions, gelu, silu } from './nn/activations';
export { type LayerNormOptions, layerNorm } from './nn/layer-norm';
export { initLinear, type LinearConfig, type LinearParams, linear } from './nn/linear';
export { type RmsNormOptions, rmsNorm } from './nn/rms-norm';
