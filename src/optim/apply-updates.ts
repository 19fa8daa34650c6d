import { add, type Tensor, tidy, type Variable } from '@tensorflow/tfjs-core';
import { checkSameStructure, mapTensors } from './tree';
import type { TensorMap } from './types';

/**
 * New parameters `params + updates` (the updates already carry the
 * learning rate and the minus sign). Checks that names and shapes match.
 *
 * @returns fresh tensors; `params` and `updates` are left to the caller.
 * @example
 * ```ts
 * const { updates, state: next } = optimizer.update(grads, state, params);
 * const newParams = applyUpdates(params, updates);
 * ```
 */
export function applyUpdates(params: TensorMap, updates: TensorMap): TensorMap {
  checkSameStructure('applyUpdates', 'updates', updates, params);
  return tidy(() => mapTensors(params, (p, _name, u) => add(p, u as Tensor), updates));
}

/**
 * Adds `updates` to `tf.Variable`s in place (`variable.assign`), for
 * training loops that keep their weights in variables.
 *
 * @example
 * ```ts
 * applyUpdatesInPlace({ w: wVariable }, updates);
 * ```
 */
export function applyUpdatesInPlace(variables: Record<string, Variable>, updates: TensorMap): void {
  checkSameStructure('applyUpdatesInPlace', 'updates', updates, variables);
  tidy(() => {
    for (const [name, v] of Object.entries(variables)) v.assign(add(v, updates[name]!));
  });
}
