// Training benchmark: tokens/s of a GPT-2-style model's training step
// (forward + backward + AdamW update) with this library, against the same
// model written with plain tfjs ops and tf.train.adam (bench/baseline-gpt.ts)
// and against PyTorch on the CPU (bench/reference/train_gpt.py), in one run;
// plus the achieved GFLOP/s over the backend's own large-matMul rate, the
// KV-cache inference speed, and a check that training steps leak no tensors.
//
//   npm run bench:train                     (writes docs/benchmarks.md)
//   npm run bench:train -- --no-write --steps 5 --no-cpu --no-large
//
// Flags: --steps N (timed wasm steps, tiny config; default 8), --warmup N (2),
// --large-steps N (3), --cpu-steps N (2), --leak-steps N (1000), --no-cpu,
// --no-large, --no-issue20 (issue 20's d 256 / 4 layers / vocab 512, batch 8 × 128 config),
// --only-issue20, --no-torch, --no-parallel, --workers N (data-parallel workers; default the
// core count, at least 2), --wasm-threads N (this process's wasm rows on tfjs-backend-wasm's
// threaded build with N threads, `useThreadedWasm`; also TFJS_BLOCKS_WASM_THREADS=N; the
// data-parallel workers keep the stock build), --python PATH, --no-write.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import {
  disableWasmFastKernels,
  enableWasmFastKernels,
  flattenParams,
  initDecoderLm,
  useBackend,
} from 'tfjs-blocks';
import { startDataParallel, useThreadedWasm } from 'tfjs-blocks/node';
import { createBaselineGpt } from './baseline-gpt';
import { decodingConfig, timeDecoding, warmUpDecoding } from './decoding';
import type { GptTaskOptions } from './gpt-task';
import { median } from './median';
import { flag, machineLine, reportUnlessDryRun } from './report';
import {
  batchOf,
  configOf,
  createOursTraining,
  describeSizes as describe,
  ISSUE20,
  LARGE,
  type Sizes,
  TINY,
  trainingFlopsPerToken,
} from './training-model';

const argv = process.argv.slice(2);
const has = (name: string) => argv.includes(`--${name}`);
const numberFlag = (name: string, fallback: number): number => Number(flag(name, String(fallback)));
const STEPS = numberFlag('steps', 8);
const WARMUP = numberFlag('warmup', 2);
const LARGE_STEPS = numberFlag('large-steps', 3);
const CPU_STEPS = numberFlag('cpu-steps', 2);
const LEAK_STEPS = numberFlag('leak-steps', 1000);
const WORKERS = numberFlag('workers', Math.max(2, availableParallelism()));
const WASM_THREADS = numberFlag('wasm-threads', Number(process.env.TFJS_BLOCKS_WASM_THREADS ?? 0));
/** The backend column of this process's wasm rows. */
const WASM =
  WASM_THREADS > 0
    ? `wasm (threaded build, ${WASM_THREADS} thread${WASM_THREADS > 1 ? 's' : ''})`
    : 'wasm';

type TrainResult = {
  tokensPerS: number;
  stepMs: number;
  steps: number;
  /** tf.memory().numTensors after each timed step. */
  tensors: number[];
  loss: number;
};

/** Times `step` (after `warmup` untimed calls): median over `steps`. */
async function timeSteps(
  s: Sizes,
  step: () => number | Promise<number>,
  warmup: number,
  steps: number,
): Promise<TrainResult> {
  let loss = Number.NaN;
  for (let i = 0; i < warmup; i++) loss = await step();
  const times: number[] = [];
  const tensors: number[] = [];
  for (let i = 0; i < steps; i++) {
    const start = performance.now();
    loss = await step();
    times.push(performance.now() - start);
    tensors.push(tf.memory().numTensors);
  }
  const stepMs = median(times);
  return { tokensPerS: (s.batch * s.seq * 1000) / stepMs, stepMs, steps, tensors, loss };
}

/** This library: decoderLm + softmaxCrossEntropy + createOptimizer(adamw) (bench/training-model.ts). */
async function trainOurs(s: Sizes, warmup: number, steps: number): Promise<TrainResult> {
  const training = createOursTraining(s);
  try {
    return await timeSteps(s, training.step, warmup, steps);
  } finally {
    training.dispose();
  }
}

/**
 * The same model, loss and optimizer over `workers` worker threads
 * (startDataParallel with bench/gpt-task.ts), each on wasm, on the same
 * global batch: each worker gets batch / workers rows.
 */
async function trainDataParallel(
  s: Sizes,
  workers: number,
  fastKernels: boolean,
  warmup: number,
  steps: number,
): Promise<TrainResult> {
  const taskOptions: GptTaskOptions = { config: configOf(s), fastKernels };
  const trainer = await startDataParallel(new URL('./gpt-task.ts', import.meta.url), {
    workers,
    backend: 'wasm',
    taskOptions,
  });
  const batch = batchOf(s, 1);
  try {
    return await timeSteps(s, () => trainer.step(batch), warmup, steps);
  } finally {
    await trainer.close();
    tf.dispose([batch.ids, batch.targets]);
  }
}

