import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'vitest';
import { TfjsBlocksError } from '../../src/index';

/**
 * The `argument` of the {@link TfjsBlocksError} that `call` throws, the
 * tensors the call builds for its arguments disposed (in a tidy); fails the
 * test if it throws nothing or anything else.
 */
export function argumentOf(call: () => unknown): string {
  return errorOf(call).argument;
}

/** The {@link TfjsBlocksError} that `call` throws (see {@link argumentOf}). */
export function errorOf(call: () => unknown): TfjsBlocksError {
  let thrown: unknown;
  tf.tidy(() => {
    try {
      tf.dispose(call() as tf.TensorContainer);
    } catch (e) {
      thrown = e;
    }
  });
  expect(thrown, 'the call returned instead of throwing').toBeInstanceOf(TfjsBlocksError);
  const error = thrown as TfjsBlocksError;
  expect(error.message).toContain(error.argument);
  return error;
}
