/**
 * The one walk over trees (records, arrays and leaves) that every tree
 * function of the library goes through, as optax routes its walks through
 * `optax.tree` / `jax.tree`. Internal: the public functions are in
 * `leaves.ts`, `map.ts`, `flatten.ts` and `split.ts`.
 *
 * A node is a *leaf* when `isLeaf` says so (default: a tensor); otherwise an
 * array or a non-null object is a *container* whose own enumerable entries
 * are walked (array indices as numbers, record keys as strings); anything
 * else (numbers, strings, null, typed arrays) is a *static* value: kept as is by
 * {@link mapTree}, skipped by {@link visitLeaves}. A container that contains
 * itself is rejected with a typed error instead of overflowing the stack.
 */
import { Tensor } from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import { truncateForMessage } from '../internal/checks';
import { recordFromEntries } from '../internal/records';

/** One step of a path into a tree: a record key (string) or an array index (number). */
export type TreeKey = string | number;

/** How a walk reads the tree and whom its errors name. */
export interface WalkOptions {
  /** The public function walking, for the error a cycle throws. */
  fn: string;
  /** The argument holding the tree, for the error a cycle throws. */
  argument: string;
  /** Which nodes are leaves. Default: tensors. */
  isLeaf?: (node: unknown) => boolean;
  /** Called with the path of a container met again inside itself; must throw. Default: a typed error. */
  onCycle?: (keys: readonly TreeKey[]) => never;
}

/** Whether `node` is a tensor: the default leaf. */
export function isTensor(node: unknown): node is Tensor {
  return node instanceof Tensor;
}

/** The keys joined by `separator` (`blocks.0.kernel`); the root's path is `''`. */
export function joinPath(keys: readonly TreeKey[], separator = '.'): string {
  return keys.join(separator);
}

/**
 * Whether `node` is walked into. Typed arrays and buffers are data, not
 * containers: a quantized matrix's millions of int8 codes are one static
 * value, kept by reference (walking them entry by entry would copy them
 * into a record and take seconds).
 */
function isContainer(node: unknown): node is object {
  return (
    node !== null &&
    typeof node === 'object' &&
    !ArrayBuffer.isView(node) &&
    !(node instanceof ArrayBuffer)
  );
}

/** Tracks the containers being walked, so that one met inside itself is reported. */
function cycleGuard(options: WalkOptions) {
  const open = new Set<object>();
  return {
    enter(node: object, keys: readonly TreeKey[]): void {
      if (open.has(node)) {
        if (options.onCycle) options.onCycle(keys);
        const at = keys.length ? `${options.argument}.${joinPath(keys)}` : options.argument;
        throw new TfjsBlocksError(
          options.fn,
          truncateForMessage(at, 120),
          'a tree of records, arrays and leaves',
          'a cycle (a value that contains itself)',
        );
      }
      open.add(node);
    },
    leave(node: object): void {
      open.delete(node);
    },
  };
}

/**
 * Calls `visit` for every leaf, depth first in key order. `keys` is the
 * leaf's path; it is reused by the walk, so copy it to keep it.
 */
export function visitLeaves(
  tree: unknown,
  visit: (leaf: unknown, keys: readonly TreeKey[]) => void,
  options: WalkOptions,
): void {
  const isLeaf = options.isLeaf ?? isTensor;
  const guard = cycleGuard(options);
  const keys: TreeKey[] = [];
  const walk = (node: unknown): void => {
    if (isLeaf(node)) {
      visit(node, keys);
      return;
    }
    if (!isContainer(node)) return;
    guard.enter(node, keys);
    const entries: Iterable<[TreeKey, unknown]> = Array.isArray(node)
      ? node.entries()
      : Object.entries(node);
    for (const [key, child] of entries) {
      keys.push(key);
      walk(child);
      keys.pop();
    }
    guard.leave(node);
  };
  walk(tree);
}

