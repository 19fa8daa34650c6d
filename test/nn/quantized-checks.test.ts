// checkQuantizedTensor (src/nn/quantized-weights.ts), every path: what a
// QuantizedTensor must hold for its shape and format, the counts at their
// boundaries (an odd number of int4 weights, a shorter last group), and the
// error's function name and argument for each rejection.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { dequantizeWeights, type QuantizedTensor } from '../../src/index';
import { checkKernel, checkQuantizedTensor } from '../../src/nn/quantized-weights';
import { expectNoLeak } from '../helpers/leaks';
import { thrownWithoutLeak } from '../helpers/rejections';

/** An int8 `[3, 5]` record: 15 codes, 5 scales. */
const int8 = (): QuantizedTensor => ({
  format: 'int8',
  shape: [3, 5],
  values: Int8Array.from({ length: 15 }, (_, i) => i - 7),
  scales: Float32Array.from({ length: 5 }, (_, c) => 0.5 + c),
  groupSize: 3,
});

/** An int4 `[5, 3]` record in groups of 2: 15 weights in 8 bytes, 3 groups (the last one row) × 3 scales. */
const int4 = (): QuantizedTensor => ({
  format: 'int4',
  shape: [5, 3],
  values: Uint8Array.from({ length: 8 }, (_, i) => (i * 37 + 5) & 0xff),
  scales: Float32Array.from({ length: 9 }, (_, i) => 0.25 * (i + 1)),
  groupSize: 2,
});

const bad = (v: unknown) => v as QuantizedTensor;

describe('checkQuantizedTensor', () => {
  it('accepts the counts at their boundaries: an odd number of int4 weights, a one-row last group', () => {
    // int8 has one scale per column whatever its groupSize.
    for (const q of [int8(), int4(), { ...int8(), groupSize: 1 }]) {
      expect(checkQuantizedTensor('f', 'q', q)).toBe(q);
      expect(checkKernel('f', 'q', q, '[in, out]')).toEqual(q.shape);
      expectNoLeak(() => dequantizeWeights(q));
    }
    // The last byte's high nibble is unused; the last group's scales are read.
    const w = dequantizeWeights(int4());
    const q = int4();
    expect(Array.from(w.dataSync()).slice(12)).toEqual([
      ((q.values[6]! & 0x0f) - 8) * 1.75,
      ((q.values[6]! >> 4) - 8) * 2,
      ((q.values[7]! & 0x0f) - 8) * 2.25,
    ]);
    w.dispose();
  });

  const cases: [string, () => QuantizedTensor, string][] = [
    ['null', () => bad(null), 'q'],
    ['a number', () => bad(8), 'q'],
    ['no format', () => bad({ ...int8(), format: undefined }), 'q.format'],
    ["format 'int2'", () => bad({ ...int8(), format: 'int2' }), 'q.format'],
    ['no shape', () => bad({ ...int8(), shape: undefined }), 'q.shape'],
    ['a shape of one size', () => bad({ ...int8(), shape: [15] }), 'q.shape'],
    ['a shape of three sizes', () => bad({ ...int8(), shape: [3, 5, 1] }), 'q.shape'],
    ['a shape that is a string', () => bad({ ...int8(), shape: '35' }), 'q.shape'],
    ['no rows', () => bad({ ...int8(), shape: [0, 5] }), 'q.shape[0]'],
    ['fractional rows', () => bad({ ...int8(), shape: [2.5, 5] }), 'q.shape[0]'],
    ['no columns', () => bad({ ...int8(), shape: [3, 0] }), 'q.shape[1]'],
    ['no groupSize', () => bad({ ...int4(), groupSize: undefined }), 'q.groupSize'],
    ['groupSize 0', () => bad({ ...int4(), groupSize: 0 }), 'q.groupSize'],
    ['groupSize 1.5', () => bad({ ...int4(), groupSize: 1.5 }), 'q.groupSize'],
    [
      'int8 codes as a Uint8Array',
      () => bad({ ...int8(), values: new Uint8Array(15) }),
      'q.values',
    ],
    ['int8: one code short', () => bad({ ...int8(), values: new Int8Array(14) }), 'q.values'],
    ['int8: one code more', () => bad({ ...int8(), values: new Int8Array(16) }), 'q.values'],
    [
      'int8: a code per byte of int4',
      () => bad({ ...int8(), values: new Int8Array(8) }),
      'q.values',
    ],
    ['int8 codes as an array', () => bad({ ...int8(), values: new Array(15).fill(0) }), 'q.values'],
    ['int4 codes as an Int8Array', () => bad({ ...int4(), values: new Int8Array(8) }), 'q.values'],
    [
      'int4: 15 weights in 7 bytes',
      () => bad({ ...int4(), values: new Uint8Array(7) }),
      'q.values',
    ],
    ['int4: a byte per weight', () => bad({ ...int4(), values: new Uint8Array(15) }), 'q.values'],
    ['int4: one byte more', () => bad({ ...int4(), values: new Uint8Array(9) }), 'q.values'],
    ['int8: a scale short', () => bad({ ...int8(), scales: new Float32Array(4) }), 'q.scales'],
    ['int8: a scale per row', () => bad({ ...int8(), scales: new Float32Array(3) }), 'q.scales'],
    [
      'int8: a scale per weight',
      () => bad({ ...int8(), scales: new Float32Array(15) }),
      'q.scales',
    ],
    ['int8 scales as float64', () => bad({ ...int8(), scales: new Float64Array(5) }), 'q.scales'],
    ['int8 scales as an array', () => bad({ ...int8(), scales: [1, 1, 1, 1, 1] }), 'q.scales'],
    // 5 rows in groups of 2 are 3 groups, not 2 (rows / groupSize rounded down) or 2.5.
    [
      'int4: no scales for the last group',
      () => bad({ ...int4(), scales: new Float32Array(6) }),
      'q.scales',
    ],
    ['int4: a group too many', () => bad({ ...int4(), scales: new Float32Array(12) }), 'q.scales'],
    ['int4: a scale per column', () => bad({ ...int4(), scales: new Float32Array(3) }), 'q.scales'],
  ];
  for (const [name, q, argument] of cases) {
    it(`dequantizeWeights names ${argument} for ${name}`, () => {
      const error = thrownWithoutLeak(() => dequantizeWeights(q()));
      expect(error.functionName).toBe('dequantizeWeights');
      expect(error.argument).toBe(argument);
    });
  }

  it('checkKernel names the caller and argument for a bad record, and takes a float32 [in, out] tensor', () => {
    const error = thrownWithoutLeak(() =>
      checkKernel('linear', 'params.kernel', bad({ ...int4(), groupSize: 0 }), '[in, out]'),
    );
    expect([error.functionName, error.argument]).toEqual(['linear', 'params.kernel.groupSize']);
    const k = tf.zeros([4, 6]);
    expect(checkKernel('linear', 'params.kernel', k, '[in, out]')).toEqual([4, 6]);
    const rank3 = tf.zeros([4, 6, 1]);
    const e3 = thrownWithoutLeak(() => checkKernel('linear', 'params.kernel', rank3, '[in, out]'));
    expect([e3.functionName, e3.argument]).toEqual(['linear', 'params.kernel']);
    tf.dispose([k, rank3]);
  });
});
