// The per-parameter transforms by hand (issue 22): the PyTorch trajectories
// in test/optim/parity.test.ts cover one configuration each on rank-1 and
// rank-2 parameters; these replay four steps of each rule in float64, with
// options away from their defaults and combined, on rank-3, size-1 and
// empty parameters, with zero, negative and large gradients.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  emaParams,
  type GradientTransformation,
  scaleByAdadelta,
  scaleByAdagrad,
  scaleByAdamax,
  scaleByLion,
  scaleByNadam,
  scaleByRadam,
  scaleByRms,
  trace,
} from '../../../src/index';
import { expectClose } from '../../helpers/close';
import { expectNoLeak } from '../../helpers/leaks';

/** Gradients of a [2, 1, 2] parameter (rank 3, a size-1 axis): zero, negative, large entries. */
const GRADS = [
  [0.5, -2, 0, 30],
  [-1, 3, 1e-3, -30],
  [0.1, -0.1, 4, 0],
  [0, 0, -1, 2],
];
const SHAPE = [2, 1, 2];

/**
 * The updates of successive gradients through `tx` (parameter `w` of SHAPE,
 * a size-1 `b` fed the first entry, and an empty `e`); also returns the
 * final state's tensors as arrays, by path, for rules that keep a moment
 * worth checking.
 */
function trajectory<S>(
  tx: GradientTransformation<S>,
  grads: number[][],
  paramValues: number[][] = grads.map(() => [1, -2, 0.5, 3]),
): number[][] {
  let params: Record<string, tf.Tensor> = {
    w: tf.tensor(paramValues[0]!, SHAPE),
    b: tf.tensor([paramValues[0]![0]!]),
    e: tf.zeros([0, 3]),
  };
  let state = tx.init(params);
  const out: number[][] = [];
  grads.forEach((g, k) => {
    const grad = { w: tf.tensor(g, SHAPE), b: tf.tensor([g[0]!]), e: tf.zeros([0, 3]) };
    const { updates, state: next } = tx.update(grad, state, params);
    expect(updates.w!.shape).toEqual(SHAPE);
    expect(updates.e!.shape).toEqual([0, 3]);
    const w = Array.from(updates.w!.dataSync());
    // The size-1 parameter follows the same rule as the first entry of w.
    expectClose(updates.b!, [w[0]!], { rtol: 1e-6, atol: 0 });
    out.push(w);
    tf.dispose([grad, updates, params, state as unknown as tf.TensorContainer]);
    state = next;
    const values = paramValues[k + 1] ?? paramValues[k]!;
    params = { w: tf.tensor(values, SHAPE), b: tf.tensor([values[0]!]), e: tf.zeros([0, 3]) };
  });
  tf.dispose([params, state as unknown as tf.TensorContainer]);
  return out;
}

/** Replays an elementwise rule: `rule(g, slots, t)` updates its slots in place and returns the update. */
function byHand(
  grads: number[][],
  slots: () => Record<string, number>,
  rule: (g: number, s: Record<string, number>, t: number, i: number) => number,
): number[][] {
  const state = grads[0]!.map(() => slots());
  return grads.map((g, k) => g.map((gi, i) => rule(gi, state[i]!, k + 1, i)));
}

const CLOSE = { rtol: 1e-4, atol: 1e-6 };

function expectTrajectory(ours: number[][], hand: number[][]): void {
  expect(ours.length).toBe(hand.length);
  for (const [k, row] of ours.entries()) expectClose(row, hand[k]!, CLOSE);
}

describe('scaleByLion by hand', () => {
  it.each([
    ['defaults', {}],
    ['b1 0.5, b2 0.2', { b1: 0.5, b2: 0.2 }],
    ['b1 0: the sign of the gradient', { b1: 0, b2: 0.9 }],
  ] as Array<[string, { b1?: number; b2?: number }]>)('%s', (_name, options) => {
    const { b1 = 0.9, b2 = 0.99 } = options;
    const hand = byHand(
      GRADS,
      () => ({ m: 0 }),
      (g, s) => {
        const update = Math.sign(b1 * s.m! + (1 - b1) * g);
        s.m = b2 * s.m! + (1 - b2) * g;
        return update;
      },
    );
    expectTrajectory(trajectory(scaleByLion(options), GRADS), hand);
  });

  it('the update is the sign of the interpolation, not of the gradient nor the momentum', () => {
    // m after [10]: 0.1 (b2 0.99 → 0.01 · 10); then g = -1: 0.9 · 0.1 + 0.1 · -1 = -0.01 < 0.
    const ours = trajectory(scaleByLion({ b1: 0.9, b2: 0.99 }), [
      [10, 10, 10, 10],
      [-1, -0.5, -2, 0],
    ]);
    expect(ours[1]).toEqual([-1, 1, -1, 1]);
  });
});

