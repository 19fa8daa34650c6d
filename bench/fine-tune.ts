// Fine-tuning benchmark: peak memory and step time of one training step of a
// GPT-2-style model of ~50M parameters (random weights) on wasm with the fast
// kernels, for full fine-tuning vs LoRA vs LoRA on an int8 base vs LoRA on an
// int4 base, each with and without gradient checkpointing. Each variant runs in
// its own child process, since the wasm heap grows and never shrinks: its peak
// RSS (`process.resourceUsage().maxRSS`) and wasm heap size are that variant's
// alone. Issue 19's targets: LoRA + int8 base ≤ 35% of full fine-tuning's peak
// memory; checkpointing cuts activation memory by ≥ 2× at sequence length 512.
//
//   npm run bench:fine-tune                   (writes docs/benchmarks.md; ~10 min on a quiet 2-core machine)
//   npm run bench:fine-tune -- --no-write --layers 2 --seq 128 --warmup 0
//
// Flags: --steps N (timed steps per variant; default 1), --warmup N (untimed; 1),
// --d N (576), --layers N (12), --heads N (9), --vocab N (8192), --seq N (512),
// --batch N (1), --rank N (LoRA r; 8), --variants a,b (default all; names as in the
// table, e.g. full,lora+int8+ckpt), --timeout S (per variant; 1800), --no-write.
//
// The default model has 52.9M parameters. Its vocabulary is 8,192, not GPT-2's 50,257,
// to keep full fine-tuning at seq 512 well inside the wasm backend's 4 GiB heap: full
// fine-tuning of this model already peaks at ~3.6 GB. (softmaxCrossEntropy itself now
// holds about four [batch, seq, vocab] tensors at its peak, down from 20-41.)
import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import {
  adamw,
  countParameters,
  createOptimizer,
  type DecoderLmConfig,
  type DecoderLmParams,
  decoderLm,
  enableWasmFastKernels,
  flattenParams,
  gpt2Config,
  initDecoderLm,
  initLora,
  loraTensors,
  modelCost,
  paramsToVariables,
  quantizeParams,
  softmaxCrossEntropy,
  useBackend,
  type WithQuantizedKernels,
  withLora,
} from 'tfjs-blocks';
import { commitLine, cpuInfo, loadAverage } from './host';
import { median } from './median';
import { flag, machineLine, reportUnlessDryRun } from './report';

const numberFlag = (name: string, fallback: number): number => Number(flag(name, String(fallback)));
const SIZES = {
  d: numberFlag('d', 576),
  layers: numberFlag('layers', 12),
  heads: numberFlag('heads', 9),
  vocab: numberFlag('vocab', 8192),
  seq: numberFlag('seq', 512),
  batch: numberFlag('batch', 1),
};
const STEPS = numberFlag('steps', 1);
const WARMUP = numberFlag('warmup', 1);
const RANK = numberFlag('rank', 8);
const TIMEOUT_S = numberFlag('timeout', 1800);
const MB = 2 ** 20;

/** What is trained, on what base. */
type Kind = 'full' | 'lora' | 'lora+int8' | 'lora+int4';
const KINDS: Kind[] = ['full', 'lora', 'lora+int8', 'lora+int4'];
type Variant = { kind: Kind; checkpointing: boolean };
const nameOf = (v: Variant) => `${v.kind}${v.checkpointing ? '+ckpt' : ''}`;

/** One variant's measurements, printed by its child process as one JSON line. */
type Result = {
  variant: string;
  /** Parameters of the model / that receive gradients. */
  parameters: number;
  trainable: number;
  /** Median milliseconds of one step (forward, backward, AdamW update). */
  stepMs: number;
  stepsTimed: number;
  /** Peak resident set of the child, MiB. */
  maxRssMiB: number;
  /** The wasm heap at the end (its high-water mark: it never shrinks), MiB. */
  wasmHeapMiB: number;
  /** Tensor bytes held between steps (weights, adapters, optimizer state), MiB. */
  residentMiB: number;
  /** `tf.profile`'s peak tensor bytes during one step above `resident`: activations, gradients, temporaries, MiB. */
  stepPeakMiB: number;
  loss: number;
};

