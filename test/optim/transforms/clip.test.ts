// The input space of the clipping transforms (issue 22): all-zero, huge and
// negative updates, an empty update map, the bounds' edges, and a rejection
// for every validation path, asserting the error's `argument`.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { clipByGlobalNorm, clipByValue, type GradientTransformation } from '../../../src/index';
import { expectClose } from '../../helpers/close';
import { expectNoLeak } from '../../helpers/leaks';
import { thrownWithoutLeak } from '../../helpers/rejections';

const t = (values: number[]) => tf.tensor(values);

/** The updates of one step of `tx` on `grads` (the caller disposes them). */
function updatesOf<S>(tx: GradientTransformation<S>, grads: Record<string, tf.Tensor>) {
  const params = Object.fromEntries(Object.entries(grads).map(([k, g]) => [k, tf.zerosLike(g)]));
  const state = tx.init(params);
  const { updates, state: next } = tx.update(grads, state, params);
  tf.dispose([params, state as tf.TensorContainer, next as tf.TensorContainer]);
  return updates;
}

describe('clipByGlobalNorm', () => {
  it('passes all-zero updates through as zeros, not NaN (the zero-norm guard)', () => {
    tf.tidy(() => {
      const u = updatesOf(clipByGlobalNorm(1), { a: tf.zeros([2, 3]), b: tf.zeros([4]) });
      expectClose(u.a!, [0, 0, 0, 0, 0, 0]);
      expectClose(u.b!, [0, 0, 0, 0]);
    });
  });

  it('rescales huge negative updates by their magnitude (no overflow, no sign loss)', () => {
    tf.tidy(() => {
      // Squaring 4e20 overflows float32: the norm is taken after dividing by max |u|.
      const u = updatesOf(clipByGlobalNorm(1), { a: t([-3e20, 0]), b: t([-4e20]) });
      expectClose(u.a!, [-0.6, 0]);
      expectClose(u.b!, [-0.8]);
    });
  });

  it('takes the peak magnitude over all updates, of either sign', () => {
    tf.tidy(() => {
      const u = updatesOf(clipByGlobalNorm(2), { a: t([3e20]), b: t([-4e20, 0]) });
      expectClose(u.a!, [1.2]);
      expectClose(u.b!, [-1.6, 0]);
    });
  });

  it('leaves updates exactly at the limit unchanged, and scales a single tensor', () => {
    tf.tidy(() => {
      expectClose(updatesOf(clipByGlobalNorm(5), { a: t([-3, 4]) }).a!, [-3, 4]);
      expectClose(updatesOf(clipByGlobalNorm(0.5), { a: t([-3, 4]) }).a!, [-0.3, 0.4]);
    });
  });

  it('returns an empty map for an empty update map, leak-free', () => {
    const tx = clipByGlobalNorm(1);
    expectNoLeak(() => {
      const state = tx.init({});
      const { updates, state: next } = tx.update({}, state, {});
      expect(Object.keys(updates)).toEqual([]);
      tf.dispose(state as tf.TensorContainer);
      return next as tf.TensorContainer;
    });
  });

  it('adds exactly its outputs on zero and huge updates', () => {
    const tx = clipByGlobalNorm(1);
    for (const grads of [{ a: tf.zeros([3]) }, { a: t([-1e30, 2e30]) }]) {
      const params = { a: tf.zerosLike(grads.a) };
      const state = tx.init(params);
      expectNoLeak(() => tx.update(grads, state, params) as unknown as tf.TensorContainer);
      tf.dispose([grads, params, state as tf.TensorContainer]);
    }
  });

  it.each([
    ['zero', 0],
    ['negative', -1],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['a string', '1'],
  ])('rejects a maxNorm that is %s, naming maxNorm', (_name, value) => {
    const error = thrownWithoutLeak(() => clipByGlobalNorm(value as number));
    expect(error.argument).toBe('maxNorm');
    expect(error.functionName).toBe('clipByGlobalNorm');
  });
});

describe('clipByValue', () => {
  it('clips both signs to [-maxAbs, maxAbs] and keeps values inside', () => {
    tf.tidy(() => {
      const u = updatesOf(clipByValue(1.5), { a: t([-1e30, -2, -1.5, -1, 0, 1, 1.5, 2, 1e30]) });
      expectClose(u.a!, [-1.5, -1.5, -1.5, -1, 0, 1, 1.5, 1.5, 1.5]);
    });
  });

  it('maxAbs 0 zeroes every finite update and keeps NaN', () => {
    tf.tidy(() => {
      const u = updatesOf(clipByValue(0), { a: t([-2, 0, 3, Number.NaN]) });
      const values = Array.from(u.a!.dataSync());
      expect(values.slice(0, 3).map(Math.abs)).toEqual([0, 0, 0]);
      expect(values[3]).toBeNaN();
    });
  });

  it('returns an empty map for an empty update map', () => {
    const tx = clipByValue(1);
    const state = tx.init({});
    const { updates, state: next } = tx.update({}, state, {});
    expect(Object.keys(updates)).toEqual([]);
    tf.dispose([state as tf.TensorContainer, next as tf.TensorContainer]);
  });

  it.each([
    ['negative', -0.5],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['undefined', undefined],
  ])('rejects a maxAbs that is %s, naming maxAbs', (_name, value) => {
    const error = thrownWithoutLeak(() => clipByValue(value as number));
    expect(error.argument).toBe('maxAbs');
    expect(error.functionName).toBe('clipByValue');
  });
});

describe('the clipping transforms name themselves when an update is rejected', () => {
  // Made inside each test: Stryker's per-test coverage sees only what a test runs.
  for (const [name, make] of [
    ['clipByGlobalNorm', () => clipByGlobalNorm(1)],
    ['clipByValue', () => clipByValue(1)],
  ] as const) {
    it(name, () => {
      const tx = make();
      const state = tx.init({});
      const error = thrownWithoutLeak(() => tx.update({ a: 3 as never }, state, {}));
      expect(error.functionName).toBe(name);
      expect(error.argument).toMatch(/^grads/);
    });
  }
});
