import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import { it } from 'vitest';
import {
  adam,
  adamw,
  applyUpdates,
  chain,
  clipByGlobalNorm,
  type GradientTransformation,
  sgd,
  type TensorMap,
} from '../../src/index';
import { treeLeaves } from '../../src/tree/leaves';
import { describeEachBackend } from '../helpers/backends';
import { expectClose } from '../helpers/close';
import { runs } from './support';

const TOL = { rtol: 2e-4, atol: 1e-6 };

/** 1-3 named parameters of shape [1-3, 1-4], and `steps` gradient maps for them (plain numbers). */
const problems = fc
  .array(fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 4 })), {
    minLength: 1,
    maxLength: 3,
  })
  .chain((shapes) => {
    const values = (scale: number) =>
      fc.tuple(
        ...shapes.map(([r, c]) =>
          // Multiples of 1e-3: no float32 underflow in g² (1e-30² is 0 in float32, not in float64).
          fc.array(
            fc.integer({ min: -scale * 1000, max: scale * 1000 }).map((x) => x / 1000),
            { minLength: r * c, maxLength: r * c },
          ),
        ),
      );
    return fc.record({
      shapes: fc.constant(shapes),
      params: values(2),
      grads: fc.array(values(5), { minLength: 1, maxLength: 4 }),
    });
  });

type Problem = { shapes: Array<[number, number]>; params: number[][]; grads: number[][][] };

const toMap = (p: Problem, values: number[][]): TensorMap =>
  Object.fromEntries(values.map((v, i) => [`p${i}`, tf.tensor(v, p.shapes[i]!)]));

/**
 * Runs `optimizer` over the problem's gradient maps (params updated each
 * step) and returns the final params as arrays.
 */
function runOptimizer(optimizer: GradientTransformation<unknown>, p: Problem): number[][] {
  let params = toMap(p, p.params);
  let state = optimizer.init(params);
  for (const g of p.grads) {
    const grads = toMap(p, g);
    const { updates, state: next } = optimizer.update(grads, state, params);
    const updated = applyUpdates(params, updates);
    tf.dispose([...Object.values(grads), ...Object.values(updates), ...Object.values(params)]);
    tf.dispose(treeLeaves(state));
    params = updated;
    state = next;
  }
  tf.dispose(treeLeaves(state));
  const out = Object.values(params).map((t) => Array.from(t.dataSync()));
  tf.dispose(Object.values(params));
  return out;
}

/** Global-norm clipping by hand: every gradient times min(1, maxNorm / norm). */
function clipByHand(grads: number[][], maxNorm: number): number[][] {
  const norm = Math.sqrt(grads.flat().reduce((s, g) => s + g * g, 0));
  const factor = maxNorm / Math.max(norm, maxNorm);
  return grads.map((g) => g.map((x) => x * factor));
}

/** Adam(W) by the formulas of Kingma & Ba and Loshchilov & Hutter, in float64. */
function adamByHand(
  p: Problem,
  o: { lr: number; b1: number; b2: number; eps: number; decoupled: number; clip?: number },
): number[][] {
  const params = p.params.map((v) => v.slice());
  const m = params.map((v) => v.map(() => 0));
  const v2 = params.map((v) => v.map(() => 0));
  p.grads.forEach((raw, step) => {
    const grads = o.clip === undefined ? raw : clipByHand(raw, o.clip);
    const t = step + 1;
    params.forEach((param, i) => {
      param.forEach((x, j) => {
        const g = grads[i]![j]!;
        m[i]![j] = o.b1 * m[i]![j]! + (1 - o.b1) * g;
        v2[i]![j] = o.b2 * v2[i]![j]! + (1 - o.b2) * g * g;
        const mHat = m[i]![j]! / (1 - o.b1 ** t);
        const vHat = v2[i]![j]! / (1 - o.b2 ** t);
        param[j] = x - o.lr * (mHat / (Math.sqrt(vHat) + o.eps) + o.decoupled * x);
      });
    });
  });
  return params;
}

const hyper = fc.record({
  lr: fc.double({ min: 1e-4, max: 0.5, noNaN: true }),
  b1: fc.constantFrom(0, 0.5, 0.9),
  b2: fc.constantFrom(0.9, 0.99, 0.999),
  eps: fc.constantFrom(1e-8, 1e-6, 1e-3),
  clip: fc.double({ min: 0.01, max: 20, noNaN: true }),
});

describeEachBackend('property: optimizer chains == hand-composed updates', () => {
  it('chain(clipByGlobalNorm(c), sgd(lr)) == g · min(1, c/‖g‖) · -lr, step by step (30 runs)', () => {
    fc.assert(
      fc.property(problems, hyper, (p, h) => {
        const result = runOptimizer(
          chain(
            clipByGlobalNorm(h.clip),
            sgd({ learningRate: h.lr }),
          ) as GradientTransformation<unknown>,
          p,
        );
        const expected = p.params.map((v) => v.slice());
        for (const raw of p.grads) {
          clipByHand(raw, h.clip).forEach((g, i) => {
            g.forEach((x, j) => {
              expected[i]![j]! -= h.lr * x;
            });
          });
        }
        result.forEach((r, i) => {
          expectClose(r, expected[i]!, TOL);
        });
      }),
      runs(30),
    );
  });

  it('chain(clipByGlobalNorm(c), adam(...)) == clip then the Adam formula (30 runs)', () => {
    fc.assert(
      fc.property(problems, hyper, (p, h) => {
        const optimizer = chain(
          clipByGlobalNorm(h.clip),
          adam({ learningRate: h.lr, b1: h.b1, b2: h.b2, epsilon: h.eps }),
        );
        const result = runOptimizer(optimizer as GradientTransformation<unknown>, p);
        const expected = adamByHand(p, { ...h, decoupled: 0 });
        result.forEach((r, i) => {
          expectClose(r, expected[i]!, TOL);
        });
      }),
      runs(30),
    );
  });

  it('adamw == the AdamW formula with decoupled decay, 1-4 steps (30 runs)', () => {
    fc.assert(
      fc.property(
        problems,
        hyper,
        fc.double({ min: 0, max: 0.5, noNaN: true }),
        (p, h, weightDecay) => {
          const optimizer = adamw({
            learningRate: h.lr,
            b1: h.b1,
            b2: h.b2,
            epsilon: h.eps,
            weightDecay,
          });
          const result = runOptimizer(optimizer as GradientTransformation<unknown>, p);
          const { clip: _clip, ...noClip } = h;
          const expected = adamByHand(p, { ...noClip, decoupled: weightDecay });
          result.forEach((r, i) => {
            expectClose(r, expected[i]!, TOL);
          });
        },
      ),
      runs(30),
    );
  });
});
