// Every validation path of src/nn/ (issue 22): each bad call throws a
// TfjsBlocksError naming the function and the exact argument, and leaves no
// tensor behind. Inputs are built inside each test (per-test coverage
// attributes code run while collecting to no test).
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { gelu, silu } from '../../src/nn/activations';
import {
  embed,
  initEmbedding,
  initTokenAndPositionEmbedding,
  positionEmbedding,
  tiedOutputProjection,
  tokenAndPositionEmbedding,
} from '../../src/nn/embedding';
import { feedForward, initFeedForward } from '../../src/nn/feed-forward';
import { layerNorm } from '../../src/nn/layer-norm';
import { initLinear, type LinearParams, type LoraFactors, linear } from '../../src/nn/linear';
import {
  initMixtureOfExperts,
  type MixtureOfExpertsConfig,
  mixtureOfExperts,
} from '../../src/nn/mixture-of-experts';
import { applyNorm, checkNormConfig, initNorm, normalize } from '../../src/nn/norm';
import { initPatchEmbedding, patchEmbedding } from '../../src/nn/patch-embedding';
import {
  checkKernel,
  checkQuantizedTensor,
  dequantizeWeights,
  type QuantizedTensor,
} from '../../src/nn/quantized-weights';
import { rmsNorm } from '../../src/nn/rms-norm';
import { thrownBy } from '../helpers/rejections';

/** One bad call: [case name, expected function name, expected argument, the call]. */
type Case = [string, string, string, () => unknown];

/** Runs each case in its own test; `setup` builds the inputs inside the test and frees them after. */
function rejects<S>(
  title: string,
  setup: () => S,
  cases: (s: S) => Case[],
  free: (s: S) => void = (s) => tf.dispose(s as tf.TensorContainer),
): void {
  describe(title, () => {
    // The case list is read once (names only), with a placeholder setup.
    const names = cases(undefined as S).map(([name, fn, argument]) => ({ name, fn, argument }));
    names.forEach(({ name, fn, argument }, i) => {
      it(`${name}: ${fn} names ${argument}`, () => {
        const s = setup();
        try {
          const call = cases(s)[i]![3];
          // In a tidy: the bad inputs a case makes inline are freed with it
          // (the error paths' leaks are checked in test/property/error-path-leaks).
          const error = thrownBy(() => tf.tidy(call as () => void));
          expect(error.functionName).toBe(fn);
          expect(error.argument).toBe(argument);
        } finally {
          free(s);
        }
      });
    });
  });
}

const bad = <T>(v: unknown) => v as T;

rejects(
  'activations',
  () => ({ x: tf.zeros([2, 3]) }),
  (s) => [
    ['unknown option', 'gelu', 'options.approx', () => gelu(s.x, bad({ approx: 'tanh' }))],
    ['options not an object', 'gelu', 'options', () => gelu(s.x, bad(3))],
    ['int32 x', 'gelu', 'x', () => gelu(tf.zeros([2], 'int32'))],
    ['no tensor', 'gelu', 'x', () => gelu(bad([1, 2]))],
    ['an empty axis', 'gelu', 'x', () => gelu(tf.zeros([2, 0]))],
    [
      'unknown approximation',
      'gelu',
      'options.approximate',
      () => gelu(s.x, bad({ approximate: 'erf' })),
    ],
    [
      'approximation a number',
      'gelu',
      'options.approximate',
      () => gelu(s.x, bad({ approximate: 1 })),
    ],
    ['int32 x', 'silu', 'x', () => silu(tf.zeros([2], 'int32'))],
    ['no tensor', 'silu', 'x', () => silu(bad(undefined))],
  ],
);

rejects(
  'layerNorm and rmsNorm',
  () => ({ x: tf.zeros([2, 4]), g: tf.ones([4]), b: tf.zeros([4]) }),
  (s) => [
    ['unknown option', 'layerNorm', 'options.eps', () => layerNorm(s.x, s.g, s.b, bad({ eps: 1 }))],
    ['int32 x', 'layerNorm', 'x', () => layerNorm(tf.zeros([2, 4], 'int32'), s.g, s.b)],
    ['scalar x', 'layerNorm', 'x', () => layerNorm(tf.scalar(1), tf.ones([1]), tf.zeros([1]))],
    ['empty batch', 'layerNorm', 'x', () => layerNorm(tf.zeros([0, 4]), s.g, s.b)],
    ['gamma of rank 2', 'layerNorm', 'gamma', () => layerNorm(s.x, tf.ones([1, 4]), s.b)],
    ['gamma missing', 'layerNorm', 'gamma', () => layerNorm(s.x, bad(undefined), s.b)],
    ['gamma too short', 'layerNorm', 'gamma.shape[0]', () => layerNorm(s.x, tf.ones([3]), s.b)],
    ['beta too long', 'layerNorm', 'beta.shape[0]', () => layerNorm(s.x, s.g, tf.zeros([5]))],
    ['beta int32', 'layerNorm', 'beta', () => layerNorm(s.x, s.g, tf.zeros([4], 'int32'))],
    ['epsilon 0', 'layerNorm', 'options.epsilon', () => layerNorm(s.x, s.g, s.b, { epsilon: 0 })],
    [
      'epsilon negative',
      'layerNorm',
      'options.epsilon',
      () => layerNorm(s.x, s.g, s.b, { epsilon: -1e-5 }),
    ],
    [
      'epsilon NaN',
      'layerNorm',
      'options.epsilon',
      () => layerNorm(s.x, s.g, s.b, { epsilon: Number.NaN }),
    ],
    [
      'epsilon infinite',
      'layerNorm',
      'options.epsilon',
      () => layerNorm(s.x, s.g, s.b, { epsilon: Number.POSITIVE_INFINITY }),
    ],
    ['unknown option', 'rmsNorm', 'options.beta', () => rmsNorm(s.x, s.g, bad({ beta: 1 }))],
    ['scalar x', 'rmsNorm', 'x', () => rmsNorm(tf.scalar(1), tf.ones([1]))],
    ['gamma too long', 'rmsNorm', 'gamma.shape[0]', () => rmsNorm(s.x, tf.ones([5]))],
    ['epsilon 0', 'rmsNorm', 'options.epsilon', () => rmsNorm(s.x, s.g, { epsilon: 0 })],
    [
      'epsilon string',
      'rmsNorm',
      'options.epsilon',
      () => rmsNorm(s.x, s.g, bad({ epsilon: '1' })),
    ],
    [
      'unitOffset 1',
      'rmsNorm',
      'options.unitOffset',
      () => rmsNorm(s.x, s.g, bad({ unitOffset: 1 })),
    ],
  ],
);

