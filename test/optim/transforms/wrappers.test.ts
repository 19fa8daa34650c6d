// The wrappers (masked, multiTransform, multiSteps, applyIfFinite) and the
// decay, trust-ratio and learning-rate transforms at their edges (issue 22):
// map and predicate masks, empty groups, k = 1, ±Infinity and empty
// gradient maps, zero norms, and a rejection naming the argument for every
// validation path.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  addDecayedWeights,
  applyIfFinite,
  type GradientTransformation,
  mapUpdatesTransform,
  masked,
  multiSteps,
  multiTransform,
  scaleByAdam,
  scaleByLearningRate,
  scaleByTrustRatio,
  sgd,
  type TensorMap,
  trace,
  weightDecayMask,
} from '../../../src/index';
import { expectClose } from '../../helpers/close';
import { expectNoLeak } from '../../helpers/leaks';
import { thrownWithoutLeak } from '../../helpers/rejections';

// biome-ignore lint/suspicious/noExplicitAny: bad arguments are the point of these tests.
const bad = (x: unknown) => x as any;
const t = (values: number[], shape?: number[]) => tf.tensor(values, shape);
const valuesOf = (x: tf.Tensor) => Array.from(x.dataSync());

/** Runs `tx` over successive gradient maps; returns each step's updates as arrays, by name. */
function run<S>(
  tx: GradientTransformation<S>,
  steps: Array<Record<string, number[]>>,
  params: Record<string, number[]>,
): { updates: Array<Record<string, number[]>>; states: unknown[] } {
  const p = Object.fromEntries(Object.entries(params).map(([k, v]) => [k, t(v)]));
  let state = tx.init(p);
  const out: Array<Record<string, number[]>> = [];
  const states: unknown[] = [];
  for (const g of steps) {
    const grads = Object.fromEntries(Object.entries(g).map(([k, v]) => [k, t(v)]));
    const { updates, state: next } = tx.update(grads, state, p);
    out.push(Object.fromEntries(Object.entries(updates).map(([k, u]) => [k, valuesOf(u)])));
    states.push(
      JSON.parse(JSON.stringify(next, (_k, v) => (v instanceof tf.Tensor ? valuesOf(v) : v))),
    );
    tf.dispose([grads, updates, state as unknown as tf.TensorContainer]);
    state = next;
  }
  tf.dispose([p, state as unknown as tf.TensorContainer]);
  return { updates: out, states };
}

describe('addDecayedWeights', () => {
  it('adds rate · param to every update, or to the masked ones (map or predicate)', () => {
    const params = { w: [1, -2], b: [4] };
    const grads = { w: [0.5, 0.5], b: [1] };
    expect(run(addDecayedWeights(0.5), [grads], params).updates[0]).toEqual({
      w: [1, -0.5],
      b: [3],
    });
    expect(run(addDecayedWeights(0.5, { w: true, b: false }), [grads], params).updates[0]).toEqual({
      w: [1, -0.5],
      b: [1],
    });
    expect(
      run(
        addDecayedWeights(0.5, (name) => name === 'b'),
        [grads],
        params,
      ).updates[0],
    ).toEqual({ w: [0.5, 0.5], b: [3] });
  });

  it('rate 0 passes the updates through as fresh tensors (an infinite parameter adds no NaN)', () => {
    const tx = addDecayedWeights(0);
    const params = { w: t([Number.POSITIVE_INFINITY, 2]) };
    const grads = { w: t([3, 4]) };
    const { updates, state } = tx.update(grads, tx.init(params), params);
    expect(updates.w).not.toBe(grads.w);
    expect(valuesOf(updates.w!)).toEqual([3, 4]);
    expect(state).toEqual({ count: 1 });
    tf.dispose([params, grads, updates]);
  });

  it('rejects a negative or NaN rate, a bad mask, a missing mask entry and missing params', () => {
    expect(thrownWithoutLeak(() => addDecayedWeights(-0.1)).argument).toBe('rate');
    expect(thrownWithoutLeak(() => addDecayedWeights(Number.NaN)).argument).toBe('rate');
    expect(thrownWithoutLeak(() => addDecayedWeights(0.1, bad([true]))).argument).toBe('mask');
    expect(thrownWithoutLeak(() => addDecayedWeights(0.1, bad('all'))).argument).toBe('mask');
    expect(thrownWithoutLeak(() => addDecayedWeights(0.1, bad({ w: 1 }))).argument).toBe('mask.w');
    const params = { w: t([1]), b: t([2]) };
    const tx = addDecayedWeights(0.1, { w: true });
    expect(thrownWithoutLeak(() => tx.update(params, tx.init(params), params)).argument).toBe(
      'mask.b',
    );
    const plain = addDecayedWeights(0.1);
    expect(thrownWithoutLeak(() => plain.update(params, plain.init(params))).argument).toBe(
      'params',
    );
    const short = { w: t([1]) };
    expect(thrownWithoutLeak(() => plain.update(params, plain.init(params), short)).argument).toBe(
      'params.b',
    );
    tf.dispose([params, short]);
  });
});

