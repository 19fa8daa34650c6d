/**
 * The WebAssembly SIMD int8/int4 matrix-vector kernel (issue 20): per-product
 * time of a batch-1 linear with a float32 kernel (wasm + fast kernels), int8
 * and int4 kernels through the SIMD module, and the same through the JS loops
 * it replaces; then GPT-2-small-shaped greedy decode, float32 vs int8/int4.
 *
 *   npx tsx bench/quantized-simd.ts matmul [reps]    per-product times (and the head)
 *   npx tsx bench/quantized-simd.ts head   [reps]    the tied GPT-2 head only
 *   npx tsx bench/quantized-simd.ts threads [reps]   1 vs 2 threads: products, head, GPT-2-small int8 decode
 *   npx tsx bench/quantized-simd.ts model  [tokens]  GPT-2-small decode tokens/s (untied head)
 *
 * Runs alternate between variants and the medians are reported, so a loaded
 * machine shifts them alike: read the ratios.
 */
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import {
  type DecoderLmConfig,
  enableWasmFastKernels,
  generate,
  gpt2Config,
  initDecoderLm,
  type LinearParams,
  linear,
  type QuantizableLinearParams,
  type QuantizedTensor,
  quantizeParams,
  quantizeWeights,
  tiedOutputProjection,
} from 'tfjs-blocks';
import { quantizedSimdBytesInUse, setQuantizedSimdEnabled } from '../src/nn/quantized-simd';
import { disableQuantizedThreads, enableQuantizedThreads } from '../src/node/quantized-threads';
import { hostLine, loadAverage } from './host';
import { upperMedian } from './median';

const [mode = 'matmul', arg] = process.argv.slice(2);

type Variant = [string, LinearParams | QuantizableLinearParams, boolean];

async function matmulBench(reps: number): Promise<void> {
  await tf.setBackend('wasm');
  enableWasmFastKernels();
  console.log(`host: ${hostLine()}`);
  const shapes: [number, number][] = [
    [768, 768],
    [768, 3072],
    [3072, 768],
    [768, 50257],
  ];
  console.log(
    '| product | float32 ms | int8 SIMD ms (× float) | int4 SIMD ms (× float) | int8 JS ms (× float) | int4 JS ms (× float) |',
  );
  console.log('|---|---|---|---|---|---|');
  for (const [inF, outF] of shapes) {
    const config = { inFeatures: inF, outFeatures: outF, useBias: false };
    const kernel = tf.randomNormal([inF, outF], 0, 0.02, 'float32', 1) as tf.Tensor2D;
    const int8 = quantizeWeights(kernel, { bits: 8 });
    const int4 = quantizeWeights(kernel, { bits: 4, groupSize: 32 });
    const variants: Variant[] = [
      ['float32', { kernel }, true],
      ['int8 SIMD', { kernel: int8 }, true],
      ['int4 SIMD', { kernel: int4 }, true],
      ['int8 JS', { kernel: int8 }, false],
      ['int4 JS', { kernel: int4 }, false],
    ];
    const x = tf.randomNormal([1, inF]);
    const times = new Map<string, number[]>(variants.map(([name]) => [name, []]));
    const run = ([, p, simd]: Variant) => {
      setQuantizedSimdEnabled(simd);
      const t0 = performance.now();
      const y = linear(config, p, x);
      y.dataSync();
      y.dispose();
      return performance.now() - t0;
    };
    for (const v of variants) run(v); // warm-up (and packing)
    for (let r = 0; r < reps; r++) for (const v of variants) times.get(v[0])!.push(run(v));
    setQuantizedSimdEnabled(true);
    const f = upperMedian(times.get('float32')!);
    const cell = (name: string) => {
      const t = upperMedian(times.get(name)!);
      return `${t.toFixed(3)} (${(t / f).toFixed(2)}×)`;
    };
    console.log(
      `| [1, ${inF}] × [${inF}, ${outF}] | ${f.toFixed(3)} | ${cell('int8 SIMD')} | ${cell('int4 SIMD')} | ${cell('int8 JS')} | ${cell('int4 JS')} |`,
    );
    tf.dispose([kernel, x]);
  }
  await headBench(reps);
}

