// RMSNorm scaled by 1 + gamma (Gemma's GemmaRMSNorm), as rmsNorm's option
// `unitOffset` and the norm config's `{kind: 'rms', unitOffset: true}`.
import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import {
  applyNorm,
  initNorm,
  initTransformerDecoderBlock,
  type NormLayerConfig,
  rmsNorm,
  type TransformerBlockConfig,
} from '../../src/index';
import { describeEachBackend } from '../helpers/backends';
import { expectClose } from '../helpers/close';
import { expectNoLeak } from '../helpers/leaks';
import { thrownWithoutLeak } from '../helpers/rejections';

// From transformers 5.18:
//   n = GemmaRMSNorm(4, eps=1e-6); n.weight = [0.5, -0.25, 0, 1]
//   y = n(x); (y * w).sum().backward()
const X = [
  [1.0, -2.0, 3.0, 0.5],
  [0.1, 0.2, -0.3, 0.4],
];
const GAMMA = [0.5, -0.25, 0.0, 1.0];
const W = [
  [1, 2, 3, 4],
  [4, 3, 2, 1],
];
const Y = [
  [0.7947193384170532, -0.7947193384170532, 1.5894386768341064, 0.5298128724098206],
  [0.5477189421653748, 0.5477189421653748, -1.0954378843307495, 2.9211676120758057],
];
const DX = [
  [0.3671512007713318, 1.649855613708496, 0.3067343235015869, 4.024718761444092],
  [20.3873348236084, 5.172941207885742, 11.867183685302734, 1.217233657836914],
];
const DGAMMA = [1.9903967380523682, 0.0716242790222168, 2.5774405002593994, 2.520209550857544];
const TOL = { rtol: 1e-5, atol: 1e-6 };

describeEachBackend('RMSNorm with unitOffset (Gemma)', () => {
  it('rmsNorm(x, gamma, {unitOffset}) == GemmaRMSNorm, values and gradients', () => {
    const x = tf.tensor2d(X);
    const gamma = tf.tensor1d(GAMMA);
    const w = tf.tensor2d(W);
    const y = rmsNorm(x, gamma, { unitOffset: true });
    expectClose(y, Y.flat(), TOL, [2, 4]);
    const [dx, dg] = tf.grads((a: tf.Tensor, g: tf.Tensor) =>
      tf.sum(tf.mul(rmsNorm(a, g, { unitOffset: true }), w)),
    )([x, gamma]);
    expectClose(dx!, DX.flat(), { rtol: 1e-4, atol: 1e-5 }, [2, 4]);
    expectClose(dg!, DGAMMA, { rtol: 1e-4, atol: 1e-5 });
    expectNoLeak(() => rmsNorm(x, gamma, { unitOffset: true }));
    tf.dispose([x, gamma, w, y, dx!, dg!]);
  });

  it('applyNorm with {kind: rms, unitOffset: true} is rmsNorm with 1 + gamma; unitOffset false is the default', () => {
    const config: NormLayerConfig = { kind: 'rms', epsilon: 1e-6, unitOffset: true, dModel: 4 };
    const x = tf.tensor2d(X);
    const gamma = tf.tensor1d(GAMMA);
    const y = applyNorm(config, { gamma }, x);
    expectClose(y, Y.flat(), TOL, [2, 4]);
    const plain = applyNorm({ ...config, unitOffset: false }, { gamma }, x);
    const expected = rmsNorm(x, gamma, { epsilon: 1e-6 });
    expectClose(plain, expected, { rtol: 0, atol: 0 });
    expectNoLeak(() => applyNorm(config, { gamma }, x));
    tf.dispose([x, gamma, y, plain, expected]);
  });
});

it('initNorm makes a zero gamma with unitOffset (scale 1), ones without', () => {
  const offset = initNorm({ kind: 'rms', dModel: 3, unitOffset: true });
  const plain = initNorm({ kind: 'rms', dModel: 3 });
  expect(Array.from(offset.gamma.dataSync())).toEqual([0, 0, 0]);
  expect(Array.from(plain.gamma.dataSync())).toEqual([1, 1, 1]);
  expectNoLeak(() => initNorm({ kind: 'rms', dModel: 3, unitOffset: true }));
  // A block's norms follow its config.
  const block: TransformerBlockConfig = {
    dModel: 4,
    numHeads: 2,
    norm: { kind: 'rms', unitOffset: true },
    feedForward: { hidden: 8, kind: 'gated', activation: 'gelu-tanh' },
  };
  const params = initTransformerDecoderBlock(block, 0);
  expect(Array.from(params.attentionNorm.gamma.dataSync())).toEqual([0, 0, 0, 0]);
  tf.dispose([offset, plain, params]);
});

it('rejects a bad unitOffset, naming it', () => {
  const x = tf.tensor2d(X);
  const gamma = tf.tensor1d(GAMMA);
  expect(
    thrownWithoutLeak(() => rmsNorm(x, gamma, { unitOffset: 1 as unknown as boolean })).argument,
  ).toBe('options.unitOffset');
  const bad = { kind: 'rms', dModel: 4, unitOffset: 'yes' } as unknown as NormLayerConfig;
  expect(thrownWithoutLeak(() => initNorm(bad)).argument).toBe('config.unitOffset');
  expect(thrownWithoutLeak(() => applyNorm(bad, { gamma }, x)).argument).toBe('config.unitOffset');
  // LayerNorm has no unit offset: the key is unknown there.
  const layer = { kind: 'layer', dModel: 4, unitOffset: true } as unknown as NormLayerConfig;
  expect(thrownWithoutLeak(() => initNorm(layer)).argument).toBe('config.unitOffset');
  const block = {
    dModel: 4,
    numHeads: 2,
    norm: { kind: 'rms', unitOffset: 0 },
    feedForward: { hidden: 8, kind: 'gated', activation: 'gelu-tanh' },
  } as unknown as TransformerBlockConfig;
  expect(thrownWithoutLeak(() => initTransformerDecoderBlock(block, 0)).argument).toBe(
    'config.norm.unitOffset',
  );
  tf.dispose([x, gamma]);
});
