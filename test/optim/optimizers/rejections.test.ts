// Every validation path of the ready-made optimizers (issue 22, mutation
// testing): each bad option is rejected under the optimizer's own name and
// names the option it read (the `argument` field, not just the text); the
// options that select parts of a recipe (momentum, centring, clipping, weight
// decay, LAMB's epsilon) are checked by what they build: the state kept, the
// updates made, whether the parameters are needed. Everything a test checks
// is built inside its `it`, so Stryker's per-test coverage sees the
// construction.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  adadelta,
  adafactor,
  adagrad,
  adam,
  adamax,
  adamw,
  type GradientTransformation,
  lamb,
  lion,
  nadam,
  radam,
  rmsprop,
  sgd,
  type TensorMap,
  treeLeaves,
} from '../../../src/index';
import { expectClose } from '../../helpers/close';
import { thrownBy, thrownWithoutLeak } from '../../helpers/rejections';

type Make = (options: never) => GradientTransformation<unknown>;

const OPTIMIZERS: Array<[string, Make]> = [
  ['sgd', sgd],
  ['adam', adam],
  ['adamw', adamw],
  ['adamax', adamax],
  ['nadam', nadam],
  ['radam', radam],
  ['adagrad', adagrad],
  ['adadelta', adadelta],
  ['rmsprop', rmsprop],
  ['lion', lion],
  ['lamb', lamb],
  ['adafactor', adafactor],
];

/** [optimizer, its constructor, a bad options object, the argument it must name]. */
const BAD_OPTIONS: Array<[string, Make, unknown, string]> = [
  ['sgd', sgd, { nesterov: 'yes' }, 'options.nesterov'],
  ['sgd', sgd, { nesterov: 1, momentum: 0.9 }, 'options.nesterov'],
  ['sgd', sgd, { momentum: 2 }, 'options.momentum'],
  ['sgd', sgd, { momentum: Number.NaN }, 'options.momentum'],
  ['sgd', sgd, { momentum: 0.9, dampening: -0.5 }, 'options.dampening'],
  ['rmsprop', rmsprop, { centered: 'no' }, 'options.centered'],
  ['rmsprop', rmsprop, { momentum: -0.5 }, 'options.momentum'],
  ['rmsprop', rmsprop, { momentum: 1 }, 'options.momentum'],
  ['adafactor', adafactor, { momentum: 1.5 }, 'options.momentum'],
  // Checked before any part is built, whichever part would read it.
  ['adafactor', adafactor, { momentum: 2, decayRate: -1 }, 'options.momentum'],
  ['adafactor', adafactor, { clippingThreshold: 0 }, 'options.clippingThreshold'],
];

describe('the optimizers reject bad options by name', () => {
  it.each(BAD_OPTIONS)('%s(%j) names %s', (fn, make, options, argument) => {
    const error = thrownWithoutLeak(() => make(options as never));
    expect([error.functionName, error.argument]).toEqual([fn, argument]);
  });

  it.each(OPTIMIZERS)('%s names an unknown option and a non-object', (fn, make) => {
    const unknown = thrownWithoutLeak(() => make({ bogus: 1 } as never));
    expect([unknown.functionName, unknown.argument]).toEqual([fn, 'options.bogus']);
    const notObject = thrownWithoutLeak(() => make('fast' as never));
    expect([notObject.functionName, notObject.argument]).toEqual([fn, 'options']);
    const array = thrownWithoutLeak(() => make([] as never));
    expect([array.functionName, array.argument]).toEqual([fn, 'options']);
  });
});

/** One step of `tx` from `params`; the updates as arrays, everything else freed. */
function firstStep(
  tx: GradientTransformation<unknown>,
  params: TensorMap,
  grads: TensorMap,
  withParams = true,
): Record<string, number[]> {
  const state = tx.init(params);
  const { updates, state: next } = tx.update(grads, state, withParams ? params : undefined);
  const out = Object.fromEntries(
    Object.entries(updates).map(([name, u]) => [name, Array.from(u.dataSync())]),
  );
  tf.dispose([updates, state as tf.TensorContainer, next as tf.TensorContainer]);
  return out;
}

const rms = (xs: number[]) => Math.sqrt(xs.reduce((s, x) => s + x * x, 0) / xs.length);

