import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { quantizedSimdSource } from '../../scripts/quantized-simd-wasm';
import {
  dequantizeWeights,
  linear,
  type QuantizedTensor,
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
import { expectWithinActivationRounding, int8KernelReference } from '../helpers/int8-activations';
import { expectNoLeak } from '../helpers/leaks';
import { constantInt8, seededQuantized } from '../helpers/quantized-fixtures';

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

  it('is on by default: a fresh import runs the kernels', async () => {
    vi.resetModules();
    const fresh = await import('../../src/nn/quantized-simd');
    const q = quantized(8, 4, 8);
    expect(fresh.quantizedSimdProduct(q, new Float32Array(8).fill(1), 1)).not.toBeNull();
    expect(fresh.setQuantizedSimdEnabled(true)).toBe(true);
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
    // The codes, 48 columns padded to 64 (panels of 32); int8 scales stay on the host.
    const bytes = 64 * 64;
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

  it('int4: repacks its scales (held in the module memory) when only they are replaced, in both layouts', () => {
    // Groups of 4: the scales are packed beside the codes, for x · W (panels) and x · Wᵀ (rows).
    const q = quantized(16, 12, 4, 4);
    const [x, xt] = [new Float32Array(16).fill(1), new Float32Array(12).fill(1)];
    const before = quantizedSimdProduct(q, x, 1)!;
    const beforeT = quantizedSimdProductTransposed(q, xt, 1)!;
    const values = q.values;
    Object.assign(q, { scales: q.scales.map((s) => 2 * s) });
    expect(q.values).toBe(values);
    expectClose(
      quantizedSimdProduct(q, x, 1)!,
      before.map((v) => 2 * v),
    );
    expectClose(
      quantizedSimdProductTransposed(q, xt, 1)!,
      beforeT.map((v) => 2 * v),
    );
    // Packed again, not beside the old copy: the same bytes in use for the same sizes.
    const inUse = quantizedSimdBytesInUse();
    Object.assign(q, { scales: q.scales.map((s) => 0.5 * s) });
    expectClose(quantizedSimdProduct(q, x, 1)!, before);
    expectClose(quantizedSimdProductTransposed(q, xt, 1)!, beforeT);
    expect(quantizedSimdBytesInUse()).toBe(inUse);
    releaseQuantizedSimd(q);
  });

  it('grows the module memory for a kernel larger than it (a GPT-2-sized output head)', () => {
    const q = quantized(96, 50257, 8);
    const x = tf.randomNormal([1, 96], 0, 1, 'float32', 5) as tf.Tensor2D;
    const xs = x.dataSync() as Float32Array;
    const y = quantizedSimdProduct(q, xs, 1)!;
    expectWithinActivationRounding(y, q, xs, 1, false);
    releaseQuantizedSimd(q);
    x.dispose();
  });
});

describeEachBackend('quantizedMatMul through the SIMD kernel', () => {
  for (const c of CASES) {
    const label = `${c.bits === 8 ? 'int8' : `int4 (groups of ${c.groupSize})`} [${c.rows}, ${c.cols}]`;
    it(`${label}: equals the kernel arithmetic exactly, and the dequantized float product within the int16 rounding of x, 1 to 4 rows`, () => {
      const q = quantized(c.rows, c.cols, c.bits, 'groupSize' in c ? c.groupSize : undefined);
      for (const n of [1, 3, 4]) {
        const x = tf.randomNormal([n, c.rows], 0, 1, 'float32', n) as tf.Tensor2D;
        const xs = x.dataSync() as Float32Array;
        const y = quantizedMatMul(x, q);
        expect(y.shape).toEqual([n, c.cols]);
        expectClose(y, int8KernelReference(q, xs, n, false), { rtol: 0, atol: 0 });
        expectWithinActivationRounding(y.dataSync(), q, xs, n, false);
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

  it('gives the JS fallback loops (float sums) the float product, and the SIMD kernel within the int16 rounding of x of it', () => {
    for (const c of [CASES[3], CASES[7]] as const) {
      const q = quantized(c.rows, c.cols, c.bits, 'groupSize' in c ? c.groupSize : undefined);
      const x = tf.randomNormal([2, c.rows], 0, 1, 'float32', 9) as tf.Tensor2D;
      const simd = quantizedMatMul(x, q);
      setQuantizedSimdEnabled(false);
      const js = quantizedMatMul(x, q);
      setQuantizedSimdEnabled(true);
      const scale = Math.max(...Array.from(js.dataSync(), Math.abs));
      // The fallback keeps float inputs: it is the float product, the kernel within its bound of it.
      expectClose(js, reference(x, q), { rtol: 0, atol: 1e-5 * scale });
      expectWithinActivationRounding(simd.dataSync(), q, x.dataSync() as Float32Array, 2, false);
      expect(Array.from(simd.dataSync())).not.toEqual(Array.from(js.dataSync()));
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
    const bound =
      c.bits === 8
        ? 'the kernel arithmetic exactly, and x · dequantize(table)ᵀ within the int16 rounding of x ⊙ s'
        : 'x · dequantize(table)ᵀ (1e-5 relative to the largest value)';
    it(`${label}: equals ${bound}, 1 to 4 rows`, () => {
      const q = seededQuantized(c.rows, c.cols, c.bits, 'groupSize' in c ? c.groupSize : undefined);
      for (const n of [1, 2, 4]) {
        const x = tf.randomNormal([n, c.cols], 0, 1, 'float32', n) as tf.Tensor2D;
        const xs = x.dataSync() as Float32Array;
        const y = quantizedMatMulTransposed(x, q);
        expect(y.shape).toEqual([n, c.rows]);
        if (c.bits === 8) {
          expectClose(y, int8KernelReference(q, xs, n, true), { rtol: 0, atol: 0 });
          expectWithinActivationRounding(y.dataSync(), q, xs, n, true);
        } else {
          const expected = referenceTransposed(x, q);
          const scale = Math.max(...Array.from(expected, Math.abs));
          expectClose(y, expected, { rtol: 0, atol: 1e-5 * scale });
        }
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
      const q = seededQuantized(50257, 96, bits);
      const x = tf.randomNormal([1, 96], 0, 1, 'float32', 5) as tf.Tensor2D;
      const xs = x.dataSync() as Float32Array;
      const y = quantizedSimdProductTransposed(q, xs, 1)!;
      if (bits === 8) expectWithinActivationRounding(y, q, xs, 1, true);
      else {
        const expected = referenceTransposed(x, q);
        const scale = Math.max(...Array.from(expected, Math.abs));
        expectClose(y, expected, { rtol: 0, atol: 1e-5 * scale });
      }
      releaseQuantizedSimd(q);
      x.dispose();
    }
  });

  it('gives the JS fallback loops (float sums) values within 1e-5 of the SIMD ones (int4), within the int16 rounding of x ⊙ s (int8)', () => {
    for (const c of [TABLES[3], TABLES[6]] as const) {
      const q = seededQuantized(c.rows, c.cols, c.bits, 'groupSize' in c ? c.groupSize : undefined);
      const x = tf.randomNormal([3, c.cols], 0, 1, 'float32', 9) as tf.Tensor2D;
      const simd = quantizedMatMulTransposed(x, q);
      setQuantizedSimdEnabled(false);
      const js = quantizedMatMulTransposed(x, q);
      setQuantizedSimdEnabled(true);
      const scale = Math.max(...Array.from(js.dataSync(), Math.abs));
      if (c.bits === 8) {
        expectClose(js, referenceTransposed(x, q), { rtol: 0, atol: 1e-5 * scale });
        expectWithinActivationRounding(simd.dataSync(), q, x.dataSync() as Float32Array, 3, true);
      } else expectClose(simd, js, { rtol: 0, atol: 1e-5 * scale });
      tf.dispose([x, simd, js]);
    }
  });

  it('int4: packs rows for x · Wᵀ and panels for x · W, each when its product runs, and frees both on release', () => {
    const q = seededQuantized(40, 24, 4, 8);
    quantizedSimdProductTransposed(q, new Float32Array(24).fill(0.5), 1);
    const afterHead = quantizedSimdBytesInUse();
    quantizedSimdProduct(q, new Float32Array(40).fill(0.5), 1);
    // Panels: 40 rows (5 groups of 8) × 24 columns padded to 32, half a byte each, and 5 · 32 scales.
    const panels = (40 * 32) / 2 + 5 * 32 * 4;
    expect(quantizedSimdBytesInUse() - afterHead).toBe(panels);
    const afterBoth = quantizedSimdBytesInUse();
    releaseQuantizedSimd(q);
    // Rows: the same sizes (groups of 8 are whole blocks of 4 rows).
    expect(quantizedSimdBytesInUse()).toBe(afterBoth - 2 * panels);
  });

  it('int4 in groups of 6: panels pad each group to whole pairs of rows (6), rows to blocks of 4 (8)', () => {
    const q = seededQuantized(24, 40, 4, 6);
    // A product first, so that the scratch range is in place before the count starts.
    const warm = seededQuantized(8, 8, 8);
    quantizedSimdProduct(warm, new Float32Array(8), 1);
    releaseQuantizedSimd(warm);
    const start = quantizedSimdBytesInUse();
    quantizedSimdProduct(q, new Float32Array(24).fill(0.5), 1);
    // 4 groups of 6 rows × 40 columns padded to 64, half a byte each, and 4 · 64 scales.
    const panels = (4 * 6 * 64) / 2 + 4 * 64 * 4;
    expect(quantizedSimdBytesInUse() - start).toBe(panels);
    const afterPanels = quantizedSimdBytesInUse();
    quantizedSimdProductTransposed(q, new Float32Array(40).fill(0.5), 1);
    // 4 groups padded to 8 rows.
    expect(quantizedSimdBytesInUse() - afterPanels).toBe((4 * 8 * 64) / 2 + 4 * 64 * 4);
    releaseQuantizedSimd(q);
    expect(quantizedSimdBytesInUse()).toBe(start);
  });

  it('int8: packs Wᵀ for x · Wᵀ only when that product runs, and frees both copies on release', () => {
    const q = seededQuantized(40, 24, 8);
    quantizedSimdProductTransposed(q, new Float32Array(24).fill(0.5), 1);
    const afterHead = quantizedSimdBytesInUse();
    quantizedSimdProduct(q, new Float32Array(40).fill(0.5), 1);
    // W [40, 24]: 24 outputs padded to 32 (panels of 32), 40 inputs.
    expect(quantizedSimdBytesInUse() - afterHead).toBe(40 * 32);
    const afterBoth = quantizedSimdBytesInUse();
    releaseQuantizedSimd(q);
    // And Wᵀ [24, 40]: 40 outputs padded to 64, 24 inputs.
    expect(quantizedSimdBytesInUse()).toBe(afterBoth - 40 * 32 - 24 * 64);
  });

  it('leaks no tensor: quantizedMatMulTransposed and tiedOutputProjection on int8 and int4 tables', () => {
    const config = { numEmbeddings: 30, embeddingDim: 20 };
    const x = tf.randomNormal([2, 3, 20], 0, 1, 'float32', 2);
    const rows = tf.reshape(x, [6, 20]) as tf.Tensor2D;
    for (const bits of [8, 4] as const) {
      const table = seededQuantized(30, 20, bits, 6);
      expectNoLeak(() => quantizedMatMulTransposed(rows, table));
      expectNoLeak(() => tiedOutputProjection(config, { table }, x));
      releaseQuantizedSimd(table);
    }
    tf.dispose([x, rows]);
  });

  it('keeps the gradient with respect to x (the backward is the JS loop)', () => {
    const q = seededQuantized(20, 12, 4, 6);
    const x = tf.randomNormal([2, 12], 0, 1, 'float32', 3) as tf.Tensor2D;
    const dx = tf.grad((input: tf.Tensor) =>
      tf.sum(quantizedMatMulTransposed(input as tf.Tensor2D, q)),
    )(x);
    const expected = tf.tidy(() => tf.tile(tf.sum(dequantizeWeights(q), 0, true), [2, 1]));
    expectClose(dx, expected, { rtol: 1e-5, atol: 1e-5 }, [2, 12]);
    tf.dispose([x, dx, expected]);
  });
});

describe('products on int16 activations: no i32 overflow', () => {
  // Every code at ±128 / 127 and every input at the largest activation code (32767): each i32 sum
  // is at its bound. 8,192 inputs are 16 runs of 512, each run's sum 512 · 128 · 32767 =
  // 2,147,418,112, just under 2^31; a kernel that summed longer runs in i32 would wrap around.
  // 8,194 inputs: more rows than an int4 group may hold, which limits int4 only.
  it('x · W with 8,192 and 8,194 inputs of the largest magnitude: exactly k · code · scale', () => {
    for (const [c, rows] of [
      [-128, 8192],
      [127, 8192],
      [127, 8194],
    ] as const) {
      for (const sign of [1, -1]) {
        const cols = 40;
        const q = constantInt8(rows, cols, c, 0.01);
        const y = quantizedSimdProduct(q, new Float32Array(rows).fill(sign * 2.5), 1)!;
        const expected = Math.fround(sign * 2.5 * rows * c * Math.fround(0.01));
        expectClose(y, new Float32Array(cols).fill(expected), { rtol: 1e-6, atol: 0 });
        releaseQuantizedSimd(q);
      }
    }
  });

  it('x · Wᵀ (the tied head) with 8,192 inputs of the largest magnitude: exactly k · code · scale', () => {
    for (const c of [-128, 127]) {
      const [rows, cols] = [40, 8192];
      const q = constantInt8(rows, cols, c, 0.02);
      const y = quantizedSimdProductTransposed(q, new Float32Array(cols).fill(-1.5), 1)!;
      const expected = Math.fround(-1.5 * cols * c * Math.fround(0.02));
      expectClose(y, new Float32Array(rows).fill(expected), { rtol: 1e-6, atol: 0 });
      releaseQuantizedSimd(q);
    }
  });

  // int4 sums a whole group in i32: 8,192 rows of code −8 and the largest activation code reach
  // 4096 · 2 · 8 · 32767 = 2,147,418,112; a longer group goes to the JS loops (null here).
  it('int4 x · W with one group of 8,192 rows at the largest magnitude: exact; a longer group runs the JS loops', () => {
    const rows = 8192;
    const cols = 40;
    const q: QuantizedTensor = {
      format: 'int4',
      shape: [rows, cols],
      // 0x00: both nibbles 0, code −8.
      values: new Uint8Array((rows * cols) / 2),
      scales: new Float32Array(cols).fill(0.5),
      groupSize: rows,
    };
    const y = quantizedSimdProduct(q, new Float32Array(rows).fill(3), 1)!;
    expectClose(y, new Float32Array(cols).fill(3 * rows * -8 * 0.5), { rtol: 1e-6, atol: 0 });
    releaseQuantizedSimd(q);
    const longer: QuantizedTensor = {
      ...q,
      shape: [rows + 2, cols],
      values: new Uint8Array(((rows + 2) * cols) / 2),
      groupSize: rows + 2,
    };
    expect(quantizedSimdProduct(longer, new Float32Array(rows + 2).fill(3), 1)).toBeNull();
  });

  it('scales each row by its own largest input: a row 1e6 times another gives outputs 1e6 times larger', () => {
    const q = quantized(600, 40, 8);
    const x = Float32Array.from({ length: 600 }, (_, i) => Math.sin(i * 0.7));
    const both = Float32Array.from([...x, ...x.map((v) => v * 1e6)]);
    const y = quantizedSimdProduct(q, both, 2)!;
    expectClose(
      y.subarray(40),
      y.subarray(0, 40).map((v) => v * 1e6),
      { rtol: 1e-6, atol: 0 },
    );
    expectWithinActivationRounding(y, q, both, 2, false);
    releaseQuantizedSimd(q);
  });

  it('gives zeros for a zero row and NaN for a row with a NaN or an infinity', () => {
    const q = quantized(20, 12, 8);
    const x = new Float32Array(60);
    x[25] = Number.NaN;
    x[50] = Number.POSITIVE_INFINITY;
    for (const y of [quantizedSimdProduct(q, x, 3)!]) {
      expect(Array.from(y.subarray(0, 12))).toEqual(new Array(12).fill(0));
      expect(Array.from(y.subarray(12), Number.isNaN)).toEqual(new Array(24).fill(true));
    }
    const t = quantizedSimdProductTransposed(q, new Float32Array(36), 3)!;
    expect(Array.from(t)).toEqual(new Array(60).fill(0));
    releaseQuantizedSimd(q);
  });
});
