import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { describe, expect, it } from 'vitest';
import {
  adamw,
  cosineEmbeddingLoss,
  ctcLoss,
  distillationLoss,
  focalLoss,
  huberLoss,
  infoNceLoss,
  klDivergence,
  meanAbsoluteError,
  meanSquaredError,
  perplexity,
  sigmoidBinaryCrossEntropy,
  softmaxCrossEntropy,
  TransformOptimizer,
  tokenAccuracy,
  toLayersLoss,
  toLayersMetric,
  tripletMarginLoss,
} from '../../src/index';
import { describeEachBackend } from '../helpers/backends';
import { expectClose } from '../helpers/close';
import { expectNoLeak } from '../helpers/leaks';
import { describeRejections } from '../helpers/rejections';

const int = (values: number[], shape?: number[]) => tf.tensor(values, shape, 'int32');

describeEachBackend('losses: extremes, metrics, leaks', () => {
  it('±1e4 logits give finite values and gradients', () => {
    tf.tidy(() => {
      const logits = tf.tensor2d([
        [1e4, -1e4, 0],
        [-1e4, 1e4, 1e4],
      ]);
      const checks: Array<(x: tf.Tensor) => tf.Tensor> = [
        (x) => softmaxCrossEntropy(x, int([1, 0]), { zLossWeight: 1e-4, labelSmoothing: 0.1 }),
        (x) => sigmoidBinaryCrossEntropy(x, tf.onesLike(x)),
        (x) => focalLoss(x, tf.zerosLike(x)),
        (x) => distillationLoss(x, tf.reverse(x, 1), { labels: int([0, 2]) }),
      ];
      for (const f of checks) {
        const { value, grad } = tf.valueAndGrad((x: tf.Tensor) => f(x) as tf.Scalar)(logits);
        expect(Number.isFinite(value.dataSync()[0])).toBe(true);
        expect(tf.all(tf.isFinite(grad)).dataSync()[0]).toBe(1);
      }
    });
  });

  it('tripletMarginLoss adds options.epsilon to each difference (p = 1: loss = margin - 2 + 2ε)', () => {
    tf.tidy(() => {
      const zero = tf.zeros([1, 3]);
      const negative = tf.tensor2d([[-1, 1, 0]]);
      const loss = (epsilon?: number) =>
        tripletMarginLoss(zero, zero, negative, { margin: 2, p: 1, epsilon });
      expectClose(loss(0.25), tf.scalar(0.5), { rtol: 1e-6, atol: 1e-6 });
      expectClose(loss(0), tf.scalar(0), { rtol: 0, atol: 1e-6 });
      expectClose(loss(), tf.scalar(2e-6), { rtol: 1e-3, atol: 1e-7 });
    });
  });

  it('tokenAccuracy and perplexity count only non-ignored targets', () => {
    tf.tidy(() => {
      const logits = tf.tensor2d([
        [2, 1, 0],
        [0, 3, 1],
        [1, 0, 5],
        [9, 0, 0],
      ]);
      const labels = int([0, 2, 2, -100]);
      expectClose(tokenAccuracy(logits, labels), 2 / 3);
      const ce = softmaxCrossEntropy(logits, labels);
      expectClose(perplexity(logits, labels), Math.exp(ce.dataSync()[0]!));
      expectClose(tokenAccuracy(logits, int([-100, -100, -100, -100])), 0);
      expectClose(perplexity(logits, int([-100, -100, -100, -100])), 1);
    });
  });

  it('every loss adds exactly its output, forward and backward', () => {
    const x = tf.randomNormal([4, 5], 0, 1, 'float32', 1);
    const y = tf.randomNormal([4, 5], 0, 1, 'float32', 2);
    const labels = int([0, 4, -100, 2]);
    const probs = tf.softmax(y);
    const logProbs = tf.logSoftmax(tf.randomNormal([6, 2, 5], 0, 1, 'float32', 3)) as tf.Tensor3D;
    const soft = tf.sigmoid(y);
    const signs = tf.tensor1d([1, -1, 1, -1]);
    const negative = tf.neg(y);
    const classes = int([0, 1, 2, 3]);
    const targets = int([1, 2, 3, 0], [2, 2]);
    const accuracy = (a: tf.Tensor) => tokenAccuracy(a, labels);
    const calls: Array<(a: tf.Tensor) => tf.Tensor> = [
      accuracy,
      (a) => softmaxCrossEntropy(a, labels, { labelSmoothing: 0.1, zLossWeight: 1e-3 }),
      (a) => softmaxCrossEntropy(a, probs),
      (a) => sigmoidBinaryCrossEntropy(a, soft),
      (a) => focalLoss(a, soft),
      (a) => meanSquaredError(a, y),
      (a) => meanAbsoluteError(a, y),
      (a) => huberLoss(a, y),
      (a) => tf.tidy(() => klDivergence(tf.logSoftmax(a), probs, { reduction: 'batchmean' })),
      (a) => cosineEmbeddingLoss(a, y, signs),
      (a) => tripletMarginLoss(a, y, negative),
      (a) => infoNceLoss(a, y),
      (a) => distillationLoss(a, y, { labels: classes }),
      (a) => perplexity(a, labels),
    ];
    for (const f of calls) {
      expectNoLeak(() => f(x));
      // Accuracy is a count: it has no gradient.
      if (f !== accuracy) expectNoLeak(() => tf.grad((a: tf.Tensor) => f(a) as tf.Scalar)(x));
    }
    expectNoLeak(() => ctcLoss(logProbs, targets, [6, 5], [2, 1]));
    expectNoLeak(() =>
      tf.grad((lp: tf.Tensor) => ctcLoss(lp as tf.Tensor3D, targets, [6, 5], [2, 1]) as tf.Scalar)(
        logProbs,
      ),
    );
    tf.dispose([x, y, labels, probs, logProbs, soft, signs, negative, classes, targets]);
  });
});