describe('sgd', () => {
  it('without options is plain SGD at 1e-3 with no state but a count', () => {
    const tx = sgd();
    const params = { w: tf.tensor([1, -2]) };
    const grads = { w: tf.tensor([4, -8]) };
    expect(treeLeaves(tx.init(params))).toEqual([]);
    expectClose(firstStep(tx, params, grads).w!, [-4e-3, 8e-3]);
    tf.dispose([params, grads]);
  });

  it('with momentum names a gradient that does not fit the parameters as its own', () => {
    for (const options of [{ momentum: 0.9 }, { momentum: 0.5, nesterov: true }]) {
      const tx = sgd(options);
      const params = { w: tf.zeros([2]) };
      const state = tx.init(params);
      const wrong = { w: tf.zeros([3]) };
      const error = thrownWithoutLeak(() => tx.update(wrong, state, params));
      expect([error.functionName, error.argument]).toEqual(['sgd', 'grads.w']);
      const extra = { w: tf.zeros([2]), v: tf.zeros([2]) };
      const named = thrownWithoutLeak(() => tx.update(extra, state, params));
      expect([named.functionName, named.argument]).toEqual(['sgd', 'grads.v']);
      tf.dispose([params, wrong, extra, state as tf.TensorContainer]);
    }
  });
});

describe('rmsprop keeps the state its options need', () => {
  it.each([
    ['plain', {}, 1],
    ['centred', { centered: true }, 2],
    ['with momentum', { momentum: 0.5 }, 2],
    ['centred with momentum', { centered: true, momentum: 0.5 }, 3],
    ['momentum 0', { momentum: 0, centered: false }, 1],
  ] as Array<[string, object, number]>)('%s: %i tensor(s) per parameter', (_n, options, per) => {
    const params = { w: tf.ones([2, 3]), b: tf.ones([3]) };
    const state = rmsprop(options).init(params);
    expect(treeLeaves(state)).toHaveLength(2 * per);
    tf.dispose([params, state as tf.TensorContainer]);
  });

  it('is uncentred by default: -lr · g / sqrt((1 - alpha) · g²) on the first step', () => {
    const params = { w: tf.tensor([1, -2]) };
    const grads = { w: tf.tensor([3, -0.5]) };
    // sqrt(0.01 · g²) = 0.1 |g|; centred, sqrt(0.01 g² - (0.01 g)²) = 0.0995 |g|.
    expectClose(firstStep(rmsprop({ learningRate: 1 }), params, grads).w!, [-10, 10], {
      rtol: 1e-5,
    });
    expectClose(
      firstStep(rmsprop({ learningRate: 1, centered: true }), params, grads).w!,
      [-1 / Math.sqrt(0.0099), 1 / Math.sqrt(0.0099)],
      { rtol: 1e-5 },
    );
    tf.dispose([params, grads]);
  });
});

describe('lamb', () => {
  it('defaults epsilon to 1e-6 (not scaleByAdam’s 1e-8) and takes a given one', () => {
    // Gradients near epsilon: the Adam direction g / (|g| + eps) depends on eps
    // unevenly across entries, so the trust ratio does not cancel it.
    const params = { w: tf.tensor([1, 2]) };
    const grads = { w: tf.tensor([1e-7, 1e-5]) };
    const step = (options: object) =>
      firstStep(lamb({ learningRate: 1, ...options }), params, grads).w!;
    // Direction d = g / (|g| + eps), rescaled to ‖p‖ = √5: the update is -√5 · d / ‖d‖.
    const expected = (eps: number) => {
      const d = [1e-7 / (1e-7 + eps), 1e-5 / (1e-5 + eps)];
      const norm = Math.hypot(d[0]!, d[1]!);
      return d.map((x) => (-Math.sqrt(5) * x) / norm);
    };
    expectClose(step({}), expected(1e-6), { rtol: 1e-4 });
    expectClose(step({ epsilon: 1e-3 }), expected(1e-3), { rtol: 1e-4 });
    expectClose(step({ epsilon: 1e-8 }), expected(1e-8), { rtol: 1e-4 });
    tf.dispose([params, grads]);
  });
});

