import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  generate,
  gpt2Config,
  initDecoderLm,
  layerNorm,
  linear,
  rmsNorm,
  scaledDotProductAttention,
  sgd,
  softmaxCrossEntropy,
  TfjsBlocksError,
} from '../../src/index';
import { describeEachBackend } from '../helpers/backends';
import { expectRejected, expectRejectedAsync } from './support';

// Counterexamples found by the invalid-input properties, as plain tests with
// the literal values: each used to return silently or throw a TypeError or a
// tfjs-internal error instead of a TfjsBlocksError.
describeEachBackend('regression: invalid inputs found by the property tests', () => {
  it('attention: a null mask and a disposed bool mask are named (were TypeErrors)', () => {
    tf.tidy(() => {
      const q = tf.zeros([1, 1, 2, 2]) as tf.Tensor4D;
      expectRejected(
        () => scaledDotProductAttention(q, q, q, { mask: null as unknown as tf.Tensor }),
        /^options\.mask$/,
      );
      const mask = tf.ones([2, 2], 'bool');
      mask.dispose();
      expectRejected(() => scaledDotProductAttention(q, q, q, { mask }), /^options\.mask$/);
    });
  });

  it('layerNorm / rmsNorm: a scalar x names x (named gamma.shape[0] = undefined)', () => {
    tf.tidy(() => {
      expectRejected(() => layerNorm(tf.scalar(1), tf.ones([1]), tf.zeros([1])), /^x$/);
      expectRejected(() => rmsNorm(tf.scalar(1), tf.ones([1])), /^x$/);
    });
  });

  it('linear: null params are named (was a TypeError)', () => {
    tf.tidy(() => {
      expectRejected(
        () => linear({ inFeatures: 3, outFeatures: 2 }, null as never, tf.zeros([1, 3])),
        /^params\.kernel$/,
      );
    });
  });

  it('sgd: momentum NaN or -1 and dampening NaN are rejected (were silently plain SGD)', () => {
    expectRejected(() => sgd({ momentum: Number.NaN }), /^options\.momentum$/);
    expectRejected(() => sgd({ momentum: -1 }), /^options\.momentum$/);
    expectRejected(() => sgd({ dampening: Number.NaN }), /^options\.dampening$/);
  });

  it('sgd without momentum: update with gradients that do not fit the params (returned [2, 3] updates)', () => {
    tf.tidy(() => {
      const optimizer = sgd();
      const params = { w: tf.zeros([2, 2]) };
      const state = optimizer.init(params);
      expectRejected(() => optimizer.update({ w: tf.zeros([2, 3]) }, state, params), /^grads\.w$/);
      expectRejected(
        () => optimizer.update({ w: tf.zeros([2, 2]), b: tf.zeros([1]) }, state, params),
        /^grads\.b$/,
      );
      expectRejected(() => optimizer.update(null as never, state, params), /^grads$/);
    });
  });

  it('softmaxCrossEntropy: disposed labels are named (was "Tensor is disposed.")', () => {
    tf.tidy(() => {
      const labels = tf.zeros([2], 'int32');
      labels.dispose();
      expectRejected(() => softmaxCrossEntropy(tf.zeros([2, 3]), labels), /^labels$/);
    });
  });

  it('generate: stopTokens 5, stopTokens [NaN], onToken 5, logitsProcessors 5, useCache "no"', async () => {
    const config = gpt2Config({
      vocabSize: 8,
      maxLength: 12,
      dModel: 8,
      numLayers: 1,
      numHeads: 2,
    });
    const model = { kind: 'decoderLm' as const, config, params: initDecoderLm(config, 1) };
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ stopTokens: 5 }, /^options\.stopTokens$/], // TypeError: number 5 is not iterable
      [{ stopTokens: [Number.NaN] }, /^options\.stopTokens\[0\]$/], // accepted
      [{ onToken: 5 }, /^options\.onToken$/], // TypeError: onToken is not a function
      [{ logitsProcessors: 5 }, /^options\.logitsProcessors$/], // TypeError: spread
      [{ useCache: 'no' }, /^options\.useCache$/], // accepted as true
    ];
    try {
      for (const [options, argument] of cases) {
        await expectRejectedAsync(
          () => generate(model, [[1]], { maxNewTokens: 2, ...options } as never),
          argument,
        );
      }
      // Valid calls still work.
      const [ids] = await generate(model, [[1]], {
        maxNewTokens: 2,
        stopTokens: [],
        temperature: 0,
      });
      expect(ids!.length).toBe(2);
    } finally {
      tf.dispose(model.params as unknown as tf.TensorContainer);
    }
  });
});

describe('regressions: inputs named by the property tests', () => {
  const q = () => tf.zeros([1, 1, 2, 2]) as tf.Tensor4D;
  it('scaledDotProductAttention with options = null names options', () => {
    const x = q();
    const call = () => scaledDotProductAttention(x, x, x, null as unknown as Record<string, never>);
    expect(call).toThrow(TfjsBlocksError);
    expect(call).toThrow(/scaledDotProductAttention: options must be an options object/);
    x.dispose();
  });

  it('sgd with nesterov and no momentum is rejected, as in PyTorch', () => {
    expect(() => sgd({ nesterov: true })).toThrow(/sgd: options.nesterov must be false unless/);
    expect(() => sgd({ nesterov: true, momentum: 0.9, dampening: 0.1 })).toThrow(TfjsBlocksError);
    expect(() => sgd({ nesterov: true, momentum: 0.9 })).not.toThrow();
  });
});
