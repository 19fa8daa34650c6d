// The plumbing under every transform (issue 22): the structure checks of
// src/optim/tree.ts reached through applyUpdates, chain and
// mapUpdatesTransform, createOptimizer's and restoreOptimizerState's
// validation, and a rejection naming the argument for each path.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  applyUpdates,
  applyUpdatesInPlace,
  chain,
  createOptimizer,
  type GradientTransformation,
  mapUpdatesTransform,
  paramsToVariables,
  restoreOptimizerState,
  saveOptimizerState,
  scaleByAdam,
  scaleByLearningRate,
  sgd,
  treeLeaves,
} from '../../src/index';
import { pickOptions } from '../../src/optim/hyperparameters';
import { keepState, mapTensors } from '../../src/optim/tree';
import { expectClose } from '../helpers/close';
import { expectNoLeak } from '../helpers/leaks';
import { thrownWithoutLeak } from '../helpers/rejections';

// biome-ignore lint/suspicious/noExplicitAny: bad arguments are the point of these tests.
const bad = (x: unknown) => x as any;

describe('applyUpdates checks names, tensors, dtypes and shapes', () => {
  it('adds the updates on rank 0 to 3 and empty tensors', () => {
    tf.tidy(() => {
      const params = {
        s: tf.scalar(1),
        v: tf.tensor([1, 2]),
        m: tf.ones([2, 1]),
        c: tf.ones([1, 2, 2]),
        e: tf.zeros([0, 2]),
      };
      const updates = {
        s: tf.scalar(-2),
        v: tf.tensor([0.5, -1]),
        m: tf.fill([2, 1], 3),
        c: tf.fill([1, 2, 2], -1),
        e: tf.zeros([0, 2]),
      };
      const out = applyUpdates(params, updates);
      expectClose(out.s!, -1);
      expectClose(out.v!, [1.5, 1]);
      expectClose(out.m!, [4, 4]);
      expectClose(out.c!, [0, 0, 0, 0]);
      expect(out.e!.shape).toEqual([0, 2]);
    });
  });

  it('rejects each kind of mismatch, naming the entry', () => {
    const params = { w: tf.zeros([2, 3]) };
    const cases: Array<[unknown, string, string]> = [
      [null, 'updates', 'null'],
      ['w', 'updates', ''],
      [{}, 'updates.w', 'nothing'],
      [{ w: [0, 0, 0, 0, 0, 0] }, 'updates.w', ''],
      [{ w: tf.zeros([2, 3], 'int32') }, 'updates.w', 'int32'],
      [{ w: tf.zeros([3, 2]) }, 'updates.w', 'shape [3, 2]'],
      [{ w: tf.zeros([2, 3, 1]) }, 'updates.w', 'shape [2, 3, 1]'],
      [{ w: tf.zeros([6]) }, 'updates.w', 'shape [6]'],
      // Lower rank, the leading sizes equal: the rank is compared, not just each size.
      [{ w: tf.zeros([2]) }, 'updates.w', 'shape [2]'],
      [{ w: tf.scalar(0) }, 'updates.w', ''],
      [{ w: tf.zeros([2, 3]), v: tf.zeros([1]) }, 'updates.v', 'an extra entry "v"'],
    ];
    for (const [updates, argument, actual] of cases) {
      const error = thrownWithoutLeak(() => applyUpdates(params, bad(updates)));
      expect(error.argument).toBe(argument);
      expect(error.functionName).toBe('applyUpdates');
      if (actual) expect(error.actual).toBe(actual);
      if (updates !== null && typeof updates === 'object') tf.dispose(bad(updates));
    }
    const disposed = tf.zeros([2, 3]);
    disposed.dispose();
    const error = thrownWithoutLeak(() => applyUpdates(params, { w: disposed }));
    expect([error.argument, error.actual]).toEqual(['updates.w', 'a disposed tensor']);
    params.w.dispose();
  });
});

describe('applyUpdatesInPlace', () => {
  it('assigns v + u to each variable', () => {
    const v = tf.variable(tf.tensor([1, 2]));
    const u = { v: tf.tensor([0.5, -3]) };
    expectNoLeak(() => {
      applyUpdatesInPlace({ v }, u);
      return [];
    });
    expectClose(v, [1.5, -1]);
    tf.dispose([v, u.v]);
  });

  it('rejects a tensor that is not a variable, and mismatched updates', () => {
    const plain = tf.zeros([2]);
    const u = { v: tf.zeros([2]) };
    const error = thrownWithoutLeak(() => applyUpdatesInPlace(bad({ v: plain }), u));
    expect([error.functionName, error.argument]).toEqual(['applyUpdatesInPlace', 'variables.v']);
    expect(plain.dataSync()[0]).toBe(0);
    const v = tf.variable(tf.zeros([3]));
    expect(thrownWithoutLeak(() => applyUpdatesInPlace({ v }, u)).argument).toBe('updates.v');
    tf.dispose([plain, u.v, v]);
  });
});

