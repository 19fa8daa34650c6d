/**
 * The int8 SIMD products of two checkouts in one process (A/B, issue 20):
 * each checkout's `src/nn/quantized-simd.ts` is imported (each instantiates
 * its own kernel module and memory) and the same int8 kernels of GPT-2-small
 * shapes, and its tied head, and int4 kernels (groups of 32 rows) of the same
 * shapes, run through both, alternating A/B and B/A, so a
 * loaded machine slows them alike: read the speed-up column.
 *
 *   npx tsx bench/quantized-simd-ab.ts <checkout A> <checkout B> [reps]
 *   e.g. npx tsx bench/quantized-simd-ab.ts ../main . 40
 */
import type { QuantizedTensor } from '../src/nn/quantized-weights';

import { abSides, hostLine, loadAverage } from './host';
import { upperMedian } from './median';

type Kernels = typeof import('../src/nn/quantized-simd');

const { sides, rest } = await abSides<Kernels>(
  'npx tsx bench/quantized-simd-ab.ts <checkout A> <checkout B> [reps]',
  'src/nn/quantized-simd.ts',
);
const reps = Number(rest[0] ?? 30);
console.log(`host: ${hostLine()}`);

/** Seeded codes (int8 in [-127, 127]; int4 any nibbles, groups of 32 rows) and positive scales. */
function quantized(bits: 8 | 4, rows: number, cols: number, seed: number): QuantizedTensor {
  let s = seed >>> 0;
  const next = () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  if (bits === 4) {
    return {
      format: 'int4',
      shape: [rows, cols],
      values: Uint8Array.from({ length: (rows * cols) / 2 }, () => Math.floor(next() * 256)),
      scales: Float32Array.from({ length: (rows / 32) * cols }, () => 0.001 + next() * 0.01),
      groupSize: 32,
    };
  }
  return {
    format: 'int8',
    shape: [rows, cols],
    values: Int8Array.from({ length: rows * cols }, () => Math.floor(next() * 255) - 127),
    scales: Float32Array.from({ length: cols }, () => 0.001 + next() * 0.01),
    groupSize: rows,
  };
}

const cases: [string, 8 | 4, number, number, boolean][] = [
  ['int8 [1, 768] × [768, 768]', 8, 768, 768, false],
  ['int8 [1, 768] × [768, 3072]', 8, 768, 3072, false],
  ['int8 [1, 3072] × [3072, 768]', 8, 3072, 768, false],
  ['int8 tied head [1, 768] × [50257, 768]ᵀ', 8, 50257, 768, true],
  ['int4 [1, 768] × [768, 768]', 4, 768, 768, false],
  ['int4 [1, 768] × [768, 3072]', 4, 768, 3072, false],
  ['int4 [1, 3072] × [3072, 768]', 4, 3072, 768, false],
];
console.log(`| product | ${sides[0]![0]} ms | ${sides[1]![0]} ms | A / B |`);
console.log('|---|---|---|---|');
for (const [label, bits, rows, cols, transposed] of cases) {
  const q = quantized(bits, rows, cols, rows + cols);
  const x = Float32Array.from({ length: transposed ? cols : rows }, (_, i) => Math.sin(i * 0.37));
  const time = (k: Kernels) => {
    const t0 = performance.now();
    const y = transposed
      ? k.quantizedSimdProductTransposed(q, x, 1)
      : k.quantizedSimdProduct(q, x, 1);
    if (y === null) throw new Error('no WebAssembly SIMD here');
    return performance.now() - t0;
  };
  for (const [, k] of sides) time(k); // packing
  const times = sides.map((): number[] => []);
  // The head takes ~10-60 ms a call: a third as many repeats.
  const n = transposed ? Math.max(5, Math.ceil(reps / 3)) : reps;
  for (let r = 0; r < n; r++) {
    const order = r % 2 === 0 ? [0, 1] : [1, 0];
    for (const i of order) times[i]!.push(time(sides[i]![1]));
  }
  const [a, b] = times.map(upperMedian) as [number, number];
  console.log(`| ${label} | ${a.toFixed(3)} | ${b.toFixed(3)} | ${(a / b).toFixed(2)}× |`);
  for (const [, k] of sides) k.releaseQuantizedSimd(q);
}
console.log(`load average after: ${loadAverage()}`);
