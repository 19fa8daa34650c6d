/**
 * tfjs-blocks/schedules: learning-rate schedules as plain `step -> value` functions, and
 * tfjs-layers callbacks that apply them. Registers no gradients, and a schedule imported alone
 * bundles without any tensor code.
 *
 * @packageDocumentation
 */
export { constantSchedule } from './constant';
export {
  type CosineDecayScheduleOptions,
  type CosineRestartsScheduleOptions,
  cosineDecaySchedule,
  cosineRestartsSchedule,
  type WarmupCosineDecayScheduleOptions,
  warmupCosineDecaySchedule,
} from './cosine';
export {
  type ExponentialDecayScheduleOptions,
  exponentialDecaySchedule,
} from './exponential';
export { type InverseSqrtScheduleOptions, inverseSqrtSchedule } from './inverse-sqrt';
export { joinSchedules } from './join';
export { type OneCycleScheduleOptions, oneCycleSchedule } from './one-cycle';
export {
  type PiecewiseConstantScheduleOptions,
  piecewiseConstantSchedule,
} from './piecewise';
export {
  type LinearScheduleOptions,
  linearSchedule,
  type PolynomialScheduleOptions,
  polynomialSchedule,
} from './polynomial';
export type { Schedule } from './schedule';
export { type WsdScheduleOptions, wsdSchedule } from './wsd';
