/**
 * Where a quantized GPT-2 small's resident memory goes (issue 20): the int8
 * (or int4) path of bench/decode.ts in one process, with
 * `process.memoryUsage()` (rss, V8 heapUsed, external, arrayBuffers), the
 * tfjs wasm heap, the SIMD kernels' module memory, the bytes of the
 * QuantizedTensors' JS arrays and `tf.memory()` after each phase: start,
 * after the load, after quantizing (and freeing the floats, and a GC), after
 * the first decode, after the 256-token prefill.
 *
 *   node --expose-gc --import tsx bench/quantized-memory.ts [--bits 8|4]
 *     [--dir DIR] [--on-load] [--load-backend cpu|wasm]
 *
 * Default: bench/decode.ts's recipe (load float32 on the cpu backend,
 * `quantizeParams(..., { bits, groupSize: 32, kernelsOnly: false })`, dispose
 * the floats, run on wasm). `--on-load`: `loadPretrained(source, { quantize })`,
 * quantizing each matrix as it is read. `--load-backend` (default cpu):
 * the backend the model loads on (it runs on wasm).
 */
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import * as lib from 'tfjs-blocks';
import { folderSource } from 'tfjs-blocks/node';
import { quantizedSimdBytesInUse, quantizedSimdMemoryBytes } from '../src/nn/quantized-simd';
import { isQuantizedTensor } from '../src/nn/quantized-weights';
import { flag } from './report';

const argv = process.argv.slice(2);
const BITS = Number(flag('bits', '8')) as 8 | 4;
const DIR = flag('dir', '/tmp/tfjs-blocks-bench/gpt2-small');
const ON_LOAD = argv.includes('--on-load');
const LOAD_BACKEND = flag('load-backend', 'cpu');
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with node --expose-gc --import tsx');

const mb = (bytes: number) => Math.round(bytes / 1e6);
const rows: Record<string, number | string>[] = [];
let params: unknown;

/** Bytes of every QuantizedTensor's JS arrays (codes, scales) in the params. */
function quantizedJsBytes(node: unknown): number {
  if (isQuantizedTensor(node)) return node.values.byteLength + node.scales.byteLength;
  if (node instanceof tf.Tensor || node === null || typeof node !== 'object') return 0;
  return Object.values(node).reduce((sum: number, v) => sum + quantizedJsBytes(v), 0);
}

function phase(name: string): void {
  gc!();
  const m = process.memoryUsage();
  const wasm = tf.engine().registry.wasm as unknown as { wasm?: { HEAPU8: Uint8Array } };
  rows.push({
    phase: name,
    rss: mb(m.rss),
    heapUsed: mb(m.heapUsed),
    external: mb(m.external),
    arrayBuffers: mb(m.arrayBuffers),
    tfjsWasmHeap: mb(wasm?.wasm?.HEAPU8.byteLength ?? 0),
    simdMemory: mb(quantizedSimdMemoryBytes()),
    simdInUse: mb(quantizedSimdBytesInUse()),
    quantizedJs: mb(quantizedJsBytes(params)),
    tensors: `${tf.memory().numTensors} / ${mb(tf.memory().numBytes)}`,
    peakRss: mb(process.resourceUsage().maxRSS * 1e3),
  });
}

/** Every tensor reachable in a param record (QuantizedTensors are skipped). */
function tensorsIn(node: unknown, out = new Set<tf.Tensor>()): Set<tf.Tensor> {
  if (node instanceof tf.Tensor) out.add(node);
  else if (node !== null && typeof node === 'object' && !ArrayBuffer.isView(node))
    for (const v of Object.values(node)) tensorsIn(v, out);
  return out;
}

const promptOf = (n: number) => Array.from({ length: n }, (_, i) => (i * 97 + 13) % 50257);

await tf.setBackend(LOAD_BACKEND);
lib.enableWasmFastKernels();
phase(`start (${LOAD_BACKEND} backend, nothing loaded)`);
const quantize = { bits: BITS, groupSize: 32, kernelsOnly: false } as const;
const loaded = await lib.loadPretrained(folderSource(DIR), ON_LOAD ? { quantize } : {});
if (loaded.kind !== 'decoder-lm') throw new Error(`${DIR} is not a decoder`);
params = loaded.params;
phase(ON_LOAD ? 'after loadPretrained({ quantize })' : 'after float32 load');
if (!ON_LOAD) {
  const q = lib.quantizeParams(loaded.params, quantize);
  const kept = tensorsIn(q.params);
  tf.dispose([...tensorsIn(loaded.params)].filter((t) => !kept.has(t)));
  params = q.params;
  phase('after quantizeParams, floats disposed');
}
await tf.setBackend('wasm');
const model = { kind: 'decoderLm', config: loaded.config, params } as lib.GenerationModel;
const decode = async (prompt: number[], n: number) =>
  (await lib.generate(model, [prompt], { maxNewTokens: n, temperature: 0 }))[0]!;
await decode(promptOf(32), 2);
phase('after first decode (wasm)');
await decode(promptOf(256), 1);
phase('after 256-token prefill');

console.log(
  `GPT-2 small int${BITS}, ${ON_LOAD ? 'quantized while loading' : 'load then quantizeParams'} on ${LOAD_BACKEND}; MB`,
);
const keys = Object.keys(rows[0]!);
console.log(`| ${keys.join(' | ')} |`);
console.log(`|${keys.map(() => '---').join('|')}|`);
for (const r of rows) console.log(`| ${keys.map((k) => r[k]).join(' | ')} |`);
