import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { enableWasmFastKernels, generate, gpt2Config, initDecoderLm, useBackend } from './src/index';
await useBackend('wasm');
enableWasmFastKernels();
const config = gpt2Config({ vocabSize: 64, maxLength: 1024, dModel: 128, numLayers: 2, numHeads: 4 });
const model = { kind: 'decoderLm' as const, config, params: initDecoderLm(config, 0) };
const prompt = Array.from({ length: 256 }, (_, i) => (i * 7) % 64);
await generate(model, [prompt], { maxNewTokens: 4, temperature: 0 });
const runs: number[] = [];
for (let r = 0; r < 5; r++) {
  const t0 = performance.now();
  await generate(model, [prompt], { maxNewTokens: 64, temperature: 0 });
  runs.push((performance.now() - t0) / 64);
}
runs.sort((a, b) => a - b);
console.log(`ms/token (64 greedy, prompt 256) runs: ${runs.map((x) => x.toFixed(2)).join(' ')} median ${runs[2]!.toFixed(2)}; tensors ${tf.memory().numTensors}`);
