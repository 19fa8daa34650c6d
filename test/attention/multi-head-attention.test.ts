import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import {
  initMultiHeadAttention,
  type LinearParams,
  type MultiHeadAttentionConfig,
  type MultiHeadAttentionOptions,
  type MultiHeadAttentionParams,
  multiHeadAttention,
} from '../../src/index';
import { describeEachBackend } from '../helpers/backends';
import { expectClose } from '../helpers/close';
import {
  decode,
  type EncodedTensor,
  expectMatchesGolden,
  type GradientGolden,
  loadGoldens,
} from '../helpers/goldens';
import { expectGradientsMatchFiniteDifferences } from '../helpers/gradcheck';
import { expectNoLeak } from '../helpers/leaks';
import { describeRejections, thrownWithoutLeak } from '../helpers/rejections';

const PROJECTIONS = ['query', 'key', 'value', 'output'] as const;
type EncodedLinear = { kernel: EncodedTensor; bias?: EncodedTensor };
interface MhaGolden extends GradientGolden {
  options: { causal: boolean; rope?: { offset: number } };
  mask?: EncodedTensor;
  params: { numHeads: number; numKvHeads: number } & Record<
    (typeof PROJECTIONS)[number],
    EncodedLinear
  >;
  paramGrads: Record<(typeof PROJECTIONS)[number], EncodedLinear>;
}
const goldens = loadGoldens<Record<string, MhaGolden>>('attention');
const mhaCases = Object.entries(goldens).filter(([name]) => name.startsWith('mha_'));
const TOL = { rtol: 1e-5, atol: 1e-6 };

/** The golden's param tensors in a fixed order, with their golden gradients. */
function flatParams(golden: MhaGolden) {
  const flat: Array<{
    tensor: EncodedTensor;
    grad: EncodedTensor;
    path: [string, 'kernel' | 'bias'];
    tolerance?: { rtol: number; atol: number };
  }> = [];
  for (const name of PROJECTIONS) {
    for (const part of ['kernel', 'bias'] as const) {
      const tensor = golden.params[name][part];
      if (!tensor) continue;
      const grad = golden.paramGrads[name][part]!;
      // The key bias adds a per-query constant to the scores, which softmax
      // ignores: its true gradient is 0, and float32 leaves ~1e-6 of the
      // O(1) terms that cancel. Checked as |g| <= 1e-5.
      const tolerance = name === 'key' && part === 'bias' ? { rtol: 0, atol: 1e-5 } : undefined;
      flat.push({ tensor, grad, path: [name, part], tolerance });
    }
  }
  return flat;
}

function buildParams(golden: MhaGolden, tensors: tf.Tensor[]): MultiHeadAttentionParams {
  const projections: Record<string, LinearParams> = {};
  flatParams(golden).forEach(({ path: [name, part] }, i) => {
    projections[name] = { ...projections[name], [part]: tensors[i] } as LinearParams;
  });
  return projections as MultiHeadAttentionParams;
}

/** The config the golden's weights were made with: head counts and widths. */
function buildConfig(golden: MhaGolden): MultiHeadAttentionConfig {
  const { numHeads, numKvHeads, query, key } = golden.params;
  return {
    dModel: query.kernel.shape[0]!,
    numHeads,
    numKvHeads,
    contextDim: key.kernel.shape[0]!,
    useBias: query.bias !== undefined,
  };
}

describeEachBackend('multiHeadAttention vs PyTorch', () => {
  for (const [name, golden] of mhaCases) {
    for (const chunkSize of [undefined, 2]) {
      it(`${name}${chunkSize ? ' (chunked)' : ''}: value and gradients of x, context and every weight`, () => {
        expectMatchesGolden(
          golden,
          ({ x, context }, paramTensors) => {
            const options: MultiHeadAttentionOptions = { ...golden.options, chunkSize };
            if (context) options.context = context as tf.Tensor3D;
            if (golden.mask) options.mask = decode(golden.mask);
            return multiHeadAttention(
              buildConfig(golden),
              buildParams(golden, paramTensors),
              x as tf.Tensor3D,
              options,
            );
          },
          TOL,
          flatParams(golden),
        );
      });
    }
  }
});

describeEachBackend('multiHeadAttention behaviour', () => {
  it('initialises reproducibly from a seed, with GQA-sized key/value projections', () => {
    tf.tidy(() => {
      const a = initMultiHeadAttention({ dModel: 16, numHeads: 4, numKvHeads: 2 }, 3);
      const b = initMultiHeadAttention({ dModel: 16, numHeads: 4, numKvHeads: 2 }, 3);
      const c = initMultiHeadAttention({ dModel: 16, numHeads: 4, numKvHeads: 2 }, 4);
      expect(a.key.kernel.shape).toEqual([16, 8]);
      expect(a.query.kernel.shape).toEqual([16, 16]);
      expectClose(a.query.kernel, b.query.kernel, { rtol: 0, atol: 0 });
      expect(tf.any(tf.notEqual(a.query.kernel, c.query.kernel)).dataSync()[0]).toBe(1);
      expect(tf.any(tf.notEqual(a.query.kernel, a.output.kernel)).dataSync()[0]).toBe(1);
    });
  });

  it('gradients match finite differences (GQA, RoPE, causal)', () => {
    tf.tidy(() => {
      const config = { dModel: 8, numHeads: 4, numKvHeads: 2 };
      const params = initMultiHeadAttention(config, 1);
      const x = tf.randomNormal([1, 3, 8], 0, 1, 'float32', 2);
      const w = tf.randomNormal([1, 3, 8], 0, 1, 'float32', 3);
      expectGradientsMatchFiniteDifferences(
        (a, wq) =>
          tf.sum(
            tf.mul(
              multiHeadAttention(
                config,
                { ...params, query: { ...params.query, kernel: wq as tf.Tensor2D } },
                a as tf.Tensor3D,
                {
                  causal: true,
                  rope: true,
                },
              ),
              w,
            ),
          ) as tf.Scalar,
        [x, params.query.kernel],
      );
    });
  });

  it('leaves no tensor behind, forward and backward', () => {
    const config = { dModel: 16, numHeads: 4, numKvHeads: 1 };
    const params = initMultiHeadAttention(config, 0);
    const x = tf.randomNormal([2, 5, 16]) as tf.Tensor3D;
    const context = tf.randomNormal([2, 7, 16]) as tf.Tensor3D;
    for (const options of [
      { causal: true, rope: true },
      { context },
      { chunkSize: 2, causal: true },
    ]) {
      expectNoLeak(() => multiHeadAttention(config, params, x, options));
      expectNoLeak(() =>
        tf.grads((a, k) =>
          tf.sum(
            multiHeadAttention(
              config,
              { ...params, query: { ...params.query, kernel: k as tf.Tensor2D } },
              a as tf.Tensor3D,
              options,
            ),
          ),
        )([x, params.query.kernel]),
      );
    }
    expectNoLeak(() => initMultiHeadAttention({ dModel: 8, numHeads: 2 }, 0));
    tf.dispose([params, x, context]);
  });
});