/** The plain-tfjs baseline with tf.train.adam. */
async function trainBaseline(s: Sizes, warmup: number, steps: number): Promise<TrainResult> {
  const model = createBaselineGpt({
    vocabSize: s.vocab,
    seq: s.seq,
    dModel: s.d,
    numHeads: s.heads,
    numLayers: s.layers,
  });
  const { ids, targets } = batchOf(s, 1);
  try {
    return await timeSteps(s, () => model.trainStep(ids, targets), warmup, steps);
  } finally {
    model.dispose();
    tf.dispose([ids, targets]);
  }
}

/** GFLOP/s of an n×n×n 2-D matMul on the current backend. */
function matMulGflops(n: number, reps: number): number {
  const a = tf.randomNormal([n, n]);
  const b = tf.randomNormal([n, n]);
  tf.matMul(a, b).dispose();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const start = performance.now();
    const c = tf.matMul(a, b);
    c.dataSync();
    times.push(performance.now() - start);
    c.dispose();
  }
  tf.dispose([a, b]);
  return (2 * n ** 3) / (median(times) * 1e6);
}

type TorchResult =
  | { threads: number; tokensPerS: number; torch: string; matmulGflops: number }
  | string;

function runTorch(s: Sizes, steps: number): TorchResult {
  if (has('no-torch')) return 'not run (--no-torch)';
  const i = argv.indexOf('--python');
  const candidates = [
    i >= 0 ? argv[i + 1] : undefined,
    process.env.TORCH2_PYTHON,
    '/opt/torch2/bin/python',
    '/usr/bin/python3',
  ].filter((p): p is string => !!p && existsSync(p));
  for (const python of candidates) {
    const probe = spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8' });
    if (probe.status !== 0) continue;
    const args = [
      'bench/reference/train_gpt.py',
      ...Object.entries({
        vocab: s.vocab,
        d: s.d,
        heads: s.heads,
        layers: s.layers,
        seq: s.seq,
        batch: s.batch,
        steps,
        warmup: 2,
      }).flatMap(([k, v]) => [`--${k}`, String(v)]),
    ];
    const run = spawnSync(python, args, { encoding: 'utf8', timeout: 600_000 });
    if (run.status !== 0) return `failed (${python}: ${run.stderr.trim().split('\n').pop()})`;
    const out = JSON.parse(run.stdout.trim().split('\n').pop()!);
    return {
      threads: out.threads,
      tokensPerS: out.tokens_per_s,
      torch: out.torch,
      matmulGflops: out.matmul_gflops,
    };
  }
  return 'not available (no Python with torch found)';
}

/** Prefill tokens/s and decode ms/token (median over new tokens) with the KV cache. */
async function inference(
  context: number,
): Promise<{ prefillTokensPerS: number; decodeMs: number }> {
  const params = initDecoderLm(decodingConfig, 0);
  const model = { kind: 'decoderLm' as const, config: decodingConfig, params };
  await warmUpDecoding(model, context);
  const prefills: number[] = [];
  const steps: number[] = [];
  for (let rep = 0; rep < 3; rep++) {
    const { prefillMs, stepMs } = await timeDecoding(model, context, 16);
    prefills.push(prefillMs);
    steps.push(...stepMs);
  }
  tf.dispose(Object.values(flattenParams(params)));
  return { prefillTokensPerS: (context * 1000) / median(prefills), decodeMs: median(steps) };
}

/** numTensors across many steps of the same training loop, on a small model (fast on wasm). */
async function leakCheck(steps: number): Promise<{ first: number; last: number; max: number }> {
  const s: Sizes = { name: 'leak', vocab: 64, d: 32, heads: 2, layers: 2, seq: 16, batch: 2 };
  const r = await trainOurs(s, 1, steps);
  return {
    first: r.tensors[0]!,
    last: r.tensors[r.tensors.length - 1]!,
    max: Math.max(...r.tensors),
  };
}

// ---------------------------------------------------------------------------------------------
const load = () =>
  existsSync('/proc/loadavg')
    ? readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')
    : 'n/a';
const loadStart = load();
console.log(`load average at start: ${loadStart}`);

