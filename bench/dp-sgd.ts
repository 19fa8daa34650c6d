// Per-example gradients: the one-pass path for linear layers
// (perExampleGradientsOfLinearLayers, Goodfellow 2015) against the general
// loop (perExampleGradients, one backward pass per example), same model,
// same batch, alternating in one run. Prints the figures; writes nothing.
//
//   npm run bench:dp-sgd                             (cpu and wasm)
//   npm run bench:dp-sgd -- --backends wasm --repeats 5 --batch 64
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import {
  type PerExampleLoss,
  perExampleGradients,
  perExampleGradientsOfLinearLayers,
  softmaxCrossEntropy,
} from 'tfjs-blocks';
import { upperMedian } from './median';
import { flag } from './report';

const backends = flag('backends', 'cpu,wasm').split(',');
const repeats = Number(flag('repeats', '3'));
const batchSize = Number(flag('batch', '64'));

interface Case {
  name: string;
  params: Record<string, tf.Tensor>;
  batch: Record<string, tf.Tensor>;
  loss: PerExampleLoss;
}

function mlp(): Case {
  // 784 -> 128 -> 10 (an MNIST-sized MLP), 101,770 parameters.
  return {
    name: `MLP 784-128-10, batch ${batchSize}`,
    params: {
      'hidden.kernel': tf.randomNormal([784, 128], 0, 0.05, 'float32', 1),
      'hidden.bias': tf.zeros([128]),
      'out.kernel': tf.randomNormal([128, 10], 0, 0.05, 'float32', 2),
      'out.bias': tf.zeros([10]),
    },
    batch: {
      x: tf.randomNormal([batchSize, 784], 0, 1, 'float32', 3),
      labels: tf.randomUniformInt([batchSize], 0, 10, 4),
    },
    loss: (_p, b, tape) =>
      softmaxCrossEntropy(tape.linear('out', tf.relu(tape.linear('hidden', b.x!))), b.labels!, {
        reduction: 'none',
      }),
  };
}

function sequence(): Case {
  // Token features [batch, 32, 64] -> 64 -> 64 per position, mean-pooled, -> 4 classes.
  return {
    name: `sequence 32 x 64 -> 64 -> 4, batch ${batchSize}`,
    params: {
      'a.kernel': tf.randomNormal([64, 64], 0, 0.1, 'float32', 5),
      'a.bias': tf.zeros([64]),
      'b.kernel': tf.randomNormal([64, 64], 0, 0.1, 'float32', 6),
      'head.kernel': tf.randomNormal([64, 4], 0, 0.1, 'float32', 7),
    },
    batch: {
      x: tf.randomNormal([batchSize, 32, 64], 0, 1, 'float32', 8),
      labels: tf.randomUniformInt([batchSize], 0, 4, 9),
    },
    loss: (_p, b, tape) => {
      const h = tf.tanh(tape.linear('b', tf.relu(tape.linear('a', b.x!))));
      return softmaxCrossEntropy(tape.linear('head', tf.mean(h, 1)), b.labels!, {
        reduction: 'none',
      });
    },
  };
}

function time(f: () => Record<string, tf.Tensor>): { ms: number; out: Record<string, tf.Tensor> } {
  const start = performance.now();
  const out = f();
  // cpu and wasm kernels run synchronously: reading one value waits for all of them.
  for (const t of Object.values(out)) tf.slice(tf.reshape(t, [-1]), [0], [1]).dataSync();
  return { ms: performance.now() - start, out };
}

for (const backend of backends) {
  await tf.setBackend(backend);
  await tf.ready();
  for (const make of [mlp, sequence]) {
    const c = make();
    const runs = { loop: [] as number[], onePass: [] as number[] };
    let maxDiff = 0;
    for (let r = 0; r <= repeats; r++) {
      const loop = time(() => perExampleGradients(c.loss, c.params, c.batch));
      const fast = time(() => perExampleGradientsOfLinearLayers(c.loss, c.params, c.batch));
      for (const name of Object.keys(c.params)) {
        const d = tf.tidy(
          () => tf.max(tf.abs(tf.sub(loop.out[name]!, fast.out[name]!))).dataSync()[0]!,
        );
        maxDiff = Math.max(maxDiff, d);
      }
      tf.dispose([loop.out, fast.out]);
      // The first round warms kernels up and is not counted.
      if (r > 0) {
        runs.loop.push(loop.ms);
        runs.onePass.push(fast.ms);
      }
    }
    const loopMs = upperMedian(runs.loop);
    const fastMs = upperMedian(runs.onePass);
    console.log(
      `${backend.padEnd(4)} ${c.name.padEnd(40)} loop ${loopMs.toFixed(1).padStart(8)} ms  ` +
        `one pass ${fastMs.toFixed(1).padStart(7)} ms  speed-up ${(loopMs / fastMs).toFixed(1)}x  ` +
        `max |diff| ${maxDiff.toExponential(1)}`,
    );
    tf.dispose([c.params, c.batch]);
  }
}