/**
 * The tied GPT-2 head, `[1, 768] × [50257, 768]ᵀ`: float32 as `tiedOutputProjection`
 * runs it (`matMul(x, table, false, true)`) and with the table stored
 * transposed (`[768, 50257]`, XNNPACK's fast path), against the int8/int4
 * table through the SIMD kernels (int8: `int8` on the packed transpose; int4: `dot4`) and the JS loops.
 */
async function headBench(reps: number): Promise<void> {
  const [vocab, d] = [50257, 768];
  const table = tf.randomNormal([vocab, d], 0, 0.02, 'float32', 2) as tf.Tensor2D;
  const stored = tf.transpose(table) as tf.Tensor2D;
  const int8 = quantizeWeights(table, { bits: 8 });
  // int4 tables group 32 rows of the vocabulary (the last group shorter), as quantizeParams does.
  const { params } = quantizeParams({ wte: { table } }, { bits: 4, kernelsOnly: false });
  const int4 = params.wte.table as QuantizedTensor;
  const x = tf.randomNormal([1, d]);
  const config = { numEmbeddings: vocab, embeddingDim: d };
  const variants: [string, () => tf.Tensor, boolean][] = [
    ['float32', () => tiedOutputProjection(config, { table }, x), true],
    ['float32 [d, vocab]', () => tf.matMul(x, stored), true],
    ['int8 SIMD', () => tiedOutputProjection(config, { table: int8 }, x), true],
    ['int4 SIMD', () => tiedOutputProjection(config, { table: int4 }, x), true],
    ['int8 JS', () => tiedOutputProjection(config, { table: int8 }, x), false],
    ['int4 JS', () => tiedOutputProjection(config, { table: int4 }, x), false],
  ];
  const times = new Map<string, number[]>(variants.map(([name]) => [name, []]));
  const run = ([, f, simd]: [string, () => tf.Tensor, boolean]) => {
    setQuantizedSimdEnabled(simd);
    const t0 = performance.now();
    const y = f();
    y.dataSync();
    y.dispose();
    return performance.now() - t0;
  };
  for (const v of variants) run(v); // warm-up (and packing)
  for (let r = 0; r < reps; r++) for (const v of variants) times.get(v[0])!.push(run(v));
  setQuantizedSimdEnabled(true);
  const f = upperMedian(times.get('float32')!);
  console.log('');
  console.log(`| tied head [1, ${d}] × [${vocab}, ${d}]ᵀ | ms (× float32 as tied) |`);
  console.log('|---|---|');
  for (const [name] of variants) {
    const t = upperMedian(times.get(name)!);
    console.log(`| ${name} | ${t.toFixed(2)} (${(t / f).toFixed(2)}×) |`);
  }
  tf.dispose([table, stored, x]);
}

/** Runs `body` with 1 thread, then 2, `rounds` times (`enableQuantizedThreads` with `minBytes`), collecting times by thread count. */
async function alternateThreads(
  rounds: number,
  minBytes: number | undefined,
  body: (threads: number, record: (name: string, ms: number) => void) => Promise<void>,
): Promise<Map<string, number[]>> {
  const times = new Map<string, number[]>();
  for (let round = 0; round < rounds; round++) {
    for (const threads of [1, 2]) {
      if (threads === 1) await disableQuantizedThreads();
      else
        await enableQuantizedThreads({ threads, ...(minBytes === undefined ? {} : { minBytes }) });
      await body(threads, (name, ms) => {
        const key = `${name}|${threads}`;
        times.set(key, [...(times.get(key) ?? []), ms]);
      });
    }
  }
  await disableQuantizedThreads();
  return times;
}

/**
 * 1 vs 2 threads (`enableQuantizedThreads`, split from the first byte): int8
 * and int4 products of GPT-2-small shapes (where the crossover lies), the
 * tied head, and a GPT-2-small decode token with every matrix and the tied
 * table in int8.
 */
