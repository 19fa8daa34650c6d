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
import { serialization } from '@tensorflow/tfjs-core';
import { TransformOptimizer } from './optim/tf-optimizer';

export { alibiBias, alibiSlopes } from './attention/alibi';
export type { AttentionOptions } from './attention/attention-setup';
export {
  type MemoryEfficientAttentionOptions,
  memoryEfficientAttention,
} from './attention/memory-efficient-attention';
export {
  type AttentionCache,
  type CachedAttentionOptions,
  type CachedAttentionResult,
  contextAttentionCache,
  initAttentionCache,
  initMultiHeadAttention,
  type MultiHeadAttentionConfig,
  type MultiHeadAttentionOptions,
  type MultiHeadAttentionParams,
  multiHeadAttention,
} from './attention/multi-head-attention';
export {
  applyRotaryEmbedding,
  type RopeScaling,
  type RotaryEmbeddingOptions,
} from './attention/rotary-embedding';
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
export { type BackendName, useBackend } from './backends';
export type { GradientCheckpointing, GradientCheckpointingOptions } from './blocks/checkpoint';
export {
  type BlockFeedForwardConfig,
  type CachedDecoderBlockOptions,
  type CachedDecoderBlockResult,
  type DecoderBlockCache,
  type DecoderCache,
  type InitDecoderBlockOptions,
  initTransformerDecoderBlock,
  initTransformerEncoderBlock,
  type TransformerBlockConfig,
  type TransformerBlockOptions,
  type TransformerDecoderBlockOptions,
  type TransformerDecoderBlockParams,
  type TransformerEncoderBlockParams,
  transformerDecoderBlock,
  transformerEncoderBlock,
} from './blocks/transformer-block';
export {
  countParameters,
  DEFAULT_GRID_INTENSITY,
  type EnergyEstimate,
  type EnergyOptions,
  energyEstimate,
  type FlopCounts,
  type MemoryCounts,
  type ModelCost,
  type ModelCostOptions,
  modelCost,
  type ParameterCounts,
  type ThroughputSource,
} from './efficiency/cost';
export {
  applyPruningMasks,
  keepPruned,
  type MagnitudePruningOptions,
  magnitudePruningMasks,
  type NmSparsityOptions,
  nmSparsityMask,
  polynomialSparsitySchedule,
  type SparsityScheduleOptions,
} from './efficiency/pruning';
export {
  dequantizeParams,
  type QuantizationReport,
  type QuantizedLinearParams,
  type QuantizedParams,
  type QuantizeOptions,
  type QuantizeParamsOptions,
  quantizedBytes,
  quantizedLinear,
  quantizeParams,
  quantizeWeights,
} from './efficiency/quantization';
export { TfjsBlocksError } from './errors';
export { type GenerateOptions, type GenerationModel, generate } from './generate/generate';
export {
  applyLogitsProcessors,
  greedyTokens,
  type LogitsProcessor,
  type LogitsProcessorContext,
  minPProcessor,
  repetitionPenaltyProcessor,
  sampleTokens,
  seededRandom,
  temperatureProcessor,
  topKProcessor,
  topPProcessor,
} from './generate/logits-processors';
export { ByteTokenizer, type ByteTokenizerOptions, type Tokenizer } from './generate/tokenizer';
export { bfloat16ToFloat32, float16ToFloat32 } from './interop/half-precision';
export {
  loadSafetensorsFromResponse,
  parseSafetensors,
  type SafetensorsContents,
  type SafetensorsReadOptions,
  serializeSafetensors,
} from './interop/safetensors';
export type { SafetensorsDtype } from './interop/safetensors-format';
export {
  LearningRateScheduler,
  type LearningRateSchedulerOptions,
  learningRateScheduler,
  ReduceLearningRateOnPlateau,
  type ReduceLearningRateOnPlateauOptions,
  reduceLearningRateOnPlateau,
} from './layers/learning-rate-callbacks';
export {
  type FocalLossOptions,
  focalLoss,
  type SigmoidBinaryCrossEntropyOptions,
  sigmoidBinaryCrossEntropy,
} from './losses/binary-cross-entropy';
export { type CtcLossOptions, ctcLoss } from './losses/ctc';
export { type DistillationLossOptions, distillationLoss } from './losses/distillation';
export {
  type CosineEmbeddingLossOptions,
  cosineEmbeddingLoss,
  type InfoNceLossOptions,
  infoNceLoss,
  type TripletMarginLossOptions,
  tripletMarginLoss,
} from './losses/embedding-losses';
export { type KlDivergenceOptions, klDivergence } from './losses/kl-divergence';
export { type LayersAdapterOptions, toLayersLoss, toLayersMetric } from './losses/layers-adapter';
export { perplexity, type TokenMetricOptions, tokenAccuracy } from './losses/metrics';
export type { Reduction, ReductionOption } from './losses/reduction';
export {
  type HuberLossOptions,
  huberLoss,
  meanAbsoluteError,
  meanSquaredError,
} from './losses/regression';
export {
  type SoftmaxCrossEntropyOptions,
  softmaxCrossEntropy,
} from './losses/softmax-cross-entropy';
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
} from './models/decoder-lm';
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
} from './models/encoder-classifier';
export {
  type CachedEncoderDecoderOptions,
  type EncoderDecoderConfig,
  type EncoderDecoderOptions,
  type EncoderDecoderParams,
  encoderDecoder,
  initEncoderDecoder,
  runDecoder,
  runEncoder,
} from './models/encoder-decoder';
export { initVit, type VitConfig, type VitOptions, type VitParams, vit } from './models/vit';
export { type GeluOptions, gelu, silu } from './nn/activations';
export type { EmbeddingTable, MaybeQuantizedEmbeddingParams } from './nn/embedding';
export {
  type EmbeddingConfig,
  type EmbeddingParams,
  embed,
  initEmbedding,
  initTokenAndPositionEmbedding,
  type OffsetOptions,
  positionEmbedding,
  type TokenAndPositionEmbeddingConfig,
  type TokenAndPositionEmbeddingParams,
  tiedOutputProjection,
  tokenAndPositionEmbedding,
} from './nn/embedding';
export {
  type FeedForwardActivation,
  type FeedForwardConfig,
  type FeedForwardParams,
  feedForward,
  initFeedForward,
} from './nn/feed-forward';
export { type LayerNormOptions, layerNorm } from './nn/layer-norm';
export type { QuantizableLinearParams } from './nn/linear';
export { initLinear, type LinearConfig, type LinearParams, linear } from './nn/linear';
export {
  initMixtureOfExperts,
  type MixtureOfExpertsConfig,
  type MixtureOfExpertsParams,
  type MixtureOfExpertsResult,
  mixtureOfExperts,
  type StackedLinearParams,
} from './nn/mixture-of-experts';
export {
  applyNorm,
  initNorm,
  type NormConfig,
  type NormLayerConfig,
  type NormParams,
} from './nn/norm';
export {
  initPatchEmbedding,
  type PatchEmbeddingConfig,
  type PatchEmbeddingParams,
  patchEmbedding,
} from './nn/patch-embedding';
// The quantized-matrix core lives in nn/ (affine runs quantized kernels); exported here as before.
export {
  dequantizeWeights,
  type QuantizedTensor,
  type WithQuantizedKernels,
} from './nn/quantized-weights';
export { type RmsNormOptions, rmsNorm } from './nn/rms-norm';
export { applyUpdates, applyUpdatesInPlace } from './optim/apply-updates';
export { chain } from './optim/chain';
export {
  createOptimizer,
  type SavedOptimizer,
  type StatefulOptimizer,
} from './optim/create-optimizer';
export { type AdafactorOptions, adafactor } from './optim/optimizers/adafactor';
export { type AdamOptions, type AdamwOptions, adam, adamw } from './optim/optimizers/adam';
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
} from './optim/optimizers/adaptive';
export type { LearningRateOption } from './optim/optimizers/recipe';
export { type SgdOptions, sgd } from './optim/optimizers/sgd';
export {
  type ParamsToVariablesOptions,
  paramsToVariables,
  type TrainableParams,
} from './optim/param-tree';
export {
  restoreOptimizerState,
  type SavedOptimizerState,
  saveOptimizerState,
} from './optim/state-io';
export {
  type NamedTensor,
  type OptimizerRecipe,
  type ReadyOptimizerName,
  TransformOptimizer,
} from './optim/tf-optimizer';
export {
  addDecayedWeights,
  type ParameterMask,
  weightDecayMask,
} from './optim/transforms/add-decayed-weights';
export { clipByGlobalNorm, clipByValue } from './optim/transforms/clip';
export { emaParams } from './optim/transforms/ema-params';
export type { MomentState } from './optim/transforms/per-parameter';
export { type ScaleByAdadeltaOptions, scaleByAdadelta } from './optim/transforms/scale-by-adadelta';
export {
  type AdafactorState,
  clipByBlockRms,
  type ScaleByAdafactorOptions,
  scaleByAdafactor,
  scaleByParamBlockRms,
} from './optim/transforms/scale-by-adafactor';
export { type ScaleByAdagradOptions, scaleByAdagrad } from './optim/transforms/scale-by-adagrad';
export { type ScaleByAdamOptions, scaleByAdam } from './optim/transforms/scale-by-adam';
export { type ScaleByAdamaxOptions, scaleByAdamax } from './optim/transforms/scale-by-adamax';
export { scaleByLearningRate } from './optim/transforms/scale-by-learning-rate';
export { type ScaleByLionOptions, scaleByLion } from './optim/transforms/scale-by-lion';
export { type ScaleByNadamOptions, scaleByNadam } from './optim/transforms/scale-by-nadam';
export { type ScaleByRadamOptions, scaleByRadam } from './optim/transforms/scale-by-radam';
export { type ScaleByRmsOptions, scaleByRms } from './optim/transforms/scale-by-rms';
export { scaleByTrustRatio } from './optim/transforms/scale-by-trust-ratio';
export {
  type CountState,
  type MapUpdatesOptions,
  mapUpdatesTransform,
} from './optim/transforms/stateless';
export { type TraceOptions, trace } from './optim/transforms/trace';
export {
  type ApplyIfFiniteState,
  applyIfFinite,
  type MaskedState,
  type MultiStepsState,
  type MultiTransformState,
  masked,
  multiSteps,
  multiTransform,
} from './optim/transforms/wrappers';
export type {
  GradientTransformation,
  TransformResult,
} from './optim/types';
export {
  disableWasmFastKernels,
  enableWasmFastKernels,
  isWasmFastKernelsEnabled,
  type WasmFastKernelsOptions,
} from './perf/wasm-fast-kernels';
export { type ConfigJsonReader, configJsonReader } from './pretrained/config-json';
export { bertFamily } from './pretrained/families/bert';
export type { PretrainedFamily, TensorRule } from './pretrained/families/family';
export { gemmaFamily } from './pretrained/families/gemma';
export { gpt2Family } from './pretrained/families/gpt2';
export { llamaFamily } from './pretrained/families/llama';
export { mistralFamily } from './pretrained/families/mistral';
export { phi3Family } from './pretrained/families/phi3';
export { qwen2Family } from './pretrained/families/qwen2';
export {
  type AnyPretrainedFamily,
  familyForConfigJson,
  PRETRAINED_FAMILIES,
} from './pretrained/families/registry';
export {
  type FromHuggingFaceOptions,
  fromHuggingFace,
  type HuggingFaceFamily,
  toHuggingFace,
} from './pretrained/hugging-face';
export {
  type LoadedPretrained,
  type LoadPretrainedOptions,
  loadPretrained,
  type PretrainedModel,
  type QuantizedLoadedPretrained,
} from './pretrained/load';
export {
  type PretrainedFile,
  type PretrainedTokenizerSource,
  pretrainedFiles,
  type SavePretrainedOptions,
} from './pretrained/save';
export type {
  PretrainedFetch,
  PretrainedResponse,
  PretrainedSource,
} from './pretrained/source';
export type { PretrainedProgress } from './pretrained/weights';
export {
  type BiasProbeGap,
  type BiasProbeGroup,
  type BiasProbeOptions,
  type BiasProbeResult,
  type BiasProbeScore,
  biasProbe,
  type ProbeTokenizer,
} from './responsible/bias-probes';
export type { ConfidenceIntervalOptions, MetricWithInterval } from './responsible/bootstrap';
export {
  computeDpFederatedEpsilon,
  type DpFederatedClient,
  type DpFederatedOptions,
  type DpFederatedPrivacyOptions,
  type DpFederatedRoundOptions,
  dpFederatedAveragingRound,
  privateDeltaAverage,
  type SampleClientsOptions,
  sampleClients,
} from './responsible/dp-federated-averaging';
export {
  type DifferentiallyPrivateAggregateOptions,
  type DpSgdOptions,
  differentiallyPrivateAggregate,
  dpSgd,
} from './responsible/dp-sgd';
export {
  type ExponentiatedGradientOptions,
  type ExponentiatedGradientResult,
  exponentiatedGradient,
  type FairFit,
  type FairPredictor,
  type WeightedSamples,
} from './responsible/exponentiated-gradient';
export type {
  FairnessOptionsWithInterval,
  FairnessOptionsWithoutInterval,
  GroupConfusionMetricsWithIntervals,
  RateIntervals,
  RateName,
} from './responsible/fairness';
export {
  type BinaryLabels,
  type ConfusionMetrics,
  demographicParityDifference,
  demographicParityRatio,
  equalizedOddsDifference,
  equalizedOddsRatio,
  equalOpportunityDifference,
  equalOpportunityRatio,
  type FairnessOptions,
  type GroupConfusionMetrics,
  type GroupLabel,
  groupConfusionMetrics,
  type SensitiveFeatures,
} from './responsible/fairness';
export {
  type FederatedClient,
  federatedAverage,
  federatedAveragingRound,
} from './responsible/federated-averaging';
export {
  type FairnessConstraint,
  type GroupThresholds,
  type GroupThresholdsOptions,
  groupThresholds,
  type ThresholdRule,
} from './responsible/group-thresholds';
export {
  type LinearTape,
  type PerExampleGradientsOptions,
  type PerExampleLoss,
  perExampleGradients,
  perExampleGradientsOfLinearLayers,
} from './responsible/per-example-gradients';
export {
  computeDpSgdEpsilon,
  computeDpSgdEpsilonForEpochs,
  DEFAULT_RDP_ORDERS,
  type DpSgdEpochsOptions,
  type DpSgdEpochsPrivacy,
  type DpSgdPrivacy,
  type DpSgdPrivacyOptions,
  type EpsilonAtOrder,
  type RdpConversion,
  rdpOfSubsampledGaussian,
  rdpToEpsilon,
  type SubsampledGaussianOptions,
} from './responsible/privacy-accountant';
export {
  type NoiseForEpsilon,
  type NoiseForEpsilonOptions,
  noiseMultiplierForEpsilon,
  type RdpAccountant,
  type RdpAccountantOptions,
  rdpAccountant,
  type StepsForEpsilon,
  type StepsForEpsilonOptions,
  stepsForEpsilon,
} from './responsible/privacy-budget';
export { type Reweighing, type ReweighingOptions, reweighing } from './responsible/reweighing';
export { constantSchedule } from './schedules/constant';
export {
  type CosineDecayScheduleOptions,
  type CosineRestartsScheduleOptions,
  cosineDecaySchedule,
  cosineRestartsSchedule,
  type WarmupCosineDecayScheduleOptions,
  warmupCosineDecaySchedule,
} from './schedules/cosine';
export {
  type ExponentialDecayScheduleOptions,
  exponentialDecaySchedule,
} from './schedules/exponential';
export { type InverseSqrtScheduleOptions, inverseSqrtSchedule } from './schedules/inverse-sqrt';
export { joinSchedules } from './schedules/join';
export { type OneCycleScheduleOptions, oneCycleSchedule } from './schedules/one-cycle';
export {
  type PiecewiseConstantScheduleOptions,
  piecewiseConstantSchedule,
} from './schedules/piecewise';
export {
  type LinearScheduleOptions,
  linearSchedule,
  type PolynomialScheduleOptions,
  polynomialSchedule,
} from './schedules/polynomial';
export type { Schedule } from './schedules/schedule';
export { type WsdScheduleOptions, wsdSchedule } from './schedules/wsd';
export type { ChatMessage } from './tokenizers/chat-template';
export {
  type BatchEncoding,
  type ChatTemplateOptions,
  type DecodeOptions,
  type EncodeBatchOptions,
  type EncodeOptions,
  HuggingFaceTokenizer,
  type LoadTokenizerOptions,
  loadTokenizer,
  type PaddingSide,
  type SpecialTokens,
} from './tokenizers/hugging-face-tokenizer';
export type { TokenizerFiles } from './tokenizers/tokenizer-files';
export { flattenParams, unflattenParams } from './tree/flatten';
export { treeLeaves, treeLeavesWithPath } from './tree/leaves';
export { treeMap } from './tree/map';
export type { ParamTree, TensorMap } from './tree/types';

