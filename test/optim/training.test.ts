import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { describe, expect, it } from 'vitest';
import {
  adadelta,
  adafactor,
  adagrad,
  adam,
  adamax,
  adamw,
  chain,
  clipByGlobalNorm,
  createOptimizer,
  type GradientTransformation,
  lamb,
  lion,
  nadam,
  radam,
  rmsprop,
  sgd,
  TransformOptimizer,
} from '../../src/index';
import { describeEachBackend } from '../helpers/backends';

// Learning rates picked per optimizer family for these two small problems.
const OPTIMIZERS: Record<
  string,
  (problem: 'rosenbrock' | 'classifier') => GradientTransformation<unknown>
> = {
  sgd: () => sgd({ learningRate: 1e-3, momentum: 0.9 }),
  adam: () => adam({ learningRate: 2e-2 }),
  adamw: () => adamw({ learningRate: 2e-2 }),
  adamax: () => adamax({ learningRate: 2e-2 }),
  nadam: () => nadam({ learningRate: 2e-2 }),
  // RAdam's first steps are plain momentum SGD: a small rate survives Rosenbrock's steep start.
  radam: (problem) => radam({ learningRate: problem === 'rosenbrock' ? 2e-3 : 2e-2 }),
  adagrad: () => adagrad({ learningRate: 0.2 }),
  adadelta: () => adadelta({ learningRate: 1 }),
  rmsprop: () => rmsprop({ learningRate: 2e-3 }),
  lion: () => lion({ learningRate: 2e-3 }),
  lamb: () => lamb({ learningRate: 2e-2 }),
  adafactor: () => adafactor({ learningRate: 0.1 }),
};

function rosenbrock(p: tf.Tensor): tf.Scalar {
  const x = tf.slice(p, [0], [1]);
  const y = tf.slice(p, [1], [1]);
  return tf.sum(
    tf.add(tf.square(tf.sub(1, x)), tf.mul(100, tf.square(tf.sub(y, tf.square(x))))),
  ) as tf.Scalar;
}

/** Two Gaussian blobs, 64 points, labels 0/1. */
function blobs() {
  const a = tf.add(tf.randomNormal([32, 2], 0, 0.6, 'float32', 1), tf.tensor1d([1, 1]));
  const b = tf.add(tf.randomNormal([32, 2], 0, 0.6, 'float32', 2), tf.tensor1d([-1, -1]));
  return {
    x: tf.concat([a, b]),
    y: tf.oneHot(tf.tensor1d([...Array(32).fill(0), ...Array(32).fill(1)], 'int32'), 2),
  };
}

describeEachBackend('every optimizer trains', () => {
  for (const [name, make] of Object.entries(OPTIMIZERS)) {
    it(`${name}: lowers Rosenbrock from (-1.5, 2) and a two-blob classifier's loss`, () => {
      const p = tf.variable(tf.tensor1d([-1.5, 2]));
      const opt = createOptimizer(make('rosenbrock'), { p });
      const start = tf.tidy(() => rosenbrock(p).dataSync()[0]!);
      for (let i = 0; i < 300; i++) opt.minimize(() => rosenbrock(p));
      const end = tf.tidy(() => rosenbrock(p).dataSync()[0]!);
      expect(end).toBeLessThan(start / 2);
      opt.dispose();
      p.dispose();

      const { x, y } = blobs();
      const w1 = tf.variable(tf.randomNormal([2, 8], 0, 0.5, 'float32', 3));
      const w2 = tf.variable(tf.randomNormal([8, 2], 0, 0.5, 'float32', 4));
      const loss = () =>
        tf.tidy(
          () =>
            tf.losses.softmaxCrossEntropy(y, tf.matMul(tf.tanh(tf.matMul(x, w1)), w2)) as tf.Scalar,
        );
      const classifier = createOptimizer(make('classifier'), { w1, w2 });
      const before = tf.tidy(() => loss().dataSync()[0]!);
      for (let i = 0; i < 100; i++) classifier.minimize(loss);
      const after = tf.tidy(() => loss().dataSync()[0]!);
      expect(after).toBeLessThan(before * 0.7);
      classifier.dispose();
      tf.dispose([x, y, w1, w2]);
    });
  }
});

describe('no tensor leaks over 1,000 steps of chain(clipByGlobalNorm(1), adamw)', () => {
  const optimizer = () => chain(clipByGlobalNorm(1), adamw({ learningRate: 1e-3 }));

  it('through createOptimizer', () => {
    const w = tf.variable(tf.randomNormal([4, 3]));
    const b = tf.variable(tf.zeros([3]));
    const x = tf.randomNormal([16, 4]);
    const opt = createOptimizer(optimizer(), { w, b });
    const loss = () => tf.mean(tf.square(tf.add(tf.matMul(x, w), b))) as tf.Scalar;
    opt.minimize(loss); // warm-up: creates nothing that lasts beyond the state
    const before = tf.memory().numTensors;
    for (let i = 0; i < 1000; i++) opt.minimize(loss);
    expect(tf.memory().numTensors).toBe(before);
    opt.dispose();
    tf.dispose([w, b, x]);
  });

  it('through the tf.Optimizer adapter', () => {
    const w = tf.variable(tf.randomNormal([4, 3]));
    const x = tf.randomNormal([16, 4]);
    const opt = new TransformOptimizer(optimizer());
    const loss = () => tf.mean(tf.square(tf.matMul(x, w))) as tf.Scalar;
    opt.minimize(loss);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 1000; i++) opt.minimize(loss);
    expect(tf.memory().numTensors).toBe(before);
    expect(opt.iterations).toBe(1001);
    opt.dispose();
    tf.dispose([w, x]);
  });

  it('through model.fit, whose loss falls', async () => {
    const model = tfl.sequential({
      layers: [
        tfl.layers.dense({ inputShape: [4], units: 8, activation: 'tanh' }),
        tfl.layers.dense({ units: 1 }),
      ],
    });
    model.compile({ optimizer: new TransformOptimizer(optimizer()), loss: 'meanSquaredError' });
    const x = tf.randomNormal([32, 4], 0, 1, 'float32', 5);
    const y = tf.sum(x, 1, true);
    const first = await model.fit(x, y, { epochs: 1, batchSize: 32, verbose: 0 });
    const before = tf.memory().numTensors;
    const history = await model.fit(x, y, { epochs: 1000, batchSize: 32, verbose: 0 });
    expect(tf.memory().numTensors).toBe(before);
    const losses = history.history.loss as number[];
    expect(losses[losses.length - 1]!).toBeLessThan((first.history.loss![0] as number) * 0.2);
    model.dispose();
    tf.dispose([x, y]);
  });
});
