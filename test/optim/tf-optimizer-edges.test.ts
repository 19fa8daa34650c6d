// TransformOptimizer at its edges (issue 22): learningRateScale, the array
// form of applyGradients, recipes with a clip norm or the weightDecayMask
// name, weights before the first step, fromConfig's checks, and a
// rejection naming the argument for each validation path of the recipe,
// the config and setWeights.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { sgd, TransformOptimizer } from '../../src/index';
import { expectClose } from '../helpers/close';
import { rejectionOf } from '../helpers/rejections';

// biome-ignore lint/suspicious/noExplicitAny: bad arguments are the point of these tests.
const bad = (x: unknown) => x as any;
let counter = 0;
const unique = (base: string) => `${base}_edges_${counter++}`;

describe('TransformOptimizer steps', () => {
  it('learningRateScale multiplies every update; the array form names the variables too', () => {
    const name = unique('w');
    const w = tf.variable(tf.tensor([1, 2]), true, name);
    const opt = new TransformOptimizer(sgd({ learningRate: 1 }));
    tf.tidy(() => opt.applyGradients({ [name]: tf.tensor([1, -1]) }));
    expectClose(w, [0, 3]);
    opt.learningRateScale = 0.5;
    const before = tf.memory().numTensors;
    tf.tidy(() => opt.applyGradients([{ name, tensor: tf.tensor([2, 2]) }]));
    expect(tf.memory().numTensors).toBe(before);
    expectClose(w, [-1, 2]);
    opt.learningRateScale = 0;
    tf.tidy(() => opt.applyGradients({ [name]: tf.tensor([5, 5]) }));
    expectClose(w, [-1, 2]);
    expect(opt.iterations).toBe(3);
    opt.dispose();
    w.dispose();
  });

  it('a recipe with a clip norm clips first; mask "weightDecayMask" stands for the function', () => {
    const wName = unique('kernel');
    const bName = unique('bias');
    const w = tf.variable(tf.ones([2, 2]), true, wName);
    const b = tf.variable(tf.ones([2]), true, bName);
    const opt = new TransformOptimizer({
      optimizer: 'adamw',
      options: { learningRate: 0.1, weightDecay: 0.5, mask: 'weightDecayMask' },
    });
    tf.tidy(() => opt.applyGradients({ [wName]: tf.zeros([2, 2]), [bName]: tf.zeros([2]) }));
    expectClose(w, [0.95, 0.95, 0.95, 0.95]);
    expectClose(b, [1, 1]);
    opt.dispose();
    const clipped = new TransformOptimizer({
      optimizer: 'sgd',
      options: { learningRate: 1 },
      clipByGlobalNorm: 1,
    });
    tf.tidy(() => clipped.applyGradients({ [bName]: tf.tensor([3, 4]) }));
    expectClose(b, [0.4, 0.2]);
    clipped.dispose();
    tf.dispose([w, b]);
  });

  it('rejects a gradient of a variable that is not registered', async () => {
    const opt = new TransformOptimizer(sgd());
    const g = tf.ones([1]);
    const error = await rejectionOf(() => opt.applyGradients({ no_such_variable_edges: g }));
    expect([error.functionName, error.argument]).toEqual([
      'TransformOptimizer.applyGradients',
      'gradients["no_such_variable_edges"]',
    ]);
    g.dispose();
    opt.dispose();
  });
});

