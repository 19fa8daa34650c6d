import { dispose } from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import { type DecoderLmParams, initLinear, type LinearParams } from '../../src/index';
import { federatedAverage } from '../../src/responsible/federated-averaging';

it('accepts the library’s param interfaces', () => {
  const a: LinearParams = initLinear({ inFeatures: 2, outFeatures: 2 }, 0);
  const avg: LinearParams = federatedAverage([a, a], [1, 1]);
  const f = (p: DecoderLmParams) => federatedAverage([p], [1]);
  expect(typeof f).toBe('function');
  expect(avg.kernel.shape).toEqual([2, 2]);
  dispose([a.kernel, a.bias!, avg.kernel, avg.bias!]);
});
