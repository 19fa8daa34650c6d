// A bad value reaching pruning or quantization is described in the message,
// never printed whole (issue 17, item 8).
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { magnitudePruningMasks, nmSparsityMask, quantizeWeights } from '../../src/index';
import { thrownWithoutLeak } from '../helpers/rejections';

describe('efficiency messages describe bad values', () => {
  it('a long name for a choice is cut; a buffer for a matrix is named', () => {
    const w = tf.zeros([4, 4]);
    const long = 'x'.repeat(100_000);
    const scope = thrownWithoutLeak(() =>
      magnitudePruningMasks({ w }, { sparsity: 0.5, scope: long as never }),
    );
    expect(scope.argument).toBe('options.scope');
    expect(scope.message.length).toBeLessThan(300);
    const bits = thrownWithoutLeak(() => quantizeWeights(w, { bits: long as never }));
    expect(bits.argument).toBe('options.bits');
    expect(bits.message.length).toBeLessThan(300);
    const weights = thrownWithoutLeak(() =>
      nmSparsityMask(new Float32Array(100_000) as never, { n: 2, m: 4 }),
    );
    expect(weights.argument).toBe('weights');
    expect(weights.actual).toBe('a Float32Array of length 100000');
    w.dispose();
  });
});
