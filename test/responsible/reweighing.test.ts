import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { reweighing } from '../../src/responsible/reweighing';
import { thrownWithoutLeak } from '../helpers/rejections';

/** P_w(Y=1 | A=g) for every group, and P_w(Y=1), under weights w. */
function weightedRates(labels: number[], groups: unknown[], w: number[]) {
  const by = new Map<unknown, [number, number]>();
  let pos = 0;
  let total = 0;
  labels.forEach((y, i) => {
    const c = by.get(groups[i]) ?? [0, 0];
    c[0] += w[i]! * y;
    c[1] += w[i]!;
    by.set(groups[i], c);
    pos += w[i]! * y;
    total += w[i]!;
  });
  return { byGroup: [...by.values()].map(([p, t]) => p / t), overall: pos / total };
}

describe('reweighing', () => {
  it('matches the hand-worked table', () => {
    const { weights, byGroup } = reweighing(
      [1, 1, 1, 0, 1, 0, 0, 0],
      ['a', 'a', 'a', 'a', 'b', 'b', 'b', 'b'],
    );
    const w = [2 / 3, 2 / 3, 2 / 3, 2, 2, 2 / 3, 2 / 3, 2 / 3];
    for (const [i, x] of weights.entries()) expect(x).toBeCloseTo(w[i]!, 12);
    expect(byGroup.get('a')!.positive).toBeCloseTo(2 / 3, 12);
    expect(byGroup.get('a')!.negative).toBeCloseTo(2, 12);
    expect([...byGroup.keys()]).toEqual(['a', 'b']);
  });

  it('makes label and group independent and keeps each group total (random data, sample weights)', () => {
    let state = 7;
    const rand = () => {
      state = (state * 1103515245 + 12345) % 2147483648;
      return state / 2147483648;
    };
    const n = 200;
    const groups = Array.from({ length: n }, () => ['x', 'y', 'z'][Math.floor(rand() * 3)]!);
    const labels = groups.map((g) => (rand() < (g === 'x' ? 0.7 : g === 'y' ? 0.3 : 0.5) ? 1 : 0));
    const sampleWeight = groups.map(() => 0.5 + rand());
    const { weights } = reweighing(labels, groups, { sampleWeight });
    const { byGroup, overall } = weightedRates(labels, groups, weights);
    for (const r of byGroup) expect(r).toBeCloseTo(overall, 12);
    // P_w(Y=1) and each group's total weight are those of the input weights.
    expect(overall).toBeCloseTo(weightedRates(labels, groups, sampleWeight).overall, 12);
    for (const g of ['x', 'y', 'z']) {
      const sum = (w: number[]) => w.reduce((a, b, i) => a + (groups[i] === g ? b : 0), 0);
      expect(sum(weights)).toBeCloseTo(sum(sampleWeight), 9);
    }
  });

  it('accepts tensors and booleans, and gives weight 1 to labels that are all positive', () => {
    const labels = tf.tensor1d([1, 1, 1], 'int32');
    const groups = tf.tensor1d([0, 1, 1], 'int32');
    const before = tf.memory().numTensors;
    expect(reweighing(labels, groups).weights).toEqual([1, 1, 1]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([labels, groups]);
    expect(reweighing([true, false, true, false], ['a', 'a', 'b', 'b']).weights).toEqual([
      1, 1, 1, 1,
    ]);
  });

  it('rejects a one-member group (it cannot hold both labels) unless all labels agree', () => {
    const e = thrownWithoutLeak(() => reweighing([1, 0, 0, 1, 0], ['a', 'a', 'a', 'a', 'b']));
    expect(e.argument).toBe('labels');
    expect(e.message).toMatch(/group "b" has none/);
    expect(reweighing([0, 0, 0], ['a', 'a', 'b']).weights).toEqual([1, 1, 1]);
  });

  it('rejects bad input with the argument named, leaving no tensor behind', () => {
    const g = ['a', 'a', 'b', 'b'];
    const cases: [() => unknown, string][] = [
      [() => reweighing([1, 2, 0, 1], g), 'labels[1]'],
      [() => reweighing([], []), 'labels'],
      [() => reweighing([1, 0, 1], g), 'sensitiveFeatures'],
      [() => reweighing([1, 0, 1, 0], ['a', 'a', 'a', 'a']), 'sensitiveFeatures'],
      [() => reweighing([1, 0, 1, 0], ['a', Number.NaN, 'b', 'b']), 'sensitiveFeatures[1]'],
      [() => reweighing([1, 1, 1, 0], g), 'labels'],
      [
        () => reweighing([1, 0, 1, 0], g, { sampleWeight: [1, -1, 1, 1] }),
        'options.sampleWeight[1]',
      ],
      [
        () => reweighing([1, 0, 1, 0], g, { sampleWeight: [1, 1, Number.NaN, 1] }),
        'options.sampleWeight[2]',
      ],
      [() => reweighing([1, 0, 1, 0], g, { sampleWeight: [0, 0, 0, 0] }), 'options.sampleWeight'],
      [() => reweighing([1, 0, 1, 0], g, { sampleWeight: [1, 1] }), 'options.sampleWeight'],
      [() => reweighing([1, 0, 1, 0], g, { weights: [1] } as never), 'options.weights'],
    ];
    for (const [call, argument] of cases) {
      expect(thrownWithoutLeak(call).argument).toBe(argument);
    }
  });
});
