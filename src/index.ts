/**
 * tfjs-blocks: Transformer building blocks for TensorFlow.js, as pure
 * functions over plain tensors and param records, checked against PyTorch.
 *
 * @packageDocumentation
 */
// tfjs-core's Node entry registers no gradient functions, and its ESM
// `register_all_gradients` module cannot be loaded by Node. tfjs-layers (a
// peer dependency) registers all of core's gradients from both its Node
// bundle and its ESM build, so importing it makes `tf.grad` work for users
// who import only `@tensorflow/tfjs-core`. It stays in the entry module:
// package.json declares side effects for the built entry only, so a bare
// import in any other module of ours would be dropped when bundling.
// scripts/check-dist.mjs guards this.
import '@tensorflow/tfjs-layers';

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
