import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { perplexity, softmaxCrossEntropy, tokenAccuracy } from '../../src/index';
import { expectClose } from '../helpers/close';
import { expectNoLeak } from '../helpers/leaks';
import { argumentOf, errorOf } from './argument-of';

// biome-ignore lint/suspicious/noExplicitAny: bad arguments are the point of the rejection tests.
const bad = (x: unknown) => x as any;
const int = (values: number[], shape?: number[]) => tf.tensor(values, shape, 'int32');

describe('tokenAccuracy and perplexity on every documented rank', () => {
  it('rank 3 [batch, time, classes] with a custom ignoreIndex past the classes', () => {
    tf.tidy(() => {
      const logits = tf.tensor3d([
        [
          [2, 1, 0],
          [0, 3, 1],
        ],
        [
          [1, 0, 5],
          [9, 0, 0],
        ],
      ]);
      // Predictions 0, 1, 2, 0; labels 0, 2, 2, ignored.
      const labels = int([0, 2, 2, 5], [2, 2]);
      expectClose(tokenAccuracy(logits, labels, { ignoreIndex: 5 }), 2 / 3);
      const ce = softmaxCrossEntropy(logits, labels, { ignoreIndex: 5 }).dataSync()[0]!;
      expectClose(perplexity(logits, labels, { ignoreIndex: 5 }), Math.exp(ce));
      // The same labels with ignoreIndex 0: label 0 is not counted, 5 is out of range.
      expect(argumentOf(() => tokenAccuracy(logits, labels, { ignoreIndex: 0 }))).toBe('labels');
      const counted = int([0, 2, 2, 1], [2, 2]);
      // Counted: (0,1) label 2 wrong, (1,0) label 2 right, (1,1) label 1 wrong.
      expectClose(tokenAccuracy(logits, counted, { ignoreIndex: 0 }), 1 / 3);
      expectClose(tokenAccuracy(logits, counted, { ignoreIndex: -1 }), 2 / 4);
    });
  });

  it('rank 1 [classes] with a scalar label', () => {
    tf.tidy(() => {
      const logits = tf.tensor1d([0.5, 2, -1]);
      expectClose(tokenAccuracy(logits, tf.scalar(1, 'int32')), 1);
      expectClose(tokenAccuracy(logits, tf.scalar(0, 'int32')), 0);
      expectClose(tokenAccuracy(logits, tf.scalar(-100, 'int32')), 0);
      const lse = Math.log(Math.exp(0.5) + Math.exp(2) + Math.exp(-1));
      expectClose(perplexity(logits, tf.scalar(0, 'int32')), Math.exp(lse - 0.5), { rtol: 1e-5 });
      expectClose(perplexity(logits, tf.scalar(-100, 'int32')), 1);
    });
  });

  it('one class: always right, perplexity 1', () => {
    tf.tidy(() => {
      const logits = tf.tensor2d([[3], [-2]]);
      expectClose(tokenAccuracy(logits, int([0, 0])), 1);
      expectClose(perplexity(logits, int([0, 0])), 1);
    });
  });

  it('add exactly their outputs', () => {
    const logits = tf.randomNormal([2, 3, 4], 0, 1, 'float32', 3);
    const labels = int([0, 1, 2, 3, -100, 1], [2, 3]);
    expectNoLeak(() => tokenAccuracy(logits, labels));
    expectNoLeak(() => perplexity(logits, labels, { ignoreIndex: -100 }));
    tf.dispose([logits, labels]);
  });
});

describe('tokenAccuracy and perplexity reject bad input, naming the argument', () => {
  const cases: Array<[string, () => unknown, string]> = [
    ['accuracy: scalar logits', () => tokenAccuracy(tf.scalar(1), tf.scalar(0, 'int32')), 'logits'],
    ['perplexity: scalar logits', () => perplexity(tf.scalar(1), tf.scalar(0, 'int32')), 'logits'],
    [
      'accuracy: int32 logits',
      () => tokenAccuracy(tf.zeros([2, 3], 'int32'), int([0, 1])),
      'logits',
    ],
    ['perplexity: logits an array', () => perplexity(bad([[1, 2]]), int([0])), 'logits'],
    ['accuracy: an empty class axis', () => tokenAccuracy(tf.zeros([2, 0]), int([0, 1])), 'logits'],
    ['accuracy: float labels', () => tokenAccuracy(tf.zeros([2, 3]), tf.zeros([2])), 'labels'],
    [
      'accuracy: labels of another shape',
      () => tokenAccuracy(tf.zeros([2, 3]), int([0, 1, 2])),
      'labels',
    ],
    ['accuracy: a label = classes', () => tokenAccuracy(tf.zeros([2, 3]), int([0, 3])), 'labels'],
    ['perplexity: a negative label', () => perplexity(tf.zeros([2, 3]), int([0, -1])), 'labels'],
    [
      'accuracy: ignoreIndex 0.5',
      () => tokenAccuracy(tf.zeros([2, 3]), int([0, 1]), { ignoreIndex: 0.5 }),
      'options.ignoreIndex',
    ],
    [
      'accuracy: ignoreIndex "x"',
      () => tokenAccuracy(tf.zeros([2, 3]), int([0, 1]), bad({ ignoreIndex: 'x' })),
      'options.ignoreIndex',
    ],
    [
      'perplexity: ignoreIndex 0.5',
      () => perplexity(tf.zeros([2, 3]), int([0, 1]), { ignoreIndex: 0.5 }),
      'options.ignoreIndex',
    ],
    [
      'accuracy: options null',
      () => tokenAccuracy(tf.zeros([2, 3]), int([0, 1]), bad(null)),
      'options',
    ],
    [
      'perplexity: options null',
      () => perplexity(tf.zeros([2, 3]), int([0, 1]), bad(null)),
      'options',
    ],
  ];
  for (const [name, call, argument] of cases) {
    it(`${name}: ${argument}`, () => {
      expect(argumentOf(call)).toBe(argument);
    });
  }

  it('perplexity names itself in its own checks', () => {
    expect(errorOf(() => perplexity(tf.scalar(1), tf.scalar(0, 'int32'))).functionName).toBe(
      'perplexity',
    );
    expect(
      errorOf(() => perplexity(tf.zeros([2, 3]), int([0, 1]), bad({ ignore: 1 }))).functionName,
    ).toBe('perplexity');
  });
});
