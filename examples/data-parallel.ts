// Data-parallel training over worker threads: the demo's character-level GPT
// on first names, each batch split over `--workers` threads (each with its
// own wasm backend), gradients averaged in shared memory. Prints the loss and
// tokens/s as it goes, saves a checkpoint of the run (parameters and
// optimizer state), and checks that the held-out loss fell.
//   npm run example:data-parallel                       (2 workers on 2 cores: about 1 min)
//   npm run example:data-parallel -- --workers 1        (the same run in one worker, to compare)
//   npm run example:data-parallel -- --backend cpu --steps 20 --batch 8 --out runs/data-parallel
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import {
  type BackendName,
  type DecoderLmParams,
  decoderLm,
  flattenParams,
  initDecoderLm,
  seededRandom,
  softmaxCrossEntropy,
  unflattenParams,
} from 'tfjs-blocks';
import { saveCheckpoint, startDataParallel } from 'tfjs-blocks/node';
import { fail, readFlags, startBackend } from './cli';
import { cpuSeconds, secondsSince } from './data-common';
import type { NamesTaskOptions } from './data-parallel-task';
import { evenStarts, loadNames, randomStarts, windows } from './names-data';
import { namesGptConfig, TIME } from './names-gpt';

const flags = readFlags({
  command: 'npm run example:data-parallel --',
  about:
    "The demo's GPT trained over worker threads with startDataParallel, checkpointed with its\n" +
    'optimizer state; exits non-zero unless the held-out loss fell.',
  flags: {
    workers: { default: Math.max(2, availableParallelism()), help: 'worker threads' },
    steps: { default: 300, help: 'training steps' },
    batch: { default: 64, help: 'windows per step, split over the workers' },
    out: { default: 'runs/data-parallel', help: 'checkpoint folder' },
    seed: { default: 0, help: 'seed of the data split and the init' },
  },
});
const WORKERS = flags.workers;
const STEPS = flags.steps;
const BATCH = flags.batch;
const SEED = flags.seed;
const OUT = resolve(flags.out);

// Workers run on the backend of `--backend` (default wasm), as the main thread does.
const backend = await startBackend(flags);
const rand = seededRandom(SEED);
const { trainIds, heldOutIds } = loadNames(rand);
const heldOutBatch = windows(heldOutIds, evenStarts(heldOutIds, 64, TIME), TIME);
const template = initDecoderLm(namesGptConfig, SEED);
const heldOutLoss = (params: DecoderLmParams) =>
  tf.tidy(
    () =>
      softmaxCrossEntropy(
        decoderLm(namesGptConfig, params, heldOutBatch.x),
        heldOutBatch.y,
      ).dataSync()[0]!,
  );
const before = heldOutLoss(template);

const started = performance.now();
const taskOptions: NamesTaskOptions = { steps: STEPS, seed: SEED, fastKernels: backend === 'wasm' };
const trainer = await startDataParallel(new URL('./data-parallel-task.ts', import.meta.url), {
  workers: WORKERS,
  backend: backend as BackendName,
  taskOptions,
});
console.log(
  `${WORKERS} worker${WORKERS > 1 ? 's' : ''} started in ${secondsSince(started)} s; ` +
    `${STEPS} steps of ${BATCH} windows of ${TIME} characters (${Math.ceil(BATCH / WORKERS)} per worker)`,
);

const report = Math.max(1, Math.floor(STEPS / 6));
let windowStart = performance.now();
let tokens = 0;
const trainStart = performance.now();
for (let step = 1; step <= STEPS; step++) {
  const { x, y } = windows(trainIds, randomStarts(trainIds, BATCH, TIME, rand), TIME);
  const loss = await trainer.step({ ids: x, targets: y });
  tf.dispose([x, y]);
  tokens += BATCH * TIME;
  if (step % report === 0 || step === STEPS) {
    const rate = tokens / ((performance.now() - windowStart) / 1000);
    console.log(`step ${step}: loss ${loss.toFixed(3)}, ${rate.toFixed(0)} tokens/s`);
    windowStart = performance.now();
    tokens = 0;
  }
}
const trainSeconds = (performance.now() - trainStart) / 1000;

const saved = await trainer.checkpoint();
const directory = await saveCheckpoint(OUT, saved, { keepLast: 1 });
await trainer.close();
const trained = unflattenParams(template, saved.params) as DecoderLmParams;
const after = heldOutLoss(trained);
tf.dispose([
  ...Object.values(saved.params),
  ...Object.values(flattenParams(template)),
  heldOutBatch.x,
  heldOutBatch.y,
]);
console.log(
  `\ntrained ${STEPS} steps in ${trainSeconds.toFixed(1)} s on ${WORKERS} ${backend} worker${WORKERS > 1 ? 's' : ''} ` +
    `(${((STEPS * BATCH * TIME) / trainSeconds).toFixed(0)} tokens/s; ${cpuSeconds()} s CPU in the main thread and workers)`,
);
console.log(`held-out loss ${before.toFixed(3)} -> ${after.toFixed(3)} nats/char`);
console.log(`checkpoint (parameters and optimizer state) in ${directory}`);
if (!(after < before - 0.05)) fail('training did not lower the held-out loss by 0.05');
