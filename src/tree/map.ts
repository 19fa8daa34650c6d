import type { Tensor } from '@tensorflow/tfjs-core';
import { joinPath, mapTree, visitLeaves } from './walk';

/**
 * A new tree of the same structure with each tensor replaced by `f(tensor,
 * path)` (the dotted path, as {@link treeLeavesWithPath} gives it); numbers
 * and other values are kept, arrays stay arrays, records are rebuilt from
 * their own entries (without a prototype when the original had none, so a
 * key such as `__proto__` stays an entry). The same as `jax.tree.map` over
 * one tree. The tree is not changed and no tensor is disposed; run it
 * inside `tf.tidy` when `f` makes tensors and may throw, so that those made
 * before the throw are freed.
 *
 * @param tree - a param record, an optimizer state, any nesting of records and arrays.
 * @param f - the new tensor for a tensor at a path.
 * @returns the tree rebuilt around `f`'s tensors.
 * @example
 * ```ts
 * const halved = tf.tidy(() => treeMap(params, (t) => tf.mul(t, 0.5)));
 * const copy = treeMap(state, (t) => tf.clone(t)); // a state the caller owns
 * ```
 */
export function treeMap<T>(tree: T, f: (leaf: Tensor, path: string) => Tensor): T {
  const options = { fn: 'treeMap', argument: 'tree' };
  // A cycle is reported before `f` runs, so no tensor it would make is left behind.
  visitLeaves(tree, () => {}, options);
  return mapTree(tree, (leaf, keys) => f(leaf as Tensor, joinPath(keys)), options) as T;
}