describe('scaleByAdamax by hand', () => {
  it.each([
    ['defaults', {}],
    ['b1 0.5, b2 0.8, epsilon 0.25', { b1: 0.5, b2: 0.8, epsilon: 0.25 }],
  ] as Array<[string, { b1?: number; b2?: number; epsilon?: number }]>)('%s', (_n, options) => {
    const { b1 = 0.9, b2 = 0.999, epsilon = 1e-8 } = options;
    const hand = byHand(
      GRADS,
      () => ({ m: 0, u: 0 }),
      (g, s, t) => {
        s.m = b1 * s.m! + (1 - b1) * g;
        s.u = Math.max(b2 * s.u!, Math.abs(g) + epsilon);
        return s.m / (1 - b1 ** t) / s.u;
      },
    );
    expectTrajectory(trajectory(scaleByAdamax(options), GRADS), hand);
  });
});

describe('scaleByNadam by hand', () => {
  it.each([
    ['defaults', {}],
    [
      'b1 0.8, b2 0.9, epsilon 0.1, momentumDecay 0.5',
      { b1: 0.8, b2: 0.9, epsilon: 0.1, momentumDecay: 0.5 },
    ],
    ['momentumDecay 0: a constant momentum b1 / 2', { momentumDecay: 0 }],
  ] as Array<[string, Record<string, number>]>)('%s', (_n, options) => {
    const { b1 = 0.9, b2 = 0.999, epsilon = 1e-8, momentumDecay = 4e-3 } = options;
    const muAt = (t: number) => b1 * (1 - 0.5 * 0.96 ** (t * momentumDecay));
    const products = [1];
    for (let t = 1; t <= GRADS.length; t++) products.push(products[t - 1]! * muAt(t));
    const hand = byHand(
      GRADS,
      () => ({ m: 0, v: 0 }),
      (g, s, t) => {
        s.m = b1 * s.m! + (1 - b1) * g;
        s.v = b2 * s.v! + (1 - b2) * g * g;
        const product = products[t]!;
        const next = muAt(t + 1);
        const denom = Math.sqrt(s.v / (1 - b2 ** t)) + epsilon;
        return ((g * (1 - muAt(t))) / (1 - product) + (s.m * next) / (1 - product * next)) / denom;
      },
    );
    expectTrajectory(trajectory(scaleByNadam(options), GRADS), hand);
  });
});

/** RAdam by hand: bias-corrected momentum while rho_t <= 5, then the rectified step. */
function radamByHand(
  grads: number[][],
  { b1 = 0.9, b2 = 0.999, epsilon = 1e-8 }: Record<string, number>,
) {
  const rhoInf = 2 / (1 - b2) - 1;
  return byHand(
    grads,
    () => ({ m: 0, v: 0 }),
    (g, s, t) => {
      s.m = b1 * s.m! + (1 - b1) * g;
      s.v = b2 * s.v! + (1 - b2) * g * g;
      const mHat = s.m / (1 - b1 ** t);
      const rho = rhoInf - (2 * t * b2 ** t) / (1 - b2 ** t);
      if (rho <= 5) return mHat;
      const r = Math.sqrt(((rho - 4) * (rho - 2) * rhoInf) / ((rhoInf - 4) * (rhoInf - 2) * rho));
      return (mHat * r * Math.sqrt(1 - b2 ** t)) / (Math.sqrt(s.v) + epsilon);
    },
  );
}

