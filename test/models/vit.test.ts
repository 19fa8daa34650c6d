import '@tensorflow/tfjs-layers'; // registers tfjs-core's gradients in Node
import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import { softmaxCrossEntropy } from '../../src/losses/softmax-cross-entropy';
import { initVit, type VitConfig, type VitParams, vit } from '../../src/models/vit';
import { initPatchEmbedding, patchEmbedding } from '../../src/nn/patch-embedding';
import { createOptimizer } from '../../src/optim/create-optimizer';
import { adamw } from '../../src/optim/optimizers/adam';
import { describeEachBackend } from '../helpers/backends';
import { expectClose } from '../helpers/close';
import { expectGradientsMatchFiniteDifferences } from '../helpers/gradcheck';
import { expectNoLeak } from '../helpers/leaks';
import { flattenParams, unflattenParams } from '../helpers/params';
import { describeRejections } from '../helpers/rejections';

const tiny: VitConfig = {
  imageSize: 8,
  patchSize: 4,
  channels: 1,
  dModel: 16,
  numLayers: 1,
  numHeads: 2,
  hidden: 32,
  numClasses: 2,
  pooling: 'cls',
};

/** 8×8 images bright on the left half (class 0) or the right half (class 1), plus noise. */
function brightSideImages(count: number, seed: number) {
  return tf.tidy(() => {
    const labels = Array.from({ length: count }, (_, i) => i % 2);
    const column = tf.range(0, 8);
    const left = tf.cast(tf.less(column, 4), 'float32'); // [8]
    const masks = labels.map((l) => (l === 0 ? left : tf.sub(1, left)));
    const bright = tf.reshape(tf.stack(masks), [count, 1, 8, 1]);
    const images = tf.add(
      tf.tile(bright, [1, 8, 1, 1]),
      tf.randomNormal([count, 8, 8, 1], 0, 0.3, 'float32', seed),
    ) as tf.Tensor4D;
    return { images, labels: tf.tensor1d(labels, 'int32') };
  });
}

