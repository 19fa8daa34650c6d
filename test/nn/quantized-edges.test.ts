// The quantized products' input space (issue 22): records made directly
// (random codes and scales, so every nibble and sign occurs), int4 groups
// that do not divide the rows, odd widths, shapes past one 64-element tile,
// 1 to 5 rows (the fused, transposed and dequantized plans), the JS loops
// with the SIMD kernels off, and the transposed product of a tied head, all
// against an element-by-element reference.
import '@tensorflow/tfjs-layers'; // registers tfjs-core's gradients in Node
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, expect, it } from 'vitest';
import {
  quantizedSimdBytesInUse,
  releaseQuantizedSimd,
  setQuantizedSimdEnabled,
} from '../../src/nn/quantized-simd';
import {
  dequantizeRows,
  dequantizeWeights,
  isQuantizedTensor,
  type QuantizedTensor,
  quantizedMatMul,
  quantizedMatMulTransposed,
} from '../../src/nn/quantized-weights';
import { describeEachBackend } from '../helpers/backends';
import { expectClose } from '../helpers/close';
import { expectWithinActivationRounding } from '../helpers/int8-activations';
import { expectNoLeak } from '../helpers/leaks';

/** A deterministic pseudo-random stream in [0, 1). */
function stream(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** A QuantizedTensor of random codes and scales (positive and negative). */
function record(
  format: 'int8' | 'int4',
  rows: number,
  cols: number,
  groupSize = rows,
  seed = 1,
): QuantizedTensor {
  const next = stream(seed + rows * 7 + cols);
  const values =
    format === 'int8'
      ? Int8Array.from({ length: rows * cols }, () => Math.floor(next() * 255) - 127)
      : Uint8Array.from({ length: Math.ceil((rows * cols) / 2) }, () => Math.floor(next() * 256));
  const scaleCount = format === 'int8' ? cols : Math.ceil(rows / groupSize) * cols;
  const scales = Float32Array.from({ length: scaleCount }, () => (next() - 0.3) * 0.1);
  return { format, shape: [rows, cols], values, scales, groupSize };
}

/** The weights of `q` by the definition, one element at a time (each a float32 product). */
function reference(q: QuantizedTensor): number[][] {
  const [rows, cols] = q.shape;
  return Array.from({ length: rows }, (_, r) =>
    Array.from({ length: cols }, (_, c) => {
      const i = r * cols + c;
      if (q.format === 'int8') return Math.fround((q.values as Int8Array)[i]! * q.scales[c]!);
      const byte = q.values[Math.floor(i / 2)]!;
      const nibble = i % 2 === 0 ? byte % 16 : Math.floor(byte / 16);
      return Math.fround((nibble - 8) * q.scales[Math.floor(r / q.groupSize) * cols + c]!);
    }),
  );
}

// [format, rows, cols, groupSize]: int8 with 4-row passes and a remainder; int4
// with even and odd widths, groups of a multiple of 4 rows and not, a group
// that does not divide the rows (a table's shorter last group), and shapes
// past one 64-element tile of the transposed dequantization.
const SHAPES: [QuantizedTensor['format'], number, number, number][] = [
  ['int8', 9, 6, 9],
  ['int8', 70, 67, 70],
  ['int4', 16, 6, 8],
  ['int4', 12, 10, 6],
  ['int4', 10, 7, 4],
  ['int4', 13, 8, 4],
  ['int4', 11, 5, 3],
  ['int4', 66, 130, 32],
  // Fewer than 4 input rows: no 4-row pass in the JS loops.
  ['int8', 3, 6, 3],
  ['int4', 2, 8, 4],
];

afterEach(() => {
  setQuantizedSimdEnabled(true);
});

/**
 * `y` against the float product `expected`: within 1e-5, except where a
 * SIMD kernel on int16 inputs ran (up to 4 rows, SIMD on: int8, and int4's
 * `x · W`): there within the bound that rounding allows.
 */
function expectProduct(
  y: tf.Tensor,
  expected: tf.Tensor,
  x: tf.Tensor2D,
  q: QuantizedTensor,
  transposed: boolean,
  simd = true,
): void {
  const n = x.shape[0];
  if ((q.format === 'int8' || !transposed) && simd && n <= 4) {
    expectWithinActivationRounding(y.dataSync(), q, x.dataSync() as Float32Array, n, transposed);
  } else {
    const scale = tf.tidy(() => tf.max(tf.abs(expected)).dataSync()[0]!);
    expectClose(y, expected, { rtol: 1e-5, atol: 1e-5 * scale });
  }
}

const label = ([format, rows, cols, group]: (typeof SHAPES)[number]) =>
  `${format} [${rows}, ${cols}]${format === 'int4' ? ` in groups of ${group}` : ''}`;

it('dequantizeWeights and dequantizeRows equal the definition, rows in any order and repeated', () => {
  for (const shape of SHAPES) {
    const [format, rows, cols, group] = shape;
    const q = record(format, rows, cols, group);
    const expected = reference(q);
    const w = dequantizeWeights(q);
    expectClose(w, expected.flat(), { rtol: 0, atol: 0 }, [rows, cols]);
    w.dispose();
    const ids = [rows - 1, 0, 1, rows - 1, Math.floor(rows / 2)];
    expectClose(
      dequantizeRows(q, ids),
      ids.flatMap((r) => expected[r]!),
      { rtol: 0, atol: 0 },
    );
    expect(dequantizeRows(q, []).length).toBe(0);
  }
});

it('isQuantizedTensor needs format, scales and values', () => {
  const q = record('int8', 2, 2);
  expect(isQuantizedTensor(q)).toBe(true);
  expect(isQuantizedTensor({ format: 'int8', scales: q.scales })).toBe(false);
  expect(isQuantizedTensor({ format: 'int8', values: q.values })).toBe(false);
  expect(isQuantizedTensor({ scales: q.scales, values: q.values })).toBe(false);
  expect(isQuantizedTensor(null)).toBe(false);
  expect(isQuantizedTensor('int8')).toBe(false);
  const t = tf.zeros([2, 2]);
  expect(isQuantizedTensor(t)).toBe(false);
  t.dispose();
});

describeEachBackend('quantized products by plan', () => {
  for (const shape of SHAPES) {
    it(`${label(shape)}: quantizedMatMul, values and dx, 1, 3 and 5 rows, SIMD on and off`, () => {
      const [format, rows, cols, group] = shape;
      const q = record(format, rows, cols, group);
      const w = tf.tensor2d(reference(q));
      for (const simd of [true, false]) {
        setQuantizedSimdEnabled(simd);
        for (const n of [1, 3, 5]) {
          tf.tidy(() => {
            const x = tf.randomNormal([n, rows], 0, 1, 'float32', n) as tf.Tensor2D;
            const dy = tf.randomNormal([n, cols], 0, 1, 'float32', n + 1);
            const y = quantizedMatMul(x, q);
            const scale = tf.max(tf.abs(tf.matMul(x, w))).dataSync()[0]!;
            expectProduct(y, tf.matMul(x, w), x, q, false, simd);
            const dx = tf.grad((input: tf.Tensor) =>
              tf.sum(tf.mul(quantizedMatMul(input as tf.Tensor2D, q), dy)),
            )(x);
            expectClose(dx, tf.matMul(dy, w, false, true), { rtol: 1e-4, atol: 1e-5 * scale });
          });
        }
      }
      w.dispose();
    });

    it(`${label(shape)}: quantizedMatMulTransposed (a tied head), values and dx, 1 and 5 rows`, () => {
      const [format, rows, cols, group] = shape;
      const q = record(format, rows, cols, group);
      const w = tf.tensor2d(reference(q));
      for (const n of [1, 5]) {
        tf.tidy(() => {
          const x = tf.randomNormal([n, cols], 0, 1, 'float32', n) as tf.Tensor2D;
          const dy = tf.randomNormal([n, rows], 0, 1, 'float32', n + 1);
          const expected = tf.matMul(x, w, false, true);
          const scale = tf.max(tf.abs(expected)).dataSync()[0]!;
          const y = quantizedMatMulTransposed(x, q);
          expect(y.shape).toEqual([n, rows]);
          expectProduct(y, expected, x, q, true);
          const dx = tf.grad((input: tf.Tensor) =>
            tf.sum(tf.mul(quantizedMatMulTransposed(input as tf.Tensor2D, q), dy)),
          )(x);
          expectClose(dx, tf.matMul(dy, w), { rtol: 1e-4, atol: 1e-5 * scale });
        });
      }
      w.dispose();
    });
  }

  it('zero and huge inputs: zeros give zeros; 1e30 scales linearly without overflow', () => {
    const q = record('int4', 12, 10, 6);
    for (const n of [1, 6]) {
      tf.tidy(() => {
        const zeros = tf.zeros([n, 12]) as tf.Tensor2D;
        expect(Array.from(quantizedMatMul(zeros, q).dataSync()).every((v) => v === 0)).toBe(true);
        const x = tf.randomNormal([n, 12], 0, 1, 'float32', 3) as tf.Tensor2D;
        const big = quantizedMatMul(tf.mul(x, 1e30) as tf.Tensor2D, q);
        expectClose(tf.div(big, 1e30), quantizedMatMul(x, q), { rtol: 1e-4, atol: 1e-6 });
        const t = quantizedMatMulTransposed(tf.zeros([n, 10]) as tf.Tensor2D, q);
        expect(Array.from(t.dataSync()).every((v) => v === 0)).toBe(true);
      });
    }
  });

  it('leaves only its output, forward and backward, for each plan', () => {
    const q = record('int4', 16, 6, 8);
    for (const n of [2, 7]) {
      const x = tf.randomNormal([n, 16], 0, 1, 'float32', n) as tf.Tensor2D;
      const xt = tf.randomNormal([n, 6], 0, 1, 'float32', n) as tf.Tensor2D;
      expectNoLeak(() => quantizedMatMul(x, q));
      expectNoLeak(() => quantizedMatMulTransposed(xt, q));
      expectNoLeak(() =>
        tf.grad((a: tf.Tensor) => tf.sum(quantizedMatMul(a as tf.Tensor2D, q)))(x),
      );
      expectNoLeak(() =>
        tf.grad((a: tf.Tensor) => tf.sum(quantizedMatMulTransposed(a as tf.Tensor2D, q)))(xt),
      );
      tf.dispose([x, xt]);
    }
  });
});

/** The kernels `f` runs, in order ('' and 'forward' are tfjs's own bookkeeping, left out). */
async function kernelsOf(f: () => tf.TensorContainer): Promise<string[]> {
  const profile = await tf.profile(f as () => tf.Tensor);
  return profile.kernels.map((k) => k.name).filter((k) => k !== '' && k !== 'forward');
}

describeEachBackend('the plan each product runs by backend and rows', (backend) => {
  it('up to 4 rows (decoding) read the codes on the host, no matMul; more rows dequantize, on wasm as the left operand', async () => {
    const q = record('int8', 8, 6);
    // wasm puts the fresh float kernel on XNNPACK's left operand: (Wᵀ · xᵀ)ᵀ.
    const matMulPlan =
      backend === 'wasm' ? ['Transpose', 'BatchMatMul', 'Transpose'] : ['BatchMatMul'];
    for (const n of [1, 4, 5]) {
      const x = tf.randomNormal([n, 8], 0, 1, 'float32', 1) as tf.Tensor2D;
      const xt = tf.randomNormal([n, 6], 0, 1, 'float32', 2) as tf.Tensor2D;
      const forward = n <= 4 ? [] : matMulPlan;
      expect(await kernelsOf(() => quantizedMatMul(x, q))).toEqual(forward);
      expect(await kernelsOf(() => quantizedMatMulTransposed(xt, q))).toEqual(forward);
      const grad = (f: (a: tf.Tensor2D, q: QuantizedTensor) => tf.Tensor2D, input: tf.Tensor2D) =>
        kernelsOf(() => tf.grad((a: tf.Tensor) => f(a as tf.Tensor2D, q))(input));
      // Each backward is the other orientation's product: dy · Wᵀ dequantizes Wᵀ on the host.
      const backward = n <= 4 ? [] : matMulPlan;
      expect(await grad(quantizedMatMul, x)).toEqual([...forward, ...backward]);
      expect(await grad(quantizedMatMulTransposed, xt)).toEqual([...forward, ...backward]);
      tf.dispose([x, xt]);
    }
  });
});

describeEachBackend('packed kernels alive together', () => {
  it('several packed at once keep their own codes; a freed range is reused without touching its neighbours', () => {
    const direct = (q: QuantizedTensor, x: tf.Tensor2D) =>
      tf.tidy(() => tf.matMul(x, tf.tensor2d(reference(q))));
    const kernels = [
      record('int8', 9, 6, 9, 11),
      record('int4', 16, 40, 8, 12),
      record('int8', 12, 33, 12, 13),
      record('int4', 10, 7, 5, 14),
    ];
    const check = (q: QuantizedTensor) => {
      const x = tf.randomNormal([2, q.shape[0]], 0, 1, 'float32', 5) as tf.Tensor2D;
      const y = quantizedMatMul(x, q);
      const expected = direct(q, x);
      expectProduct(y, expected, x, q, false);
      tf.dispose([x, y, expected]);
    };
    for (const q of kernels) check(q);
    // All four packed: each product still reads its own codes.
    for (const q of kernels) check(q);
    releaseQuantizedSimd(kernels[1]!);
    // A smaller kernel takes part of the freed range, a larger one goes past it.
    const small = record('int8', 4, 16, 4, 15);
    const large = record('int4', 64, 96, 16, 16);
    check(small);
    check(large);
    for (const q of [kernels[0]!, kernels[2]!, kernels[3]!, small, large]) check(q);
    for (const q of [...kernels, small, large]) releaseQuantizedSimd(q);
  });
});

describeEachBackend('a QuantizedTensor whose arrays are replaced', () => {
  it('is repacked for new codes or new scales, in the bytes of its old packing', () => {
    const q = record('int8', 8, 16, 8, 21);
    const x = tf.randomNormal([1, 8], 0, 1, 'float32', 22) as tf.Tensor2D;
    const check = () =>
      tf.tidy(() =>
        expectProduct(quantizedMatMul(x, q), tf.matMul(x, tf.tensor2d(reference(q))), x, q, false),
      );
    check();
    const inUse = quantizedSimdBytesInUse();
    // New codes only (the scales array stays the same object).
    q.values = Int8Array.from(q.values as Int8Array, (v) => -v);
    check();
    expect(quantizedSimdBytesInUse()).toBe(inUse);
    // New scales only.
    q.scales = q.scales.map((s) => 3 * s);
    check();
    expect(quantizedSimdBytesInUse()).toBe(inUse);
    releaseQuantizedSimd(q);
    x.dispose();
  });
});
