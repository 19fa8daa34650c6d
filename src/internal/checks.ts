import { Tensor } from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';

/** Formats a shape the way messages print it: `[2, 4, 16, 8]`. */
export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

function describeValue(x: unknown): string {
  if (x instanceof Tensor) return `a ${x.dtype} tensor of shape ${formatShape(x.shape)}`;
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'an array';
  return `${typeof x} ${String(x)}`;
}

export interface TensorSpec {
  /** Required rank. */
  rank?: number;
  /** Allowed ranks (used when more than one is fine). */
  ranks?: readonly number[];
  /** Shape names for messages, e.g. `[batch, heads, time, headDim]`. */
  layout?: string;
}

/**
 * Checks that `x` is a float32 tensor of the required rank, with no
 * zero-sized dimension, and returns it typed.
 */
export function checkFloatTensor<T extends Tensor = Tensor>(
  fn: string,
  name: string,
  x: unknown,
  spec: TensorSpec = {},
): T {
  const layout = spec.layout ? ` ${spec.layout}` : '';
  const ranks = spec.rank !== undefined ? [spec.rank] : spec.ranks;
  const rankText = ranks ? ` of rank ${ranks.join(' or ')}` : '';
  const expected = `a float32 tensor${rankText}${layout}`;
  if (!(x instanceof Tensor)) throw new TfjsBlocksError(fn, name, expected, describeValue(x));
  if (x.isDisposed) throw new TfjsBlocksError(fn, name, expected, 'a disposed tensor');
  if (x.dtype !== 'float32') throw new TfjsBlocksError(fn, name, expected, describeValue(x));
  if (ranks && !ranks.includes(x.rank)) {
    throw new TfjsBlocksError(fn, name, expected, `rank ${x.rank}, shape ${formatShape(x.shape)}`);
  }
  if (x.shape.some((d: number) => d === 0)) {
    throw new TfjsBlocksError(fn, name, 'a tensor with no empty dimension', describeValue(x));
  }
  return x as T;
}

/** Throws unless `actual` equals `expected` (a dimension that must match another). */
export function checkDim(
  fn: string,
  name: string,
  actual: number,
  expected: number,
  what: string,
): void {
  if (actual !== expected) {
    throw new TfjsBlocksError(fn, name, `${what} = ${expected}`, String(actual));
  }
}

/**
 * Throws unless `shape` broadcasts to `target` under NumPy rules without
 * growing: each of its trailing dims equals the target's or is 1, and its
 * rank is at most the target's.
 */
export function checkBroadcastsTo(
  fn: string,
  name: string,
  shape: readonly number[],
  target: readonly number[],
  layout: string,
): void {
  const expected = `broadcastable to ${formatShape(target)} ${layout}`;
  if (shape.length > target.length) {
    throw new TfjsBlocksError(
      fn,
      name,
      expected,
      `rank ${shape.length}, shape ${formatShape(shape)}`,
    );
  }
  const offset = target.length - shape.length;
  shape.forEach((d, i) => {
    if (d !== 1 && d !== target[offset + i]) {
      throw new TfjsBlocksError(fn, name, expected, `shape ${formatShape(shape)}`);
    }
  });
}

/** Throws unless `value` is an integer >= `min`. */
export function checkInteger(fn: string, name: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new TfjsBlocksError(fn, name, `an integer >= ${min}`, describeValue(value));
  }
  return value;
}

/** Throws unless `value` is a finite number in `[min, max)` (or `[min, max]` if `maxInclusive`). */
export function checkNumber(
  fn: string,
  name: string,
  value: unknown,
  range: { min?: number; max?: number; minExclusive?: boolean; maxInclusive?: boolean } = {},
): number {
  const { min = -Infinity, max = Infinity, minExclusive = false, maxInclusive = false } = range;
  const lo = Number.isFinite(min) ? `${minExclusive ? '(' : '['}${min}` : '(-inf';
  const hi = Number.isFinite(max) ? `${max}${maxInclusive ? ']' : ')'}` : 'inf)';
  const expected = `a finite number in ${lo}, ${hi}`;
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new TfjsBlocksError(fn, name, expected, describeValue(value));
  }
  const aboveMin = minExclusive ? value > min : value >= min;
  const belowMax = maxInclusive ? value <= max : value < max;
  if (!aboveMin || !belowMax) throw new TfjsBlocksError(fn, name, expected, String(value));
  return value;
}

/** Throws unless `x` is a float32 tensor with exactly the shape of `reference`. */
export function checkSameShape(
  fn: string,
  name: string,
  x: unknown,
  referenceName: string,
  reference: Tensor,
): Tensor {
  const t = checkFloatTensor<Tensor>(fn, name, x);
  if (
    t.rank !== reference.rank ||
    t.shape.some((d: number, i: number) => d !== reference.shape[i])
  ) {
    throw new TfjsBlocksError(
      fn,
      name,
      `the shape of ${referenceName} ${formatShape(reference.shape)}`,
      `shape ${formatShape(t.shape)}`,
    );
  }
  return t;
}

/**
 * The size of the leading (batch) axis that every tensor of `tensors` shares,
 * for maps of named tensors that make one batch. The tensors must already be
 * checked to be live and of rank >= 1; the first one that differs is named
 * in the error, next to the first tensor of the map (`name` prefixes both).
 */
export function sharedLeadingDim(
  fn: string,
  name: string,
  tensors: Record<string, Tensor>,
): number {
  let size = -1;
  let first = '';
  for (const [key, t] of Object.entries(tensors)) {
    if (size < 0) {
      size = t.shape[0]!;
      first = key;
    } else if (t.shape[0] !== size) {
      throw new TfjsBlocksError(
        fn,
        `${name}.${key}.shape[0]`,
        `the batch size ${size} (as ${name}.${first})`,
        String(t.shape[0]),
      );
    }
  }
  return size;
}
