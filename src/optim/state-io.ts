import { Tensor, tensor } from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import { joinTensors, splitTensors } from '../internal/tensor-skeleton';
import type { TensorMap } from './types';

/** An optimizer state taken apart for saving: named tensors plus a JSON skeleton. */
export type SavedOptimizerState = {
  /** Every tensor of the state, by its path in the state (e.g. `1/moments/mu/dense.kernel`). */
  tensors: TensorMap;
  /** The state's structure and numbers, with each tensor replaced by `{"$tensor": path}`. */
  skeleton: unknown;
};

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
  return splitTensors(state, {
    separator: '/',
    rejectLeaf(path, type) {
      throw new TfjsBlocksError(
        'saveOptimizerState',
        path || 'state',
        'tensors, numbers, strings, booleans, arrays and objects',
        type,
      );
    },
  });
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
  return joinTensors(saved.skeleton, (path) => {
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
  }) as S;
}
