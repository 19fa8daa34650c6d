// Compile-time checks, enforced by `tsc --noEmit` (part of `npm test`):
// expectTypeOf is a no-op at run time, so a wrong type fails the typecheck.
import { dispose } from '@tensorflow/tfjs-core';
import { expect, expectTypeOf, it } from 'vitest';
import { type DecoderLmParams, initLinear, type LinearParams } from '../../src/index';
import type { MetricWithInterval } from '../../src/responsible/bootstrap';
import {
  demographicParityDifference,
  type FairnessOptions,
  type GroupConfusionMetrics,
  type GroupConfusionMetricsWithIntervals,
  groupConfusionMetrics,
} from '../../src/responsible/fairness';
import { federatedAverage } from '../../src/responsible/federated-averaging';

it('accepts the library’s param interfaces', () => {
  const a: LinearParams = initLinear({ inFeatures: 2, outFeatures: 2 }, 0);
  const avg = federatedAverage([a, a], [1, 1]);
  // The result keeps the caller's interface (not a widened ParamTree) ...
  expectTypeOf(avg).toEqualTypeOf<LinearParams>();
  // ... and an interface without an index signature satisfies the ParamTree bound.
  expectTypeOf(federatedAverage<DecoderLmParams>)
    .parameter(0)
    .toEqualTypeOf<readonly DecoderLmParams[]>();
  expectTypeOf(federatedAverage<DecoderLmParams>).returns.toEqualTypeOf<DecoderLmParams>();
  expect(avg.kernel.shape).toEqual([2, 2]);
  dispose([a.kernel, a.bias!, avg.kernel, avg.bias!]);
});

it('types a fairness metric by its options: a number without an interval, a MetricWithInterval with one', () => {
  const yPred = [1, 0, 1, 0];
  const groups = ['a', 'a', 'b', 'b'];
  expectTypeOf(demographicParityDifference(yPred, groups)).toEqualTypeOf<number>();
  expectTypeOf(
    demographicParityDifference(yPred, groups, { sampleWeight: [1, 2, 1, 2] }),
  ).toEqualTypeOf<number>();
  const ci = demographicParityDifference(yPred, groups, { confidenceInterval: { nBoot: 10 } });
  expectTypeOf(ci).toEqualTypeOf<MetricWithInterval>();
  expectTypeOf(ci.interval).toEqualTypeOf<[number, number]>();
  // Options whose interval is unknown at compile time give the union.
  const options: FairnessOptions = {};
  expectTypeOf(demographicParityDifference(yPred, groups, options)).toEqualTypeOf<
    number | MetricWithInterval
  >();
  expectTypeOf(groupConfusionMetrics(yPred, yPred, groups)).toEqualTypeOf<GroupConfusionMetrics>();
  expectTypeOf(
    groupConfusionMetrics(yPred, yPred, groups, { confidenceInterval: {} }),
  ).toEqualTypeOf<GroupConfusionMetricsWithIntervals>();
  expect(ci.value).toBe(0);
});
