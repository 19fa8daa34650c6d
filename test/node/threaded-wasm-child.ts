// Spawned by threaded-wasm.test.ts: puts the wasm backend on the threaded
// build with two threads, runs a product large enough for XNNPACK to use both,
// prints `product done`, and returns without disposing anything: the process
// must still exit (the pthread workers are unref'd).
// Usage: node --import tsx test/node/threaded-wasm-child.ts
import * as tf from '@tensorflow/tfjs-core';
import { useThreadedWasm } from '../../src/node/threaded-wasm';

const threads = await useThreadedWasm({ threads: 2 });
const y = tf.matMul(tf.ones([64, 256]), tf.ones([256, 512]));
const values = await y.data();
console.log(`product done on ${threads} threads: ${values.length} values of ${values[0]}`);
