// saveOptimizerState / restoreOptimizerState: names that collide with
// Object's members, paths that would collide in the file, and no tensor
// left behind when a restore fails half-way.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { restoreOptimizerState, saveOptimizerState } from '../../src/optim/state-io';
import { thrownBy, thrownWithoutLeak } from '../helpers/rejections';

describe('saveOptimizerState / restoreOptimizerState', () => {
  it('states keyed by constructor, toString and hasOwnProperty round-trip', () => {
    const state = {
      count: 3,
      mu: { constructor: tf.scalar(1), toString: tf.scalar(2), hasOwnProperty: tf.scalar(3) },
    };
    const saved = saveOptimizerState(state);
    expect(Object.keys(saved.tensors).sort()).toEqual([
      'mu/constructor',
      'mu/hasOwnProperty',
      'mu/toString',
    ]);
    const back = restoreOptimizerState<typeof state>(saved);
    expect(back.count).toBe(3);
    expect(
      [back.mu.constructor, back.mu.toString, back.mu.hasOwnProperty].map(
        (t) => (t as tf.Tensor).dataSync()[0],
      ),
    ).toEqual([1, 2, 3]);
    tf.dispose([state.mu as never, back.mu as never]);
  });

  it('rejects two tensors that would share a path (a/b beside a: {b}) instead of keeping one', () => {
    const t = tf.scalar(1);
    const e = thrownBy(() => saveOptimizerState({ mu: { 'a/b': t, a: { b: t } } }));
    expect(e.argument).toBe('mu/a/b');
    tf.dispose(t);
  });

  it('rejects values JSON would change (NaN, a Map) and cycles', () => {
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    expect(thrownBy(() => saveOptimizerState({ lr: Number.NaN })).argument).toBe('lr');
    expect(thrownBy(() => saveOptimizerState({ seen: new Map() })).argument).toBe('seen');
    expect(thrownBy(() => saveOptimizerState(cycle)).argument).toBe('self');
  });

  it('a missing tensor half-way: a typed error and no copy left behind', () => {
    const a = tf.scalar(1);
    const before = tf.memory().numTensors;
    const e = thrownBy(() =>
      restoreOptimizerState({
        tensors: { a },
        skeleton: { first: { $tensor: 'a' }, second: { $tensor: 'missing' } },
      }),
    );
    expect(e.argument).toBe('tensors["missing"]');
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose(a);
  });

  it('references to inherited names (constructor, __proto__) and malformed markers are rejected', () => {
    for (const ref of ['constructor', '__proto__', 'toString']) {
      const e = thrownBy(() =>
        restoreOptimizerState({ tensors: {}, skeleton: { x: { $tensor: ref } } }),
      );
      expect(e.argument).toBe(`tensors["${ref}"]`);
    }
    const t = tf.scalar(1);
    for (const marker of [{ $tensor: 5 }, { $tensor: 't', extra: 1 }]) {
      const e = thrownBy(() => restoreOptimizerState({ tensors: { t }, skeleton: { x: marker } }));
      expect(e.argument).toBe('skeleton.x');
    }
    tf.dispose(t);
  });
});

describe('restoreOptimizerState with a skeleton that contains itself', () => {
  it('is a typed error naming where the cycle closes, and leaves no copy behind', () => {
    const m = tf.zeros([2]);
    const skeleton: Record<string, unknown> = { m: { $tensor: 'm' } };
    skeleton.inner = { again: skeleton };
    const e = thrownWithoutLeak(() => restoreOptimizerState({ tensors: { m }, skeleton }));
    expect(e.argument).toBe('skeleton.inner.again');
    expect(e.actual).toMatch(/a cycle/);
    m.dispose();
  });
});
