// Soak test: trains the tiny GPT for many steps the way examples/char-gpt.ts
// does (variables + createOptimizer(chain(clipByGlobalNorm(1), adamw(...)))
// with a warmup-cosine schedule), checkpoints every --checkpoint-every steps
// (saveCheckpoint, keepLast 2) and generates every --generate-every steps,
// while recording tf.memory() and the process RSS. It then checks:
//   - numTensors and numBytes after warm-up never move (max deviation 0),
//   - RSS grows by less than --max-rss-growth % from the end of warm-up to
//     the end (default 5; 'none' turns the check off): the median RSS of the
//     plain steps (no checkpoint, no generation: those allocate transient
//     buffers) in the first 10% after warm-up against that of the last 10%,
//   - step time drift (median of the last 10% of plain steps over the first
//     10% after warm-up), in CPU time (process.cpuUsage: other processes on
//     a shared machine barely move it) and in wall time, is reported; the CPU
//     figure fails the run only under --max-time-drift <percent>.
// and exits 1 if a check fails. The last line is `SOAK_REPORT {json}`.
//   npx tsx scripts/soak.ts                       (wasm, 1,000 steps, a few minutes)
//   npx tsx scripts/soak.ts --backend cpu --steps 60 --checkpoint-every 20 --generate-every 30 --warmup 10
// Model: vocab 64, dModel 128, 4 heads, 2 layers, context 32; batch 4; data:
// a seeded synthetic stream (affine sequences mod 64), so the loss falls.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import {
  countParameters,
  createOptimizer,
  decoderLm,
  flattenParams,
  generate,
  gpt2Config,
  initDecoderLm,
  paramsToVariables,
  seededRandom,
  softmaxCrossEntropy,
} from 'tfjs-blocks';
import { saveCheckpoint } from 'tfjs-blocks/node';
import { startBackend } from '../examples/cli';
import { namesGptOptimizer } from '../examples/names-gpt';

const { values: flags } = parseArgs({
  options: {
    steps: { type: 'string', default: '1000' },
    batch: { type: 'string', default: '4' },
    'checkpoint-every': { type: 'string', default: '100' },
    'generate-every': { type: 'string', default: '250' },
    'record-every': { type: 'string', default: '1' },
    warmup: { type: 'string' },
    out: { type: 'string' },
    'max-rss-growth': { type: 'string', default: '5' },
    'max-time-drift': { type: 'string', default: 'none' },
    seed: { type: 'string', default: '0' },
    backend: { type: 'string', default: 'wasm' },
  },
  strict: true,
});
const positive = (name: string, text: unknown): number => {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1)
    throw new Error(`--${name}: a positive integer, got ${text}`);
  return n;
};
const limit = (name: string, text: unknown): number | undefined => {
  if (text === 'none') return undefined;
  const n = Number(text);
  if (!(n >= 0)) throw new Error(`--${name}: a percentage or 'none', got ${text}`);
  return n;
};
const STEPS = positive('steps', flags.steps);
const BATCH = positive('batch', flags.batch);
const CHECKPOINT_EVERY = positive('checkpoint-every', flags['checkpoint-every']);
const GENERATE_EVERY = positive('generate-every', flags['generate-every']);
const RECORD_EVERY = positive('record-every', flags['record-every']);
// Warm-up: tfjs and the wasm heap settle within a few steps; the first
// checkpoint and generation also allocate once. Default: 100 steps or 10%.
const WARMUP =
  flags.warmup === undefined ? Math.min(100, Math.ceil(STEPS / 10)) : Number(flags.warmup);
if (!Number.isSafeInteger(WARMUP) || WARMUP < 1 || WARMUP >= STEPS)
  throw new Error(`--warmup: an integer in [1, steps), got ${flags.warmup}`);
const MAX_RSS_GROWTH = limit('max-rss-growth', flags['max-rss-growth']);
const MAX_TIME_DRIFT = limit('max-time-drift', flags['max-time-drift']);
const SEED = Number(flags.seed);
const ownOut = flags.out === undefined;
const OUT = ownOut ? mkdtempSync(join(tmpdir(), 'tfjs-blocks-soak-')) : resolve(String(flags.out));
const CHECKPOINTS = join(OUT, 'checkpoints');

const backend = await startBackend({ backend: flags.backend as string });

// ---- Model and optimizer, as in examples/char-gpt.ts.
const VOCAB = 64;
const T = 32;
const config = gpt2Config({
  vocabSize: VOCAB,
  maxLength: T,
  dModel: 128,
  numLayers: 2,
  numHeads: 4,
});
const init = initDecoderLm(config, SEED);
const { params, variables } = paramsToVariables(init);
tf.dispose(Object.values(flattenParams(init)));
const optimizer = createOptimizer(namesGptOptimizer(STEPS), variables);

