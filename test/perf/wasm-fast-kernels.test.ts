import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { decoderLm, flattenParams, gpt2Config, initDecoderLm, seededRandom } from '../../src/index';
import { softmaxCrossEntropy } from '../../src/losses/softmax-cross-entropy';
import {
  disableWasmFastKernels,
  enableWasmFastKernels,
  isWasmFastKernelsEnabled,
} from '../../src/perf/wasm-fast-kernels';
import { unflattenParams } from '../../src/tree/flatten';
import { expectNoLeak } from '../helpers/leaks';

/**
 * `|fast - stock| <= 1e-5 · (|a|·|b|)` elementwise: relative to the sum of the
 * products' magnitudes, the scale of float32 rounding in a dot product.
 */
function expectClose(fast: tf.Tensor, stock: tf.Tensor, scale: tf.Tensor, rel = 1e-5): void {
  expect(fast.shape).toEqual(stock.shape);
  const f = fast.dataSync();
  const s = stock.dataSync();
  const m = scale.dataSync();
  let worst = 0;
  for (let i = 0; i < s.length; i++) {
    const err = Math.abs(f[i]! - s[i]!) / (m[i]! + 1e-30);
    if (!(err <= worst)) worst = Number.isNaN(err) ? Number.POSITIVE_INFINITY : err;
  }
  expect(worst).toBeLessThanOrEqual(rel);
}

const stored = (shape: number[], transposeLast: boolean) =>
  transposeLast
    ? [...shape.slice(0, -2), shape[shape.length - 1]!, shape[shape.length - 2]!]
    : shape;