describe('chain', () => {
  it('feeds each transform the previous updates, and keeps one state per link', () => {
    tf.tidy(() => {
      const tx = chain(scaleByLearningRate(2), scaleByLearningRate(3));
      const params = { w: tf.tensor([1]) };
      const state = tx.init(params);
      expect(state).toEqual([{ count: 0 }, { count: 0 }]);
      const { updates, state: next } = tx.update({ w: tf.tensor([1]) }, state, params);
      expectClose(updates.w!, [6]);
      expect(next).toEqual([{ count: 1 }, { count: 1 }]);
    });
  });

  it('a later transform that throws frees what the earlier ones made this step', () => {
    const failing: GradientTransformation<null> = {
      init: () => null,
      update: () => {
        throw new Error('boom');
      },
    };
    const tx = chain(scaleByAdam(), scaleByLearningRate(1), failing);
    const params = { w: tf.ones([2]) };
    const state = tx.init(params);
    const before = tf.memory().numTensors;
    expect(() => tx.update(params, state, params)).toThrow('boom');
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([params, state as tf.TensorContainer]);
  });

  it('a failed step leaves the caller’s state alive, also what a link passed through', () => {
    // A link whose new state is its old one (the same tensor), then a link that throws.
    const passing: GradientTransformation<{ kept: tf.Tensor }> = {
      init: () => ({ kept: tf.scalar(7) }),
      update: (grads, state) => ({ updates: grads, state }),
    };
    const failing: GradientTransformation<null> = {
      init: () => null,
      update: () => {
        throw new Error('boom');
      },
    };
    const tx = chain(scaleByAdam(), bad(passing), failing);
    const params = { w: tf.ones([2]) };
    const state = tx.init(params);
    const before = tf.memory().numTensors;
    expect(() => tx.update(params, state, params)).toThrow('boom');
    expect(tf.memory().numTensors).toBe(before);
    const kept = (state[1] as { kept: tf.Tensor }).kept;
    expect(kept.isDisposed).toBe(false);
    expectClose(kept, 7);
    tf.dispose([params, state as tf.TensorContainer]);
  });

  it('rejects what is not a transformation, naming its position', () => {
    // A function is refused even when it carries init and update.
    const callable = Object.assign(() => 0, { init: () => 0, update: () => 0 });
    const cases = [
      null,
      undefined,
      3,
      {},
      { init: () => 0 },
      { init: () => 0, update: 1 },
      callable,
    ];
    for (const t of cases) {
      const error = thrownWithoutLeak(() => chain(scaleByAdam(), bad(t)));
      expect([error.functionName, error.argument]).toEqual(['chain', 'transforms[1]']);
    }
  });
});

describe('mapUpdatesTransform checks the gradients', () => {
  it('rejects a map that is not one of tensors', () => {
    const tx = mapUpdatesTransform((u) => u);
    const tensor = tf.zeros([1]);
    for (const grads of [null, [tensor], tensor, 'w']) {
      expect(thrownWithoutLeak(() => tx.update(bad(grads), tx.init({}))).argument).toBe('grads');
    }
    expect(thrownWithoutLeak(() => tx.update(bad({ w: 1 }), tx.init({}))).argument).toBe('grads.w');
    tensor.dispose();
  });
});

describe('tree helpers', () => {
  it('mapTensors passes the same-named entries of other maps, and keeps __proto__ as a name', () => {
    tf.tidy(() => {
      const a = JSON.parse('{"__proto__": 1, "w": 2}') as Record<string, number>;
      const map = Object.fromEntries(Object.entries(a).map(([k, v]) => [k, tf.scalar(v)]));
      const other = Object.fromEntries(Object.entries(a).map(([k, v]) => [k, tf.scalar(10 * v)]));
      const out = mapTensors(map, (x, _name, y) => tf.add(x, y!), other);
      expect(Object.keys(out)).toEqual(['__proto__', 'w']);
      expect(Object.getPrototypeOf(out)).toBe(null);
      const protoKey = '__proto__';
      expectClose(out[protoKey]!, 11);
      expectClose(out.w!, 22);
    });
  });

  it('keepState keeps every tensor of a nested state through a tidy', () => {
    // Not returned from the tidy (a returned tensor survives it anyway): only keep() saves it.
    let state = { a: [] as unknown[], n: 0 };
    tf.tidy(() => {
      state = keepState({ a: [tf.scalar(1), { b: tf.ones([2]) }], n: 3 });
    });
    expect((state.a[0] as tf.Tensor).isDisposed).toBe(false);
    expect((state.a[1] as { b: tf.Tensor }).b.isDisposed).toBe(false);
    tf.dispose(state as unknown as tf.TensorContainer);
  });
});

