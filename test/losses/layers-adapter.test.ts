import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { toLayersLoss, toLayersMetric } from '../../src/index';
import { expectNoLeak } from '../helpers/leaks';
import { errorOf } from './argument-of';

// biome-ignore lint/suspicious/noExplicitAny: bad arguments are the point of the rejection tests.
const bad = (x: unknown) => x as any;

/** A loss that records what it was called with and returns the labels as float32. */
function recorder() {
  const calls: Array<{ predictions: tf.Tensor; targets: tf.Tensor; dtype: string }> = [];
  const f = (predictions: tf.Tensor, targets: tf.Tensor) => {
    calls.push({ predictions, targets, dtype: targets.dtype });
    return tf.cast(targets, 'float32');
  };
  return { f, calls };
}

describe('toLayersLoss / toLayersMetric call the loss as (predictions, targets)', () => {
  it('swap the arguments and pass the targets unchanged without integerLabels', () => {
    for (const adapt of [toLayersLoss, toLayersMetric]) {
      for (const integerLabels of [undefined, false]) {
        const { f, calls } = recorder();
        const yTrue = tf.tensor2d([
          [0, 1],
          [1, 0],
        ]);
        const yPred = tf.tensor2d([
          [0.3, 0.7],
          [0.9, 0.1],
        ]);
        const out = adapt(f, { integerLabels })(yTrue, yPred);
        expect(calls).toHaveLength(1);
        expect(calls[0]!.predictions).toBe(yPred);
        expect(calls[0]!.targets).toBe(yTrue);
        expect(out.arraySync()).toEqual(yTrue.arraySync());
        tf.dispose([yTrue, yPred, out]);
      }
    }
  });

  it('integerLabels: one-hot rows become their index, all-zero rows ignoreIndex (default -100)', () => {
    const { f, calls } = recorder();
    // [batch 2, time 2, classes 3]; row (1, 1) is padding.
    const yTrue = tf.tensor3d([
      [
        [0, 0, 1],
        [1, 0, 0],
      ],
      [
        [0, 1, 0],
        [0, 0, 0],
      ],
    ]);
    const yPred = tf.zeros([2, 2, 3]);
    const out = toLayersLoss(f, { integerLabels: true })(yTrue, yPred);
    expect(calls[0]!.dtype).toBe('int32');
    expect(out.shape).toEqual([2, 2]);
    expect(out.arraySync()).toEqual([
      [2, 0],
      [1, -100],
    ]);
    tf.dispose([yTrue, yPred, out]);
  });

  it('integerLabels with a custom ignoreIndex (negative, 0 or past the classes)', () => {
    for (const ignoreIndex of [-1, 0, 7]) {
      const { f } = recorder();
      const yTrue = tf.tensor2d([
        [0, 0, 0],
        [0, 1, 0],
      ]);
      const yPred = tf.zeros([2, 3]);
      const out = toLayersMetric(f, { integerLabels: true, ignoreIndex })(yTrue, yPred);
      expect(out.arraySync()).toEqual([ignoreIndex, 1]);
      tf.dispose([yTrue, yPred, out]);
    }
  });

  it('integerLabels: targets whose last axis is 1 are read as indices, in the shape of the predictions without classes', () => {
    const { f, calls } = recorder();
    const yTrue = tf.tensor3d([
      [[2], [0]],
      [[1], [-100]],
    ]);
    const yPred = tf.zeros([2, 2, 3]);
    const out = toLayersLoss(f, { integerLabels: true })(yTrue, yPred);
    expect(calls[0]!.dtype).toBe('int32');
    expect(calls[0]!.targets.shape).toEqual([2, 2]);
    expect(out.arraySync()).toEqual([
      [2, 0],
      [1, -100],
    ]);
    tf.dispose([yTrue, yPred, out]);
  });

  it('integerLabels with rank-1 one-hot targets (one example) give a scalar index', () => {
    const { f } = recorder();
    const yTrue = tf.tensor1d([0, 0, 1, 0]);
    const yPred = tf.zeros([4]);
    const out = toLayersLoss(f, { integerLabels: true })(yTrue, yPred);
    expect(out.shape).toEqual([]);
    expect(out.arraySync()).toBe(2);
    tf.dispose([yTrue, yPred, out]);
  });

  it('adds exactly its output (the indices are intermediates)', () => {
    const yTrue = tf.tensor2d([
      [0, 1],
      [0, 0],
    ]);
    const yPred = tf.zeros([2, 2]);
    const loss = toLayersLoss((p, t) => tf.add(tf.sum(p), tf.sum(t)), { integerLabels: true });
    expectNoLeak(() => loss(yTrue, yPred));
    tf.dispose([yTrue, yPred]);
  });

  it('keeps the options it was made with', () => {
    const options = { integerLabels: true };
    const { f } = recorder();
    const loss = toLayersLoss(f, options);
    options.integerLabels = false;
    const yTrue = tf.tensor2d([[0, 1]]);
    const yPred = tf.zeros([1, 2]);
    const out = loss(yTrue, yPred);
    expect(out.arraySync()).toEqual([1]);
    tf.dispose([yTrue, yPred, out]);
  });
});

