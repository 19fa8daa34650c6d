import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { floatSimdModule, floatSimdSource } from '../../scripts/float-simd-wasm';
import { seededRandom, TfjsBlocksError } from '../../src/index';
import {
  type FloatSimdKernel,
  floatSimdKernels,
  setFloatSimdEnabled,
} from '../../src/perf/float-simd';
import {
  disableWasmFastKernels,
  enableWasmFastKernels,
  setPackPerCallFromRows,
} from '../../src/perf/wasm-fast-kernels';
import { expectNoLeak } from '../helpers/leaks';

const size = (shape: number[]) => shape.reduce((x, y) => x * y, 1);

function random(shape: number[], seed: number): tf.Tensor {
  const rand = seededRandom(seed);
  return tf.tensor(
    Array.from({ length: size(shape) }, () => rand() * 2 - 1),
    shape,
  );
}

/** max |fast - reference| / max |reference|, the relative error of the whole output. */
function relativeError(fast: tf.Tensor, reference: tf.Tensor): number {
  expect(fast.shape).toEqual(reference.shape);
  const f = fast.dataSync();
  const r = reference.dataSync();
  let worst = 0;
  let scale = 0;
  for (let i = 0; i < r.length; i++) {
    const err = Math.abs(f[i]! - r[i]!);
    worst = Number.isNaN(err) ? Number.POSITIVE_INFINITY : Math.max(worst, err);
    scale = Math.max(scale, Math.abs(r[i]!));
  }
  return worst / scale;
}

type Memory = WebAssembly.Memory;
const backendMemory = () =>
  (tf.backend() as unknown as { wasm: { asm: { memory: Memory } } }).wasm.asm.memory;

/** Counts the calls of the float kernels (the kernel object is cached per memory). */
function countCalls(): { calls: () => number; restore: () => void } {
  const kernels = floatSimdKernels(backendMemory())!;
  const originals: [FloatSimdKernel[], FloatSimdKernel[]] = [[...kernels.rows], [...kernels.dots]];
  let calls = 0;
  const wrap = (list: typeof kernels.rows) =>
    list.map((f) => (...args: Parameters<typeof f>) => {
      calls++;
      f(...args);
    });
  kernels.rows.splice(0, 4, ...wrap(originals[0]));
  kernels.dots.splice(0, 4, ...wrap(originals[1]));
  return {
    calls: () => calls,
    restore: () => {
      kernels.rows.splice(0, 4, ...originals[0]);
      kernels.dots.splice(0, 4, ...originals[1]);
    },
  };
}

describe('the float32 SIMD module', () => {
  it('is the bytes scripts/float-simd-wasm.ts generates (regenerate after editing the script)', () => {
    const committed = readFileSync(
      new URL('../../src/perf/float-simd-module.ts', import.meta.url),
      'utf8',
    );
    expect(committed).toBe(floatSimdSource());
    expect(WebAssembly.validate(floatSimdModule() as Uint8Array<ArrayBuffer>)).toBe(true);
  });

  it('has no memory of its own and runs on an imported one', () => {
    const memory = new WebAssembly.Memory({ initial: 1 });
    const kernels = floatSimdKernels(memory)!;
    expect(kernels.rows).toHaveLength(4);
    const f = new Float32Array(memory.buffer);
    // x [2, 3] at 0, w [3, 2] at 64, y [2, 2] at 128 (bytes).
    f.set([1, 2, 3, 4, 5, 6], 0);
    f.set([1, 0, 0, 1, 1, 1], 16);
    kernels.rows[1]!(0, 64, 128, 3, 2, 8);
    expect(Array.from(f.subarray(32, 36))).toEqual([4, 5, 10, 11]);
    // x · bᵀ with b [2, 3] = [[1, 0, 1], [0, 1, 1]].
    f.set([1, 0, 1, 0, 1, 1], 16);
    kernels.dots[1]!(0, 64, 128, 3, 2, 8);
    expect(Array.from(f.subarray(32, 36))).toEqual([4, 5, 10, 11]);
    expect(floatSimdKernels({})).toBeNull();
    setFloatSimdEnabled(false);
    expect(floatSimdKernels(memory)).toBeNull();
    setFloatSimdEnabled(true);
  });

  it('runs on a shared memory too (the threaded build’s heap), with the same values', () => {
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 65536, shared: true });
    expect(memory.buffer).toBeInstanceOf(SharedArrayBuffer);
    const kernels = floatSimdKernels(memory)!;
    expect(kernels).not.toBeNull();
    expect(kernels).not.toBe(floatSimdKernels(new WebAssembly.Memory({ initial: 1 })));
    const f = new Float32Array(memory.buffer);
    f.set([1, 2, 3, 4, 5, 6], 0);
    f.set([1, 0, 0, 1, 1, 1], 16);
    kernels.rows[1]!(0, 64, 128, 3, 2, 8);
    expect(Array.from(f.subarray(32, 36))).toEqual([4, 5, 10, 11]);
    f.set([1, 0, 1, 0, 1, 1], 16);
    kernels.dots[1]!(0, 64, 128, 3, 2, 8);
    expect(Array.from(f.subarray(32, 36))).toEqual([4, 5, 10, 11]);
    expect(WebAssembly.validate(floatSimdModule(true) as Uint8Array<ArrayBuffer>)).toBe(true);
  });
});

