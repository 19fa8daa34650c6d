import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  focalLoss,
  huberLoss,
  meanAbsoluteError,
  meanSquaredError,
  sigmoidBinaryCrossEntropy,
} from '../../src/index';
import { multiplyNoNan } from '../../src/losses/multiply-no-nan';
import { expectClose } from '../helpers/close';
import { expectNoLeak } from '../helpers/leaks';
import { argumentOf, errorOf } from './argument-of';

// biome-ignore lint/suspicious/noExplicitAny: bad arguments are the point of the rejection tests.
const bad = (x: unknown) => x as any;
const softplus = (x: number) => Math.log1p(Math.exp(x));
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const sum = (v: number[]) => v.reduce((a, b) => a + b, 0);

// [2, 3] logits with soft and hard targets, and a per-class positive weight.
const LOGITS = [
  [2, -1, 0.5],
  [-3, 0, 4],
];
const TARGETS = [
  [1, 0, 0.3],
  [0, 1, 0.9],
];
const POS_WEIGHT = [3, 0.5, 2];

describe('sigmoidBinaryCrossEntropy by hand', () => {
  it('posWeight broadcast over the last axis of rank-2 logits, every reduction', () => {
    const expected = LOGITS.flatMap((row, i) =>
      row.map((x, c) => {
        const y = TARGETS[i]![c]!;
        return POS_WEIGHT[c]! * y * softplus(-x) + (1 - y) * softplus(x);
      }),
    );
    tf.tidy(() => {
      const x = tf.tensor2d(LOGITS);
      const y = tf.tensor2d(TARGETS);
      const posWeight = tf.tensor1d(POS_WEIGHT);
      expectClose(
        sigmoidBinaryCrossEntropy(x, y, { posWeight, reduction: 'none' }),
        tf.tensor(expected, [2, 3]),
      );
      expectClose(sigmoidBinaryCrossEntropy(x, y, { posWeight, reduction: 'sum' }), sum(expected));
      expectClose(sigmoidBinaryCrossEntropy(x, y, { posWeight }), sum(expected) / 6);
    });
  });

  it('without posWeight: each positive term counts once; rank 0 and rank 3', () => {
    tf.tidy(() => {
      expectClose(
        sigmoidBinaryCrossEntropy(tf.scalar(0.7), tf.scalar(0.25)),
        0.25 * softplus(-0.7) + 0.75 * softplus(0.7),
      );
      const x = tf.tensor3d([LOGITS]);
      const y = tf.tensor3d([TARGETS]);
      const expected = LOGITS.flatMap((row, i) =>
        row.map((v, c) => TARGETS[i]![c]! * softplus(-v) + (1 - TARGETS[i]![c]!) * softplus(v)),
      );
      expectClose(
        sigmoidBinaryCrossEntropy(x, y, { reduction: 'none' }),
        tf.tensor(expected, [1, 2, 3]),
      );
    });
  });
});

describe('focalLoss by hand', () => {
  const focal = (alpha: number, gamma: number) =>
    LOGITS.flatMap((row, i) =>
      row.map((x, c) => {
        const y = TARGETS[i]![c]!;
        const p = sigmoid(x);
        const ce = y * softplus(-x) + (1 - y) * softplus(x);
        const pT = p * y + (1 - p) * (1 - y);
        const alphaT = alpha >= 0 ? alpha * y + (1 - alpha) * (1 - y) : 1;
        return alphaT * ce * (1 - pT) ** gamma;
      }),
    );

  it('alpha in {0.25 (default), 0, 1, -1 (off)} × gamma in {2 (default), 0, 0.5}, every reduction', () => {
    for (const alpha of [undefined, 0, 1, -1]) {
      for (const gamma of [undefined, 0, 0.5]) {
        const expected = focal(alpha ?? 0.25, gamma ?? 2);
        tf.tidy(() => {
          const x = tf.tensor2d(LOGITS);
          const y = tf.tensor2d(TARGETS);
          expectClose(
            focalLoss(x, y, { alpha, gamma, reduction: 'none' }),
            tf.tensor(expected, [2, 3]),
            {
              rtol: 1e-5,
              atol: 1e-6,
            },
          );
          expectClose(focalLoss(x, y, { alpha, gamma, reduction: 'sum' }), sum(expected), {
            rtol: 1e-5,
          });
          expectClose(focalLoss(x, y, { alpha, gamma }), sum(expected) / 6, { rtol: 1e-5 });
        });
      }
    }
  });
});