describeRejections('multiHeadAttention rejects bad input with a TfjsBlocksError', () => {
  return [
    [
      'kv heads not dividing',
      () => initMultiHeadAttention({ dModel: 16, numHeads: 4, numKvHeads: 3 }, 0),
      /config.numKvHeads must be a divisor of numHeads \(4\); got 3/,
    ],
    [
      'heads not dividing dModel',
      () => initMultiHeadAttention({ dModel: 10, numHeads: 4 }, 0),
      /config.numHeads must be a divisor of dModel \(10\)/,
    ],
    [
      'rank-2 x',
      () =>
        multiHeadAttention(
          { dModel: 8, numHeads: 2 },
          initMultiHeadAttention({ dModel: 8, numHeads: 2 }, 0),
          tf.zeros([5, 8]) as unknown as tf.Tensor3D,
        ),
      /x must be a float32 tensor of rank 3 \[batch, time, dModel\]/,
    ],
    [
      'wrong width',
      () =>
        multiHeadAttention(
          { dModel: 8, numHeads: 2 },
          initMultiHeadAttention({ dModel: 8, numHeads: 2 }, 0),
          tf.zeros([1, 5, 6]) as tf.Tensor3D,
        ),
      /x.shape\[-1\] must be config.dModel = 8; got 6/,
    ],
    [
      'context batch',
      () =>
        multiHeadAttention(
          { dModel: 8, numHeads: 2 },
          initMultiHeadAttention({ dModel: 8, numHeads: 2 }, 0),
          tf.zeros([1, 5, 8]) as tf.Tensor3D,
          { context: tf.zeros([2, 3, 8]) as tf.Tensor3D },
        ),
      /options.context.shape\[0\] must be x.shape\[0\] \(batch\) = 1; got 2/,
    ],
    [
      'missing projection',
      () =>
        multiHeadAttention(
          { dModel: 8, numHeads: 2, numKvHeads: 2 },
          {} as MultiHeadAttentionParams,
          tf.zeros([1, 5, 8]) as tf.Tensor3D,
        ),
      /params.query.kernel must be a float32 tensor of rank 2.*got undefined/,
    ],
  ];
});

describeEachBackend('multiHeadAttention reads its head counts from the config', () => {
  it('params hold tensors only: no numHeads or numKvHeads in them', () => {
    const params = initMultiHeadAttention({ dModel: 8, numHeads: 2, numKvHeads: 1 }, 0);
    expect(Object.keys(params).sort()).toEqual(['key', 'output', 'query', 'value']);
    tf.dispose(params);
  });

  it('rejects params of another shape than the config, naming the projection', () => {
    const params = initMultiHeadAttention({ dModel: 8, numHeads: 2, numKvHeads: 1 }, 0);
    const x = tf.zeros([1, 3, 8]) as tf.Tensor3D;
    // GQA params (key [8, 4]) run with a config that says 2 key/value heads.
    const e = thrownWithoutLeak(() =>
      multiHeadAttention({ dModel: 8, numHeads: 2, numKvHeads: 2 }, params, x),
    );
    expect(e.functionName).toBe('multiHeadAttention');
    expect(e.argument).toBe('params.key.kernel.shape[1]');
    tf.dispose([params, x]);
  });

  it('rejects a bias the config says is absent, and a missing one', () => {
    const config = { dModel: 8, numHeads: 2 };
    const params = initMultiHeadAttention(config, 0);
    const x = tf.zeros([1, 3, 8]) as tf.Tensor3D;
    const noBias = thrownWithoutLeak(() =>
      multiHeadAttention({ ...config, useBias: false }, params, x),
    );
    expect(noBias.argument).toBe('params.query.bias');
    const { bias: _bias, ...kernelOnly } = params.output;
    const missing = thrownWithoutLeak(() =>
      multiHeadAttention(config, { ...params, output: kernelOnly }, x),
    );
    expect(missing.argument).toBe('params.output.bias');
    tf.dispose([params, x]);
  });

  it('rejects an unknown config key with the closest name', () => {
    const params = initMultiHeadAttention({ dModel: 8, numHeads: 2 }, 0);
    const x = tf.zeros([1, 3, 8]) as tf.Tensor3D;
    const e = thrownWithoutLeak(() =>
      multiHeadAttention({ dModel: 8, numHeads: 2, numHead: 2 } as never, params, x),
    );
    expect(e.argument).toBe('config.numHead');
    tf.dispose([params, x]);
  });
});