describe('scaleByRadam by hand', () => {
  it('defaults: momentum only for the first steps (rho_t <= 5)', () => {
    expectTrajectory(trajectory(scaleByRadam(), GRADS), radamByHand(GRADS, {}));
  });

  it('b2 0.5: rho_inf = 3, never rectified', () => {
    const options = { b1: 0.5, b2: 0.5 };
    expectTrajectory(trajectory(scaleByRadam(options), GRADS), radamByHand(GRADS, options));
  });

  it('b2 0.9, epsilon 0.5: rectified from step 6 on (rho_6 = 5.4), with the epsilon', () => {
    const grads = Array.from({ length: 8 }, (_, k) => GRADS[k % 4]!.map((g) => g * (k + 1)));
    const options = { b1: 0.8, b2: 0.9, epsilon: 0.5 };
    const ours = trajectory(scaleByRadam(options), grads);
    const hand = radamByHand(grads, options);
    expectTrajectory(ours, hand);
    // Step 5 (rho_5 = 4.6) is plain momentum, step 6 is not.
    const b1 = 0.8;
    let m = 0;
    for (let k = 0; k < 5; k++) m = b1 * m + (1 - b1) * grads[k]![0]!;
    expectClose(ours[4]![0]!, m / (1 - b1 ** 5), CLOSE);
  });
});

describe('scaleByRms by hand', () => {
  it.each([
    ['defaults', {}],
    ['decay 0.5, epsilon 0.1', { decay: 0.5, epsilon: 0.1 }],
    ['centred, decay 0.5, epsilon 0.1', { decay: 0.5, epsilon: 0.1, centered: true }],
    ['centred, defaults', { centered: true }],
  ] as Array<[string, { decay?: number; epsilon?: number; centered?: boolean }]>)(
    '%s',
    (_n, options) => {
      const { decay = 0.99, epsilon = 1e-8, centered = false } = options;
      const hand = byHand(
        GRADS,
        () => ({ sq: 0, avg: 0 }),
        (g, s) => {
          s.sq = decay * s.sq! + (1 - decay) * g * g;
          s.avg = decay * s.avg! + (1 - decay) * g;
          const meanSquare = centered ? s.sq - s.avg * s.avg : s.sq;
          return g / (Math.sqrt(meanSquare) + epsilon);
        },
      );
      expectTrajectory(trajectory(scaleByRms(options), GRADS), hand);
    },
  );

  it('keeps the gradient average only when centred', () => {
    const params = { w: tf.zeros([2]) };
    const plain = scaleByRms().init(params);
    const centred = scaleByRms({ centered: true }).init(params);
    expect(Object.keys(plain.moments)).toEqual(['squareAvg']);
    expect(Object.keys(centred.moments)).toEqual(['squareAvg', 'gradAvg']);
    tf.dispose([
      params,
      plain as unknown as tf.TensorContainer,
      centred as unknown as tf.TensorContainer,
    ]);
  });
});

describe('scaleByAdadelta by hand', () => {
  it.each([
    ['defaults', {}],
    ['rho 0.5, epsilon 0.01', { rho: 0.5, epsilon: 0.01 }],
  ] as Array<[string, { rho?: number; epsilon?: number }]>)('%s', (_n, options) => {
    const { rho = 0.9, epsilon = 1e-6 } = options;
    const hand = byHand(
      GRADS,
      () => ({ sq: 0, delta: 0 }),
      (g, s) => {
        s.sq = rho * s.sq! + (1 - rho) * g * g;
        const delta = (Math.sqrt(s.delta! + epsilon) / Math.sqrt(s.sq + epsilon)) * g;
        s.delta = rho * s.delta! + (1 - rho) * delta * delta;
        return delta;
      },
    );
    expectTrajectory(trajectory(scaleByAdadelta(options), GRADS), hand);
  });
});

describe('scaleByAdagrad by hand', () => {
  it.each([
    ['defaults', {}],
    [
      'initial 0.5, epsilon 0.1, lrDecay 0.25',
      { initialAccumulatorValue: 0.5, epsilon: 0.1, lrDecay: 0.25 },
    ],
  ] as Array<[string, Record<string, number>]>)('%s', (_n, options) => {
    const { initialAccumulatorValue = 0, epsilon = 1e-10, lrDecay = 0 } = options;
    const hand = byHand(
      GRADS,
      () => ({ sum: initialAccumulatorValue }),
      (g, s, t) => {
        s.sum = s.sum! + g * g;
        return g / (Math.sqrt(s.sum) + epsilon) / (1 + (t - 1) * lrDecay);
      },
    );
    expectTrajectory(trajectory(scaleByAdagrad(options), GRADS), hand);
  });
});

