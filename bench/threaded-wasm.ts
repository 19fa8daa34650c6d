/**
 * The wasm backend on one thread (the stock build) against the threaded SIMD
 * build of `useThreadedWasm` (tfjs-blocks/node) with 1 and 2 threads (issue
 * 20): a `[256, 768] × [768, 3072]` matMul, the 256-token prefill of a
 * random-weight GPT-2 small, and its greedy decode (batch 1, ms/token) with
 * and without `enableWasmFastKernels()`. Wall time and the process's CPU
 * time (all its threads) side by side: the machine may be shared, and a
 * second thread only helps where a second core is free.
 *
 *   npx tsx bench/threaded-wasm.ts [--rounds 2] [--tokens 8] [--variants stock,threads1,threads2]
 *   npx tsx bench/threaded-wasm.ts --matmul [--rounds 6] [--reps 15]
 *
 * The first form runs every variant in a child process of its own, once per
 * round, the order reversed every other round. `--matmul` times the product
 * alone in one process, switching between the builds every round (each
 * switch makes a fresh backend), and also reports the fastest call: on a
 * loaded machine the median mostly measures the other jobs.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { hostLine, loadAverage } from './host';
import { upperMedian } from './median';
import { flag } from './report';

const VARIANTS = ['stock', 'threads1', 'threads2'] as const;
type Variant = (typeof VARIANTS)[number];

/** Median wall and CPU milliseconds of a measurement, and its fastest wall time. */
type Timing = { wallMs: number; cpuMs: number; minWallMs: number };

type Row = {
  variant: Variant;
  threads: number;
  matMul: Timing;
  prefill: Timing;
  decodeFast: Timing;
  decodeStock: Timing;
};

/** Medians of wall and CPU time over `reps` calls of `f` (after one warm-up call). */
async function timed(reps: number, f: () => Promise<void>): Promise<Timing> {
  await f();
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < reps; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await f();
    wall.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  return { wallMs: upperMedian(wall), cpuMs: upperMedian(cpu), minWallMs: Math.min(...wall) };
}

/** `--matmul`: the product alone, the stock build and the threaded one with 1 and 2 threads alternating in one process. */
async function matMulRounds(rounds: number, reps: number): Promise<void> {
  await import('@tensorflow/tfjs-backend-wasm');
  const tf = await import('@tensorflow/tfjs-core');
  const lib = await import('tfjs-blocks');
  const node = await import('tfjs-blocks/node');
  console.log(`host: ${hostLine()}`);
  const results: Record<string, Timing[]> = { stock: [], threads1: [], threads2: [] };
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? VARIANTS : [...VARIANTS].reverse();
    for (const variant of order) {
      if (variant === 'stock') {
        await node.disposeThreadedWasm();
        await lib.useBackend('wasm');
      } else await node.useThreadedWasm({ threads: variant === 'threads2' ? 2 : 1 });
      const a = tf.randomNormal([256, 768]);
      const w = tf.randomNormal([768, 3072]);
      results[variant]!.push(
        await timed(reps, async () => {
          const y = tf.matMul(a, w);
          await y.data();
          y.dispose();
        }),
      );
      tf.dispose([a, w]);
    }
  }
  const flops = 2 * 256 * 768 * 3072;
  console.log('| variant | median wall ms | fastest wall ms (GFLOP/s) | median CPU ms |');
  console.log('|---|---|---|---|');
  for (const [variant, ts] of Object.entries(results)) {
    const best = Math.min(...ts.map((t) => t.minWallMs));
    console.log(
      `| ${variant} | ${upperMedian(ts.map((t) => t.wallMs)).toFixed(1)} | ${best.toFixed(1)} (${(flops / best / 1e6).toFixed(1)}) | ${upperMedian(ts.map((t) => t.cpuMs)).toFixed(1)} |`,
    );
  }
  console.log(`${rounds} rounds × ${reps} calls; load average at the end ${loadAverage()}`);
}

