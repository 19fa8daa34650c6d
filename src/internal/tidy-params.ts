import { type TensorContainer, tidy } from '@tensorflow/tfjs-core';

/**
 * Runs `make`, the body of an `init…` function that creates several
 * tensors, inside `tf.tidy`: when a later step throws (a bad nested config,
 * a failed allocation), the tensors the earlier steps made are disposed
 * instead of leaking. On success every tensor of the returned record is kept.
 */
export function tidyParams<T>(make: () => T): T {
  return tidy(make as () => TensorContainer) as T;
}
