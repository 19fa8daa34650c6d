// The module memory of the SIMD kernels (src/nn/quantized-simd.ts), byte for
// byte: first-fit allocation, exact fits, freed neighbours merged, growth by
// what the free tail lacks, the scratch range. Each int8 kernel [rows, cols]
// packs into roundUp(rows, 2) · roundUp(cols, 32) bytes.
import { beforeEach, describe, expect, it } from 'vitest';
import {
  quantizedSimdAvailable,
  quantizedSimdBytesInUse,
  quantizedSimdMemoryBytes,
  quantizedSimdProduct,
  quantizedSimdProductTransposed,
  releaseQuantizedSimd,
  setQuantizedSimdThreads,
} from '../../src/nn/quantized-simd';
import type { QuantizedTensor } from '../../src/nn/quantized-weights';
import { constantInt8, seededQuantized, varyingInputs } from '../helpers/quantized-fixtures';

const PAGE = 65536;

/** An int8 `[rows, cols]` kernel of ones. */
const int8 = (rows: number, cols: number): QuantizedTensor => constantInt8(rows, cols, 1, 1);

/** Packs `q` (one product of a row of ones) and checks the product: each output the row count. */
function use(q: QuantizedTensor, n = 1): void {
  const [rows, cols] = q.shape;
  const y = quantizedSimdProduct(q, new Float32Array(n * rows).fill(1), n)!;
  expect(Array.from(y)).toEqual(new Array(n * cols).fill(rows));
}

beforeEach(() => {
  // A fresh module: its memory of one page, nothing packed.
  setQuantizedSimdThreads(null);
});

describe('the SIMD module memory', () => {
  it('is made on first use, one page', () => {
    expect(quantizedSimdMemoryBytes()).toBe(0);
    expect(quantizedSimdBytesInUse()).toBe(0);
    expect(quantizedSimdAvailable()).toBe(true);
    expect(quantizedSimdMemoryBytes()).toBe(PAGE);
    expect(quantizedSimdBytesInUse()).toBe(0);
  });

  it('allocates first fit, reuses exact fits and merged neighbours, grows by what the tail lacks', () => {
    const expectMemory = (size: number, inUse: number) => {
      expect(quantizedSimdMemoryBytes()).toBe(size);
      expect(quantizedSimdBytesInUse()).toBe(inUse);
    };
    // 4,096 bytes of codes at 0, then a page of scratch: the free 61,440 bytes lack 4,096, one page more.
    const a = int8(64, 64);
    use(a);
    expectMemory(2 * PAGE, 4096 + PAGE);
    const [b, c, d] = [int8(32, 64), int8(31, 40), int8(16, 64)];
    for (const q of [b, c, d]) use(q);
    expectMemory(2 * PAGE, 4096 + PAGE + 2048 + 2048 + 1024);
    // The tail's 56,320 bytes, exactly: nothing free is left, and nothing grows.
    const f = int8(1760, 32);
    use(f);
    expectMemory(2 * PAGE, 2 * PAGE);
    // b and c freed: two neighbours, merged into 4,096 bytes that a takes exactly, without growing.
    releaseQuantizedSimd(b);
    releaseQuantizedSimd(c);
    expectMemory(2 * PAGE, 2 * PAGE - 4096);
    const e = int8(64, 64);
    use(e);
    expectMemory(2 * PAGE, 2 * PAGE);
    // d and e freed: 5,120 bytes in the middle; 8,192 do not fit, and the memory's end is in use:
    // one whole page more.
    releaseQuantizedSimd(d);
    releaseQuantizedSimd(e);
    const g = int8(128, 64);
    use(g);
    expectMemory(3 * PAGE, 2 * PAGE - 5120 + 8192);
    // f freed too: 61,440 bytes in the middle, and 57,344 free at the end. 102,400 bytes fit
    // neither: the memory grows by what the free end lacks (45,056 bytes: one page).
    releaseQuantizedSimd(f);
    const h = int8(3200, 32);
    use(h);
    expectMemory(4 * PAGE, 4096 + PAGE + 8192 + 102400);
    // And a kernel of the middle range's 61,440 bytes exactly takes it.
    const k = int8(1920, 32);
    use(k);
    expectMemory(4 * PAGE, 4096 + PAGE + 8192 + 102400 + 61440);
    // Everything freed: only the scratch stays in use.
    for (const q of [a, g, h, k]) releaseQuantizedSimd(q);
    expectMemory(4 * PAGE, PAGE);
  });

  it('keeps one scratch range, replaced by a larger one when a product needs more', () => {
    // int8 [8192, 32]: 8,192 inputs are 16,384 bytes of int16 codes per row (and 128 of sums).
    const q = int8(8192, 32);
    use(q, 3);
    const codes = 8192 * 32;
    expect(quantizedSimdBytesInUse()).toBe(codes + PAGE);
    // Four rows need 66,048 bytes: the old page is freed and two pages taken.
    use(q, 4);
    expect(quantizedSimdBytesInUse()).toBe(codes + 2 * PAGE);
    use(q, 1);
    expect(quantizedSimdBytesInUse()).toBe(codes + 2 * PAGE);
    releaseQuantizedSimd(q);
    expect(quantizedSimdBytesInUse()).toBe(2 * PAGE);
  });
});

// Each case needs just more than a page of scratch (its own rounding takes two), and each writes
// up to the end of what it needs: a product that took less, or wrote past it, would write into the
// kernel packed right after its scratch range.
const SCRATCH_CASES = [
  {
    // int4 groups of 3 rows padded to 4: 4 rows of 8,000 int16 codes (16,000 bytes) and sums
    // (128 bytes), then 12,000 bytes of one row's codes before they are spread: 76,512 bytes.
    label: 'int4 x · W, codes spread over padded groups, 4 rows',
    q: () => seededQuantized(6000, 32, 4, 3),
    product: quantizedSimdProduct,
    n: 4,
  },
  {
    // int4 groups of 4: 128 bytes of x, 128 of x ⊙ s and 4,084 rows of four lanes: 65,600 bytes.
    label: 'int4 x · Wᵀ (dot4), 1 row',
    q: () => seededQuantized(4084, 32, 4, 4),
    product: quantizedSimdProductTransposed,
    n: 1,
  },
  {
    // int8 with 30,000 inputs: 60,000 bytes of codes and 128 of sums, the rest of the page free.
    label: 'int8 x · W, 30,000 inputs, 1 row',
    q: () => seededQuantized(30000, 32, 8),
    product: quantizedSimdProduct,
    n: 1,
  },
] as const;

describe('the scratch range', () => {
  for (const c of SCRATCH_CASES) {
    it(`holds all that a product writes: ${c.label}`, () => {
      const q = c.q();
      const x = varyingInputs(c.n, c.product === quantizedSimdProduct ? q.shape[0] : q.shape[1], 9);
      const y = c.product(q, x, c.n)!;
      // r is packed where the free memory starts: right after the scratch.
      const r = int8(64, 64);
      use(r);
      expect(c.product(q, x, c.n)).toEqual(y);
      use(r);
      releaseQuantizedSimd(q);
      releaseQuantizedSimd(r);
    });
  }
});
