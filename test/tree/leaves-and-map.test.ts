import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { countParameters, treeLeaves, treeLeavesWithPath, treeMap } from '../../src/index';
import { expectNoLeak } from '../helpers/leaks';
import { thrownWithoutLeak } from '../helpers/rejections';

/** Read as a key, never as the accessor. */
const PROTO = '__proto__';

/** A tree of every kind of node: records, arrays, tensors, numbers, strings, null. */
function sample() {
  const a = tf.zeros([2]);
  const b = tf.ones([3, 1]);
  const c = tf.scalar(5);
  const tree = {
    layers: [
      { kernel: b, scale: 2 },
      { name: 'x', none: null },
    ],
    norm: { gamma: a },
    step: c,
    rate: 0.5,
  };
  return { tree, a, b, c };
}

/** A record that contains itself, beside a tensor met before the cycle. */
function cyclic(t: tf.Tensor) {
  const inner: Record<string, unknown> = { w: t };
  inner.self = { again: inner };
  return { first: t, inner };
}

describe('treeLeaves / treeLeavesWithPath', () => {
  it('lists the tensors depth first in key order, with dotted paths through records and arrays', () => {
    const { tree, a, b, c } = sample();
    expect(treeLeaves(tree)).toEqual([b, a, c]);
    expect(treeLeaves(tree)[0]).toBe(b);
    const withPath = treeLeavesWithPath(tree);
    expect(withPath.map(([p]) => p)).toEqual(['layers.0.kernel', 'norm.gamma', 'step']);
    expect(withPath[1]![1]).toBe(a);
    tf.dispose([a, b, c]);
  });

  it('a tensor at the root has the path ""; values holding no tensor give []', () => {
    const t = tf.zeros([1]);
    expect(treeLeavesWithPath(t)).toEqual([['', t]]);
    for (const v of [3, 'x', null, undefined, [], {}, [1, { a: 2 }]])
      expect(treeLeaves(v)).toEqual([]);
    t.dispose();
  });

  it('keeps hostile names as ordinary keys (__proto__, constructor, toString)', () => {
    const t = tf.zeros([1]);
    const u = tf.ones([1]);
    const tree = JSON.parse('{"__proto__": {"constructor": 0}, "toString": 1}');
    tree[PROTO].constructor = t;
    tree.toString = u;
    expect(treeLeavesWithPath(tree)).toEqual([
      ['__proto__.constructor', t],
      ['toString', u],
    ]);
    tf.dispose([t, u]);
  });

  it('a shared subtree (not a cycle) is visited each time it appears', () => {
    const t = tf.zeros([1]);
    const shared = { w: t };
    expect(treeLeavesWithPath({ a: shared, b: [shared] }).map(([p]) => p)).toEqual([
      'a.w',
      'b.0.w',
    ]);
    t.dispose();
  });

  it('a cycle is a typed error naming where it closes, not a stack overflow', () => {
    const t = tf.zeros([1]);
    const tree = cyclic(t);
    expect(thrownWithoutLeak(() => treeLeaves(tree)).argument).toBe('tree.inner.self.again');
    expect(thrownWithoutLeak(() => treeLeavesWithPath(tree)).argument).toBe(
      'tree.inner.self.again',
    );
    const e = thrownWithoutLeak(() => countParameters(tree));
    expect(e.argument).toBe('params.inner.self.again');
    expect(e.message).toMatch(/a cycle/);
    t.dispose();
  });
});

describe('treeMap', () => {
  it('rebuilds the structure around f(tensor, path), keeping numbers, strings and null', () => {
    const { tree, a, b, c } = sample();
    const seen: string[] = [];
    const doubled = treeMap(tree, (t, path) => {
      seen.push(path);
      return tf.mul(t, 2);
    });
    expect(seen).toEqual(['layers.0.kernel', 'norm.gamma', 'step']);
    expect(Array.isArray(doubled.layers)).toBe(true);
    expect(doubled.layers[0]!.scale).toBe(2);
    expect(doubled.layers[1]).toEqual({ name: 'x', none: null });
    expect(doubled.rate).toBe(0.5);
    expect(doubled.step.dataSync()[0]).toBe(10);
    expect(doubled.norm.gamma).not.toBe(a);
    // The input is unchanged and nothing is disposed.
    expect(tree.norm.gamma).toBe(a);
    expect(a.isDisposed || b.isDisposed || c.isDisposed).toBe(false);
    tf.dispose([a, b, c, treeLeaves(doubled)]);
  });

  it('makes exactly its outputs (no leak)', () => {
    const { tree, a, b, c } = sample();
    expectNoLeak(() => treeLeaves(treeMap(tree, (t) => tf.add(t, 1))));
    tf.dispose([a, b, c]);
  });

  it('a record without a prototype stays without one, so __proto__ round-trips as an entry', () => {
    const t = tf.zeros([2]);
    const map = Object.create(null) as Record<string, tf.Tensor>;
    map[PROTO] = t;
    map['constructor' as string] = t;
    const copy = treeMap(map, (x) => tf.clone(x));
    expect(Object.getPrototypeOf(copy)).toBeNull();
    expect(Object.keys(copy).sort()).toEqual(['__proto__', 'constructor']);
    expect(Object.hasOwn(copy, '__proto__')).toBe(true);
    expect(copy[PROTO]).not.toBe(t);
    tf.dispose([t, treeLeaves(copy)]);
  });

  it('an ordinary record keeps its prototype, and a JSON __proto__ key stays an own entry', () => {
    const t = tf.zeros([1]);
    const tree = JSON.parse('{"__proto__": 0, "w": 0}');
    tree.w = t;
    const out = treeMap(tree, (x) => x);
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.hasOwn(out, '__proto__')).toBe(true);
    expect(out.w).toBe(t);
    t.dispose();
  });

  it('a cycle is reported before f runs, so no tensor it makes is left behind', () => {
    const t = tf.zeros([1]);
    let calls = 0;
    const e = thrownWithoutLeak(() =>
      treeMap(cyclic(t), (x) => {
        calls++;
        return tf.clone(x);
      }),
    );
    expect(e.argument).toBe('tree.inner.self.again');
    expect(calls).toBe(0);
    t.dispose();
  });
});
