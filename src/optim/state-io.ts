import { Tensor, tensor } from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import type { TensorMap } from './types';

/** An optimizer state taken apart for saving: named tensors plus a JSON skeleton. */
export type SavedOptimizerState = {
  /** Every tensor of the state, by its path in the state (e.g. `1/moments/mu/dense.kernel`). */
  tensors: TensorMap;
  /** The state's structure and numbers, with each tensor replaced by `{"$tensor": path}`. */
  skeleton: unknown;
};

const TENSOR_KEY = '$tensor';

/**
 * Takes an optimizer state apart into named tensors (for a checkpoint
 * format such as safetensors or `tf.io`) and a JSON-serialisable skeleton
 * holding step counts and structure. The tensors are the state's own
 * (not copies): save them before the next step disposes them.
 *
 * @example
 * ```ts
 * const { tensors, skeleton } = saveOptimizerState(state);
 * fs.writeFileSync('opt.json', JSON.stringify(skeleton));
 * ```
 */
export function saveOptimizerState(state: unknown): SavedOptimizerState {
  const tensors: TensorMap = {};
  const walk = (node: unknown, path: string): unknown => {
    if (node instanceof Tensor) {
      tensors[path] = node;
      return { [TENSOR_KEY]: path };
    }
    if (Array.isArray(node))
      return node.map((child, i) => walk(child, path ? `${path}/${i}` : `${i}`));
    if (node !== null && typeof node === 'object') {
      return Object.fromEntries(
        Object.entries(node).map(([key, child]) => [
          key,
          walk(child, path ? `${path}/${key}` : key),
        ]),
      );
    }
    if (
      node === undefined ||
      typeof node === 'function' ||
      typeof node === 'symbol' ||
      typeof node === 'bigint'
    ) {
      throw new TfjsBlocksError(
        'saveOptimizerState',
        path || 'state',
        'tensors, numbers, strings, booleans, arrays and objects',
        typeof node,
      );
    }
    return node;
  };
  return { tensors, skeleton: walk(state, '') };
}

/**
 * Rebuilds a state saved with {@link saveOptimizerState}. Tensors are copied
 * (the caller keeps ownership of `saved.tensors`).
 *
 * @example
 * ```ts
 * const state = restoreOptimizerState({ tensors, skeleton });
 * ```
 */
export function restoreOptimizerState<S = unknown>(saved: SavedOptimizerState): S {
  const walk = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(walk);
    if (node !== null && typeof node === 'object') {
      const path = (node as Record<string, unknown>)[TENSOR_KEY];
      if (typeof path === 'string') {
        const t = saved.tensors[path];
        if (!(t instanceof Tensor)) {
          throw new TfjsBlocksError(
            'restoreOptimizerState',
            `tensors["${path}"]`,
            'a tensor named in the skeleton',
            String(t),
          );
        }
        return tensor(t.dataSync(), t.shape, t.dtype);
      }
      return Object.fromEntries(Object.entries(node).map(([key, child]) => [key, walk(child)]));
    }
    return node;
  };
  return walk(saved.skeleton) as S;
}
