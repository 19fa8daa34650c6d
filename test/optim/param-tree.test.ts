import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { TfjsBlocksError } from '../../src/errors';
import {
  adadelta,
  adafactor,
  adagrad,
  adam,
  adamax,
  adamw,
  addDecayedWeights,
  applyIfFinite,
  applyUpdates,
  chain,
  clipByGlobalNorm,
  clipByValue,
  createOptimizer,
  type DecoderLmParams,
  decoderLm,
  emaParams,
  flattenParams,
  type GradientTransformation,
  gpt2Config,
  initDecoderLm,
  lamb,
  lion,
  masked,
  multiSteps,
  multiTransform,
  nadam,
  paramsToVariables,
  radam,
  rmsprop,
  scaleByTrustRatio,
  sgd,
  softmaxCrossEntropy,
  type TensorMap,
  trace,
  unflattenParams,
} from '../../src/index';
import { treeLeaves } from '../../src/tree/leaves';
import { describeRejections } from '../helpers/rejections';

describe('flattenParams / unflattenParams', () => {
  it('names tensors by dotted path, through records and arrays, skipping numbers', () => {
    const a = tf.zeros([2]);
    const b = tf.ones([3, 1]);
    const c = tf.scalar(5);
    const tree = { layers: [{ kernel: b, scale: 2 }], norm: { gamma: a }, step: c, rate: 0.5 };
    const flat = flattenParams(tree);
    expect(Object.keys(flat).sort()).toEqual(['layers.0.kernel', 'norm.gamma', 'step']);
    expect(flat['layers.0.kernel']).toBe(b);

    const replaced = { 'layers.0.kernel': tf.fill([3, 1], 7), 'norm.gamma': a, step: c };
    const rebuilt = unflattenParams(tree, replaced);
    expect(rebuilt.layers[0]!.kernel).toBe(replaced['layers.0.kernel']);
    expect(rebuilt.layers[0]!.scale).toBe(2);
    expect(rebuilt.rate).toBe(0.5);
    expect(Array.isArray(rebuilt.layers)).toBe(true);
    tf.dispose([a, b, c, replaced['layers.0.kernel']]);
  });

  it('paramsToVariables copies every tensor into a variable, keeping the structure', () => {
    const init = { dense: { kernel: tf.ones([2, 2]), units: 2 }, norms: [tf.zeros([2])] };
    const { params, variables } = paramsToVariables(init, {
      trainable: false,
      namePrefix: `copy${Date.now()}`,
    });
    expect(Object.keys(variables).sort()).toEqual(['dense.kernel', 'norms.0']);
    expect(params.dense.kernel).toBe(variables['dense.kernel']);
    expect(params.dense.units).toBe(2);
    expect(params.norms[0]).toBeInstanceOf(tf.Variable);
    expect(variables['dense.kernel']!.trainable).toBe(false);
    expect(variables['dense.kernel']!.name).toMatch(/^copy\d+\/dense\.kernel$/);
    tf.dispose(init.dense.kernel); // the variables are copies
    expect(Array.from(variables['dense.kernel']!.dataSync())).toEqual([1, 1, 1, 1]);
    tf.dispose([init.norms, Object.values(variables)]);
  });

  it('trains a nested model through createOptimizer and variables named by path', () => {
    const config = gpt2Config({ vocabSize: 8, maxLength: 6, dModel: 8, numLayers: 1, numHeads: 2 });
    const template = initDecoderLm(config, 3);
    const variables = Object.fromEntries(
      Object.entries(flattenParams(template)).map(([n, t]) => [n, tf.variable(t, true)]),
    );
    const ids = tf.tensor2d([[1, 2, 3, 4, 5, 6]], [1, 6], 'int32');
    const next = tf.tensor2d([[2, 3, 4, 5, 6, 7]], [1, 6], 'int32');
    const loss = () =>
      softmaxCrossEntropy(
        decoderLm(config, unflattenParams(template, variables) as DecoderLmParams, ids),
        next,
      ) as tf.Scalar;
    const optimizer = createOptimizer(adamw({ learningRate: 1e-2 }), variables);
    const first = tf.tidy(() => loss().dataSync()[0]!);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 20; i++) optimizer.minimize(loss);
    expect(tf.memory().numTensors).toBe(before);
    expect(tf.tidy(() => loss().dataSync()[0]!)).toBeLessThan(first * 0.7);
    optimizer.dispose();
    tf.dispose([Object.values(flattenParams(template)), Object.values(variables), ids, next]);
  });
});

describeRejections('flattenParams / unflattenParams reject', () => {
  const kernel = tf.zeros([2, 2]);
  return [
    ['a non-object', () => flattenParams(3), /flattenParams: params must be a tensor/],
    [
      'a missing tensor',
      () => unflattenParams({ dense: { kernel } }, {}),
      /unflattenParams: values\["dense.kernel"\] must be a tensor; got nothing/,
    ],
    [
      'a tensor of another shape',
      () => unflattenParams({ dense: { kernel } }, { 'dense.kernel': tf.zeros([2, 3]) }),
      /values\["dense.kernel"\] must be shape \[2, 2\]; got shape \[2, 3\]/,
    ],
  ];
});

/** Read as a key, never as the accessor. */
const PROTO = '__proto__';

