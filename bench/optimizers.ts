// Optimizer benchmark: one update of a ~10M-parameter model, our adamw
// (a chain of gradient transformations) against tfjs's own tf.train.adam,
// alternating in one run.
//
//   npm run bench:optim                    (wasm and cpu; writes docs/benchmarks.md)
//   npm run bench:optim -- --backends wasm --no-write
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { adamw, createOptimizer } from 'tfjs-blocks';
import { upperMedian } from './median';
import { flag, machineLine, reportUnlessDryRun } from './report';

const backends = flag('backends', 'wasm,cpu').split(',');
const minRuns = Number(flag('repeats', '5'));

// A transformer-like set of tensors: 8 blocks of [1024, 1024] + bias, an embedding.
const SHAPES: Record<string, number[]> = { embedding: [1536, 1024] };
for (let i = 0; i < 8; i++) {
  SHAPES[`block${i}.kernel`] = [1024, 1024];
  SHAPES[`block${i}.bias`] = [1024];
}
const parameterCount = Object.values(SHAPES).reduce((n, s) => n + s.reduce((a, b) => a * b, 1), 0);

/**
 * Waits for the step to finish: on cpu and wasm kernels run synchronously, so
 * reading one element suffices (reading all 10M values would time the copy
 * and the garbage collector rather than the optimizer).
 */
async function sync(vars: tf.Variable[]) {
  const last = vars[vars.length - 1]!;
  const probe = tf.slice(tf.reshape(last, [-1]), [0], [1]);
  await probe.data();
  probe.dispose();
}

async function measure(backend: string) {
  await tf.setBackend(backend);
  const names = Object.keys(SHAPES);
  const make = (seed: number) =>
    Object.fromEntries(
      names.map((n, i) => [
        n,
        tf.variable(tf.randomNormal(SHAPES[n]!, 0, 0.02, 'float32', seed + i)),
      ]),
    );
  const ours = make(1);
  const theirs = make(1);
  const grads = Object.fromEntries(
    names.map((n, i) => [n, tf.randomNormal(SHAPES[n]!, 0, 1e-3, 'float32', 100 + i)]),
  );
  const theirGrads = names.map((n) => ({ name: theirs[n]!.name, tensor: grads[n]! }));
  const ourOptimizer = createOptimizer(adamw({ learningRate: 1e-3, weightDecay: 0.01 }), ours);
  const tfAdam = tf.train.adam(1e-3);
  const runs = { ours: [] as number[], tfjs: [] as number[] };
  const time = async (which: 'ours' | 'tfjs') => {
    const start = performance.now();
    if (which === 'ours') ourOptimizer.step(grads);
    else tfAdam.applyGradients(theirGrads);
    await sync(Object.values(which === 'ours' ? ours : theirs));
    return performance.now() - start;
  };
  await time('ours'); // warm-up: state creation, kernel set-up
  await time('tfjs');
  const started = performance.now();
  while (runs.ours.length < minRuns || performance.now() - started < 10_000) {
    runs.ours.push(await time('ours'));
    runs.tfjs.push(await time('tfjs'));
  }
  const result = {
    backend,
    runs: runs.ours.length,
    ours: upperMedian(runs.ours),
    tfjs: upperMedian(runs.tfjs),
  };
  ourOptimizer.dispose();
  tfAdam.dispose();
  tf.dispose([Object.values(ours), Object.values(theirs), Object.values(grads)]);
  return result;
}

const rows: string[] = [];
for (const backend of backends) {
  const r = await measure(backend);
  const row = `| ${r.backend} | ${r.runs} | ${r.ours.toFixed(1)} | ${r.tfjs.toFixed(1)} | ${(r.ours / r.tfjs).toFixed(2)} |`;
  rows.push(row);
  console.log(row);
}

const body = [
  `One optimizer update of ${(parameterCount / 1e6).toFixed(1)}M float32 parameters (8 × [1024, 1024] + biases,`,
  'an embedding [1536, 1024]), fixed gradients, `tf.Variable`s updated in place. Ours:',
  '`createOptimizer(adamw({ learningRate: 1e-3, weightDecay: 0.01 }), variables).step`',
  '(a chain of scaleByAdam, addDecayedWeights and scaleByLearningRate, so it also decays the weights);',
  'tfjs: `tf.train.adam(1e-3).applyGradients` (no weight decay). Median milliseconds, the two',
  `alternating, after a warm-up each (at least ${minRuns} runs and ~10 s per backend).`,
  '',
  machineLine('bench:optim'),
  '',
  '| backend | runs | ours adamw ms | tf.train.adam ms | ratio |',
  '|---|---|---|---|---|',
  ...rows,
].join('\n');
reportUnlessDryRun('optimizers', 'Optimizers: adamw update vs tf.train.adam', body);
