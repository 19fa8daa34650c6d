// mapUpdatesTransform, public since issue 17 (like optax's `stateless`): the
// transform under keepPruned, clipByValue, scaleByLearningRate and others.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { chain, mapUpdatesTransform, scaleByLearningRate, type TensorMap } from '../../src/index';
import { describeEachBackend } from '../helpers/backends';
import { expectClose } from '../helpers/close';
import { thrownBy, thrownWithoutLeak } from '../helpers/rejections';

const signOf = (updates: TensorMap) =>
  Object.fromEntries(Object.entries(updates).map(([name, u]) => [name, tf.sign(u)]));

describeEachBackend('mapUpdatesTransform', () => {
  it('maps the updates, counts steps and composes in a chain (the TSDoc example)', () => {
    const params = { a: tf.tensor1d([1, 1]), b: tf.tensor1d([1]) };
    const grads = { a: tf.tensor1d([-3, 0.5]), b: tf.tensor1d([2]) };
    const steps: number[] = [];
    const tx = chain(
      mapUpdatesTransform((updates, step) => {
        steps.push(step);
        return signOf(updates);
      }),
      scaleByLearningRate(0.1),
    );
    const before = tf.memory().numTensors;
    const first = tx.update(grads, tx.init(params), params);
    expect(tf.memory().numTensors - before).toBe(2); // the two updates only
    expectClose(first.updates.a!, [0.1, -0.1]);
    expectClose(first.updates.b!, [-0.1]);
    const second = tx.update(grads, first.state, params);
    expect(steps).toEqual([0, 1]);
    tf.dispose([...Object.values(first.updates), ...Object.values(second.updates)]);
    tf.dispose([...Object.values(params), ...Object.values(grads)]);
  });

  it('hands on an update returned unchanged as a fresh handle: a chain never frees the gradients', () => {
    const params = { w: tf.tensor1d([1, 2]) };
    const grads = { w: tf.tensor1d([4, 6]) };
    const tx = chain(
      mapUpdatesTransform((updates) => updates),
      scaleByLearningRate(0.5),
    );
    const { updates } = tx.update(grads, tx.init(params), params);
    expect(grads.w.isDisposed).toBe(false);
    expectClose(grads.w, [4, 6]);
    expectClose(updates.w!, [-2, -3]);
    tf.dispose([updates.w!, params.w, grads.w]);
  });

  it('passes params when asked, and rejects a call without them under its own name', () => {
    const params = { w: tf.tensor1d([1, 2]) };
    const grads = { w: tf.tensor1d([4, 6]) };
    const tx = mapUpdatesTransform((updates, _step, p) => ({ w: tf.add(updates.w!, p!.w!) }), {
      name: 'addParams',
      needsParams: true,
    });
    const { updates } = tx.update(grads, tx.init(params), params);
    expectClose(updates.w!, [5, 8]);
    const error = thrownWithoutLeak(() => tx.update(grads, tx.init(params)));
    expect(error.functionName).toBe('addParams');
    expect(error.argument).toBe('params');
    tf.dispose([updates.w!, params.w, grads.w]);
  });

  it('rejects, by name, an f that returns missing, extra or reshaped updates, leaving nothing behind', () => {
    const grads = { w: tf.tensor1d([4, 6]) };
    const run = (f: (u: TensorMap) => TensorMap) => {
      const tx = mapUpdatesTransform(f);
      return thrownWithoutLeak(() => tx.update(grads, tx.init({})));
    };
    expect(run(() => ({})).argument).toBe('f(grads).w');
    expect(run((u) => ({ ...u, v: tf.zeros([1]) })).argument).toBe('f(grads).v');
    expect(run(() => ({ w: tf.zeros([3]) })).argument).toBe('f(grads).w');
    expect(run(() => 3 as unknown as TensorMap).argument).toBe('f(grads)');
    // The user's own error propagates as it is, and f's tensors are freed.
    const tx = mapUpdatesTransform(() => {
      tf.zeros([1000]);
      throw new Error('user error');
    });
    const before = tf.memory().numTensors;
    expect(() => tx.update(grads, tx.init({}))).toThrow('user error');
    expect(tf.memory().numTensors).toBe(before);
    grads.w.dispose();
  });
});

describe('mapUpdatesTransform rejects bad arguments', () => {
  it('names f, options and options.name', () => {
    const call = (...args: unknown[]) =>
      thrownBy(() => (mapUpdatesTransform as (...a: unknown[]) => unknown)(...args));
    expect(call(undefined).argument).toBe('f');
    expect(call((u: TensorMap) => u, { needParams: true }).argument).toBe('options.needParams');
    expect(call((u: TensorMap) => u, { name: '' }).argument).toBe('options.name');
    expect(call((u: TensorMap) => u, { needsParams: 1 }).argument).toBe('options.needsParams');
    expect(call((u: TensorMap) => u, 'x').argument).toBe('options');
  });
});
