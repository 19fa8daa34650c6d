import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  type EncoderDecoderConfig,
  encoderDecoder,
  initEncoderDecoder,
  runDecoder,
  softmaxCrossEntropy,
  treeLeavesWithPath,
} from '../../src/index';
import { expectClose } from '../helpers/close';
import { expectNoLeak } from '../helpers/leaks';
import { thrownWithoutLeak } from '../helpers/rejections';

const config: EncoderDecoderConfig = {
  sourceVocabSize: 6,
  targetVocabSize: 7,
  maxLength: 8,
  numEncoderLayers: 2,
  numDecoderLayers: 2,
  block: {
    dModel: 8,
    numHeads: 2,
    norm: { kind: 'layer' },
    feedForward: { hidden: 16, kind: 'mlp', activation: 'gelu' },
    dropoutRate: 0.2,
    attentionDropoutRate: 0.1,
  },
};
const source = tf.tensor2d(
  [
    [1, 2, 3, 4],
    [5, 1, 0, 0],
  ],
  undefined,
  'int32',
);
const sourceMask = tf.tensor2d([
  [1, 1, 1, 1],
  [1, 1, 0, 0],
]);
const input = tf.tensor2d(
  [
    [0, 3, 4],
    [0, 6, 2],
  ],
  undefined,
  'int32',
);
const target = tf.tensor2d(
  [
    [3, 4, 1],
    [6, 2, 1],
  ],
  undefined,
  'int32',
);

describe('encoderDecoder with gradient checkpointing', () => {
  const params = initEncoderDecoder(config, 1);
  const leaves = treeLeavesWithPath(params).map(([, t]) => t);
  const grads = (gradientCheckpointing: boolean) =>
    tf.tidy(() =>
      tf.grads(() =>
        softmaxCrossEntropy(
          encoderDecoder(config, params, source, input, {
            sourceMask,
            training: true,
            seed: 2,
            gradientCheckpointing,
          }),
          target,
        ),
      )(leaves),
    );

  it("every param's gradient (the encoder's through the decoder's cross-attention) equals the plain path's", () => {
    const plain = grads(false);
    const ckpt = grads(true);
    expect(ckpt.length).toBe(plain.length);
    ckpt.forEach((g, i) => {
      expectClose(g, plain[i]!, { rtol: 1e-5, atol: 1e-5 });
    });
    tf.dispose([plain, ckpt]);
  });

  it('trainable sees encoder.i. and decoder.i. paths', () => {
    const seen: string[] = [];
    const trainable = (path: string) => {
      seen.push(path);
      return true;
    };
    tf.dispose(
      encoderDecoder(config, params, source, input, { gradientCheckpointing: { trainable } }),
    );
    const blockPaths = treeLeavesWithPath(params)
      .map(([path]) => path)
      .filter((path) => /^(encoder|decoder)\./.test(path));
    expect([...seen].sort()).toEqual([...blockPaths].sort());
    expect(seen).toContain('decoder.1.crossAttention.value.kernel');
  });

  it('adds only its outputs', () => {
    expectNoLeak(() => grads(true));
  });

  it('bad options name options.gradientCheckpointing', () => {
    const memory = tf.zeros([2, 4, 8]) as tf.Tensor3D;
    const self = [0, 1].map(() => ({
      key: tf.zeros([2, 2, 8, 4]) as tf.Tensor4D,
      value: tf.zeros([2, 2, 8, 4]) as tf.Tensor4D,
    }));
    for (const call of [
      () => encoderDecoder(config, params, source, input, { gradientCheckpointing: [] as never }),
      () =>
        runDecoder(config, params, input, memory, {
          cache: { self, index: 0 },
          gradientCheckpointing: true,
        }),
    ]) {
      expect(thrownWithoutLeak(call).argument).toBe('options.gradientCheckpointing');
    }
    tf.dispose([memory, ...self.flatMap((c) => [c.key, c.value])]);
  });
});
