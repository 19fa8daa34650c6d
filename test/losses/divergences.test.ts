import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { distillationLoss, klDivergence, softmaxCrossEntropy } from '../../src/index';
import { expectClose } from '../helpers/close';
import { expectNoLeak } from '../helpers/leaks';
import { argumentOf } from './argument-of';

// biome-ignore lint/suspicious/noExplicitAny: bad arguments are the point of the rejection tests.
const bad = (x: unknown) => x as any;
const int = (values: number[], shape?: number[]) => tf.tensor(values, shape, 'int32');

const logSoftmaxRow = (row: number[]) => {
  const m = Math.max(...row);
  const lse = m + Math.log(row.reduce((s, x) => s + Math.exp(x - m), 0));
  return row.map((x) => x - lse);
};

describe('klDivergence by hand', () => {
  // [2, 2, 3]: target with a zero, input log-probabilities.
  const target = [
    [
      [0.2, 0.3, 0.5],
      [0, 0.6, 0.4],
    ],
    [
      [0.1, 0.1, 0.8],
      [1, 0, 0],
    ],
  ];
  const input = [
    [
      [-1, -2, -0.5],
      [-3, -0.2, -1.5],
    ],
    [
      [-0.7, -1.1, -2],
      [-0.1, -4, -2.5],
    ],
  ];
  const pointwise = target.flat(2).map((t, i) => {
    const x = input.flat(2)[i]!;
    return t === 0 ? 0 : t * (Math.log(t) - x);
  });
  const total = pointwise.reduce((s, v) => s + v, 0);

  it("rank 3: 'none', 'sum', 'mean' over all elements and 'batchmean' over the first axis", () => {
    tf.tidy(() => {
      const x = tf.tensor3d(input);
      const t = tf.tensor3d(target);
      expectClose(klDivergence(x, t, { reduction: 'none' }), tf.tensor(pointwise, [2, 2, 3]));
      expectClose(klDivergence(x, t, { reduction: 'sum' }), total);
      expectClose(klDivergence(x, t), total / 12);
      expectClose(klDivergence(x, t, { reduction: 'batchmean' }), total / 2);
    });
  });

  it('logTarget: the target given as log-probabilities gives the same values', () => {
    tf.tidy(() => {
      const x = tf.tensor3d(input);
      // log 0 = -Infinity: the term is 0 there.
      const logT = tf.log(tf.tensor3d(target));
      expectClose(
        klDivergence(x, logT, { logTarget: true, reduction: 'none' }),
        tf.tensor(pointwise, [2, 2, 3]),
      );
      expectClose(klDivergence(x, logT, { logTarget: true, reduction: 'batchmean' }), total / 2);
      expectClose(klDivergence(x, logT, { logTarget: false, reduction: 'none' }).shape, [2, 2, 3]);
    });
  });

  it("rank 0 and rank 1: 'batchmean' of a scalar is the term itself, of a vector the sum over its length", () => {
    tf.tidy(() => {
      const term = 0.3 * (Math.log(0.3) + 1.2);
      expectClose(klDivergence(tf.scalar(-1.2), tf.scalar(0.3), { reduction: 'batchmean' }), term);
      expectClose(klDivergence(tf.scalar(-1.2), tf.scalar(0.3)), term);
      const v = klDivergence(tf.tensor1d([-1.2, -0.5]), tf.tensor1d([0.3, 0.7]), {
        reduction: 'batchmean',
      });
      expectClose(v, (term + 0.7 * (Math.log(0.7) + 0.5)) / 2);
    });
  });

  it('the gradient with respect to the input is -target / batch (batchmean), 0 where the target is 0', () => {
    tf.tidy(() => {
      const x = tf.tensor3d(input);
      const t = tf.tensor3d(target);
      const g = tf.grad(
        (a: tf.Tensor) => klDivergence(a, t, { reduction: 'batchmean' }) as tf.Scalar,
      )(x);
      expectClose(g, tf.div(tf.neg(t), 2));
      // and with respect to the target: log t + 1 - x (0 where t = 0).
      const gt = tf.grad((b: tf.Tensor) => klDivergence(x, b, { reduction: 'sum' }) as tf.Scalar)(
        t,
      );
      const expected = target
        .flat(2)
        .map((v, i) => (v === 0 ? 0 : Math.log(v) + 1 - input.flat(2)[i]!));
      expectClose(gt, tf.tensor(expected, [2, 2, 3]), { rtol: 1e-5, atol: 1e-5 });
    });
  });
});

