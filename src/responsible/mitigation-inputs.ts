import { Tensor } from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import { describeValue, truncateForMessage } from '../internal/checks';
import { seededUniform } from './bootstrap';
import type { GroupLabel } from './fairness';

/**
 * Reading and checking the inputs the bias-mitigation methods share (labels,
 * groups, scores, sample weights) and their seeded coin flips. Not public:
 * `reweighing`, `exponentiatedGradient` and `groupThresholds` call these, so
 * that one bad value is reported the same way by all three. Every reader
 * reads a tensor with `dataSync` (no tensor is made, so nothing can leak).
 */

/**
 * One sample's value or a group label as a message quotes it (`"a"`, `2`,
 * `true`, a string cut short); anything else through the shared
 * `describeValue`, which never prints a buffer.
 */
export function quote(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(truncateForMessage(v));
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return describeValue(v);
}

/**
 * The values of an array or tensor argument, read once (`dataSync` makes
 * no tensor, so nothing can leak). Shared with the fairness metrics.
 */
export function readValues(fn: string, name: string, x: unknown): readonly unknown[] {
  if (x instanceof Tensor) {
    if (x.isDisposed)
      throw new TfjsBlocksError(fn, name, 'an array or tensor', 'a disposed tensor');
    return Array.from(x.dataSync() as ArrayLike<unknown>);
  }
  // Array.from reads a hole (`[1, , 0]`) as undefined, which the callers reject,
  // where map/forEach would skip it and leave it unchecked.
  if (Array.isArray(x)) return Array.from(x);
  throw new TfjsBlocksError(fn, name, 'an array or tensor', describeValue(x));
}

/** 0/1 labels (numbers, booleans or a tensor) as 0/1 numbers; at least one sample. */
export function readLabels(fn: string, name: string, x: unknown): number[] {
  const labels = readValues(fn, name, x).map((v, i) => {
    if (v === 1 || v === true) return 1;
    if (v === 0 || v === false) return 0;
    throw new TfjsBlocksError(fn, `${name}[${i}]`, '0, 1, true or false', quote(v));
  });
  if (labels.length === 0) throw new TfjsBlocksError(fn, name, 'non-empty', 'no samples');
  return labels;
}

/** Group labels of `n` samples, with the distinct groups in order of first appearance. */
export function readGroups(
  fn: string,
  name: string,
  x: unknown,
  n: number,
): { groups: GroupLabel[]; distinct: GroupLabel[] } {
  const groups = readValues(fn, name, x).map((v, i): GroupLabel => {
    if (typeof v === 'string' || typeof v === 'boolean') return v;
    if (typeof v === 'number' && !Number.isNaN(v)) return v;
    throw new TfjsBlocksError(fn, `${name}[${i}]`, 'a string, number or boolean', quote(v));
  });
  if (groups.length !== n) {
    throw new TfjsBlocksError(fn, name, `length ${n} (one group per sample)`, `${groups.length}`);
  }
  const distinct = [...new Set(groups)];
  return { groups, distinct };
}

/** Finite real scores of `n` samples (any `n` when `n` is undefined). */
export function readScores(fn: string, name: string, x: unknown, n?: number): number[] {
  const scores = readValues(fn, name, x).map((v, i) => {
    if (typeof v === 'number' && Number.isFinite(v)) return v;
    throw new TfjsBlocksError(fn, `${name}[${i}]`, 'a finite number', quote(v));
  });
  if (n !== undefined && scores.length !== n) {
    throw new TfjsBlocksError(fn, name, `length ${n} (one score per sample)`, `${scores.length}`);
  }
  if (scores.length === 0) throw new TfjsBlocksError(fn, name, 'non-empty', 'no samples');
  return scores;
}

/**
 * Sample weights of `n` samples: finite and non-negative, not all zero; all
 * ones when `x` is undefined.
 */
export function readSampleWeights(fn: string, name: string, x: unknown, n: number): number[] {
  if (x === undefined) return new Array<number>(n).fill(1);
  const weights = readValues(fn, name, x).map((v, i) => {
    if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return v;
    throw new TfjsBlocksError(fn, `${name}[${i}]`, 'a finite number ≥ 0', quote(v));
  });
  if (weights.length !== n) {
    throw new TfjsBlocksError(fn, name, `length ${n} (one weight per sample)`, `${weights.length}`);
  }
  if (!weights.some((w) => w > 0)) {
    throw new TfjsBlocksError(fn, name, 'at least one positive weight', 'all zero');
  }
  return weights;
}

/** Requires at least two distinct groups. */
export function checkTwoGroups(fn: string, name: string, distinct: readonly GroupLabel[]): void {
  if (distinct.length < 2) {
    throw new TfjsBlocksError(fn, name, 'at least two groups', `${distinct.length}`);
  }
}

/** `n` uniform numbers in [0, 1) from a seed (mulberry32 over a splitmix32 start). */
export function seededUniforms(fn: string, name: string, seed: unknown, n: number): number[] {
  if (typeof seed !== 'number' || !Number.isInteger(seed)) {
    throw new TfjsBlocksError(fn, name, 'an integer', quote(seed));
  }
  const next = seededUniform(seed);
  return Array.from({ length: n }, next);
}
