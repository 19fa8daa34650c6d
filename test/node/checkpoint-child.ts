// Spawned by the checkpoint tests: saves a large checkpoint (by default 32 MiB
// of params and 32 MiB of Adam moments, every param equal to `value`) at
// step `value` into `dir`, so the parent can kill or stop it mid-save.
// Usage: node --import tsx test/node/checkpoint-child.ts <dir> <value> [elements]
// A TfjsBlocksError is printed as `error {"argument": ..., "message": ...}`
// (exit code 2), so the parent can assert on its fields.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { TfjsBlocksError } from '../../src/errors';
import { saveCheckpoint } from '../../src/node/checkpoint';

// Keep in step with checkpoint.test.ts.
const CHILD_PARAM_ELEMENTS = 8 << 20;

const [dir, valueText, elementsText] = process.argv.slice(2);
if (dir === undefined || valueText === undefined)
  throw new Error('usage: checkpoint-child <dir> <value> [elements]');
const value = Number(valueText);
const elements = elementsText === undefined ? CHILD_PARAM_ELEMENTS : Number(elementsText);

await tf.setBackend('cpu');
const params = {
  big: { kernel: tf.fill([elements], value) },
  bias: tf.fill([4], value),
};
const optimizerState = [{ count: value, mu: { 'big.kernel': tf.fill([elements], value) } }];
console.log(`saving pid ${process.pid}`);
const started = performance.now();
try {
  await saveCheckpoint(dir, {
    params,
    optimizerState,
    step: value,
    rng: { seed: value },
    metadata: { value },
  });
} catch (e) {
  if (!(e instanceof TfjsBlocksError)) throw e;
  console.log(`error ${JSON.stringify({ argument: e.argument, message: e.message })}`);
  process.exit(2);
}
console.log(`saved in ${(performance.now() - started).toFixed(0)} ms`);
