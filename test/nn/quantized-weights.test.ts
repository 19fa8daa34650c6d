import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  dequantizeWeights,
  type LinearParams,
  linear,
  type QuantizableLinearParams,
  type QuantizedTensor,
  quantizeWeights,
} from '../../src/index';
import { quantizedMatMul } from '../../src/nn/quantized-weights';
import { describeEachBackend } from '../helpers/backends';
import { expectClose } from '../helpers/close';
import { expectWithinActivationRounding } from '../helpers/int8-activations';
import { expectNoLeak } from '../helpers/leaks';
import { thrownWithoutLeak } from '../helpers/rejections';

/** `quantizeWeights` of a matrix made for the call (and freed after). */
function quantized(make: () => tf.Tensor, options: Parameters<typeof quantizeWeights>[1] = {}) {
  const w = make();
  const q = quantizeWeights(w, options);
  w.dispose();
  return q;
}

/** The weights of `q` by the definition, one element at a time (the slow loop the fast one replaced). */
function referenceDequantize(q: QuantizedTensor): Float32Array {
  const [rows, cols] = q.shape;
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < rows * cols; i++) {
    const r = Math.floor(i / cols);
    const c = i % cols;
    if (q.format === 'int8') {
      out[i] = (q.values as Int8Array)[i]! * q.scales[c]!;
    } else {
      const byte = q.values[i >> 1]!;
      const nibble = i % 2 === 0 ? byte & 0x0f : byte >> 4;
      out[i] = (nibble - 8) * q.scales[Math.floor(r / q.groupSize) * cols + c]!;
    }
  }
  return out;
}

const CASES = [
  { name: 'int8', shape: [24, 12], options: { bits: 8 } },
  { name: 'int4, even width', shape: [32, 10], options: { bits: 4, groupSize: 8 } },
  {
    name: 'int4, odd width (rows straddle bytes)',
    shape: [12, 7],
    options: { bits: 4, groupSize: 4 },
  },
  { name: 'int4, one group', shape: [6, 3], options: { bits: 4, groupSize: 6 } },
] as const;