describe('distillationLoss by hand', () => {
  const student = [
    [
      [1, 2, 0.5],
      [0, -1, 3],
    ],
    [
      [2, 2, -1],
      [0.3, 0.1, 0.2],
    ],
  ];
  const teacher = [
    [
      [0.5, 2.5, 0],
      [1, -2, 2],
    ],
    [
      [3, 1, 0],
      [0, 0, 1],
    ],
  ];
  /** T² · KL(softmax(t/T) ‖ softmax(s/T)) summed over classes, averaged over the 4 examples. */
  const soft = (temperature: number) => {
    const rows = student.flat(1).map((s, i) => {
      const ls = logSoftmaxRow(s.map((x) => x / temperature));
      const lt = logSoftmaxRow(teacher.flat(1)[i]!.map((x) => x / temperature));
      return lt.reduce((sum, l, c) => sum + Math.exp(l) * (l - ls[c]!), 0);
    });
    return (temperature * temperature * rows.reduce((a, b) => a + b, 0)) / rows.length;
  };

  it('rank 3, without labels: the soft term only, at the default and other temperatures', () => {
    tf.tidy(() => {
      const s = tf.tensor3d(student);
      const t = tf.tensor3d(teacher);
      expectClose(distillationLoss(s, t), soft(2), { rtol: 1e-5 });
      expectClose(distillationLoss(s, t, { temperature: 0.5 }), soft(0.5), { rtol: 1e-5 });
      expectClose(distillationLoss(s, t, { temperature: 4, alpha: 1 }), soft(4), { rtol: 1e-5 });
    });
  });

  it('with labels: alpha · soft + (1 - alpha) · CE (alpha default 0.5), ignoreIndex passed on', () => {
    tf.tidy(() => {
      const s = tf.tensor3d(student);
      const t = tf.tensor3d(teacher);
      const labels = int([2, 7, 0, 1], [2, 2]);
      const ce = softmaxCrossEntropy(s, labels, { ignoreIndex: 7 }).dataSync()[0]!;
      expectClose(
        distillationLoss(s, t, { labels, ignoreIndex: 7, temperature: 3 }),
        0.5 * soft(3) + 0.5 * ce,
        { rtol: 1e-5 },
      );
      expectClose(
        distillationLoss(s, t, { labels, ignoreIndex: 7, alpha: 0.2 }),
        0.2 * soft(2) + 0.8 * ce,
        { rtol: 1e-5 },
      );
      // alpha 0: the hard term only.
      expectClose(distillationLoss(s, t, { labels, ignoreIndex: 7, alpha: 0 }), ce, { rtol: 1e-6 });
    });
  });

  it('alpha 1 with labels is the soft term only, even where the hard term is infinite', () => {
    tf.tidy(() => {
      // Class 0 masked in both models: the soft term is finite, CE on label 0 is +Infinity.
      const s = tf.tensor2d([[Number.NEGATIVE_INFINITY, 1, 2]]);
      const t = tf.tensor2d([[Number.NEGATIVE_INFINITY, 2, 1]]);
      const loss = distillationLoss(s, t, { labels: int([0]), alpha: 1 });
      expect(Number.isFinite(loss.dataSync()[0]!)).toBe(true);
      expectClose(loss, distillationLoss(s, t), { rtol: 0, atol: 0 });
    });
  });

  it('rank 1: one example', () => {
    tf.tidy(() => {
      const s = tf.tensor1d([1, 2, 0.5]);
      const t = tf.tensor1d([0.5, 2.5, 0]);
      const ls = logSoftmaxRow([0.5, 1, 0.25]);
      const lt = logSoftmaxRow([0.25, 1.25, 0]);
      const kl = lt.reduce((sum, l, c) => sum + Math.exp(l) * (l - ls[c]!), 0);
      expectClose(distillationLoss(s, t), 4 * kl, { rtol: 1e-5 });
    });
  });

  it('adds exactly its output, forward and backward', () => {
    const s = tf.tensor3d(student);
    const t = tf.tensor3d(teacher);
    const labels = int([2, 7, 0, 1], [2, 2]);
    const f = (x: tf.Tensor) => distillationLoss(x, t, { labels, ignoreIndex: 7, alpha: 0.3 });
    expectNoLeak(() => f(s));
    expectNoLeak(() => tf.grad((x: tf.Tensor) => f(x) as tf.Scalar)(s));
    const logP = tf.logSoftmax(s);
    const probs = tf.softmax(t);
    expectNoLeak(() => klDivergence(logP, probs, { logTarget: false, reduction: 'batchmean' }));
    expectNoLeak(() => klDivergence(logP, logP, { logTarget: true, reduction: 'none' }));
    tf.dispose([logP, probs]);
    tf.dispose([s, t, labels]);
  });
});

