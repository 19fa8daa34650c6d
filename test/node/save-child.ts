// Spawned by kill.test.ts: saves a large model (tens of MB of weights, every
// value equal to `value`) into `dir`, so the parent can kill it mid-save.
// Usage: node --import tsx test/node/save-child.ts <dir> <value>
// Keep INPUTS and UNITS in step with kill.test.ts.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { nodeFileSystem } from '../../src/node/index';

const INPUTS = 4096;
const UNITS = 2048;

const [dir, valueText] = process.argv.slice(2);
if (dir === undefined || valueText === undefined)
  throw new Error('usage: save-child <dir> <value>');
const value = Number(valueText);

await tf.setBackend('cpu');
const model = tfl.sequential({
  layers: [
    tfl.layers.dense({
      units: UNITS,
      inputShape: [INPUTS],
      kernelInitializer: tfl.initializers.constant({ value }),
      biasInitializer: tfl.initializers.constant({ value }),
    }),
  ],
});
console.log('saving');
const started = performance.now();
await model.save(nodeFileSystem(dir));
console.log(`saved in ${(performance.now() - started).toFixed(0)} ms`);
