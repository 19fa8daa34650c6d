import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import { disposeKvCache, type KvCache, reorderKvCache } from '../../src/generate/kv-cache';
import { describeEachBackend } from '../helpers/backends';
import { expectNoLeak } from '../helpers/leaks';

/** A layer cache `[3 rows, 1 head, 2 slots, 1]` whose values name their row: row r holds r + offset. */
function layer(offset: number) {
  const rows = [0, 1, 2].map((r) => [[[r + offset], [r + offset]]]);
  return {
    key: tf.tensor4d(rows, [3, 1, 2, 1]),
    value: tf.tensor4d(
      rows.map((r) => r.map((h) => h.map(([v]) => [-v!]))),
      [3, 1, 2, 1],
    ),
  };
}

function rowValues(t: tf.Tensor): number[] {
  return (t.arraySync() as number[][][][]).map((row) => row[0]![0]![0]!);
}

function cache(withCross: boolean): KvCache {
  const c: KvCache = {
    layers: [layer(0), layer(10)],
    length: 1,
    maxLength: 2,
    keyValid: [
      [true, false],
      [false, false],
      [true, true],
    ],
    realTokens: [1, 0, 2],
  };
  if (withCross) {
    c.cross = [layer(100), layer(110)];
    c.sourceValid = [[true], [false], [true]];
  }
  return c;
}

describeEachBackend('reorderKvCache', () => {
  it('keeps the given rows in order, repeats included, in every tensor and list', () => {
    for (const withCross of [false, true]) {
      const c = cache(withCross);
      const r = reorderKvCache(c, [2, 0, 2]);
      expect(r.layers.map((l) => rowValues(l.key))).toEqual([
        [2, 0, 2],
        [12, 10, 12],
      ]);
      expect(r.layers.map((l) => rowValues(l.value))).toEqual([
        [-2, -0, -2],
        [-12, -10, -12],
      ]);
      expect(r.keyValid).toEqual([
        [true, true],
        [true, false],
        [true, true],
      ]);
      expect(r.realTokens).toEqual([2, 1, 2]);
      expect([r.length, r.maxLength]).toEqual([1, 2]);
      // A repeated row gets its own bookkeeping, not the other copy's.
      expect(r.keyValid[0]).not.toBe(r.keyValid[2]);
      if (withCross) {
        expect(r.cross!.map((l) => rowValues(l.key))).toEqual([
          [102, 100, 102],
          [112, 110, 112],
        ]);
        expect(r.sourceValid).toEqual([[true], [true], [true]]);
      } else {
        expect('cross' in r).toBe(false);
        expect('sourceValid' in r).toBe(false);
      }
      // The input cache is untouched and still the caller's.
      expect(rowValues(c.layers[0]!.key)).toEqual([0, 1, 2]);
      disposeKvCache(r);
      disposeKvCache(c);
    }
  });

  it('adds exactly the new cache tensors, and the input keeps its own', () => {
    const c = cache(true);
    expectNoLeak(() => {
      const r = reorderKvCache(c, [1, 1]);
      return [...r.layers, ...r.cross!].flatMap((l) => [l.key, l.value]);
    });
    expect(c.layers.every((l) => !l.key.isDisposed && !l.value.isDisposed)).toBe(true);
    disposeKvCache(c);
  });
});
