import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { flattenParams, gpt2Config, initDecoderLm, unflattenParams } from '../../src/index';
import { joinTensors, splitTensors } from '../../src/tree/split';
import { thrownBy, thrownWithoutLeak } from '../helpers/rejections';

const PROTO = '__proto__';

describe('flattenParams / unflattenParams round trip', () => {
  it('a whole model: flatten then unflatten gives back the same tensors in the same structure', () => {
    const config = gpt2Config({ vocabSize: 8, maxLength: 4, dModel: 8, numLayers: 2, numHeads: 2 });
    const params = initDecoderLm(config, 0);
    const flat = flattenParams(params);
    expect(Object.getPrototypeOf(flat)).toBeNull();
    const back = unflattenParams(params, flat);
    expect(back).toEqual(params);
    expect(flattenParams(back)).toEqual(flat);
    for (const [path, t] of Object.entries(flattenParams(back))) expect(t).toBe(flat[path]);
    tf.dispose(Object.values(flat));
  });

  it('hostile names: __proto__, constructor and toString at any depth round-trip as entries', () => {
    const t = tf.zeros([2]);
    const u = tf.ones([1]);
    const tree = JSON.parse('{"__proto__": {"constructor": 0}, "toString": [0]}');
    tree[PROTO].constructor = t;
    tree.toString[0] = u;
    const flat = flattenParams(tree);
    expect(Object.keys(flat)).toEqual(['__proto__.constructor', 'toString.0']);
    const v = tf.fill([2], 3);
    const back = unflattenParams(tree, { ...flat, '__proto__.constructor': v });
    expect(Object.hasOwn(back, PROTO)).toBe(true);
    expect(back[PROTO].constructor).toBe(v);
    expect(back.toString[0]).toBe(u);
    // A value named `constructor` is never read from Object.prototype.
    const missing = thrownBy(() => unflattenParams({ constructor: t }, {}));
    expect(missing.argument).toBe('values["constructor"]');
    tf.dispose([t, u, v]);
  });

  it('no tensors are made by either direction', () => {
    const t = tf.zeros([2]);
    const before = tf.memory().numTensors;
    const back = unflattenParams({ a: [t] }, flattenParams({ a: [t] }));
    expect(back.a[0]).toBe(t);
    expect(tf.memory().numTensors).toBe(before);
    t.dispose();
  });

  it('a cycle is a typed error naming the argument, not a stack overflow', () => {
    const t = tf.zeros([1]);
    const tree: Record<string, unknown> = { w: t };
    tree.loop = [tree];
    expect(thrownWithoutLeak(() => flattenParams(tree)).argument).toBe('params.loop.0');
    expect(thrownWithoutLeak(() => unflattenParams(tree, { w: t })).argument).toBe(
      'template.loop.0',
    );
    t.dispose();
  });
});

/** Options that throw plain errors naming the path, as callers' typed errors would. */
const splitOptions = (separator: string) => ({
  separator,
  rejectLeaf(path: string, type: string): never {
    throw new Error(`leaf ${path}: ${type}`);
  },
  rejectDuplicate(path: string): never {
    throw new Error(`duplicate ${path}`);
  },
});

describe('splitTensors / joinTensors round trip', () => {
  it('tensors by path and a JSON skeleton; joining puts them back, numbers and structure kept', () => {
    const a = tf.zeros([2]);
    const b = tf.ones([1, 2]);
    const value = { count: 3, inner: [{ mu: a }, { tag: 'x', on: true, none: null }], nu: b };
    const { tensors, skeleton } = splitTensors(value, splitOptions('/'));
    expect(Object.keys(tensors)).toEqual(['inner/0/mu', 'nu']);
    expect(skeleton).toEqual({
      count: 3,
      inner: [{ mu: { $tensor: 'inner/0/mu' } }, { tag: 'x', on: true, none: null }],
      nu: { $tensor: 'nu' },
    });
    const json = JSON.parse(JSON.stringify(skeleton));
    const seen: string[] = [];
    const back = joinTensors(json, {
      tensorAt(ref, at) {
        seen.push(at);
        return tensors[ref]!;
      },
      rejectMarker(at): never {
        throw new Error(`marker ${at}`);
      },
    });
    expect(seen).toEqual(['inner.0.mu', 'nu']);
    expect(back).toEqual(value);
    tf.dispose([a, b]);
  });

  it('hostile names round-trip, and the tensor map has no prototype', () => {
    const t = tf.zeros([1]);
    const value = JSON.parse('{"__proto__": {"toString": 0}, "constructor": 1}');
    value[PROTO].toString = t;
    const { tensors, skeleton } = splitTensors(value, splitOptions('.'));
    expect(Object.getPrototypeOf(tensors)).toBeNull();
    expect(Object.keys(tensors)).toEqual(['__proto__.toString']);
    const back = joinTensors(JSON.parse(JSON.stringify(skeleton)), {
      tensorAt: (ref) => tensors[ref]!,
      rejectMarker(at): never {
        throw new Error(`marker ${at}`);
      },
    }) as Record<string, Record<string, unknown>>;
    expect(Object.hasOwn(back, PROTO)).toBe(true);
    expect(back[PROTO]!.toString).toBe(t);
    expect(back.constructor).toBe(1);
    t.dispose();
  });

  it('rejects what JSON would change, duplicates and cycles through the caller’s callbacks', () => {
    const t = tf.zeros([1]);
    const cycle: Record<string, unknown> = {};
    cycle.again = { cycle };
    expect(() => splitTensors({ a: { b: Number.NaN } }, splitOptions('/'))).toThrow(
      'leaf a/b: number NaN',
    );
    expect(() => splitTensors({ 'a/b': t, a: { b: t } }, splitOptions('/'))).toThrow(
      'duplicate a/b',
    );
    expect(() => splitTensors({ c: cycle }, splitOptions('/'))).toThrow(
      'leaf c/again/cycle: a cycle (a value that contains itself)',
    );
    expect(() => splitTensors({ m: new Map() }, splitOptions('.'))).toThrow('leaf m: a Map');
    t.dispose();
  });

  it('a skeleton that contains itself is a typed error from joinTensors unless the caller names it', () => {
    const skeleton: Record<string, unknown> = {};
    skeleton.loop = [skeleton];
    const options = {
      tensorAt: () => tf.zeros([1]),
      rejectMarker(): never {
        throw new Error('marker');
      },
    };
    expect(thrownBy(() => joinTensors(skeleton, options)).argument).toBe('skeleton.loop.0');
    expect(() =>
      joinTensors(skeleton, {
        ...options,
        rejectCycle(at): never {
          throw new Error(`cycle ${at}`);
        },
      }),
    ).toThrow('cycle loop.0');
  });
});
