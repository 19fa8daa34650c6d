import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { cosineEmbeddingLoss, infoNceLoss, tripletMarginLoss } from '../../src/index';
import { expectClose } from '../helpers/close';
import { expectNoLeak } from '../helpers/leaks';
import { argumentOf } from './argument-of';

// biome-ignore lint/suspicious/noExplicitAny: bad arguments are the point of the rejection tests.
const bad = (x: unknown) => x as any;

const cosine = (u: number[], v: number[]) => {
  const dot = u.reduce((a, x, i) => a + x * v[i]!, 0);
  const n = (w: number[]) => Math.sqrt(w.reduce((a, x) => a + x * x, 0) + 1e-12);
  return dot / (n(u) * n(v));
};

describe('cosineEmbeddingLoss by hand', () => {
  it('1 - cos for label 1, max(0, cos - margin) for -1, 0 for any other label; every reduction', () => {
    const u = [
      [1, 2, 0],
      [3, -1, 2],
      [0.5, 0.5, -1],
      [2, 0, 1],
      [1, 1, 1],
    ];
    const v = [
      [2, 1, 1],
      [3, -1, 1],
      [-1, 0.5, 2],
      [1, 1, 1],
      [1, -2, 0],
    ];
    const y = [1, -1, -1, 0, 1];
    for (const margin of [0, -0.5, 0.3]) {
      const expected = u.map((row, i) => {
        const c = cosine(row, v[i]!);
        if (y[i] === 1) return 1 - c;
        if (y[i] === -1) return Math.max(0, c - margin);
        return 0;
      });
      tf.tidy(() => {
        const [a, b, labels] = [tf.tensor2d(u), tf.tensor2d(v), tf.tensor1d(y)];
        expectClose(cosineEmbeddingLoss(a, b, labels, { margin, reduction: 'none' }), expected);
        const sum = expected.reduce((s, x) => s + x, 0);
        expectClose(cosineEmbeddingLoss(a, b, labels, { margin, reduction: 'sum' }), sum);
        expectClose(cosineEmbeddingLoss(a, b, labels, { margin }), sum / 5);
      });
    }
  });

  it('a zero vector has cosine 0 (eps inside the magnitudes), a batch of one works', () => {
    tf.tidy(() => {
      const zero = tf.zeros([1, 3]);
      const v = tf.tensor2d([[1, 2, 3]]);
      expectClose(cosineEmbeddingLoss(zero, v, tf.tensor1d([1])), 1);
      expectClose(cosineEmbeddingLoss(zero, v, tf.tensor1d([-1]), { margin: -2 }), 2);
    });
  });
});

describe('tripletMarginLoss by hand', () => {
  const anchor = [
    [0, 0],
    [1, 1],
    [0, 2],
  ];
  const positive = [
    [1, 0],
    [1, 2],
    [0, 0],
  ];
  const negative = [
    [0, 3],
    [2, 2],
    [0, 1],
  ];
  const distance = (u: number[], v: number[], p: number, eps: number) =>
    u.reduce((s, x, i) => s + Math.abs(x - v[i]! + eps) ** p, 0) ** (1 / p);

  it('max(d(a, p) - d(a, n) + margin, 0) for p = 1, 2, 3 and margins, with and without swap', () => {
    for (const p of [1, 2, 3]) {
      for (const margin of [1, 0.25, -1]) {
        for (const swap of [false, true]) {
          const expected = anchor.map((a, i) => {
            let dNegative = distance(a, negative[i]!, p, 1e-6);
            if (swap)
              dNegative = Math.min(dNegative, distance(positive[i]!, negative[i]!, p, 1e-6));
            return Math.max(distance(a, positive[i]!, p, 1e-6) - dNegative + margin, 0);
          });
          tf.tidy(() => {
            const [a, pos, neg] = [anchor, positive, negative].map((x) => tf.tensor2d(x)) as [
              tf.Tensor,
              tf.Tensor,
              tf.Tensor,
            ];
            const options = { p, margin, swap };
            expectClose(
              tripletMarginLoss(a, pos, neg, { ...options, reduction: 'none' }),
              expected,
            );
            const sum = expected.reduce((s, x) => s + x, 0);
            expectClose(tripletMarginLoss(a, pos, neg, { ...options, reduction: 'sum' }), sum);
            expectClose(tripletMarginLoss(a, pos, neg, options), sum / 3);
          });
        }
      }
    }
  });

  it('swap changes the loss where the positive is nearer the negative than the anchor is', () => {
    tf.tidy(() => {
      const a = tf.tensor2d([[0, 0]]);
      const pos = tf.tensor2d([[2, 0]]);
      const neg = tf.tensor2d([[3, 0]]);
      // d(a, p) = 2, d(a, n) = 3, d(p, n) = 1 (epsilon 0).
      expectClose(tripletMarginLoss(a, pos, neg, { epsilon: 0 }), 0);
      expectClose(tripletMarginLoss(a, pos, neg, { epsilon: 0, swap: true }), 2);
    });
  });
});