rejects(
  'norm configs: initNorm, applyNorm, checkNormConfig',
  () => ({ x: tf.zeros([2, 4]), g: tf.ones([4]) as tf.Tensor1D, b: tf.zeros([4]) as tf.Tensor1D }),
  (s) => [
    ['config null', 'initNorm', 'config', () => initNorm(bad(null))],
    [
      'normalize: LayerNorm without params',
      'applyNorm',
      'params.beta',
      () => normalize({ kind: 'layer' }, bad(undefined), s.x),
    ],
    [
      'normalize: RMSNorm without params',
      'rmsNorm',
      'gamma',
      () => normalize({ kind: 'rms' }, bad(undefined), s.x),
    ],
    ['config an array', 'initNorm', 'config', () => initNorm(bad([]))],
    ['config a string', 'initNorm', 'config', () => initNorm(bad('rms'))],
    ['unknown kind', 'initNorm', 'config.kind', () => initNorm(bad({ kind: 'batch', dModel: 4 }))],
    ['no kind', 'initNorm', 'config.kind', () => initNorm(bad({ dModel: 4 }))],
    [
      'unknown key',
      'initNorm',
      'config.eps',
      () => initNorm(bad({ kind: 'layer', dModel: 4, eps: 1 })),
    ],
    ['dModel 0', 'initNorm', 'config.dModel', () => initNorm({ kind: 'layer', dModel: 0 })],
    ['dModel 2.5', 'initNorm', 'config.dModel', () => initNorm({ kind: 'rms', dModel: 2.5 })],
    [
      'unitOffset a string',
      'initNorm',
      'config.unitOffset',
      () => initNorm(bad({ kind: 'rms', dModel: 4, unitOffset: 'true' })),
    ],
    [
      'a name of the caller, and its extra keys',
      'block',
      'config.norm.dModel',
      () => checkNormConfig('block', 'config.norm', { kind: 'rms', dModel: 4 }),
    ],
    [
      'gamma missing',
      'applyNorm',
      'params.gamma',
      () => applyNorm({ kind: 'rms', dModel: 4 }, bad({}), s.x),
    ],
    [
      'params missing',
      'applyNorm',
      'params.gamma',
      () => applyNorm({ kind: 'rms', dModel: 4 }, bad(undefined), s.x),
    ],
    [
      'gamma of rank 2',
      'applyNorm',
      'params.gamma',
      () => applyNorm({ kind: 'rms', dModel: 4 }, { gamma: bad(tf.ones([1, 4])) }, s.x),
    ],
    [
      'gamma of another width',
      'applyNorm',
      'params.gamma.shape[0]',
      () => applyNorm({ kind: 'layer', dModel: 3 }, { gamma: s.g, beta: s.b }, s.x),
    ],
    [
      'LayerNorm without beta',
      'applyNorm',
      'params.beta',
      () => applyNorm({ kind: 'layer', dModel: 4 }, { gamma: s.g }, s.x),
    ],
    [
      'x of another width',
      'layerNorm',
      'gamma.shape[0]',
      () => applyNorm({ kind: 'layer', dModel: 4 }, { gamma: s.g, beta: s.b }, tf.zeros([2, 3])),
    ],
    [
      'a bad epsilon in the config',
      'rmsNorm',
      'options.epsilon',
      () => applyNorm({ kind: 'rms', dModel: 4, epsilon: -1 }, { gamma: s.g }, s.x),
    ],
    [
      'a bad unitOffset in the config',
      'applyNorm',
      'config.unitOffset',
      () => applyNorm(bad({ kind: 'rms', dModel: 4, unitOffset: 0 }), { gamma: s.g }, s.x),
    ],
  ],
);

