import { keep, Tensor } from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import { checkTensor, describeValue, formatShape } from '../internal/checks';
import { emptyRecord, hasName, ownEntry, recordFromEntries } from '../internal/records';
import { treeLeaves } from '../tree/leaves';
import type { TensorMap } from '../tree/types';

/**
 * Throws unless `actual` has exactly the names of `expected`, each a float32
 * tensor of the expected shape: a gradient map that does not fit its
 * parameters is caught here, by name. Only own keys count, so names such as
 * `constructor` or `toString` are never found on `Object.prototype`.
 */
export function checkShapes(
  fn: string,
  what: string,
  actual: TensorMap,
  expected: Record<string, readonly number[]>,
  expectedWhat: string,
): void {
  if (actual === null || typeof actual !== 'object') {
    throw new TfjsBlocksError(
      fn,
      what,
      `a map of named tensors like ${expectedWhat}`,
      describeValue(actual),
    );
  }
  for (const [name, shape] of Object.entries(expected)) {
    const a = ownEntry(actual, name);
    if (!(a instanceof Tensor)) {
      throw new TfjsBlocksError(
        fn,
        `${what}.${name}`,
        `a tensor (${expectedWhat} have "${name}")`,
        a === undefined ? 'nothing' : describeValue(a),
      );
    }
    if (a.isDisposed) {
      throw new TfjsBlocksError(fn, `${what}.${name}`, 'a tensor', 'a disposed tensor');
    }
    if (a.dtype !== 'float32') {
      throw new TfjsBlocksError(fn, `${what}.${name}`, 'a float32 tensor', `${a.dtype}`);
    }
    if (a.shape.length !== shape.length || a.shape.some((d, i) => d !== shape[i])) {
      throw new TfjsBlocksError(
        fn,
        `${what}.${name}`,
        `shape ${formatShape(shape)} (as in ${expectedWhat})`,
        `shape ${formatShape(a.shape)}`,
      );
    }
  }
  for (const name of Object.keys(actual)) {
    if (!hasName(expected, name)) {
      throw new TfjsBlocksError(
        fn,
        `${what}.${name}`,
        `one of the names in ${expectedWhat} (${Object.keys(expected).join(', ')})`,
        `an extra entry "${name}"`,
      );
    }
  }
}

/**
 * Throws unless `map` is a record whose every own entry is a live tensor,
 * for maps that have no expected shapes to be checked against.
 */
export function checkTensorMap(fn: string, what: string, map: unknown): TensorMap {
  if (map === null || typeof map !== 'object' || Array.isArray(map) || map instanceof Tensor) {
    throw new TfjsBlocksError(fn, what, 'a map of named tensors', describeValue(map));
  }
  for (const [name, t] of Object.entries(map)) checkTensor(fn, `${what}.${name}`, t);
  return map as TensorMap;
}

/** Checks, when a chain or wrapper is made, that what it composes has `init` and `update`. */
export function checkTransform(fn: string, name: string, transform: unknown): void {
  const t = transform as { init?: unknown; update?: unknown } | null;
  if (
    t === null ||
    typeof t !== 'object' ||
    typeof t.init !== 'function' ||
    typeof t.update !== 'function'
  ) {
    throw new TfjsBlocksError(
      fn,
      name,
      'a gradient transformation ({ init, update })',
      describeValue(transform),
    );
  }
}

/** The shapes of a tensor map, by name (a record with no prototype). */
export function shapesOf(map: TensorMap): Record<string, number[]> {
  return recordFromEntries(Object.entries(map).map(([name, t]) => [name, [...t.shape]]));
}

/** {@link checkShapes} against another tensor map's names and shapes. */
export function checkSameStructure(
  fn: string,
  what: string,
  actual: TensorMap,
  expected: TensorMap,
  expectedWhat = 'the parameters',
): void {
  checkShapes(fn, what, actual, shapesOf(expected), expectedWhat);
}

/**
 * Applies `f` to each entry of `map` (and the same-named own entries of
 * `others`). The result has no prototype, so a parameter named `__proto__`
 * is an entry like any other.
 */
export function mapTensors(
  map: TensorMap,
  f: (x: Tensor, name: string, ...others: Tensor[]) => Tensor,
  ...others: TensorMap[]
): TensorMap {
  const out = emptyRecord<Tensor>();
  for (const [name, x] of Object.entries(map)) {
    out[name] = f(x, name, ...others.map((o) => ownEntry(o, name)!));
  }
  return out;
}

/**
 * Marks every tensor of a state with `tf.keep`, so a step taken inside a
 * caller's `tf.tidy` (as `model.fit` does for each batch) leaves the state
 * alive; the owner disposes it explicitly.
 */
export function keepState<S>(state: S): S {
  for (const t of treeLeaves(state)) keep(t);
  return state;
}

/** For transforms that read the parameters: they must be given, named and shaped like the gradients. */
export function requireParams(
  fn: string,
  params: TensorMap | undefined,
  grads: TensorMap,
): TensorMap {
  if (!params) {
    throw new TfjsBlocksError(
      fn,
      'params',
      'the current parameters (this transform reads them)',
      'undefined',
    );
  }
  checkSameStructure(fn, 'params', params, grads, 'the gradients');
  return params;
}
