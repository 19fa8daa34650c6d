// Spawned by tf-optimizer.test.ts: loads a model saved with its optimizer in
// another process, trains it FIT more epochs, and prints the losses as JSON.
// Usage: node --import tsx test/optim/resume-child.ts <dir>
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import '../../src/index'; // registers TransformOptimizer
import '../../src/layers/index'; // registers TokenAndPositionEmbedding
import { nodeFileSystem } from '../../src/node/index';
import { data, FIT } from './resume-fixture';

const [dir] = process.argv.slice(2);
if (dir === undefined) throw new Error('usage: resume-child <dir>');
await tf.setBackend('cpu');
const model = await tfl.loadLayersModel(nodeFileSystem(dir));
const { x, y } = data();
const history = await model.fit(x, y, FIT);
console.log(
  `LOSSES ${JSON.stringify({ iterations: model.optimizer.iterations, losses: history.history.loss })}`,
);
