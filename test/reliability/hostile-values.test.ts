// Values from users and files reach messages and name lookups: a message never
// stringifies a whole buffer, and a name such as `toString` is never read from
// Object.prototype.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { ctcLoss, federatedAverage, softmaxCrossEntropy } from '../../src/index';
import { thrownWithoutLeak } from '../helpers/rejections';

describe('messages describe buffers instead of printing them', () => {
  const buffer = new Int8Array(5_000_000);

  it('softmaxCrossEntropy labels', () => {
    const logits = tf.zeros([2, 3]);
    const e = thrownWithoutLeak(() => softmaxCrossEntropy(logits, buffer as never));
    expect(e.argument).toBe('labels');
    expect(e.actual).toBe('a Int8Array of length 5000000');
    logits.dispose();
  });

  it('ctcLoss targets', () => {
    const logProbs = tf.zeros([4, 1, 3]) as tf.Tensor3D;
    const e = thrownWithoutLeak(() => ctcLoss(logProbs, buffer as never, [4], [1]));
    expect(e.argument).toBe('targets');
    expect(e.actual).toBe('a Int8Array of length 5000000');
    logProbs.dispose();
  });

  it('a reduction given as a long string', () => {
    const logits = tf.zeros([2, 3]);
    const labels = tf.tensor1d([0, 1], 'int32');
    const e = thrownWithoutLeak(() =>
      softmaxCrossEntropy(logits, labels, { reduction: 'x'.repeat(1_000_000) as never }),
    );
    expect(e.argument).toBe('options.reduction');
    expect(e.message.length).toBeLessThan(400);
    tf.dispose([logits, labels]);
  });
});

describe('names that are Object.prototype keys', () => {
  it('federatedAverage does not take an inherited toString for a client tensor', () => {
    const a = { toString: tf.ones([2]) } as unknown as Record<string, tf.Tensor>;
    const b = { w: tf.ones([2]) };
    const e = thrownWithoutLeak(() => federatedAverage([a, b], [1, 1]));
    expect(e.argument).toBe('clientParams[1]');
    tf.dispose([Object.values(a), b.w]);
  });
});
