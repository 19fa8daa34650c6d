/**
 * tfjs-blocks/losses: loss functions, token metrics and the `model.compile` adapters.
 *
 * @packageDocumentation
 */
// Registers tfjs-core's gradient functions (through tfjs-layers, a peer
// dependency), as the root entry does, so `tf.grad` works for users who import
// only `@tensorflow/tfjs-core`. It stays in this entry module: package.json
// declares side effects for the built entries only (scripts/check-dist.mjs).
import '@tensorflow/tfjs-layers';

export {
  type FocalLossOptions,
  focalLoss,
  type SigmoidBinaryCrossEntropyOptions,
  sigmoidBinaryCrossEntropy,
} from './binary-cross-entropy';
export { type CtcLossOptions, ctcLoss } from './ctc';
export { type DistillationLossOptions, distillationLoss } from './distillation';
export {
  type CosineEmbeddingLossOptions,
  cosineEmbeddingLoss,
  type InfoNceLossOptions,
  infoNceLoss,
  type TripletMarginLossOptions,
  tripletMarginLoss,
} from './embedding-losses';
export { type KlDivergenceOptions, klDivergence } from './kl-divergence';
export { type LayersAdapterOptions, toLayersLoss, toLayersMetric } from './layers-adapter';
export { perplexity, type TokenMetricOptions, tokenAccuracy } from './metrics';
export type { Reduction, ReductionOption } from './reduction';
export {
  type HuberLossOptions,
  huberLoss,
  meanAbsoluteError,
  meanSquaredError,
} from './regression';
export {
  type SoftmaxCrossEntropyOptions,
  softmaxCrossEntropy,
} from './softmax-cross-entropy';
