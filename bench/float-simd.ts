/**
 * The float32 few-row SIMD kernels of the wasm fast kernels (issue 20):
 * per-product times of decode-shaped products, XNNPACK (as before) against
 * the kernel reading the weights in place; GPT-2-small-shaped decode speed
 * and resident memory, before and after, one child process per variant; the
 * cost of packing per call (instead of XNNPACK's per-tensor cache) for a
 * 256-token prefill and a training step.
 *
 *   npx tsx bench/float-simd.ts products [reps]   per-product medians, variants alternating
 *   npx tsx bench/float-simd.ts model [tokens]     GPT-2 small: ms/token and RSS, before vs after
 *   npx tsx bench/float-simd.ts decode [tokens]    GPT-2 small ms/token, kernels on/off alternating in one process
 *   npx tsx bench/float-simd.ts packing [reps]     prefill and training step: cached vs per-call packing
 *
 * The machine may be loaded by other jobs: read the ratios within a row.
 */
import '@tensorflow/tfjs-backend-wasm';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import {
  decoderLm,
  enableWasmFastKernels,
  flattenParams,
  generate,
  gpt2Config,
  initDecoderLm,
} from 'tfjs-blocks';
import { softmaxCrossEntropy } from '../src/losses/softmax-cross-entropy';
import { setFloatSimdEnabled } from '../src/perf/float-simd';
import { setPackPerCallFromRows } from '../src/perf/wasm-fast-kernels';
import { unflattenParams } from '../src/tree/flatten';
import { hostLine, loadAverage } from './host';
import { upperMedian } from './median';

const [mode = 'products', arg, variantArg] = process.argv.slice(2);

function time(f: () => tf.Tensor): number {
  const t0 = performance.now();
  const y = f();
  y.dataSync();
  const ms = performance.now() - t0;
  y.dispose();
  return ms;
}

async function products(reps: number): Promise<void> {
  await tf.setBackend('wasm');
  enableWasmFastKernels();
  console.log(`host: ${hostLine()}`);
  // [label, rows, k, n, transposeB]
  const shapes: Array<[string, number, number, number, boolean]> = [
    ['[1, 768] × [768, 768]', 1, 768, 768, false],
    ['[1, 768] × [768, 2304]', 1, 768, 2304, false],
    ['[1, 768] × [768, 3072]', 1, 768, 3072, false],
    ['[1, 3072] × [3072, 768]', 1, 3072, 768, false],
    ['[4, 768] × [768, 3072]', 4, 768, 3072, false],
    ['[1, 768] × [50257, 768]ᵀ (tied head)', 1, 768, 50257, true],
    ['[4, 768] × [50257, 768]ᵀ', 4, 768, 50257, true],
  ];
  console.log('| product | XNNPACK ms | SIMD kernel ms | kernel / XNNPACK |');
  console.log('|---|---|---|---|');
  for (const [label, m, k, n, transposeB] of shapes) {
    const x = tf.randomNormal([m, k]);
    const w = tf.randomNormal(transposeB ? [n, k] : [k, n]);
    const run = () => tf.matMul(x, w, false, transposeB);
    const times: [number[], number[]] = [[], []];
    for (let r = 0; r < reps + 1; r++) {
      for (const on of [false, true]) {
        setFloatSimdEnabled(on);
        const ms = time(run);
        if (r > 0) times[on ? 1 : 0].push(ms);
      }
    }
    const [before, after] = [upperMedian(times[0]), upperMedian(times[1])];
    console.log(
      `| ${label} | ${before.toFixed(3)} | ${after.toFixed(3)} | ${(after / before).toFixed(2)}× |`,
    );
    tf.dispose([x, w]);
  }
  setFloatSimdEnabled(true);
}

const MB = 1e6;