rejects(
  'linear',
  () => {
    const config = { inFeatures: 4, outFeatures: 3 };
    const p = initLinear(config, 0);
    const a = tf.zeros([4, 2]) as tf.Tensor2D;
    const b = tf.zeros([2, 3]) as tf.Tensor2D;
    return { config, p, x: tf.zeros([2, 4]), a, b };
  },
  (s) => {
    const lora = (l: () => unknown) => () =>
      linear(s.config, { ...s.p, lora: l() as LoraFactors } as LinearParams, s.x);
    const good = () => ({ a: s.a, b: s.b, scale: 2 });
    return [
      ['config null', 'initLinear', 'config', () => initLinear(bad(null), 0)],
      ['config undefined', 'initLinear', 'config.inFeatures', () => initLinear(bad(undefined), 0)],
      [
        'unknown key',
        'initLinear',
        'config.bias',
        () => initLinear(bad({ inFeatures: 2, outFeatures: 2, bias: true }), 0),
      ],
      [
        'inFeatures missing',
        'initLinear',
        'config.inFeatures',
        () => initLinear(bad({ outFeatures: 2 }), 0),
      ],
      [
        'outFeatures 0',
        'initLinear',
        'config.outFeatures',
        () => initLinear({ inFeatures: 2, outFeatures: 0 }, 0),
      ],
      [
        'outFeatures 1.5',
        'linear',
        'config.outFeatures',
        () => linear({ inFeatures: 4, outFeatures: 1.5 }, s.p, s.x),
      ],
      [
        'useBias a string',
        'initLinear',
        'config.useBias',
        () => initLinear(bad({ inFeatures: 2, outFeatures: 2, useBias: 'no' }), 0),
      ],
      [
        'useBias null',
        'linear',
        'config.useBias',
        () => linear(bad({ ...s.config, useBias: null }), s.p, s.x),
      ],
      ['x int32', 'linear', 'x', () => linear(s.config, s.p, tf.zeros([2, 4], 'int32'))],
      ['x not a tensor', 'linear', 'x', () => linear(s.config, s.p, bad([[1, 2, 3, 4]]))],
      [
        'kernel missing',
        'linear',
        'params.kernel',
        () => linear(s.config, bad({ bias: s.p.bias }), s.x),
      ],
      ['params missing', 'linear', 'params.kernel', () => linear(s.config, bad(undefined), s.x)],
      [
        'kernel of rank 3',
        'linear',
        'params.kernel',
        () => linear(s.config, { ...s.p, kernel: bad(tf.zeros([1, 4, 3])) }, s.x),
      ],
      [
        'kernel rows',
        'linear',
        'params.kernel.shape[0]',
        () => linear({ ...s.config, inFeatures: 5 }, s.p, tf.zeros([2, 5])),
      ],
      [
        'kernel columns',
        'linear',
        'params.kernel.shape[1]',
        () => linear({ ...s.config, outFeatures: 2 }, s.p, s.x),
      ],
      ['x width', 'linear', 'x.shape[-1]', () => linear(s.config, s.p, tf.zeros([2, 3]))],
      [
        'x rank 1 of the wrong width',
        'linear',
        'x.shape[-1]',
        () => linear(s.config, s.p, tf.zeros([5])),
      ],
      [
        'bias missing',
        'linear',
        'params.bias',
        () => linear(s.config, { kernel: s.p.kernel }, s.x),
      ],
      [
        'bias of rank 2',
        'linear',
        'params.bias',
        () => linear(s.config, { kernel: s.p.kernel, bias: bad(tf.zeros([1, 3])) }, s.x),
      ],
      [
        'bias of another width',
        'linear',
        'params.bias.shape[0]',
        () => linear(s.config, { kernel: s.p.kernel, bias: bad(tf.zeros([4])) }, s.x),
      ],
      [
        'bias with useBias false',
        'linear',
        'params.bias',
        () => linear({ ...s.config, useBias: false }, s.p, s.x),
      ],
      [
        'bias null with useBias false',
        'linear',
        'params.bias',
        () => linear({ ...s.config, useBias: false }, { kernel: s.p.kernel, bias: bad(null) }, s.x),
      ],
      ['lora null', 'linear', 'params.lora', lora(() => null)],
      ['lora a number', 'linear', 'params.lora', lora(() => 3)],
      ['lora.a missing', 'linear', 'params.lora.a', lora(() => ({ b: s.b, scale: 1 }))],
      [
        'lora.a of rank 1',
        'linear',
        'params.lora.a',
        lora(() => ({ ...good(), a: tf.zeros([4]) })),
      ],
      [
        'lora.a rows',
        'linear',
        'params.lora.a.shape[0]',
        lora(() => ({ ...good(), a: tf.zeros([3, 2]) })),
      ],
      ['lora.b missing', 'linear', 'params.lora.b', lora(() => ({ a: s.a, scale: 1 }))],
      // Rank 1 [r]: its length is a's r, so only the rank check can name it.
      [
        'lora.b of rank 1',
        'linear',
        'params.lora.b',
        lora(() => ({ ...good(), b: tf.zeros([2]) })),
      ],
      [
        'lora.b rows (r)',
        'linear',
        'params.lora.b.shape[0]',
        lora(() => ({ ...good(), b: tf.zeros([1, 3]) })),
      ],
      [
        'lora.b columns',
        'linear',
        'params.lora.b.shape[1]',
        lora(() => ({ ...good(), b: tf.zeros([2, 4]) })),
      ],
      ['lora.scale missing', 'linear', 'params.lora.scale', lora(() => ({ a: s.a, b: s.b }))],
      [
        'lora.scale a string',
        'linear',
        'params.lora.scale',
        lora(() => ({ ...good(), scale: '2' })),
      ],
      [
        'lora.scale NaN',
        'linear',
        'params.lora.scale',
        lora(() => ({ ...good(), scale: Number.NaN })),
      ],
      [
        'lora.scale infinite',
        'linear',
        'params.lora.scale',
        lora(() => ({ ...good(), scale: -Infinity })),
      ],
      [
        'dropout null',
        'linear',
        'params.lora.dropout.rate',
        lora(() => ({ ...good(), dropout: null })),
      ],
      [
        'dropout rate missing',
        'linear',
        'params.lora.dropout.rate',
        lora(() => ({ ...good(), dropout: { seed: 1 } })),
      ],
      [
        'dropout rate 1',
        'linear',
        'params.lora.dropout.rate',
        lora(() => ({ ...good(), dropout: { rate: 1, seed: 1 } })),
      ],
      [
        'dropout rate negative',
        'linear',
        'params.lora.dropout.rate',
        lora(() => ({ ...good(), dropout: { rate: -0.1, seed: 1 } })),
      ],
      [
        'dropout rate NaN',
        'linear',
        'params.lora.dropout.rate',
        lora(() => ({ ...good(), dropout: { rate: Number.NaN, seed: 1 } })),
      ],
      [
        'dropout rate a string',
        'linear',
        'params.lora.dropout.rate',
        lora(() => ({ ...good(), dropout: { rate: '0.1', seed: 1 } })),
      ],
      [
        'dropout seed fractional',
        'linear',
        'params.lora.dropout.seed',
        lora(() => ({ ...good(), dropout: { rate: 0.1, seed: 0.5 } })),
      ],
      [
        'dropout seed missing',
        'linear',
        'params.lora.dropout.seed',
        lora(() => ({ ...good(), dropout: { rate: 0 } })),
      ],
      [
        'dropout seed past the safe integers',
        'linear',
        'params.lora.dropout.seed',
        lora(() => ({ ...good(), dropout: { rate: 0, seed: -(2 ** 60) } })),
      ],
    ];
  },
);