/** A record of `entries` with the prototype of `like`: none stays none, so hostile names stay entries. */
function recordLike(like: object, entries: Iterable<readonly [string, unknown]>): object {
  return Object.getPrototypeOf(like) === null
    ? recordFromEntries(entries)
    : Object.fromEntries(entries);
}

/**
 * A new tree of the same structure with each leaf replaced by `f(leaf,
 * keys)`; static values are kept. Arrays stay arrays; records are rebuilt
 * from their own entries, without a prototype when the original had none.
 */
export function mapTree(
  tree: unknown,
  f: (leaf: unknown, keys: readonly TreeKey[]) => unknown,
  options: WalkOptions,
): unknown {
  const isLeaf = options.isLeaf ?? isTensor;
  const guard = cycleGuard(options);
  const keys: TreeKey[] = [];
  const child = (key: TreeKey, node: unknown): unknown => {
    keys.push(key);
    const out = walk(node);
    keys.pop();
    return out;
  };
  const walk = (node: unknown): unknown => {
    if (isLeaf(node)) return f(node, keys);
    if (!isContainer(node)) return node;
    guard.enter(node, keys);
    const out = Array.isArray(node)
      ? node.map((v, i) => child(i, v))
      : recordLike(
          node,
          Object.entries(node).map(([k, v]) => [k, child(k, v)] as const),
        );
    guard.leave(node);
    return out;
  };
  return walk(tree);
}

/** What {@link zipTrees} needs beyond a walk's options. */
export interface ZipOptions extends WalkOptions {
  /**
   * Called when tree `index` has, at `keys`, a node of another structure
   * than the first tree's `expected` (not an array of the same length, not a
   * record of the same own keys); must throw.
   */
  onMismatch(index: number, keys: readonly TreeKey[], expected: unknown, actual: unknown): never;
}

/**
 * Walks several trees of one structure together, the first tree's
 * structure leading, and builds the tree of `f(leaves, keys)` (one leaf
 * from each tree). Every other node must match the first tree's: an array of
 * the same length, or a record with the same own keys; `onMismatch` reports
 * the first that does not. Static values are taken from the first tree.
 */
export function zipTrees(
  trees: readonly unknown[],
  f: (leaves: unknown[], keys: readonly TreeKey[]) => unknown,
  options: ZipOptions,
): unknown {
  const isLeaf = options.isLeaf ?? isTensor;
  const guard = cycleGuard(options);
  const keys: TreeKey[] = [];
  const isRecord = (x: unknown): x is Record<string, unknown> =>
    isContainer(x) && !Array.isArray(x) && !isLeaf(x);
  const child = (key: TreeKey, nodes: unknown[]): unknown => {
    keys.push(key);
    const out = walk(nodes);
    keys.pop();
    return out;
  };
  const walk = (nodes: unknown[]): unknown => {
    const first = nodes[0];
    if (isLeaf(first)) return f(nodes, keys);
    if (!isContainer(first)) return first;
    guard.enter(first, keys);
    let out: unknown;
    if (Array.isArray(first)) {
      nodes.forEach((x, i) => {
        if (!Array.isArray(x) || x.length !== first.length) options.onMismatch(i, keys, first, x);
      });
      out = first.map((_, k) =>
        child(
          k,
          nodes.map((x) => (x as unknown[])[k]),
        ),
      );
    } else {
      const names = Object.keys(first);
      nodes.forEach((x, i) => {
        const same =
          isRecord(x) &&
          Object.keys(x).length === names.length &&
          names.every((k) => Object.hasOwn(x, k));
        if (!same) options.onMismatch(i, keys, first, x);
      });
      out = recordLike(
        first,
        names.map(
          (k) =>
            [
              k,
              child(
                k,
                nodes.map((x) => (x as Record<string, unknown>)[k]),
              ),
            ] as const,
        ),
      );
    }
    guard.leave(first);
    return out;
  };
  return walk([...trees]);
}
