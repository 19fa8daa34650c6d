// Spawned by checkpoint.test.ts: saves a large checkpoint (32 MiB of params
// and 32 MiB of Adam moments, every param equal to `value`) at step `value`
// into `dir`, so the parent can kill it mid-save.
// Usage: node --import tsx test/interop/checkpoint-child.ts <dir> <value>
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { saveCheckpoint } from '../../src/interop/checkpoint';

// Keep in step with checkpoint.test.ts.
const CHILD_PARAM_ELEMENTS = 8 << 20;

const [dir, valueText] = process.argv.slice(2);
if (dir === undefined || valueText === undefined)
  throw new Error('usage: checkpoint-child <dir> <value>');
const value = Number(valueText);

await tf.setBackend('cpu');
const params = {
  big: { kernel: tf.fill([CHILD_PARAM_ELEMENTS], value) },
  bias: tf.fill([4], value),
};
const optimizerState = [
  { count: value, mu: { 'big.kernel': tf.fill([CHILD_PARAM_ELEMENTS], value) } },
];
console.log('saving');
const started = performance.now();
await saveCheckpoint(dir, {
  params,
  optimizerState,
  step: value,
  rng: { seed: value },
  metadata: { value },
});
console.log(`saved in ${(performance.now() - started).toFixed(0)} ms`);