rejects(
  'feedForward',
  () => {
    const config = { dModel: 4, hidden: 6, kind: 'gated', activation: 'silu' } as const;
    return { config, p: initFeedForward(config, 0), x: tf.zeros([2, 4]) };
  },
  (s) => [
    [
      'config undefined',
      'initFeedForward',
      'config.dModel',
      () => initFeedForward(bad(undefined), 0),
    ],
    [
      'unknown key',
      'initFeedForward',
      'config.numExperts',
      () => initFeedForward(bad({ ...s.config, numExperts: 2 }), 0),
    ],
    [
      'dModel 0',
      'initFeedForward',
      'config.dModel',
      () => initFeedForward({ ...s.config, dModel: 0 }, 0),
    ],
    [
      'hidden 1.5',
      'feedForward',
      'config.hidden',
      () => feedForward({ ...s.config, hidden: 1.5 }, s.p, s.x),
    ],
    [
      'hidden missing',
      'initFeedForward',
      'config.hidden',
      () => initFeedForward(bad({ dModel: 4, kind: 'mlp', activation: 'relu' }), 0),
    ],
    [
      'unknown kind',
      'feedForward',
      'config.kind',
      () => feedForward(bad({ ...s.config, kind: 'glu' }), s.p, s.x),
    ],
    [
      'unknown activation',
      'initFeedForward',
      'config.activation',
      () => initFeedForward(bad({ ...s.config, activation: 'tanh' }), 0),
    ],
    [
      'activation from the prototype',
      'initFeedForward',
      'config.activation',
      () => initFeedForward(bad({ ...s.config, activation: 'toString' }), 0),
    ],
    [
      'gate missing',
      'feedForward',
      'params.gate',
      () => feedForward(s.config, { up: s.p.up, down: s.p.down }, s.x),
    ],
    [
      'x of another width',
      'linear',
      'x.shape[-1]',
      () => feedForward(s.config, s.p, tf.zeros([2, 5])),
    ],
    [
      'projections with biases against a config without',
      'linear',
      'params.bias',
      () => feedForward(s.config, initFeedForward({ ...s.config, useBias: true }, 0), s.x),
    ],
  ],
);

