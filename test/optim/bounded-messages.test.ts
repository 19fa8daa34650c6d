// A bad value reaching an optimizer is described in the message, never
// printed whole (issue 17, item 8).
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { addDecayedWeights, scaleByLearningRate } from '../../src/index';
import { thrownWithoutLeak } from '../helpers/rejections';

describe('optimizer messages describe bad values', () => {
  it('a schedule returning a long string or an array', () => {
    const params = { w: tf.zeros([2]) };
    for (const value of ['9'.repeat(100_000), new Array(100_000).fill(1)]) {
      const tx = scaleByLearningRate(() => value as never);
      const error = thrownWithoutLeak(() => tx.update(params, tx.init(params), params));
      expect(error.argument).toBe('learningRate(0)');
      expect(error.message.length).toBeLessThan(300);
    }
    const tx = scaleByLearningRate(() => -1);
    expect(thrownWithoutLeak(() => tx.update(params, tx.init(params), params)).actual).toBe('-1');
    params.w.dispose();
  });

  it('a weight-decay mask without the parameter says undefined once', () => {
    const params = { w: tf.zeros([2]) };
    const tx = addDecayedWeights(0.1, {});
    const error = thrownWithoutLeak(() => tx.update(params, tx.init(params), params));
    expect(error.argument).toBe('mask.w');
    expect(error.actual).toBe('undefined');
    params.w.dispose();
  });
});
