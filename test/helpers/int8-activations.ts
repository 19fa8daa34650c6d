// What the int8 SIMD products, and int4's x · W, compute
// (src/nn/quantized-simd.ts): each input row rounded to int16 codes, integer
// sums, float scales at the end (int4: per group). Two
// references: the same integer arithmetic written out plainly (the SIMD
// result must equal it bit for bit, so a wrong pair interleave or panel
// offset fails), and the float64 product with the bound that the
// activation rounding allows (so a wrong activation scale fails).
import { expect } from 'vitest';
import { INT8_SEGMENT_PAIRS } from '../../scripts/quantized-simd-wasm';
import type { QuantizedTensor } from '../../src/nn/quantized-weights';

/** The largest int16 activation code (src/nn/quantized-simd.ts's ACTIVATION_MAX). */
export const ACTIVATION_MAX = 32767;

/** The code of `W[r, c]` (int8 `transposed`: of `Wᵀ[r, c]`; int4: the nibble minus 8). */
function code(q: QuantizedTensor, r: number, c: number, transposed: boolean): number {
  const cols = q.shape[1];
  if (q.format === 'int4') {
    const i = r * cols + c;
    const byte = q.values[i >> 1]!;
    return ((i & 1) === 0 ? byte & 0x0f : byte >> 4) - 8;
  }
  return transposed ? q.values[c * cols + r]! : q.values[r * cols + c]!;
}

/** The scale of `W[r, c]` (int4: its group's). */
function scaleOf(q: QuantizedTensor, r: number, c: number): number {
  const cols = q.shape[1];
  return q.format === 'int4' ? q.scales[Math.floor(r / q.groupSize) * cols + c]! : q.scales[c]!;
}

/** Input row `r` of `xs` (`x · Wᵀ`: times the column scales), as float64. */
function inputsOf(q: QuantizedTensor, xs: Float32Array, r: number, transposed: boolean): number[] {
  const [rows, cols] = q.shape;
  const k = transposed ? cols : rows;
  return Array.from(xs.subarray(r * k, (r + 1) * k), (v, i) => (transposed ? v * q.scales[i]! : v));
}

/**
 * `x · W` (`transposed`: `x · Wᵀ`, int8 only) for `q` as the kernels compute
 * it: `a = round(t · 32767 / max|t|)`; int8: integer sums over runs of
 * 2 · INT8_SEGMENT_PAIRS inputs, each run rounded to float32 and added in
 * float32, times `max|t| / 32767` (and, for `x · W`, the column scale);
 * int4: integer sums per group, each rounded to float32, times its group's
 * scale and added in float32, times `max|t| / 32767`.
 */
export function int8KernelReference(
  q: QuantizedTensor,
  xs: Float32Array,
  n: number,
  transposed: boolean,
): Float32Array {
  const [rows, cols] = q.shape;
  const [k, outputs] = transposed ? [cols, rows] : [rows, cols];
  const y = new Float32Array(n * outputs);
  const int4 = q.format === 'int4';
  const run = int4 ? q.groupSize : 2 * INT8_SEGMENT_PAIRS;
  for (let r = 0; r < n; r++) {
    const t = inputsOf(q, xs, r, transposed);
    const max = t.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const a = t.map((v) => (max === 0 ? 0 : Math.round(v * (ACTIVATION_MAX / max))));
    const step = max / ACTIVATION_MAX;
    for (let j = 0; j < outputs; j++) {
      let sum = 0;
      for (let start = 0; start < k; start += run) {
        let segment = 0;
        for (let i = start; i < Math.min(k, start + run); i++) {
          segment += a[i]! * code(q, i, j, transposed);
        }
        const scaled = int4
          ? Math.fround(Math.fround(segment) * scaleOf(q, start, j))
          : Math.fround(segment);
        sum = Math.fround(sum + scaled);
      }
      y[r * outputs + j] = int4 || transposed ? sum * step : sum * (step * q.scales[j]!);
    }
  }
  return y;
}

/**
 * Asserts that `actual` is `x · dequantize(q)` (`transposed`: `x ·
 * dequantize(q)ᵀ`) within what rounding the inputs to int16 allows: output
 * `j` within `(step / 2) · Σ_i |code_ij · s_ij| + 1e-6 · Σ_i |t_i · code_ij · s_ij|`,
 * `step = max|t| / 32767` (the second term: float32 sums).
 */
export function expectWithinActivationRounding(
  actual: ArrayLike<number>,
  q: QuantizedTensor,
  xs: Float32Array,
  n: number,
  transposed: boolean,
): void {
  const [rows, cols] = q.shape;
  const [k, outputs] = transposed ? [cols, rows] : [rows, cols];
  expect(actual.length).toBe(n * outputs);
  let worst = '';
  for (let r = 0; r < n; r++) {
    const t = inputsOf(q, xs, r, transposed);
    const step = t.reduce((m, v) => Math.max(m, Math.abs(v)), 0) / ACTIVATION_MAX;
    for (let j = 0; j < outputs; j++) {
      let [exact, weights, magnitude] = [0, 0, 0];
      for (let i = 0; i < k; i++) {
        // x · Wᵀ: the scales are in t already.
        const w = code(q, i, j, transposed) * (transposed ? 1 : scaleOf(q, i, j));
        exact += t[i]! * w;
        weights += Math.abs(w);
        magnitude += Math.abs(t[i]! * w);
      }
      const bound = (step / 2) * weights + 1e-6 * magnitude;
      const error = Math.abs(actual[r * outputs + j]! - exact);
      if (error > bound && worst === '') {
        worst = `output [${r}, ${j}]: ${actual[r * outputs + j]} vs ${exact}, error ${error} > bound ${bound}`;
      }
    }
  }
  expect(worst).toBe('');
}
