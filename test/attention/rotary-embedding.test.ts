// RoPE over its edges (issue 22): hand-worked rotations, zero, negative and
// large positions, every region of Llama 3.1's scaling with factors other
// than 1, the `rope` option resolver, and a rejection naming every
// validated argument.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  applyRotaryEmbedding,
  applyRotaryEmbeddingCore,
  checkRopeScaling,
  type RopeScaling,
  rotaryInverseFrequencies,
  rotaryOptions,
} from '../../src/attention/rotary-embedding';
import { expectClose } from '../helpers/close';
import { expectNoLeak } from '../helpers/leaks';
import { thrownWithoutLeak } from '../helpers/rejections';

const four = (x: tf.Tensor) => x as tf.Tensor4D;

/** `[x₁ cos − x₂ sin, x₂ cos + x₁ sin]` for one head vector at angles `angles`. */
function rotate(x: number[], angles: number[]): number[] {
  const half = x.length / 2;
  const first = angles.map((a, i) => x[i]! * Math.cos(a) - x[half + i]! * Math.sin(a));
  const second = angles.map((a, i) => x[half + i]! * Math.cos(a) + x[i]! * Math.sin(a));
  return [...first, ...second];
}

/** transformers' `_compute_llama3_parameters`, vectorised as there. */
function llama3Reference(
  half: number,
  base: number,
  {
    factor,
    lowFreqFactor,
    highFreqFactor,
    originalMaxLength,
  }: Extract<RopeScaling, { kind: 'llama3' }>,
): number[] {
  const lowWavelen = originalMaxLength / lowFreqFactor;
  const highWavelen = originalMaxLength / highFreqFactor;
  return Array.from({ length: half }, (_, i) => {
    const invFreq = 1 / base ** ((2 * i) / (2 * half));
    const wavelen = (2 * Math.PI) / invFreq;
    const llama = wavelen > lowWavelen ? invFreq / factor : invFreq;
    const smooth = (originalMaxLength / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
    const smoothed = ((1 - smooth) * llama) / factor + smooth * llama;
    const medium = !(wavelen < highWavelen) && !(wavelen > lowWavelen);
    return medium ? smoothed : llama;
  });
}

describe('applyRotaryEmbedding by hand', () => {
  it('headDim 2 rotates (x₁, x₂) by the position itself', () => {
    const x = tf.tensor4d([1, 2, -3, 0.5, 0, 0], [1, 1, 3, 2]);
    const y = applyRotaryEmbedding(x, { offset: 4 });
    expect(y.shape).toEqual([1, 1, 3, 2]);
    expectClose(y, [...rotate([1, 2], [4]), ...rotate([-3, 0.5], [5]), 0, 0], {
      rtol: 1e-6,
      atol: 1e-6,
    });
    tf.dispose([x, y]);
  });

  it('headDim 4 with base 100: frequencies 1 and 1/10, over two heads and a batch of two', () => {
    const data = Array.from({ length: 2 * 2 * 2 * 4 }, (_, i) => ((i * 7) % 11) - 5);
    const x = tf.tensor4d(data, [2, 2, 2, 4]);
    const y = applyRotaryEmbedding(x, { base: 100, offset: 1 });
    const want: number[] = [];
    for (let row = 0; row < 8; row++) {
      const t = row % 2; // time is the third axis
      const p = 1 + t;
      want.push(...rotate(data.slice(row * 4, row * 4 + 4), [p, p / 10]));
    }
    expectClose(y, want, { rtol: 1e-5, atol: 1e-5 });
    tf.dispose([x, y]);
  });

  it('position 0 is the identity, and zeros stay zeros', () => {
    const x = tf.randomNormal([1, 2, 1, 6], 0, 1, 'float32', 4) as tf.Tensor4D;
    const y = applyRotaryEmbedding(x);
    expectClose(y, x, { rtol: 0, atol: 0 });
    const z = tf.zeros([1, 1, 3, 4]) as tf.Tensor4D;
    const rz = applyRotaryEmbedding(z, { offset: 9 });
    expect(Array.from(rz.dataSync()).every((v) => v === 0)).toBe(true);
    tf.dispose([x, y, z, rz]);
  });

  it('a large offset (1e6) matches the rotation computed in float64', () => {
    const x = tf.tensor4d([0.5, -1, 2, 0.25], [1, 1, 1, 4]);
    const y = applyRotaryEmbedding(x, { offset: 1e6 });
    expectClose(y, rotate([0.5, -1, 2, 0.25], [1e6, 1e6 / 100]), { rtol: 1e-5, atol: 1e-5 });
    tf.dispose([x, y]);
  });

  it('scaling linear divides the angles: factor 2 at position 2t is position t unscaled', () => {
    const x = tf.randomNormal([1, 1, 1, 8], 0, 1, 'float32', 5) as tf.Tensor4D;
    const scaled = applyRotaryEmbedding(x, { offset: 6, scaling: { kind: 'linear', factor: 2 } });
    const plain = applyRotaryEmbedding(x, { offset: 3 });
    expectClose(scaled, plain, { rtol: 1e-5, atol: 1e-6 });
    tf.dispose([x, scaled, plain]);
  });

  it('the core without checks gives the same values with scaling and base', () => {
    const x = tf.randomNormal([2, 1, 3, 8], 0, 1, 'float32', 6) as tf.Tensor4D;
    const scaling: RopeScaling = {
      kind: 'llama3',
      factor: 4,
      lowFreqFactor: 2,
      highFreqFactor: 8,
      originalMaxLength: 64,
    };
    const a = applyRotaryEmbedding(x, { base: 50, offset: 2, scaling });
    const b = applyRotaryEmbeddingCore(x, { base: 50, offset: 2, scaling });
    expectClose(b, a, { rtol: 0, atol: 0 });
    // The core's defaults: offset 0 and base 10000.
    const c = applyRotaryEmbeddingCore(x);
    const d = applyRotaryEmbedding(x, { offset: 0, base: 10000 });
    expectClose(c, d, { rtol: 0, atol: 0 });
    expectNoLeak(() => applyRotaryEmbeddingCore(x, { scaling }));
    tf.dispose([x, a, b, c, d]);
  });
});

describe('rotaryInverseFrequencies', () => {
  it('plain: base^(-i/half) exactly, the first frequency 1', () => {
    expect(rotaryInverseFrequencies(4, 10000)).toEqual([
      1,
      10000 ** -0.25,
      10000 ** -0.5,
      10000 ** -0.75,
    ]);
    expect(rotaryInverseFrequencies(1, 3)).toEqual([1]);
  });

  it("llama3 with lowFreqFactor 2, highFreqFactor 8: transformers' values in all three regions", () => {
    // base 10000, half 8: wavelengths 2π·10000^(i/8) ≈ 6.3, 20, 63, 199, 628, …;
    // originalMaxLength 512: kept below 64, divided above 256, smoothed between.
    const scaling = {
      kind: 'llama3',
      factor: 4,
      lowFreqFactor: 2,
      highFreqFactor: 8,
      originalMaxLength: 512,
    } as const;
    const got = rotaryInverseFrequencies(8, 10000, scaling);
    const want = llama3Reference(8, 10000, scaling);
    for (const [i, v] of got.entries()) expect(v).toBeCloseTo(want[i]!, 14);
    const plain = rotaryInverseFrequencies(8, 10000);
    // The regions are all present: kept, smoothed (strictly between), divided.
    expect(got[0]).toBe(plain[0]);
    expect(got[1]).toBe(plain[1]);
    expect(got[3]! < plain[3]! && got[3]! > plain[3]! / 4).toBe(true);
    expect(got[7]).toBeCloseTo(plain[7]! / 4, 15);
  });

  it('linear with a factor below 1 multiplies (extrapolation)', () => {
    const got = rotaryInverseFrequencies(3, 100, { kind: 'linear', factor: 0.5 });
    expect(got).toEqual([2, 2 * 100 ** (-1 / 3), 2 * 100 ** (-2 / 3)]);
  });
});

describe('rotaryOptions', () => {
  it('true is the defaults, false and undefined no RoPE, an offset replaces the given one', () => {
    expect(rotaryOptions(true)).toEqual({});
    expect(rotaryOptions(true, 7)).toEqual({ offset: 7 });
    expect(rotaryOptions(false)).toBeUndefined();
    expect(rotaryOptions(false, 3)).toBeUndefined();
    expect(rotaryOptions(undefined, 3)).toBeUndefined();
    const given = { base: 500, offset: 1 };
    expect(rotaryOptions(given)).toBe(given);
    expect(rotaryOptions(given, 0)).toEqual({ base: 500, offset: 0 });
    expect(given.offset).toBe(1); // not modified
  });
});

describe('applyRotaryEmbedding rejections', () => {
  it('names every bad argument and leaves nothing behind', () => {
    const x = tf.zeros([1, 1, 2, 4]) as tf.Tensor4D;
    const disposed = tf.zeros([1, 1, 2, 4]) as tf.Tensor4D;
    disposed.dispose();
    const llama3 = {
      kind: 'llama3',
      factor: 2,
      lowFreqFactor: 1,
      highFreqFactor: 4,
      originalMaxLength: 8,
    };
    const cases: Array<[unknown, unknown, string]> = [
      [x, null, 'options'],
      [x, 3, 'options'],
      [x, { ofset: 1 }, 'options.ofset'],
      [[1, 2], {}, 'x'],
      [disposed, {}, 'x'],
      [tf.zeros([1, 1, 2, 4], 'int32'), {}, 'x'],
      [tf.zeros([1, 2, 4]), {}, 'x'],
      [tf.zeros([1, 1, 0, 4]), {}, 'x'],
      [tf.zeros([1, 1, 2, 3]), {}, 'x.shape[3]'],
      [x, { offset: -1 }, 'options.offset'],
      [x, { offset: 0.5 }, 'options.offset'],
      [x, { offset: '2' }, 'options.offset'],
      [x, { base: 1 }, 'options.base'],
      [x, { base: 0 }, 'options.base'],
      [x, { base: Number.POSITIVE_INFINITY }, 'options.base'],
      [x, { scaling: null }, 'options.scaling'],
      [x, { scaling: [] }, 'options.scaling'],
      [x, { scaling: 2 }, 'options.scaling'],
      [x, { scaling: { factor: 2 } }, 'options.scaling.kind'],
      [x, { scaling: { kind: 'linear' } }, 'options.scaling.factor'],
      [x, { scaling: { kind: 'linear', factor: -1 } }, 'options.scaling.factor'],
      [x, { scaling: { kind: 'linear', factor: Number.NaN } }, 'options.scaling.factor'],
      [x, { scaling: { ...llama3, factor: 0 } }, 'options.scaling.factor'],
      [x, { scaling: { ...llama3, extra: 1 } }, 'options.scaling.extra'],
      [x, { scaling: { ...llama3, lowFreqFactor: 0 } }, 'options.scaling.lowFreqFactor'],
      [x, { scaling: { ...llama3, lowFreqFactor: '1' } }, 'options.scaling.lowFreqFactor'],
      [x, { scaling: { ...llama3, highFreqFactor: 0 } }, 'options.scaling.highFreqFactor'],
      [x, { scaling: { ...llama3, highFreqFactor: 1 } }, 'options.scaling.highFreqFactor'],
      [x, { scaling: { ...llama3, originalMaxLength: 0 } }, 'options.scaling.originalMaxLength'],
      [
        x,
        { scaling: { ...llama3, originalMaxLength: undefined } },
        'options.scaling.originalMaxLength',
      ],
    ];
    for (const [input, options, argument] of cases) {
      const e = thrownWithoutLeak(() =>
        applyRotaryEmbedding(four(input as tf.Tensor), options as never),
      );
      expect(e.functionName).toBe('applyRotaryEmbedding');
      expect(e.argument).toBe(argument);
    }
    tf.dispose([x]);
    for (const [input] of cases)
      if (input instanceof tf.Tensor && !input.isDisposed) input.dispose();
  });

  it('states the bound of highFreqFactor and the odd headDim in the message', () => {
    const x = tf.zeros([1, 1, 2, 4]) as tf.Tensor4D;
    const e = thrownWithoutLeak(() =>
      applyRotaryEmbedding(x, {
        scaling: {
          kind: 'llama3',
          factor: 2,
          lowFreqFactor: 2,
          highFreqFactor: 2,
          originalMaxLength: 8,
        },
      }),
    );
    expect(e.message).toMatch(/highFreqFactor must be a number > lowFreqFactor \(2\); got 2/);
    x.dispose();
  });

  it('checkRopeScaling accepts absent and complete scalings, naming fields after the given name', () => {
    expect(() => checkRopeScaling('f', 'config.rope.scaling', undefined)).not.toThrow();
    expect(() =>
      checkRopeScaling('f', 'config.rope.scaling', { kind: 'linear', factor: 0.25 }),
    ).not.toThrow();
    expect(() =>
      checkRopeScaling('f', 'config.rope.scaling', {
        kind: 'llama3',
        factor: 8,
        lowFreqFactor: 0.5,
        highFreqFactor: 0.75,
        originalMaxLength: 1,
      }),
    ).not.toThrow();
    const e = thrownWithoutLeak(() =>
      checkRopeScaling('f', 'config.rope.scaling', { kind: 'llama3', factor: 8 }),
    );
    expect(e.argument).toBe('config.rope.scaling.lowFreqFactor');
  });
});
