// Loss memory benchmark: what `softmaxCrossEntropy` keeps alive between the
// forward and the backward pass, and the peak of `tf.grads` of it, for integer
// labels with ignored targets and for each option. Bytes are tfjs's own
// accounting (`tf.memory().numBytes`, `tf.profile`'s `peakBytes`), so they are
// deterministic and the same on every backend; they are printed in units of one
// logits tensor ([batch, seq, vocab] float32).
//
//   npx tsx bench/loss-memory.ts                         ([8, 512, 8192] on cpu; ~4 GiB before issue 19's fix)
//   npx tsx bench/loss-memory.ts -- --shape 2,128,1024
//
// Not a test; the behaviour test is test/losses/softmax-cross-entropy-memory.test.ts.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import {
  type SoftmaxCrossEntropyOptions,
  softmaxCrossEntropy,
  tiedOutputProjection,
} from 'tfjs-blocks';
import { flag } from './report';

const shape = flag('shape', '8,512,8192').split(',').map(Number) as [number, number, number];
const [batch, seq, vocab] = shape;
await tf.setBackend(flag('backend', 'cpu'));

const logits = tf.randomNormal(shape, 0, 3, 'float32', 1);
const labels = tf.tidy(() => {
  const ids = tf.randomUniformInt([batch, seq], 0, vocab, 2);
  // Every eighth target ignored, as prompt tokens are in fine-tuning.
  const ignored = tf.equal(tf.mod(tf.range(0, seq, 1, 'int32'), 8), 0);
  return tf.where(tf.broadcastTo(ignored, [batch, seq]), tf.fill([batch, seq], -100, 'int32'), ids);
});
const probabilities = tf.softmax(tf.randomNormal(shape, 0, 1, 'float32', 3));
const weights = tf.randomUniform([vocab], 0.5, 1.5, 'float32', 4);
const logitsBytes = batch * seq * vocab * 4;

const cases: Array<[string, tf.Tensor, SoftmaxCrossEntropyOptions]> = [
  ['int labels, ignoreIndex', labels, {}],
  ['+ labelSmoothing 0.1', labels, { labelSmoothing: 0.1 }],
  ['+ weights', labels, { weights }],
  ['+ zLossWeight 1e-4', labels, { zLossWeight: 1e-4 }],
  ['all options', labels, { labelSmoothing: 0.1, weights, zLossWeight: 1e-4 }],
  ["reduction 'sum'", labels, { reduction: 'sum' }],
  ['probability labels', probabilities, {}],
];

const units = (bytes: number) => (bytes / logitsBytes).toFixed(2);
console.log(`logits [${shape.join(', ')}]: ${(logitsBytes / 2 ** 20).toFixed(0)} MiB each`);
console.log('| case | kept after forward | peak of tf.grads above start | time (s, noisy) |');
console.log('|---|---|---|---|');
for (const [name, target, options] of cases) {
  const start = tf.memory().numBytes;
  let kept = 0;
  const t0 = performance.now();
  const profile = await tf.profile(() => {
    const [grad] = tf.grads((x: tf.Tensor) => {
      const loss = softmaxCrossEntropy(x, target, options);
      kept = tf.memory().numBytes - start - loss.size * 4;
      return loss;
    })([logits]);
    grad!.dispose();
  });
  const seconds = (performance.now() - t0) / 1000;
  console.log(
    `| ${name} | ${units(kept)} | ${units(profile.peakBytes - start)} | ${seconds.toFixed(1)} |`,
  );
}

// decoderLm's tied output head in front of the loss, differentiated with respect
// to the hidden states and the table (as full fine-tuning does): the head's
// matMul keeps only its inputs, so the logits are the one [batch, seq, vocab]
// buffer alive until the backward pass.
const dModel = Number(flag('d', '256'));
const hidden = tf.randomNormal([batch, seq, dModel], 0, 1, 'float32', 5);
const table = tf.randomNormal([vocab, dModel], 0, 0.02, 'float32', 6);
const tableConfig = { numEmbeddings: vocab, embeddingDim: dModel };
{
  const start = tf.memory().numBytes;
  let kept = 0;
  const profile = await tf.profile(() => {
    const grads = tf.grads((h: tf.Tensor, w: tf.Tensor) => {
      const loss = softmaxCrossEntropy(
        tiedOutputProjection(tableConfig, { table: w as tf.Tensor2D }, h),
        labels,
      );
      kept = tf.memory().numBytes - start - loss.size * 4;
      return loss;
    })([hidden, table]);
    tf.dispose(grads);
  });
  console.log(
    `| tied head (d ${dModel}) + loss, grads of h and table | ${units(kept)} | ${units(profile.peakBytes - start)} | |`,
  );
}
tf.dispose([logits, labels, probabilities, weights, hidden, table]);