describe('weightDecayMask', () => {
  it('decays tensors of rank >= 2 whose names do not mark a bias, norm or embedding', () => {
    tf.tidy(() => {
      const matrix = tf.zeros([2, 2]);
      const cube = tf.zeros([1, 2, 2]);
      for (const name of ['dense.kernel', 'kernel', 'attn.c_proj.weight', 'kiln.w', 'column.w']) {
        expect(weightDecayMask(name, matrix), name).toBe(true);
      }
      expect(weightDecayMask('conv.kernel', cube)).toBe(true);
      for (const name of [
        'dense.bias',
        'BIAS',
        'final_norm.w',
        'ln_f.w',
        'h.0.ln_1.w',
        'block.ln.w',
        'wte.embedding',
        'Embed',
        'layer.gamma',
        'layer.beta',
      ]) {
        expect(weightDecayMask(name, matrix), name).toBe(false);
      }
      expect(weightDecayMask('dense.kernel', tf.zeros([4]))).toBe(false);
      expect(weightDecayMask('scalar', tf.scalar(1))).toBe(false);
    });
  });

  it('rejects a name that is not a string and a param that is not a tensor', () => {
    const x = tf.zeros([2, 2]);
    const name = thrownWithoutLeak(() => weightDecayMask(bad(3), x));
    expect([name.functionName, name.argument]).toEqual(['weightDecayMask', 'name']);
    const param = thrownWithoutLeak(() => weightDecayMask('w', bad([1, 2])));
    expect([param.functionName, param.argument]).toEqual(['weightDecayMask', 'param']);
    x.dispose();
  });
});

describe('scaleByTrustRatio', () => {
  it('scales by ‖param‖ / ‖update‖, or by 1 where either norm is 0', () => {
    const { updates } = run(
      scaleByTrustRatio(),
      [{ w: [3, 4], z: [1, 0], u: [0, 0], m: [-1, 1, -1, 1] }],
      { w: [0, 10], z: [0, 0], u: [5, 5], m: [0, 0, 0, 1] },
    );
    expectClose(updates[0]!.w!, [6, 8]);
    expectClose(updates[0]!.z!, [1, 0]);
    expectClose(updates[0]!.u!, [0, 0], { rtol: 0, atol: 0 });
    expectClose(updates[0]!.m!, [-0.5, 0.5, -0.5, 0.5]);
  });

  it('needs the parameters', () => {
    const tx = scaleByTrustRatio();
    const grads = { w: t([1]) };
    const error = thrownWithoutLeak(() => tx.update(grads, tx.init(grads)));
    expect([error.functionName, error.argument]).toEqual(['scaleByTrustRatio', 'params']);
    grads.w.dispose();
  });
});

