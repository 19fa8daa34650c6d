import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import {
  distillationLoss,
  focalLoss,
  klDivergence,
  perplexity,
  sigmoidBinaryCrossEntropy,
  softmaxCrossEntropy,
  tokenAccuracy,
} from '../../src/index';
import { describeEachBackend } from '../helpers/backends';
import { expectClose } from '../helpers/close';
import { expectNoLeak } from '../helpers/leaks';

const NEG_INF = Number.NEGATIVE_INFINITY;
const int = (values: number[], shape?: number[]) => tf.tensor(values, shape, 'int32');
const allFinite = (t: tf.Tensor) => tf.tidy(() => tf.all(tf.isFinite(t)).dataSync()[0] === 1);

/** Value and gradient of a scalar function of one tensor. */
function valueAndGrad(f: (x: tf.Tensor) => tf.Tensor, x: tf.Tensor) {
  return tf.valueAndGrad((a: tf.Tensor) => tf.sum(f(a)) as tf.Scalar)(x);
}

// Every loss that weights log-probabilities or softplus terms by targets,
// masks or class weights, fed the -Infinity of a masked class (0 · -Infinity
// must never appear). softmaxCrossEntropy itself is checked against PyTorch
// goldens in losses.test.ts (ce_masked_*).
describeEachBackend('losses: masked (-Infinity) and infinite logits give no NaN', () => {
  it('sigmoidBinaryCrossEntropy: ±Infinity logits give 0 or +Infinity and PyTorch’s gradient', () => {
    tf.tidy(() => {
      const x = tf.tensor1d([Infinity, NEG_INF, Infinity, NEG_INF, 1]);
      const y = tf.tensor1d([1, 0, 0, 1, 1]);
      const none = sigmoidBinaryCrossEntropy(x, y, { reduction: 'none' });
      expect(Array.from(none.dataSync()).slice(0, 4)).toEqual([0, 0, Infinity, Infinity]);
      // torch.nn.functional.binary_cross_entropy_with_logits gradient (its values are NaN).
      const { grad } = valueAndGrad(
        (a) => sigmoidBinaryCrossEntropy(a, y, { reduction: 'sum' }),
        x,
      );
      expectClose(grad, [0, 0, 1, -1, -0.2689414213699951], { rtol: 1e-5, atol: 1e-6 });
      const focal = valueAndGrad((a) => focalLoss(a, y, { reduction: 'none' }), x);
      expect(Number.isNaN(focal.value.dataSync()[0])).toBe(false);
    });
  });

  it('klDivergence: a -Infinity input where the target is 0 adds 0, with PyTorch’s gradient', () => {
    tf.tidy(() => {
      const input = tf.tensor2d([[NEG_INF, -0.5, -1]]);
      const target = tf.tensor2d([[0, 0.6, 0.4]]);
      const { value, grad } = valueAndGrad(
        (a) => klDivergence(a, target, { reduction: 'sum' }),
        input,
      );
      const expected = 0.6 * (Math.log(0.6) + 0.5) + 0.4 * (Math.log(0.4) + 1);
      expectClose(value, expected);
      expectClose(grad, [0, -0.6, -0.4]); // torch's gradient (its value is NaN)
      const logTarget = tf.tensor2d([[NEG_INF, -0.4, -1.2]]);
      const viaLog = valueAndGrad(
        (a) => klDivergence(a, logTarget, { reduction: 'sum', logTarget: true }),
        input,
      );
      expectClose(viaLog.value, Math.exp(-0.4) * 0.1 + Math.exp(-1.2) * -0.2);
      expectClose(viaLog.grad, [0, -Math.exp(-0.4), -Math.exp(-1.2)]);
    });
  });

  it('distillationLoss: a class masked in both models changes nothing', () => {
    tf.tidy(() => {
      const student = tf.tensor2d([
        [1, NEG_INF, 0.5, -0.3],
        [0.2, NEG_INF, 2, 1],
      ]);
      const teacher = tf.tensor2d([
        [0.3, NEG_INF, 1.5, 0],
        [1, NEG_INF, -1, 0.5],
      ]);
      const labels = int([0, 2]);
      const masked = valueAndGrad(
        (s) => distillationLoss(s, teacher, { labels, temperature: 2, alpha: 0.6 }),
        student,
      );
      // The same loss with the masked class removed (labels 0, 2 become 0, 1).
      const keep = int([0, 2, 3]);
      const reduced = valueAndGrad(
        (s) =>
          distillationLoss(s, tf.gather(teacher, keep, 1), {
            labels: int([0, 1]),
            temperature: 2,
            alpha: 0.6,
          }),
        tf.gather(student, keep, 1),
      );
      expectClose(masked.value, reduced.value);
      expectClose(tf.gather(masked.grad, keep, 1), reduced.grad);
      expect(Array.from(tf.gather(masked.grad, [1], 1).dataSync())).toEqual([0, 0]);
    });
  });

  it('perplexity and tokenAccuracy: masked classes and an all -Infinity ignored row', () => {
    tf.tidy(() => {
      const logits = tf.tensor2d([
        [2, NEG_INF, 0],
        [NEG_INF, NEG_INF, NEG_INF],
        [0, 3, NEG_INF],
      ]);
      const labels = int([0, -100, 1]);
      const ce = (0 + Math.log(1 + Math.exp(-2)) + Math.log(1 + Math.exp(-3))) / 2;
      expectClose(perplexity(logits, labels), Math.exp(ce));
      expectClose(tokenAccuracy(logits, labels), 1);
      const { grad } = valueAndGrad((a) => perplexity(a, labels), logits);
      expect(allFinite(grad)).toBe(true);
      expect(Array.from(tf.slice(grad, [1, 0], [1, 3]).dataSync())).toEqual([0, 0, 0]);
    });
  });

  it('softmaxCrossEntropy: an all -Infinity ignored row adds no loss and no gradient, on every path', () => {
    tf.tidy(() => {
      const logits = tf.tensor2d([
        [1, NEG_INF, 2],
        [NEG_INF, NEG_INF, NEG_INF],
      ]);
      const labels = int([2, -100]);
      const variants = [
        {},
        { zLossWeight: 1e-2 },
        { weights: tf.tensor1d([1, 0, 2]) },
        { reduction: 'sum' as const },
        { reduction: 'none' as const },
      ];
      for (const options of variants) {
        const { value, grad } = valueAndGrad(
          (a) => softmaxCrossEntropy(a, labels, options),
          logits,
        );
        expect(allFinite(value)).toBe(true);
        expect(Array.from(tf.slice(grad, [1, 0], [1, 3]).dataSync())).toEqual([0, 0, 0]);
        expect(allFinite(grad)).toBe(true);
      }
    });
  });

  it('the masked paths add exactly their outputs, forward and backward', () => {
    const logits = tf.tensor2d([
      [1, NEG_INF, 2],
      [NEG_INF, NEG_INF, NEG_INF],
    ]);
    const labels = int([2, -100]);
    const probs = tf.tensor2d([
      [0.5, 0, 0.5],
      [0.2, 0.3, 0.5],
    ]);
    const calls = [
      (a: tf.Tensor) => softmaxCrossEntropy(a, labels, { labelSmoothing: 0.1, zLossWeight: 1e-3 }),
      (a: tf.Tensor) => softmaxCrossEntropy(tf.slice(a, [0, 0], [1, 3]), tf.slice(probs, [0], [1])),
      (a: tf.Tensor) => sigmoidBinaryCrossEntropy(a, tf.onesLike(a)),
    ];
    for (const f of calls) {
      expectNoLeak(() => tf.tidy(() => f(logits)));
      expectNoLeak(() => tf.grad((a: tf.Tensor) => f(a) as tf.Scalar)(logits));
    }
    tf.dispose([logits, labels, probs]);
  });
});
