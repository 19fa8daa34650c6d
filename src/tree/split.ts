import type { Tensor } from '@tensorflow/tfjs-core';
import type { TensorMap } from './types';
import { isTensor, joinPath, mapTree } from './walk';

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
  const toSkeleton = (leaf: unknown, keys: readonly (string | number)[]): unknown => {
    const path = joinPath(keys, options.separator);
    if (isTensor(leaf)) {
      if (leaf.isDisposed) options.rejectLeaf(path, 'a disposed tensor');
      if (Object.hasOwn(tensors, path)) options.rejectDuplicate?.(path);
      tensors[path] = leaf;
      return { [TENSOR_KEY]: path };
    }
    return options.rejectLeaf(path, lossyKind(leaf) ?? typeof leaf);
  };
  const skeleton = mapTree(value, toSkeleton, {
    fn: 'splitTensors',
    argument: 'value',
    // Tensors become markers; what JSON cannot keep is a leaf too, so that it is rejected.
    isLeaf: (node) => isTensor(node) || lossyKind(node) !== undefined,
    onCycle: (keys) =>
      options.rejectLeaf(
        joinPath(keys, options.separator),
        'a cycle (a value that contains itself)',
      ),
  });
  return { tensors, skeleton };
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
  /** Called for a skeleton that contains itself (JSON never does). Default: a typed error from `joinTensors`. */
  rejectCycle?(at: string): never;
}

/** Whether `node` is a record with its own `$tensor` key: a marker, well-formed or not. */
function isMarker(node: unknown): node is Record<string, unknown> {
  return (
    node !== null &&
    typeof node === 'object' &&
    !Array.isArray(node) &&
    Object.hasOwn(node, TENSOR_KEY)
  );
}

/**
 * The inverse of {@link splitTensors}: the skeleton with each tensor marker
 * (a record whose own keys are exactly `$tensor`) replaced by
 * `options.tensorAt(ref, at)`. Inherited keys never count as markers.
 */
export function joinTensors(skeleton: unknown, options: JoinTensorsOptions): unknown {
  const toTensor = (leaf: unknown, keys: readonly (string | number)[]): Tensor => {
    const marker = leaf as Record<string, unknown>;
    const at = joinPath(keys);
    const ref = marker[TENSOR_KEY];
    if (typeof ref !== 'string' || Object.keys(marker).length !== 1) {
      options.rejectMarker(at, marker);
    }
    return options.tensorAt(ref, at);
  };
  const rejectCycle = options.rejectCycle;
  return mapTree(skeleton, toTensor, {
    fn: 'joinTensors',
    argument: 'skeleton',
    isLeaf: isMarker,
    onCycle: rejectCycle ? (keys) => rejectCycle(joinPath(keys)) : undefined,
  });
}