describe('parameter names that are also Object.prototype keys', () => {
  // Python state dicts and user records may use any string as a name.
  const hostile = ['constructor', 'toString', '__proto__'] as const;
  /** A map whose own keys are exactly `names` (`__proto__` included, as JSON.parse makes it). */
  function named(names: readonly string[], make: (i: number) => tf.Tensor): TensorMap {
    return Object.fromEntries(names.map((n, i) => [n, make(i)]));
  }

  // Every ready optimizer, and every wrapper that keeps its own records of names.
  const updatesOf: [string, () => GradientTransformation<unknown>][] = [
    ['sgd', () => sgd({ learningRate: 0.5 })],
    ['sgd with momentum', () => sgd({ learningRate: 0.5, momentum: 0.9 })],
    ['adamw', () => adamw({ learningRate: 0.5, weightDecay: 0.1 })],
    ['adam', () => adam({ learningRate: 0.5 })],
    ['adamax', () => adamax({ learningRate: 0.5 })],
    ['nadam', () => nadam({ learningRate: 0.5 })],
    ['radam', () => radam({ learningRate: 0.5 })],
    ['adagrad', () => adagrad({ learningRate: 0.5 })],
    ['adadelta', () => adadelta({ learningRate: 0.5 })],
    ['rmsprop', () => rmsprop({ learningRate: 0.5 })],
    ['lion', () => lion({ learningRate: 0.5 })],
    ['lamb', () => lamb({ learningRate: 0.5 })],
    ['adafactor', () => adafactor({ learningRate: 0.5 })],
    [
      'a chain of clips, trace, trust ratio and EMA',
      () =>
        chain(
          clipByGlobalNorm(10),
          clipByValue(10),
          trace({ decay: 0.5 }),
          scaleByTrustRatio(),
          emaParams({ decay: 0.5 }),
          sgd({ learningRate: 0.5 }),
        ),
    ],
    [
      'masked',
      () =>
        chain(
          masked(addDecayedWeights(0.1), () => true),
          sgd({ learningRate: 0.5 }),
        ),
    ],
    ['multiTransform', () => multiTransform({ a: sgd({ learningRate: 0.5 }) }, () => 'a')],
    ['multiSteps', () => multiSteps(sgd({ learningRate: 0.5 }), 1)],
    ['applyIfFinite', () => applyIfFinite(sgd({ learningRate: 0.5 }))],
  ];
  for (const [label, optimizer] of updatesOf) {
    it(`${label} updates params named ${hostile.join(', ')}, with no leak`, () => {
      const params = named(hostile, (i) => tf.fill([2], i + 1));
      const grads = named(hostile, () => tf.ones([2]));
      const transform = optimizer();
      const before = tf.memory().numTensors;
      const state = transform.init(params);
      const { updates, state: next } = transform.update(grads, state, params);
      const stepped = applyUpdates(params, updates);
      expect(Object.keys(stepped).sort()).toEqual([...hostile].sort());
      for (const name of hostile) {
        expect(Object.hasOwn(stepped, name), name).toBe(true);
        const moved = Array.from(stepped[name]!.dataSync());
        const start = hostile.indexOf(name) + 1;
        for (const v of moved) expect(v, name).toBeLessThan(start);
      }
      // The `__proto__` update is an entry, not the record's prototype.
      expect(Object.hasOwn(updates, '__proto__')).toBe(true);
      tf.dispose([Object.values(updates), Object.values(stepped), treeLeaves(state)]);
      tf.dispose(treeLeaves(next));
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([Object.values(params), Object.values(grads)]);
    });

    it(`${label} rejects an extra gradient named toString, or a missing one named constructor`, () => {
      const params = named(['w'], () => tf.ones([2]));
      const transform = optimizer();
      const state = transform.init(params);
      const before = tf.memory().numTensors;
      const extra = named(['w', 'toString'], () => tf.ones([2]));
      let error: unknown;
      try {
        transform.update(extra, state, params);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(TfjsBlocksError);
      expect((error as TfjsBlocksError).argument).toBe('grads.toString');
      const constructorParams = named(['constructor'], () => tf.ones([2]));
      const state2 = transform.init(constructorParams);
      const missing = named(['w'], () => tf.ones([2]));
      error = undefined;
      try {
        transform.update(missing, state2, constructorParams);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(TfjsBlocksError);
      // Before: Object.prototype.constructor was taken for the gradient.
      expect((error as TfjsBlocksError).argument).toBe('grads.constructor');
      expect((error as TfjsBlocksError).actual).toBe('nothing');
      expect(tf.memory().numTensors).toBe(before + 4 + treeLeaves(state2).length);
      tf.dispose([Object.values(extra), Object.values(missing), Object.values(params)]);
      tf.dispose([treeLeaves(state), treeLeaves(state2), Object.values(constructorParams)]);
    });
  }

  it('flattenParams and unflattenParams keep keys named __proto__, constructor and toString', () => {
    const t = [tf.ones([1]), tf.ones([2]), tf.zeros([2])];
    const tree = JSON.parse('{"__proto__": {"constructor": 0}, "toString": 1}');
    tree[PROTO].constructor = t[0];
    tree.toString = t[1];
    const flat = flattenParams(tree);
    expect(Object.keys(flat).sort()).toEqual(['__proto__.constructor', 'toString']);
    expect(Object.getPrototypeOf(flat)).toBe(null);
    const rebuilt = unflattenParams(tree, { ...flat, toString: t[2]! } as TensorMap);
    expect(Object.hasOwn(rebuilt, '__proto__')).toBe(true);
    expect(rebuilt[PROTO].constructor).toBe(t[0]);
    expect(rebuilt.toString).toBe(t[2]);
    // A value missing for `constructor` is reported, not read from Object.prototype.
    expect(() => unflattenParams({ constructor: t[0] }, {})).toThrow(/values\["constructor"\]/);
    tf.dispose(t);
  });
});

describeRejections('paramsToVariables rejects unknown option keys', () => [
  [
    'a misspelt trainable',
    () => paramsToVariables({ w: tf.zeros([1]) }, { trainabel: false } as never),
    /options.trainabel must be one of the known options \(did you mean 'trainable'\?\)/,
  ],
]);