describe('enableWasmFastKernels [wasm]', () => {
  beforeAll(async () => {
    expect(await tf.setBackend('wasm')).toBe(true);
    await tf.ready();
  });
  afterEach(() => {
    disableWasmFastKernels();
  });
  afterAll(async () => {
    disableWasmFastKernels();
    await tf.setBackend('cpu');
  });

  // [outer of a, outer of b, m, k, n]: batch 1, dims of 1, 2-D, 4-D, shared b, broadcasting, wide b.
  const shapes: Array<[number[], number[], number, number, number]> = [
    [[], [], 7, 5, 3],
    [[], [], 1, 1, 1],
    [[], [], 1, 9, 4],
    [[], [], 6, 1, 5],
    [[], [], 33, 17, 1],
    [[1], [1], 8, 8, 8],
    [[3], [3], 5, 4, 6],
    [[2, 3], [2, 3], 16, 8, 16],
    [[2, 3], [2, 3], 1, 4, 1],
    [[4], [], 12, 8, 6],
    [[2, 5], [], 3, 7, 2],
    [[4], [1], 5, 3, 2],
    [[1], [4], 5, 3, 2],
    [[], [3], 4, 6, 5],
    [[2, 1], [3], 6, 5, 4],
    [[2, 1], [1, 3], 2, 2, 2],
    // A few rows times a wide b: with transposeB, the tied output head's (b · aᵀ)ᵀ.
    [[], [], 1, 16, 300],
    [[], [], 3, 16, 300],
    [[1], [1], 2, 8, 257],
    [[], [], 8, 5, 256],
    [[], [], 9, 5, 256],
  ];
  for (const [outerA, outerB, m, k, n] of shapes) {
    for (const [transposeA, transposeB] of [
      [false, false],
      [true, false],
      [false, true],
      [true, true],
    ] as const) {
      const title = `[${outerA}|${m}x${k}] · [${outerB}|${k}x${n}], transposeA ${transposeA}, transposeB ${transposeB}`;
      it(`matches the stock kernel: ${title}`, () => {
        const rand = seededRandom(m * 1000 + k * 100 + n + outerA.length * 7 + outerB.length * 13);
        const aShape = stored([...outerA, m, k], transposeA);
        const bShape = stored([...outerB, k, n], transposeB);
        const a = tf.tensor(
          Array.from({ length: aShape.reduce((x, y) => x * y, 1) }, () => rand() * 2 - 1),
          aShape,
        );
        const b = tf.tensor(
          Array.from({ length: bShape.reduce((x, y) => x * y, 1) }, () => rand() * 2 - 1),
          bShape,
        );
        // The stock kernel is wrong for some broadcast batches: compare with explicitly broadcast operands there.
        const outer = tf.broadcast_util.assertAndGetBroadcastShape(outerA, outerB);
        const full = (x: tf.Tensor, last2: number[]) =>
          tf.broadcastTo(x, [...outer, ...last2]) as tf.Tensor;
        const same = outerA.length === outerB.length && outerA.every((d, i) => d === outerB[i]);
        const operands = () =>
          same || outerB.length === 0
            ? [a, b]
            : [full(a, aShape.slice(-2)), full(b, bShape.slice(-2))];
        disableWasmFastKernels();
        const [sa, sb] = operands() as [tf.Tensor, tf.Tensor];
        const stock = tf.matMul(sa, sb, transposeA, transposeB);
        const scale = tf.matMul(tf.abs(sa), tf.abs(sb), transposeA, transposeB);
        enableWasmFastKernels();
        const fast = tf.matMul(a, b, transposeA, transposeB);
        expectClose(fast, stock, scale);
        tf.dispose([a, b, sa, sb, stock, scale, fast]);
      });
    }
  }

  it('matches matMul + bias + activation for fused products (the stock fused kernel does not)', () => {
    // tfjs-backend-wasm 4.22's fused kernel adds the bias at the wrong index
    // off its fast path (transposes or batches), so the reference here is
    // the unfused ops on the stock kernels.
    const rand = seededRandom(7);
    const t = (shape: number[]) =>
      tf.tensor(
        Array.from({ length: shape.reduce((x, y) => x * y, 1) }, () => rand() * 2 - 1),
        shape,
      );
    const activate = {
      linear: (y: tf.Tensor) => y,
      relu: tf.relu,
      elu: tf.elu,
      sigmoid: tf.sigmoid,
    } as const;
    for (const [aShape, bShape, transposeA, transposeB] of [
      [[6, 5], [5, 4], false, false],
      [[5, 6], [5, 4], true, false],
      [[6, 5], [4, 5], false, true],
      [[3, 6, 5], [3, 5, 4], false, false],
      [[3, 5, 6], [3, 4, 5], true, true],
      [[2, 3, 6, 5], [5, 4], false, false],
    ] as Array<[number[], number[], boolean, boolean]>) {
      for (const activation of ['linear', 'relu', 'elu', 'sigmoid'] as const) {
        const a = t(aShape);
        const b = t(bShape);
        const bias = t([4]);
        disableWasmFastKernels();
        const reference = activate[activation](
          tf.add(tf.matMul(a, b, transposeA, transposeB), bias),
        );
        const scale = tf.add(tf.matMul(tf.abs(a), tf.abs(b), transposeA, transposeB), tf.abs(bias));
        enableWasmFastKernels();
        const fast = tf.fused.matMul({ a, b, transposeA, transposeB, bias, activation });
        expectClose(fast, reference, scale);
        tf.dispose([a, b, bias, reference, fast, scale]);
      }
    }
  });

  it('gives the same gradients for a small GPT', () => {
    const config = gpt2Config({
      vocabSize: 16,
      maxLength: 8,
      dModel: 16,
      numLayers: 2,
      numHeads: 2,
    });
    const template = initDecoderLm(config, 3);
    const flat = flattenParams(template);
    const names = Object.keys(flat);
    const ids = tf.tensor2d(
      Array.from({ length: 2 }, (_, r) => Array.from({ length: 8 }, (_, i) => (i * 5 + r) % 16)),
      undefined,
      'int32',
    );
    const targets = tf.tensor2d(
      Array.from({ length: 2 }, (_, r) => Array.from({ length: 8 }, (_, i) => (i * 3 + r) % 16)),
      undefined,
      'int32',
    );
    const gradients = () => {
      const loss = (...ws: tf.Tensor[]) =>
        softmaxCrossEntropy(
          decoderLm(
            config,
            unflattenParams(template, Object.fromEntries(names.map((n, i) => [n, ws[i]!]))),
            ids,
          ),
          targets,
        ) as tf.Scalar;
      return tf.grads(loss)(names.map((n) => flat[n]!));
    };
    disableWasmFastKernels();
    const stock = gradients();
    enableWasmFastKernels();
    const before = tf.memory().numTensors;
    const fast = gradients();
    expect(tf.memory().numTensors - before).toBe(fast.length);
    for (let i = 0; i < names.length; i++) {
      const s = stock[i]!.dataSync();
      const f = fast[i]!.dataSync();
      const scale = Math.max(...Array.from(s, Math.abs), 1e-12);
      const worst = Math.max(...Array.from(s, (v, j) => Math.abs(v - f[j]!)));
      // An absolute floor: some gradients (the key bias's) are exactly zero up to rounding.
      expect(worst, names[i]).toBeLessThan(1e-4 * scale + 1e-6);
    }
    tf.dispose([...stock, ...fast, ids, targets, ...Object.values(flat)]);
  });

  it('slices exactly as the stock kernel (ranks 1-5, dtypes, edge ranges)', () => {
    const rand = seededRandom(11);
    const cases: Array<[number[], number[], number[]]> = [
      [[10], [3], [4]],
      [[10], [0], [-1]],
      [
        [4, 6],
        [1, 2],
        [2, 3],
      ],
      [
        [4, 6],
        [0, 0],
        [4, 6],
      ],
      [
        [4, 6],
        [2, 0],
        [2, -1],
      ],
      [
        [3, 4, 5],
        [1, 0, 0],
        [1, 4, 5],
      ],
      [
        [3, 4, 5],
        [0, 1, 2],
        [-1, 2, 2],
      ],
      [
        [1, 4, 16, 8],
        [0, 0, 0, 0],
        [-1, -1, 5, -1],
      ],
      [
        [1, 4, 16, 8],
        [0, 0, 7, 0],
        [-1, -1, 9, -1],
      ],
      [
        [2, 3, 4, 5],
        [1, 1, 1, 1],
        [1, 2, 3, 4],
      ],
      [
        [2, 3, 4, 5, 2],
        [0, 1, 0, 2, 1],
        [2, 1, 4, 3, 1],
      ],
      [
        [5, 5],
        [2, 2],
        [0, 3],
      ],
    ];
    for (const [shape, begin, size] of cases) {
      for (const dtype of ['float32', 'int32', 'bool'] as const) {
        const n = shape.reduce((x, y) => x * y, 1);
        const x = tf.tensor(
          Array.from({ length: n }, () => Math.floor(rand() * 100) - 50),
          shape,
          dtype,
        );
        disableWasmFastKernels();
        const stock = tf.slice(x, begin, size);
        enableWasmFastKernels();
        const fast = tf.slice(x, begin, size);
        expect(fast.shape).toEqual(stock.shape);
        expect(fast.dtype).toBe(dtype);
        expect(Array.from(fast.dataSync())).toEqual(Array.from(stock.dataSync()));
        tf.dispose([x, stock, fast]);
      }
    }
  });

  it('sums like the stock kernel (leading axes in one pass; other reductions and dtypes go to it)', () => {
    const rand = seededRandom(5);
    // [shape, axis, keepDims]: leading axes (the fast pass) and others (stock).
    const cases: Array<[number[], number | number[], boolean]> = [
      [[1024, 128], 0, false],
      [[37, 5], 0, true],
      [[8, 16, 24], [0, 1], false],
      [[8, 16, 24], [1, 0], true],
      [[8, 16, 24], [-3], false],
      [[1, 7], 0, false],
      [[6, 1], 0, false],
      [[0, 4], 0, false],
      [[4, 0], 0, false],
      [[8, 16, 24], 1, false],
      [[8, 16, 24], -1, true],
      [[8, 16, 24], [0, 2], false],
      [[8, 16], [0, 1], false],
      [[9], 0, false],
    ];
    for (const [shape, axis, keepDims] of cases) {
      for (const dtype of ['float32', 'int32'] as const) {
        const n = shape.reduce((x, y) => x * y, 1);
        const values = Array.from({ length: n }, () =>
          dtype === 'int32'
            ? Math.floor(rand() * 100) - 50
            : (rand() - 0.5) * 10 ** (rand() * 6 - 3),
        );
        const x = tf.tensor(values, shape, dtype);
        disableWasmFastKernels();
        const stock = tf.sum(x, axis, keepDims);
        const scale = tf.sum(tf.abs(x), axis, keepDims);
        enableWasmFastKernels();
        const fast = tf.sum(x, axis, keepDims);
        expect(fast.dtype).toBe(stock.dtype);
        if (n === 0) {
          // The stock kernel returns uninitialised memory for a sum over an
          // empty axis; the sum of nothing is 0 (int32 still goes to it).
          expect(fast.shape).toEqual(stock.shape);
          if (dtype === 'float32') {
            expect(Array.from(fast.dataSync()).every((v) => v === 0)).toBe(true);
          }
        } else if (dtype === 'int32') {
          expect(fast.shape).toEqual(stock.shape);
          expect(Array.from(fast.dataSync())).toEqual(Array.from(stock.dataSync()));
        } else {
          expectClose(fast, stock, scale);
        }
        tf.dispose([x, stock, fast, scale]);
      }
    }
  });

  it('leaves one-row batched products (a decoding step’s attention) to the stock kernel, with equal results', () => {
    const rand = seededRandom(8);
    const q = tf.tensor(Array.from({ length: 2 * 4 * 16 }, rand), [2, 4, 1, 16]);
    const k = tf.tensor(Array.from({ length: 2 * 4 * 40 * 16 }, rand), [2, 4, 40, 16]);
    disableWasmFastKernels();
    const stock = tf.matMul(q, k, false, true);
    enableWasmFastKernels();
    const fast = tf.matMul(q, k, false, true);
    expect(Array.from(fast.dataSync())).toEqual(Array.from(stock.dataSync()));
    tf.dispose([q, k, stock, fast]);
  });

  it('clones by sharing memory: equal values, each copy outlives the other', () => {
    enableWasmFastKernels();
    const backend = tf.backend() as unknown as { numDataIds(): number };
    for (const dtype of ['float32', 'int32', 'bool'] as const) {
      const x = tf.tensor([1, 0, 3, 4], [2, 2], dtype);
      const ids = backend.numDataIds();
      const y = tf.clone(x);
      expect(backend.numDataIds()).toBe(ids);
      expect(y.dtype).toBe(dtype);
      x.dispose();
      expect(Array.from(y.dataSync())).toEqual(dtype === 'bool' ? [1, 0, 1, 1] : [1, 0, 3, 4]);
      y.dispose();
      expect(backend.numDataIds()).toBe(ids - 1);
    }
    const s = tf.tensor(['a', 'b']);
    const t = tf.clone(s);
    expect(t.dataSync()).toEqual(['a', 'b']);
    tf.dispose([s, t]);
  });

  it('leaks no tensors and no backend memory', () => {
    enableWasmFastKernels();
    const a = tf.randomNormal([4, 8, 6]);
    const b = tf.randomNormal([4, 5, 6]);
    const w = tf.randomNormal([6, 3]);
    const bias = tf.randomNormal([3]);
    const zeros = tf.zeros([5]);
    const wide = tf.randomNormal([300, 6]);
    const row = tf.randomNormal([1, 6]);
    const rows = tf.randomNormal([3, 6]);
    const backend = tf.backend() as unknown as { numDataIds(): number };
    // Warm up, then count the backend's data ids around many calls.
    tf.dispose([tf.matMul(a, b, false, true), tf.matMul(a, w)]);
    const dataIds = backend.numDataIds();
    for (let i = 0; i < 20; i++) {
      expectNoLeak(() => tf.matMul(a, b, false, true));
      expectNoLeak(() => tf.matMul(a, a, true, false));
      expectNoLeak(() => tf.matMul(a, w));
      expectNoLeak(() => tf.fused.matMul({ a, b, transposeB: true, bias: zeros }));
      expectNoLeak(() => tf.fused.matMul({ a, b: w, bias, activation: 'relu' }));
      expectNoLeak(() => tf.slice(a, [1, 2, 0], [2, 3, -1]));
      expectNoLeak(() => tf.sum(a, [0, 1]));
      expectNoLeak(() => tf.sum(a, 0, true));
      expectNoLeak(() => tf.clone(a));
      expectNoLeak(() => tf.matMul(row, wide, false, true));
      expectNoLeak(() => tf.matMul(rows, wide, false, true));
      expectNoLeak(() => tf.grad((x: tf.Tensor) => tf.sum(tf.matMul(x, w)))(a));
    }
    expect(backend.numDataIds()).toBe(dataIds);
    tf.dispose([a, b, w, bias, zeros, wide, row, rows]);
  });

  it('restores the stock kernels, and enabling twice is harmless', () => {
    const before = tf.getKernel('BatchMatMul', 'wasm');
    const fusedBefore = tf.getKernel('_FusedMatMul', 'wasm');
    expect(isWasmFastKernelsEnabled()).toBe(false);
    expect(enableWasmFastKernels()).toBe(true);
    expect(enableWasmFastKernels()).toBe(false);
    expect(isWasmFastKernelsEnabled()).toBe(true);
    expect(tf.getKernel('BatchMatMul', 'wasm')!.kernelFunc).not.toBe(before!.kernelFunc);
    expect(tf.getKernel('BatchMatMul', 'cpu')!.backendName).toBe('cpu');
    expect(disableWasmFastKernels()).toBe(true);
    expect(disableWasmFastKernels()).toBe(false);
    expect(tf.getKernel('BatchMatMul', 'wasm')).toBe(before);
    expect(tf.getKernel('_FusedMatMul', 'wasm')).toBe(fusedBefore);
    // Non-float inputs go to the stock kernel (which rejects them).
    enableWasmFastKernels();
    const i = tf.tensor2d([[1, 2]], undefined, 'int32');
    expect(() => tf.matMul(i, tf.transpose(i))).toThrow(/float32/);
    i.dispose();
  });
});
