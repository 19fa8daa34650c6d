// Loads the built package the way users do, through its `exports` map, once
// as ESM and once as CommonJS, in fresh Node processes that import only
// `@tensorflow/tfjs-core` and the cpu backend, and takes a gradient through
// attention: tfjs-core's Node entry registers no gradients by itself.
import { execFileSync } from 'node:child_process';

const body = (load) => `
${load}
const q = tf.randomNormal([1, 2, 4, 8]);
const g = tf.grad((x) => tf.sum(blocks.scaledDotProductAttention(x, x, x, { causal: true })))(q);
const ok = g.shape.join() === '1,2,4,8' && Number.isFinite(tf.sum(g).dataSync()[0]);
if (!ok) { console.error('gradient check failed'); process.exit(1); }
console.log('ok: ' + blocks.scaledDotProductAttention.name + ' gradient through ' + tf.getBackend());
`;

const esm = body(`
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as blocks from 'tfjs-blocks';
await tf.setBackend('cpu');`);
const cjs = body(`
const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-cpu');
const blocks = require('tfjs-blocks');
tf.setBackend('cpu');`);

for (const [kind, args] of [
  ['ESM', ['--input-type=module', '-e', esm]],
  ['CJS', ['--input-type=commonjs', '-e', cjs]],
]) {
  const out = execFileSync(process.execPath, args, {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const line = out.split('\n').find((l) => l.startsWith('ok:'));
  if (!line) throw new Error(`${kind} import of the built package failed:\n${out}`);
  console.log(`${kind}: ${line}`);
}