type Row = {
  config: Sizes;
  variant: string;
  backend: string;
  r: TrainResult;
  matMul: number;
  /** Threads working on the step (data-parallel workers): the matMul rate available is cores × matMul. */
  cores: number;
};
const rows: Row[] = [];
const torch: Record<string, TorchResult> = {};
const gflops: Record<string, number> = {};
// The load on a shared machine drifts: each row's fraction uses a matMul rate measured just before it.
const measure = async (
  config: Sizes,
  variant: string,
  backend: string,
  run: () => Promise<TrainResult>,
  cores = 1,
): Promise<void> => {
  const matMul = matMulGflops(1024, backend === 'cpu' ? 1 : 3);
  log({ config, variant, backend, r: await run(), matMul, cores });
};
const log = (row: Row) => {
  rows.push(row);
  console.log(
    `${row.config.name} | ${row.variant} | ${row.backend} | ${row.r.tokensPerS.toFixed(0)} tokens/s | ${row.r.stepMs.toFixed(0)} ms/step | matMul ${row.matMul.toFixed(1)} GFLOP/s | tensors ${row.r.tensors.join(',')}`,
  );
};

if (WASM_THREADS > 0) await useThreadedWasm({ threads: WASM_THREADS });
else await useBackend('wasm');
gflops.wasm = matMulGflops(1024, 5);
console.log(`wasm 1024³ matMul: ${gflops.wasm.toFixed(1)} GFLOP/s`);
const configs = [
  TINY,
  ...(has('no-large') ? [] : [LARGE]),
  ...(has('no-issue20') ? [] : [ISSUE20]),
].filter((s) => !has('only-issue20') || s === ISSUE20);
for (const s of configs) {
  const steps = s === TINY ? STEPS : LARGE_STEPS;
  const warmup = s === TINY ? WARMUP : 1;
  disableWasmFastKernels();
  await measure(s, 'baseline (plain tfjs, tf.train.adam)', WASM, () =>
    trainBaseline(s, warmup, steps),
  );
  await measure(s, 'tfjs-blocks', WASM, () => trainOurs(s, warmup, steps));
  enableWasmFastKernels();
  await measure(s, 'tfjs-blocks + enableWasmFastKernels', WASM, () => trainOurs(s, warmup, steps));
  await measure(s, 'baseline + enableWasmFastKernels', WASM, () => trainBaseline(s, warmup, steps));
  disableWasmFastKernels();
  if (!has('no-parallel')) {
    for (const workers of [1, WORKERS]) {
      await measure(
        s,
        `tfjs-blocks + enableWasmFastKernels, startDataParallel ${workers} worker${workers > 1 ? 's' : ''}`,
        'wasm',
        // Each worker's V8 tiers its own copy of the wasm code up over its
        // first ~8 steps (the main thread's is warm already): 10 warm-up steps.
        () => trainDataParallel(s, workers, true, 10, steps),
        workers,
      );
    }
  }
  // PyTorch right after this config's tfjs rows, under a similar load.
  torch[s.name] = runTorch(s, s === TINY ? 20 : 5);
  const t = torch[s.name]!;
  console.log(
    `PyTorch ${s.name}: ${typeof t === 'string' ? t : `${t.tokensPerS.toFixed(0)} tokens/s, ${t.threads} threads`}`,
  );
}

// Inference with the KV cache, stock kernels and fast matMul.
const inferenceRows: string[] = [];
const decode: Record<string, Record<number, number>> = {};
for (const fast of [false, true]) {
  if (fast) enableWasmFastKernels();
  const label = fast ? `${WASM} + enableWasmFastKernels` : WASM;
  decode[label] = {};
  for (const context of [32, 512]) {
    const r = await inference(context);
    decode[label]![context] = r.decodeMs;
    const line = `| ${label} | ${context} | ${r.prefillTokensPerS.toFixed(0)} | ${r.decodeMs.toFixed(2)} |`;
    inferenceRows.push(line);
    console.log(line);
  }
  disableWasmFastKernels();
}

// Leak check: the tfjs-blocks loop, fast matMul on.
enableWasmFastKernels();
const leak = LEAK_STEPS > 0 ? await leakCheck(LEAK_STEPS) : undefined;
disableWasmFastKernels();
if (leak)
  console.log(
    `numTensors over ${LEAK_STEPS} steps: first ${leak.first}, last ${leak.last}, max ${leak.max}`,
  );

if (!has('no-cpu')) {
  await useBackend('cpu');
  gflops.cpu = matMulGflops(1024, 1);
  console.log(`cpu 1024³ matMul: ${gflops.cpu.toFixed(2)} GFLOP/s`);
  await measure(TINY, 'baseline (plain tfjs, tf.train.adam)', 'cpu', () =>
    trainBaseline(TINY, 1, CPU_STEPS),
  );
  await measure(TINY, 'tfjs-blocks', 'cpu', () => trainOurs(TINY, 1, CPU_STEPS));
}

const loadEnd = load();
console.log(`load average at end: ${loadEnd}`);

// ---------------------------------------------------------------------------------------------
const baselineOf = (s: Sizes, backend: string) =>
  rows.find((r) => r.config === s && r.backend === backend && r.variant.startsWith('baseline ('));