describe('adafactor builds only the parts its options select', () => {
  const GRADS = [
    [4, 4, 0.5],
    [0.5, 0.5, 0.5],
  ];

  it('clippingThreshold null clips nothing; the default 1 clips the update to RMS 1', () => {
    const params = { w: tf.ones([2, 3]) };
    const grads = { w: tf.tensor(GRADS) };
    const options = { multiplyByParameterScale: false, learningRate: 1, minDimSizeToFactor: 2 };
    // The factored estimate underrates the small corner: the raw update's RMS is about 2.08.
    const raw = firstStep(adafactor({ ...options, clippingThreshold: null }), params, grads).w!;
    expect(rms(raw)).toBeGreaterThan(2);
    const clipped = firstStep(adafactor(options), params, grads).w!;
    expect(rms(clipped)).toBeCloseTo(1, 5);
    expectClose(
      clipped,
      raw.map((u) => u / rms(raw)),
      { rtol: 1e-5 },
    );
    tf.dispose([params, grads]);
  });

  it('without weight decay or the parameter scale it steps without the parameters', () => {
    const params = { w: tf.ones([2, 3]) };
    const grads = { w: tf.tensor(GRADS) };
    for (const weightDecay of [undefined, 0]) {
      const tx = adafactor({ multiplyByParameterScale: false, weightDecay });
      const without = firstStep(tx, params, grads, false).w!;
      expectClose(without, firstStep(tx, params, grads).w!, { rtol: 0, atol: 0 });
    }
    tf.dispose([params, grads]);
  });

  it('weight decay needs the parameters and says so under its own name', () => {
    const params = { w: tf.ones([2, 3]) };
    const grads = { w: tf.tensor(GRADS) };
    const tx = adafactor({ multiplyByParameterScale: false, weightDecay: 0.1 });
    const state = tx.init(params);
    const error = thrownWithoutLeak(() => tx.update(grads, state));
    expect([error.functionName, error.argument]).toEqual(['adafactor', 'params']);
    tf.dispose([params, grads, state as tf.TensorContainer]);
  });

  it('its momentum names a state that does not fit the gradients', () => {
    const options = { momentum: 0.5, multiplyByParameterScale: false, clippingThreshold: null };
    const tx = adafactor(options);
    const params = { w: tf.ones([2, 3]) };
    const other = { v: tf.ones([2, 3]) };
    const grads = { w: tf.tensor(GRADS) };
    const state = tx.init(params) as unknown[];
    const foreign = tx.init(other) as unknown[];
    // The momentum's part of the state (the last) comes from another model.
    const mixed = [...state.slice(0, -1), foreign.at(-1)];
    const error = thrownWithoutLeak(() => tx.update(grads, mixed, params));
    expect(error.functionName).toBe('adafactor');
    expect(error.argument).toMatch(/^grads\./);
    tf.dispose([params, other, grads, state as tf.TensorContainer, foreign as tf.TensorContainer]);
  });
});

describe('every optimizer steps on rank 0 to 3, size-1 and empty parameters', () => {
  it.each(OPTIMIZERS)('%s', (_fn, make) => {
    const params = {
      s: tf.scalar(0.5),
      v: tf.tensor([1, -2, 3]),
      one: tf.ones([1, 1]),
      c: tf.tensor([1, -1, 2, -2, 0.5, -0.5, 3, -3], [2, 1, 4]),
      e: tf.zeros([0, 3]),
    };
    const grads = {
      s: tf.scalar(-1),
      v: tf.tensor([0.5, 0, -4]),
      one: tf.fill([1, 1], 2),
      c: tf.tensor([3, -2, 0, 1, -0.25, 8, -1, 0.5], [2, 1, 4]),
      e: tf.zeros([0, 3]),
    };
    const before = tf.memory().numTensors;
    const updates = firstStep(make({} as never), params, grads);
    expect(tf.memory().numTensors).toBe(before);
    for (const [name, p] of Object.entries(params)) {
      expect(updates[name], name).toHaveLength(p.size);
      for (const u of updates[name]!) expect(Number.isFinite(u), name).toBe(true);
    }
    // A nonzero gradient moves its parameter against it (every rule here is sign-preserving on step 1).
    expect(Math.sign(updates.v![2]!)).toBe(1);
    expect(Math.sign(updates.one![0]!)).toBe(-1);
    tf.dispose([params, grads]);
  });
});

describe('a rejected step under the optimizer’s name', () => {
  it.each(OPTIMIZERS)('%s: a gradient named nowhere in the parameters', (_fn, make) => {
    const tx = make({} as never);
    const params = { w: tf.ones([2]) };
    const state = tx.init(params);
    const grads = { w: tf.ones([2]), stray: tf.ones([2]) };
    const error = thrownBy(() => tx.update(grads, state, params));
    expect(error.argument).toMatch(/stray|^params/);
    tf.dispose([params, grads, state as tf.TensorContainer]);
  });
});