rejects(
  'embeddings',
  () => {
    const config = { numEmbeddings: 6, embeddingDim: 4 };
    const tp = { vocabSize: 6, maxLength: 5, dModel: 4 };
    return {
      config,
      p: initEmbedding(config, 0),
      tp,
      tpp: initTokenAndPositionEmbedding(tp, 0),
      ids: tf.tensor2d([[1, 2]], undefined, 'int32'),
    };
  },
  (s) => [
    ['config null', 'initEmbedding', 'config', () => initEmbedding(bad(null), 0)],
    ['config undefined', 'embed', 'config.numEmbeddings', () => embed(bad(undefined), s.p, s.ids)],
    [
      'config undefined',
      'tokenAndPositionEmbedding',
      'config.vocabSize',
      () => tokenAndPositionEmbedding(bad(undefined), s.tpp, s.ids),
    ],
    [
      'one time step',
      'positionEmbedding',
      'length',
      () => tokenAndPositionEmbedding(s.tp, s.tpp, tf.zeros([1, 1], 'int32'), { offset: 5 }),
    ],
    [
      'unknown key',
      'initEmbedding',
      'config.rows',
      () => initEmbedding(bad({ ...s.config, rows: 2 }), 0),
    ],
    [
      'numEmbeddings 0',
      'initEmbedding',
      'config.numEmbeddings',
      () => initEmbedding({ ...s.config, numEmbeddings: 0 }, 0),
    ],
    [
      'embeddingDim missing',
      'initEmbedding',
      'config.embeddingDim',
      () => initEmbedding(bad({ numEmbeddings: 2 }), 0),
    ],
    [
      'std negative',
      'initEmbedding',
      'config.std',
      () => initEmbedding({ ...s.config, std: -0.1 }, 0),
    ],
    ['std NaN', 'embed', 'config.std', () => embed({ ...s.config, std: Number.NaN }, s.p, s.ids)],
    ['table missing', 'embed', 'params.table', () => embed(s.config, bad({}), s.ids)],
    ['params missing', 'embed', 'params.table', () => embed(s.config, bad(undefined), s.ids)],
    [
      'table of rank 1',
      'embed',
      'params.table',
      () => embed(s.config, { table: bad(tf.zeros([6])) }, s.ids),
    ],
    [
      'a bad quantized table',
      'embed',
      'params.table.format',
      () => embed(s.config, { table: bad({ format: 'int2', scales: 1, values: 1 }) }, s.ids),
    ],
    [
      'table rows',
      'embed',
      'params.table.shape[0]',
      () => embed({ ...s.config, numEmbeddings: 5 }, s.p, s.ids),
    ],
    [
      'table width',
      'embed',
      'params.table.shape[1]',
      () => embed({ ...s.config, embeddingDim: 5 }, s.p, s.ids),
    ],
    ['ids float32', 'embed', 'ids', () => embed(s.config, s.p, tf.tensor2d([[1, 2]]))],
    ['ids an array', 'embed', 'ids', () => embed(s.config, s.p, bad([1, 2]))],
    [
      'an id past the table',
      'embed',
      'ids',
      () => embed(s.config, s.p, tf.tensor1d([0, 6], 'int32')),
    ],
    ['a negative id', 'embed', 'ids', () => embed(s.config, s.p, tf.tensor1d([-1], 'int32'))],
    [
      'unknown option',
      'positionEmbedding',
      'options.start',
      () => positionEmbedding(s.config, s.p, 2, bad({ start: 1 })),
    ],
    ['length 0', 'positionEmbedding', 'length', () => positionEmbedding(s.config, s.p, 0)],
    [
      'length fractional',
      'positionEmbedding',
      'length',
      () => positionEmbedding(s.config, s.p, 1.5),
    ],
    [
      'offset negative',
      'positionEmbedding',
      'options.offset',
      () => positionEmbedding(s.config, s.p, 2, { offset: -1 }),
    ],
    [
      'offset fractional',
      'positionEmbedding',
      'options.offset',
      () => positionEmbedding(s.config, s.p, 2, { offset: 0.5 }),
    ],
    [
      'length past the table',
      'positionEmbedding',
      'length',
      () => positionEmbedding(s.config, s.p, 7),
    ],
    [
      'one position past the table',
      'positionEmbedding',
      'length',
      () => positionEmbedding(s.config, s.p, 3, { offset: 4 }),
    ],
    [
      'table of another size',
      'positionEmbedding',
      'params.table.shape[0]',
      () => positionEmbedding({ ...s.config, numEmbeddings: 8 }, s.p, 2),
    ],
    [
      'x int32',
      'tiedOutputProjection',
      'x',
      () => tiedOutputProjection(s.config, s.p, tf.zeros([2, 4], 'int32')),
    ],
    [
      'x missing',
      'tiedOutputProjection',
      'x',
      () => tiedOutputProjection(s.config, s.p, bad(undefined)),
    ],
    [
      'x of another width',
      'tiedOutputProjection',
      'x',
      () => tiedOutputProjection(s.config, s.p, tf.zeros([2, 3])),
    ],
    [
      'x rank 1 of another width',
      'tiedOutputProjection',
      'x',
      () => tiedOutputProjection(s.config, s.p, tf.zeros([5])),
    ],
    [
      'table of rank 3',
      'tiedOutputProjection',
      'params.table',
      () => tiedOutputProjection(s.config, { table: bad(tf.zeros([1, 6, 4])) }, tf.zeros([2, 4])),
    ],
    [
      'config null',
      'initTokenAndPositionEmbedding',
      'config',
      () => initTokenAndPositionEmbedding(bad(null), 0),
    ],
    [
      'unknown key',
      'initTokenAndPositionEmbedding',
      'config.numEmbeddings',
      () => initTokenAndPositionEmbedding(bad({ ...s.tp, numEmbeddings: 2 }), 0),
    ],
    [
      'vocabSize 0',
      'initTokenAndPositionEmbedding',
      'config.vocabSize',
      () => initTokenAndPositionEmbedding({ ...s.tp, vocabSize: 0 }, 0),
    ],
    [
      'maxLength fractional',
      'initTokenAndPositionEmbedding',
      'config.maxLength',
      () => initTokenAndPositionEmbedding({ ...s.tp, maxLength: 2.5 }, 0),
    ],
    [
      'dModel missing',
      'tokenAndPositionEmbedding',
      'config.dModel',
      () => tokenAndPositionEmbedding(bad({ vocabSize: 6, maxLength: 5 }), s.tpp, s.ids),
    ],
    [
      'unknown option',
      'tokenAndPositionEmbedding',
      'options.position',
      () => tokenAndPositionEmbedding(s.tp, s.tpp, s.ids, bad({ position: 1 })),
    ],
    [
      'ids of rank 1',
      'tokenAndPositionEmbedding',
      'ids',
      () => tokenAndPositionEmbedding(s.tp, s.tpp, tf.tensor1d([1, 2], 'int32')),
    ],
    [
      'ids of rank 3',
      'tokenAndPositionEmbedding',
      'ids',
      () => tokenAndPositionEmbedding(s.tp, s.tpp, tf.zeros([1, 2, 1], 'int32')),
    ],
    [
      'ids with no time step',
      'tokenAndPositionEmbedding',
      'ids',
      () => tokenAndPositionEmbedding(s.tp, s.tpp, tf.zeros([1, 0], 'int32')),
    ],
    [
      'ids not a tensor',
      'tokenAndPositionEmbedding',
      'ids',
      () => tokenAndPositionEmbedding(s.tp, s.tpp, bad([[1, 2]])),
    ],
    [
      'ids float32 (checked by embed)',
      'embed',
      'ids',
      () => tokenAndPositionEmbedding(s.tp, s.tpp, tf.zeros([1, 2])),
    ],
    [
      'more steps than positions',
      'positionEmbedding',
      'length',
      () => tokenAndPositionEmbedding(s.tp, s.tpp, tf.zeros([1, 6], 'int32')),
    ],
    [
      'offset past the positions',
      'positionEmbedding',
      'length',
      () => tokenAndPositionEmbedding(s.tp, s.tpp, s.ids, { offset: 4 }),
    ],
    [
      'positions missing',
      'positionEmbedding',
      'params.table',
      () => tokenAndPositionEmbedding(s.tp, { tokens: s.tpp.tokens } as never, s.ids),
    ],
    [
      'params missing',
      'embed',
      'params.table',
      () => tokenAndPositionEmbedding(s.tp, bad(undefined), s.ids),
    ],
  ],
);