describe('scaleByLearningRate', () => {
  it('multiplies by -learningRate; 0 gives zeros', () => {
    expect(run(scaleByLearningRate(0.5), [{ w: [2, -4] }], { w: [0, 0] }).updates[0]!.w).toEqual([
      -1, 2,
    ]);
    const zero = run(scaleByLearningRate(0), [{ w: [2, -4] }], { w: [0, 0] }).updates[0]!.w!;
    expect(zero.map(Math.abs)).toEqual([0, 0]);
  });

  it('rejects a bad rate when made, and a schedule value NaN, Infinity or a string at the step', () => {
    expect(thrownWithoutLeak(() => scaleByLearningRate(-1)).argument).toBe('learningRate');
    expect(thrownWithoutLeak(() => scaleByLearningRate(bad('0.1'))).argument).toBe('learningRate');
    const params = { w: t([1]) };
    for (const value of [Number.NaN, Number.POSITIVE_INFINITY, '0.1', undefined]) {
      const tx = scaleByLearningRate((step) => (step === 1 ? bad(value) : 0.1));
      const first = tx.update(params, tx.init(params), params);
      const error = thrownWithoutLeak(() => tx.update(params, first.state, params));
      expect(error.argument).toBe('learningRate(1)');
      tf.dispose(first.updates);
    }
    const zero = scaleByLearningRate(() => 0);
    expect(() => tf.dispose(zero.update(params, zero.init(params), params).updates)).not.toThrow();
    params.w.dispose();
  });
});

describe('mapUpdatesTransform', () => {
  it('hands on a parameter returned as an update as a fresh handle', () => {
    const tx = mapUpdatesTransform((_u, _step, params) => ({ w: params!.w! }), {
      needsParams: true,
    });
    const params = { w: t([1, 2]) };
    const grads = { w: t([3, 4]) };
    const { updates } = tx.update(grads, tx.init(params), params);
    expect(updates.w).not.toBe(params.w);
    tf.dispose([params, grads]);
    expect(valuesOf(updates.w!)).toEqual([1, 2]);
    updates.w!.dispose();
  });
});

describe('masked', () => {
  it('applies the transform to the masked parameters only; the others pass through', () => {
    const { updates, states } = run(
      masked(scaleByLearningRate(2), { w: true, b: false }),
      [{ w: [1, -1], b: [3] }],
      { w: [0, 0], b: [0] },
    );
    expect(updates[0]).toEqual({ w: [-2, 2], b: [3] });
    expect(states[0]).toEqual({ names: ['w'], inner: { count: 1 } });
  });

  it('gives the inner transform the masked parameters (a stateful one keeps state for those only)', () => {
    const tx = masked(trace({ decay: 0.5 }), (_name, p) => p.rank >= 2);
    const params = { w: t([1, 2], [1, 2]), b: t([1]) };
    const state = tx.init(params);
    expect(Object.keys(state.inner.moments.buffer)).toEqual(['w']);
    const grads = { w: t([1, 1], [1, 2]), b: t([5]) };
    const first = tx.update(grads, state, params);
    const second = tx.update(grads, first.state, params);
    expect(valuesOf(second.updates.w!)).toEqual([1.5, 1.5]);
    expect(valuesOf(second.updates.b!)).toEqual([5]);
    expect(second.updates.b).not.toBe(grads.b);
    tf.dispose([params, grads, first.updates, second.updates]);
    tf.dispose([state, first.state, second.state] as unknown as tf.TensorContainer);
  });

  it('rejects gradients missing a masked parameter, naming it', () => {
    const tx = masked(scaleByAdam(), () => true);
    const params = { w: t([1]), b: t([2]) };
    const state = tx.init(params);
    const grads = { w: t([1]) };
    expect(thrownWithoutLeak(() => tx.update(grads, state, params)).argument).toBe('grads.b');
    tf.dispose([params, grads, state as unknown as tf.TensorContainer]);
  });
});

