// softmaxCrossEntropy's input space (issue 22): the documented
// [batch, time, classes] layout with every option (checked against the same
// targets flattened to [batch·time, classes], which the PyTorch goldens cover),
// z-loss by hand, option combinations, rank-1 logits, and a rejection for
// every validation path, asserting the error's `argument`.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { type SoftmaxCrossEntropyOptions, softmaxCrossEntropy } from '../../src/index';
import { expectClose } from '../helpers/close';
import { expectNoLeak } from '../helpers/leaks';
import { thrownWithoutLeak } from '../helpers/rejections';

const int = (values: number[], shape?: number[]) => tf.tensor(values, shape, 'int32');
const TOL = { rtol: 1e-5, atol: 1e-6 };

/** [2, 3, 5] logits, labels with one ignored target, [5] class weights, [2, 3, 5] probabilities. */
function inputs() {
  const logits = tf.mul(tf.randomNormal([2, 3, 5], 0, 1, 'float32', 7), 3);
  const labels = int([4, 0, -100, 2, 2, 1], [2, 3]);
  const weights = tf.tensor1d([0.5, 2, 1, 0.25, 3]);
  const probs = tf.softmax(tf.randomNormal([2, 3, 5], 0, 2, 'float32', 11));
  return { logits, labels, weights, probs };
}

/** The z-loss per target: `logsumexp(logits)²` over the last axis. */
const lseSquared = (logits: tf.Tensor) => tf.square(tf.logSumExp(logits, -1));

const COMBOS: Array<[string, (w: tf.Tensor) => SoftmaxCrossEntropyOptions]> = [
  ['z-loss', () => ({ zLossWeight: 0.1 })],
  ['weights + z-loss', (weights) => ({ weights, zLossWeight: 0.05 })],
  ['smoothing + weights', (weights) => ({ weights, labelSmoothing: 0.2 })],
  [
    'smoothing + weights + z-loss',
    (weights) => ({ weights, labelSmoothing: 0.3, zLossWeight: 0.02 }),
  ],
];
const REDUCTIONS = ['mean', 'sum', 'none'] as const;

describe('softmaxCrossEntropy on [batch, time, classes] logits equals the flattened call', () => {
  for (const [name, options] of COMBOS) {
    for (const reduction of REDUCTIONS) {
      it(`integer labels, ${name}, reduction ${reduction}`, () => {
        tf.tidy(() => {
          const { logits, labels, weights } = inputs();
          const o = { ...options(weights), reduction };
          const rank3 = softmaxCrossEntropy(logits, labels, o);
          const flat = softmaxCrossEntropy(tf.reshape(logits, [6, 5]), tf.reshape(labels, [6]), o);
          expect(rank3.shape).toEqual(reduction === 'none' ? [2, 3] : []);
          expectClose(tf.reshape(rank3, [-1]), tf.reshape(flat, [-1]), TOL);
        });
      });

      it(`probability labels, ${name}, reduction ${reduction}`, () => {
        tf.tidy(() => {
          const { logits, probs, weights } = inputs();
          const o = { ...options(weights), reduction };
          const rank3 = softmaxCrossEntropy(logits, probs, o);
          const flat = softmaxCrossEntropy(
            tf.reshape(logits, [6, 5]),
            tf.reshape(probs, [6, 5]),
            o,
          );
          expect(rank3.shape).toEqual(reduction === 'none' ? [2, 3] : []);
          expectClose(tf.reshape(rank3, [-1]), tf.reshape(flat, [-1]), TOL);
        });
      });
    }
  }

  it('the gradient of the rank-3 call equals the flattened one (weights + smoothing + z-loss)', () => {
    tf.tidy(() => {
      const { logits, labels, weights } = inputs();
      const o = { weights, labelSmoothing: 0.1, zLossWeight: 0.1 };
      const g3 = tf.grad((x: tf.Tensor) => softmaxCrossEntropy(x, labels, o))(logits);
      const g2 = tf.grad((x: tf.Tensor) => softmaxCrossEntropy(x, tf.reshape(labels, [6]), o))(
        tf.reshape(logits, [6, 5]),
      );
      expectClose(tf.reshape(g3, [6, 5]), g2, TOL);
      // The ignored target (row 0, time 2) gets no gradient.
      expectClose(tf.slice(g3, [0, 2, 0], [1, 1, 5]), [0, 0, 0, 0, 0]);
    });
  });
});