describe('infoNceLoss by hand', () => {
  const rowsA = [
    [1, 0, 2],
    [0, 1, -1],
    [2, 2, 0],
  ];
  const rowsB = [
    [1, 1, 1],
    [0, 2, -1],
    [3, 1, 0],
  ];
  /** Mean over rows of -log softmax(row)[i]. */
  const crossEntropy = (logits: number[][]) =>
    logits.reduce((s, row, i) => {
      const m = Math.max(...row);
      const lse = m + Math.log(row.reduce((t, x) => t + Math.exp(x - m), 0));
      return s + lse - row[i]!;
    }, 0) / logits.length;
  const unit = (r: number[]) => {
    const n = Math.hypot(...r);
    return r.map((x) => x / n);
  };

  it('every combination of normalize and symmetric, two temperatures', () => {
    for (const normalize of [true, false]) {
      for (const symmetric of [true, false]) {
        for (const temperature of [0.07, 2]) {
          const a = normalize ? rowsA.map(unit) : rowsA;
          const b = normalize ? rowsB.map(unit) : rowsB;
          const logits = a.map((u) =>
            b.map((v) => u.reduce((s, x, k) => s + x * v[k]!, 0) / temperature),
          );
          const transposed = logits.map((_, i) => logits.map((row) => row[i]!));
          const expected = symmetric
            ? (crossEntropy(logits) + crossEntropy(transposed)) / 2
            : crossEntropy(logits);
          tf.tidy(() => {
            const loss = infoNceLoss(tf.tensor2d(rowsA), tf.tensor2d(rowsB), {
              normalize,
              symmetric,
              temperature,
            });
            expectClose(loss, expected, { rtol: 1e-4, atol: 1e-5 });
          });
        }
      }
    }
  });

  it('the defaults are normalize, symmetric and temperature 0.07', () => {
    tf.tidy(() => {
      const a = tf.tensor2d(rowsA);
      const b = tf.tensor2d(rowsB);
      expectClose(
        infoNceLoss(a, b),
        infoNceLoss(a, b, { normalize: true, symmetric: true, temperature: 0.07 }),
        { rtol: 0, atol: 0 },
      );
    });
  });
});

describe('embedding losses add exactly their outputs, forward and backward', () => {
  it('with non-default options', () => {
    const x = tf.randomNormal([3, 4], 0, 1, 'float32', 5);
    const y = tf.randomNormal([3, 4], 0, 1, 'float32', 6);
    const z = tf.randomNormal([3, 4], 0, 1, 'float32', 7);
    const labels = tf.tensor1d([1, -1, 0]);
    const calls: Array<(a: tf.Tensor) => tf.Tensor> = [
      (a) => cosineEmbeddingLoss(a, y, labels, { margin: 0.1, reduction: 'sum' }),
      (a) => tripletMarginLoss(a, y, z, { p: 3, swap: true, reduction: 'none' }),
      (a) => infoNceLoss(a, y, { normalize: false, symmetric: false }),
    ];
    for (const f of calls) {
      expectNoLeak(() => f(x));
      expectNoLeak(() => tf.grad((a: tf.Tensor) => tf.sum(f(a)) as tf.Scalar)(x));
    }
    tf.dispose([x, y, z, labels]);
  });
});

