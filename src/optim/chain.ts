import { dispose } from '@tensorflow/tfjs-core';
import { treeLeaves } from '../tree/leaves';
import type { TensorMap } from '../tree/types';
import { checkTransform } from './tree';
import type { GradientTransformation } from './types';

/**
 * Composes transformations left to right: each one's updates are the next
 * one's gradients. The state is the array of the inner states.
 *
 * @example
 * ```ts
 * const optimizer = chain(clipByGlobalNorm(1), scaleByAdam(), scaleByLearningRate(1e-3));
 * ```
 */
export function chain(
  ...transforms: GradientTransformation<unknown>[]
): GradientTransformation<unknown[]> {
  transforms.forEach((t, i) => {
    checkTransform('chain', `transforms[${i}]`, t);
  });
  return {
    init: (params) => transforms.map((t) => t.init(params)),
    update(grads, state, params) {
      let updates: TensorMap = grads;
      const next: unknown[] = [];
      try {
        transforms.forEach((t, i) => {
          const result = t.update(updates, state[i], params);
          // Intermediate updates are ours to free; the first input is the caller's.
          if (updates !== grads) dispose(Object.values(updates));
          updates = result.updates;
          next.push(result.state);
        });
      } catch (e) {
        // A later transform threw: free what the earlier ones made this step
        // (their updates and new states), so a failed step leaks nothing.
        if (updates !== grads) dispose(Object.values(updates));
        const old = new Set(treeLeaves(state));
        dispose(treeLeaves(next).filter((t) => !old.has(t)));
        throw e;
      }
      return { updates, state: next };
    },
  };
}
