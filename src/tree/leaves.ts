import type { Tensor } from '@tensorflow/tfjs-core';
import { joinPath, visitLeaves } from './walk';

/**
 * Every tensor of a tree (a param record, an optimizer state, any nesting of
 * records and arrays), depth first in key order; numbers and other values
 * are skipped. The tensors are the tree's own, not copies. The same as
 * `jax.tree.leaves`.
 *
 * @param tree - any value; a value holding no tensor gives `[]`.
 * @returns the tensors.
 * @example
 * ```ts
 * const state = adamw({ learningRate: 1e-3 }).init(variables);
 * tf.dispose(treeLeaves(state)); // frees every moment, however nested
 * ```
 */
export function treeLeaves(tree: unknown): Tensor[] {
  const leaves: Tensor[] = [];
  visitLeaves(tree, (leaf) => leaves.push(leaf as Tensor), { fn: 'treeLeaves', argument: 'tree' });
  return leaves;
}

/**
 * Every tensor of a tree with its dotted path (`blocks.0.attention.query.kernel`,
 * array indices as numbers), depth first in key order; numbers and other
 * values are skipped. A tensor at the root has the path `''`. The same as
 * `jax.tree_util.tree_leaves_with_path`, with paths as state-dict names.
 *
 * @param tree - any value; a value holding no tensor gives `[]`.
 * @returns `[path, tensor]` pairs.
 * @example
 * ```ts
 * for (const [path, t] of treeLeavesWithPath(initDecoderLm(config, 0))) {
 *   console.log(path, t.shape); // e.g. "blocks.0.attention.query.kernel" [64, 64]
 * }
 * ```
 */
export function treeLeavesWithPath(tree: unknown): Array<[string, Tensor]> {
  const leaves: Array<[string, Tensor]> = [];
  visitLeaves(tree, (leaf, keys) => leaves.push([joinPath(keys), leaf as Tensor]), {
    fn: 'treeLeavesWithPath',
    argument: 'tree',
  });
  return leaves;
}
