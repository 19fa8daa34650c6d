import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  demographicParityDifference,
  demographicParityRatio,
  equalizedOddsDifference,
  equalizedOddsRatio,
  equalOpportunityDifference,
  equalOpportunityRatio,
  groupConfusionMetrics,
} from '../../src/responsible/fairness';
import { federatedAverage } from '../../src/responsible/federated-averaging';

// The numbers the TSDoc examples promise.
describe('TSDoc examples', () => {
  it('fairness', () => {
    const { byGroup, overall } = groupConfusionMetrics(
      [1, 0, 1, 1, 0, 0],
      [1, 0, 0, 1, 1, 0],
      ['a', 'a', 'a', 'b', 'b', 'b'],
    );
    expect(byGroup.get('a')?.truePositiveRate).toBe(0.5);
    expect(overall.accuracy).toBeCloseTo(4 / 6, 12);
    const g = ['a', 'a', 'a', 'b', 'b', 'b'];
    expect(demographicParityDifference([1, 1, 0, 1, 0, 0], g)).toBeCloseTo(1 / 3, 12);
    expect(demographicParityRatio([1, 1, 0, 1, 0, 0], g)).toBeCloseTo(0.5, 12);
    const groups = ['a', 'a', 'a', 'a', 'b', 'b', 'b', 'b'];
    expect(
      equalizedOddsDifference([1, 1, 0, 0, 1, 1, 0, 0], [1, 1, 1, 0, 1, 0, 0, 0], groups),
    ).toBe(0.5);
    expect(
      equalizedOddsRatio(
        [1, 1, 0, 0, 1, 1, 0, 0, 0, 0],
        [1, 1, 1, 0, 1, 0, 1, 0, 0, 0],
        ['a', 'a', 'a', 'a', 'b', 'b', 'b', 'b', 'b', 'b'],
      ),
    ).toBe(0.5);
    expect(equalOpportunityDifference([1, 1, 1, 1], [1, 0, 1, 1], ['a', 'a', 'b', 'b'])).toBe(0.5);
    expect(equalOpportunityRatio([1, 1, 1, 1], [1, 0, 1, 1], ['a', 'a', 'b', 'b'])).toBe(0.5);
  });

  it('federatedAverage', () => {
    const a = { kernel: tf.tensor2d([[1, 2]]), width: 2 };
    const b = { kernel: tf.tensor2d([[5, 10]]), width: 2 };
    const global = federatedAverage([a, b], [600, 200]);
    expect(Array.from(global.kernel.dataSync())).toEqual([2, 4]);
    expect(global.width).toBe(2);
    tf.dispose([a.kernel, b.kernel, global.kernel]);
  });
});