const configOf = (): DecoderLmConfig =>
  gpt2Config({
    vocabSize: SIZES.vocab,
    maxLength: SIZES.seq,
    dModel: SIZES.d,
    numLayers: SIZES.layers,
    numHeads: SIZES.heads,
  });

/** A seeded batch of token ids and next-token targets, `[batch, seq]`. */
function batchOf(seed: number): { ids: tf.Tensor2D; targets: tf.Tensor2D } {
  let a = seed >>> 0;
  const next = () => {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    return a % SIZES.vocab;
  };
  const rows = () =>
    Array.from({ length: SIZES.batch }, () => Array.from({ length: SIZES.seq }, next));
  return {
    ids: tf.tensor2d(rows(), [SIZES.batch, SIZES.seq], 'int32'),
    targets: tf.tensor2d(rows(), [SIZES.batch, SIZES.seq], 'int32'),
  };
}

/** A variant's training step, set up: `step` runs one and returns the loss. */
type Setup = { parameters: number; trainable: number; step: () => tf.Scalar };

/** Full fine-tuning: every parameter a variable, AdamW over all of them. */
function setUpFull(
  config: DecoderLmConfig,
  variant: Variant,
  ids: tf.Tensor2D,
  targets: tf.Tensor2D,
): Setup {
  const init = initDecoderLm(config, 0);
  const { params, variables } = paramsToVariables(init); // shares the init's buffers
  tf.dispose(Object.values(flattenParams(init)));
  const optimizer = createOptimizer(adamw({ learningRate: 1e-4, weightDecay: 0.01 }), variables);
  const parameters = countParameters(params);
  const options = { gradientCheckpointing: variant.checkpointing };
  return {
    parameters,
    trainable: parameters,
    step: () =>
      optimizer.minimize(
        () =>
          softmaxCrossEntropy(
            decoderLm(config, params as DecoderLmParams, ids, options),
            targets,
          ) as tf.Scalar,
        true,
      )!,
  };
}

/** The linears of GPT-2's blocks, by their Hugging Face names: `attn.c_attn`, `attn.c_proj`, `mlp.c_fc`, `mlp.c_proj`. */
const LORA_TARGETS = ['c_attn', 'c_proj', 'c_fc'];

/**
 * LoRA: the base's tensors stay plain (frozen: no gradient is asked for
 * them), the adapter's factors are the only variables. With an int8/int4
 * base (QLoRA), the base's kernels are quantized first (JS typed arrays,
 * dequantized per product) and their float copies freed, and the adapter is
 * made on the quantized base: the order a user follows, so no float kernel
 * is resident when the adapter is made or trained.
 */
function setUpLora(
  config: DecoderLmConfig,
  variant: Variant,
  ids: tf.Tensor2D,
  targets: tf.Tensor2D,
): Setup {
  const float = initDecoderLm(config, 0);
  const parameters = countParameters(float);
  let base: WithQuantizedKernels<DecoderLmParams> = float;
  if (variant.kind !== 'lora') {
    const report = quantizeParams(float, {
      bits: variant.kind === 'lora+int8' ? 8 : 4,
      kernelsOnly: true,
    });
    const floats = flattenParams(float);
    tf.dispose(report.quantized.map((path) => floats[path]!));
    base = report.params;
  }
  const adapter = initLora(
    { kind: 'decoder-lm', modelType: 'gpt2', config, params: base },
    { r: RANK, alpha: 2 * RANK, targetModules: LORA_TARGETS },
    1,
  );
  const { params: trained, variables } = paramsToVariables(adapter);
  tf.dispose(Object.values(loraTensors(adapter)));
  // The variables are updated in place, so the adapted record is built once.
  const adapted = withLora(base, trained);
  const optimizer = createOptimizer(adamw({ learningRate: 1e-4, weightDecay: 0.01 }), variables);
  // With checkpointing, only the adapter's factors are inputs of the recomputed blocks (as fineTune does).
  const options = {
    gradientCheckpointing: variant.checkpointing && {
      trainable: (path: string) => path.endsWith('.lora.a') || path.endsWith('.lora.b'),
    },
  };
  return {
    parameters,
    trainable: countParameters(loraTensors(trained)),
    step: () =>
      optimizer.minimize(
        () => softmaxCrossEntropy(decoderLm(config, adapted, ids, options), targets) as tf.Scalar,
        true,
      )!,
  };
}

