// scaleByAdafactor, clipByBlockRms and scaleByParamBlockRms by hand (issue
// 22): the factored second moment over the two largest axes of rank-2 and
// rank-3 parameters (ties, a size-1 axis, the minDimSizeToFactor edge),
// the unfactored path, the decay schedule with its offset, and a rejection
// naming the argument for every option.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  clipByBlockRms,
  type GradientTransformation,
  type ScaleByAdafactorOptions,
  scaleByAdafactor,
  scaleByParamBlockRms,
} from '../../../src/index';
import { expectClose } from '../../helpers/close';
import { expectNoLeak } from '../../helpers/leaks';
import { thrownWithoutLeak } from '../../helpers/rejections';

/** Deterministic gradient values of a given size, mixed in sign and magnitude. */
function values(size: number, step: number): number[] {
  return Array.from({ length: size }, (_, i) => Math.sin(1 + i * 1.7 + step * 0.9) * (1 + (i % 3)));
}

const sizeOf = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** The multi-index of flat index `i` in `shape` (row-major). */
function indexOf(i: number, shape: number[]): number[] {
  const idx = new Array(shape.length).fill(0);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = i % shape[d]!;
    i = Math.floor(i / shape[d]!);
  }
  return idx;
}

/** The two axes Adafactor factors over, [second largest, largest] (ties: the lower axis is "smaller"). */
function factorAxes(shape: number[], factored: boolean, minDim: number) {
  if (!factored || shape.length < 2) return undefined;
  const order = shape.map((d, i) => [d, i] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const [secondSize, second] = order[order.length - 2]!;
  return secondSize < minDim ? undefined : [second, order[order.length - 1]![1]];
}

/** Adafactor's direction by hand, in float64, for successive gradients of one parameter. */
function adafactorByHand(
  shape: number[],
  grads: number[][],
  {
    decayRate = 0.8,
    decayOffset = 0,
    minDimSizeToFactor = 128,
    epsilon = 1e-30,
    factored = true,
  }: ScaleByAdafactorOptions,
): number[][] {
  const n = sizeOf(shape);
  const axes = factorAxes(shape, factored, minDimSizeToFactor);
  const key = (idx: number[], ...skip: number[]) =>
    idx.filter((_, d) => !skip.includes(d)).join(',');
  const vRow = new Map<string, number>();
  const vCol = new Map<string, number>();
  const v = new Array(n).fill(0);
  return grads.map((g, k) => {
    const t = k + 1;
    const decay = 1 - Math.max(t - decayOffset, 1) ** -decayRate;
    const sq = g.map((x) => x * x + epsilon);
    if (!axes) {
      return g.map((x, i) => {
        v[i] = decay * v[i] + (1 - decay) * sq[i]!;
        return x / Math.sqrt(v[i]);
      });
    }
    const [d1, d0] = axes as [number, number];
    // Means of g² over the largest axis (rows) and the second largest (columns).
    const rowMean = new Map<string, number>();
    const colMean = new Map<string, number>();
    sq.forEach((s, i) => {
      const idx = indexOf(i, shape);
      rowMean.set(key(idx, d0), (rowMean.get(key(idx, d0)) ?? 0) + s / shape[d0]!);
      colMean.set(key(idx, d1), (colMean.get(key(idx, d1)) ?? 0) + s / shape[d1]!);
    });
    for (const [kk, m] of rowMean) vRow.set(kk, decay * (vRow.get(kk) ?? 0) + (1 - decay) * m);
    for (const [kk, m] of colMean) vCol.set(kk, decay * (vCol.get(kk) ?? 0) + (1 - decay) * m);
    // The row statistics normalised by their mean over the second-largest axis.
    const rowNorm = new Map<string, number>();
    for (let i = 0; i < n; i++) {
      const idx = indexOf(i, shape);
      const kk = key(idx, d0, d1);
      if (idx[d0] === 0)
        rowNorm.set(kk, (rowNorm.get(kk) ?? 0) + vRow.get(key(idx, d0))! / shape[d1]!);
    }
    return g.map((x, i) => {
      const idx = indexOf(i, shape);
      const r = vRow.get(key(idx, d0))! / rowNorm.get(key(idx, d0, d1))!;
      return x / Math.sqrt(r) / Math.sqrt(vCol.get(key(idx, d1))!);
    });
  });
}

/** Our updates of successive gradients of one parameter `w`, and the state's statistics' shapes. */
function ours(shape: number[], grads: number[][], options: ScaleByAdafactorOptions) {
  const tx = scaleByAdafactor(options);
  const params = { w: tf.zeros(shape) };
  let state = tx.init(params);
  const stats = {
    vRow: state.vRow.w?.shape,
    vCol: state.vCol.w?.shape,
    v: state.v.w?.shape,
  };
  const out = grads.map((g) => {
    const grad = { w: tf.tensor(g, shape) };
    const { updates, state: next } = tx.update(grad, state, params);
    expect(updates.w!.shape).toEqual(shape);
    const u = Array.from(updates.w!.dataSync());
    tf.dispose([grad, updates, state as unknown as tf.TensorContainer]);
    state = next;
    return u;
  });
  expect(state.count).toBe(grads.length);
  tf.dispose([params, state as unknown as tf.TensorContainer]);
  return { out, stats };
}

const CLOSE = { rtol: 1e-4, atol: 1e-6 };

describe('scaleByAdafactor by hand', () => {
  it.each([
    // shape, options, the statistics' shapes (vRow, vCol) or undefined when unfactored
    ['[2, 3]', [2, 3], { minDimSizeToFactor: 2 }, [[2], [3]]],
    ['[3, 2]', [3, 2], { minDimSizeToFactor: 2 }, [[2], [3]]],
    ['[3, 3] (tie)', [3, 3], { minDimSizeToFactor: 3 }, [[3], [3]]],
    [
      '[4, 2, 3]',
      [4, 2, 3],
      { minDimSizeToFactor: 2 },
      [
        [2, 3],
        [4, 2],
      ],
    ],
    [
      '[3, 4, 2]',
      [3, 4, 2],
      { minDimSizeToFactor: 2 },
      [
        [3, 2],
        [4, 2],
      ],
    ],
    [
      '[3, 3, 3] (three-way tie: the last two axes)',
      [3, 3, 3],
      { minDimSizeToFactor: 3 },
      [
        [3, 3],
        [3, 3],
      ],
    ],
    [
      '[2, 1, 3, 2] (size-1 axis)',
      [2, 1, 3, 2],
      { minDimSizeToFactor: 2 },
      [
        [2, 1, 2],
        [2, 1, 3],
      ],
    ],
    ['[2, 3] below minDimSizeToFactor', [2, 3], { minDimSizeToFactor: 3 }, undefined],
    ['[2, 3] not factored', [2, 3], { minDimSizeToFactor: 1, factored: false }, undefined],
    ['[5] (rank 1)', [5], { minDimSizeToFactor: 1 }, undefined],
    [
      '[2, 3] decayRate 0.5, epsilon 0.1',
      [2, 3],
      { minDimSizeToFactor: 2, decayRate: 0.5, epsilon: 0.1 },
      [[2], [3]],
    ],
    [
      '[4] decayRate 0.3, offset 2, epsilon 0.01',
      [4],
      { decayRate: 0.3, decayOffset: 2, epsilon: 0.01 },
      undefined,
    ],
    [
      '[2, 3] decayRate 0: decay 0, the last g²',
      [2, 3],
      { minDimSizeToFactor: 1, decayRate: 0 },
      [[2], [3]],
    ],
  ] as Array<[string, number[], ScaleByAdafactorOptions, number[][] | undefined]>)(
    '%s',
    (_name, shape, options, statShapes) => {
      const grads = [0, 1, 2, 3].map((k) => values(sizeOf(shape), k));
      const { out, stats } = ours(shape, grads, options);
      const hand = adafactorByHand(shape, grads, options);
      for (const [k, row] of out.entries()) expectClose(row, hand[k]!, CLOSE);
      if (statShapes) {
        expect([stats.vRow, stats.vCol]).toEqual(statShapes);
        expect(stats.v).toBeUndefined();
      } else {
        expect(stats.v).toEqual(shape);
        expect(stats.vRow).toBeUndefined();
      }
    },
  );

  it('a zero gradient gives a zero update, not NaN (epsilon in g²)', () => {
    for (const shape of [[2, 3], [4]]) {
      const { out } = ours(shape, [new Array(sizeOf(shape)).fill(0)], { minDimSizeToFactor: 1 });
      expect(out[0]).toEqual(new Array(sizeOf(shape)).fill(0));
    }
  });

  it('huge and tiny gradients: the first step is about sign(g) for a full second moment', () => {
    const { out } = ours([4], [[1e15, -1e15, 1e-10, -3]], {});
    expectClose(out[0]!, [1, -1, 1, -1], { rtol: 1e-3, atol: 0 });
  });

  it('its state keeps the shapes, and rejects gradients of another shape naming them', () => {
    const tx = scaleByAdafactor({ minDimSizeToFactor: 2 });
    const params = { w: tf.zeros([2, 3]), b: tf.zeros([3]) };
    const state = tx.init(params);
    expect(state.shapes).toEqual({ w: [2, 3], b: [3] });
    const transposed = { w: tf.zeros([3, 2]), b: tf.zeros([3]) };
    expect(thrownWithoutLeak(() => tx.update(transposed, state, params)).argument).toBe('grads.w');
    const missing = { w: tf.zeros([2, 3]) };
    expect(thrownWithoutLeak(() => tx.update(missing, state, params)).argument).toBe('grads.b');
    tf.dispose([params, transposed, missing, state as unknown as tf.TensorContainer]);
  });

  it('adds exactly its outputs, factored and not', () => {
    const tx = scaleByAdafactor({ minDimSizeToFactor: 2 });
    const params = { w: tf.zeros([2, 3]), b: tf.zeros([3]), e: tf.zeros([0]) };
    const grads = { w: tf.ones([2, 3]), b: tf.ones([3]), e: tf.zeros([0]) };
    expectNoLeak(() => tx.init(params) as unknown as tf.TensorContainer);
    const state = tx.init(params);
    expectNoLeak(() => tx.update(grads, state, params) as unknown as tf.TensorContainer);
    tf.dispose([params, grads, state as unknown as tf.TensorContainer]);
  });
});

/** The updates of one step of `tx` (the caller disposes them). */
function once<S>(tx: GradientTransformation<S>, grads: Record<string, tf.Tensor>, params = grads) {
  const state = tx.init(params);
  const { updates, state: next } = tx.update(grads, state, params);
  tf.dispose([state as tf.TensorContainer, next as tf.TensorContainer]);
  return updates;
}

describe('clipByBlockRms', () => {
  it('divides each update by max(1, rms / threshold), tensor by tensor', () => {
    tf.tidy(() => {
      // rms([3, 4, 0, 0]) = 2.5; rms([0.3, -0.4]) = 0.3536; rms of a [2, 1, 2] block of 6s = 6.
      const u = once(clipByBlockRms(2), {
        a: tf.tensor([3, 4, 0, 0]),
        b: tf.tensor([0.3, -0.4]),
        c: tf.fill([2, 1, 2], -6),
      });
      expectClose(u.a!, [2.4, 3.2, 0, 0]);
      expectClose(u.b!, [0.3, -0.4]);
      expectClose(u.c!, [-2, -2, -2, -2]);
    });
  });

  it('keeps an update exactly at the threshold, and zeros as zeros', () => {
    tf.tidy(() => {
      const u = once(clipByBlockRms(0.5), { a: tf.tensor([0.5, -0.5]), z: tf.zeros([3]) });
      expectClose(u.a!, [0.5, -0.5], { rtol: 0, atol: 0 });
      expectClose(u.z!, [0, 0, 0], { rtol: 0, atol: 0 });
    });
  });

  it('names itself when an update is not a tensor', () => {
    const tx = clipByBlockRms(1);
    const error = thrownWithoutLeak(() => tx.update({ w: 1 } as never, tx.init({})));
    expect([error.functionName, error.argument]).toEqual(['clipByBlockRms', 'grads.w']);
  });

  it.each([
    ['0', 0],
    ['-1', -1],
    ['NaN', Number.NaN],
  ])('rejects threshold %s', (_n, threshold) => {
    const error = thrownWithoutLeak(() => clipByBlockRms(threshold));
    expect(error.argument).toBe('threshold');
    expect(error.functionName).toBe('clipByBlockRms');
  });
});

describe('scaleByParamBlockRms', () => {
  it('multiplies each update by max(rms(param), minScale)', () => {
    tf.tidy(() => {
      const grads = { a: tf.tensor([1, -2]), b: tf.tensor([1, 1], [1, 2]), z: tf.tensor([5]) };
      const params = { a: tf.tensor([3, -4]), b: tf.fill([1, 2], 1e-4), z: tf.zeros([1]) };
      // rms(a) = 3.5355 (of [3, -4]); rms(b) = 1e-4 < minScale 0.01; rms(z) = 0.
      const u = once(scaleByParamBlockRms(0.01), grads, params);
      expectClose(u.a!, [3.5355339, -7.0710678]);
      expectClose(u.b!, [0.01, 0.01]);
      expectClose(u.z!, [0.05]);
    });
  });

  it('defaults to minScale 1e-3, and minScale 0 lets a zero parameter zero the update', () => {
    tf.tidy(() => {
      const grads = { z: tf.tensor([5, -5]) };
      const params = { z: tf.zeros([2]) };
      expectClose(once(scaleByParamBlockRms(), grads, params).z!, [5e-3, -5e-3]);
      expectClose(once(scaleByParamBlockRms(0), grads, params).z!, [0, 0], { rtol: 0, atol: 0 });
    });
  });

  it('needs the parameters', () => {
    const tx = scaleByParamBlockRms();
    const grads = { w: tf.ones([2]) };
    const error = thrownWithoutLeak(() => tx.update(grads, tx.init(grads)));
    expect(error.argument).toBe('params');
    expect(error.functionName).toBe('scaleByParamBlockRms');
    grads.w.dispose();
  });

  it.each([
    ['-1', -1],
    ['Infinity', Number.POSITIVE_INFINITY],
  ])('rejects minScale %s', (_n, minScale) => {
    const error = thrownWithoutLeak(() => scaleByParamBlockRms(minScale));
    expect([error.functionName, error.argument]).toEqual(['scaleByParamBlockRms', 'minScale']);
  });
});

describe('scaleByAdafactor rejects bad options, naming the argument', () => {
  // biome-ignore lint/suspicious/noExplicitAny: bad options are the point of these tests.
  const bad = (x: unknown) => x as any;
  it.each([
    ['decayRate -0.1', { decayRate: -0.1 }, 'options.decayRate'],
    ['decayRate NaN', { decayRate: Number.NaN }, 'options.decayRate'],
    ['decayOffset -1', { decayOffset: -1 }, 'options.decayOffset'],
    ['decayOffset 1.5', { decayOffset: 1.5 }, 'options.decayOffset'],
    ['minDimSizeToFactor 0', { minDimSizeToFactor: 0 }, 'options.minDimSizeToFactor'],
    ['minDimSizeToFactor 2.5', { minDimSizeToFactor: 2.5 }, 'options.minDimSizeToFactor'],
    ['epsilon 0', { epsilon: 0 }, 'options.epsilon'],
    ['epsilon -1', { epsilon: -1 }, 'options.epsilon'],
    ['factored "yes"', bad({ factored: 'yes' }), 'options.factored'],
    ['an unknown key', bad({ beta1: 0.9 }), 'options.beta1'],
  ] as Array<[string, ScaleByAdafactorOptions, string]>)('%s', (_n, options, argument) => {
    const error = thrownWithoutLeak(() => scaleByAdafactor(options));
    expect(error.argument).toBe(argument);
    expect(error.functionName).toBe('scaleByAdafactor');
  });

  it('accepts the edges: decayRate 0, decayOffset 0, minDimSizeToFactor 1', () => {
    expect(() =>
      scaleByAdafactor({ decayRate: 0, decayOffset: 0, minDimSizeToFactor: 1 }),
    ).not.toThrow();
  });
});