const table = rows.map((row) => {
  const base = baselineOf(row.config, row.backend);
  const t = torch[row.config.name];
  const achieved = (row.r.tokensPerS * trainingFlopsPerToken(row.config)) / 1e9;
  const peak = row.matMul * row.cores;
  return `| ${row.config.name} | ${row.variant} | ${row.backend} | ${row.r.tokensPerS.toFixed(0)} | ${base ? (row.r.tokensPerS / base.r.tokensPerS).toFixed(2) : '–'} | ${typeof t === 'object' ? (row.r.tokensPerS / t.tokensPerS).toFixed(3) : '–'} | ${achieved.toFixed(2)} | ${peak.toFixed(1)}${row.cores > 1 ? ` (${row.cores} × ${row.matMul.toFixed(1)})` : ''} | ${((100 * achieved) / peak).toFixed(0)}% | ${row.r.tensors[0]} → ${row.r.tensors[row.r.tensors.length - 1]} |`;
});
const torchLines = configs.map((s) => {
  const t = torch[s.name]!;
  if (typeof t === 'string') return `- PyTorch CPU, ${s.name}: ${t}.`;
  const achieved = (t.tokensPerS * trainingFlopsPerToken(s)) / 1e9;
  return `- PyTorch ${t.torch} CPU, ${s.name}: ${t.tokensPerS.toFixed(0)} tokens/s with ${t.threads} threads (torch.get_num_threads()); ${achieved.toFixed(1)} GFLOP/s, ${((100 * achieved) / t.matmulGflops).toFixed(0)}% of its own 1024³ matMul rate (${t.matmulGflops.toFixed(0)} GFLOP/s).`;
});
const decodeLines = Object.entries(decode).map(
  ([label, d]) => `- ${label}: decode t(512)/t(32) = ${(d[512]! / d[32]!).toFixed(2)}.`,
);

const body = [
  `Training step = forward + backward + optimizer update on a fixed batch of random tokens, GPT-2-style`,
  `model (learned positions, pre-norm LayerNorm, GELU MLP 4d, tied embeddings). Median over the timed`,
  `steps after warm-up: tiny-GPT (${describe(TINY)}) ${STEPS} steps on wasm, ${CPU_STEPS} on cpu;`,
  `larger (${describe(LARGE)}) and issue-20 (${describe(ISSUE20)}) ${LARGE_STEPS} steps. “tfjs-blocks” is \`decoderLm\` +`,
  '`softmaxCrossEntropy` + `createOptimizer(adamw(...))`; the baseline is bench/baseline-gpt.ts (plain tfjs',
  'ops, batched matMul attention, `tf.train.adam`). GFLOP/s counts `modelCost(...).flopsPerToken.training`',
  '(6N plus attention at the full context) per token; “% of matMul” divides it by the same backend’s',
  '1024×1024×1024 2-D matMul rate measured just before that row (the load drifts), times the number of',
  'workers for the data-parallel rows (each worker has a core and a wasm backend of its own; the',
  'tensors column counts the main thread’s, which holds only the batch). PyTorch runs right',
  'after each config’s tfjs rows. Tensors: `tf.memory().numTensors` after the first',
  'and the last timed step.',
  '',
  machineLine('bench:train'),
  `Load average (1/5/15 min) at start ${loadStart}, at end ${loadEnd}: a shared machine, compare ratios.`,
  '',
  `1024³ matMul: ${WASM} ${gflops.wasm!.toFixed(1)} GFLOP/s${gflops.cpu ? `, cpu ${gflops.cpu.toFixed(2)} GFLOP/s` : ''}.`,
  '',
  '| config | variant | backend | tokens/s | × baseline | × PyTorch | GFLOP/s | matMul GFLOP/s | % of matMul | tensors |',
  '|---|---|---|---|---|---|---|---|---|---|',
  ...table,
  '',
  ...torchLines,
  '',
  'Inference with the KV cache (tiny-GPT weights, maxLength 1024, batch 1, greedy): prefill tokens/s is',
  'the prompt’s length over the time to the first token; decode is the median time between tokens.',
  '',
  '| backend | context | prefill tokens/s | decode ms/token |',
  '|---|---|---|---|',
  ...inferenceRows,
  '',
  ...decodeLines,
  '',
  leak
    ? `Leak check: ${LEAK_STEPS} training steps of the tfjs-blocks loop (wasm + enableWasmFastKernels; d 32, 2 layers, seq 16, batch 2): numTensors ${leak.first} after the first step, ${leak.last} after the last, at most ${leak.max}.`
    : 'Leak check not run.',
].join('\n');
reportUnlessDryRun(
  'training',
  'Training: tokens/s against a plain-tfjs baseline and PyTorch',
  body,
);