function setUp(
  config: DecoderLmConfig,
  variant: Variant,
  ids: tf.Tensor2D,
  targets: tf.Tensor2D,
): Setup {
  return variant.kind === 'full'
    ? setUpFull(config, variant, ids, targets)
    : setUpLora(config, variant, ids, targets);
}

/** The child: one variant, measured, printed as `RESULT {json}`. */
async function runChild(variant: Variant): Promise<void> {
  await useBackend('wasm');
  enableWasmFastKernels();
  const config = configOf();
  const { ids, targets } = batchOf(1);
  const setup = setUp(config, variant, ids, targets);
  const runStep = async (): Promise<number> => {
    const loss = setup.step();
    const value = (await loss.data())[0]!;
    loss.dispose();
    return value;
  };
  let loss = Number.NaN;
  for (let i = 0; i < WARMUP; i++) loss = await runStep();
  const times: number[] = [];
  for (let i = 0; i < STEPS; i++) {
    const start = performance.now();
    loss = await runStep();
    times.push(performance.now() - start);
  }
  // Memory as the plain steps left it: the profiled step below reads every kernel's output
  // back into JS memory (wasm has no kernel timer), which would inflate the RSS.
  const maxRssMiB = (process.resourceUsage().maxRSS * 1024) / MB;
  const backend = tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } };
  const wasmHeapMiB = backend.wasm.HEAPU8.buffer.byteLength / MB;
  // One more step under tf.profile, for its peak of tensor bytes (untimed).
  const resident = tf.memory().numBytes;
  const profile = await tf.profile(async () => {
    loss = await runStep();
  });
  const result: Result = {
    variant: nameOf(variant),
    parameters: setup.parameters,
    trainable: setup.trainable,
    stepMs: median(times),
    stepsTimed: times.length,
    maxRssMiB,
    wasmHeapMiB,
    residentMiB: resident / MB,
    stepPeakMiB: (profile.peakBytes - resident) / MB,
    loss,
  };
  console.log(`RESULT ${JSON.stringify(result)}`);
}

// ---- The parent: machine facts, one child per variant, the table.

/** The CPU's SIMD extensions (from /proc/cpuinfo), and whether this Node's wasm has SIMD. */
function simdLine(): string {
  const simd = cpuInfo().flags.split(' ');
  // A module whose one function returns a v128 constant: valid only where wasm SIMD is.
  const wasmSimd = WebAssembly.validate(
    new Uint8Array([
      0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 22, 1, 20, 0, 253, 12, 0,
      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 11,
    ]),
  );
  return `CPU SIMD: ${simd.join(', ')}; wasm SIMD ${wasmSimd ? 'yes' : 'no'}`;
}
function runVariant(variant: Variant): Result | string {
  const started = performance.now();
  const run = spawnSync(
    process.execPath,
    [...process.execArgv, process.argv[1]!, ...process.argv.slice(2), '--child', nameOf(variant)],
    { encoding: 'utf8', timeout: TIMEOUT_S * 1000, maxBuffer: 64 * MB },
  );
  const line = run.stdout?.split('\n').find((l) => l.startsWith('RESULT '));
  const seconds = ((performance.now() - started) / 1000).toFixed(0);
  if (line) {
    const result = JSON.parse(line.slice('RESULT '.length)) as Result;
    console.log(
      `${result.variant}: step ${(result.stepMs / 1000).toFixed(2)} s, peak RSS ${result.maxRssMiB.toFixed(0)} MiB, ` +
        `wasm heap ${result.wasmHeapMiB.toFixed(0)} MiB, step peak ${result.stepPeakMiB.toFixed(0)} MiB (${seconds} s)`,
    );
    return result;
  }
  const why =
    run.error?.message ??
    (/Error: (.*)/.exec(run.stderr ?? '')?.[1] || `exit ${run.status ?? run.signal}`);
  console.log(`${nameOf(variant)}: not measured: ${why}`);
  return why;
}