describe('klDivergence and distillationLoss reject bad input, naming the argument', () => {
  const m = () => tf.zeros([2, 3]);
  const cases: Array<[string, () => unknown, string]> = [
    ['kl: int32 input', () => klDivergence(tf.zeros([2], 'int32'), tf.zeros([2])), 'input'],
    ['kl: input not a tensor', () => klDivergence(bad([0, 1]), tf.zeros([2])), 'input'],
    ['kl: target of another shape', () => klDivergence(m(), tf.zeros([3, 2])), 'target'],
    ['kl: logTarget 1', () => klDivergence(m(), m(), bad({ logTarget: 1 })), 'options.logTarget'],
    ['kl: options null', () => klDivergence(m(), m(), bad(null)), 'options'],
    ['kl: unknown key', () => klDivergence(m(), m(), bad({ reduce: 'sum' })), 'options.reduce'],
    [
      'distillation: int32 student',
      () => distillationLoss(tf.zeros([2, 3], 'int32'), m()),
      'studentLogits',
    ],
    [
      'distillation: teacher of another shape',
      () => distillationLoss(m(), tf.zeros([2, 4])),
      'teacherLogits',
    ],
    [
      'distillation: temperature 0',
      () => distillationLoss(m(), m(), { temperature: 0 }),
      'options.temperature',
    ],
    [
      'distillation: temperature -1',
      () => distillationLoss(m(), m(), { temperature: -1 }),
      'options.temperature',
    ],
    ['distillation: alpha 1.5', () => distillationLoss(m(), m(), { alpha: 1.5 }), 'options.alpha'],
    [
      'distillation: alpha -0.1',
      () => distillationLoss(m(), m(), { alpha: -0.1, labels: int([0, 1]) }),
      'options.alpha',
    ],
    [
      'distillation: alpha 0.5 without labels',
      () => distillationLoss(m(), m(), { alpha: 0.5 }),
      'options.labels',
    ],
    [
      'distillation: alpha 0 without labels',
      () => distillationLoss(m(), m(), { alpha: 0 }),
      'options.labels',
    ],
    [
      'distillation: labels of another shape',
      () => distillationLoss(m(), m(), { labels: int([0, 1, 2]) }),
      'labels',
    ],
    ['distillation: options null', () => distillationLoss(m(), m(), bad(null)), 'options'],
  ];
  for (const [name, call, argument] of cases) {
    it(`${name}: ${argument}`, () => {
      expect(argumentOf(call)).toBe(argument);
    });
  }

  it('accepts alpha 1 without labels and alpha 0 with them', () => {
    tf.tidy(() => {
      expect(() => distillationLoss(m(), m(), { alpha: 1 })).not.toThrow();
      expect(() => distillationLoss(m(), m(), { alpha: 0, labels: int([0, 1]) })).not.toThrow();
    });
  });
});
