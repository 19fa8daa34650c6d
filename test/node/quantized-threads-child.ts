// Spawned by quantized-threads.test.ts: starts the quantized-kernel worker
// threads, runs one split product, prints `product done`, and returns without
// disabling them: the process must still exit (the workers are unref'd).
// Usage: node --import tsx test/node/quantized-threads-child.ts
import { quantizedSimdProduct } from '../../src/nn/quantized-simd';
import type { QuantizedTensor } from '../../src/nn/quantized-weights';
import { enableQuantizedThreads } from '../../src/node/quantized-threads';

const [rows, cols] = [64, 96];
const q: QuantizedTensor = {
  format: 'int8',
  shape: [rows, cols],
  values: new Int8Array(rows * cols).map((_, i) => (i % 255) - 127),
  scales: new Float32Array(cols).fill(0.01),
  groupSize: rows,
};
const threads = await enableQuantizedThreads({ threads: 2, minBytes: 0 });
const y = quantizedSimdProduct(q, new Float32Array(rows).fill(1), 1);
console.log(`product done on ${threads} threads: ${y?.length} values`);