describe('TransformOptimizer weights', () => {
  it('before the first step: the step count only, which setWeights takes back', async () => {
    const opt = new TransformOptimizer(sgd());
    const weights = await opt.getWeights();
    expect(weights.map((x) => x.name)).toEqual(['iter']);
    const other = new TransformOptimizer(sgd());
    await other.setWeights(weights);
    expect(other.iterations).toBe(0);
    opt.dispose();
    other.dispose();
  });

  it('rejects weights that are not getWeights() entries, naming the entry', async () => {
    const opt = new TransformOptimizer(sgd());
    const iter = { name: 'iter', tensor: tf.scalar(3) };
    const x = { name: 'x', tensor: tf.ones([1]) };
    const skeleton = (value: tf.Tensor) => ({ name: '__tfjs_blocks_state__', tensor: value });
    const number = tf.scalar(1);
    const notJson = tf.scalar('{not json', 'string');
    const cases: Array<[unknown, string]> = [
      [null, 'weightValues'],
      [{}, 'weightValues'],
      [[null], 'weightValues[0]'],
      [[iter, { tensor: x.tensor }], 'weightValues[1]'],
      [[iter, { name: 'y', tensor: [1] }], 'weightValues["y"]'],
      [[iter, x], 'weightValues'],
      [[iter, x, skeleton(number)], 'weightValues["__tfjs_blocks_state__"]'],
      [[iter, skeleton(notJson)], 'weightValues["__tfjs_blocks_state__"]'],
    ];
    for (const [weights, argument] of cases) {
      const error = await rejectionOf(() => opt.setWeights(bad(weights)));
      expect([error.functionName, error.argument]).toEqual([
        'TransformOptimizer.setWeights',
        argument,
      ]);
    }
    tf.dispose([iter.tensor, x.tensor, number, notJson]);
    opt.dispose();
  });
});

describe('TransformOptimizer recipes and configs', () => {
  it('keeps a deep copy of the recipe, and writes it into the config', () => {
    const options = { learningRate: 0.1, mask: { w: true } };
    const recipe = { optimizer: 'adamw' as const, options };
    const opt = new TransformOptimizer(recipe);
    options.mask.w = false;
    options.learningRate = 9;
    expect(opt.recipe).toEqual({
      optimizer: 'adamw',
      options: { learningRate: 0.1, mask: { w: true } },
    });
    expect(opt.getConfig()).toEqual({
      learningRateScale: 1,
      recipe: '{"optimizer":"adamw","options":{"learningRate":0.1,"mask":{"w":true}}}',
    });
    opt.dispose();
    const custom = new TransformOptimizer(sgd());
    expect(custom.recipe).toBeUndefined();
    custom.learningRateScale = 0.25;
    expect(custom.getConfig()).toEqual({ learningRateScale: 0.25 });
    custom.dispose();
  });

  it('every ready optimizer name builds', () => {
    for (const optimizer of [
      'sgd',
      'adam',
      'adamw',
      'adamax',
      'nadam',
      'radam',
      'adagrad',
      'adadelta',
      'rmsprop',
      'lion',
      'lamb',
      'adafactor',
    ] as const) {
      const opt = new TransformOptimizer({ optimizer });
      expect(opt.recipe).toEqual({ optimizer });
      opt.dispose();
    }
  });

  it('rejects options that are not JSON data, naming the path', async () => {
    const cases: Array<[unknown, string]> = [
      [null, 'recipe.options'],
      [[1], 'recipe.options'],
      ['lr', 'recipe.options'],
      [{ learningRate: Number.NaN }, 'recipe.options.learningRate'],
      [{ learningRate: Number.POSITIVE_INFINITY }, 'recipe.options.learningRate'],
      [{ mask: { a: [true, new Map()] } }, 'recipe.options.mask.a[1]'],
      [{ mask: new Date(0) }, 'recipe.options.mask'],
      [{ b1: undefined }, 'recipe.options.b1'],
      [{ b1: 1n }, 'recipe.options.b1'],
    ];
    for (const [options, argument] of cases) {
      const error = await rejectionOf(
        () => new TransformOptimizer({ optimizer: 'adamw', options: bad(options) }),
      );
      expect([error.functionName, error.argument]).toEqual(['TransformOptimizer', argument]);
    }
    const ok = new TransformOptimizer({
      optimizer: 'adamw',
      options: { learningRate: 0.1, mask: { a: true, b: false } },
    });
    ok.dispose();
  });

  it('rejects a recipe that is not an object or names no optimizer', async () => {
    for (const [recipe, argument] of [
      [[], 'transform'],
      ['adamw', 'transform'],
      [{}, 'recipe.optimizer'],
      [{ optimizer: 3 }, 'recipe.optimizer'],
      [{ optimizer: 'toString' }, 'recipe.optimizer'],
      [{ optimizer: 'sgd', clipByGlobalNorm: -1 }, 'recipe.clipByGlobalNorm'],
      [{ optimizer: 'sgd', clipByGlobalNorm: '1' }, 'recipe.clipByGlobalNorm'],
    ] as Array<[unknown, string]>) {
      const error = await rejectionOf(() => new TransformOptimizer(bad(recipe)));
      expect(error.argument).toBe(argument);
    }
  });

  it('fromConfig checks learningRateScale and the recipe JSON; no recipe means no chain', async () => {
    const scaled = TransformOptimizer.fromConfig(TransformOptimizer, {
      learningRateScale: 0.5,
      recipe: '{"optimizer":"sgd"}',
    }) as TransformOptimizer;
    expect(scaled.learningRateScale).toBe(0.5);
    expect(scaled.recipe).toEqual({ optimizer: 'sgd' });
    scaled.dispose();
    const fn = 'TransformOptimizer.fromConfig';
    for (const [config, argument] of [
      [{ learningRateScale: -1 }, 'config.learningRateScale'],
      [{ learningRateScale: '1' }, 'config.learningRateScale'],
      [{ recipe: '{oops' }, 'config.recipe'],
    ] as Array<[object, string]>) {
      const error = await rejectionOf(() =>
        TransformOptimizer.fromConfig(TransformOptimizer, bad(config)),
      );
      expect([error.functionName, error.argument]).toEqual([fn, argument]);
    }
    // JSON null is no recipe (an optimizer without a chain); other JSON that is no recipe
    // reaches the constructor's checks unchanged.
    const none = TransformOptimizer.fromConfig(TransformOptimizer, {
      recipe: 'null',
    }) as TransformOptimizer;
    expect(none.recipe).toBeUndefined();
    none.dispose();
    for (const [recipe, argument] of [
      ['[1]', 'transform'],
      ['"adamw"', 'transform'],
      ['{"optimizer":"sgd","options":null}', 'recipe.options'],
      ['{"optimizer":"sgd","options":[1]}', 'recipe.options'],
      ['{"optimizer":"sgd","options":"eps"}', 'recipe.options'],
    ] as Array<[string, string]>) {
      const error = await rejectionOf(() =>
        TransformOptimizer.fromConfig(TransformOptimizer, { recipe }),
      );
      expect([error.functionName, error.argument]).toEqual(['TransformOptimizer', argument]);
    }
    const orphan = TransformOptimizer.fromConfig(TransformOptimizer, {}) as TransformOptimizer;
    expect(orphan.recipe).toBeUndefined();
    expect(orphan.learningRateScale).toBe(1);
    const name = unique('orphan');
    const w = tf.variable(tf.zeros([1]), true, name);
    const g = tf.ones([1]);
    const error = await rejectionOf(() => orphan.applyGradients({ [name]: g }));
    expect([error.functionName, error.argument]).toEqual([
      'TransformOptimizer.applyGradients',
      'transform',
    ]);
    tf.dispose([w, g]);
    orphan.dispose();
  });
});