const rand = seededRandom(SEED + 17);
/** Rows of `x_{t+1} = (a · x_t + b) mod 64`, a ∈ {1, 3, 5}, b ∈ {1, 2}: learnable from context. */
function batch(): { x: tf.Tensor2D; y: tf.Tensor2D } {
  const xs: number[] = [];
  const ys: number[] = [];
  for (let r = 0; r < BATCH; r++) {
    const a = [1, 3, 5][Math.floor(rand() * 3)]!;
    const b = 1 + Math.floor(rand() * 2);
    let v = Math.floor(rand() * VOCAB);
    const row = [v];
    for (let i = 0; i < T; i++) {
      v = (a * v + b) % VOCAB;
      row.push(v);
    }
    xs.push(...row.slice(0, T));
    ys.push(...row.slice(1));
  }
  return { x: tf.tensor2d(xs, [BATCH, T], 'int32'), y: tf.tensor2d(ys, [BATCH, T], 'int32') };
}

/** Sum of every parameter, in float64: the parent of a killed soak compares a checkpoint with it. */
function paramsChecksum(): number {
  let sum = 0;
  for (const name of Object.keys(variables).sort()) {
    for (const v of variables[name]!.dataSync()) sum += v;
  }
  return sum;
}

// ---- The loop.
type Sample = {
  step: number;
  plain: boolean;
  numTensors: number;
  numBytes: number;
  rss: number;
  heap: number;
};
const samples: Sample[] = [];
const stepMs: Array<{ step: number; ms: number; cpuMs: number; plain: boolean }> = [];
const losses: Array<[number, number]> = [];
const record = (step: number, plain: boolean) => {
  const m = tf.memory();
  const mem = process.memoryUsage();
  samples.push({
    step,
    plain,
    numTensors: m.numTensors,
    numBytes: m.numBytes,
    rss: mem.rss,
    heap: mem.heapUsed,
  });
};
console.log(
  `soak on ${backend}: ${countParameters(params).toLocaleString('en-US')} parameters, ` +
    `${STEPS} steps of batch ${BATCH} x ${T}, checkpoint every ${CHECKPOINT_EVERY} ` +
    `(keepLast 2, in ${CHECKPOINTS}), generation every ${GENERATE_EVERY}, warm-up ${WARMUP}`,
);
record(0, false);
const started = performance.now();
for (let step = 1; step <= STEPS; step++) {
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const { x, y } = batch();
  const loss = optimizer.minimize(
    () => softmaxCrossEntropy(decoderLm(config, params, x), y) as tf.Scalar,
    true,
  )!;
  const value = loss.dataSync()[0]!;
  tf.dispose([loss, x, y]);
  if (!Number.isFinite(value)) throw new Error(`step ${step}: loss ${value}`);
  let plain = true;
  if (step % GENERATE_EVERY === 0) {
    plain = false;
    const rows = await generate({ kind: 'decoderLm', config, params }, [[1, 2, 3]], {
      maxNewTokens: 8,
      temperature: 0.8,
      seed: step,
    });
    console.log(`step ${step}: generated ${rows[0]!.join(' ')}`);
  }
  if (step % CHECKPOINT_EVERY === 0) {
    plain = false;
    // Printed before the save: a parent that kills us mid-save knows what each step held.
    console.log(`checkpointing step ${step} checksum ${paramsChecksum()}`);
    await saveCheckpoint(
      CHECKPOINTS,
      { params, optimizerState: optimizer.state, step, metadata: { config, seed: SEED } },
      { keepLast: 2 },
    );
    console.log(`checkpoint step ${step} saved`);
  }
  const cpu = process.cpuUsage(cpu0);
  stepMs.push({ step, ms: performance.now() - t0, cpuMs: (cpu.user + cpu.system) / 1000, plain });
  if (step % 10 === 0 || step === 1 || step === STEPS) losses.push([step, value]);
  if (step % RECORD_EVERY === 0 || step === WARMUP || step === STEPS) record(step, plain);
  if (step % 100 === 0) {
    const s = samples.at(-1)!;
    console.log(
      `step ${step}: loss ${value.toFixed(3)}, ${s.numTensors} tensors, ${s.numBytes} bytes, ` +
        `rss ${(s.rss / 2 ** 20).toFixed(1)} MiB, ${((performance.now() - started) / step).toFixed(0)} ms/step`,
    );
  }
}
const seconds = (performance.now() - started) / 1000;

// ---- The figures.
const after = samples.filter((s) => s.step >= WARMUP);
const base = after[0]!;
const deviation = (key: 'numTensors' | 'numBytes') =>
  Math.max(...after.map((s) => Math.abs(s[key] - base[key])));
