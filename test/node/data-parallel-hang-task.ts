// A data-parallel task for the timeout tests of test/node/data-parallel.test.ts:
// one parameter vector, and a loss that can be made to never return (an
// endless loop that blocks the worker's thread) on one worker at one call.
import * as tf from '@tensorflow/tfjs-core';
import { sgd } from '../../src/index';
import { type DataParallelTaskContext, dataParallelTask } from '../../src/node/index';

export type HangTaskOptions = {
  /** The worker and the loss call (1 = the first step) that never return. */
  hangAt?: { rank: number; call: number };
  /** Keeps the worker's event loop alive, so it never exits by itself. */
  keepAlive?: boolean;
  /** Adds a key the definition does not know (`learningRate`). */
  extraKey?: boolean;
  /** This worker crashes (an uncaught exception) while building its replica. */
  crashRank?: number;
};

export default dataParallelTask(({ rank, options }: DataParallelTaskContext) => {
  const { hangAt, keepAlive, extraKey, crashRank } = (options ?? {}) as HangTaskOptions;
  if (keepAlive) setInterval(() => {}, 1_000);
  if (crashRank === rank) {
    setTimeout(() => {
      throw new Error('planned crash during start-up');
    }, 0);
    return new Promise<never>(() => {});
  }
  let calls = 0;
  return {
    params: { w: tf.zeros([2]) },
    optimizer: sgd({ learningRate: 0.1 }),
    loss: (params: { w: tf.Tensor }, batch: Record<string, tf.Tensor>) => {
      calls += 1;
      if (hangAt?.rank === rank && hangAt.call === calls) {
        while (true) {} // the hang under test: blocks the worker's thread
      }
      const predicted = tf.sum(tf.mul(batch.x!, params.w), 1);
      return tf.mean(tf.square(tf.sub(predicted, 1))) as tf.Scalar;
    },
    ...(extraKey ? { learningRate: 0.1 } : {}),
  };
});