rejects(
  'patchEmbedding',
  () => {
    const config = { patchSize: 2, channels: 1, dModel: 3 };
    return {
      config,
      p: initPatchEmbedding(config, 0),
      images: tf.zeros([1, 4, 4, 1]) as tf.Tensor4D,
    };
  },
  (s) => [
    ['config null', 'initPatchEmbedding', 'config', () => initPatchEmbedding(bad(null), 0)],
    [
      'config undefined',
      'patchEmbedding',
      'config.patchSize',
      () => patchEmbedding(bad(undefined), s.p, s.images),
    ],
    [
      'unknown key',
      'initPatchEmbedding',
      'config.size',
      () => initPatchEmbedding(bad({ ...s.config, size: 2 }), 0),
    ],
    [
      'patchSize 0',
      'initPatchEmbedding',
      'config.patchSize',
      () => initPatchEmbedding({ ...s.config, patchSize: 0 }, 0),
    ],
    [
      'channels missing',
      'patchEmbedding',
      'config.channels',
      () => patchEmbedding(bad({ patchSize: 2, dModel: 3 }), s.p, s.images),
    ],
    [
      'dModel 1.5',
      'initPatchEmbedding',
      'config.dModel',
      () => initPatchEmbedding({ ...s.config, dModel: 1.5 }, 0),
    ],
    [
      'images of rank 3',
      'patchEmbedding',
      'images',
      () => patchEmbedding(s.config, s.p, bad(tf.zeros([4, 4, 1]))),
    ],
    [
      'images int32',
      'patchEmbedding',
      'images',
      () => patchEmbedding(s.config, s.p, bad(tf.zeros([1, 4, 4, 1], 'int32'))),
    ],
    [
      'kernel missing',
      'patchEmbedding',
      'params.kernel',
      () => patchEmbedding(s.config, bad({ bias: s.p.bias }), s.images),
    ],
    [
      'params missing',
      'patchEmbedding',
      'params.kernel',
      () => patchEmbedding(s.config, bad(undefined), s.images),
    ],
    [
      'bias missing',
      'patchEmbedding',
      'params.bias',
      () => patchEmbedding(s.config, bad({ kernel: s.p.kernel }), s.images),
    ],
    [
      'bias of rank 2',
      'patchEmbedding',
      'params.bias',
      () => patchEmbedding(s.config, { kernel: s.p.kernel, bias: bad(tf.zeros([1, 3])) }, s.images),
    ],
    [
      'kernel rows for these images',
      'patchEmbedding',
      'params.kernel.shape[0]',
      () => patchEmbedding(s.config, s.p, bad(tf.zeros([1, 4, 4, 3]))),
    ],
    [
      "images whose channels are not the config's",
      'patchEmbedding',
      'images.shape[3]',
      () =>
        patchEmbedding(
          s.config,
          { kernel: tf.zeros([8, 3]) as tf.Tensor2D, bias: s.p.bias },
          tf.zeros([1, 4, 4, 2]) as tf.Tensor4D,
        ),
    ],
    [
      'kernel columns',
      'patchEmbedding',
      'params.kernel.shape[1]',
      () => patchEmbedding({ ...s.config, dModel: 2 }, s.p, s.images),
    ],
    [
      'bias of another width',
      'patchEmbedding',
      'params.bias',
      () =>
        patchEmbedding(
          s.config,
          { kernel: s.p.kernel, bias: tf.zeros([2]) as tf.Tensor1D },
          s.images,
        ),
    ],
    [
      // Rank 1 with patchSize² · channels values: only the rank check names it.
      'kernel of rank 1',
      'patchEmbedding',
      'params.kernel',
      () => patchEmbedding(s.config, { kernel: bad(tf.zeros([4])), bias: s.p.bias }, s.images),
    ],
    [
      // [dModel, 1]: its first size is dModel, so only the rank check names it.
      'bias [dModel, 1]',
      'patchEmbedding',
      'params.bias',
      () => patchEmbedding(s.config, { kernel: s.p.kernel, bias: bad(tf.zeros([3, 1])) }, s.images),
    ],
    [
      'height not divisible',
      'patchEmbedding',
      'images',
      () => patchEmbedding(s.config, s.p, tf.zeros([1, 3, 4, 1]) as tf.Tensor4D),
    ],
    [
      'width not divisible',
      'patchEmbedding',
      'images',
      () => patchEmbedding(s.config, s.p, tf.zeros([1, 4, 5, 1]) as tf.Tensor4D),
    ],
  ],
);

const moe: MixtureOfExpertsConfig = {
  dModel: 4,
  hidden: 3,
  numExperts: 3,
  topK: 2,
  kind: 'gated',
  activation: 'silu',
  useBias: true,
};

