/**
 * tfjs-blocks/optim: optax-style gradient transformations, the ready optimizers built from them,
 * param-tree helpers and the `tf.Optimizer` adapter.
 *
 * @packageDocumentation
 */
// Registers tfjs-core's gradient functions (through tfjs-layers, a peer
// dependency), as the root entry does, so `tf.grad` works for users who import
// only `@tensorflow/tfjs-core`. It stays in this entry module: package.json
// declares side effects for the built entries only (scripts/check-dist.mjs).
import '@tensorflow/tfjs-layers';
import { serialization } from '@tensorflow/tfjs-core';
import { TransformOptimizer } from './tf-optimizer';

export { applyUpdates, applyUpdatesInPlace } from './apply-updates';
export { chain } from './chain';
export {
  createOptimizer,
  type SavedOptimizer,
  type StatefulOptimizer,
} from './create-optimizer';
export { type AdafactorOptions, adafactor } from './optimizers/adafactor';
export { type AdamOptions, type AdamwOptions, adam, adamw } from './optimizers/adam';
export {
  adadelta,
  adagrad,
  adamax,
  type DecoupledDecayOptions,
  type L2Option,
  lamb,
  lion,
  nadam,
  type RmspropOptions,
  radam,
  rmsprop,
} from './optimizers/adaptive';
export type { LearningRateOption } from './optimizers/recipe';
export { type SgdOptions, sgd } from './optimizers/sgd';
export {
  type ParamsToVariablesOptions,
  paramsToVariables,
  type TrainableParams,
} from './param-tree';
export {
  restoreOptimizerState,
  type SavedOptimizerState,
  saveOptimizerState,
} from './state-io';
export {
  type NamedTensor,
  type OptimizerRecipe,
  type ReadyOptimizerName,
  TransformOptimizer,
} from './tf-optimizer';
export {
  addDecayedWeights,
  type ParameterMask,
  weightDecayMask,
} from './transforms/add-decayed-weights';
export { clipByGlobalNorm, clipByValue } from './transforms/clip';
export { emaParams } from './transforms/ema-params';
export type { MomentState } from './transforms/per-parameter';
export { type ScaleByAdadeltaOptions, scaleByAdadelta } from './transforms/scale-by-adadelta';
export {
  type AdafactorState,
  clipByBlockRms,
  type ScaleByAdafactorOptions,
  scaleByAdafactor,
  scaleByParamBlockRms,
} from './transforms/scale-by-adafactor';
export { type ScaleByAdagradOptions, scaleByAdagrad } from './transforms/scale-by-adagrad';
export { type ScaleByAdamOptions, scaleByAdam } from './transforms/scale-by-adam';
export { type ScaleByAdamaxOptions, scaleByAdamax } from './transforms/scale-by-adamax';
export { scaleByLearningRate } from './transforms/scale-by-learning-rate';
export { type ScaleByLionOptions, scaleByLion } from './transforms/scale-by-lion';
export { type ScaleByNadamOptions, scaleByNadam } from './transforms/scale-by-nadam';
export { type ScaleByRadamOptions, scaleByRadam } from './transforms/scale-by-radam';
export { type ScaleByRmsOptions, scaleByRms } from './transforms/scale-by-rms';
export { scaleByTrustRatio } from './transforms/scale-by-trust-ratio';
export {
  type CountState,
  type MapUpdatesOptions,
  mapUpdatesTransform,
} from './transforms/stateless';
export { type TraceOptions, trace } from './transforms/trace';
export {
  type ApplyIfFiniteState,
  applyIfFinite,
  type MaskedState,
  type MultiStepsState,
  type MultiTransformState,
  masked,
  multiSteps,
  multiTransform,
} from './transforms/wrappers';
export type { GradientTransformation, TransformResult } from './types';

// Registers TransformOptimizer so a model saved with it loads back. Kept in the
// entry module: package.json declares side effects for the built entries only.
serialization.registerClass(TransformOptimizer, 'tfjs-blocks');
