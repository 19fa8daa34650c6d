import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { TfjsBlocksError } from '../../src/index';

/** One bad call: a name, the call, and the message it must throw. */
export type Rejection = [name: string, call: () => unknown, message: RegExp];

/**
 * Declares one test per bad call: each must throw a {@link TfjsBlocksError}
 * whose message matches.
 */
export function describeRejections(title: string, cases: () => Rejection[]): void {
  describe(title, () => {
    for (const [name, call, message] of cases()) {
      it(name, () => {
        expect(call).toThrow(TfjsBlocksError);
        expect(call).toThrow(message);
      });
    }
  });
}

/** The {@link TfjsBlocksError} `call` throws; fails the test if it throws nothing or anything else. */
export function thrownBy(call: () => unknown): TfjsBlocksError {
  try {
    call();
  } catch (e) {
    expect(e).toBeInstanceOf(TfjsBlocksError);
    return e as TfjsBlocksError;
  }
  throw new Error('expected a TfjsBlocksError; nothing was thrown');
}

/** {@link thrownBy}, also checking that the failed call left no tensor behind. */
export function thrownWithoutLeak(call: () => unknown): TfjsBlocksError {
  const before = tf.memory().numTensors;
  const error = thrownBy(call);
  expect(tf.memory().numTensors, 'tensors left behind').toBe(before);
  return error;
}

/**
 * The {@link TfjsBlocksError} that `call` (or a promise) throws or rejects
 * with; fails the test if it settles without one.
 */
export async function rejectionOf(
  call: (() => unknown) | Promise<unknown>,
): Promise<TfjsBlocksError> {
  try {
    await (typeof call === 'function' ? call() : call);
  } catch (e) {
    expect(e).toBeInstanceOf(TfjsBlocksError);
    return e as TfjsBlocksError;
  }
  throw new Error('expected a TfjsBlocksError; nothing was thrown');
}
