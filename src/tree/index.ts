/**
 * tfjs-blocks/tree: walking nested records of tensors (the param records the
 * `init…` functions make), as optax has `optax.tree`: leaves with their
 * dotted paths, a structure-keeping map, and flatten/unflatten. Registers no
 * gradients and makes no tensors of its own.
 *
 * @packageDocumentation
 */
export { flattenParams, unflattenParams } from './flatten';
export { treeLeaves, treeLeavesWithPath } from './leaves';
export { treeMap } from './map';
export type { ParamTree, TensorMap } from './types';
