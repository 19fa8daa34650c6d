import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, describe, expect, it } from 'vitest';
import { quantizedSimdSource } from '../../scripts/quantized-simd-wasm';
import { dequantizeWeights, linear, type QuantizedTensor, quantizeWeights } from '../../src/index';
import {
  quantizedSimdAvailable,
  quantizedSimdBytesInUse,
  quantizedSimdProduct,
  releaseQuantizedSimd,
  setQuantizedSimdEnabled,
} from '../../src/nn/quantized-simd';
import { quantizedMatMul } from '../../src/nn/quantized-weights';
import { describeEachBackend } from '../helpers/backends';
import { expectClose } from '../helpers/close';
import { expectNoLeak } from '../helpers/leaks';

/** `quantizeWeights` of a seeded random `[rows, cols]` matrix (freed after). */
function quantized(rows: number, cols: number, bits: 4 | 8, groupSize?: number): QuantizedTensor {
  const w = tf.randomNormal([rows, cols], 0, 0.3, 'float32', rows * 31 + cols);
  const q = quantizeWeights(w, bits === 8 ? { bits } : { bits, groupSize: groupSize ?? rows });
  w.dispose();
  return q;
}

/** `x · dequantize(q)` by tf's float product: the reference the kernel must match. */
function reference(x: tf.Tensor2D, q: QuantizedTensor): Float32Array {
  return tf.tidy(() => tf.matMul(x, dequantizeWeights(q)).dataSync() as Float32Array);
}

// Odd widths (a tail in the last 16/32-column chunk), rows not a multiple of 4,
// int4 groups not a multiple of 4 rows, one group, many groups.
const CASES = [
  { rows: 24, cols: 12, bits: 8 },
  { rows: 7, cols: 5, bits: 8 },
  { rows: 1, cols: 1, bits: 8 },
  { rows: 130, cols: 97, bits: 8 },
  { rows: 32, cols: 10, bits: 4, groupSize: 8 },
  { rows: 12, cols: 7, bits: 4, groupSize: 4 },
  { rows: 6, cols: 3, bits: 4, groupSize: 6 },
  { rows: 48, cols: 70, bits: 4, groupSize: 6 },
  { rows: 20, cols: 33, bits: 4, groupSize: 10 },
  { rows: 9, cols: 65, bits: 4, groupSize: 3 },
  { rows: 128, cols: 96, bits: 4, groupSize: 32 },
  // Wider than one 4,096-column tile, with a partial last tile.
  { rows: 20, cols: 4136, bits: 8 },
  { rows: 32, cols: 4136, bits: 4, groupSize: 16 },
] as const;

afterEach(() => {
  setQuantizedSimdEnabled(true);
});

describe('the SIMD kernel module', () => {
  it('runs in this Node (WebAssembly SIMD), so the tests below exercise it', () => {
    expect(quantizedSimdAvailable()).toBe(true);
  });

  it('is the bytes scripts/quantized-simd-wasm.ts generates (regenerate after editing the script)', () => {
    const committed = readFileSync(
      new URL('../../src/nn/quantized-simd-module.ts', import.meta.url),
      'utf8',
    );
    expect(committed).toBe(quantizedSimdSource());
  });

  it('answers null when turned off (the caller falls back to its JS loops)', () => {
    const q = quantized(8, 4, 8);
    setQuantizedSimdEnabled(false);
    expect(quantizedSimdProduct(q, new Float32Array(8), 1)).toBeNull();
  });
});

