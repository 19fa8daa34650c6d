// The threads path of the SIMD products (src/nn/quantized-simd.ts), without
// worker threads: a QuantizedSimdThreads whose "workers" run their calls on a
// second instance of the shared kernel module, on the same shared memory,
// when `wait` is called. The split (by output columns or by groups of rows),
// the calling thread's own share, the minBytes and maxCalls limits, and a
// memory that cannot grow, against the one-thread products bit for bit.
// (test/node/quantized-threads.test.ts runs the real worker threads.)
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type KernelCall,
  QUANTIZED_SIMD_KERNELS,
  QUANTIZED_SIMD_MAX_PAGES,
  type QuantizedSimdThreads,
  quantizedSimdAvailable,
  quantizedSimdBytesInUse,
  quantizedSimdProduct,
  quantizedSimdProductTransposed,
  releaseQuantizedSimd,
  setQuantizedSimdThreads,
} from '../../src/nn/quantized-simd';
import { quantizedSimdSharedWasm } from '../../src/nn/quantized-simd-module';
import { dequantizeWeights, quantizedMatMul } from '../../src/nn/quantized-weights';
import { expectClose } from '../helpers/close';
import { seededQuantized, simdProductsOf, varyingInputs } from '../helpers/quantized-fixtures';

/** A fake pool: what `start` was handed, per product. */
type FakeThreads = QuantizedSimdThreads & { starts: KernelCall[][][] };

/** Threads whose workers run their calls in `wait`, on the calling thread, on `memory`. */
function fakeThreads({
  workers,
  minBytes = 0,
  maxCalls = 256,
  maximum = QUANTIZED_SIMD_MAX_PAGES,
  shared = true,
}: {
  workers: number;
  minBytes?: number;
  maxCalls?: number;
  maximum?: number;
  shared?: boolean;
}): FakeThreads {
  const memory = new WebAssembly.Memory({ initial: 1, maximum, shared });
  let kernels: Record<string, (...args: number[]) => void> | undefined;
  let pending: KernelCall[][] | undefined;
  const starts: KernelCall[][][] = [];
  return {
    memory,
    workers,
    minBytes,
    maxCalls,
    starts,
    start: (calls) => {
      expect(pending, 'start while the last start was not waited for').toBeUndefined();
      // One list per worker, none longer than a worker's slot.
      expect(calls).toHaveLength(workers);
      for (const list of calls) expect(list.length).toBeLessThanOrEqual(maxCalls);
      pending = calls;
      starts.push(calls.map((list) => list.map((call) => [...call])));
    },
    wait: () => {
      expect(pending, 'wait without start').toBeDefined();
      if (kernels === undefined) {
        const bytes = Uint8Array.from(atob(quantizedSimdSharedWasm), (c) => c.charCodeAt(0));
        const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), {
          env: { memory },
        });
        kernels = instance.exports as unknown as Record<string, (...args: number[]) => void>;
      }
      for (const list of pending!) {
        for (const [kernel, ...args] of list) kernels[QUANTIZED_SIMD_KERNELS[kernel!]!]!(...args);
      }
      pending = undefined;
    },
  };
}

afterEach(() => {
  expect(setQuantizedSimdThreads(null)).toBe(true);
});

// Odd widths, int4 groups of 3 and 6 rows and a shorter last group, more
// columns (and blocks of rows) than threads, and fewer: 32 columns for 3 threads.
const CASES = [
  { rows: 130, cols: 97, bits: 8 },
  { rows: 7, cols: 32, bits: 8 },
  { rows: 40, cols: 300, bits: 8 },
  { rows: 48, cols: 70, bits: 4, groupSize: 6 },
  { rows: 65, cols: 33, bits: 4, groupSize: 3 },
  { rows: 9, cols: 32, bits: 4, groupSize: 9 },
] as const;