const end = samples.at(-1)!;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : (s[(s.length - 1) >> 1]! + s[s.length >> 1]!) / 2;
};
const plainRss = after.filter((s) => s.plain && s.step > WARMUP).map((s) => s.rss);
const rssWindow = Math.max(1, Math.floor(plainRss.length / 10));
const rssEarly = median(plainRss.slice(0, rssWindow));
const rssLate = median(plainRss.slice(-rssWindow));
const rssGrowth = (100 * (rssLate - rssEarly)) / rssEarly;
const plainAfter = stepMs.filter((s) => s.plain && s.step > WARMUP);
const window = Math.max(1, Math.floor(plainAfter.length / 10));
const drift = (key: 'ms' | 'cpuMs') => {
  const early = median(plainAfter.slice(0, window).map((s) => s[key]));
  const late = median(plainAfter.slice(-window).map((s) => s[key]));
  return { early, late, percent: (100 * (late - early)) / early };
};
const wall = drift('ms');
const cpuTime = drift('cpuMs');
const timeDrift = cpuTime.percent;
const report = {
  backend,
  steps: STEPS,
  batch: BATCH,
  warmup: WARMUP,
  seconds: Number(seconds.toFixed(1)),
  lossFirst: losses[0]![1],
  lossLast: losses.at(-1)![1],
  numTensors: {
    warmup: base.numTensors,
    end: end.numTensors,
    maxDeviation: deviation('numTensors'),
  },
  numBytes: { warmup: base.numBytes, end: end.numBytes, maxDeviation: deviation('numBytes') },
  rss: {
    start: samples[0]!.rss,
    atWarmup: base.rss,
    end: end.rss,
    max: Math.max(...after.map((s) => s.rss)),
    medianFirst10Percent: rssEarly,
    medianLast10Percent: rssLate,
    growthPercent: Number(rssGrowth.toFixed(2)),
  },
  heapUsed: { warmup: base.heap, end: end.heap },
  stepCpuMs: {
    medianFirst10Percent: Number(cpuTime.early.toFixed(1)),
    medianLast10Percent: Number(cpuTime.late.toFixed(1)),
    driftPercent: Number(cpuTime.percent.toFixed(1)),
  },
  stepMs: {
    medianFirst10Percent: Number(wall.early.toFixed(1)),
    medianLast10Percent: Number(wall.late.toFixed(1)),
    driftPercent: Number(wall.percent.toFixed(1)),
    meanAll: Number(((seconds * 1000) / STEPS).toFixed(1)),
  },
  failures: [] as string[],
};
if (report.numTensors.maxDeviation !== 0)
  report.failures.push(`numTensors moved by up to ${report.numTensors.maxDeviation} after warm-up`);
if (report.numBytes.maxDeviation !== 0)
  report.failures.push(`numBytes moved by up to ${report.numBytes.maxDeviation} after warm-up`);
if (MAX_RSS_GROWTH !== undefined && !(rssGrowth < MAX_RSS_GROWTH))
  report.failures.push(`RSS grew ${rssGrowth.toFixed(2)}% (limit ${MAX_RSS_GROWTH}%)`);
if (MAX_TIME_DRIFT !== undefined && !(timeDrift < MAX_TIME_DRIFT))
  report.failures.push(`step CPU time drifted ${timeDrift.toFixed(1)}% (limit ${MAX_TIME_DRIFT}%)`);

const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
console.log(
  `\n${STEPS} steps in ${seconds.toFixed(0)} s on ${backend}; loss ${report.lossFirst.toFixed(3)} -> ${report.lossLast.toFixed(3)}`,
);
console.log(
  `tensors after warm-up (step ${WARMUP}): ${base.numTensors}, max deviation ${report.numTensors.maxDeviation}; ` +
    `bytes ${base.numBytes}, max deviation ${report.numBytes.maxDeviation}`,
);
console.log(
  `RSS (plain steps, median): ${mib(rssEarly)} first 10% after warm-up, ${mib(rssLate)} last 10% ` +
    `(growth ${rssGrowth.toFixed(2)}%); start ${mib(report.rss.start)}, step ${WARMUP} ${mib(base.rss)}, ` +
    `end ${mib(end.rss)}, max ${mib(report.rss.max)}`,
);
console.log(
  `step time (plain steps, median): CPU ${cpuTime.early.toFixed(0)} ms first 10% after warm-up, ` +
    `${cpuTime.late.toFixed(0)} ms last 10% (drift ${cpuTime.percent.toFixed(1)}%); wall ` +
    `${wall.early.toFixed(0)} -> ${wall.late.toFixed(0)} ms (drift ${wall.percent.toFixed(1)}%)`,
);
console.log(report.failures.length ? `FAILED: ${report.failures.join('; ')}` : 'all targets met');
console.log(`SOAK_REPORT ${JSON.stringify(report)}`);

optimizer.dispose();
if (ownOut) rmSync(OUT, { recursive: true, force: true });
process.exitCode = report.failures.length ? 1 : 0;
