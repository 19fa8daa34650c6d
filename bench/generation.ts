// Generation benchmark: ms per generated token with and without the KV
// cache, at growing context, on a tiny decoder-only model, in one run.
//
//   npm run bench:generate                 (wasm; writes docs/benchmarks.md)
//   npm run bench:generate -- --backend cpu --no-write
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { type GenerationModel, initDecoderLm } from 'tfjs-blocks';
import { decodingConfig, timeDecoding, warmUpDecoding } from './decoding';
import { flag, machineLine, reportUnlessDryRun } from './report';

const backend = flag('backend', 'wasm');
const contexts = flag('contexts', '32,128,256,512').split(',').map(Number);
const newTokens = Number(flag('tokens', '16'));
await tf.setBackend(backend);

const model: GenerationModel = {
  kind: 'decoderLm',
  config: decodingConfig,
  params: initDecoderLm(decodingConfig, 0),
};

async function msPerToken(context: number, useCache: boolean): Promise<number> {
  // The prompt's prefill is timed apart: t(step) is what one more token costs.
  await warmUpDecoding(model, context, useCache);
  const steps = (await timeDecoding(model, context, newTokens, useCache)).stepMs;
  steps.sort((a, b) => a - b);
  return steps[Math.floor(steps.length / 2)]!;
}

const rows: string[] = [];
const cached: Record<number, number> = {};
for (const context of contexts) {
  const withCache = await msPerToken(context, true);
  const without = await msPerToken(context, false);
  cached[context] = withCache;
  const row = `| ${context} | ${withCache.toFixed(2)} | ${without.toFixed(2)} | ${(without / withCache).toFixed(1)} |`;
  rows.push(row);
  console.log(row);
}
const first = contexts[0]!;
const last = contexts[contexts.length - 1]!;
const growth = `With the cache, t(${last}) / t(${first}) = ${(cached[last]! / cached[first]!).toFixed(2)}.`;
console.log(growth);

const body = [
  `Greedy decoding of a tiny GPT-2-style model (vocab 64, d 128, 4 heads, 2 layers), backend`,
  `\`${tf.getBackend()}\`, batch 1: the median time between consecutive tokens over ${newTokens} new tokens`,
  '(the prompt’s prefill excluded), after a warm-up, with and without the key/value cache.',
  '',
  machineLine('bench:generate'),
  '',
  '| context | ms/token, cache | ms/token, recomputation | speed-up |',
  '|---|---|---|---|',
  ...rows,
  '',
  growth,
].join('\n');
reportUnlessDryRun('generation', 'Generation: ms per token with and without the KV cache', body);
