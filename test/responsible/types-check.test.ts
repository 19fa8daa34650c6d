// Compile-time checks, enforced by `tsc --noEmit` (part of `npm test`):
// expectTypeOf is a no-op at run time, so a wrong type fails the typecheck.
import { dispose } from '@tensorflow/tfjs-core';
import { expect, expectTypeOf, it } from 'vitest';
import { type DecoderLmParams, initLinear, type LinearParams } from '../../src/index';
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
