// The unchecked cores behind nn's public functions (what a validated model
// runs per token): the same values as the checked functions, and no leak.
import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import { gelu, geluCore, silu, siluCore } from '../../src/nn/activations';
import {
  embed,
  embedCore,
  initEmbedding,
  tiedOutputProjection,
  tiedOutputProjectionCore,
} from '../../src/nn/embedding';
import {
  type FeedForwardConfig,
  feedForward,
  feedForwardCore,
  initFeedForward,
} from '../../src/nn/feed-forward';
import { layerNorm, layerNormCore } from '../../src/nn/layer-norm';
import { type NormConfig, normalize, normalizeCore } from '../../src/nn/norm';
import { rmsNorm, rmsNormCore } from '../../src/nn/rms-norm';
import { treeLeaves } from '../../src/tree/leaves';
import { describeEachBackend } from '../helpers/backends';
import { expectNoLeak } from '../helpers/leaks';

/** `core()` gives exactly `checked()`'s values and leaves only its output. */
function expectSame(checked: () => tf.Tensor, core: () => tf.Tensor): void {
  const a = checked();
  const b = core();
  expect(b.shape).toEqual(a.shape);
  expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
  tf.dispose([a, b]);
  expectNoLeak(core);
}

describeEachBackend('nn unchecked cores', () => {
  it('layerNormCore, rmsNormCore and normalizeCore == the checked norms', () => {
    const x = tf.randomNormal([2, 3, 4], 0, 1, 'float32', 1);
    const gamma = tf.randomNormal([4], 1, 0.1, 'float32', 2);
    const beta = tf.randomNormal([4], 0, 0.1, 'float32', 3);
    expectSame(
      () => layerNorm(x, gamma, beta, { epsilon: 1e-3 }),
      () => layerNormCore(x, gamma, beta, 1e-3),
    );
    expectSame(
      () => rmsNorm(x, gamma, { unitOffset: true }),
      () => rmsNormCore(x, gamma, 1e-6, true),
    );
    const norms: Array<[NormConfig, { gamma: tf.Tensor1D; beta?: tf.Tensor1D }]> = [
      [{ kind: 'layer' }, { gamma: gamma as tf.Tensor1D, beta: beta as tf.Tensor1D }],
      [{ kind: 'rms', epsilon: 1e-5 }, { gamma: gamma as tf.Tensor1D }],
      [{ kind: 'rms', unitOffset: true }, { gamma: gamma as tf.Tensor1D }],
    ];
    for (const [config, params] of norms) {
      expectSame(
        () => normalize(config, params, x),
        () => normalizeCore(config, params, x),
      );
    }
    tf.dispose([x, gamma, beta]);
  });

  it('geluCore and siluCore == gelu and silu', () => {
    const x = tf.randomNormal([3, 5], 0, 2, 'float32', 4);
    expectSame(
      () => gelu(x),
      () => geluCore(x, 'none'),
    );
    expectSame(
      () => gelu(x, { approximate: 'tanh' }),
      () => geluCore(x, 'tanh'),
    );
    expectSame(
      () => silu(x),
      () => siluCore(x),
    );
    x.dispose();
  });

  it('feedForwardCore == feedForward for every kind and activation', () => {
    const x = tf.randomNormal([2, 3, 6], 0, 1, 'float32', 5);
    const configs: FeedForwardConfig[] = [
      { dModel: 6, hidden: 10, kind: 'mlp', activation: 'gelu' },
      { dModel: 6, hidden: 10, kind: 'mlp', activation: 'relu', useBias: false },
      { dModel: 6, hidden: 10, kind: 'gated', activation: 'silu' },
      { dModel: 6, hidden: 10, kind: 'gated', activation: 'gelu-tanh', useBias: true },
    ];
    configs.forEach((config, i) => {
      const params = initFeedForward(config, i);
      expectSame(
        () => feedForward(config, params, x),
        () => feedForwardCore(config, params, x),
      );
      tf.dispose(treeLeaves(params));
    });
    x.dispose();
  });

  it('embedCore and tiedOutputProjectionCore == embed and tiedOutputProjection', () => {
    const config = { numEmbeddings: 7, embeddingDim: 4 };
    const params = initEmbedding(config, 6);
    const ids = tf.tensor2d([[1, 6, 0]], undefined, 'int32');
    const h = tf.randomNormal([1, 3, 4], 0, 1, 'float32', 7);
    expectSame(
      () => embed(config, params, ids),
      () => embedCore(params.table, ids),
    );
    expectSame(
      () => tiedOutputProjection(config, params, h),
      () => tiedOutputProjectionCore(params.table, h),
    );
    tf.dispose([params.table, ids, h]);
  });
});