describe('embedding losses reject bad input, naming the argument', () => {
  const m = () => tf.zeros([2, 3]);
  const cases: Array<[string, () => unknown, string]> = [
    [
      'cosine: x1 of rank 1',
      () => cosineEmbeddingLoss(tf.zeros([3]), tf.zeros([3]), tf.ones([1])),
      'x1',
    ],
    [
      'cosine: int32 x1',
      () => cosineEmbeddingLoss(tf.zeros([2, 3], 'int32'), m(), tf.ones([2])),
      'x1',
    ],
    [
      'cosine: an empty batch',
      () => cosineEmbeddingLoss(tf.zeros([0, 3]), tf.zeros([0, 3]), tf.ones([1])),
      'x1',
    ],
    [
      'cosine: x2 of another shape',
      () => cosineEmbeddingLoss(m(), tf.zeros([2, 4]), tf.ones([2])),
      'x2',
    ],
    ['cosine: y of rank 2', () => cosineEmbeddingLoss(m(), m(), tf.ones([2, 1])), 'y'],
    ['cosine: int32 y', () => cosineEmbeddingLoss(m(), m(), tf.ones([2], 'int32')), 'y'],
    ['cosine: y of another batch', () => cosineEmbeddingLoss(m(), m(), tf.ones([3])), 'y'],
    [
      'cosine: margin NaN',
      () => cosineEmbeddingLoss(m(), m(), tf.ones([2]), { margin: Number.NaN }),
      'options.margin',
    ],
    [
      'cosine: reduction',
      () => cosineEmbeddingLoss(m(), m(), tf.ones([2]), { reduction: bad('avg') }),
      'options.reduction',
    ],
    [
      'cosine: options null',
      () => cosineEmbeddingLoss(m(), m(), tf.ones([2]), bad(null)),
      'options',
    ],
    ['triplet: anchor of rank 3', () => tripletMarginLoss(tf.zeros([1, 2, 3]), m(), m()), 'anchor'],
    [
      'triplet: positive of another shape',
      () => tripletMarginLoss(m(), tf.zeros([3, 3]), m()),
      'positive',
    ],
    [
      'triplet: negative of another shape',
      () => tripletMarginLoss(m(), m(), tf.zeros([2, 2])),
      'negative',
    ],
    ['triplet: p 0', () => tripletMarginLoss(m(), m(), m(), { p: 0 }), 'options.p'],
    ['triplet: p -2', () => tripletMarginLoss(m(), m(), m(), { p: -2 }), 'options.p'],
    [
      'triplet: margin Infinity',
      () => tripletMarginLoss(m(), m(), m(), { margin: Number.POSITIVE_INFINITY }),
      'options.margin',
    ],
    [
      'triplet: epsilon "0"',
      () => tripletMarginLoss(m(), m(), m(), bad({ epsilon: '0' })),
      'options.epsilon',
    ],
    [
      'triplet: reduction',
      () => tripletMarginLoss(m(), m(), m(), { reduction: bad('batchmean') }),
      'options.reduction',
    ],
    ['infoNce: a of rank 1', () => infoNceLoss(tf.zeros([3]), tf.zeros([3])), 'a'],
    ['infoNce: b of rank 3', () => infoNceLoss(m(), tf.zeros([1, 2, 3])), 'b'],
    [
      'infoNce: temperature 0',
      () => infoNceLoss(m(), m(), { temperature: 0 }),
      'options.temperature',
    ],
    [
      'infoNce: temperature -1',
      () => infoNceLoss(m(), m(), { temperature: -1 }),
      'options.temperature',
    ],
    ['infoNce: options null', () => infoNceLoss(m(), m(), bad(null)), 'options'],
  ];
  for (const [name, call, argument] of cases) {
    it(`${name}: ${argument}`, () => {
      expect(argumentOf(call)).toBe(argument);
    });
  }

  it('accepts the boundaries: triplet epsilon 0 and a tiny p, a tiny temperature, a negative margin', () => {
    tf.tidy(() => {
      const a = tf.tensor2d([[1, 2]]);
      const b = tf.tensor2d([[2, 1]]);
      expect(() => tripletMarginLoss(a, b, a, { epsilon: 0, p: 1e-3, margin: -1 })).not.toThrow();
      expect(() => infoNceLoss(a, b, { temperature: 1e-6 })).not.toThrow();
      expect(() => cosineEmbeddingLoss(a, b, tf.ones([1]), { margin: -1 })).not.toThrow();
    });
  });
});