describe('TransformOptimizer follows renamed variables', () => {
  it('keeps the aliases it matched by position: a later step with a subset of them still works', () => {
    const [a, b] = [unique('first_a'), unique('first_b')];
    const va = tf.variable(tf.zeros([2]), true, a);
    const vb = tf.variable(tf.zeros([3]), true, b);
    const opt = new TransformOptimizer(sgd({ learningRate: 1 }));
    tf.tidy(() => opt.applyGradients({ [a]: tf.ones([2]), [b]: tf.ones([3]) }));
    // The same variables under new names (a reloaded model), all of them: matched by position.
    const [a2, b2] = [unique('second_a'), unique('second_b')];
    const va2 = tf.variable(tf.zeros([2]), true, a2);
    const vb2 = tf.variable(tf.zeros([3]), true, b2);
    tf.tidy(() => opt.applyGradients({ [a2]: tf.ones([2]), [b2]: tf.ones([3]) }));
    expectClose(vb2, [-1, -1, -1]);
    // Only one of them now: neither its name nor the count matches, its alias does.
    tf.tidy(() => opt.applyGradients({ [b2]: tf.ones([3]) }));
    expectClose(vb2, [-2, -2, -2]);
    expectClose(va2, [-1, -1]);
    expect(opt.iterations).toBe(3);
    opt.dispose();
    tf.dispose([va, vb, va2, vb2]);
  });
});

