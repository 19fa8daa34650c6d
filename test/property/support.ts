import * as tf from '@tensorflow/tfjs-core';
import type fc from 'fast-check';
import { expect } from 'vitest';
import { type ScaledDotProductAttentionOptions, TfjsBlocksError } from '../../src/index';

/** The one seed every property in test/property runs with (see docs/reliability.md). */
export const SEED = 42;

/** fast-check parameters: the fixed seed and a bounded run count. */
export function runs(numRuns: number): fc.Parameters<unknown> {
  return { seed: SEED, numRuns };
}

/** A float32 tensor of N(0, std²) values, reproducible from `seed` (the same on every backend). */
export function randn(shape: number[], seed: number, std = 1): tf.Tensor {
  return tf.randomNormal(shape, 0, std, 'float32', seed);
}

/** A bool tensor, each entry true with probability `keep`, reproducible from `seed`. */
export function randomMask(shape: number[], seed: number, keep: number): tf.Tensor {
  return tf.tidy(() => tf.less(tf.randomUniform(shape, 0, 1, 'float32', seed), keep));
}

/** `x [b, kvH, t, d]` with each head repeated `groups` times (PyTorch's `repeat_interleave(groups, dim=1)`). */
export function repeatHeads(x: tf.Tensor, groups: number): tf.Tensor4D {
  // slice + concat: gather's gradient has no wasm kernel, and split's fails in tf.grad.
  const heads = Array.from({ length: x.shape[1]! }, (_, i) => i);
  return tf.tidy(() =>
    tf.concat(
      heads
        .flatMap((i) => new Array<number>(groups).fill(i))
        .map((i) => tf.slice(x, [0, i, 0, 0], [-1, 1, -1, -1])),
      1,
    ),
  ) as tf.Tensor4D;
}

/** Whether every value of the tensors is finite. */
export function allFinite(...xs: tf.Tensor[]): boolean {
  return xs.every((x) => x.dataSync().every((v) => Number.isFinite(v)));
}

/** The largest |value| over the tensors. */
export function maxAbs(...xs: tf.Tensor[]): number {
  let m = 0;
  for (const x of xs) for (const v of x.dataSync()) m = Math.max(m, Math.abs(v));
  return m;
}

/**
 * Asserts that `call` throws a {@link TfjsBlocksError} (never returns, never
 * throws anything else) whose `argument` matches `argument` and whose
 * message names it.
 */
export function expectRejected(call: () => unknown, argument: RegExp): void {
  let thrown: unknown;
  let result: unknown;
  try {
    result = call();
  } catch (e) {
    thrown = e;
  }
  if (result !== undefined) tf.dispose(result as tf.TensorContainer);
  expect(thrown, 'the call returned instead of throwing').toBeDefined();
  expect(thrown, String(thrown)).toBeInstanceOf(TfjsBlocksError);
  const error = thrown as TfjsBlocksError;
  expect(error.argument).toMatch(argument);
  expect(error.message).toContain(error.argument);
}

/** {@link expectRejected} for a call that may return a promise: it must throw synchronously or reject. */
export async function expectRejectedAsync(
  call: () => Promise<unknown>,
  argument: RegExp,
): Promise<void> {
  let thrown: unknown;
  try {
    await call();
  } catch (e) {
    thrown = e;
  }
  expect(thrown, 'the call resolved instead of failing').toBeDefined();
  expect(thrown, String(thrown)).toBeInstanceOf(TfjsBlocksError);
  const error = thrown as TfjsBlocksError;
  expect(error.argument).toMatch(argument);
  expect(error.message).toContain(error.argument);
}

/** An attention path, with scaledDotProductAttention's signature. */
export type Attend = (
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  o: ScaledDotProductAttentionOptions,
) => tf.Tensor4D;

/** Output and gradients of `sum(attend(q, k, v) · cotangent)` with respect to q, k, v. */
export function attendValueAndGrads(
  attend: Attend,
  [q, k, v]: tf.Tensor[],
  cotangent: tf.Tensor,
  options: ScaledDotProductAttentionOptions = {},
) {
  const output = attend(q as tf.Tensor4D, k as tf.Tensor4D, v as tf.Tensor4D, options);
  const grads = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
    tf.sum(
      tf.mul(attend(a as tf.Tensor4D, b as tf.Tensor4D, c as tf.Tensor4D, options), cotangent),
    ),
  )([q!, k!, v!]);
  return { output, grads };
}
