import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, describe, expect, it } from 'vitest';
import { quantizedSimdSource } from '../../scripts/quantized-simd-wasm';
import {
  dequantizeWeights,
  linear,
  type QuantizedTensor,
  quantizeParams,
  quantizeWeights,
  tiedOutputProjection,
} from '../../src/index';
import {
  quantizedSimdAvailable,
  quantizedSimdBytesInUse,
  quantizedSimdProduct,
  quantizedSimdProductTransposed,
  releaseQuantizedSimd,
  setQuantizedSimdEnabled,
} from '../../src/nn/quantized-simd';
import { quantizedMatMul, quantizedMatMulTransposed } from '../../src/nn/quantized-weights';
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
    // The codes and the column scales.
    const bytes = 64 * 48 + 48 * 4;
    expect(quantizedSimdBytesInUse()).toBe(inUse - bytes);
    const again = quantized(64, 48, 8);
    const bytesBefore = quantizedSimdBytesInUse();
    quantizedSimdProduct(again, x, 1);
    expect(quantizedSimdBytesInUse()).toBe(bytesBefore + bytes);
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

/**
 * An embedding table `[rows, cols]` quantized as `quantizeParams` does
 * (int4: groups of `groupSize` rows, the last one shorter when it does not divide).
 */
function quantizedTable(rows: number, cols: number, bits: 4 | 8, groupSize = 32): QuantizedTensor {
  const table = tf.randomNormal([rows, cols], 0, 0.3, 'float32', rows * 7 + cols) as tf.Tensor2D;
  const { params } = quantizeParams(
    { embedding: { table } },
    bits === 8 ? { bits, kernelsOnly: false } : { bits, groupSize, kernelsOnly: false },
  );
  table.dispose();
  return params.embedding.table as QuantizedTensor;
}

/** `x · dequantize(q)ᵀ` by tf's float product. */
function referenceTransposed(x: tf.Tensor2D, q: QuantizedTensor): Float32Array {
  return tf.tidy(() => tf.matMul(x, dequantizeWeights(q), false, true).dataSync() as Float32Array);
}

// Tables [vocab, d]: odd widths (d not a multiple of 16 / 32), vocab not a
// multiple of 4, int4 groups not a multiple of 4 rows and a shorter last group.
const TABLES = [
  { rows: 24, cols: 12, bits: 8 },
  { rows: 7, cols: 5, bits: 8 },
  { rows: 1, cols: 1, bits: 8 },
  { rows: 97, cols: 130, bits: 8 },
  { rows: 30, cols: 10, bits: 4, groupSize: 8 },
  { rows: 13, cols: 7, bits: 4, groupSize: 4 },
  { rows: 50, cols: 33, bits: 4, groupSize: 6 },
  { rows: 65, cols: 9, bits: 4, groupSize: 3 },
  { rows: 101, cols: 96, bits: 4, groupSize: 32 },
] as const;

describeEachBackend('quantizedMatMulTransposed (the tied head) through the SIMD kernel', () => {
  for (const c of TABLES) {
    const label = `${c.bits === 8 ? 'int8' : `int4 (groups of ${c.groupSize})`} table [${c.rows}, ${c.cols}]`;
    it(`${label}: equals x · dequantize(table)ᵀ (1e-5 relative to the largest value), 1 to 4 rows`, () => {
      const q = quantizedTable(c.rows, c.cols, c.bits, 'groupSize' in c ? c.groupSize : undefined);
      for (const n of [1, 2, 4]) {
        const x = tf.randomNormal([n, c.cols], 0, 1, 'float32', n) as tf.Tensor2D;
        const expected = referenceTransposed(x, q);
        const y = quantizedMatMulTransposed(x, q);
        expect(y.shape).toEqual([n, c.rows]);
        const scale = Math.max(...Array.from(expected, Math.abs));
        expectClose(y, expected, { rtol: 0, atol: 1e-5 * scale });
        // The SIMD path is the one taken.
        const direct = quantizedSimdProductTransposed(q, x.dataSync() as Float32Array, n)!;
        expectClose(y, direct, { rtol: 0, atol: 0 });
        tf.dispose([x, y]);
      }
      releaseQuantizedSimd(q);
    });
  }

  it('a GPT-2-sized head: [1, 96] × [50257, 96]ᵀ in int8 and int4 (a shorter last group)', () => {
    for (const bits of [8, 4] as const) {
      const q = quantizedTable(50257, 96, bits);
      const x = tf.randomNormal([1, 96], 0, 1, 'float32', 5) as tf.Tensor2D;
      const y = quantizedSimdProductTransposed(q, x.dataSync() as Float32Array, 1)!;
      const expected = referenceTransposed(x, q);
      const scale = Math.max(...Array.from(expected, Math.abs));
      expectClose(y, expected, { rtol: 0, atol: 1e-5 * scale });
      releaseQuantizedSimd(q);
      x.dispose();
    }
  });

  it('gives the JS fallback loops values within 1e-5 of the SIMD ones', () => {
    for (const c of [TABLES[3], TABLES[6]] as const) {
      const q = quantizedTable(c.rows, c.cols, c.bits, 'groupSize' in c ? c.groupSize : undefined);
      const x = tf.randomNormal([3, c.cols], 0, 1, 'float32', 9) as tf.Tensor2D;
      const simd = quantizedMatMulTransposed(x, q);
      setQuantizedSimdEnabled(false);
      const js = quantizedMatMulTransposed(x, q);
      setQuantizedSimdEnabled(true);
      const scale = Math.max(...Array.from(js.dataSync(), Math.abs));
      expectClose(simd, js, { rtol: 0, atol: 1e-5 * scale });
      tf.dispose([x, simd, js]);
    }
  });

  it('shares one packed copy with quantizedMatMul (x · W and x · Wᵀ read the same bytes)', () => {
    const q = quantizedTable(40, 24, 4, 8);
    const x = new Float32Array(24).fill(0.5);
    quantizedSimdProductTransposed(q, x, 1);
    const inUse = quantizedSimdBytesInUse();
    quantizedSimdProduct(q, new Float32Array(40).fill(0.5), 1);
    expect(quantizedSimdBytesInUse()).toBe(inUse);
    releaseQuantizedSimd(q);
  });

  it('leaks no tensor: quantizedMatMulTransposed and tiedOutputProjection on int8 and int4 tables', () => {
    const config = { numEmbeddings: 30, embeddingDim: 20 };
    const x = tf.randomNormal([2, 3, 20], 0, 1, 'float32', 2);
    const rows = tf.reshape(x, [6, 20]) as tf.Tensor2D;
    for (const bits of [8, 4] as const) {
      const table = quantizedTable(30, 20, bits, 6);
      expectNoLeak(() => quantizedMatMulTransposed(rows, table));
      expectNoLeak(() => tiedOutputProjection(config, { table }, x));
      releaseQuantizedSimd(table);
    }
    tf.dispose([x, rows]);
  });

  it('keeps the gradient with respect to x (the backward is the JS loop)', () => {
    const q = quantizedTable(20, 12, 4, 6);
    const x = tf.randomNormal([2, 12], 0, 1, 'float32', 3) as tf.Tensor2D;
    const dx = tf.grad((input: tf.Tensor) =>
      tf.sum(quantizedMatMulTransposed(input as tf.Tensor2D, q)),
    )(x);
    const expected = tf.tidy(() => tf.tile(tf.sum(dequantizeWeights(q), 0, true), [2, 1]));
    expectClose(dx, expected, { rtol: 1e-5, atol: 1e-5 }, [2, 12]);
    tf.dispose([x, dx, expected]);
  });
});