rejects(
  'mixtureOfExperts',
  () => ({ p: initMixtureOfExperts(moe, 0), x: tf.zeros([2, 4]) }),
  (s) => [
    ['config null', 'initMixtureOfExperts', 'config', () => initMixtureOfExperts(bad(null), 0)],
    [
      'config undefined',
      'mixtureOfExperts',
      'config.dModel',
      () => mixtureOfExperts(bad(undefined), s.p, s.x),
    ],
    [
      'unknown key',
      'initMixtureOfExperts',
      'config.experts',
      () => initMixtureOfExperts(bad({ ...moe, experts: 3 }), 0),
    ],
    [
      'numExperts 0',
      'initMixtureOfExperts',
      'config.numExperts',
      () => initMixtureOfExperts({ ...moe, numExperts: 0 }, 0),
    ],
    [
      'numExperts missing',
      'mixtureOfExperts',
      'config.numExperts',
      () => mixtureOfExperts(bad({ ...moe, numExperts: undefined }), s.p, s.x),
    ],
    [
      'topK fractional',
      'mixtureOfExperts',
      'config.topK',
      () => mixtureOfExperts({ ...moe, topK: 1.5 }, s.p, s.x),
    ],
    [
      'topK > numExperts',
      'mixtureOfExperts',
      'config.topK',
      () => mixtureOfExperts({ ...moe, topK: 4 }, s.p, s.x),
    ],
    [
      'unknown activation',
      'initMixtureOfExperts',
      'config.activation',
      () => initMixtureOfExperts(bad({ ...moe, activation: 'swish' }), 0),
    ],
    [
      'x int32',
      'mixtureOfExperts',
      'x',
      () => mixtureOfExperts(moe, s.p, tf.zeros([2, 4], 'int32')),
    ],
    [
      'x of another width',
      'mixtureOfExperts',
      'x.shape[-1]',
      () => mixtureOfExperts(moe, s.p, tf.zeros([5])),
    ],
    [
      'router missing',
      'mixtureOfExperts',
      'params.router.kernel',
      () => mixtureOfExperts(moe, { ...s.p, router: bad(undefined) }, s.x),
    ],
    [
      'params missing',
      'mixtureOfExperts',
      'params.router.kernel',
      () => mixtureOfExperts(moe, bad(undefined), s.x),
    ],
    [
      'router of rank 3',
      'mixtureOfExperts',
      'params.router.kernel',
      () => mixtureOfExperts(moe, { ...s.p, router: { kernel: bad(tf.zeros([1, 4, 3])) } }, s.x),
    ],
    [
      'router for 2 experts',
      'mixtureOfExperts',
      'params.router.kernel.shape[1]',
      () =>
        mixtureOfExperts(moe, { ...s.p, router: { kernel: tf.zeros([4, 2]) as tf.Tensor2D } }, s.x),
    ],
    [
      'up missing',
      'mixtureOfExperts',
      'params.up.kernel',
      () => mixtureOfExperts(moe, { ...s.p, up: bad(undefined) }, s.x),
    ],
    [
      'up of rank 2',
      'mixtureOfExperts',
      'params.up.kernel',
      () =>
        mixtureOfExperts(
          moe,
          { ...s.p, up: { kernel: bad(tf.zeros([4, 3])), bias: s.p.up.bias } },
          s.x,
        ),
    ],
    [
      // [numExperts, dModel] matches the first two sizes: only the rank check names it.
      'up of rank 2 that matches the leading sizes',
      'mixtureOfExperts',
      'params.up.kernel',
      () =>
        mixtureOfExperts(
          moe,
          { ...s.p, up: { kernel: bad(tf.zeros([3, 4])), bias: s.p.up.bias } },
          s.x,
        ),
    ],
    [
      'up for another expert count',
      'mixtureOfExperts',
      'params.up.kernel',
      () =>
        mixtureOfExperts(
          moe,
          { ...s.p, up: { kernel: tf.zeros([2, 4, 3]) as tf.Tensor3D, bias: s.p.up.bias } },
          s.x,
        ),
    ],
    [
      'up for another width',
      'mixtureOfExperts',
      'params.up.kernel',
      () =>
        mixtureOfExperts(
          moe,
          { ...s.p, up: { kernel: tf.zeros([3, 5, 3]) as tf.Tensor3D, bias: s.p.up.bias } },
          s.x,
        ),
    ],
    [
      'up without its bias',
      'mixtureOfExperts',
      'params.up.bias',
      () => mixtureOfExperts(moe, { ...s.p, up: { kernel: s.p.up.kernel } }, s.x),
    ],
    [
      'down of another hidden width',
      'mixtureOfExperts',
      'params.down.kernel',
      () =>
        mixtureOfExperts(
          moe,
          { ...s.p, down: { kernel: tf.zeros([3, 3, 5]) as tf.Tensor3D, bias: s.p.down.bias } },
          s.x,
        ),
    ],
    [
      'down without its bias',
      'mixtureOfExperts',
      'params.down.bias',
      () => mixtureOfExperts(moe, { ...s.p, down: { kernel: s.p.down.kernel } }, s.x),
    ],
    [
      'gate missing',
      'mixtureOfExperts',
      'params.gate.kernel',
      () => mixtureOfExperts(moe, { ...s.p, gate: undefined }, s.x),
    ],
    [
      'gate without its bias',
      'mixtureOfExperts',
      'params.gate.bias',
      () => mixtureOfExperts(moe, { ...s.p, gate: { kernel: s.p.gate!.kernel } }, s.x),
    ],
  ],
);

/** A valid int4 [8, 4] record in groups of 4 (16 bytes of codes, 8 scales). */
const int4 = (): QuantizedTensor => ({
  format: 'int4',
  shape: [8, 4],
  values: new Uint8Array(16),
  scales: new Float32Array(8),
  groupSize: 4,
});
const int8 = (): QuantizedTensor => ({
  format: 'int8',
  shape: [3, 5],
  values: new Int8Array(15),
  scales: new Float32Array(5),
  groupSize: 3,
});

