/**
 * GPT-2-small int8 greedy decode with the library of two checkouts in one
 * process (A/B, issue 20): random weights, tied head, every matrix and both
 * tables in int8 (`quantizeParams(params, { bits: 8, kernelsOnly: false })`,
 * made once and shared: a QuantizedTensor is plain data, and each checkout
 * packs it into its own kernel memory), wasm + `enableWasmFastKernels()`,
 * one thread. Rounds alternate A and B (B first on odd rounds); each round
 * decodes `tokens` tokens after a 16-token prompt, and the per-token times
 * (the first two of each round left out: the prompt and any packing) give
 * the medians. Both checkouts must resolve `@tensorflow/tfjs-core` to the same
 * files (one tfjs engine), as worktrees sharing node_modules do.
 *
 *   npx tsx bench/quantized-decode-ab.ts <checkout A> <checkout B> [tokens] [rounds]
 *   e.g. npx tsx bench/quantized-decode-ab.ts ../main . 8 6
 */
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';

import { abSides, hostLine, loadAverage } from './host';
import { upperMedian } from './median';

type Library = typeof import('../src/index');

const { sides, rest } = await abSides<Library>(
  'npx tsx bench/quantized-decode-ab.ts <checkout A> <checkout B> [tokens] [rounds]',
  'src/index.ts',
);
const tokens = Number(rest[0] ?? 8);
const rounds = Number(rest[1] ?? 6);

await tf.setBackend('wasm');
// Kernel registrations are global: A's fast kernels serve both.
const a = sides[0]![1];
a.enableWasmFastKernels();
console.log(`host: ${hostLine()}`);
const config = a.gpt2Config({
  vocabSize: 50257,
  maxLength: 1024,
  dModel: 768,
  numLayers: 12,
  numHeads: 12,
});
const params = a.initDecoderLm(config, 0);
const q8 = a.quantizeParams(params, { bits: 8, kernelsOnly: false }).params;
const prompt = [Array.from({ length: 16 }, (_, i) => (i * 97) % 50257)];
const times = sides.map((): number[] => []);
const outputs = sides.map((): number[][] => []);
for (let round = 0; round < rounds; round++) {
  const order = round % 2 === 0 ? [0, 1] : [1, 0];
  for (const i of order) {
    const lib = sides[i]![1];
    const model = { kind: 'decoderLm', config, params: q8 } as Parameters<Library['generate']>[0];
    const stamps: number[] = [];
    const ids = await lib.generate(model, prompt, {
      maxNewTokens: tokens + 2,
      temperature: 0,
      onToken: () => stamps.push(performance.now()),
    });
    for (let t = 2; t < stamps.length; t++) times[i]!.push(stamps[t]! - stamps[t - 1]!);
    outputs[i]!.push((ids as number[][])[0]!);
  }
}
const [ta, tb] = times.map(upperMedian) as [number, number];
console.log(
  `| GPT-2 small, int8 (tied head), greedy, batch 1 | ${sides[0]![0]} ms / token | ${sides[1]![0]} ms / token | A / B |`,
);
console.log('|---|---|---|---|');
console.log(
  `| decode (median of ${times[0]!.length} tokens, ${rounds} alternating rounds) | ${ta.toFixed(1)} (${(1000 / ta).toFixed(1)} tokens/s) | ${tb.toFixed(1)} (${(1000 / tb).toFixed(1)} tokens/s) | ${(ta / tb).toFixed(2)}× |`,
);
const same = JSON.stringify(outputs[0]![0]) === JSON.stringify(outputs[1]![0]);
console.log(
  `greedy tokens identical between A and B: ${same}; load average after: ${loadAverage()}`,
);
tf.dispose(params as unknown as tf.TensorContainer);