describe('few-row float32 products on the SIMD kernels [wasm]', () => {
  beforeAll(async () => {
    expect(await tf.setBackend('wasm')).toBe(true);
    await tf.ready();
  });
  afterEach(() => {
    setFloatSimdEnabled(true);
    setPackPerCallFromRows(16);
    disableWasmFastKernels();
  });
  afterAll(async () => {
    disableWasmFastKernels();
    await tf.setBackend('cpu');
  });

  // [shape of a, k, n]: 1-4 rows, 2-D and batch-1 3-D, a batch of single rows, odd k and n,
  // k not a multiple of 4, n not a multiple of 4 or 16, wider than one 1,024-column tile.
  const cases: Array<[number[], number, number]> = [
    [[1, 1], 1, 1],
    [[1, 7], 7, 5],
    [[2, 13], 13, 33],
    [[3, 9], 9, 70],
    [[4, 8], 8, 16],
    [[4, 31], 31, 19],
    [[1, 1, 6], 6, 3],
    [[1, 3, 17], 17, 66],
    [[4, 1, 10], 10, 11],
    [[2, 2, 5], 5, 7],
    [[1, 130], 130, 2051],
    [[3, 64], 64, 1027],
  ];
  for (const [aShape, k, n] of cases) {
    for (const transposeB of [false, true]) {
      it(`matches the stock kernel within 1e-5: [${aShape}] · [${transposeB ? `${n}, ${k}]ᵀ` : `${k}, ${n}]`}`, () => {
        const a = random(aShape, k * 7 + n);
        const b = random(transposeB ? [n, k] : [k, n], k + n * 3);
        disableWasmFastKernels();
        const stock = tf.matMul(a, b, false, transposeB);
        enableWasmFastKernels();
        const counter = countCalls();
        try {
          const fast = tf.matMul(a, b, false, transposeB);
          expect(counter.calls()).toBeGreaterThan(0);
          expect(relativeError(fast, stock)).toBeLessThanOrEqual(1e-5);
          fast.dispose();
        } finally {
          counter.restore();
        }
        tf.dispose([a, b, stock]);
      });
    }
  }

  it('reads a transposed single row of a ([k, 1]ᵀ is [1, k]) in place', () => {
    const a = random([9, 1], 3);
    const b = random([9, 6], 4);
    disableWasmFastKernels();
    const stock = tf.matMul(a, b, true, false);
    enableWasmFastKernels();
    const counter = countCalls();
    const fast = tf.matMul(a, b, true, false);
    counter.restore();
    expect(counter.calls()).toBe(1);
    expect(relativeError(fast, stock)).toBeLessThanOrEqual(1e-5);
    tf.dispose([a, b, stock, fast]);
  });

  it('leaves 5 rows, batched b and transposed multi-row a to the other paths, with equal results', () => {
    for (const [aShape, bShape, transposeA] of [
      [[5, 8], [8, 6], false],
      [[2, 1, 8], [2, 8, 6], false],
      [[8, 2], [8, 6], true],
    ] as Array<[number[], number[], boolean]>) {
      const a = random(aShape, 5);
      const b = random(bShape, 6);
      disableWasmFastKernels();
      const stock = tf.matMul(a, b, transposeA, false);
      enableWasmFastKernels();
      const counter = countCalls();
      const fast = tf.matMul(a, b, transposeA, false);
      counter.restore();
      expect(counter.calls()).toBe(0);
      expect(relativeError(fast, stock)).toBeLessThanOrEqual(1e-5);
      tf.dispose([a, b, stock, fast]);
    }
  });

  it('runs a many-row x · Bᵀ with a wider B as (B · xᵀ)ᵀ (the tied head of a prefill), equal to the stock kernel', () => {
    const x = random([20, 16], 1);
    const table = random([300, 16], 2);
    disableWasmFastKernels();
    const stock = tf.matMul(x, table, false, true);
    enableWasmFastKernels();
    const fast = tf.matMul(x, table, false, true);
    expect(relativeError(fast, stock)).toBeLessThanOrEqual(1e-5);
    expectNoLeak(() => tf.matMul(x, table, false, true));
    tf.dispose([x, table, stock, fast]);
  });

  it('fuses bias and activations exactly as matMul + add + activation', () => {
    const activations = {
      linear: (y: tf.Tensor) => y,
      relu: tf.relu,
      relu6: tf.relu6,
      elu: tf.elu,
      sigmoid: tf.sigmoid,
      leakyrelu: (y: tf.Tensor) => tf.leakyRelu(y, 0.3),
    } as const;
    for (const [aShape, k, n, transposeB] of [
      [[1, 13], 13, 21, false],
      [[3, 13], 13, 21, true],
      [[1, 2, 6], 6, 35, false],
      [[4, 5], 5, 9, true],
    ] as Array<[number[], number, number, boolean]>) {
      for (const [activation, f] of Object.entries(activations)) {
        const a = random(aShape, n);
        const b = random(transposeB ? [n, k] : [k, n], k);
        const bias = random([n], 9);
        disableWasmFastKernels();
        const reference = f(tf.add(tf.matMul(a, b, false, transposeB), bias));
        enableWasmFastKernels();
        const counter = countCalls();
        const fast = tf.fused.matMul({
          a,
          b,
          transposeB,
          bias,
          activation: activation as tf.fused.Activation,
          leakyreluAlpha: 0.3,
        });
        counter.restore();
        expect(counter.calls(), activation).toBe(1);
        expect(relativeError(fast, reference), activation).toBeLessThanOrEqual(1e-5);
        tf.dispose([a, b, bias, reference, fast]);
      }
    }
  });

  it('gives the same gradients through tf.grad as the stock kernels', () => {
    const x = random([2, 11], 1);
    const w = random([11, 7], 2);
    const table = random([19, 11], 3);
    const bias = random([7], 4);
    const loss = (xs: tf.Tensor, ws: tf.Tensor, ts: tf.Tensor, bs: tf.Tensor) =>
      tf.sum(
        tf.mul(
          tf.matMul(
            tf.fused.matMul({ a: xs, b: ws, bias: bs, activation: 'relu' }),
            tf.slice(ts, [0, 0], [7, 11]),
          ),
          tf.matMul(tf.matMul(xs, ts, false, true), ts),
        ),
      );
    const grads = () => tf.grads(loss)([x, w, table, bias]);
    disableWasmFastKernels();
    const stock = grads();
    enableWasmFastKernels();
    const counter = countCalls();
    const fast = grads();
    counter.restore();
    expect(counter.calls()).toBeGreaterThan(0);
    for (let i = 0; i < stock.length; i++) {
      expect(relativeError(fast[i]!, stock[i]!), `gradient ${i}`).toBeLessThanOrEqual(1e-5);
    }
    tf.dispose([x, w, table, bias, ...stock, ...fast]);
  });

  it('packs per call on temporary views from 16 rows, with equal results', () => {
    const a = random([20, 37], 1);
    const b = random([37, 45], 2);
    const bias = random([45], 3);
    disableWasmFastKernels();
    const stock = tf.matMul(a, b);
    const stockFused = tf.fused.matMul({ a, b, bias, activation: 'relu' });
    for (const from of [16, Number.POSITIVE_INFINITY]) {
      enableWasmFastKernels();
      setPackPerCallFromRows(from);
      const fast = tf.matMul(a, b);
      const fused = tf.fused.matMul({ a, b, bias, activation: 'relu' });
      expect(relativeError(fast, stock)).toBeLessThanOrEqual(1e-5);
      expect(relativeError(fused, stockFused)).toBeLessThanOrEqual(1e-5);
      tf.dispose([fast, fused]);
    }
    tf.dispose([a, b, bias, stock, stockFused]);
  });

  it('takes packedWeights: per-call (default) or cached, and rejects bad options', () => {
    const a = random([20, 12], 1);
    const b = random([12, 9], 2);
    disableWasmFastKernels();
    const stock = tf.matMul(a, b);
    for (const packedWeights of ['cached', 'per-call'] as const) {
      enableWasmFastKernels({ packedWeights });
      const fast = tf.matMul(a, b);
      expect(relativeError(fast, stock)).toBeLessThanOrEqual(1e-5);
      fast.dispose();
    }
    const argumentOf = (call: () => unknown) => {
      try {
        call();
      } catch (error) {
        expect(error).toBeInstanceOf(TfjsBlocksError);
        return (error as TfjsBlocksError).argument;
      }
      return 'no error';
    };
    const bad = (options: unknown) => () =>
      enableWasmFastKernels(options as Parameters<typeof enableWasmFastKernels>[0]);
    expect(argumentOf(bad({ packedWeights: 'never' }))).toBe('options.packedWeights');
    expect(argumentOf(bad({ packedWeight: 'cached' }))).toBe('options.packedWeight');
    expect(argumentOf(bad('cached'))).toBe('options');
    tf.dispose([a, b, stock]);
  });

  it('leaks no tensors and no backend data ids', () => {
    enableWasmFastKernels();
    const backend = tf.backend() as unknown as { numDataIds(): number };
    const x = random([1, 1, 10], 1);
    const rows = random([3, 10], 2);
    const w = random([10, 7], 3);
    const table = random([40, 10], 4);
    const bias = random([7], 5);
    const many = random([20, 10], 6);
    const calls = () => {
      expectNoLeak(() => tf.matMul(x, w));
      expectNoLeak(() => tf.matMul(rows, w));
      expectNoLeak(() => tf.matMul(rows, table, false, true));
      expectNoLeak(() => tf.fused.matMul({ a: rows, b: w, bias, activation: 'relu' }));
      expectNoLeak(() => tf.matMul(many, w));
      expectNoLeak(() => tf.fused.matMul({ a: many, b: w, bias }));
      expectNoLeak(() => tf.grad((v: tf.Tensor) => tf.sum(tf.matMul(v, w)))(rows));
    };
    calls();
    const ids = backend.numDataIds();
    for (let i = 0; i < 10; i++) calls();
    expect(backend.numDataIds()).toBe(ids);
    tf.dispose([x, rows, w, table, bias, many]);
  });

  it('falls back to XNNPACK when the kernels are off, with equal results', () => {
    const a = random([2, 30], 1);
    const b = random([30, 40], 2);
    enableWasmFastKernels();
    const on = tf.matMul(a, b);
    const counter = countCalls();
    setFloatSimdEnabled(false);
    const off = tf.matMul(a, b);
    counter.restore();
    expect(counter.calls()).toBe(0);
    expect(relativeError(on, off)).toBeLessThanOrEqual(1e-5);
    tf.dispose([a, b, on, off]);
  });
});