describe('TransformOptimizer frees what it replaces', () => {
  it('setWeights frees the old state and the exported weights; dispose frees the rest', async () => {
    const name = unique('mem');
    const w = tf.variable(tf.zeros([4]), true, name);
    const opt = new TransformOptimizer(sgd({ learningRate: 1, momentum: 0.9 }));
    tf.tidy(() => opt.applyGradients({ [name]: tf.ones([4]) }));
    const weights = await opt.getWeights(); // step count, momentum buffer, skeleton
    expect(weights.map((x) => x.name)).toContain('__tfjs_blocks_state__');
    const snapshot = weights.map((x) => ({ name: x.name, tensor: tf.clone(x.tensor) }));
    const before = tf.memory().numTensors;
    await opt.setWeights(snapshot);
    // The two exported tensors (step count, skeleton) are freed; the buffer is replaced by a copy.
    expect(tf.memory().numTensors).toBe(before - 2);
    tf.dispose(snapshot.map((s) => s.tensor));
    const held = tf.memory().numTensors;
    opt.dispose();
    expect(tf.memory().numTensors).toBe(held - 1);
    w.dispose();
  });
});

describe('TransformOptimizer at the edges the mutation run found', () => {
  it('a recipe with an init or update key is no transformation; a function carrying both is neither', async () => {
    const noop = () => undefined;
    const carrying = Object.assign(() => undefined, { init: noop, update: noop });
    for (const [transform, argument] of [
      [{ optimizer: 'sgd', update: noop }, 'recipe.update'],
      [{ optimizer: 'sgd', init: noop }, 'recipe.init'],
      [carrying, 'transform'],
      [{ optimizer: ['sgd'] }, 'recipe.optimizer'],
    ] as Array<[unknown, string]>) {
      const error = await rejectionOf(() => new TransformOptimizer(bad(transform)));
      expect([error.functionName, error.argument]).toEqual(['TransformOptimizer', argument]);
    }
  });

  it('null is JSON data in a recipe: adafactor with clippingThreshold null builds and keeps it', () => {
    const recipe = { optimizer: 'adafactor' as const, options: { clippingThreshold: null } };
    const opt = new TransformOptimizer(recipe);
    expect(opt.recipe).toEqual(recipe);
    expect(opt.getConfig().recipe).toBe(
      '{"optimizer":"adafactor","options":{"clippingThreshold":null}}',
    );
    opt.dispose();
  });

  it('adamw from a recipe without a mask decays every parameter, a rank-1 one included', () => {
    const bName = unique('bias');
    const b = tf.variable(tf.ones([2]), true, bName);
    const opt = new TransformOptimizer({
      optimizer: 'adamw',
      options: { learningRate: 0.1, weightDecay: 0.5 },
    });
    tf.tidy(() => opt.applyGradients({ [bName]: tf.zeros([2]) }));
    expectClose(b, [0.95, 0.95]);
    opt.dispose();
    b.dispose();
  });

  it('a saved recipe option named after an Object.prototype property is kept as it is, for the optimizer to reject', async () => {
    const config = { recipe: '{"optimizer":"sgd","options":{"toString":1}}' };
    const error = await rejectionOf(() =>
      TransformOptimizer.fromConfig(TransformOptimizer, config),
    );
    expect([error.functionName, error.argument]).toEqual(['sgd', 'options.toString']);
  });

  it('setWeights rejects a function entry by its index, though a function has a string name', async () => {
    const opt = new TransformOptimizer(sgd());
    const iter = tf.scalar(0);
    const error = await rejectionOf(() =>
      opt.setWeights(bad([{ name: 'iter', tensor: iter }, function w() {}])),
    );
    expect([error.functionName, error.argument]).toEqual([
      'TransformOptimizer.setWeights',
      'weightValues[1]',
    ]);
    iter.dispose();
    opt.dispose();
  });
});