describe('softmaxCrossEntropy z-loss, by hand', () => {
  it('adds zLossWeight · mean(logsumexp²) over the counted targets, with and without weights', () => {
    tf.tidy(() => {
      const { logits, labels, weights } = inputs();
      const counted = tf.cast(tf.notEqual(labels, -100), 'float32');
      const zMean = tf.div(tf.sum(tf.mul(lseSquared(logits), counted)), tf.sum(counted));
      for (const w of [undefined, weights]) {
        const base = softmaxCrossEntropy(logits, labels, { weights: w });
        const withZ = softmaxCrossEntropy(logits, labels, { weights: w, zLossWeight: 0.3 });
        // The z-loss mean divides by the count of targets, not by their class weight.
        expectClose(withZ, tf.add(base, tf.mul(zMean, 0.3)), TOL);
      }
    });
  });

  it("adds zLossWeight · logsumexp² per target with reduction 'none' and 'sum', 0 where ignored", () => {
    tf.tidy(() => {
      const { logits, labels } = inputs();
      const counted = tf.cast(tf.notEqual(labels, -100), 'float32');
      const z = tf.mul(tf.mul(lseSquared(logits), counted), 0.5);
      const base = softmaxCrossEntropy(logits, labels, { reduction: 'none' });
      const withZ = softmaxCrossEntropy(logits, labels, { reduction: 'none', zLossWeight: 0.5 });
      expectClose(withZ, tf.add(base, z), TOL);
      expect(withZ.arraySync()).toEqual(expect.arrayContaining([expect.any(Array)]));
      expect((withZ.arraySync() as number[][])[0]![2]).toBe(0);
      const sum = softmaxCrossEntropy(logits, labels, { reduction: 'sum', zLossWeight: 0.5 });
      expectClose(
        sum,
        tf.add(softmaxCrossEntropy(logits, labels, { reduction: 'sum' }), tf.sum(z)),
      );
    });
  });

  it('adds zLossWeight · mean(logsumexp²) with probability labels', () => {
    tf.tidy(() => {
      const { logits, probs } = inputs();
      const base = softmaxCrossEntropy(logits, probs);
      const withZ = softmaxCrossEntropy(logits, probs, { zLossWeight: 0.25 });
      expectClose(withZ, tf.add(base, tf.mul(tf.mean(lseSquared(logits)), 0.25)), TOL);
    });
  });

  it('zLossWeight 0 is the plain loss, and the z-loss grows with the logits’ scale', () => {
    tf.tidy(() => {
      const { logits, labels } = inputs();
      const plain = softmaxCrossEntropy(logits, labels);
      expectClose(softmaxCrossEntropy(logits, labels, { zLossWeight: 0 }), plain);
      const shifted = tf.add(logits, 10); // cross-entropy is shift-invariant, z-loss is not
      expectClose(softmaxCrossEntropy(shifted, labels), plain, { rtol: 1e-4, atol: 1e-5 });
      const zShifted = softmaxCrossEntropy(shifted, labels, { zLossWeight: 1 });
      expect(zShifted.dataSync()[0]).toBeGreaterThan(100);
    });
  });
});

describe('softmaxCrossEntropy on huge logits', () => {
  it('is finite for logits of ±1e20 without z-loss (logsumexp² would overflow float32)', () => {
    tf.tidy(() => {
      const logits = tf.tensor2d([
        [1e20, 0, -1e20],
        [-1e20, 1e20, 0],
      ]);
      const probs = tf.tensor2d([
        [0.5, 0.5, 0],
        [0, 1, 0],
      ]);
      for (const options of [{}, { zLossWeight: 0 }, { labelSmoothing: 0 }]) {
        const hard = softmaxCrossEntropy(logits, int([0, 1]), options).dataSync()[0]!;
        expect(hard).toBe(0);
        const soft = softmaxCrossEntropy(logits, probs, options).dataSync()[0]!;
        expect(Number.isFinite(soft), `soft labels: ${soft}`).toBe(true);
      }
    });
  });
});

describe('softmaxCrossEntropy on rank-1 logits', () => {
  it('a scalar integer label equals the [1, classes] call, for every reduction', () => {
    tf.tidy(() => {
      const logits = tf.tensor1d([1, -2, 0.5, 3]);
      for (const reduction of REDUCTIONS) {
        const o = { reduction, labelSmoothing: 0.1, zLossWeight: 0.01 };
        const one = softmaxCrossEntropy(logits, tf.scalar(2, 'int32'), o);
        const batch = softmaxCrossEntropy(tf.reshape(logits, [1, 4]), int([2]), o);
        expect(one.shape).toEqual([]);
        expectClose(one, tf.reshape(batch, []), TOL);
      }
      // By hand: -log softmax(logits)[2].
      const plain = softmaxCrossEntropy(logits, tf.scalar(2, 'int32'));
      expectClose(plain, tf.neg(tf.reshape(tf.slice(tf.logSoftmax(logits), [2], [1]), [])), TOL);
    });
  });

  it('[classes] probabilities equal the [1, classes] call', () => {
    tf.tidy(() => {
      const logits = tf.tensor1d([1, -2, 0.5, 3]);
      const p = tf.tensor1d([0.1, 0.2, 0.3, 0.4]);
      const one = softmaxCrossEntropy(logits, p, { zLossWeight: 0.1 });
      const batch = softmaxCrossEntropy(tf.reshape(logits, [1, 4]), tf.reshape(p, [1, 4]), {
        zLossWeight: 0.1,
      });
      expectClose(one, batch, TOL);
    });
  });

  it('an ignored scalar label gives 0', () => {
    tf.tidy(() => {
      const loss = softmaxCrossEntropy(tf.tensor1d([1, 2]), tf.scalar(-100, 'int32'), {
        zLossWeight: 1,
      });
      expectClose(loss, 0);
    });
  });
});