describeEachBackend('patchEmbedding and vit', () => {
  it('patchEmbedding equals a stride-patchSize conv2d with the reshaped kernel', () => {
    tf.tidy(() => {
      const config = { patchSize: 2, channels: 3, dModel: 5 };
      const params = initPatchEmbedding(config, 1);
      params.bias = tf.randomNormal([5], 0, 1, 'float32', 2) as tf.Tensor1D;
      const images = tf.randomNormal([2, 4, 6, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
      const filter = tf.reshape(params.kernel, [2, 2, 3, 5]) as tf.Tensor4D;
      const conv = tf.add(tf.conv2d(images, filter, 2, 'valid'), params.bias); // [2, 2, 3, 5]
      const tokens = patchEmbedding(config, params, images);
      expect(tokens.shape).toEqual([2, 6, 5]);
      expectClose(tokens, tf.reshape(conv, [2, 6, 5]), { rtol: 1e-5, atol: 1e-5 });
    });
  });

  it('patchEmbedding is differentiable w.r.t. images and kernel', () => {
    tf.tidy(() => {
      const config = { patchSize: 2, channels: 2, dModel: 3 };
      const params = initPatchEmbedding(config, 4);
      const images = tf.randomNormal([1, 4, 4, 2], 0, 1, 'float32', 5);
      const w = tf.randomNormal([1, 4, 3], 0, 1, 'float32', 6);
      expectGradientsMatchFiniteDifferences(
        (im, k) =>
          tf.sum(
            tf.mul(
              patchEmbedding(
                config,
                { kernel: k as tf.Tensor2D, bias: params.bias },
                im as tf.Tensor4D,
              ),
              w,
            ),
          ) as tf.Scalar,
        [images, params.kernel],
      );
    });
  });

  for (const pooling of ['cls', 'mean'] as const) {
    it(`vit (${pooling} pooling) returns [batch, numClasses] logits; dropout only in training`, () => {
      tf.tidy(() => {
        const config = { ...tiny, pooling, numLayers: 2, dropoutRate: 0.5 };
        const params = initVit(config, 1);
        expect(params.positionEmbedding.shape).toEqual([pooling === 'cls' ? 5 : 4, 16]);
        expect(params.clsToken === undefined).toBe(pooling === 'mean');
        const images = tf.randomNormal([3, 8, 8, 1], 0, 1, 'float32', 2) as tf.Tensor4D;
        const logits = vit(config, params, images);
        expect(logits.shape).toEqual([3, 2]);
        expectClose(vit({ ...config, dropoutRate: 0 }, params, images), logits, {
          rtol: 0,
          atol: 0,
        });
        const a = vit(config, params, images, { training: true, seed: 3 });
        expectClose(vit(config, params, images, { training: true, seed: 3 }), a, {
          rtol: 0,
          atol: 0,
        });
        expect(tf.max(tf.abs(tf.sub(a, logits))).dataSync()[0]).toBeGreaterThan(1e-4);
      });
    });
  }

  it('a tiny ViT learns bright-left vs bright-right with createOptimizer(adamw)', () => {
    const { images, labels } = brightSideImages(16, 7);
    const initial = initVit(tiny, 0);
    const variables = Object.fromEntries(
      Object.entries(flattenParams(initial)).map(([k, t]) => [k, tf.variable(t, true, `vit/${k}`)]),
    );
    tf.dispose(Object.values(flattenParams(initial)));
    const params = unflattenParams(initial as VitParams, variables);
    const lossOf = () => softmaxCrossEntropy(vit(tiny, params, images), labels) as tf.Scalar;
    const first = tf.tidy(() => lossOf().dataSync()[0]!);
    const optimizer = createOptimizer(adamw({ learningRate: 1e-2, weightDecay: 0 }), variables);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 30; i++) optimizer.minimize(lossOf);
    expect(tf.memory().numTensors).toBe(before);
    const last = tf.tidy(() => lossOf().dataSync()[0]!);
    expect(last).toBeLessThan(first / 2);
    const accuracy = tf.tidy(
      () =>
        tf
          .mean(tf.cast(tf.equal(tf.argMax(vit(tiny, params, images), -1), labels), 'float32'))
          .dataSync()[0]!,
    );
    expect(accuracy).toBe(1);
    optimizer.dispose();
    tf.dispose([images, labels, Object.values(variables)]);
  });

  it('leaves no tensor behind', () => {
    const params = initVit(tiny, 1);
    const images = tf.randomNormal([2, 8, 8, 1]) as tf.Tensor4D;
    expectNoLeak(() => vit(tiny, params, images));
    expectNoLeak(() => tf.grad((im) => tf.sum(vit(tiny, params, im as tf.Tensor4D)))(images));
    const patchConfig = { patchSize: 4, channels: 1, dModel: 16 };
    expectNoLeak(() => patchEmbedding(patchConfig, params.patchEmbedding, images));
    expectNoLeak(() => initVit({ ...tiny, pooling: 'mean' }, 2));
    tf.dispose([images, params] as tf.TensorContainer);
  });
});

describeRejections('patchEmbedding and vit reject bad input with a TfjsBlocksError', () => [
  [
    'image size not divisible by the patch size (patchEmbedding)',
    () =>
      tf.tidy(() =>
        patchEmbedding(
          { patchSize: 4, channels: 1, dModel: 2 },
          initPatchEmbedding({ patchSize: 4, channels: 1, dModel: 2 }, 0),
          tf.zeros([1, 8, 6, 1]),
        ),
      ),
    /images must be of height and width divisible by the patch size 4; got shape \[1, 8, 6, 1\]/,
  ],
  [
    'image size not divisible by the patch size (initVit)',
    () => initVit({ ...tiny, imageSize: 10 }, 0),
    /config.imageSize must be divisible by config.patchSize \(4\); got 10/,
  ],
  [
    'images of another size than the config',
    () => tf.tidy(() => vit(tiny, initVit(tiny, 0), tf.zeros([1, 12, 12, 1]))),
    /images must be of shape \[batch, 8, 8, 1\]; got \[1, 12, 12, 1\]/,
  ],
  [
    'channels that do not match the kernel',
    () =>
      tf.tidy(() =>
        patchEmbedding(
          { patchSize: 2, channels: 3, dModel: 2 },
          initPatchEmbedding({ patchSize: 2, channels: 3, dModel: 2 }, 0),
          tf.zeros([1, 4, 4, 2]),
        ),
      ),
    /params.kernel.shape\[0\] must be patchSize² · channels with channels = images.shape\[3\] = 2; got 12/,
  ],
  [
    'unknown pooling',
    () => initVit({ ...tiny, pooling: 'max' as never }, 0),
    /config.pooling must be 'cls' or 'mean'; got max/,
  ],
]);
