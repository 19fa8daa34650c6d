import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  adamw,
  createOptimizer,
  type DecoderLmParams,
  decoderLm,
  flattenParams,
  gpt2Config,
  initDecoderLm,
  paramsToVariables,
  softmaxCrossEntropy,
  unflattenParams,
} from '../../src/index';
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
      /unflattenParams: values\["dense.kernel"\] must be a tensor; got undefined/,
    ],
    [
      'a tensor of another shape',
      () => unflattenParams({ dense: { kernel } }, { 'dense.kernel': tf.zeros([2, 3]) }),
      /values\["dense.kernel"\] must be shape \[2, 2\]; got shape \[2, 3\]/,
    ],
  ];
});
