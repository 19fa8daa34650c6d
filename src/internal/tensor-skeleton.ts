import { Tensor } from '@tensorflow/tfjs-core';
import type { TensorMap } from '../optim/types';

/** How a skeleton marks where a tensor stood: `{ $tensor: "<path>" }`. */
const TENSOR_KEY = '$tensor';

/** What {@link splitTensors} does at the edges; each callback throws the caller's typed error. */
export interface SplitTensorsOptions {
  /** Joins a parent path and a key: `.` for state-dict names, `/` for optimizer state. */
  separator: string;
  /** Called for a leaf that cannot go into JSON (undefined, a function, a symbol, a bigint). */
  rejectLeaf(path: string, type: string): never;
  /** Called when two tensors would get the same path; without it the later one wins. */
  rejectDuplicate?(path: string): never;
}

/**
 * Takes a value apart into its tensors, by path, and a JSON skeleton that
 * names them (records, arrays, numbers, strings and booleans are kept), the
 * form checkpoints and saved optimizer states are written in.
 */
export function splitTensors(
  value: unknown,
  options: SplitTensorsOptions,
): { tensors: TensorMap; skeleton: unknown } {
  const tensors: TensorMap = {};
  const walk = (node: unknown, path: string): unknown => {
    if (node instanceof Tensor) {
      if (path in tensors) options.rejectDuplicate?.(path);
      tensors[path] = node;
      return { [TENSOR_KEY]: path };
    }
    const child = (key: string) => (path ? `${path}${options.separator}${key}` : key);
    if (Array.isArray(node)) return node.map((v, i) => walk(v, child(String(i))));
    if (node !== null && typeof node === 'object') {
      return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, walk(v, child(k))]));
    }
    if (
      node === undefined ||
      typeof node === 'function' ||
      typeof node === 'symbol' ||
      typeof node === 'bigint'
    ) {
      options.rejectLeaf(path, typeof node);
    }
    return node;
  };
  return { tensors, skeleton: walk(value, '') };
}

/**
 * The inverse of {@link splitTensors}: the skeleton with each tensor marker
 * replaced by `tensorAt(path)` (which throws the caller's error when the
 * tensor is missing, and decides whether to copy it).
 */
export function joinTensors(skeleton: unknown, tensorAt: (path: string) => Tensor): unknown {
  const walk = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(walk);
    if (node !== null && typeof node === 'object') {
      const path = (node as Record<string, unknown>)[TENSOR_KEY];
      if (typeof path === 'string') return tensorAt(path);
      return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, walk(v)]));
    }
    return node;
  };
  return walk(skeleton);
}
