// Attention benchmark: plain vs memory-efficient (chunked) attention,
// forward + backward, time and peak memory, side by side in one run.
//
//   npm run bench                       (wasm; writes docs/benchmarks.md)
//   npm run bench -- --backend cpu --sizes 128,512 --no-write
//
// Not a test: timings depend on the machine. See docs/benchmarks.md.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { scaledDotProductAttention } from 'tfjs-blocks';
import { upperMedian } from './median';
import { flag, machineLine, reportUnlessDryRun } from './report';

const backend = flag('backend', 'wasm');
const sizes = flag('sizes', '128,512,1024,2048').split(',').map(Number);
const repeats = Number(flag('repeats', '3'));
const chunkSize = Number(flag('chunk', '128'));
const [batch, heads, headDim] = [1, 4, 64];

await tf.setBackend(backend);

type Path = 'plain' | 'memory-efficient';
function step(path: Path, q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D): tf.Tensor[] {
  const options = { causal: true, chunkSize: path === 'plain' ? undefined : chunkSize };
  return tf.grads((a, b, c) =>
    tf.sum(
      scaledDotProductAttention(a as tf.Tensor4D, b as tf.Tensor4D, c as tf.Tensor4D, options),
    ),
  )([q, k, v]);
}

async function timeStep(path: Path, q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D) {
  const start = performance.now();
  const grads = step(path, q, k, v);
  await Promise.all(grads.map((g) => g.data()));
  tf.dispose(grads);
  return performance.now() - start;
}

async function peakBytes(path: Path, q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D) {
  const baseline = tf.memory().numBytes;
  const profile = await tf.profile(() => step(path, q, k, v));
  return profile.peakBytes - baseline;
}

/**
 * Times both paths on the same inputs, alternating plain and memory-efficient
 * runs so that machine noise hits both alike; at least `repeats` runs each and
 * at least ~3 s per path, after one warm-up each.
 */
async function measure(t: number) {
  const [q, k, v] = [1, 2, 3].map(
    (seed) => tf.randomNormal([batch, heads, t, headDim], 0, 1, 'float32', seed) as tf.Tensor4D,
  ) as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
  const paths: Path[] = ['plain', 'memory-efficient'];
  const times: Record<Path, number[]> = { plain: [], 'memory-efficient': [] };
  for (const path of paths) await timeStep(path, q, k, v);
  const started = performance.now();
  while (times.plain.length < repeats || performance.now() - started < 6000) {
    for (const path of paths) times[path].push(await timeStep(path, q, k, v));
  }
  const result = {
    runs: times.plain.length,
    plain: { ms: upperMedian(times.plain), peakBytes: await peakBytes('plain', q, k, v) },
    chunked: {
      ms: upperMedian(times['memory-efficient']),
      peakBytes: await peakBytes('memory-efficient', q, k, v),
    },
  };
  tf.dispose([q, k, v]);
  return result;
}

const mib = (b: number) => (b / 2 ** 20).toFixed(1);
const rows: string[] = [];
console.log(
  `backend ${tf.getBackend()}, [batch, heads, headDim] = [${batch}, ${heads}, ${headDim}], causal, chunkSize ${chunkSize}`,
);
for (const t of sizes) {
  const { runs, plain, chunked } = await measure(t);
  const row = [
    t,
    runs,
    plain.ms.toFixed(0),
    chunked.ms.toFixed(0),
    (chunked.ms / plain.ms).toFixed(2),
    mib(plain.peakBytes),
    mib(chunked.peakBytes),
    (chunked.peakBytes / plain.peakBytes).toFixed(3),
  ];
  rows.push(`| ${row.join(' | ')} |`);
  console.log(rows[rows.length - 1]);
}

const body = [
  `Attention forward + backward (\`tf.grads\` of the sum of the output w.r.t. q, k, v), causal,`,
  `\`[batch, heads, headDim] = [${batch}, ${heads}, ${headDim}]\`, tq = tk = T, chunkSize ${chunkSize},`,
  `backend \`${tf.getBackend()}\`. Time: the median over the runs, plain and memory-efficient`,
  `alternating so that machine noise hits both alike, after a warm-up each (at least ${repeats}`,
  "runs and ~3 s per path). Peak: `tf.profile`'s peak bytes above the inputs during one step.",
  '',
  machineLine('bench'),
  '',
  '| T | runs | plain ms | memory-efficient ms | time ratio | plain peak MiB | memory-efficient peak MiB | peak ratio |',
  '|---|---|---|---|---|---|---|---|',
  ...rows,
].join('\n');
reportUnlessDryRun('attention', 'Attention: plain vs memory-efficient', body);
