import * as tf from '@tensorflow/tfjs-core';
import type { GradientTransformation, TensorMap } from '../../src/index';
import { applyUpdates, flattenParams, unflattenParams } from '../../src/index';

export { flattenParams, unflattenParams };

/**
 * Trains a nested param record with a gradient transformation for `steps`
 * steps (the pure init/update/applyUpdates loop) and returns the new params
 * and the first and last loss; disposes everything it replaces.
 */
export function trainParams<P>(
  params: P,
  loss: (p: P) => tf.Scalar,
  optimizer: GradientTransformation<unknown>,
  steps: number,
): { params: P; first: number; last: number } {
  let flat = flattenParams(params);
  const names = Object.keys(flat);
  let state = optimizer.init(flat);
  const value = (p: TensorMap) => tf.tidy(() => loss(unflattenParams(params, p)).dataSync()[0]!);
  const first = value(flat);
  for (let i = 0; i < steps; i++) {
    const grads = tf.tidy(() => {
      const g = tf.grads((...xs: tf.Tensor[]) =>
        loss(unflattenParams(params, Object.fromEntries(names.map((n, j) => [n, xs[j]!])))),
      )(names.map((n) => flat[n]!));
      return Object.fromEntries(names.map((n, j) => [n, g[j]!]));
    });
    const { updates, state: next } = optimizer.update(grads, state, flat);
    const updated = applyUpdates(flat, updates);
    tf.dispose([grads, updates, state as tf.TensorContainer]);
    if (i > 0) tf.dispose(Object.values(flat));
    flat = updated;
    state = next;
  }
  tf.dispose(state as tf.TensorContainer);
  return { params: unflattenParams(params, flat), first, last: value(flat) };
}