async function child(variant: Variant, tokens: number): Promise<void> {
  await import('@tensorflow/tfjs-backend-wasm');
  const tf = await import('@tensorflow/tfjs-core');
  const lib = await import('tfjs-blocks');
  const node = await import('tfjs-blocks/node');
  let threads = 1;
  if (variant === 'stock') await lib.useBackend('wasm');
  else threads = await node.useThreadedWasm({ threads: variant === 'threads2' ? 2 : 1 });

  const a = tf.randomNormal([256, 768]);
  const w = tf.randomNormal([768, 3072]);
  const matMul = await timed(7, async () => {
    const y = tf.matMul(a, w);
    await y.data();
    y.dispose();
  });
  tf.dispose([a, w]);

  const config = lib.gpt2Config({
    vocabSize: 50257,
    maxLength: 1024,
    dModel: 768,
    numLayers: 12,
    numHeads: 12,
  });
  const params = lib.initDecoderLm(config, 1);
  lib.enableWasmFastKernels();
  const long = tf.tensor2d(
    [Array.from({ length: 256 }, (_, i) => (i * 101) % 50257)],
    undefined,
    'int32',
  );
  const prefill = await timed(2, async () => {
    const logits = lib.decoderLm(config, params, long);
    await logits.data();
    logits.dispose();
  });
  long.dispose();

  const model = { kind: 'decoderLm', config, params } as import('tfjs-blocks').GenerationModel;
  const prompt = [Array.from({ length: 32 }, (_, i) => (i * 37) % 50257)];
  /** Median ms/token of `tokens` new tokens (the first, which includes the prompt, left out). */
  const decode = async (): Promise<Timing> => {
    const wall: number[] = [];
    const cpu: number[] = [];
    let c0 = process.cpuUsage();
    let t0 = performance.now();
    let first = true;
    await lib.generate(model, prompt, {
      maxNewTokens: tokens + 1,
      temperature: 0,
      onToken: () => {
        const now = performance.now();
        const c = process.cpuUsage(c0);
        if (!first) {
          wall.push(now - t0);
          cpu.push((c.user + c.system) / 1000);
        }
        first = false;
        c0 = process.cpuUsage();
        t0 = performance.now();
      },
    });
    return { wallMs: upperMedian(wall), cpuMs: upperMedian(cpu), minWallMs: Math.min(...wall) };
  };
  await decode(); // warm-up: XNNPACK's packed weights, the fast kernels' module
  const decodeFast = await decode();
  lib.disableWasmFastKernels();
  await decode();
  const decodeStock = await decode();
  const row: Row = { variant, threads, matMul, prefill, decodeFast, decodeStock };
  console.log(JSON.stringify(row));
}

function main(): void {
  const rounds = Number(flag('rounds', '2'));
  const tokens = Number(flag('tokens', '8'));
  const variants = flag('variants', VARIANTS.join(',')).split(',') as Variant[];
  console.log(`host: ${hostLine()}`);
  const script = fileURLToPath(import.meta.url);
  const rows: Row[] = [];
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? variants : [...variants].reverse();
    for (const variant of order) {
      const run = spawnSync(
        process.execPath,
        [...process.execArgv, script, '--child', variant, '--tokens', String(tokens)],
        { encoding: 'utf8', maxBuffer: 1 << 26 },
      );
      const line = run.stdout.trim().split('\n').pop() ?? '';
      if (run.status !== 0 || !line.startsWith('{')) {
        console.error(`${variant} failed: ${run.stderr.trim().split('\n').slice(-3).join(' / ')}`);
        continue;
      }
      rows.push(JSON.parse(line) as Row);
      console.log(`round ${round + 1} ${variant}: ${line} (load ${loadAverage()})`);
    }
  }
  const cell = (t: Timing) =>
    `${t.wallMs.toFixed(0)} / ${t.minWallMs.toFixed(0)} (${t.cpuMs.toFixed(0)})`;
  console.log(
    '\n| variant | threads | matMul [256,768]×[768,3072] ms | GPT-2 prefill 256 ms | decode ms/token, fast kernels | decode ms/token, stock kernels |',
  );
  console.log('|---|---|---|---|---|---|');
  for (const r of rows) {
    console.log(
      `| ${r.variant} | ${r.threads} | ${cell(r.matMul)} | ${cell(r.prefill)} | ${cell(r.decodeFast)} | ${cell(r.decodeStock)} |`,
    );
  }
  console.log('median / fastest wall ms (median process CPU ms, all threads)');
  console.log(`load average at the end ${loadAverage()}`);
}

const childAt = process.argv.indexOf('--child');
if (childAt >= 0) await child(process.argv[childAt + 1] as Variant, Number(flag('tokens', '8')));
else if (process.argv.includes('--matmul'))
  await matMulRounds(Number(flag('rounds', '6')), Number(flag('reps', '15')));
else main();
