// perParameterTransform's ownership rules (issue 22): a rule may hand back
// the gradient, a moment unchanged, or one tensor as both the update and a
// moment; each result must still be a handle of its own, so that disposing
// the old state, the gradients and the updates never frees another result.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { perParameterTransform } from '../../../src/optim/transforms/per-parameter';
import { expectClose } from '../../helpers/close';
import { expectNoLeak } from '../../helpers/leaks';
import { thrownWithoutLeak } from '../../helpers/rejections';

/** One step of `tx`, then the old state, gradients and params are freed: the results must survive. */
function stepAndFree(rule: Parameters<typeof perParameterTransform<'a' | 'b'>>[0]['rule']) {
  const tx = perParameterTransform<'a' | 'b'>({
    fn: 'custom',
    moments: ['a', 'b'],
    initMoment: (p, m) => tf.fill(p.shape, m === 'a' ? 1 : 2),
    rule,
  });
  const params = { w: tf.tensor([5, 6]) };
  const grads = { w: tf.tensor([3, 4]) };
  const state = tx.init(params);
  const { updates, state: next } = tx.update(grads, state, params);
  const inputs = [grads.w, params.w, state.moments.a.w!, state.moments.b.w!];
  const outputs = [updates.w!, next.moments.a.w!, next.moments.b.w!];
  for (const out of outputs) expect(inputs).not.toContain(out);
  expect(new Set(outputs).size).toBe(3);
  tf.dispose([params, grads, state as unknown as tf.TensorContainer]);
  const values = outputs.map((t) => Array.from(t.dataSync()));
  tf.dispose(outputs);
  return { values, count: next.count };
}

describe('perParameterTransform', () => {
  it('a rule that passes the gradient through as the update', () => {
    const { values } = stepAndFree((g, { a, b }) => ({
      update: g,
      moments: { a: tf.add(a, 1), b: tf.add(b, 1) },
    }));
    expect(values).toEqual([
      [3, 4],
      [2, 2],
      [3, 3],
    ]);
  });

  it('a rule that keeps a moment unchanged, and returns another as the update', () => {
    const { values } = stepAndFree((_g, { a, b }) => ({
      update: b,
      moments: { a, b: tf.mul(b, 2) },
    }));
    expect(values).toEqual([
      [2, 2],
      [1, 1],
      [4, 4],
    ]);
  });

  it('a rule that returns one new tensor as the update and a moment (the update is copied)', () => {
    const { values, count } = stepAndFree((g, { a, b }) => {
      const both = tf.add(g, a);
      return { update: both, moments: { a: both, b: tf.mul(b, 1) } };
    });
    expect(values).toEqual([
      [4, 5],
      [4, 5],
      [2, 2],
    ]);
    expect(count).toBe(1);
  });

  it('a rule with one moment that returns the old moment as the update (the update is copied)', () => {
    const tx = perParameterTransform<'m'>({
      fn: 'custom',
      moments: ['m'],
      initMoment: (p) => tf.fill(p.shape, 7),
      rule: (g, { m }) => ({ update: m, moments: { m: tf.add(m, g) } }),
    });
    const params = { w: tf.tensor([5, 6]) };
    const grads = { w: tf.tensor([3, 4]) };
    const state = tx.init(params);
    const { updates, state: next } = tx.update(grads, state, params);
    expect(updates.w).not.toBe(state.moments.m.w);
    tf.dispose([params, grads, state as unknown as tf.TensorContainer]);
    expectClose(updates.w!, [7, 7], { rtol: 0, atol: 0 });
    expectClose(next.moments.m.w!, [10, 11], { rtol: 0, atol: 0 });
    tf.dispose([updates, next as unknown as tf.TensorContainer]);
  });

  it('a rule with no moments at all: only the step count and numbers carry over', () => {
    const tx = perParameterTransform<never>({
      fn: 'custom',
      moments: [],
      numbers: { initial: { n: 0 }, advance: (count, { n }) => ({ n: n! + count }) },
      rule: (g, _moments, { numbers }) => ({ update: tf.mul(g, numbers.n!), moments: {} }),
    });
    const grads = { w: tf.tensor([1, -2]) };
    const params = { w: tf.zeros([2]) };
    const s0 = tx.init(params);
    expect(s0.moments).toEqual({});
    const first = tx.update(grads, s0);
    const second = tx.update(grads, first.state);
    expectClose(first.updates.w!, [1, -2], { rtol: 0, atol: 0 });
    expectClose(second.updates.w!, [3, -6], { rtol: 0, atol: 0 });
    expect([second.state.count, second.state.numbers]).toEqual([2, { n: 3 }]);
    tf.dispose([params, grads, first.updates, second.updates]);
  });

  it('gets the count, the advanced numbers and the params; adds exactly its outputs', () => {
    const seen: Array<[number, number, number[] | undefined]> = [];
    const tx = perParameterTransform<'m'>({
      fn: 'custom',
      moments: ['m'],
      needsParams: true,
      numbers: { initial: { n: 1 }, advance: (count, { n }) => ({ n: n! * 10 + count }) },
      rule(g, { m }, { count, numbers }, p) {
        seen.push([count, numbers.n!, p && Array.from(p.dataSync())]);
        return { update: tf.mul(g, count), moments: { m: tf.add(m, g) } };
      },
    });
    const params = { w: tf.tensor([1, 2]) };
    const grads = { w: tf.tensor([1, 1]) };
    const s0 = tx.init(params);
    expect(s0.numbers).toEqual({ n: 1 });
    const first = tx.update(grads, s0, params);
    expectNoLeak(() => tx.update(grads, first.state, params) as unknown as tf.TensorContainer);
    const second = tx.update(grads, first.state, params);
    expect(second.state.numbers).toEqual({ n: 112 });
    expect(seen.map(([c, n]) => [c, n])).toEqual([
      [1, 11],
      [2, 112],
      [2, 112],
    ]);
    expect(seen[0]![2]).toEqual([1, 2]);
    expectClose(second.updates.w!, [2, 2]);
    expectClose(second.state.moments.m.w!, [2, 2]);
    const error = thrownWithoutLeak(() => tx.update(grads, s0));
    expect([error.functionName, error.argument]).toEqual(['custom', 'params']);
    tf.dispose([params, grads, first.updates, second.updates]);
    tf.dispose([s0, first.state, second.state] as unknown as tf.TensorContainer);
  });

  it('names a gradient that does not fit the state', () => {
    const tx = perParameterTransform<'m'>({
      fn: 'custom',
      moments: ['m'],
      rule: (g, { m }) => ({ update: tf.clone(g), moments: { m: tf.clone(m) } }),
    });
    const params = { w: tf.zeros([2]) };
    const state = tx.init(params);
    const wrong = { w: tf.zeros([2, 1]) };
    expect(thrownWithoutLeak(() => tx.update(wrong, state, params)).argument).toBe('grads.w');
    const extra = { w: tf.zeros([2]), v: tf.zeros([2]) };
    expect(thrownWithoutLeak(() => tx.update(extra, state, params)).argument).toBe('grads.v');
    tf.dispose([params, wrong, extra, state as unknown as tf.TensorContainer]);
  });
});