describe('multiTransform', () => {
  it('labels by map or function; a label with no parameters is kept with an empty state', () => {
    const transforms = {
      fast: scaleByLearningRate(1),
      slow: scaleByLearningRate(0.1),
      idle: sgd(),
    };
    const byMap = run(multiTransform(transforms, { w: 'fast', b: 'slow' }), [{ w: [2], b: [2] }], {
      w: [0],
      b: [0],
    });
    expect(byMap.updates[0]!.w).toEqual([-2]);
    expectClose(byMap.updates[0]!.b!, [-0.2]);
    expect((byMap.states[0] as { groups: unknown }).groups).toEqual({
      fast: ['w'],
      slow: ['b'],
      idle: [],
    });
    const byFunction = run(
      multiTransform(transforms, (_n, p) => (p.rank === 2 ? 'fast' : 'slow')),
      [{ b: [2] }],
      { b: [0] },
    );
    expectClose(byFunction.updates[0]!.b!, [-0.2]);
  });

  it('rejects a label that names no transform, an inherited label, extra and missing gradients', () => {
    const transforms = { a: scaleByLearningRate(1) };
    const params = { w: t([1]), v: t([1]) };
    expect(
      thrownWithoutLeak(() => multiTransform(transforms, { w: 'a', v: 'b' }).init(params)).argument,
    ).toBe('labels.v');
    expect(
      thrownWithoutLeak(() => multiTransform(transforms, { w: 'a', v: 'toString' }).init(params))
        .argument,
    ).toBe('labels.v');
    expect(
      thrownWithoutLeak(() => multiTransform(transforms, { w: 'a' }).init(params)).argument,
    ).toBe('labels.v');
    expect(
      thrownWithoutLeak(() => multiTransform(transforms, () => bad(1)).init(params)).argument,
    ).toBe('labels.w');
    const tx = multiTransform(transforms, { w: 'a' });
    const one = { w: t([1]) };
    const state = tx.init(one);
    expect(thrownWithoutLeak(() => tx.update(params, state, params)).argument).toBe('grads.v');
    const none = {};
    expect(thrownWithoutLeak(() => tx.update(none, state, none)).argument).toBe('grads.w');
    tf.dispose([params, one]);
  });

  it('rejects transforms and labels that are not objects', () => {
    for (const transforms of [null, [], 'a']) {
      expect(thrownWithoutLeak(() => multiTransform(bad(transforms), () => 'a')).argument).toBe(
        'transforms',
      );
    }
    for (const labels of [null, [], 'a']) {
      expect(thrownWithoutLeak(() => multiTransform({ a: sgd() }, bad(labels))).argument).toBe(
        'labels',
      );
    }
    expect(
      thrownWithoutLeak(() => multiTransform({ a: sgd(), b: bad({ init() {} }) }, () => 'a'))
        .argument,
    ).toBe('transforms.b');
  });
});

describe('multiSteps', () => {
  it('k = 1 applies every step; k = 2 alternates zeros and the mean, resetting the sum', () => {
    const one = run(multiSteps(sgd({ learningRate: 1 }), 1), [{ w: [1] }, { w: [3] }], { w: [0] });
    expect(one.updates.map((u) => u.w)).toEqual([[-1], [-3]]);
    const two = run(
      multiSteps(sgd({ learningRate: 1 }), 2),
      [{ w: [1, 0] }, { w: [3, -2] }, { w: [5, 0] }, { w: [7, 4] }],
      { w: [0, 0] },
    );
    expect(two.updates.map((u) => u.w)).toEqual([
      [0, 0],
      [-2, 1],
      [0, 0],
      [-6, -2],
    ]);
    expect(two.states.map((s) => (s as { miniStep: number }).miniStep)).toEqual([1, 0, 1, 0]);
    expect(two.states.map((s) => (s as { accumulated: { w: number[] } }).accumulated.w)).toEqual([
      [1, 0],
      [0, 0],
      [5, 0],
      [0, 0],
    ]);
  });

  it('the inner state moves only on the real steps', () => {
    const { states } = run(multiSteps(scaleByAdam(), 2), [{ w: [1] }, { w: [3] }, { w: [1] }], {
      w: [0],
    });
    const counts = states.map((s) => (s as { inner: { count: number } }).inner.count);
    expect(counts).toEqual([0, 1, 1]);
    const mu = states.map(
      (s) => (s as { inner: { moments: { mu: { w: number[] } } } }).inner.moments.mu.w[0]!,
    );
    expect(mu[0]).toBe(0);
    expectClose(mu[1]!, 0.2);
    expectClose(mu[2]!, 0.2);
  });

  it('rejects everyK 0, 1.5 and NaN, and gradients that do not fit', () => {
    for (const k of [0, 1.5, Number.NaN, -2]) {
      expect(thrownWithoutLeak(() => multiSteps(sgd(), k)).argument).toBe('everyK');
    }
    const tx = multiSteps(sgd(), 2);
    const params = { w: t([1, 2]) };
    const state = tx.init(params);
    const wrong = { w: t([1]) };
    expect(thrownWithoutLeak(() => tx.update(wrong, state, params)).argument).toBe('grads.w');
    tf.dispose([params, wrong, state as unknown as tf.TensorContainer]);
  });
});