describe('trace by hand', () => {
  it.each([
    ['decay 0.9', { decay: 0.9 }],
    ['decay 0.5, dampening 0.25', { decay: 0.5, dampening: 0.25 }],
    ['nesterov, decay 0.5', { decay: 0.5, nesterov: true }],
    ['nesterov with dampening', { decay: 0.5, dampening: 0.5, nesterov: true }],
    ['decay 0: the gradient', { decay: 0 }],
  ] as Array<[string, { decay: number; dampening?: number; nesterov?: boolean }]>)(
    '%s',
    (_n, options) => {
      const { decay, dampening = 0, nesterov = false } = options;
      const hand = byHand(
        GRADS,
        () => ({ b: 0 }),
        (g, s, t) => {
          s.b = t === 1 ? g : decay * s.b! + (1 - dampening) * g;
          return nesterov ? g + decay * s.b : s.b;
        },
      );
      expectTrajectory(trajectory(trace(options), GRADS), hand);
    },
  );
});

describe('emaParams by hand', () => {
  it('averages param + update from the initial parameters, and passes the updates on', () => {
    const decay = 0.75;
    const params = [
      [1, -2, 0.5, 3],
      [2, -1, 0, 3],
      [0, 0, 4, -3],
      [1, 1, 1, 1],
    ];
    const tx = emaParams({ decay });
    const ours = trajectory(tx, GRADS, params);
    expectTrajectory(ours, GRADS);
    // The average itself, after four steps.
    let p: Record<string, tf.Tensor> = { w: tf.tensor(params[0]!, SHAPE) };
    let state = tx.init(p);
    const ema = [...params[0]!];
    GRADS.forEach((g, k) => {
      const grad = { w: tf.tensor(g, SHAPE) };
      const { updates, state: next } = tx.update(grad, state, p);
      for (let i = 0; i < 4; i++) ema[i] = decay * ema[i]! + (1 - decay) * (params[k]![i]! + g[i]!);
      tf.dispose([grad, updates, p, state as unknown as tf.TensorContainer]);
      state = next;
      p = { w: tf.tensor(params[k + 1] ?? params[k]!, SHAPE) };
    });
    expectClose(state.moments.ema.w!, ema, CLOSE);
    expect(state.moments.ema.w!.shape).toEqual(SHAPE);
    tf.dispose([p, state as unknown as tf.TensorContainer]);
  });

  it('the initial average is a copy of the parameters, not the parameters', () => {
    const params = { w: tf.tensor([1, 2]) };
    const state = emaParams({ decay: 0.5 }).init(params);
    expect(state.moments.ema.w).not.toBe(params.w);
    expectClose(state.moments.ema.w!, [1, 2], { rtol: 0, atol: 0 });
    params.w.dispose();
    expectClose(state.moments.ema.w!, [1, 2], { rtol: 0, atol: 0 });
    tf.dispose(state as unknown as tf.TensorContainer);
  });
});

describe('the per-parameter transforms add exactly their outputs', () => {
  it.each([
    ['scaleByLion', () => scaleByLion()],
    ['scaleByAdamax', () => scaleByAdamax()],
    ['scaleByNadam', () => scaleByNadam()],
    ['scaleByRadam', () => scaleByRadam()],
    ['scaleByRms centred', () => scaleByRms({ centered: true })],
    ['scaleByAdadelta', () => scaleByAdadelta()],
    ['scaleByAdagrad', () => scaleByAdagrad({ initialAccumulatorValue: 0.1 })],
    ['trace nesterov', () => trace({ decay: 0.9, nesterov: true })],
    ['emaParams', () => emaParams({ decay: 0.9 })],
  ] as Array<[string, () => GradientTransformation<unknown>]>)('%s', (_n, make) => {
    const tx = make();
    const params = { w: tf.tensor([1, 2, 3], [3, 1]), z: tf.zeros([1]) };
    const grads = { w: tf.tensor([0.5, 0, -4], [3, 1]), z: tf.zeros([1]) };
    expectNoLeak(() => tx.init(params) as tf.TensorContainer);
    const state = tx.init(params);
    // Two steps: the first step of trace copies the gradient, the second mixes.
    const first = tx.update(grads, state, params);
    expectNoLeak(() => tx.update(grads, first.state, params) as unknown as tf.TensorContainer);
    tf.dispose([params, grads, first.updates, state as tf.TensorContainer]);
    tf.dispose(first.state as tf.TensorContainer);
  });
});
