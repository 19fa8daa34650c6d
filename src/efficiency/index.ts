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

// The quantized-matrix core lives in nn/ (affine runs quantized kernels); exported here as before.
export {
  dequantizeWeights,
  type QuantizedTensor,
  type WithQuantizedKernels,
} from '../nn/quantized-weights';
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
  type QuantizationReport,
  type QuantizedLinearParams,
  type QuantizedParams,
  type QuantizeOptions,
  type QuantizeParamsOptions,
  quantizedBytes,
  quantizedLinear,
  quantizeParams,
  quantizeWeights,
} from './quantization';
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
} from './run-ledger';
