import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  initTransformerDecoderBlock,
  initTransformerEncoderBlock,
  type TransformerBlockConfig,
  type TransformerDecoderBlockParams,
  transformerDecoderBlock,
  transformerEncoderBlock,
  treeLeavesWithPath,
} from '../../src/index';
import { expectClose } from '../helpers/close';
import { expectNoLeak } from '../helpers/leaks';
import { thrownWithoutLeak } from '../helpers/rejections';

const config: TransformerBlockConfig = {
  dModel: 8,
  numHeads: 2,
  norm: { kind: 'layer' },
  feedForward: { hidden: 24, kind: 'mlp', activation: 'gelu' },
  dropoutRate: 0.3,
  attentionDropoutRate: 0.2,
};
const weights = (shape: number[]) => tf.randomNormal(shape, 0, 1, 'float32', 7);

/** Gradients of `sum(block(x) · w)` w.r.t. `x` and every param, in path order. */
function blockGradients(
  params: TransformerDecoderBlockParams,
  x: tf.Tensor3D,
  run: (p: TransformerDecoderBlockParams, x: tf.Tensor3D) => tf.Tensor,
): tf.Tensor[] {
  const leaves = treeLeavesWithPath(params);
  return tf.tidy(() => {
    const w = weights(x.shape);
    return tf.grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(run(params, xs[0] as tf.Tensor3D), w)))([
      x,
      ...leaves.map(([, t]) => t),
    ]);
  });
}

function expectAllClose(actual: tf.Tensor[], expected: tf.Tensor[]) {
  expect(actual.length).toBe(expected.length);
  actual.forEach((a, i) => {
    expectClose(a, expected[i]!, { rtol: 1e-5, atol: 1e-5 });
  });
}

/** LoRA factors by hand on the query and value projections (b non-zero, so gradients reach a). */
function withHandLora(params: TransformerDecoderBlockParams): TransformerDecoderBlockParams {
  const factors = (seed: number) => ({
    a: tf.randomNormal([8, 2], 0, 0.5, 'float32', seed) as tf.Tensor2D,
    b: tf.randomNormal([2, 8], 0, 0.5, 'float32', seed + 1) as tf.Tensor2D,
    scale: 2,
  });
  return {
    ...params,
    attention: {
      ...params.attention,
      query: { ...params.attention.query, lora: factors(1) },
      value: { ...params.attention.value, lora: factors(3) },
    },
  };
}

