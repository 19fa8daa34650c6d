/**
 * tfjs-blocks/responsible: differential privacy (DP-SGD and its accountant), per-example
 * gradients, fairness metrics and federated averaging.
 *
 * @packageDocumentation
 */
// Registers tfjs-core's gradient functions (through tfjs-layers, a peer
// dependency), as the root entry does, so `tf.grad` works for users who import
// only `@tensorflow/tfjs-core`. It stays in this entry module: package.json
// declares side effects for the built entries only (scripts/check-dist.mjs).
import '@tensorflow/tfjs-layers';

export {
  type BiasProbeGap,
  type BiasProbeGroup,
  type BiasProbeOptions,
  type BiasProbeResult,
  type BiasProbeScore,
  biasProbe,
  type ProbeTokenizer,
} from './bias-probes';
export type { ConfidenceIntervalOptions, MetricWithInterval } from './bootstrap';
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
} from './dp-federated-averaging';
export {
  type DifferentiallyPrivateAggregateOptions,
  type DpSgdOptions,
  differentiallyPrivateAggregate,
  dpSgd,
} from './dp-sgd';
export {
  type ExponentiatedGradientOptions,
  type ExponentiatedGradientResult,
  exponentiatedGradient,
  type FairFit,
  type FairPredictor,
  type WeightedSamples,
} from './exponentiated-gradient';
export type {
  FairnessOptionsWithInterval,
  FairnessOptionsWithoutInterval,
  GroupConfusionMetricsWithIntervals,
  RateIntervals,
  RateName,
} from './fairness';
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
} from './fairness';
export {
  type FederatedClient,
  federatedAverage,
  federatedAveragingRound,
} from './federated-averaging';
export {
  type FairnessConstraint,
  type GroupThresholds,
  type GroupThresholdsOptions,
  groupThresholds,
  type ThresholdRule,
} from './group-thresholds';
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
} from './model-card';
export {
  type LinearTape,
  type PerExampleGradientsOptions,
  type PerExampleLoss,
  perExampleGradients,
  perExampleGradientsOfLinearLayers,
} from './per-example-gradients';
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
} from './privacy-accountant';
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
} from './privacy-budget';
export { type Reweighing, type ReweighingOptions, reweighing } from './reweighing';