rejects(
  'quantized records',
  () => undefined,
  () => {
    const check = (q: unknown) => () => checkQuantizedTensor('f', 'q', q);
    return [
      ['null', 'f', 'q', check(null)],
      ['a number', 'f', 'q', check(8)],
      ['no format', 'f', 'q.format', check({ ...int8(), format: undefined })],
      ['format int2', 'f', 'q.format', check({ ...int8(), format: 'int2' })],
      [
        'shape not an array',
        'f',
        'q.shape',
        check({ ...int8(), shape: { 0: 3, 1: 5, length: 2 } }),
      ],
      ['shape of three', 'f', 'q.shape', check({ ...int8(), shape: [3, 5, 1] })],
      ['shape[0] 0', 'f', 'q.shape[0]', check({ ...int8(), shape: [0, 5] })],
      ['shape[1] fractional', 'f', 'q.shape[1]', check({ ...int8(), shape: [3, 2.5] })],
      ['groupSize 0', 'f', 'q.groupSize', check({ ...int4(), groupSize: 0 })],
      ['groupSize missing', 'f', 'q.groupSize', check({ ...int8(), groupSize: undefined })],
      [
        'int8 values as a Uint8Array',
        'f',
        'q.values',
        check({ ...int8(), values: new Uint8Array(15) }),
      ],
      ['int8 values one short', 'f', 'q.values', check({ ...int8(), values: new Int8Array(14) })],
      ['int8 values one long', 'f', 'q.values', check({ ...int8(), values: new Int8Array(16) })],
      [
        'int4 values as an Int8Array',
        'f',
        'q.values',
        check({ ...int4(), values: new Int8Array(16) }),
      ],
      [
        'int4 values as many as weights',
        'f',
        'q.values',
        check({ ...int4(), values: new Uint8Array(32) }),
      ],
      [
        'int4 odd count, one byte short',
        'f',
        'q.values',
        check({
          ...int4(),
          shape: [3, 5],
          groupSize: 3,
          values: new Uint8Array(7),
          scales: new Float32Array(5),
        }),
      ],
      [
        'int8 scales one per weight',
        'f',
        'q.scales',
        check({ ...int8(), scales: new Float32Array(15) }),
      ],
      [
        'int8 scales as a plain array',
        'f',
        'q.scales',
        check({ ...int8(), scales: [1, 1, 1, 1, 1] }),
      ],
      [
        'int4 scales of one group',
        'f',
        'q.scales',
        check({ ...int4(), scales: new Float32Array(4) }),
      ],
      [
        'int4 scales for a shorter last group',
        'f',
        'q.scales',
        check({ ...int4(), groupSize: 3, scales: new Float32Array(8) }),
      ],
      [
        'a kernel that is neither',
        'g',
        'k',
        () => checkKernel('g', 'k', tf.zeros([2]), '[in, out]'),
      ],
      ['a kernel missing', 'g', 'k', () => checkKernel('g', 'k', undefined, '[in, out]')],
      ['dequantizeWeights of null', 'dequantizeWeights', 'q', () => dequantizeWeights(bad(null))],
      [
        'dequantizeWeights of bad scales',
        'dequantizeWeights',
        'q.scales',
        () => dequantizeWeights({ ...int8(), scales: new Float32Array(3) }),
      ],
    ];
  },
  () => {},
);

describe('the valid edges are accepted', () => {
  it('quantized records of odd sizes, shorter last int4 groups, and kernels of either kind', () => {
    expect(checkQuantizedTensor('f', 'q', int8())).toEqual(int8());
    expect(checkQuantizedTensor('f', 'q', int4()).shape).toEqual([8, 4]);
    const odd = {
      ...int4(),
      shape: [3, 5],
      groupSize: 2,
      values: new Uint8Array(8),
      scales: new Float32Array(10),
    };
    expect(checkQuantizedTensor('f', 'q', odd)).toBe(odd);
    expect(checkKernel('g', 'k', int8(), '')).toEqual([3, 5]);
    const k = tf.zeros([2, 3]);
    expect(checkKernel('g', 'k', k, '')).toEqual([2, 3]);
    k.dispose();
  });

  it('epsilon just above 0, std 0, offset 0 to the last position, dropout rate 0 and negative seeds', () => {
    tf.tidy(() => {
      const x = tf.tensor2d([[1, 2, 3]]);
      expect(layerNorm(x, tf.ones([3]), tf.zeros([3]), { epsilon: 1e-30 }).shape).toEqual([1, 3]);
      expect(rmsNorm(x, tf.ones([3]), { epsilon: Number.MIN_VALUE }).shape).toEqual([1, 3]);
      const table = initEmbedding({ numEmbeddings: 3, embeddingDim: 2, std: 0 }, 0).table;
      expect(Array.from(table.dataSync())).toEqual([0, 0, 0, 0, 0, 0]);
      const config = { numEmbeddings: 3, embeddingDim: 2 };
      expect(positionEmbedding(config, { table }, 3, { offset: 0 }).shape).toEqual([3, 2]);
      expect(positionEmbedding(config, { table }, 1, { offset: 2 }).shape).toEqual([1, 2]);
      const p = initLinear({ inFeatures: 3, outFeatures: 2 }, 0);
      const lora = {
        a: tf.ones([3, 1]) as tf.Tensor2D,
        b: tf.ones([1, 2]) as tf.Tensor2D,
        scale: 0,
        dropout: { rate: 0, seed: Number.MIN_SAFE_INTEGER },
      };
      expect(linear({ inFeatures: 3, outFeatures: 2 }, { ...p, lora }, x).shape).toEqual([1, 2]);
      expect(initMixtureOfExperts({ ...moe, topK: 3 }, 0).up.kernel.shape).toEqual([3, 4, 3]);
    });
  });
});
