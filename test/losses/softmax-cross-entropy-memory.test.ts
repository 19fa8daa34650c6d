// softmaxCrossEntropy's integer-label path is one custom gradient (issue 19):
// it must equal the autodiff of the plain formula (values and gradients, every
// option and reduction, on cpu and wasm), match finite differences, and hold
// at most about four logits-sized tensors at the peak of tf.grads
// (tfjs's byte accounting, deterministic) instead of the twenty to forty the
// autodiff path kept.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { type SoftmaxCrossEntropyOptions, softmaxCrossEntropy } from '../../src/index';
import { describeEachBackend } from '../helpers/backends';
import { expectClose } from '../helpers/close';
import { expectGradientsMatchFiniteDifferences } from '../helpers/gradcheck';
import { expectNoLeak } from '../helpers/leaks';

type Options = SoftmaxCrossEntropyOptions;

/**
 * The loss written with plain tf ops and differentiated by autodiff: PyTorch's
 * `cross_entropy` with label smoothing, class weights and ignored targets, plus
 * the z-loss. For finite logits only (it has none of the -Infinity guards).
 */
function plainLoss(logits: tf.Tensor, labels: tf.Tensor, o: Options): tf.Tensor {
  const classes = logits.shape[logits.rank - 1]!;
  const s = o.labelSmoothing ?? 0;
  const counted = tf.notEqual(labels, o.ignoreIndex ?? -100);
  const keep = tf.cast(counted, 'float32');
  const safe = tf.where(counted, labels, tf.zerosLike(labels));
  const target = tf.reshape(
    tf.cast(tf.oneHot(tf.reshape(safe, [-1]), classes), 'float32'),
    logits.shape,
  );
  const w = o.weights ?? tf.ones([classes]);
  const logProbs = tf.logSoftmax(logits);
  const targetWeight = tf.sum(tf.mul(target, w), -1);
  const nll = tf.mul(tf.neg(tf.sum(tf.mul(logProbs, target), -1)), targetWeight);
  const smooth = tf.div(tf.neg(tf.sum(tf.mul(logProbs, w), -1)), classes);
  const ce = tf.mul(tf.add(tf.mul(nll, 1 - s), tf.mul(smooth, s)), keep);
  const z = tf.mul(tf.mul(tf.square(tf.logSumExp(logits, -1)), o.zLossWeight ?? 0), keep);
  if (o.reduction === 'none') return tf.add(ce, z);
  if (o.reduction === 'sum') return tf.sum(tf.add(ce, z));
  return tf.add(
    tf.div(tf.sum(ce), tf.sum(tf.mul(targetWeight, keep))),
    tf.div(tf.sum(z), tf.sum(keep)),
  );
}

const OPTIONS: Array<[string, (weights: tf.Tensor) => Options]> = [
  ['plain', () => ({})],
  ['smoothing', () => ({ labelSmoothing: 0.2 })],
  ['weights', (weights) => ({ weights })],
  ['z-loss', () => ({ zLossWeight: 0.05 })],
  ['all', (weights) => ({ labelSmoothing: 0.1, weights, zLossWeight: 0.02 })],
  ['smoothing 1', (weights) => ({ labelSmoothing: 1, weights })],
];
const REDUCTIONS = ['mean', 'sum', 'none'] as const;

/** [2, 3, 6] logits, [2, 3] labels with two ignored targets, [6] class weights. */
function inputs() {
  const logits = tf.mul(tf.randomNormal([2, 3, 6], 0, 1, 'float32', 5), 3);
  const labels = tf.tensor2d(
    [
      [5, -100, 0],
      [2, 2, -100],
    ],
    undefined,
    'int32',
  );
  const weights = tf.tensor1d([0.5, 2, 1, 0.25, 3, 1.5]);
  return { logits, labels, weights };
}

/** Value and gradient of `f` at `logits`, with `dy` = ones. */
function valueAndGrad(f: (x: tf.Tensor) => tf.Tensor, logits: tf.Tensor) {
  const grad = tf.grad((x: tf.Tensor) => tf.sum(f(x)))(logits);
  return { value: Array.from(f(logits).dataSync()), grad };
}

