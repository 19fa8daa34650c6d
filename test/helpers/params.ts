import * as tf from '@tensorflow/tfjs-core';
import type { GradientTransformation, TensorMap } from '../../src/index';
import { applyUpdates } from '../../src/index';

/** A param record's tensors by dotted path (`blocks.0.attention.query.kernel`); numbers are skipped. */
export function flattenParams(node: unknown, prefix = '', into: TensorMap = {}): TensorMap {
  if (node instanceof tf.Tensor) into[prefix] = node;
  else if (node !== null && typeof node === 'object') {
    for (const [k, v] of Object.entries(node))
      flattenParams(v, prefix ? `${prefix}.${k}` : k, into);
  }
  return into;
}

/** `template` with its tensors replaced by path from `values`. */
export function unflattenParams<T>(template: T, values: TensorMap): T {
  const walk = (node: unknown, prefix: string): unknown => {
    if (node instanceof tf.Tensor) return values[prefix] ?? node;
    if (Array.isArray(node)) return node.map((v, i) => walk(v, prefix ? `${prefix}.${i}` : `${i}`));
    if (node !== null && typeof node === 'object') {
      return Object.fromEntries(
        Object.entries(node).map(([k, v]) => [k, walk(v, prefix ? `${prefix}.${k}` : k)]),
      );
    }
    return node;
  };
  return walk(template, '') as T;
}

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