describe('SIMD products split over threads (a fake pool on a shared memory)', () => {
  it('give the one-thread values bit for bit: x · W and x · Wᵀ, int8 and int4, 1 to 4 rows, 2 and 3 threads', () => {
    const products = simdProductsOf(CASES);
    const single = products();
    for (const workers of [1, 2]) {
      const threads = fakeThreads({ workers });
      expect(setQuantizedSimdThreads(threads)).toBe(true);
      expect(quantizedSimdAvailable()).toBe(true);
      const split = products();
      for (let i = 0; i < single.length; i++) expect(split[i]).toEqual(single[i]);
      // Each product large enough went to the workers: the int8 [40, 300] x · W (300 columns,
      // 10 panels) gives every thread n calls of its own panels.
      expect(threads.starts.length).toBeGreaterThan(0);
    }
  });

  it('hands each worker its own share: every panel (x · W) or block of rows (int4 x · Wᵀ) once', () => {
    const q8 = seededQuantized(40, 300, 8);
    const q4 = seededQuantized(24, 40, 4, 6);
    for (const workers of [1, 2]) {
      const threads = fakeThreads({ workers });
      setQuantizedSimdThreads(threads);
      for (const n of [1, 2]) {
        // int8 x · W: 300 columns, 10 panels of 32, split into `workers + 1` ranges of whole panels.
        threads.starts.length = 0;
        const single = quantizedSimdProduct(q8, varyingInputs(n, 40, 1), n)!;
        expect(single).toHaveLength(n * 300);
        expect(threads.starts).toHaveLength(1);
        const [started] = threads.starts;
        const panels = started!.flat().map((call) => call[5]!);
        // n calls per worker (one per row), each over some panels; the calling thread took the rest.
        for (const list of started!) expect(list).toHaveLength(n);
        const onWorkers = panels.reduce((a, b) => a + b, 0) / n;
        expect(onWorkers).toBeGreaterThan(0);
        expect(onWorkers).toBeLessThan(10);
        // int4 x · Wᵀ: 24 rows in 4 groups of 6 (padded to 8): 6 blocks of 4 rows, whole groups per thread.
        threads.starts.length = 0;
        quantizedSimdProductTransposed(q4, varyingInputs(n, 40, 2), n);
        expect(threads.starts).toHaveLength(1);
        // Each thread scales x into its own range (40 columns padded to 64: 256 bytes), after the n
        // rows of x and the calling thread's range: worker i (from 1) at x + (n + i) · 256.
        const xAt = threads.starts[0]![0]![0]![1]!;
        for (const [w, list] of threads.starts[0]!.entries()) {
          expect(list).toHaveLength(n);
          for (const [r, call] of list.entries()) {
            expect(call[0]).toBe(QUANTIZED_SIMD_KERNELS.indexOf('dot4'));
            expect(call[1]).toBe(xAt + r * 256);
            expect(call[3]).toBe(xAt + (n + w + 1) * 256);
            // blocks, a multiple of the 2 blocks per group.
            expect(call[6]! % 2).toBe(0);
            expect(call[6]!).toBeGreaterThan(0);
          }
        }
      }
    }
  });

  it('runs products whose codes take fewer than minBytes on the calling thread alone', () => {
    // int8 [64, 48]: 64 rows × 64 padded columns, 4,096 bytes of codes.
    const q = seededQuantized(64, 48, 8);
    const x = varyingInputs(2, 64, 3);
    const single = quantizedSimdProduct(q, x, 2)!;
    for (const [minBytes, split] of [
      [4096, true],
      [4097, false],
    ] as const) {
      const threads = fakeThreads({ workers: 1, minBytes });
      setQuantizedSimdThreads(threads);
      expect(quantizedSimdProduct(q, x, 2)).toEqual(single);
      expect(threads.starts.length).toBe(split ? 1 : 0);
    }
  });

  // Three input rows: three calls per worker that gets a panel.
  const maxCallsCases = [
    // int8 [64, 96]: 3 panels over 3 threads, one each.
    { what: 'a worker', cols: 96, workers: 2, seed: 4, callsPerWorker: [3, 3] },
    // int8 [64, 64]: 2 panels over 4 threads: the calling thread and the second worker get
    // one each, the first and third none.
    {
      what: 'one worker (and the others none)',
      cols: 64,
      workers: 3,
      seed: 8,
      callsPerWorker: [0, 3, 0],
    },
  ];
  for (const { what, cols, workers, seed, callsPerWorker } of maxCallsCases) {
    it(`runs every call on the calling thread when ${what} would get more than maxCalls`, () => {
      const q = seededQuantized(64, cols, 8);
      const x = varyingInputs(3, 64, seed);
      const single = quantizedSimdProduct(q, x, 3)!;
      for (const [maxCalls, split] of [
        [3, true],
        [2, false],
      ] as const) {
        const threads = fakeThreads({ workers, maxCalls });
        setQuantizedSimdThreads(threads);
        expect(quantizedSimdProduct(q, x, 3)).toEqual(single);
        expect(threads.starts.length).toBe(split ? 1 : 0);
        if (split) expect(threads.starts[0]!.map((list) => list.length)).toEqual(callsPerWorker);
      }
    });
  }

  it('starts no worker when the calling thread takes every panel (one panel of 32 columns)', () => {
    const q = seededQuantized(64, 32, 8);
    const x = varyingInputs(2, 64, 9);
    const single = quantizedSimdProduct(q, x, 2)!;
    const threads = fakeThreads({ workers: 1 });
    setQuantizedSimdThreads(threads);
    expect(quantizedSimdProduct(q, x, 2)).toEqual(single);
    expect(threads.starts).toHaveLength(0);
  });

  it('stays on one thread, in its own memory, when the kernels do not run on the given memory', () => {
    const q = seededQuantized(16, 40, 4, 8);
    const x = varyingInputs(1, 16, 5);
    const single = quantizedSimdProduct(q, x, 1)!;
    // The shared module imports a shared memory: a plain one does not instantiate.
    const threads = fakeThreads({ workers: 1, shared: false });
    expect(setQuantizedSimdThreads(threads)).toBe(false);
    expect(quantizedSimdAvailable()).toBe(true);
    expect(quantizedSimdProduct(q, x, 1)).toEqual(single);
    expect(threads.starts).toHaveLength(0);
  });

  it('packs every QuantizedTensor again in the new memory; the old packing is not freed into it', () => {
    const a = seededQuantized(64, 48, 8);
    const b = seededQuantized(32, 64, 8);
    quantizedSimdProduct(a, varyingInputs(1, 64, 6), 1);
    setQuantizedSimdThreads(fakeThreads({ workers: 1 }));
    expect(quantizedSimdBytesInUse()).toBe(0);
    const ya = quantizedSimdProduct(a, varyingInputs(1, 64, 6), 1)!;
    const withA = quantizedSimdBytesInUse();
    // a's codes (64 × 64 bytes) and the scratch.
    expect(withA).toBeGreaterThan(64 * 64);
    quantizedSimdProduct(b, varyingInputs(1, 32, 7), 1);
    const withBoth = quantizedSimdBytesInUse();
    // b: 32 rows × 64 columns.
    expect(withBoth - withA).toBe(32 * 64);
    releaseQuantizedSimd(a);
    expect(quantizedSimdBytesInUse()).toBe(withBoth - 64 * 64);
    expect(quantizedSimdProduct(a, varyingInputs(1, 64, 6), 1)).toEqual(ya);
    releaseQuantizedSimd(a);
    releaseQuantizedSimd(b);
  });

  it('answers null when the memory cannot grow, and quantizedMatMul falls back to its JS loops', () => {
    tf.setBackend('cpu');
    // Two pages at most: [256, 288] int8 codes take 73,728 bytes (two pages), leaving no room
    // for the 64 KiB scratch; [600, 300] (600 × 320 bytes) does not fit at all.
    for (const [rows, cols] of [
      [256, 288],
      [600, 300],
    ] as const) {
      setQuantizedSimdThreads(fakeThreads({ workers: 1, maximum: 2 }));
      const q = seededQuantized(rows, cols, 8);
      const x = tf.tidy(() => tf.randomNormal([1, rows], 0, 1, 'float32', rows)) as tf.Tensor2D;
      expect(quantizedSimdProduct(q, x.dataSync() as Float32Array, 1)).toBeNull();
      tf.tidy(() => {
        const y = quantizedMatMul(x, q);
        // The JS loops keep float inputs: the float product, not the int16-rounded one.
        expectClose(y, tf.matMul(x, dequantizeWeights(q)), { rtol: 1e-5, atol: 1e-5 });
      });
      x.dispose();
    }
  });
});
