import { dispose, Tensor, tensor } from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import { describeValue, truncateForMessage } from '../internal/checks';
import { joinTensors, splitTensors } from '../tree/split';
import type { TensorMap } from '../tree/types';

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
    rejectDuplicate(path) {
      // Keys holding the separator ('a/b' beside a: {b}) would collide: the
      // later tensor would silently overwrite the earlier one in the file.
      throw new TfjsBlocksError('saveOptimizerState', path, 'a unique path', 'a duplicate');
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
  const fn = 'restoreOptimizerState';
  if (saved === null || typeof saved !== 'object') {
    throw new TfjsBlocksError(fn, 'saved', '{tensors, skeleton}', describeValue(saved));
  }
  const { tensors } = saved;
  if (tensors === null || typeof tensors !== 'object') {
    throw new TfjsBlocksError(fn, 'saved.tensors', 'a record of tensors', describeValue(tensors));
  }
  // Copies made before a later marker fails are freed, so a throw leaves no tensor behind.
  const copies: Tensor[] = [];
  try {
    return joinTensors(saved.skeleton, {
      tensorAt(path) {
        // Own keys only: `constructor` or `toString` must not resolve to Object's members.
        const t = Object.hasOwn(tensors, path) ? tensors[path] : undefined;
        if (!(t instanceof Tensor)) {
          throw new TfjsBlocksError(
            fn,
            `tensors["${truncateForMessage(path, 60)}"]`,
            'a tensor named in the skeleton',
            describeValue(t),
          );
        }
        const copy = tensor(t.dataSync(), t.shape, t.dtype);
        copies.push(copy);
        return copy;
      },
      rejectMarker(at) {
        const where = at ? `skeleton.${at}` : 'skeleton';
        throw new TfjsBlocksError(fn, where, '{"$tensor": "<name>"}', 'a malformed marker');
      },
      rejectCycle(at) {
        const where = at ? `skeleton.${truncateForMessage(at, 60)}` : 'skeleton';
        throw new TfjsBlocksError(
          fn,
          where,
          'a JSON skeleton',
          'a cycle (a value that contains itself)',
        );
      },
    }) as S;
  } catch (e) {
    dispose(copies);
    throw e;
  }
}