describe('applyIfFinite', () => {
  it('skips NaN, +Infinity and -Infinity steps, counting them in a row and in all', () => {
    const { updates, states } = run(
      applyIfFinite(sgd({ learningRate: 1 })),
      [
        { w: [1, 2], b: [1] },
        { w: [Number.POSITIVE_INFINITY, 0], b: [1] },
        { w: [1, 0], b: [Number.NEGATIVE_INFINITY] },
        { w: [0.5, 0], b: [1] },
        { w: [1, 0], b: [Number.NaN] },
      ],
      { w: [0, 0], b: [0] },
    );
    expect(updates.map((u) => [...u.w!, ...u.b!].map(Math.abs))).toEqual([
      [1, 2, 1],
      [0, 0, 0],
      [0, 0, 0],
      [0.5, 0, 1],
      [0, 0, 0],
    ]);
    expect(
      states.map((s) => {
        const { notFiniteCount, totalNotFinite, lastFinite } = s as Record<string, unknown>;
        return [notFiniteCount, totalNotFinite, lastFinite];
      }),
    ).toEqual([
      [0, 0, true],
      [1, 1, false],
      [2, 2, false],
      [0, 2, true],
      [1, 3, false],
    ]);
  });

  it('starts finite with no skips, and names itself when given no transformation', () => {
    const tx = applyIfFinite(scaleByLearningRate(1));
    expect(tx.init({})).toEqual({
      inner: { count: 0 },
      notFiniteCount: 0,
      totalNotFinite: 0,
      lastFinite: true,
    });
    for (const [wrap, name] of [
      [() => applyIfFinite(bad(null)), 'applyIfFinite'],
      [() => masked(bad({ init: () => 0 }), () => true), 'masked'],
      [() => multiSteps(bad({ update: () => 0 }), 2), 'multiSteps'],
    ] as Array<[() => unknown, string]>) {
      const error = thrownWithoutLeak(wrap);
      expect([error.functionName, error.argument]).toEqual([name, 'transform']);
    }
  });

  it('an empty gradient map is a finite step', () => {
    const tx = applyIfFinite(scaleByLearningRate(1));
    expectNoLeak(() => {
      const { updates, state } = tx.update({}, tx.init({}), {});
      expect(updates).toEqual({});
      expect(state.lastFinite).toBe(true);
      expect(state.inner).toEqual({ count: 1 });
      return updates as tf.TensorContainer;
    });
  });

  it('a skipped step leaves the inner state as it was, in fresh tensors', () => {
    const tx = applyIfFinite(scaleByAdam());
    const params = { w: t([0]) };
    const first = tx.update({ w: t([1]) } as TensorMap, tx.init(params), params);
    const skipped = tx.update({ w: t([Number.NaN]) }, first.state, params);
    expect(skipped.state.inner.count).toBe(1);
    expect(skipped.state.inner.moments.mu.w).not.toBe(first.state.inner.moments.mu.w);
    expect(valuesOf(skipped.state.inner.moments.mu.w!)).toEqual(
      valuesOf(first.state.inner.moments.mu.w!),
    );
    tf.dispose([params, first.updates, skipped.updates]);
    tf.dispose([first.state, skipped.state] as unknown as tf.TensorContainer);
  });
});
