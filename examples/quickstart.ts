// Quickstart: attention on the wasm backend, forward and backward.
//   npm run example                 (wasm, the default)
//   npm run example -- --backend cpu
import * as tf from '@tensorflow/tfjs-core';
import {
  alibiBias,
  initMultiHeadAttention,
  memoryEfficientAttention,
  multiHeadAttention,
  scaledDotProductAttention,
} from 'tfjs-blocks';
import { readFlags, startBackend } from './cli';

const flags = readFlags({
  command: 'npm run example --',
  about:
    'An attention tour: GQA, memory-efficient attention, ALiBi, a Llama-style block and its gradient.',
  flags: {},
});
console.log(`backend: ${await startBackend(flags)}`);

// 1. Scaled dot-product attention with grouped-query heads (8 query heads share 2 kv heads).
const q = tf.randomNormal([2, 8, 64, 32], 0, 1, 'float32', 1) as tf.Tensor4D; // [batch, heads, time, headDim]
const kv = tf.randomNormal([2, 2, 64, 32], 0, 1, 'float32', 2) as tf.Tensor4D; // [batch, kvHeads, time, headDim]
const out = scaledDotProductAttention(q, kv, kv, { causal: true });
console.log(`attention output: [${out.shape}]`);

// 2. The memory-efficient path gives the same answer without forming the [64, 64] score matrix.
const chunked = memoryEfficientAttention(q, kv, kv, { causal: true, chunkSize: 16 });
const gap = tf.tidy(() => tf.max(tf.abs(tf.sub(out, chunked))).dataSync()[0]!);
console.log(`max |plain - memory-efficient| = ${gap.toExponential(2)}`);

// 3. ALiBi is an additive mask.
const alibi = alibiBias(8, 64, 64); // [1, heads, tq, tk]
const withAlibi = scaledDotProductAttention(q, q, q, { mask: alibi, causal: true });
console.log(`with ALiBi: [${withAlibi.shape}]`);

// 4. A multi-head attention block over plain params: Llama-style GQA + RoPE, and its gradient.
const attentionConfig = { dModel: 128, numHeads: 8, numKvHeads: 2, useBias: false };
const params = initMultiHeadAttention(attentionConfig, 42);
const x = tf.randomNormal([2, 64, 128], 0, 1, 'float32', 3) as tf.Tensor3D; // [batch, time, dModel]
const before = tf.memory().numTensors;
const lossOf = (wq: tf.Tensor) => {
  const attended = multiHeadAttention(
    attentionConfig,
    { ...params, query: { kernel: wq as tf.Tensor2D } },
    x,
    {
      causal: true,
      rope: true,
    },
  );
  return tf.mean(tf.square(attended)) as tf.Scalar;
};
const { value: loss, grad } = tf.valueAndGrad(lossOf)(params.query.kernel);
console.log(`loss ${loss.dataSync()[0]!.toFixed(5)}, d loss / d query kernel: [${grad.shape}]`);
tf.dispose([loss, grad]);
console.log(`tensors left behind by forward + backward: ${tf.memory().numTensors - before}`);
tf.dispose([q, kv, out, chunked, alibi, withAlibi, params, x]);