async function threadsBench(reps: number): Promise<void> {
  await tf.setBackend('wasm');
  enableWasmFastKernels();
  console.log(`host: ${hostLine()}`);
  const shapes: [number, number][] = [
    [768, 768],
    [768, 1536],
    [768, 2304],
    [768, 3072],
    [3072, 768],
  ];
  const d = 768;
  const vocab = 50257;
  const table = tf.randomNormal([vocab, d], 0, 0.02, 'float32', 2) as tf.Tensor2D;
  const head8 = quantizeWeights(table, { bits: 8 });
  const { params: head4Params } = quantizeParams(
    { wte: { table } },
    { bits: 4, kernelsOnly: false },
  );
  const head4 = head4Params.wte.table as QuantizedTensor;
  table.dispose();
  const cases: [string, () => tf.Tensor][] = [];
  const kept: tf.Tensor[] = [];
  for (const [inF, outF] of shapes) {
    const kernel = tf.randomNormal([inF, outF], 0, 0.02, 'float32', 1) as tf.Tensor2D;
    const x = tf.randomNormal([1, inF]);
    kept.push(x);
    const config = { inFeatures: inF, outFeatures: outF, useBias: false };
    for (const bits of [8, 4] as const) {
      const q = quantizeWeights(kernel, bits === 8 ? { bits } : { bits, groupSize: 32 });
      cases.push([
        `int${bits} [1, ${inF}] × [${inF}, ${outF}]`,
        () => linear(config, { kernel: q }, x),
      ]);
    }
    kernel.dispose();
  }
  const xh = tf.randomNormal([1, d]);
  kept.push(xh);
  const embedding = { numEmbeddings: vocab, embeddingDim: d };
  cases.push([
    `int8 head [1, ${d}] × [${vocab}, ${d}]ᵀ`,
    () => tiedOutputProjection(embedding, { table: head8 }, xh),
  ]);
  cases.push([
    `int4 head [1, ${d}] × [${vocab}, ${d}]ᵀ`,
    () => tiedOutputProjection(embedding, { table: head4 }, xh),
  ]);
  const time = (f: () => tf.Tensor) => {
    const t0 = performance.now();
    const y = f();
    y.dataSync();
    y.dispose();
    return performance.now() - t0;
  };
  const times = await alternateThreads(3, 0, async (_, record) => {
    for (const [, f] of cases) time(f); // packing into this memory
    for (let r = 0; r < Math.ceil(reps / 3); r++)
      for (const [name, f] of cases) record(name, time(f));
  });
  console.log('| product (packed bytes) | 1 thread ms | 2 threads ms | speed-up |');
  console.log('|---|---|---|---|');
  for (const [name] of cases) {
    const [one, two] = [upperMedian(times.get(`${name}|1`)!), upperMedian(times.get(`${name}|2`)!)];
    console.log(`| ${name} | ${one.toFixed(3)} | ${two.toFixed(3)} | ${(one / two).toFixed(2)}× |`);
  }
  tf.dispose(kept);

  // GPT-2 small, tied head, every matrix and both tables in int8.
  const config = gpt2Config({
    vocabSize: vocab,
    maxLength: 1024,
    dModel: d,
    numLayers: 12,
    numHeads: 12,
  });
  const params = initDecoderLm(config, 0);
  const q8 = quantizeParams(params, { bits: 8, kernelsOnly: false }).params;
  const model = { kind: 'decoderLm', config, params: q8 } as Parameters<typeof generate>[0];
  const prompt = [Array.from({ length: 16 }, (_, i) => (i * 97) % vocab)];
  const tokens = 4;
  // The default minBytes: only products of 4 MiB of codes or more (here the head) are split.
  const decode = await alternateThreads(2, undefined, async (_, record) => {
    const stamps: number[] = [];
    await generate(model, prompt, {
      maxNewTokens: tokens + 2,
      temperature: 0,
      onToken: () => stamps.push(performance.now()),
    });
    // The first two tokens include the prompt and the packing.
    for (let i = 2; i < stamps.length; i++) record('decode', stamps[i]! - stamps[i - 1]!);
  });
  const [one, two] = [upperMedian(decode.get('decode|1')!), upperMedian(decode.get('decode|2')!)];
  console.log('');
  console.log(
    '| GPT-2 small, int8 weights and tables (tied head), greedy | ms / token, 1 thread | 2 threads | speed-up |',
  );
  console.log('|---|---|---|---|');
  console.log(
    `| decode, batch 1 | ${one.toFixed(1)} | ${two.toFixed(1)} | ${(one / two).toFixed(2)}× |`,
  );
  console.log(`load average after: ${loadAverage()}`);
  tf.dispose(params as unknown as tf.TensorContainer);
}

