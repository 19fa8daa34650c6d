// ALiBi's slopes and bias over the shapes they document (issue 22): one
// head, head counts that are and are not powers of two, one query, more
// queries than keys, and a rejection naming every validated argument.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { alibiBias, alibiSlopes } from '../../src/attention/alibi';
import { expectClose } from '../helpers/close';
import { expectNoLeak } from '../helpers/leaks';
import { thrownWithoutLeak } from '../helpers/rejections';

/** The paper's slopes written out: `2^(-8i/n)` for a power of two, else interleaved. */
function referenceSlopes(n: number): number[] {
  const geometric = (m: number) => Array.from({ length: m }, (_, i) => 2 ** ((-8 * (i + 1)) / m));
  const p = 2 ** Math.floor(Math.log2(n));
  if (p === n) return geometric(n);
  const odd = geometric(2 * p).filter((_, i) => i % 2 === 0);
  return [...geometric(p), ...odd.slice(0, n - p)];
}

/** `-m_h · |j - (i + tk - tq)|`, `[1, heads, tq, tk]`, element by element. */
function referenceBias(heads: number, tq: number, tk: number): number[] {
  const slopes = referenceSlopes(heads);
  const out: number[] = [];
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < tq; i++) {
      for (let j = 0; j < tk; j++) out.push(-slopes[h]! * Math.abs(j - (i + tk - tq)));
    }
  }
  return out;
}

describe('alibiSlopes', () => {
  it('one head: 2^-8; 7 heads: 4 geometric then 3 interleaved from 8', () => {
    const one = alibiSlopes(1);
    expect(one.shape).toEqual([1]);
    expectClose(one, [2 ** -8], { rtol: 1e-7, atol: 0 });
    const seven = alibiSlopes(7);
    expectClose(seven, [2 ** -2, 2 ** -4, 2 ** -6, 2 ** -8, 2 ** -1, 2 ** -3, 2 ** -5], {
      rtol: 1e-7,
      atol: 0,
    });
    tf.dispose([one, seven]);
  });

  it('every head count up to 33 matches the construction written out', () => {
    for (let n = 1; n <= 33; n++) {
      const slopes = alibiSlopes(n);
      expect(slopes.shape).toEqual([n]);
      expectClose(slopes, referenceSlopes(n), { rtol: 1e-6, atol: 0 });
      slopes.dispose();
    }
  });

  it('rejects a head count that is not a whole number >= 1, naming numHeads', () => {
    for (const bad of [0, -2, 1.5, Number.NaN, '4', undefined]) {
      const e = thrownWithoutLeak(() => alibiSlopes(bad as number));
      expect(e.functionName).toBe('alibiSlopes');
      expect(e.argument).toBe('numHeads');
    }
  });
});

describe('alibiBias', () => {
  it('one query over one key is a zero bias', () => {
    const bias = alibiBias(1, 1, 1);
    expect(bias.shape).toEqual([1, 1, 1, 1]);
    expect(Math.abs(bias.dataSync()[0]!)).toBe(0);
    bias.dispose();
  });

  it('matches the formula with tq < tk, tq = tk and tq > tk (queries before the first key)', () => {
    for (const [heads, tq, tk] of [
      [3, 2, 5],
      [4, 4, 4],
      [5, 4, 2],
      [2, 1, 6],
    ] as const) {
      const bias = alibiBias(heads, tq, tk);
      expect(bias.shape).toEqual([1, heads, tq, tk]);
      expectClose(bias, referenceBias(heads, tq, tk), { rtol: 1e-6, atol: 0 });
      bias.dispose();
    }
  });

  it('the last query row is the causal bias of a decoding step', () => {
    // One new token at position tk - 1: the row of the full square bias.
    const full = alibiBias(4, 6, 6);
    const step = alibiBias(4, 1, 6);
    expectClose(step, tf.slice(full, [0, 0, 5, 0], [-1, -1, 1, -1]), { rtol: 0, atol: 0 });
    tf.dispose([full, step]);
  });

  it('rejects each size that is not a whole number >= 1, naming it', () => {
    const cases: Array<[[unknown, unknown, unknown], string]> = [
      [[0, 2, 2], 'numHeads'],
      [[2.5, 2, 2], 'numHeads'],
      [[2, 0, 2], 'tq'],
      [[2, 1.5, 2], 'tq'],
      [[2, -1, 2], 'tq'],
      [[2, 2, 0], 'tk'],
      [[2, 2, Number.POSITIVE_INFINITY], 'tk'],
      [[2, 2, '3'], 'tk'],
    ];
    for (const [[h, q, k], argument] of cases) {
      const e = thrownWithoutLeak(() => alibiBias(h as number, q as number, k as number));
      expect(e.functionName).toBe('alibiBias');
      expect(e.argument).toBe(argument);
    }
  });

  it('leaves only its output', () => {
    expectNoLeak(() => alibiBias(3, 5, 2));
    expectNoLeak(() => alibiSlopes(7));
  });
});