/** One variant in this process: load, decode `tokens`, prefill 256; prints a JSON line. */
async function modelChild(tokens: number, variant: string): Promise<void> {
  await tf.setBackend('wasm');
  enableWasmFastKernels();
  if (variant === 'before') {
    setFloatSimdEnabled(false);
    setPackPerCallFromRows(Number.POSITIVE_INFINITY);
  }
  const config = gpt2Config({
    vocabSize: 50257,
    maxLength: 1024,
    dModel: 768,
    numLayers: 12,
    numHeads: 12,
  });
  const params = initDecoderLm(config, 1);
  const weightBytes = Object.values(flattenParams(params)).reduce((s, t) => s + t.size * 4, 0);
  const rssLoaded = process.memoryUsage().rss;
  const model = { kind: 'decoderLm', config, params } as Parameters<typeof generate>[0];
  const prompt = [Array.from({ length: 32 }, (_, i) => (i * 37) % 50257)];
  const stamps: number[] = [];
  await generate(model, prompt, {
    maxNewTokens: tokens + 1,
    temperature: 0,
    onToken: () => stamps.push(performance.now()),
  });
  // The first token includes the prompt's prefill: median of the others.
  const steps = stamps.slice(1).map((t, i) => t - stamps[i]!);
  const msPerToken = upperMedian(steps);
  const rssDecoded = process.memoryUsage().rss;
  const long = tf.tensor2d(
    [Array.from({ length: 256 }, (_, i) => (i * 101) % 50257)],
    undefined,
    'int32',
  );
  const t1 = performance.now();
  const logits = decoderLm(config, params, long);
  await logits.data();
  const prefillMs = performance.now() - t1;
  tf.dispose([logits, long]);
  const rssEnd = process.memoryUsage().rss;
  console.log(
    JSON.stringify({
      variant,
      weightMB: weightBytes / MB,
      msPerToken,
      prefillMs,
      rssLoadedMB: rssLoaded / MB,
      rssDecodedMB: rssDecoded / MB,
      rssEndMB: rssEnd / MB,
      wasmHeapMB:
        (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.buffer
          .byteLength / MB,
    }),
  );
}

function model(tokens: number): void {
  console.log(`host: ${hostLine()}`);
  const script = fileURLToPath(import.meta.url);
  const rows: string[] = [];
  for (const round of [1, 2]) {
    for (const variant of round === 1 ? ['before', 'after'] : ['after', 'before']) {
      const run = spawnSync('npx', ['tsx', script, 'model-child', String(tokens), variant], {
        encoding: 'utf8',
      });
      const line = run.stdout.trim().split('\n').pop() ?? '';
      if (run.status !== 0) console.error(run.stderr);
      rows.push(line);
      console.log(line);
    }
  }
  console.log(`load average at the end: ${loadAverage()}`);
}

/** Greedy decode ms/token in one process, the float kernels on and off in alternating rounds. */
async function decode(tokens: number): Promise<void> {
  await tf.setBackend('wasm');
  enableWasmFastKernels();
  console.log(`host: ${hostLine()}`);
  const config = gpt2Config({
    vocabSize: 50257,
    maxLength: 1024,
    dModel: 768,
    numLayers: 12,
    numHeads: 12,
  });
  const params = initDecoderLm(config, 1);
  const model = { kind: 'decoderLm', config, params } as Parameters<typeof generate>[0];
  const prompt = [Array.from({ length: 32 }, (_, i) => (i * 37) % 50257)];
  const steps: [number[], number[]] = [[], []];
  for (let round = 0; round < 2 * (tokens / 4) + 2; round++) {
    const on = round % 2 === 1;
    setFloatSimdEnabled(on);
    const stamps: number[] = [];
    await generate(model, prompt, {
      maxNewTokens: 5,
      temperature: 0,
      onToken: () => stamps.push(performance.now()),
    });
    // Round 0 and 1 warm up; the first token of each round includes the prompt.
    if (round >= 2) steps[on ? 1 : 0].push(...stamps.slice(1).map((t, i) => t - stamps[i]!));
  }
  setFloatSimdEnabled(true);
  const [off, on] = [upperMedian(steps[0]), upperMedian(steps[1])];
  console.log(
    `median ms/token over ${steps[0].length} tokens each: XNNPACK ${off.toFixed(1)}, SIMD kernels ${on.toFixed(1)} (${(on / off).toFixed(2)}×); load average ${loadAverage()}`,
  );
}

/** Prefill of 256 tokens (GPT-2 small) and a training step (bench/training.ts tiny config), cached vs per-call packing. */
async function packing(reps: number): Promise<void> {
  await tf.setBackend('wasm');
  enableWasmFastKernels();
  console.log(`host: ${hostLine()}`);
  const big = gpt2Config({
    vocabSize: 50257,
    maxLength: 1024,
    dModel: 768,
    numLayers: 12,
    numHeads: 12,
  });
  const bigParams = initDecoderLm(big, 1);
  const long = tf.tensor2d(
    [Array.from({ length: 256 }, (_, i) => (i * 101) % 50257)],
    undefined,
    'int32',
  );
  const tiny = gpt2Config({
    vocabSize: 64,
    maxLength: 128,
    dModel: 128,
    numLayers: 2,
    numHeads: 4,
  });
  const template = initDecoderLm(tiny, 2);
  const flat = flattenParams(template);
  const names = Object.keys(flat);
  const ids = tf.tensor2d(
    Array.from({ length: 8 }, (_, r) => Array.from({ length: 128 }, (_, i) => (i * 5 + r) % 64)),
    undefined,
    'int32',
  );
  const targets = tf.tensor2d(
    Array.from({ length: 8 }, (_, r) => Array.from({ length: 128 }, (_, i) => (i * 3 + r) % 64)),
    undefined,
    'int32',
  );
  const step = () => {
    const grads = tf.grads(
      (...ws: tf.Tensor[]) =>
        softmaxCrossEntropy(
          decoderLm(
            tiny,
            unflattenParams(template, Object.fromEntries(names.map((n, i) => [n, ws[i]!]))),
            ids,
          ),
          targets,
        ) as tf.Scalar,
    )(names.map((n) => flat[n]!));
    return tf.stack(grads.map((g) => tf.sum(g))) as tf.Tensor;
  };
  const cases: Array<[string, () => tf.Tensor]> = [
    ['GPT-2 small prefill, 256 tokens', () => decoderLm(big, bigParams, long)],
    ['training step, d 128 / 2 layers, batch 8 × 128', step],
  ];
  console.log('| workload | cached packed weights ms | packed per call ms | ratio |');
  console.log('|---|---|---|---|');
  for (const [label, f] of cases) {
    const times: [number[], number[]] = [[], []];
    for (let r = 0; r < reps + 1; r++) {
      for (const perCall of [false, true]) {
        setPackPerCallFromRows(perCall ? 16 : Number.POSITIVE_INFINITY);
        const ms = time(() => tf.tidy(f));
        if (r > 0) times[perCall ? 1 : 0].push(ms);
      }
    }
    const [cached, perCall] = [upperMedian(times[0]), upperMedian(times[1])];
    console.log(
      `| ${label} | ${cached.toFixed(0)} | ${perCall.toFixed(0)} | ${(perCall / cached).toFixed(2)}× |`,
    );
  }
  setPackPerCallFromRows(16);
}

if (mode === 'products') await products(Number(arg ?? 9));
else if (mode === 'model') model(Number(arg ?? 32));
else if (mode === 'model-child') await modelChild(Number(arg ?? 32), variantArg ?? 'after');
else if (mode === 'decode') await decode(Number(arg ?? 32));
else if (mode === 'packing') await packing(Number(arg ?? 3));
else throw new Error(`unknown mode ${mode}`);