async function modelBench(tokens: number): Promise<void> {
  await tf.setBackend('wasm');
  enableWasmFastKernels();
  console.log(`host: ${hostLine()}`);
  const sizes = { vocabSize: 50257, maxLength: 1024, dModel: 768, numLayers: 12, numHeads: 12 };
  // Untied head: the output projection is a linear, so it is quantized too
  // (a tied head multiplies by the float embedding table).
  const config: DecoderLmConfig = { ...gpt2Config(sizes), tieEmbeddings: false };
  const params = initDecoderLm(config, 0);
  const models: [string, unknown, boolean][] = [['float32', params, true]];
  for (const bits of [8, 4] as const) {
    const q = quantizeParams(params, { bits, kernelsOnly: true }).params;
    models.push([`int${bits} SIMD`, q, true], [`int${bits} JS`, q, false]);
  }
  const prompt = [Array.from({ length: 16 }, (_, i) => (i * 97) % 50257)];
  const steps = new Map<string, number[]>(models.map(([name]) => [name, []]));
  const decode = async ([name, p, simd]: [string, unknown, boolean], n: number) => {
    setQuantizedSimdEnabled(simd);
    const model = { kind: 'decoderLm', config, params: p } as Parameters<typeof generate>[0];
    const stamps: number[] = [];
    await generate(model, prompt, {
      maxNewTokens: n + 1,
      temperature: 0,
      onToken: () => stamps.push(performance.now()),
    });
    steps.get(name)!.push(...stamps.slice(1).map((t, i) => t - stamps[i]!));
  };
  for (const m of models) await decode(m, 1); // warm-up (and packing)
  for (const m of steps.values()) m.length = 0;
  // Alternate: a few tokens of each model per round.
  for (let round = 0; round < 2; round++) for (const m of models) await decode(m, tokens / 2);
  setQuantizedSimdEnabled(true);
  const f = upperMedian(steps.get('float32')!);
  console.log('| weights | ms / token (median) | tokens/s | × float32 |');
  console.log('|---|---|---|---|');
  for (const [name] of models) {
    const ms = upperMedian(steps.get(name)!);
    console.log(
      `| ${name} | ${ms.toFixed(1)} | ${(1000 / ms).toFixed(1)} | ${(f / ms).toFixed(2)} |`,
    );
  }
  const floatBytes = tf.memory().numBytes;
  console.log(
    `float32 tensors: ${(floatBytes / 1e6).toFixed(0)} MB; SIMD module memory in use (int8 + int4 packed kernels): ${(quantizedSimdBytesInUse() / 1e6).toFixed(0)} MB; RSS ${(process.memoryUsage().rss / 1e6).toFixed(0)} MB`,
  );
  tf.dispose(params as unknown as tf.TensorContainer);
}

if (mode === 'matmul') await matmulBench(Number(arg ?? 15));
else if (mode === 'threads') await threadsBench(Number(arg ?? 15));
else if (mode === 'head') {
  await tf.setBackend('wasm');
  enableWasmFastKernels();
  console.log(`host: ${hostLine()}`);
  await headBench(Number(arg ?? 15));
} else if (mode === 'model') await modelBench(Number(arg ?? 8));
else throw new Error(`unknown mode ${mode}: matmul or model`);
