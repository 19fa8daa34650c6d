import { describe, expect, it } from 'vitest';
import { solveMixtureLp } from '../../src/responsible/mixture-lp';

describe('solveMixtureLp', () => {
  it('mixes an accurate unfair classifier with a fair one up to the slack (hand-solved)', () => {
    // h0: error 0.1, γ = +0.3; h1: error 0.4, γ = 0. ε = 0.1, B = 10.
    // Σ q γ − ε ≤ 0 allows q0 ≤ 1/3; beyond it each unit of q0 costs −0.3 + 10·0.3 > 0.
    const { q, lambda } = solveMixtureLp(
      [0.1, 0.4],
      [
        [0.3, -0.3],
        [0, 0],
      ],
      0.1,
      10,
    );
    expect(q[0]).toBeCloseTo(1 / 3, 12);
    expect(q[1]).toBeCloseTo(2 / 3, 12);
    // The multiplier: the error saved per unit of γ allowed, (0.4 − 0.1) / 0.3.
    expect(lambda[0]).toBeCloseTo(1, 12);
    expect(lambda[1]).toBeCloseTo(0, 12);
  });

  it('pays the slack when no mixture is feasible, and picks the better one when it is cheaper', () => {
    // Both violate by 0.2 (γ = 0.3, ε = 0.1): the slack is unavoidable; the lower error wins.
    const both = solveMixtureLp(
      [0.2, 0.1],
      [
        [0.3, -0.3],
        [0.3, -0.3],
      ],
      0.1,
      10,
    );
    expect(both.q).toEqual([0, 1]);
    // A fair classifier alone: weight 1, multipliers 0.
    const alone = solveMixtureLp([0.3], [[0, 0]], 0.1, 10);
    expect(alone.q).toEqual([1]);
    expect(alone.lambda).toEqual([0, 0]);
  });
});
