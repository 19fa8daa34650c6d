/**
 * A quantized frozen base (issue 19): per-product time of a linear with a
 * float32, int8 and int4 kernel, resident bytes of a GPT-2-small-shaped model
 * (float32 vs int8 vs int4 kernels) and its greedy decode speed.
 *
 *   npx tsx bench/quantized-base.ts matmul   [reps]   per-product times, wasm (fast kernels) and cpu
 *   npx tsx bench/quantized-base.ts model    [tokens] GPT-2-small shapes: bytes and decode tokens/s on wasm
 *
 * Runs are interleaved (float, int8, int4, float, …) and the medians
 * reported, so a loaded machine shifts all three alike: read the ratios.
 */
import '@tensorflow/tfjs-backend-cpu';
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
  treeLeaves,
} from 'tfjs-blocks';
import { upperMedian } from './median';

const [mode = 'matmul', arg] = process.argv.slice(2);

/** The dequantization loop before issue 19 (per element: `%`, `Math.floor`, a branch). */
function oldDequantize(q: QuantizedTensor): tf.Tensor2D {
  const [rows, cols] = q.shape;
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < rows * cols; i++) {
    if (q.format === 'int8') {
      out[i] = (q.values as Int8Array)[i]! * q.scales[i % cols]!;
    } else {
      const byte = q.values[i >> 1]!;
      const nibble = i % 2 === 0 ? byte & 0x0f : byte >> 4;
      out[i] =
        (nibble - 8) *
        q.scales[Math.floor(Math.floor(i / cols) / q.groupSize) * cols + (i % cols)]!;
    }
  }
  return tf.tensor(out, [rows, cols]) as tf.Tensor2D;
}

async function matmulBench(reps: number): Promise<void> {
  const rows: string[] = [];
  for (const backend of ['wasm', 'cpu']) {
    await tf.setBackend(backend);
    if (backend === 'wasm') enableWasmFastKernels();
    const shapes: [number, number, number][] =
      backend === 'wasm'
        ? [
            [1, 768, 768],
            [1, 768, 3072],
            [1, 3072, 768],
            [128, 768, 768],
            [128, 768, 3072],
          ]
        : [
            [1, 768, 768],
            [1, 768, 3072],
          ];
    for (const [n, inF, outF] of shapes) {
      const config = { inFeatures: inF, outFeatures: outF, useBias: false };
      const kernel = tf.randomNormal([inF, outF], 0, 0.02, 'float32', 1) as tf.Tensor2D;
      const variants: [string, LinearParams | QuantizableLinearParams][] = [
        ['float32', { kernel }],
        ['int8', { kernel: quantizeWeights(kernel, { bits: 8 }) }],
        ['int4', { kernel: quantizeWeights(kernel, { bits: 4, groupSize: 32 }) }],
      ];
      const x = tf.randomNormal([n, inF]);
      const times = new Map<string, number[]>(variants.map(([name]) => [name, []]));
      const oldTimes: number[] = [];
      const run = (p: LinearParams | QuantizableLinearParams) => {
        const t0 = performance.now();
        const y = linear(config, p, x);
        y.dataSync();
        y.dispose();
        return performance.now() - t0;
      };
      for (const [, p] of variants) run(p); // warm-up
      for (let r = 0; r < reps; r++) {
        for (const [name, p] of variants) times.get(name)!.push(run(p));
        // The old quantizedLinear: slow dequantization, then the float product.
        const t0 = performance.now();
        tf.tidy(() => {
          const k = oldDequantize(variants[1]![1].kernel as QuantizedTensor);
          tf.matMul(x, k).dataSync();
        });
        oldTimes.push(performance.now() - t0);
      }
      const f = upperMedian(times.get('float32')!);
      const i8 = upperMedian(times.get('int8')!);
      const i4 = upperMedian(times.get('int4')!);
      const old = upperMedian(oldTimes);
      rows.push(
        `| ${backend} | [${n}, ${inF}] × [${inF}, ${outF}] | ${f.toFixed(2)} | ${i8.toFixed(2)} (${(i8 / f).toFixed(1)}×) | ${i4.toFixed(2)} (${(i4 / f).toFixed(1)}×) | ${old.toFixed(2)} (${(old / f).toFixed(1)}×) |`,
      );
      tf.dispose([kernel, x]);
    }
  }
  console.log(
    '| backend | product | float32 ms | int8 ms (ratio) | int4 ms (ratio) | int8, old loop ms (ratio) |',
  );
  console.log('|---|---|---|---|---|---|');
  for (const row of rows) console.log(row);
}

/** Bytes of a param tree: tensors at 4 bytes a value, quantized kernels by their arrays. */
function residentBytes(params: unknown): number {
  let bytes = 0;
  const walk = (node: unknown): void => {
    if (node instanceof tf.Tensor) bytes += node.size * 4;
    else if (node !== null && typeof node === 'object' && 'scales' in node && 'values' in node) {
      const q = node as QuantizedTensor;
      bytes += q.values.byteLength + q.scales.byteLength;
    } else if (node !== null && typeof node === 'object')
      for (const v of Object.values(node)) walk(v);
  };
  walk(params);
  return bytes;
}

async function modelBench(tokens: number): Promise<void> {
  await tf.setBackend('wasm');
  enableWasmFastKernels();
  const MB = 1e6;
  const sizes = { vocabSize: 50257, maxLength: 1024, dModel: 768, numLayers: 12, numHeads: 12 };
  for (const tied of [true, false]) {
    const config: DecoderLmConfig = { ...gpt2Config(sizes), tieEmbeddings: tied };
    const params = initDecoderLm(config, 0);
    const floatBytes = treeLeaves(params).reduce((s, t) => s + t.size * 4, 0);
    const models: [string, unknown][] = [['float32', params]];
    for (const bits of [8, 4] as const) {
      const t0 = performance.now();
      const report = quantizeParams(params, { bits, kernelsOnly: true });
      const ms = performance.now() - t0;
      models.push([`int${bits}`, report.params]);
      console.error(`quantized int${bits} in ${(ms / 1000).toFixed(1)} s`);
    }
    const prompt = [Array.from({ length: 16 }, (_, i) => (i * 97) % 50257)];
    const results: string[] = [];
    for (const [name, p] of models) {
      const bytes = residentBytes(p);
      const model = { kind: 'decoderLm', config, params: p } as Parameters<typeof generate>[0];
      await generate(model, prompt, { maxNewTokens: 2, temperature: 0 }); // warm-up
      const stamps: number[] = [];
      await generate(model, prompt, {
        maxNewTokens: tokens + 1,
        temperature: 0,
        onToken: () => stamps.push(performance.now()),
      });
      const steps = stamps.slice(1).map((t, i) => t - stamps[i]!);
      const ms = upperMedian(steps);
      results.push(
        `| ${tied ? 'tied (GPT-2)' : 'untied head'} | ${name} | ${(bytes / MB).toFixed(0)} | ${(floatBytes / bytes).toFixed(2)}× | ${ms.toFixed(0)} | ${(1000 / ms).toFixed(1)} |`,
      );
    }
    console.log(
      '| head | params | resident MB | smaller than float32 | ms / token (median) | tokens/s |',
    );
    console.log('|---|---|---|---|---|---|');
    for (const r of results) console.log(r);
    tf.dispose(params as unknown as tf.TensorContainer);
  }
}

if (mode === 'matmul') await matmulBench(Number(arg ?? 15));
else if (mode === 'model') await modelBench(Number(arg ?? 8));
else throw new Error(`unknown mode ${mode}: matmul or model`);
