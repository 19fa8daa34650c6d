// The sinusoidal table over its edges (issue 22): the smallest width, one
// position, a custom base, and a rejection naming every validated argument.
import { describe, expect, it } from 'vitest';
import { sinusoidalPositionEncoding } from '../../src/attention/sinusoidal-position-encoding';
import { expectNoLeak } from '../helpers/leaks';
import { thrownWithoutLeak } from '../helpers/rejections';

/** `PE[p, 2i] = sin(p / base^(2i/dim))`, `PE[p, 2i+1] = cos(...)`, rounded to float32. */
function reference(length: number, dim: number, base: number): number[] {
  const out: number[] = [];
  for (let p = 0; p < length; p++) {
    for (let c = 0; c < dim; c++) {
      const i = Math.floor(c / 2);
      const angle = p / base ** ((2 * i) / dim);
      out.push(Math.fround(c % 2 === 0 ? Math.sin(angle) : Math.cos(angle)));
    }
  }
  return out;
}

describe('sinusoidalPositionEncoding edges', () => {
  it('one position is [0, 1, 0, 1, ...]', () => {
    const pe = sinusoidalPositionEncoding(1, 6);
    expect(pe.shape).toEqual([1, 6]);
    expect(Array.from(pe.dataSync())).toEqual([0, 1, 0, 1, 0, 1]);
    pe.dispose();
  });

  it('the smallest width (2) is sin and cos of the position itself', () => {
    const pe = sinusoidalPositionEncoding(4, 2);
    expect(pe.shape).toEqual([4, 2]);
    expect(Array.from(pe.dataSync())).toEqual(reference(4, 2, 10000));
    expect(pe.dataSync()[5]).toBe(Math.fround(Math.cos(2)));
    pe.dispose();
  });

  it('a custom base and the default match the formula bit for bit', () => {
    for (const [length, dim, base] of [
      [5, 8, 100],
      [3, 4, 1.5],
      [7, 6, undefined],
    ] as const) {
      const pe = sinusoidalPositionEncoding(length, dim, base === undefined ? {} : { base });
      expect(pe.shape).toEqual([length, dim]);
      expect(Array.from(pe.dataSync())).toEqual(reference(length, dim, base ?? 10000));
      pe.dispose();
    }
  });

  it('rejects each bad argument, naming it', () => {
    const cases: Array<[() => unknown, string]> = [
      [() => sinusoidalPositionEncoding(0, 4), 'length'],
      [() => sinusoidalPositionEncoding(2.5, 4), 'length'],
      [() => sinusoidalPositionEncoding(3, 0), 'dim'],
      [() => sinusoidalPositionEncoding(3, 1), 'dim'],
      [() => sinusoidalPositionEncoding(3, 7), 'dim'],
      [() => sinusoidalPositionEncoding(3, 4.5), 'dim'],
      [() => sinusoidalPositionEncoding(3, 4, { base: 1 }), 'options.base'],
      [() => sinusoidalPositionEncoding(3, 4, { base: 0.5 }), 'options.base'],
      [() => sinusoidalPositionEncoding(3, 4, { base: Number.NaN }), 'options.base'],
      [() => sinusoidalPositionEncoding(3, 4, { base: '10' as never }), 'options.base'],
      [() => sinusoidalPositionEncoding(3, 4, { bas: 2 } as never), 'options.bas'],
      [() => sinusoidalPositionEncoding(3, 4, null as never), 'options'],
    ];
    for (const [call, argument] of cases) {
      const e = thrownWithoutLeak(call);
      expect(e.functionName).toBe('sinusoidalPositionEncoding');
      expect(e.argument).toBe(argument);
    }
  });

  it('names the odd width in the message', () => {
    expect(thrownWithoutLeak(() => sinusoidalPositionEncoding(3, 5)).message).toMatch(
      /dim must be an even number; got 5/,
    );
  });

  it('leaves only its output', () => {
    expectNoLeak(() => sinusoidalPositionEncoding(3, 4, { base: 2 }));
  });
});
