// Seeded quantized matrices and inputs for the SIMD products' tests
// (test/nn/quantized-simd*.test.ts, test/node/quantized-threads.test.ts).
import * as tf from '@tensorflow/tfjs-core';
import { quantizeParams } from '../../src/efficiency/quantization';
import { quantizedSimdProduct, quantizedSimdProductTransposed } from '../../src/nn/quantized-simd';
import type { QuantizedTensor } from '../../src/nn/quantized-weights';

/**
 * A seeded int8, or int4 in groups of `groupSize` rows (32, `quantizeWeights`'
 * default; the last group shorter when it does not divide), quantized as
 * `quantizeParams` does an embedding table.
 */
export function seededQuantized(
  rows: number,
  cols: number,
  bits: 4 | 8,
  groupSize = 32,
): QuantizedTensor {
  const table = tf.randomNormal([rows, cols], 0, 0.3, 'float32', rows + 3 * cols) as tf.Tensor2D;
  const { params } = quantizeParams(
    { embedding: { table } },
    bits === 8 ? { bits, kernelsOnly: false } : { bits, groupSize, kernelsOnly: false },
  );
  table.dispose();
  return params.embedding.table as QuantizedTensor;
}

/** An int8 `[rows, cols]` record whose every code is `code`, every column's scale `scale`. */
export const constantInt8 = (
  rows: number,
  cols: number,
  code: number,
  scale: number,
): QuantizedTensor => ({
  format: 'int8',
  shape: [rows, cols],
  values: new Int8Array(rows * cols).fill(code),
  scales: new Float32Array(cols).fill(scale),
  groupSize: rows,
});

/** Inputs `[n, width]` with varied values. */
export const varyingInputs = (n: number, width: number, seed: number) =>
  Float32Array.from({ length: n * width }, (_, i) => Math.sin(i * 0.37 + seed));

/** A matrix case: int8, or int4 in groups of `groupSize` rows (8 when absent). */
export type QuantizedCase =
  | { rows: number; cols: number; bits: 8 }
  | { rows: number; cols: number; bits: 4; groupSize: number };

/**
 * Every SIMD product of the `cases`' seeded matrices, x · W and x · Wᵀ with
 * 1, 3 and 4 input rows, as a function: call it once per thread setting and
 * compare the lists.
 */
export function simdProductsOf(cases: readonly QuantizedCase[]): () => Float32Array[] {
  const qs = cases.map((c) =>
    seededQuantized(c.rows, c.cols, c.bits, 'groupSize' in c ? c.groupSize : 8),
  );
  return () =>
    qs.flatMap((q, i) =>
      [1, 3, 4].flatMap((n) => [
        quantizedSimdProduct(q, varyingInputs(n, cases[i]!.rows, n), n)!,
        quantizedSimdProductTransposed(q, varyingInputs(n, cases[i]!.cols, n), n)!,
      ]),
    );
}