describeEachBackend('quantized kernels', (backend) => {
  for (const { name, shape, options } of CASES) {
    it(`${name}: the fast dequantization equals the element-by-element definition exactly`, () => {
      const w = tf.randomNormal([...shape], 0, 0.3, 'float32', 3);
      const q = quantizeWeights(w, options);
      const fast = dequantizeWeights(q);
      expect(Array.from(fast.dataSync())).toEqual(Array.from(referenceDequantize(q)));
      expectNoLeak(() => dequantizeWeights(q));
      tf.dispose([w, fast]);
    });
  }

  it('two dequantized kernels alive at once keep their own values (the scratch buffer is copied)', () => {
    const a = quantized(() => tf.fill([8, 8], 1));
    const b = quantized(() => tf.fill([8, 8], -2));
    const ta = dequantizeWeights(a);
    const tb = dequantizeWeights(b);
    expectClose(ta, new Float32Array(64).fill(1));
    expectClose(tb, new Float32Array(64).fill(-2));
    tf.dispose([ta, tb]);
  });

  for (const bits of [8, 4] as const) {
    it(`int${bits}: linear with a quantized kernel equals linear with its dequantized kernel, values and dx`, () => {
      const config = { inFeatures: 16, outFeatures: 12 };
      const kernel = tf.randomNormal([16, 12], 0, 0.3, 'float32', 1) as tf.Tensor2D;
      const bias = tf.randomNormal([12], 0, 0.1, 'float32', 2) as tf.Tensor1D;
      const q = quantizeWeights(kernel, { bits, groupSize: 8 });
      const restored = dequantizeWeights(q);
      const x = tf.randomNormal([2, 3, 16], 0, 1, 'float32', 4);
      const quantized: QuantizableLinearParams = { kernel: q, bias };
      const float: LinearParams = { kernel: restored, bias };
      const y = linear(config, quantized, x);
      const expected = linear(config, float, x);
      expect(y.shape).toEqual([2, 3, 12]);
      expectClose(y, expected, { rtol: 1e-5, atol: 1e-5 });
      const loss = (p: QuantizableLinearParams | LinearParams) => (input: tf.Tensor) =>
        tf.sum(tf.square(linear(config, p, input)));
      const dx = tf.grad(loss(quantized))(x);
      expectClose(dx, tf.grad(loss(float))(x), { rtol: 1e-5, atol: 1e-5 });
      expectNoLeak(() => linear(config, quantized, x));
      expectNoLeak(() => tf.grad(loss(quantized))(x));
      tf.dispose([kernel, bias, restored, x, y, expected, dx]);
    });
  }

  // 1-4 rows read the quantized values in JS (cpu, wasm); more put the kernel on wasm's left
  // operand or dequantize it (cpu); odd int4 widths straddle bytes.
  for (const [rows, inF, outF, groupSize = 8] of [
    [1, 24, 16],
    [4, 24, 16],
    [5, 24, 16],
    [9, 24, 16],
    [1, 16, 7],
    [6, 16, 7],
    [2, 18, 16, 6], // int8: 18 rows, 2 after the 4-row passes; int4: groups of 6, one row at a time
  ] as const) {
    for (const bits of [8, 4] as const) {
      it(`int${bits}, ${rows} rows × [${inF}, ${outF}]: quantizedMatMul and its dx equal the float product`, () => {
        const kernel = tf.randomNormal([inF, outF], 0, 0.3, 'float32', 11);
        const q = quantizeWeights(kernel, { bits, groupSize });
        const w = dequantizeWeights(q);
        const x = tf.randomNormal([rows, inF], 0, 1, 'float32', 12) as tf.Tensor2D;
        const dy = tf.randomNormal([rows, outF], 0, 1, 'float32', 13);
        const y = quantizedMatMul(x, q);
        const expected = tf.matMul(x, w);
        if (rows <= 4) {
          // The SIMD kernels (1-4 rows) round x to int16 first.
          expectWithinActivationRounding(
            y.dataSync(),
            q,
            x.dataSync() as Float32Array,
            rows,
            false,
          );
        } else expectClose(y, expected, { rtol: 1e-5, atol: 1e-5 });
        const f = (input: tf.Tensor) =>
          tf.sum(tf.mul(quantizedMatMul(input as tf.Tensor2D, q), dy));
        const dx = tf.grad(f)(x);
        expectClose(dx, tf.matMul(dy, w, false, true), { rtol: 1e-5, atol: 1e-5 });
        expectNoLeak(() => quantizedMatMul(x, q));
        expectNoLeak(() => tf.grad(f)(x));
        tf.dispose([kernel, w, x, dy, y, expected, dx]);
      });
    }
  }

  it('the dequantized kernel is not kept between the forward and the backward pass', () => {
    const q = quantized(() => tf.randomNormal([64, 48], 0, 1, 'float32', 5));
    // 16 rows: a float kernel is made (not the few-row JS product).
    const x = tf.randomNormal([16, 64], 0, 1, 'float32', 6) as tf.Tensor2D;
    // Inside tf.grad the tape keeps what the backward needs: here only x (saved by matMul) and
    // not the 64×48 float kernel, which the backward makes again.
    let during = 0;
    const before = tf.memory().numBytes;
    const g = tf.grad((input: tf.Tensor) => {
      const y = quantizedMatMul(input as tf.Tensor2D, q);
      during = tf.memory().numBytes - before;
      return tf.sum(y);
    })(x);
    expect(during).toBeLessThan(64 * 48 * 4);
    tf.dispose([x, g]);
  });

  it('QLoRA: LoRA factors on a quantized kernel get the gradients of the float model; the kernel gets none', () => {
    const config = { inFeatures: 16, outFeatures: 8, useBias: false };
    const kernel = tf.randomNormal([16, 8], 0, 0.3, 'float32', 7) as tf.Tensor2D;
    const q = quantizeWeights(kernel, { bits: 4, groupSize: 8 });
    const restored = dequantizeWeights(q);
    const a = tf.randomNormal([16, 2], 0, 0.3, 'float32', 8) as tf.Tensor2D;
    const b = tf.randomNormal([2, 8], 0, 0.3, 'float32', 9) as tf.Tensor2D;
    const x = tf.randomNormal([5, 16], 0, 1, 'float32', 10);
    const loss = (k: tf.Tensor2D | QuantizedTensor) => (fa: tf.Tensor, fb: tf.Tensor) =>
      tf.sum(
        tf.square(
          linear(
            config,
            { kernel: k, lora: { a: fa as tf.Tensor2D, b: fb as tf.Tensor2D, scale: 2 } },
            x,
          ),
        ),
      );
    const [da, db] = tf.grads(loss(q))([a, b]);
    const [fa, fb] = tf.grads(loss(restored))([a, b]);
    expectClose(da!, fa!, { rtol: 1e-4, atol: 1e-5 });
    expectClose(db!, fb!, { rtol: 1e-4, atol: 1e-5 });
    expect(tf.max(tf.abs(da!)).dataSync()[0]).toBeGreaterThan(0);
    // The kernel is plain typed arrays: nothing tfjs could differentiate, or turn into a variable.
    expect(q.values).toBeInstanceOf(Uint8Array);
    expectNoLeak(() => tf.grads(loss(q))([a, b]));
    if (backend === 'cpu') {
      // And variables: only the factors train; the quantized kernel stays as it was.
      const before = Array.from(q.values);
      const va = tf.variable(a);
      const vb = tf.variable(b);
      const { value, grads } = tf.variableGrads(() => loss(q)(va, vb) as tf.Scalar, [va, vb]);
      expect(Object.keys(grads).sort()).toEqual([va.name, vb.name].sort());
      expect(Array.from(q.values)).toEqual(before);
      tf.dispose([value, va, vb, ...Object.values(grads)]);
    }
    tf.dispose([kernel, restored, a, b, x, da!, db!, fa!, fb!]);
  });
});