async function runParent(): Promise<void> {
  const chosen = flag('variants', '');
  const variants = KINDS.flatMap((kind) =>
    [false, true].map((checkpointing): Variant => ({ kind, checkpointing })),
  ).filter((v) => chosen === '' || chosen.split(',').includes(nameOf(v)));
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const loadStart = loadAverage();
  const commit = `Commit ${commitLine()}`; // before the children run: what was measured
  const parameters = modelCost(configOf()).parameters.total;
  const sizes = `d ${SIZES.d}, ${SIZES.layers} layers, ${SIZES.heads} heads, vocab ${SIZES.vocab}, seq ${SIZES.seq}, batch ${SIZES.batch}`;
  console.log(
    `${cpu}, ${cpus().length} cores; ${simdLine()}; load average ${loadStart}; ${commit}`,
  );
  console.log(
    `GPT-2-style model of ${(parameters / 1e6).toFixed(1)}M parameters: ${sizes}; LoRA r ${RANK}`,
  );

  const results = variants.map((v) => ({ variant: v, result: runVariant(v) }));
  const loadEnd = loadAverage();
  const full = results.find((r) => nameOf(r.variant) === 'full')?.result;
  const fullRss = typeof full === 'object' ? full.maxRssMiB : undefined;
  const rows = results.map(({ variant, result }) => {
    if (typeof result === 'string')
      return `| ${nameOf(variant)} | not measured: ${result.replace(/\|/g, '/')} | | | | | | |`;
    const noCkpt = results.find(
      (r) => r.variant.kind === variant.kind && !r.variant.checkpointing && variant.checkpointing,
    )?.result;
    const activationCut =
      typeof noCkpt === 'object'
        ? ` (${(noCkpt.stepPeakMiB / result.stepPeakMiB).toFixed(2)}× less)`
        : '';
    return [
      '',
      nameOf(variant),
      result.trainable.toLocaleString('en-US'),
      (result.stepMs / 1000).toFixed(2),
      result.maxRssMiB.toFixed(0),
      fullRss ? `${((100 * result.maxRssMiB) / fullRss).toFixed(0)}%` : 'n/a',
      result.wasmHeapMiB.toFixed(0),
      result.residentMiB.toFixed(0),
      `${result.stepPeakMiB.toFixed(0)}${activationCut}`,
      '',
    ]
      .join(' | ')
      .trim();
  });
  const body = [
    `One training step (forward, backward, AdamW update) of a GPT-2-style model of`,
    `${parameters.toLocaleString('en-US')} parameters with random weights (${sizes}), backend`,
    '`wasm` with `enableWasmFastKernels()`. Each variant runs in its own child process (the wasm',
    'heap never shrinks), after a warm-up step; time is the median over the timed steps. *Peak RSS*:',
    "the child's `process.resourceUsage().maxRSS`; *wasm heap*: the heap's size at the end (its",
    'high-water mark); *resident*: tensor bytes held between steps (weights, adapters, optimizer',
    "state); *step peak*: `tf.profile`'s peak tensor bytes during one step above that (activations,",
    `gradients, temporaries). LoRA: r ${RANK} on every linear of the blocks. Targets (issue 19): LoRA +`,
    "int8 base ≤ 35% of full fine-tuning's peak memory; checkpointing cuts the step peak ≥ 2× at seq 512.",
    '',
    machineLine('bench:fine-tune'),
    `${simdLine()}. ${commit}.`,
    `Load average (1/5/15 min) at start ${loadStart}, at end ${loadEnd}: compare ratios within the run.`,
    '',
    '| variant | trainable parameters | step s | peak RSS MiB | of full | wasm heap MiB | resident MiB | step peak MiB |',
    '|---|---|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
  console.log(`\n${body}\n`);
  reportUnlessDryRun(
    'fine-tune',
    'Fine-tuning: full vs LoRA vs quantized base, with and without checkpointing',
    body,
  );
}

const child = flag('child', '');
if (child) {
  const variant = KINDS.flatMap((kind) =>
    [false, true].map((checkpointing): Variant => ({ kind, checkpointing })),
  ).find((v) => nameOf(v) === child);
  if (!variant) throw new Error(`unknown variant '${child}'`);
  await runChild(variant);
} else {
  await runParent();
}