describe('softmaxCrossEntropy adds exactly its outputs on the combined paths', () => {
  it('rank 3, every combination, forward and backward', () => {
    const { logits, labels, weights, probs } = inputs();
    for (const [, options] of COMBOS) {
      for (const target of [labels, probs]) {
        const o = options(weights);
        expectNoLeak(() => softmaxCrossEntropy(logits, target, o));
        expectNoLeak(() => tf.grad((x: tf.Tensor) => softmaxCrossEntropy(x, target, o))(logits));
      }
    }
    tf.dispose([logits, labels, weights, probs]);
  });
});

describe('softmaxCrossEntropy rejects bad input, naming the argument', () => {
  type Args = [logits: unknown, labels: unknown, options?: SoftmaxCrossEntropyOptions];
  const x = () => tf.zeros([2, 5]);
  const y = () => int([0, 1]);
  // Each case makes its arguments first; the call alone must leave no tensor behind.
  const cases: Array<[string, () => Args, string]> = [
    ['scalar logits', () => [tf.scalar(1), tf.scalar(0, 'int32')], 'logits'],
    ['int32 logits', () => [int([1, 2], [1, 2]), int([0])], 'logits'],
    ['logits not a tensor', () => [[1, 2], int([0])], 'logits'],
    ['soft labels of lower rank', () => [tf.zeros([2, 3, 5]), tf.zeros([3, 5])], 'labels'],
    ['soft labels with another class count', () => [x(), tf.zeros([2, 4])], 'labels'],
    [
      'float32 labels of the integer labels’ shape (class indices must be int32)',
      () => [tf.zeros([2, 3, 5]), tf.zeros([2, 3])],
      'labels',
    ],
    [
      'disposed probability labels',
      () => {
        const p = tf.zeros([2, 5]);
        p.dispose();
        return [x(), p];
      },
      'labels',
    ],
    ['integer labels of the logits’ rank', () => [x(), int([0, 1], [2, 1])], 'labels'],
    ['an out-of-range label', () => [x(), int([0, 5])], 'labels'],
    ['a negative label other than ignoreIndex', () => [x(), int([0, -1])], 'labels'],
    ['negative zLossWeight', () => [x(), y(), { zLossWeight: -0.1 }], 'options.zLossWeight'],
    ['NaN zLossWeight', () => [x(), y(), { zLossWeight: Number.NaN }], 'options.zLossWeight'],
    ['rank-2 weights', () => [x(), y(), { weights: tf.ones([1, 5]) }], 'options.weights'],
    ['int32 weights', () => [x(), y(), { weights: int([1, 1, 1, 1, 1]) }], 'options.weights'],
    [
      'weights of another class count',
      () => [x(), y(), { weights: tf.ones([4]) }],
      'options.weights.shape[0]',
    ],
    ['labelSmoothing above 1', () => [x(), y(), { labelSmoothing: 1.5 }], 'options.labelSmoothing'],
    [
      'negative labelSmoothing',
      () => [x(), y(), { labelSmoothing: -0.1 }],
      'options.labelSmoothing',
    ],
    ['a fractional ignoreIndex', () => [x(), y(), { ignoreIndex: 0.5 }], 'options.ignoreIndex'],
    ['an unknown reduction', () => [x(), y(), { reduction: 'avg' as never }], 'options.reduction'],
  ];
  for (const [name, make, argument] of cases) {
    it(`${name}: argument ${argument}`, () => {
      tf.tidy(() => {
        const [logits, labels, options] = make();
        const error = thrownWithoutLeak(() =>
          softmaxCrossEntropy(logits as tf.Tensor, labels as tf.Tensor, options),
        );
        expect(error.argument).toBe(argument);
        expect(error.functionName).toBe('softmaxCrossEntropy');
      });
    });
  }

  it('accepts labelSmoothing 1 and zLossWeight 0 (the inclusive bounds)', () => {
    tf.tidy(() => {
      const loss = softmaxCrossEntropy(tf.zeros([2, 5]), int([0, 1]), {
        labelSmoothing: 1,
        zLossWeight: 0,
      });
      expectClose(loss, Math.log(5), TOL);
    });
  });
});