describe('packed kernels in the module memory', () => {
  it('packs once per QuantizedTensor, frees on release, and reuses the freed bytes', () => {
    const q = quantized(64, 48, 8);
    const x = new Float32Array(64).fill(1);
    quantizedSimdProduct(q, x, 1);
    const inUse = quantizedSimdBytesInUse();
    quantizedSimdProduct(q, x, 1);
    expect(quantizedSimdBytesInUse()).toBe(inUse);
    releaseQuantizedSimd(q);
    expect(quantizedSimdBytesInUse()).toBe(inUse - 64 * 48);
    const again = quantized(64, 48, 8);
    const bytesBefore = quantizedSimdBytesInUse();
    quantizedSimdProduct(again, x, 1);
    expect(quantizedSimdBytesInUse()).toBe(bytesBefore + 64 * 48);
    releaseQuantizedSimd(again);
    releaseQuantizedSimd(again); // a second release is a no-op
    expect(quantizedSimdBytesInUse()).toBe(bytesBefore);
  });

  it('repacks when the QuantizedTensor gets new arrays', () => {
    const q = quantized(16, 16, 8);
    const x = new Float32Array(16).fill(1);
    const before = quantizedSimdProduct(q, x, 1)!;
    const doubled = { ...q, scales: q.scales.map((s) => 2 * s) };
    Object.assign(q, { scales: doubled.scales });
    const after = quantizedSimdProduct(q, x, 1)!;
    expectClose(
      after,
      before.map((v) => 2 * v),
    );
    releaseQuantizedSimd(q);
  });

  it('grows the module memory for a kernel larger than it (a GPT-2-sized output head)', () => {
    const q = quantized(96, 50257, 8);
    const x = tf.randomNormal([1, 96], 0, 1, 'float32', 5) as tf.Tensor2D;
    const y = quantizedSimdProduct(q, x.dataSync() as Float32Array, 1)!;
    const expected = reference(x, q);
    const scale = Math.max(...Array.from(expected, Math.abs));
    expectClose(y, expected, { rtol: 0, atol: 1e-5 * scale });
    releaseQuantizedSimd(q);
    x.dispose();
  });
});

describeEachBackend('quantizedMatMul through the SIMD kernel', () => {
  for (const c of CASES) {
    const label = `${c.bits === 8 ? 'int8' : `int4 (groups of ${c.groupSize})`} [${c.rows}, ${c.cols}]`;
    it(`${label}: equals the dequantized float product (1e-5 relative to the largest value), 1 to 4 rows`, () => {
      const q = quantized(c.rows, c.cols, c.bits, 'groupSize' in c ? c.groupSize : undefined);
      for (const n of [1, 3, 4]) {
        const x = tf.randomNormal([n, c.rows], 0, 1, 'float32', n) as tf.Tensor2D;
        const expected = reference(x, q);
        const y = quantizedMatMul(x, q);
        expect(y.shape).toEqual([n, c.cols]);
        const scale = Math.max(...Array.from(expected, Math.abs));
        expectClose(y, expected, { rtol: 0, atol: 1e-5 * scale });
        // And the same values as the direct call (so the SIMD path is the one taken).
        expectClose(y, quantizedSimdProduct(q, x.dataSync() as Float32Array, n)!, {
          rtol: 0,
          atol: 0,
        });
        tf.dispose([x, y]);
      }
      releaseQuantizedSimd(q);
    });
  }

  it('gives the JS fallback loops values within 1e-5 of the SIMD ones', () => {
    for (const c of [CASES[3], CASES[7]] as const) {
      const q = quantized(c.rows, c.cols, c.bits, 'groupSize' in c ? c.groupSize : undefined);
      const x = tf.randomNormal([2, c.rows], 0, 1, 'float32', 9) as tf.Tensor2D;
      const simd = quantizedMatMul(x, q);
      setQuantizedSimdEnabled(false);
      const js = quantizedMatMul(x, q);
      setQuantizedSimdEnabled(true);
      const scale = Math.max(...Array.from(js.dataSync(), Math.abs));
      expectClose(simd, js, { rtol: 0, atol: 1e-5 * scale });
      tf.dispose([x, simd, js]);
    }
  });

  it('leaks no tensor: quantizedMatMul and a linear on an int8 and an int4 kernel', () => {
    const q8 = quantized(40, 24, 8);
    const q4 = quantized(40, 24, 4, 8);
    const x = tf.randomNormal([1, 40], 0, 1, 'float32', 2) as tf.Tensor2D;
    expectNoLeak(() => quantizedMatMul(x, q8));
    expectNoLeak(() => quantizedMatMul(x, q4));
    const config = { inFeatures: 40, outFeatures: 24, useBias: true };
    const bias = tf.zeros([24]) as tf.Tensor1D;
    expectNoLeak(() => linear(config, { kernel: q4, bias }, x));
    tf.dispose([x, bias]);
  });

  it('keeps the gradient with respect to x (the backward is the JS loop)', () => {
    const q = quantized(12, 20, 4, 4);
    const x = tf.randomNormal([1, 12], 0, 1, 'float32', 3) as tf.Tensor2D;
    const dx = tf.grad((input: tf.Tensor) => tf.sum(quantizedMatMul(input as tf.Tensor2D, q)))(x);
    const expected = tf.tidy(() => tf.sum(dequantizeWeights(q), 1));
    expectClose(dx, expected, { rtol: 1e-5, atol: 1e-5 }, [1, 12]);
    tf.dispose([x, dx, expected]);
  });
});
