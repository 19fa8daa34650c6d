import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { computeDpSgdEpsilon } from '../../src/responsible/privacy-accountant';
import {
  noiseMultiplierForEpsilon,
  rdpAccountant,
  stepsForEpsilon,
} from '../../src/responsible/privacy-budget';
import { loadGoldens } from '../helpers/goldens';
import { thrownWithoutLeak } from '../helpers/rejections';

interface NoiseGolden {
  name: string;
  samplingRate: number;
  steps: number;
  delta: number;
  targetEpsilon: number;
  /** Python's bisection over the exact RDP to 1e-12: the smallest σ with ε <= target. */
  noiseMultiplier: number;
  epsilon: number;
}

interface StepsGolden {
  name: string;
  samplingRate: number;
  noiseMultiplier: number;
  delta: number;
  targetEpsilon: number;
  steps: number;
  epsilon: number;
}

const goldens = loadGoldens<{ noiseForEpsilon: NoiseGolden[]; stepsForEpsilon: StepsGolden[] }>(
  'privacy-budget',
);
// The orders the Python reference uses (integer orders: exact binomial sums there and here).
const ORDERS = [...Array.from({ length: 63 }, (_, i) => i + 2), 128, 256];

describe('noiseMultiplierForEpsilon against the independent Python bisection (test/goldens/privacy-budget.json)', () => {
  for (const c of goldens.noiseForEpsilon) {
    it(`${c.name}: σ within 1% of the exact inverse, never below it; ε within 1% of the target, never above`, () => {
      const { targetEpsilon, delta, samplingRate, steps } = c;
      const ours = noiseMultiplierForEpsilon({
        targetEpsilon,
        delta,
        samplingRate,
        steps,
        orders: ORDERS,
      });
      expect(ours.epsilon).toBeLessThanOrEqual(targetEpsilon);
      expect(ours.epsilon).toBeGreaterThanOrEqual(targetEpsilon * 0.99);
      expect(ours.noiseMultiplier).toBeGreaterThanOrEqual(c.noiseMultiplier * (1 - 1e-9));
      expect(ours.noiseMultiplier / c.noiseMultiplier - 1).toBeLessThan(0.01);
    });
  }
});

describe('stepsForEpsilon against the independent Python search', () => {
  for (const c of goldens.stepsForEpsilon) {
    it(`${c.name}: exactly ${c.steps} steps`, () => {
      const { targetEpsilon, delta, samplingRate, noiseMultiplier } = c;
      const ours = stepsForEpsilon({
        targetEpsilon,
        delta,
        samplingRate,
        noiseMultiplier,
        orders: ORDERS,
      });
      expect(ours.steps).toBe(c.steps);
      expect(Math.abs(ours.epsilon - c.epsilon) / c.epsilon).toBeLessThan(1e-9);
    });
  }
});