describe('toLayersLoss / toLayersMetric names', () => {
  it('options.name, else the function’s name, else "loss"', () => {
    function myLoss(p: tf.Tensor) {
      return p;
    }
    expect(toLayersLoss(myLoss).name).toBe('myLoss');
    expect(toLayersMetric(myLoss, { name: 'acc' }).name).toBe('acc');
    expect(toLayersLoss(myLoss, { name: 'x' }).name).toBe('x');
    const anonymous = [(p: tf.Tensor) => p][0]!;
    expect(anonymous.name).toBe('');
    expect(toLayersLoss(anonymous).name).toBe('loss');
    expect(toLayersMetric(anonymous).name).toBe('loss');
  });
});

describe('toLayersLoss / toLayersMetric reject bad arguments, naming them', () => {
  const f = (p: tf.Tensor) => p;
  const L = 'toLayersLoss';
  const M = 'toLayersMetric';
  // [case, call, the function the error names, the argument]
  const cases: Array<[string, () => unknown, string, string]> = [
    ['loss not a function', () => toLayersLoss(bad('softmaxCrossEntropy')), L, 'loss'],
    ['loss undefined', () => toLayersLoss(bad(undefined)), L, 'loss'],
    ['metric not a function', () => toLayersMetric(bad({})), M, 'metric'],
    ['options null', () => toLayersLoss(f, bad(null)), L, 'options'],
    [
      'an unknown key',
      () => toLayersMetric(f, bad({ integerLabel: true })),
      M,
      'options.integerLabel',
    ],
    [
      'integerLabels "yes"',
      () => toLayersLoss(f, bad({ integerLabels: 'yes' })),
      L,
      'options.integerLabels',
    ],
    [
      'integerLabels 1',
      () => toLayersMetric(f, bad({ integerLabels: 1 })),
      M,
      'options.integerLabels',
    ],
    ['ignoreIndex 0.5', () => toLayersLoss(f, { ignoreIndex: 0.5 }), L, 'options.ignoreIndex'],
    [
      'ignoreIndex "-100"',
      () => toLayersMetric(f, bad({ ignoreIndex: '-100' })),
      M,
      'options.ignoreIndex',
    ],
    [
      'ignoreIndex NaN',
      () => toLayersLoss(f, { ignoreIndex: Number.NaN }),
      L,
      'options.ignoreIndex',
    ],
    ['name ""', () => toLayersMetric(f, { name: '' }), M, 'options.name'],
    ['name 5', () => toLayersLoss(f, bad({ name: 5 })), L, 'options.name'],
  ];
  for (const [name, call, functionName, argument] of cases) {
    it(`${name}: ${functionName}, ${argument}`, () => {
      const error = errorOf(call);
      expect(error.functionName).toBe(functionName);
      expect(error.argument).toBe(argument);
    });
  }

  it('accepts every well-typed option, false and very negative ignoreIndex included', () => {
    expect(() =>
      toLayersLoss(f, { integerLabels: false, ignoreIndex: -1e9, name: 'a' }),
    ).not.toThrow();
    expect(() => toLayersMetric(f, { integerLabels: true, ignoreIndex: 0 })).not.toThrow();
    expect(() => toLayersMetric(f, { name: undefined, ignoreIndex: undefined })).not.toThrow();
  });
});