describe('focalLoss at saturated probabilities', () => {
  it('gamma 0 and 2: finite gradients where p_t rounds to 1 (logits of ±30)', () => {
    tf.tidy(() => {
      const x = tf.tensor1d([30, -30, 30]);
      const y = tf.tensor1d([1, 0, 0]);
      for (const gamma of [0, 2]) {
        const g = tf.grad(
          (a: tf.Tensor) => focalLoss(a, y, { gamma, reduction: 'sum' }) as tf.Scalar,
        )(x);
        expect(tf.all(tf.isFinite(g)).dataSync()[0], `gamma ${gamma}`).toBe(1);
      }
    });
  });
});

describe('regression losses by hand', () => {
  const P = [
    [0, 3, -2],
    [1.5, 0.2, 10],
  ];
  const T = [
    [0.5, 0, -2],
    [-1, 0.5, 7],
  ];
  const d = P.flatMap((row, i) => row.map((p, c) => p - T[i]![c]!));

  it('meanSquaredError and meanAbsoluteError, every reduction', () => {
    tf.tidy(() => {
      const p = tf.tensor2d(P);
      const t = tf.tensor2d(T);
      const sq = d.map((x) => x * x);
      const ab = d.map(Math.abs);
      expectClose(meanSquaredError(p, t, { reduction: 'none' }), tf.tensor(sq, [2, 3]));
      expectClose(meanSquaredError(p, t, { reduction: 'sum' }), sum(sq));
      expectClose(meanSquaredError(p, t), sum(sq) / 6);
      expectClose(meanAbsoluteError(p, t, { reduction: 'none' }), tf.tensor(ab, [2, 3]));
      expectClose(meanAbsoluteError(p, t, { reduction: 'sum' }), sum(ab));
      expectClose(meanAbsoluteError(p, t), sum(ab) / 6);
    });
  });

  it('huberLoss: quadratic below delta, linear above, for delta 1 (default), 0.4 and 2.5', () => {
    for (const delta of [undefined, 0.4, 2.5]) {
      const dl = delta ?? 1;
      const expected = d.map((x) =>
        Math.abs(x) < dl ? 0.5 * x * x : dl * (Math.abs(x) - 0.5 * dl),
      );
      tf.tidy(() => {
        const p = tf.tensor2d(P);
        const t = tf.tensor2d(T);
        expectClose(huberLoss(p, t, { delta, reduction: 'none' }), tf.tensor(expected, [2, 3]));
        expectClose(huberLoss(p, t, { delta, reduction: 'sum' }), sum(expected));
        expectClose(huberLoss(p, t, { delta }), sum(expected) / 6);
      });
    }
  });

  it('huberLoss gradient: the difference below delta, ±delta above', () => {
    tf.tidy(() => {
      const p = tf.tensor1d([0.3, 4, -5]);
      const t = tf.zeros([3]);
      const g = tf.grad(
        (x: tf.Tensor) => huberLoss(x, t, { reduction: 'sum', delta: 2 }) as tf.Scalar,
      )(p);
      expectClose(g, [0.3, 2, -2]);
    });
  });
});

describe('multiplyNoNan', () => {
  it('x · y, 0 where y is 0 even for ±Infinity or NaN x, with gradients dy · y and dy · x (0 where y is 0)', () => {
    tf.tidy(() => {
      const x = tf.tensor1d([2, Number.NEGATIVE_INFINITY, Number.NaN, -3]);
      const y = tf.tensor1d([0.5, 0, 0, 2]);
      expectClose(multiplyNoNan(x, y), [1, 0, 0, -6]);
      const dy = tf.tensor1d([1, 2, 3, 4]);
      const [gx, gy] = tf.grads((a: tf.Tensor, b: tf.Tensor) => multiplyNoNan(a, b))([x, y], dy);
      expectClose(gx!, [0.5, 0, 0, 8]);
      expectClose(gy!, [2, 0, 0, -12]);
    });
  });
});

describe('pointwise losses add exactly their outputs, forward and backward', () => {
  it('with every option', () => {
    const x = tf.tensor2d(LOGITS);
    const y = tf.tensor2d(TARGETS);
    const w = tf.tensor1d(POS_WEIGHT);
    const calls: Array<(a: tf.Tensor) => tf.Tensor> = [
      (a) => sigmoidBinaryCrossEntropy(a, y, { posWeight: w, reduction: 'none' }),
      (a) => focalLoss(a, y, { alpha: -1, gamma: 0, reduction: 'sum' }),
      (a) => huberLoss(a, y, { delta: 0.5, reduction: 'none' }),
      (a) => meanAbsoluteError(a, y, { reduction: 'sum' }),
    ];
    for (const f of calls) {
      expectNoLeak(() => f(x));
      expectNoLeak(() => tf.grad((a: tf.Tensor) => tf.sum(f(a)) as tf.Scalar)(x));
    }
    tf.dispose([x, y, w]);
  });
});

