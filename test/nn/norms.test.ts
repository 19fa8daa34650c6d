// The norms' input space (issue 22): constant and zero rows (where epsilon
// is all that keeps the division finite), epsilon's value by hand, and
// [batch, time, dim] inputs against the flattened call.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { layerNorm, rmsNorm } from '../../src/index';
import { expectClose } from '../helpers/close';
import { expectNoLeak } from '../helpers/leaks';

describe('layerNorm', () => {
  it('maps a constant row to beta (epsilon keeps 0 / 0 away)', () => {
    tf.tidy(() => {
      const x = tf.tensor2d([
        [3, 3, 3, 3],
        [0, 0, 0, 0],
      ]);
      const beta = tf.tensor1d([0.5, -1, 0, 2]);
      const y = layerNorm(x, tf.ones([4]), beta);
      expectClose(y, [0.5, -1, 0, 2, 0.5, -1, 0, 2]);
    });
  });

  it('divides by sqrt(variance + epsilon), by hand', () => {
    tf.tidy(() => {
      // Row [1, 3]: mean 2, biased variance 1; epsilon 3 gives a divisor of 2.
      const y = layerNorm(tf.tensor2d([[1, 3]]), tf.tensor1d([2, 1]), tf.tensor1d([0, 1]), {
        epsilon: 3,
      });
      expectClose(y, [-1, 1.5]);
    });
  });

  it('normalises [batch, time, dim] over the last axis, as the flattened call', () => {
    tf.tidy(() => {
      const x = tf.randomNormal([2, 3, 4], 1, 2, 'float32', 3);
      const gamma = tf.tensor1d([1, 2, 0.5, -1]);
      const beta = tf.tensor1d([0, 0.1, 0.2, 0.3]);
      const y = layerNorm(x, gamma, beta);
      expect(y.shape).toEqual([2, 3, 4]);
      expectClose(tf.reshape(y, [6, 4]), layerNorm(tf.reshape(x, [6, 4]), gamma, beta), {
        rtol: 1e-5,
        atol: 1e-5,
      });
    });
  });

  it('adds exactly its output on a constant row', () => {
    const x = tf.fill([2, 4], 7);
    const [g, b] = [tf.ones([4]), tf.zeros([4])];
    expectNoLeak(() => layerNorm(x, g, b));
    tf.dispose([x, g, b]);
  });
});

describe('rmsNorm', () => {
  it('maps an all-zero row to zeros (epsilon keeps 0 / 0 away)', () => {
    tf.tidy(() => {
      const y = rmsNorm(tf.zeros([2, 3]), tf.tensor1d([1, 2, 3]));
      expectClose(y, [0, 0, 0, 0, 0, 0]);
    });
  });

  it('divides by sqrt(mean(x²) + epsilon), by hand', () => {
    tf.tidy(() => {
      // Row [1, -3]: mean square 5; epsilon 11 gives a divisor of 4.
      const y = rmsNorm(tf.tensor2d([[1, -3]]), tf.tensor1d([4, 2]), { epsilon: 11 });
      expectClose(y, [1, -1.5]);
    });
  });

  it('normalises [batch, time, dim] over the last axis, as the flattened call', () => {
    tf.tidy(() => {
      const x = tf.randomNormal([2, 3, 4], 0, 2, 'float32', 5);
      const gamma = tf.tensor1d([1, 2, 0.5, -1]);
      const y = rmsNorm(x, gamma);
      expect(y.shape).toEqual([2, 3, 4]);
      expectClose(tf.reshape(y, [6, 4]), rmsNorm(tf.reshape(x, [6, 4]), gamma), {
        rtol: 1e-5,
        atol: 1e-5,
      });
    });
  });
});
