import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import { gelu, initLinear, layerNorm, linear, rmsNorm, silu } from '../../src/index';
import { describeEachBackend } from '../helpers/backends';
import { expectClose } from '../helpers/close';
import { expectMatchesGolden, type GradientGolden, loadGoldens } from '../helpers/goldens';
import { expectGradientsMatchFiniteDifferences } from '../helpers/gradcheck';
import { expectNoLeak } from '../helpers/leaks';
import { describeRejections } from '../helpers/rejections';

type Golden = GradientGolden & { options?: { epsilon: number } };
const goldens = loadGoldens<Record<string, Golden>>('attention');
const TOL = { rtol: 1e-5, atol: 1e-6 };

describeEachBackend('norms and activations vs PyTorch', () => {
  it('layerNorm: value and gradients of x, gamma, beta', () => {
    const g = goldens.layer_norm!;
    expectMatchesGolden(g, ({ x, gamma, beta }) => layerNorm(x!, gamma!, beta!, g.options), TOL);
  });
  it('rmsNorm: value and gradients of x, gamma', () => {
    const g = goldens.rms_norm!;
    expectMatchesGolden(g, ({ x, gamma }) => rmsNorm(x!, gamma!, g.options), TOL);
  });
  it('gelu (exact, erf)', () => {
    expectMatchesGolden(goldens.gelu_exact!, ({ x }) => gelu(x!), TOL);
  });
  it('gelu (tanh approximation)', () => {
    expectMatchesGolden(goldens.gelu_tanh!, ({ x }) => gelu(x!, { approximate: 'tanh' }), TOL);
  });
  it('silu', () => {
    expectMatchesGolden(goldens.silu!, ({ x }) => silu(x!), TOL);
  });

  it('gradients match finite differences', () => {
    tf.tidy(() => {
      const x = tf.randomNormal([3, 8], 0, 1, 'float32', 1);
      const gamma = tf.randomNormal([8], 1, 0.1, 'float32', 2);
      const beta = tf.randomNormal([8], 0, 0.1, 'float32', 3);
      const w = tf.randomNormal([3, 8], 0, 1, 'float32', 4);
      const weighted = (y: tf.Tensor) => tf.sum(tf.mul(y, w)) as tf.Scalar;
      expectGradientsMatchFiniteDifferences(
        (a, b, c) => weighted(layerNorm(a, b!, c!)),
        [x, gamma, beta],
      );
      expectGradientsMatchFiniteDifferences((a, b) => weighted(rmsNorm(a, b!)), [x, gamma]);
      expectGradientsMatchFiniteDifferences((a) => weighted(gelu(a)), [x]);
      expectGradientsMatchFiniteDifferences((a) => weighted(silu(a)), [x]);
    });
  });

  it('leave no tensor behind', () => {
    const x = tf.randomNormal([2, 3, 8]);
    const gamma = tf.ones([8]);
    const beta = tf.zeros([8]);
    expectNoLeak(() => layerNorm(x, gamma, beta));
    expectNoLeak(() => rmsNorm(x, gamma));
    expectNoLeak(() => gelu(x, { approximate: 'tanh' }));
    expectNoLeak(() => silu(x));
    expectNoLeak(() => tf.grads((a, b, c) => tf.sum(layerNorm(a!, b!, c!)))([x, gamma, beta]));
    expectNoLeak(() => tf.grads((a, b) => tf.sum(rmsNorm(a!, b!)))([x, gamma]));
    tf.dispose([x, gamma, beta]);
  });
});

describeEachBackend('linear', () => {
  it('computes x · kernel + bias on any leading shape, seeded', () => {
    tf.tidy(() => {
      const p = initLinear({ inFeatures: 4, outFeatures: 3 }, 7);
      const again = initLinear({ inFeatures: 4, outFeatures: 3 }, 7);
      expectClose(p.kernel, again.kernel, { rtol: 0, atol: 0 });
      const limit = Math.sqrt(6 / 7);
      expect(tf.max(tf.abs(p.kernel)).dataSync()[0]).toBeLessThanOrEqual(limit);
      const bias = tf.tensor1d([1, 2, 3]);
      const x = tf.randomNormal([2, 5, 4]);
      const y = linear({ inFeatures: 4, outFeatures: 3 }, { kernel: p.kernel, bias }, x);
      expect(y.shape).toEqual([2, 5, 3]);
      const expected = tf.add(
        tf.reshape(tf.matMul(tf.reshape(x, [10, 4]), p.kernel), [2, 5, 3]),
        bias,
      );
      expectClose(y, expected, TOL);
    });
  });

  it('leaves no tensor behind', () => {
    const p = initLinear({ inFeatures: 4, outFeatures: 3, useBias: false }, 1);
    expect(p.bias).toBeUndefined();
    const x = tf.randomNormal([2, 5, 4]);
    expectNoLeak(() => linear({ inFeatures: 4, outFeatures: 3, useBias: false }, p, x));
    tf.dispose([p.kernel, x]);
    expectNoLeak(() => initLinear({ inFeatures: 2, outFeatures: 2 }, 0));
  });
});

describeRejections('nn functions reject bad input with a TfjsBlocksError', () => {
  return [
    [
      'layerNorm gamma size',
      () => layerNorm(tf.zeros([2, 4]), tf.ones([3]), tf.zeros([4])),
      /gamma.shape\[0\] must be x's last dimension = 4; got 3/,
    ],
    [
      'layerNorm int x',
      () => layerNorm(tf.zeros([2, 4], 'int32'), tf.ones([4]), tf.zeros([4])),
      /x must be a float32 tensor/,
    ],
    [
      'rmsNorm epsilon',
      () => rmsNorm(tf.zeros([2, 4]), tf.ones([4]), { epsilon: 0 }),
      /options.epsilon must be a finite number in \(0, inf\); got 0/,
    ],
    [
      'gelu approximate',
      () => gelu(tf.zeros([2]), { approximate: 'fast' as 'tanh' }),
      /options.approximate must be 'none' or 'tanh'; got fast/,
    ],
    ['silu bool', () => silu(tf.zeros([2], 'bool')), /x must be a float32 tensor/],
    [
      'linear width',
      () =>
        linear(
          { inFeatures: 3, outFeatures: 2, useBias: false },
          { kernel: tf.zeros([3, 2]) as tf.Tensor2D },
          tf.zeros([2, 4]),
        ),
      /x.shape\[-1\] must be config.inFeatures = 3; got 4/,
    ],
    [
      'initLinear width',
      () => initLinear({ inFeatures: 0, outFeatures: 2 }, 0),
      /config.inFeatures must be an integer >= 1/,
    ],
  ];
});
