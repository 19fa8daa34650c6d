/**
 * Small-model decode with the library of two checkouts in one process (A/B,
 * issue 20's "no regression on small-model decode"): bench:train's decoding
 * model (tiny-GPT shapes: vocab 64, d 128, 2 layers, 4 heads), cached greedy
 * decoding of 32 tokens after a `context`-token prompt, wasm with each side's
 * own `enableWasmFastKernels()` (enabled before its round and disabled after,
 * so each side runs its own kernels). Rounds alternate A and B (B first on
 * odd rounds); each round's median time between tokens, then the median over
 * rounds. Both checkouts must resolve `@tensorflow/tfjs-core` to the same
 * files (one tfjs engine), as worktrees sharing node_modules do.
 *
 *   npx tsx bench/tiny-decode-ab.ts <checkout A> <checkout B> [context] [rounds]
 *   e.g. npx tsx bench/tiny-decode-ab.ts ../old . 32 6
 */
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';

import { abSides, hostLine, loadAverage } from './host';
import { upperMedian } from './median';

type Library = typeof import('../src/index');

const { sides, rest } = await abSides<Library>(
  'npx tsx bench/tiny-decode-ab.ts <checkout A> <checkout B> [context] [rounds]',
  'src/index.ts',
);
const context = Number(rest[0] ?? 32);
const rounds = Number(rest[1] ?? 6);
await tf.setBackend('wasm');
console.log(`host: ${hostLine()}`);

const prompt = Array.from({ length: context }, (_, i) => (i * 7) % 64);
const perSide = new Map(sides.map(([name]) => [name, [] as number[]]));
for (let round = 0; round < rounds; round++) {
  for (const [name, lib] of round % 2 ? [...sides].reverse() : sides) {
    const config = lib.gpt2Config({
      vocabSize: 64,
      maxLength: 1024,
      dModel: 128,
      numLayers: 2,
      numHeads: 4,
    });
    const params = lib.initDecoderLm(config, 0);
    const model = { kind: 'decoderLm', config, params } as Parameters<Library['generate']>[0];
    lib.enableWasmFastKernels();
    await lib.generate(model, [prompt], { maxNewTokens: 4, temperature: 0 });
    const stamps: number[] = [];
    await lib.generate(model, [prompt], {
      maxNewTokens: 32,
      temperature: 0,
      onToken: () => {
        stamps.push(performance.now());
      },
    });
    lib.disableWasmFastKernels();
    tf.dispose(params as unknown as tf.TensorContainer);
    const ms = upperMedian(stamps.slice(1).map((t, i) => t - stamps[i]!));
    perSide.get(name)!.push(ms);
    console.log(`round ${round + 1} ${name}: ${ms.toFixed(2)} ms/token`);
  }
}
const [a, b] = sides.map(([name]) => upperMedian(perSide.get(name)!)) as [number, number];
console.log(
  `context ${context}: A ${a.toFixed(2)} ms/token, B ${b.toFixed(2)}, B/A ${(b / a).toFixed(2)}; load ${loadAverage()}`,
);