describeEachBackend('softmaxCrossEntropy custom gradient equals autodiff of the formula', () => {
  for (const [name, make] of OPTIONS) {
    for (const reduction of REDUCTIONS) {
      it(`${name}, reduction ${reduction}`, () => {
        tf.tidy(() => {
          const { logits, labels, weights } = inputs();
          const o: Options = { ...make(weights), reduction };
          const ours = valueAndGrad((x) => softmaxCrossEntropy(x, labels, o), logits);
          const plain = valueAndGrad((x) => plainLoss(x, labels, o), logits);
          expectClose(ours.value, plain.value, { rtol: 1e-5, atol: 1e-6 });
          expectClose(ours.grad, plain.grad, { rtol: 1e-5, atol: 1e-6 });
          // The ignored targets (row 0 time 1, row 1 time 2) get no gradient.
          const ignored = tf.stack([
            tf.slice(ours.grad, [0, 1, 0], [1, 1, 6]),
            tf.slice(ours.grad, [1, 2, 0], [1, 1, 6]),
          ]);
          expect(Array.from(ignored.dataSync())).toEqual(new Array(12).fill(0));
        });
      });
    }
  }

  it('a non-uniform dy with reduction none scales each row of the gradient', () => {
    tf.tidy(() => {
      const { logits, labels, weights } = inputs();
      const o: Options = { reduction: 'none', weights, labelSmoothing: 0.1, zLossWeight: 0.01 };
      const dy = tf.tensor2d([
        [1, 2, 3],
        [-1, 0.5, 4],
      ]);
      const [ours] = tf.grads((x: tf.Tensor) => softmaxCrossEntropy(x, labels, o))([logits], dy);
      const [plain] = tf.grads((x: tf.Tensor) => plainLoss(x, labels, o))([logits], dy);
      expectClose(ours!, plain!, { rtol: 1e-5, atol: 1e-6 });
    });
  });

  it('logits of ±1e4 give the softmax gradient to float32 precision', () => {
    tf.tidy(() => {
      const logits = tf.tensor2d([
        [1e4, 1e4 - 1, -1e4],
        [3, 1e4, 1e4],
      ]);
      const labels = tf.tensor1d([0, 2], 'int32');
      const grad = tf.grad((x: tf.Tensor) =>
        softmaxCrossEntropy(x, labels, { labelSmoothing: 0.3 }),
      )(logits);
      const p = 1 / (1 + Math.exp(-1));
      const s = 0.3 / 3;
      expectClose(
        grad,
        [(p - 0.7 - s) / 2, (1 - p - s) / 2, -s / 2, -s / 2, (0.5 - s) / 2, (0.5 - 0.7 - s) / 2],
        {
          rtol: 1e-5,
          atol: 1e-6,
        },
      );
    });
  });

  it('one class: the loss and its gradient are 0', () => {
    tf.tidy(() => {
      const logits = tf.tensor2d([[2], [-3]]);
      const labels = tf.tensor1d([0, 0], 'int32');
      const f = (x: tf.Tensor) => softmaxCrossEntropy(x, labels, { labelSmoothing: 0.1 });
      expect(f(logits).dataSync()[0]).toBeCloseTo(0, 6);
      expectClose(tf.grad(f)(logits), [0, 0], { atol: 1e-6 });
    });
  });
});

describe('softmaxCrossEntropy custom gradient vs finite differences', () => {
  for (const [name, make] of OPTIONS) {
    it(name, () => {
      tf.tidy(() => {
        const { logits, labels, weights } = inputs();
        const o = make(weights);
        expectGradientsMatchFiniteDifferences(
          (x) => softmaxCrossEntropy(x, labels, o) as tf.Scalar,
          [logits],
          { samples: 12 },
        );
      });
    });
  }
});

describe('softmaxCrossEntropy memory: the backward keeps no [..., classes] intermediate', () => {
  const shape = [4, 128, 1024];
  const logitsBytes = 4 * 128 * 1024 * 4;

  /** Bytes held between forward and backward, and the peak of tf.grads, above the start. */
  async function measure(options: (w: tf.Tensor) => Options) {
    const logits = tf.randomNormal(shape, 0, 3, 'float32', 1);
    const labels = tf.tidy(() =>
      tf.reshape(
        tf.where(
          tf.equal(tf.mod(tf.range(0, 512, 1, 'int32'), 8), 0),
          tf.fill([512], -100, 'int32'),
          tf.randomUniformInt([512], 0, 1024, 2),
        ),
        [4, 128],
      ),
    );
    const weights = tf.randomUniform([1024], 0.5, 1.5, 'float32', 3);
    const o = options(weights);
    const start = tf.memory().numBytes;
    let kept = 0;
    const profile = await tf.profile(() => {
      const [grad] = tf.grads((x: tf.Tensor) => {
        const loss = softmaxCrossEntropy(x, labels, o);
        kept = tf.memory().numBytes - start;
        return loss;
      })([logits]);
      grad!.dispose();
    });
    tf.dispose([logits, labels, weights]);
    return { kept: kept / logitsBytes, peak: (profile.peakBytes - start) / logitsBytes };
  }

  for (const [name, make] of OPTIONS) {
    it(`${name}: keeps one view of the logits and peaks at about four logits`, async () => {
      const { kept, peak } = await measure(make);
      // Kept: the saved logits (a view: tfjs counts its bytes, no buffer is copied)
      // and a few [batch, time] rows. Peak: that view, the softmax, a one-hot
      // temporary and the gradient (the autodiff path peaked at 20 to 41).
      expect(kept).toBeLessThan(1.1);
      expect(peak).toBeLessThan(4.5);
    });
  }

  it('adds exactly its outputs, forward and backward, with every option', () => {
    const { logits, labels, weights } = inputs();
    const o: Options = { weights, labelSmoothing: 0.1, zLossWeight: 0.01, reduction: 'none' };
    expectNoLeak(() => softmaxCrossEntropy(logits, labels, o));
    expectNoLeak(() => tf.grads((x: tf.Tensor) => softmaxCrossEntropy(x, labels, o))([logits]));
    tf.dispose([logits, labels, weights]);
  });
});
