import { add, type Tensor, tidy, Variable } from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import { describeValue } from '../internal/checks';
import type { TensorMap } from '../tree/types';
import { checkSameStructure, mapTensors } from './tree';

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
  const fn = 'applyUpdatesInPlace';
  checkSameStructure(fn, 'updates', updates, variables);
  for (const [name, v] of Object.entries(variables)) {
    if (!(v instanceof Variable)) {
      throw new TfjsBlocksError(fn, `variables.${name}`, 'a tf.Variable', describeValue(v));
    }
  }
  tidy(() => {
    for (const [name, v] of Object.entries(variables)) v.assign(add(v, updates[name]!));
  });
}
