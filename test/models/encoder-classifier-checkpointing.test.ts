import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  bertConfig,
  encoderClassifier,
  initEncoderClassifier,
  softmaxCrossEntropy,
  treeLeavesWithPath,
} from '../../src/index';
import { expectClose } from '../helpers/close';
import { expectNoLeak } from '../helpers/leaks';
import { thrownWithoutLeak } from '../helpers/rejections';

const base = bertConfig({
  vocabSize: 20,
  maxLength: 8,
  dModel: 8,
  numLayers: 2,
  numHeads: 2,
  numClasses: 3,
  typeVocabSize: 2,
  pooler: 'tanh',
});
const config = { ...base, block: { ...base.block, dropoutRate: 0.2, attentionDropoutRate: 0.1 } };
const ids = tf.tensor2d(
  [
    [2, 7, 9, 4, 3],
    [2, 5, 3, 0, 0],
  ],
  undefined,
  'int32',
);
const labels = tf.tensor1d([0, 2], 'int32');
const paddingMask = tf.tensor2d([
  [1, 1, 1, 1, 1],
  [1, 1, 1, 0, 0],
]);

describe('encoderClassifier with gradient checkpointing', () => {
  const params = initEncoderClassifier(config, 1);
  const leaves = treeLeavesWithPath(params).map(([, t]) => t);
  const grads = (gradientCheckpointing: boolean) =>
    tf.tidy(() =>
      tf.grads(() =>
        softmaxCrossEntropy(
          encoderClassifier(config, params, ids, {
            paddingMask,
            training: true,
            seed: 4,
            gradientCheckpointing,
          }),
          labels,
        ),
      )(leaves),
    );

  it("every param's gradient equals the plain path's (dropout on, padding mask)", () => {
    const plain = grads(false);
    const ckpt = grads(true);
    ckpt.forEach((g, i) => {
      expectClose(g, plain[i]!, { rtol: 1e-5, atol: 1e-5 });
    });
    tf.dispose([plain, ckpt]);
  });

  it('adds only its outputs', () => {
    expectNoLeak(() => grads(true));
  });

  it('a bad option names options.gradientCheckpointing', () => {
    const error = thrownWithoutLeak(() =>
      encoderClassifier(config, params, ids, { gradientCheckpointing: 1 as never }),
    );
    expect(error.argument).toBe('options.gradientCheckpointing');
  });
});
