import { Tensor } from '@tensorflow/tfjs-core';
import { expect } from 'vitest';

export interface Tolerance {
  /** Relative tolerance. Default 1e-5. */
  rtol?: number;
  /** Absolute tolerance. Default 1e-6. */
  atol?: number;
}

type Values = Tensor | ArrayLike<number> | number;

function flatten(x: Values): { data: ArrayLike<number>; shape?: number[] } {
  if (x instanceof Tensor) return { data: x.dataSync(), shape: x.shape };
  if (typeof x === 'number') return { data: [x] };
  return { data: x };
}

/**
 * Asserts `|actual - expected| <= atol + rtol * |expected|` elementwise (and
 * equal shapes when both carry one). On failure the message names the worst
 * element, its values and the error.
 */
export function expectClose(
  actual: Values,
  expected: Values,
  { rtol = 1e-5, atol = 1e-6 }: Tolerance = {},
  shape?: number[],
): void {
  const a = flatten(actual);
  const e = flatten(expected);
  const expectedShape = shape ?? e.shape;
  if (a.shape && expectedShape) expect(a.shape).toEqual(expectedShape);
  expect(a.data.length).toBe(e.data.length);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < e.data.length; i++) {
    const av = a.data[i]!;
    const ev = e.data[i]!;
    const excess = Math.abs(av - ev) - (atol + rtol * Math.abs(ev));
    if (Number.isNaN(av) !== Number.isNaN(ev) || excess > worstExcess || Number.isNaN(excess)) {
      if (!(Number.isNaN(av) && Number.isNaN(ev)) && !(av === ev)) {
        worst = i;
        worstExcess = Number.isNaN(excess) ? Infinity : excess;
      }
    }
  }
  if (worst >= 0) {
    const av = a.data[worst]!;
    const ev = e.data[worst]!;
    expect.fail(
      `element ${worst} of ${e.data.length}: actual ${av}, expected ${ev}, ` +
        `|diff| ${Math.abs(av - ev)} > atol ${atol} + rtol ${rtol} * |expected|`,
    );
  }
}

/** Largest `|a - e| / max(|e|, floor)` over all elements: the figure reports quote. */
export function maxRelativeError(actual: Values, expected: Values, floor = 1e-3): number {
  const a = flatten(actual).data;
  const e = flatten(expected).data;
  let worst = 0;
  for (let i = 0; i < e.length; i++) {
    worst = Math.max(worst, Math.abs(a[i]! - e[i]!) / Math.max(Math.abs(e[i]!), floor));
  }
  return worst;
}