describe('createOptimizer', () => {
  it('counts steps, returns the loss only when asked, and exposes the state', () => {
    const w = tf.variable(tf.tensor([2]));
    const opt = createOptimizer(sgd({ learningRate: 0.25 }), { w });
    expect(opt.iterations).toBe(0);
    const noLoss = opt.minimize(() => tf.sum(tf.square(w)));
    expect(noLoss).toBeNull();
    expectClose(w, [1]); // 2 - 0.25 · 2 · 2
    const loss = opt.minimize(() => tf.sum(tf.square(w)), true)!;
    expectClose(loss, 1);
    expectClose(w, [0.5]);
    expect(opt.iterations).toBe(2);
    expect(opt.state).toEqual([{ count: 2 }]);
    tf.dispose([loss, w]);
    opt.dispose();
  });

  it('minimize leaves nothing behind but the new variable values', () => {
    const w = tf.variable(tf.tensor([2, 1]));
    const opt = createOptimizer(scaleByAdam(), { w });
    opt.minimize(() => tf.sum(tf.square(w)));
    const before = tf.memory().numTensors;
    opt.minimize(() => tf.sum(tf.square(w)));
    expect(tf.memory().numTensors).toBe(before);
    opt.dispose();
    w.dispose();
  });

  it('rejects variables that are not a non-empty record of live variables', () => {
    const tensor = tf.zeros([1]);
    const gone = tf.variable(tf.zeros([1]));
    gone.dispose();
    const cases: Array<[unknown, string, string]> = [
      [null, 'variables', 'null'],
      [[tensor], 'variables', ''],
      ['w', 'variables', ''],
      [{}, 'variables', 'none'],
      [{ w: tensor }, 'variables.w', 'a tensor that is not a tf.Variable'],
      [{ w: gone }, 'variables.w', 'a disposed variable'],
      [{ w: 1 }, 'variables.w', 'number 1'],
    ];
    for (const [variables, argument, actual] of cases) {
      const error = thrownWithoutLeak(() => createOptimizer(sgd(), bad(variables)));
      expect([error.functionName, error.argument]).toEqual(['createOptimizer', argument]);
      if (actual) expect(error.actual).toBe(actual);
    }
    tensor.dispose();
  });

  it('step names a gradient map that does not fit the variables', () => {
    const w = tf.variable(tf.zeros([2]));
    const opt = createOptimizer(sgd(), { w });
    const stray = { w: tf.zeros([2]), v: tf.zeros([2]) };
    for (const [grads, argument] of [
      [{}, 'grads.w'],
      [stray, 'grads.v'],
      [{ w: tf.zeros([2, 1]) }, 'grads.w'],
    ] as Array<[tf.NamedTensorMap, string]>) {
      const error = thrownWithoutLeak(() => opt.step(grads));
      expect([error.functionName, error.argument]).toEqual(['StatefulOptimizer.step', argument]);
      tf.dispose(grads);
    }
    expect(opt.iterations).toBe(0);
    opt.dispose();
    w.dispose();
  });

  it('dispose frees the state: every tensor it held, nothing else', () => {
    const w = tf.variable(tf.zeros([2, 3]));
    const before = tf.memory().numTensors;
    const opt = createOptimizer(scaleByAdam(), { w });
    const held = treeLeaves(opt.state);
    expect(held).toHaveLength(2); // Adam's two moments
    expect(tf.memory().numTensors).toBe(before + 2);
    opt.dispose();
    expect(held.every((t) => t.isDisposed)).toBe(true);
    expect(tf.memory().numTensors).toBe(before);
    expect(w.isDisposed).toBe(false);
    w.dispose();
  });

  it('load rejects what save() did not return, naming the field', () => {
    const w = tf.variable(tf.zeros([1]));
    const opt = createOptimizer(scaleByAdam(), { w });
    const saved = opt.save();
    for (const [value, argument] of [
      [null, 'saved'],
      [undefined, 'saved'],
      [3, 'saved'],
      [[], 'saved'],
      [{ ...saved, iterations: -1 }, 'saved.iterations'],
      [{ ...saved, iterations: 1.5 }, 'saved.iterations'],
      [{ ...saved, tensors: null }, 'saved.tensors'],
      [{ ...saved, tensors: [] }, 'saved.tensors'],
      [{ ...saved, extra: 1 }, 'saved.extra'],
    ] as Array<[unknown, string]>) {
      const error = thrownWithoutLeak(() => opt.load(bad(value)));
      expect([error.functionName, error.argument]).toEqual(['StatefulOptimizer.load', argument]);
    }
    tf.dispose(saved.tensors);
    opt.dispose();
    w.dispose();
  });
});

