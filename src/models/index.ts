/**
 * tfjs-blocks/models: whole models (decoder LM, encoder classifier, encoder-decoder, ViT) with
 * their configs and initializers.
 *
 * @packageDocumentation
 */
// Registers tfjs-core's gradient functions (through tfjs-layers, a peer
// dependency), as the root entry does, so `tf.grad` works for users who import
// only `@tensorflow/tfjs-core`. It stays in this entry module: package.json
// declares side effects for the built entries only (scripts/check-dist.mjs).
import '@tensorflow/tfjs-layers';

export type { GradientCheckpointing, GradientCheckpointingOptions } from '../blocks/checkpoint';
export type { DecoderCache } from '../blocks/transformer-block';
export {
  type CachedDecoderLmOptions,
  type CachedDecoderResult,
  type DecoderLmConfig,
  type DecoderLmOptions,
  type DecoderLmParams,
  type DecoderLmSizes,
  decoderLm,
  gpt2Config,
  initDecoderLm,
  type LlamaSizes,
  llamaConfig,
} from './decoder-lm';
export {
  type BertSizes,
  bertConfig,
  type EncoderClassifierConfig,
  type EncoderClassifierOptions,
  type EncoderClassifierParams,
  type EncoderHiddenStates,
  encoderClassifier,
  encoderHiddenStates,
  initEncoderClassifier,
} from './encoder-classifier';
export {
  type CachedEncoderDecoderOptions,
  type EncoderDecoderConfig,
  type EncoderDecoderOptions,
  type EncoderDecoderParams,
  encoderDecoder,
  initEncoderDecoder,
  runDecoder,
  runEncoder,
} from './encoder-decoder';
export { initVit, type VitConfig, type VitOptions, type VitParams, vit } from './vit';