describe('TransformOptimizer matches gradients to its state', () => {
  /** Variables of sizes 2 and 3 with unique names, and an sgd with momentum (state per variable). */
  function setUp(prefix: string) {
    const [a, b] = [unique(`${prefix}_a`), unique(`${prefix}_b`)];
    const va = tf.variable(tf.zeros([2]), true, a);
    const vb = tf.variable(tf.zeros([3]), true, b);
    const opt = new TransformOptimizer(sgd({ learningRate: 1, momentum: 0.5 }));
    tf.tidy(() => opt.applyGradients({ [a]: tf.ones([2]), [b]: tf.ones([3]) }));
    return { a, b, va, vb, opt };
  }

  it('by name in any order; by position when only some names are known and the count matches', () => {
    const { a, b, va, vb, opt } = setUp('order');
    // By name, in the other order: each variable steps with its own momentum.
    tf.tidy(() => opt.applyGradients({ [b]: tf.ones([3]), [a]: tf.ones([2]) }));
    expectClose(va, [-2.5, -2.5]);
    expectClose(vb, [-2.5, -2.5, -2.5]);
    // a known, c new: not all known, as many as the state has, so by position: c takes b's momentum.
    const c = unique('order_c');
    const vc = tf.variable(tf.zeros([3]), true, c);
    tf.tidy(() => opt.applyGradients({ [a]: tf.zeros([2]), [c]: tf.zeros([3]) }));
    expectClose(va, [-3.25, -3.25]);
    expectClose(vc, [-0.75, -0.75, -0.75]);
    expectClose(vb, [-2.5, -2.5, -2.5]);
    opt.dispose();
    tf.dispose([va, vb, vc]);
  });

  it('setWeights forgets the aliases of the state it replaces', async () => {
    const { va, vb, opt } = setUp('restore');
    // Renamed variables, matched by position: aliases a2 -> a, b2 -> b.
    const [a2, b2] = [unique('restore_a2'), unique('restore_b2')];
    const va2 = tf.variable(tf.zeros([2]), true, a2);
    const vb2 = tf.variable(tf.zeros([3]), true, b2);
    tf.tidy(() => opt.applyGradients({ [a2]: tf.ones([2]), [b2]: tf.ones([3]) }));
    // A state made for a2 and b2 by name: the old aliases must not send them to a and b.
    const other = new TransformOptimizer(sgd({ learningRate: 1, momentum: 0.5 }));
    tf.tidy(() => other.applyGradients({ [a2]: tf.zeros([2]), [b2]: tf.zeros([3]) }));
    await opt.setWeights(await other.getWeights());
    tf.tidy(() => opt.applyGradients({ [a2]: tf.ones([2]), [b2]: tf.ones([3]) }));
    // -1.5 after the step with a's and b's momentum, then -1 with the restored (zero) one.
    expectClose(va2, [-2.5, -2.5]);
    expectClose(vb2, [-2.5, -2.5, -2.5]);
    other.dispose();
    opt.dispose();
    tf.dispose([va, vb, va2, vb2]);
  });

  it('after dispose, a step starts a new state for the variables it is given, forgetting the aliases', () => {
    const { va, vb, opt } = setUp('again');
    const [a2, b2] = [unique('again_a2'), unique('again_b2')];
    const va2 = tf.variable(tf.zeros([2]), true, a2);
    const vb2 = tf.variable(tf.zeros([3]), true, b2);
    tf.tidy(() => opt.applyGradients({ [a2]: tf.ones([2]), [b2]: tf.ones([3]) }));
    const held = tf.memory().numTensors;
    opt.dispose();
    expect(tf.memory().numTensors).toBe(held - 2);
    const c = unique('again_c');
    const vc = tf.variable(tf.zeros([4]), true, c);
    tf.tidy(() => opt.applyGradients({ [a2]: tf.ones([2]), [c]: tf.ones([4]) }));
    // -1.5 after the step with a's momentum, then -1 with a new one.
    expectClose(va2, [-2.5, -2.5]);
    expectClose(vc, [-1, -1, -1, -1]);
    opt.dispose();
    tf.dispose([va, vb, va2, vb2, vc]);
  });
});