describe('saveOptimizerState / restoreOptimizerState reject', () => {
  it('a leaf that is not data, naming its path (or the state itself)', () => {
    const leaf = thrownWithoutLeak(() => saveOptimizerState({ a: [1, () => 0] }));
    expect([leaf.functionName, leaf.argument]).toEqual(['saveOptimizerState', 'a/1']);
    const t = tf.scalar(1);
    const duplicate = thrownWithoutLeak(() => saveOptimizerState({ 'a/b': t, a: { b: t } }));
    expect(duplicate.functionName).toBe('saveOptimizerState');
    t.dispose();
    expect(thrownWithoutLeak(() => saveOptimizerState(() => 0)).argument).toBe('state');
  });

  it('a saved state that is not an object, or has no tensor record', () => {
    for (const saved of [null, 3, 'x']) {
      expect(thrownWithoutLeak(() => restoreOptimizerState(bad(saved))).argument).toBe('saved');
    }
    for (const tensors of [null, 3]) {
      expect(
        thrownWithoutLeak(() => restoreOptimizerState(bad({ tensors, skeleton: {} }))).argument,
      ).toBe('saved.tensors');
    }
    const error = thrownWithoutLeak(() =>
      restoreOptimizerState({ tensors: {}, skeleton: { a: { $tensor: 'x' } } }),
    );
    expect(error.argument).toBe('tensors["x"]');
    const marker = thrownWithoutLeak(() =>
      restoreOptimizerState({ tensors: {}, skeleton: { $tensor: 3 } }),
    );
    expect(marker.argument).toBe('skeleton');
  });

  it('restores copies: the caller keeps the saved tensors', () => {
    const saved = {
      tensors: { 'a/0': tf.tensor([1, 2]) },
      skeleton: { a: [{ $tensor: 'a/0' }], n: 2 },
    };
    const back = restoreOptimizerState<{ a: tf.Tensor[]; n: number }>(saved);
    expect(back.n).toBe(2);
    expect(back.a[0]).not.toBe(saved.tensors['a/0']);
    saved.tensors['a/0'].dispose();
    expectClose(back.a[0]!, [1, 2]);
    back.a[0]!.dispose();
  });
});

describe('paramsToVariables defaults and rejections', () => {
  it('makes trainable variables with names of its own by default', () => {
    const init = { a: { b: tf.ones([2]) } };
    const { params, variables } = paramsToVariables(init);
    expect(variables['a.b']!.trainable).toBe(true);
    expect(variables['a.b']!.name).not.toContain('a.b');
    expect(params.a.b).toBe(variables['a.b']);
    tf.dispose([init.a.b, variables['a.b']!]);
  });

  it('names itself when an option key is unknown', () => {
    const x = tf.ones([1]);
    const error = thrownWithoutLeak(() => paramsToVariables({ x }, { trainabel: false } as never));
    expect([error.functionName, error.argument]).toEqual([
      'paramsToVariables',
      'options.trainabel',
    ]);
    x.dispose();
  });

  it('rejects a disposed tensor, naming its path, and creates no variable', () => {
    const gone = tf.zeros([2]);
    gone.dispose();
    const keep = tf.ones([1]);
    const before = Object.keys(tf.engine().registeredVariables).length;
    const error = thrownWithoutLeak(() => paramsToVariables({ x: keep, nested: { w: gone } }));
    expect([error.functionName, error.argument]).toEqual(['paramsToVariables', 'params.nested.w']);
    expect(Object.keys(tf.engine().registeredVariables).length).toBe(before);
    keep.dispose();
  });
});

describe('pickOptions', () => {
  it('keeps the listed keys that are present, and nothing else', () => {
    expect(pickOptions({ a: 1, b: undefined, c: 3 }, ['a', 'b', 'd'])).toEqual({
      a: 1,
      b: undefined,
    });
    expect(Object.keys(pickOptions({ a: 1, b: undefined }, ['b']))).toEqual(['b']);
    expect(pickOptions({ a: 1 }, [])).toEqual({});
  });
});

describe('restoreOptimizerState names a malformed marker where it lies', () => {
  it('at the root and nested', () => {
    const root = thrownWithoutLeak(() =>
      restoreOptimizerState({ tensors: {}, skeleton: { $tensor: 3 } }),
    );
    expect(root.argument).toBe('skeleton');
    const nested = thrownWithoutLeak(() =>
      restoreOptimizerState({ tensors: {}, skeleton: { a: [0, { $tensor: 'x', extra: 1 }] } }),
    );
    expect(nested.argument).toMatch(/^skeleton\.a/);
  });
});