// Registers TransformOptimizer so a model saved with it loads back. Kept in the
// entry module: package.json declares side effects for the built entries only.
serialization.registerClass(TransformOptimizer, 'tfjs-blocks');

export {
  createRunLedger,
  DEFAULT_POWER_PROFILE,
  type EnergySource,
  type FigureLabel,
  type LedgerEntry,
  type LedgerFigure,
  type LedgerFigures,
  type LedgerReport,
  type LedgerSpan,
  type LedgerTimer,
  type LedgerTotals,
  type PowerProfile,
  type RunLedger,
  type RunLedgerOptions,
  type RunLedgerState,
  type SpanKind,
} from './efficiency/run-ledger';
export {
  type ChatExamplesOptions,
  type ChatTokenizer,
  chatExamples,
} from './fine-tuning/chat-examples';
export {
  type FineTuneCheckpoint,
  type FineTuneCheckpointMetadata,
  type FineTuneCheckpointStore,
  type FineTuneRecord,
  memoryCheckpointStore,
} from './fine-tuning/checkpoint-store';
export {
  IGNORED_LABEL,
  type SequenceExample,
  type SplitHeldOutOptions,
  shuffleExamples,
  splitHeldOut,
} from './fine-tuning/examples';
export {
  type EarlyStoppingOptions,
  type FineTuneData,
  type FineTuneModel,
  type FineTuneOptions,
  type FineTuneProgress,
  type FineTuneResult,
  fineTune,
} from './fine-tuning/fine-tune';
export {
  initLora,
  type LoraAdapter,
  type LoraModule,
  loraTensors,
  type MergedLora,
  mergeLora,
  unmergeLora,
  type WithLoraOptions,
  withLora,
} from './fine-tuning/lora';
export type { LoraConfig, ResolvedLoraConfig } from './fine-tuning/lora-config';
export {
  type LoraBase,
  type LoraModuleNamesOptions,
  type LoraTargetMatch,
  loraModuleNames,
  matchLoraTargets,
} from './fine-tuning/lora-modules';
export { type PackTextsOptions, packTexts } from './fine-tuning/pack-texts';
export {
  type AdapterFilesOptions,
  adapterFiles,
  type LoadAdapterOptions,
  loadAdapter,
} from './fine-tuning/peft-adapter';
export {
  type AdapterGradientOptions,
  type FineTunePrivacy,
  type FineTunePrivacyReport,
  type LmBatch,
  type PrivateAdapterGradientOptions,
  perExampleAdapterGradients,
  privateAdapterGradients,
} from './fine-tuning/private';
export {
  badWordsProcessor,
  minNewTokensProcessor,
  noRepeatNgramProcessor,
} from './generate/logits-processors';
export type { GenerationLedger } from './generate/options';
export type { LoraFactors } from './nn/linear';
export {
  generateOptionsFromConfigJson,
  toGenerationConfigJson,
} from './pretrained/generation-config';
export {
  type ModelCard,
  type ModelCardCompression,
  type ModelCardData,
  type ModelCardFairness,
  type ModelCardGroup,
  type ModelCardMetric,
  type ModelCardOptions,
  type ModelCardPrivacy,
  type ModelCardRun,
  modelCard,
} from './responsible/model-card';