describe('noiseMultiplierForEpsilon inverts computeDpSgdEpsilon (default orders)', () => {
  const settings = [
    { samplingRate: 256 / 60000, steps: 14063, delta: 1e-5 },
    { samplingRate: 0.01, steps: 1000, delta: 1e-5 },
    { samplingRate: 0.1, steps: 100, delta: 1e-6 },
    { samplingRate: 1, steps: 10, delta: 1e-5 },
  ];
  for (const s of settings) {
    for (const targetEpsilon of [0.5, 1, 3, 8]) {
      it(`q=${s.samplingRate.toFixed(4)}, ${s.steps} steps, ε=${targetEpsilon}: round trip within 1%`, () => {
        const { noiseMultiplier, epsilon } = noiseMultiplierForEpsilon({ ...s, targetEpsilon });
        const again = computeDpSgdEpsilon({ ...s, noiseMultiplier }).epsilon;
        expect(again).toBe(epsilon);
        expect(again).toBeLessThanOrEqual(targetEpsilon);
        expect(again).toBeGreaterThanOrEqual(targetEpsilon * 0.99);
        // The default tolerance is 0.1%; a slightly smaller σ overshoots.
        expect(again).toBeGreaterThanOrEqual(targetEpsilon * 0.999);
        const less = computeDpSgdEpsilon({ ...s, noiseMultiplier: noiseMultiplier * 0.98 });
        expect(less.epsilon).toBeGreaterThan(targetEpsilon);
      });
    }
  }

  it('a looser tolerance stops earlier but stays within it', () => {
    const s = { samplingRate: 0.01, steps: 1000, delta: 1e-5, targetEpsilon: 2 };
    const loose = noiseMultiplierForEpsilon({ ...s, tolerance: 0.05 });
    expect(loose.epsilon).toBeLessThanOrEqual(2);
    expect(loose.epsilon).toBeGreaterThanOrEqual(2 * 0.95);
  });

  it('no steps or no sampling spends nothing: σ = 0', () => {
    const none = noiseMultiplierForEpsilon({
      targetEpsilon: 1,
      delta: 1e-5,
      samplingRate: 0.1,
      steps: 0,
    });
    expect(none.noiseMultiplier).toBe(0);
    expect(none.epsilon).toBe(0);
    const unsampled = noiseMultiplierForEpsilon({
      targetEpsilon: 1,
      delta: 1e-5,
      samplingRate: 0,
      steps: 10,
    });
    expect(unsampled.noiseMultiplier).toBe(0);
  });

  it('makes no tensor', () => {
    const before = tf.memory().numTensors;
    noiseMultiplierForEpsilon({ targetEpsilon: 1, delta: 1e-5, samplingRate: 0.01, steps: 100 });
    stepsForEpsilon({ targetEpsilon: 1, delta: 1e-5, samplingRate: 0.01, noiseMultiplier: 1 });
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('stepsForEpsilon edges', () => {
  it('is the largest step count within budget', () => {
    const base = { delta: 1e-5, samplingRate: 0.02, noiseMultiplier: 1.2 };
    const { steps, epsilon } = stepsForEpsilon({ ...base, targetEpsilon: 4 });
    expect(epsilon).toBe(computeDpSgdEpsilon({ ...base, steps }).epsilon);
    expect(epsilon).toBeLessThanOrEqual(4);
    expect(computeDpSgdEpsilon({ ...base, steps: steps + 1 }).epsilon).toBeGreaterThan(4);
  });

  it('0 when one step already exceeds the budget; maxSteps when the budget is never reached', () => {
    const tight = stepsForEpsilon({
      targetEpsilon: 0.01,
      delta: 1e-5,
      samplingRate: 1,
      noiseMultiplier: 0.5,
    });
    expect(tight).toEqual({ steps: 0, epsilon: 0, order: Number.NaN });
    const free = stepsForEpsilon({
      targetEpsilon: 1,
      delta: 1e-5,
      samplingRate: 0,
      noiseMultiplier: 1,
      maxSteps: 500,
    });
    expect(free.steps).toBe(500);
  });
});

describe('rdpAccountant', () => {
  it('reports the same ε as computeDpSgdEpsilon at every step', () => {
    const settings = { samplingRate: 0.02, noiseMultiplier: 1.3, delta: 1e-6 };
    const accountant = rdpAccountant(settings);
    for (const steps of [0, 1, 7, 100, 5000]) {
      const expected = computeDpSgdEpsilon({ ...settings, steps });
      expect(accountant.epsilon(steps).epsilon).toBe(expected.epsilon);
      if (steps > 0) expect(accountant.epsilon(steps).order).toBe(expected.order);
    }
    expect(accountant.epsilon(0).epsilon).toBe(0);
  });

  it('costs nothing without noise only at 0 steps', () => {
    const accountant = rdpAccountant({ samplingRate: 0.5, noiseMultiplier: 0, delta: 1e-5 });
    expect(accountant.epsilon(0).epsilon).toBe(0);
    expect(accountant.epsilon(1).epsilon).toBe(Infinity);
  });

  it('rejects a bad step count, naming it', () => {
    const accountant = rdpAccountant({ samplingRate: 0.5, noiseMultiplier: 1, delta: 1e-5 });
    expect(thrownWithoutLeak(() => accountant.epsilon(-1)).argument).toBe('steps');
  });
});

describe('privacy budget helpers reject bad input, naming the argument', () => {
  const good = { targetEpsilon: 1, delta: 1e-5, samplingRate: 0.01, steps: 100 };
  const goodSteps = { targetEpsilon: 1, delta: 1e-5, samplingRate: 0.01, noiseMultiplier: 1 };
  const cases: Array<[string, () => unknown, string]> = [
    [
      'target ε 0',
      () => noiseMultiplierForEpsilon({ ...good, targetEpsilon: 0 }),
      'options.targetEpsilon',
    ],
    ['δ 0', () => noiseMultiplierForEpsilon({ ...good, delta: 0 }), 'options.delta'],
    [
      'q 1.5',
      () => noiseMultiplierForEpsilon({ ...good, samplingRate: 1.5 }),
      'options.samplingRate',
    ],
    ['fractional steps', () => noiseMultiplierForEpsilon({ ...good, steps: 1.5 }), 'options.steps'],
    [
      'tolerance 1',
      () => noiseMultiplierForEpsilon({ ...good, tolerance: 1 }),
      'options.tolerance',
    ],
    [
      'an unknown key',
      () => noiseMultiplierForEpsilon({ ...good, epsilon: 1 } as never),
      'options.epsilon',
    ],
    ['a bad order', () => noiseMultiplierForEpsilon({ ...good, orders: [1] }), 'options.orders[0]'],
    [
      'steps: target -1',
      () => stepsForEpsilon({ ...goodSteps, targetEpsilon: -1 }),
      'options.targetEpsilon',
    ],
    ['steps: δ 1', () => stepsForEpsilon({ ...goodSteps, delta: 1 }), 'options.delta'],
    [
      'steps: q -0.1',
      () => stepsForEpsilon({ ...goodSteps, samplingRate: -0.1 }),
      'options.samplingRate',
    ],
    [
      'steps: σ -1',
      () => stepsForEpsilon({ ...goodSteps, noiseMultiplier: -1 }),
      'options.noiseMultiplier',
    ],
    [
      'steps: maxSteps 2.5',
      () => stepsForEpsilon({ ...goodSteps, maxSteps: 2.5 }),
      'options.maxSteps',
    ],
  ];
  for (const [name, call, argument] of cases) {
    it(name, () => {
      const error = thrownWithoutLeak(call);
      expect(error.argument).toBe(argument);
    });
  }
});