describe('pointwise losses reject bad input, naming the argument', () => {
  const v = () => tf.zeros([3]);
  const cases: Array<[string, () => unknown, string]> = [
    ['bce: int32 logits', () => sigmoidBinaryCrossEntropy(tf.zeros([3], 'int32'), v()), 'logits'],
    [
      'bce: an empty axis',
      () => sigmoidBinaryCrossEntropy(tf.zeros([2, 0]), tf.zeros([2, 0])),
      'logits',
    ],
    [
      'bce: targets of another shape',
      () => sigmoidBinaryCrossEntropy(v(), tf.zeros([1, 3])),
      'targets',
    ],
    [
      'bce: int32 posWeight',
      () => sigmoidBinaryCrossEntropy(v(), v(), { posWeight: tf.ones([3], 'int32') }),
      'options.posWeight',
    ],
    [
      'bce: posWeight an array',
      () => sigmoidBinaryCrossEntropy(v(), v(), bad({ posWeight: [1, 2, 3] })),
      'options.posWeight',
    ],
    [
      'bce: reduction',
      () => sigmoidBinaryCrossEntropy(v(), v(), { reduction: bad('avg') }),
      'options.reduction',
    ],
    ['focal: targets of another shape', () => focalLoss(v(), tf.zeros([2])), 'targets'],
    ['focal: int32 logits', () => focalLoss(tf.zeros([3], 'int32'), v()), 'logits'],
    ['focal: alpha 1.5', () => focalLoss(v(), v(), { alpha: 1.5 }), 'options.alpha'],
    ['focal: alpha NaN', () => focalLoss(v(), v(), { alpha: Number.NaN }), 'options.alpha'],
    ['focal: gamma -1', () => focalLoss(v(), v(), { gamma: -1 }), 'options.gamma'],
    [
      'focal: reduction',
      () => focalLoss(v(), v(), { reduction: bad('batchmean') }),
      'options.reduction',
    ],
    ['focal: options null', () => focalLoss(v(), v(), bad(null)), 'options'],
    ['mse: int32 predictions', () => meanSquaredError(tf.zeros([3], 'int32'), v()), 'predictions'],
    ['mse: targets of another shape', () => meanSquaredError(v(), tf.zeros([4])), 'targets'],
    [
      'mae: reduction',
      () => meanAbsoluteError(v(), v(), { reduction: bad('avg') }),
      'options.reduction',
    ],
    ['mae: options null', () => meanAbsoluteError(v(), v(), bad(null)), 'options'],
    ['huber: delta 0', () => huberLoss(v(), v(), { delta: 0 }), 'options.delta'],
    ['huber: delta -1', () => huberLoss(v(), v(), { delta: -1 }), 'options.delta'],
    ['huber: unknown key', () => huberLoss(v(), v(), bad({ beta: 1 })), 'options.beta'],
    ['huber: targets of another shape', () => huberLoss(v(), tf.zeros([3, 1])), 'targets'],
    ['huber: reduction', () => huberLoss(v(), v(), { reduction: bad('avg') }), 'options.reduction'],
  ];
  for (const [name, call, argument] of cases) {
    it(`${name}: ${argument}`, () => {
      expect(argumentOf(call)).toBe(argument);
    });
  }

  it('the regression losses name themselves (they share one check)', () => {
    for (const [call, name] of [
      [() => meanSquaredError(v(), tf.zeros([2])), 'meanSquaredError'],
      [() => meanAbsoluteError(v(), tf.zeros([2])), 'meanAbsoluteError'],
      [() => huberLoss(v(), tf.zeros([2])), 'huberLoss'],
    ] as const) {
      expect(errorOf(call).functionName).toBe(name);
    }
  });

  it('accepts the boundaries: focal alpha 1 and gamma 0, a tiny huber delta', () => {
    tf.tidy(() => {
      expect(() => focalLoss(v(), v(), { alpha: 1, gamma: 0 })).not.toThrow();
      expect(() => focalLoss(v(), v(), { alpha: -5 })).not.toThrow();
      expect(() => huberLoss(v(), v(), { delta: 1e-6, reduction: 'sum' })).not.toThrow();
    });
  });
});
