/**
 * Peak RSS of loadPretrained on a GPT-2-small-shaped checkpoint (124M
 * params, ~500 MB of float32), unsharded and sharded. Writes the folders
 * with random weights (savePretrained), then loads each in a fresh child
 * process that samples `process.memoryUsage().rss` every 10 ms.
 *
 *   npx tsx bench/pretrained-memory.ts [dir]     (default dir: /tmp/tfjs-blocks-gpt2-small)
 *
 * The folders (~1 GB together) are not committed; delete them afterwards.
 */
import '@tensorflow/tfjs-backend-cpu';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { gpt2Config, initDecoderLm, loadPretrained } from 'tfjs-blocks';
import { folderSource, savePretrained } from 'tfjs-blocks/node';

const [mode, dir = '/tmp/tfjs-blocks-gpt2-small'] = process.argv.slice(2);
const MB = 1e6;

async function loadOnce(folder: string): Promise<void> {
  await tf.setBackend(process.env.BACKEND ?? 'cpu');
  let peak = process.memoryUsage().rss;
  const base = peak;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 10);
  const start = performance.now();
  const model = await loadPretrained(folderSource(folder));
  const seconds = (performance.now() - start) / 1000;
  peak = Math.max(peak, process.memoryUsage().rss);
  clearInterval(timer);
  const weights = tf.memory().numBytes;
  console.log(
    JSON.stringify({
      folder,
      backend: tf.getBackend(),
      weightsMB: Math.round(weights / MB),
      rssBeforeMB: Math.round(base / MB),
      peakRssMB: Math.round(peak / MB),
      peakOverBaseMB: Math.round((peak - base) / MB),
      seconds: Number(seconds.toFixed(1)),
      modelType: model.modelType,
    }),
  );
}

async function main(): Promise<void> {
  if (mode === 'load') return loadOnce(dir);
  const config = gpt2Config({
    vocabSize: 50257,
    maxLength: 1024,
    dModel: 768,
    numLayers: 12,
    numHeads: 12,
  });
  const one = join(dir, 'single');
  const sharded = join(dir, 'sharded');
  if (!existsSync(one) || !existsSync(sharded)) {
    await tf.setBackend('cpu');
    const params = initDecoderLm(config, 0);
    const model = { kind: 'decoder-lm' as const, modelType: 'gpt2', config, params };
    await savePretrained(one, model);
    await savePretrained(sharded, model, undefined, { maxShardSize: 100_000_000 });
    tf.dispose(params as unknown as tf.TensorContainer);
  }
  for (const folder of [one, sharded]) {
    execFileSync(process.execPath, [...process.execArgv, process.argv[1]!, 'load', folder], {
      stdio: 'inherit',
    });
  }
}

await main();