describe('losses through model.compile', () => {
  it('a sequence classifier trains with softmaxCrossEntropy and reports tokenAccuracy, leak-free', async () => {
    const model = tfl.sequential({
      layers: [
        tfl.layers.dense({ inputShape: [6, 4], units: 16, activation: 'tanh' }),
        tfl.layers.dense({ units: 3 }),
      ],
    });
    model.compile({
      optimizer: new TransformOptimizer(adamw({ learningRate: 2e-2 })),
      loss: toLayersLoss(
        (logits, labels) => softmaxCrossEntropy(logits, labels, { labelSmoothing: 0.05 }),
        {
          integerLabels: true,
          name: 'sequenceCrossEntropy',
        },
      ),
      metrics: [toLayersMetric(tokenAccuracy, { integerLabels: true, name: 'tokenAccuracy' })],
    });
    const x = tf.randomNormal([32, 6, 4], 0, 1, 'float32', 7);
    // The class of each token is the arg-max of its first three features;
    // model.fit wants targets of the output's shape, so they go in one-hot,
    // and the last token of every sequence is ignored (an all-zero row).
    const classes = tf.argMax(tf.slice(x, [0, 0, 0], [-1, -1, 3]), -1);
    const keep = tf.concat([tf.ones([32, 5, 1]), tf.zeros([32, 1, 1])], 1);
    const y = tf.mul(tf.oneHot(classes, 3), keep);
    await model.fit(x, y, { epochs: 1, batchSize: 16, verbose: 0 });
    const before = tf.memory().numTensors;
    const history = await model.fit(x, y, { epochs: 60, batchSize: 16, verbose: 0 });
    expect(tf.memory().numTensors).toBe(before);
    const losses = history.history.loss as number[];
    expect(losses[losses.length - 1]!).toBeLessThan(losses[0]! * 0.6);
    const accuracy = history.history.tokenAccuracy as number[];
    expect(accuracy[accuracy.length - 1]!).toBeGreaterThan(0.8);
    model.dispose();
    tf.dispose([x, y, classes, keep]);
  });
});

