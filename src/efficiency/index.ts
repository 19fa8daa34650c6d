/**
 * tfjs-blocks/efficiency: cost accounting (parameters, FLOPs, memory, energy), pruning and int8
 * quantization.
 *
 * @packageDocumentation
 */
// Registers tfjs-core's gradient functions (through tfjs-layers, a peer
// dependency), as the root entry does, so `tf.grad` works for users who import
// only `@tensorflow/tfjs-core`. It stays in this entry module: package.json
// declares side effects for the built entries only (scripts/check-dist.mjs).
import '@tensorflow/tfjs-layers';

export {
  countParameters,
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
} from './cost';
export {
  applyPruningMasks,
  keepPruned,
  type MagnitudePruningOptions,
  magnitudePruningMasks,
  type NmSparsityOptions,
  nmSparsityMask,
  polynomialSparsitySchedule,
  type SparsityScheduleOptions,
} from './pruning';
export {
  dequantizeParams,
  dequantizeWeights,
  type QuantizationReport,
  type QuantizedLinearParams,
  type QuantizedParams,
  type QuantizedTensor,
  type QuantizeOptions,
  type QuantizeParamsOptions,
  quantizedBytes,
  quantizedLinear,
  quantizeParams,
  quantizeWeights,
  type WithQuantizedKernels,
} from './quantization';
