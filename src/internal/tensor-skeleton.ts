import { Tensor } from '@tensorflow/tfjs-core';
import type { TensorMap } from '../optim/types';

/** How a skeleton marks where a tensor stood: `{ $tensor: "<path>" }`. */
const TENSOR_KEY = '$tensor';

/** What {@link splitTensors} does at the edges; each callback throws the caller's typed error. */
export interface SplitTensorsOptions {
  /** Joins a parent path and a key: `.` for state-dict names, `/` for optimizer state. */
  separator: string;
  /**
   * Called for a value that JSON would drop or change: undefined, a
   * function, a symbol, a bigint, a non-finite number, a Map/Set/Date/typed
   * array, a cycle, or a record holding the reserved key `$tensor`.
   */
  rejectLeaf(path: string, type: string): never;
  /** Called when two tensors would get the same path; without it the later one wins. */
  rejectDuplicate?(path: string): never;
}

/** What a value is, when JSON cannot keep it as it is; `undefined` when it can. */
function lossyKind(node: unknown): string | undefined {
  if (node === undefined || typeof node === 'function' || typeof node === 'symbol') {
    return typeof node;
  }
  if (typeof node === 'bigint') return 'bigint';
  if (typeof node === 'number' && !Number.isFinite(node)) return `number ${node}`;
  if (node === null || typeof node !== 'object') return undefined;
  if (ArrayBuffer.isView(node)) return `a ${node.constructor.name}`;
  if (
    node instanceof ArrayBuffer ||
    node instanceof Map ||
    node instanceof Set ||
    node instanceof Date ||
    node instanceof RegExp ||
    node instanceof Promise
  ) {
    return `a ${node.constructor.name}`;
  }
  if (!Array.isArray(node) && Object.hasOwn(node, TENSOR_KEY)) {
    return `a record with the reserved key "${TENSOR_KEY}"`;
  }
  return undefined;
}

/**
 * Takes a value apart into its tensors, by path, and a JSON skeleton that
 * names them (records, arrays, numbers, strings and booleans are kept), the
 * form checkpoints and saved optimizer states are written in. The tensor map
 * has no prototype, so names such as `constructor` or `__proto__` are plain
 * keys; anything JSON would silently drop or change is rejected.
 */
export function splitTensors(
  value: unknown,
  options: SplitTensorsOptions,
): { tensors: TensorMap; skeleton: unknown } {
  const tensors: TensorMap = Object.create(null);
  const open = new Set<object>();
  const walk = (node: unknown, path: string): unknown => {
    if (node instanceof Tensor) {
      if (node.isDisposed) options.rejectLeaf(path, 'a disposed tensor');
      if (Object.hasOwn(tensors, path)) options.rejectDuplicate?.(path);
      tensors[path] = node;
      return { [TENSOR_KEY]: path };
    }
    const lossy = lossyKind(node);
    if (lossy !== undefined) options.rejectLeaf(path, lossy);
    if (node === null || typeof node !== 'object') return node;
    if (open.has(node)) options.rejectLeaf(path, 'a cycle (a value that contains itself)');
    open.add(node);
    const child = (key: string) => (path ? `${path}${options.separator}${key}` : key);
    const copy = Array.isArray(node)
      ? node.map((v, i) => walk(v, child(String(i))))
      : Object.fromEntries(Object.entries(node).map(([k, v]) => [k, walk(v, child(k))]));
    open.delete(node);
    return copy;
  };
  return { tensors, skeleton: walk(value, '') };
}

/** What {@link joinTensors} does at each tensor marker; each callback throws the caller's typed error. */
export interface JoinTensorsOptions {
  /**
   * The tensor for the marker `{"$tensor": ref}` found at `at` (the marker's
   * dotted path in the skeleton). Throws when `ref` names no tensor, and
   * decides whether to copy it.
   */
  tensorAt(ref: string, at: string): Tensor;
  /** Called for a malformed marker: a `$tensor` that is not a string, or other keys beside it. */
  rejectMarker(at: string, marker: Record<string, unknown>): never;
}

/**
 * The inverse of {@link splitTensors}: the skeleton with each tensor marker
 * (a record whose own keys are exactly `$tensor`) replaced by
 * `options.tensorAt(ref, at)`. Inherited keys never count as markers.
 */
export function joinTensors(skeleton: unknown, options: JoinTensorsOptions): unknown {
  const walk = (node: unknown, at: string): unknown => {
    const child = (key: string) => (at ? `${at}.${key}` : key);
    if (Array.isArray(node)) return node.map((v, i) => walk(v, child(String(i))));
    if (node !== null && typeof node === 'object') {
      const record = node as Record<string, unknown>;
      if (Object.hasOwn(record, TENSOR_KEY)) {
        const ref = record[TENSOR_KEY];
        if (typeof ref !== 'string' || Object.keys(record).length !== 1) {
          options.rejectMarker(at, record);
        }
        return options.tensorAt(ref, at);
      }
      return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, walk(v, child(k))]));
    }
    return node;
  };
  return walk(skeleton, '');
}