describe('quantized kernels: bad input', () => {
  const config = { inFeatures: 8, outFeatures: 4 };
  const base = quantized(() => tf.ones([8, 4]), { bits: 4, groupSize: 4 });
  const good = () => base;
  const x = () => tf.ones([2, 8]);
  const cases: [string, () => unknown, string][] = [
    [
      'values of the wrong length',
      () => ({ ...good(), values: new Uint8Array(3) }),
      'params.kernel.values',
    ],
    [
      'int4 values as an Int8Array',
      () => ({ ...good(), values: new Int8Array(16) }),
      'params.kernel.values',
    ],
    [
      'scales of the wrong length',
      () => ({ ...good(), scales: new Float32Array(1) }),
      'params.kernel.scales',
    ],
    ['an unknown format', () => ({ ...good(), format: 'int2' }), 'params.kernel.format'],
    ['a shape that is no pair', () => ({ ...good(), shape: [32] }), 'params.kernel.shape'],
  ];
  for (const [name, kernel, argument] of cases) {
    it(`linear names ${argument} for ${name}`, () => {
      const input = x();
      const k = kernel();
      const error = thrownWithoutLeak(() =>
        linear(config, { kernel: k as QuantizedTensor }, input),
      );
      expect(error.argument).toBe(argument);
      expect(error.functionName).toBe('linear');
      input.dispose();
    });
  }

  it('linear names the kernel dimension that does not fit the config', () => {
    const input = x();
    const error = thrownWithoutLeak(() =>
      linear({ inFeatures: 8, outFeatures: 6 }, { kernel: good(), bias: undefined }, input),
    );
    expect(error.argument).toBe('params.kernel.shape[1]');
    input.dispose();
  });

  it('dequantizeWeights names q for a bad record', () => {
    expect(thrownWithoutLeak(() => dequantizeWeights({ ...good(), groupSize: 0 })).argument).toBe(
      'q.groupSize',
    );
  });
});