describe('gradient checkpointing of a block', () => {
  const x = tf.randomNormal([2, 5, 8], 0, 1, 'float32', 1) as tf.Tensor3D;
  const mask = tf.cast(tf.tensor4d([1, 1, 1, 1, 0, 1, 1, 1, 1, 1], [2, 1, 1, 5]), 'bool');

  it('decoder block: the same output and gradients (dropout on, padding mask) as without it', () => {
    const params = initTransformerDecoderBlock(config, 3);
    const options = { training: true, seed: 11, mask };
    const plain = blockGradients(params, x, (p, h) =>
      transformerDecoderBlock(config, p, h, options),
    );
    const ckpt = blockGradients(params, x, (p, h) =>
      transformerDecoderBlock(config, p, h, { ...options, gradientCheckpointing: true }),
    );
    expectAllClose(ckpt, plain);
    const y0 = transformerDecoderBlock(config, params, x, options);
    const y1 = transformerDecoderBlock(config, params, x, {
      ...options,
      gradientCheckpointing: true,
    });
    expectClose(y1, y0, { rtol: 0, atol: 0 });
    tf.dispose([plain, ckpt, y0, y1, params as never]);
  });

  it('decoder block with LoRA factors: adapter gradients equal the plain path; no seed given', () => {
    const base = initTransformerDecoderBlock(
      { ...config, dropoutRate: 0, attentionDropoutRate: 0 },
      4,
    );
    const params = withHandLora(base);
    const quiet = { ...config, dropoutRate: 0, attentionDropoutRate: 0 };
    const plain = blockGradients(params, x, (p, h) => transformerDecoderBlock(quiet, p, h));
    const ckpt = blockGradients(params, x, (p, h) =>
      transformerDecoderBlock(quiet, p, h, { gradientCheckpointing: true }),
    );
    expectAllClose(ckpt, plain);
    tf.dispose([plain, ckpt, base as never, params.attention.query.lora as never]);
    tf.dispose(params.attention.value.lora as never);
  });

  it('decoder block with cross-attention: the context gets its gradient too', () => {
    const params = initTransformerDecoderBlock(config, 5, { withCrossAttention: true });
    const context = tf.randomNormal([2, 3, 8], 0, 1, 'float32', 9) as tf.Tensor3D;
    const grads = (checkpointing: boolean) =>
      tf.tidy(() =>
        tf.grads((h: tf.Tensor, c: tf.Tensor) =>
          tf.sum(
            tf.square(
              transformerDecoderBlock(config, params, h as tf.Tensor3D, {
                training: true,
                seed: 2,
                context: c as tf.Tensor3D,
                gradientCheckpointing: checkpointing,
              }),
            ),
          ),
        )([x, context]),
      );
    const plain = grads(false);
    const ckpt = grads(true);
    expectAllClose(ckpt, plain);
    tf.dispose([plain, ckpt, context, params as never]);
  });

  it('encoder block: the same gradients as without it', () => {
    const params = initTransformerEncoderBlock(config, 6);
    const options = { training: true, seed: 5, mask };
    const run = (checkpointing: boolean) => (p: TransformerDecoderBlockParams, h: tf.Tensor3D) =>
      transformerEncoderBlock(config, p, h, { ...options, gradientCheckpointing: checkpointing });
    const plain = blockGradients(params, x, run(false));
    const ckpt = blockGradients(params, x, run(true));
    expectAllClose(ckpt, plain);
    tf.dispose([plain, ckpt, params as never]);
  });

  it('a non-trainable tf.Variable gets no gradient; trainable ones do (tf.variableGrads)', () => {
    const params = initTransformerDecoderBlock(config, 7);
    const frozen = tf.variable(params.attention.query.kernel, false);
    const trained = tf.variable(params.attention.value.kernel, true);
    const p = {
      ...params,
      attention: {
        ...params.attention,
        query: { ...params.attention.query, kernel: frozen as tf.Tensor2D },
        value: { ...params.attention.value, kernel: trained as tf.Tensor2D },
      },
    };
    const before = tf.memory().numTensors;
    const { value, grads } = tf.variableGrads(
      () =>
        tf.sum(tf.square(transformerDecoderBlock(config, p, x, { gradientCheckpointing: true }))),
      [frozen, trained],
    );
    // tfjs reports a variable the loss does not reach with a null gradient.
    expect(grads[frozen.name] ?? null).toBeNull();
    expect(grads[trained.name]).toBeInstanceOf(tf.Tensor);
    const plain = tf.grad((k: tf.Tensor) =>
      tf.sum(
        tf.square(
          transformerDecoderBlock(
            config,
            {
              ...p,
              attention: {
                ...p.attention,
                value: { ...p.attention.value, kernel: k as tf.Tensor2D },
              },
            },
            x,
          ),
        ),
      ),
    )(trained);
    expectClose(grads[trained.name]!, plain, { rtol: 1e-5, atol: 1e-5 });
    tf.dispose([value, plain, grads[trained.name]!]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([frozen, trained, params as never]);
  });

  it('adds only its outputs: forward, under tf.grads, and with no tape', () => {
    const params = initTransformerDecoderBlock(config, 8);
    const leaves = treeLeavesWithPath(params).map(([, t]) => t);
    const options = { training: true, mask, gradientCheckpointing: true } as const;
    expectNoLeak(() => transformerDecoderBlock(config, params, x, options));
    expectNoLeak(() =>
      tf.grads((h: tf.Tensor, ..._params: tf.Tensor[]) =>
        tf.sum(transformerDecoderBlock(config, params, h as tf.Tensor3D, options)),
      )([x, ...leaves]),
    );
    expectNoLeak(() =>
      tf.grad((h: tf.Tensor) =>
        tf.sum(transformerEncoderBlock(config, params, h as tf.Tensor3D, options)),
      )(x),
    );
    tf.dispose(params as never);
  });

  describe('bad options', () => {
    const params = initTransformerDecoderBlock(config, 9);
    const cases: Array<[string, unknown, string]> = [
      ['a string', 'yes', 'options.gradientCheckpointing'],
      ['null', null, 'options.gradientCheckpointing'],
      ['an unknown key', { every: 2 }, 'options.gradientCheckpointing.every'],
      [
        'a non-function trainable',
        { trainable: 'lora' },
        'options.gradientCheckpointing.trainable',
      ],
    ];
    for (const [name, value, argument] of cases) {
      it(`${name} names ${argument}`, () => {
        for (const call of [
          () =>
            transformerDecoderBlock(config, params, x, { gradientCheckpointing: value as never }),
          () =>
            transformerEncoderBlock(config, params, x, { gradientCheckpointing: value as never }),
        ]) {
          const error = thrownWithoutLeak(call);
          expect(error.argument).toBe(argument);
        }
      });
    }

    it('with a cache', () => {
      const cache = {
        self: {
          key: tf.zeros([2, 2, 8, 4]) as tf.Tensor4D,
          value: tf.zeros([2, 2, 8, 4]) as tf.Tensor4D,
        },
        index: 0,
      };
      const error = thrownWithoutLeak(() =>
        transformerDecoderBlock(config, params, x, { cache, gradientCheckpointing: true }),
      );
      expect(error.argument).toBe('options.gradientCheckpointing');
      tf.dispose([cache.self.key, cache.self.value]);
    });

    it('a trainable predicate that throws leaves nothing behind', () => {
      const before = tf.memory().numTensors;
      expect(() =>
        tf.grad((h: tf.Tensor) =>
          tf.sum(
            transformerDecoderBlock(config, params, h as tf.Tensor3D, {
              gradientCheckpointing: {
                trainable: () => {
                  throw new Error('no');
                },
              },
            }),
          ),
        )(x),
      ).toThrow('no');
      expect(tf.memory().numTensors).toBe(before);
    });
  });
});