describeRejections('losses reject bad input with a TfjsBlocksError', () => [
  [
    'label out of range',
    () => softmaxCrossEntropy(tf.zeros([2, 3]), int([0, 3])),
    /labels must be an int32 tensor of shape \[2\] with values in \[0, 3\) or -100; got 3 at flat index 1/,
  ],
  [
    'labels of the wrong shape',
    () => softmaxCrossEntropy(tf.zeros([2, 3]), int([0, 1, 2])),
    /labels must be an int32 tensor of shape \[2\].*got shape \[3\]/,
  ],
  [
    'float labels of the wrong shape',
    () => softmaxCrossEntropy(tf.zeros([2, 3]), tf.zeros([2, 4])),
    /labels must be class indices \(int32\) or probabilities of the logits' shape \[2, 3\]; got shape \[2, 4\]/,
  ],
  [
    'weights of the wrong size',
    () => softmaxCrossEntropy(tf.zeros([2, 3]), int([0, 1]), { weights: tf.ones([2]) }),
    /options.weights.shape\[0\] must be logits' class count = 3; got 2/,
  ],
  [
    'label smoothing above 1',
    () => softmaxCrossEntropy(tf.zeros([2, 3]), int([0, 1]), { labelSmoothing: 1.5 }),
    /options.labelSmoothing must be a finite number in \[0, 1\]; got 1.5/,
  ],
  [
    'unknown reduction',
    () => meanSquaredError(tf.zeros([2]), tf.zeros([2]), { reduction: 'avg' as 'mean' }),
    /options.reduction must be 'mean', 'sum', 'none'; got string avg/,
  ],
  [
    'target shape mismatch',
    () => meanSquaredError(tf.zeros([2, 3]), tf.zeros([3, 2])),
    /targets must be the shape of predictions \[2, 3\]; got shape \[3, 2\]/,
  ],
  [
    'bce target shape',
    () => sigmoidBinaryCrossEntropy(tf.zeros([4]), tf.zeros([2])),
    /targets must be the shape of logits \[4\]; got shape \[2\]/,
  ],
  [
    'ctc input length longer than time',
    () => ctcLoss(tf.zeros([5, 1, 4]) as tf.Tensor3D, int([1, 2], [1, 2]), [6], [2]),
    /inputLengths\[0\] must be in \[1, 5\] \(the time axis of logProbs\); got 6/,
  ],
  [
    'ctc target length longer than targets',
    () => ctcLoss(tf.zeros([5, 1, 4]) as tf.Tensor3D, int([1, 2], [1, 2]), [5], [3]),
    /targetLengths\[0\] must be at most the targets' width 2; got 3/,
  ],
  [
    'ctc blank inside a target',
    () => ctcLoss(tf.zeros([5, 1, 4]) as tf.Tensor3D, int([1, 0], [1, 2]), [5], [2]),
    /targets \(sequence 0, position 1\) must be a class in \[0, 4\) other than blank 0; got 0/,
  ],
  [
    'ctc wrong number of lengths',
    () => ctcLoss(tf.zeros([5, 2, 4]) as tf.Tensor3D, int([1, 2], [2, 1]), [5], [1, 1]),
    /inputLengths must be 2 lengths/,
  ],
  [
    'kl reduction',
    () => klDivergence(tf.zeros([2]), tf.zeros([2]), { reduction: 'avg' as 'mean' }),
    /options.reduction must be 'mean', 'batchmean', 'sum', 'none'; got string avg/,
  ],
  [
    'distillation alpha without labels',
    () => distillationLoss(tf.zeros([2, 3]), tf.zeros([2, 3]), { alpha: 0.5 }),
    /options.labels must be given when options.alpha \(0.5\) < 1/,
  ],
  [
    'infoNce batch mismatch',
    () => infoNceLoss(tf.zeros([4, 8]), tf.zeros([3, 8])),
    /b must be the shape of a \[4, 8\]; got shape \[3, 8\]/,
  ],
]);
