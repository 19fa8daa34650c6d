import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  type DecoderLmConfig,
  type DecoderLmOptions,
  type DecoderLmParams,
  decoderLm,
  gpt2Config,
  initDecoderLm,
  llamaConfig,
  softmaxCrossEntropy,
  treeLeavesWithPath,
} from '../../src/index';
import type { LoraFactors } from '../../src/nn/linear';
import { expectClose } from '../helpers/close';
import { expectNoLeak } from '../helpers/leaks';
import { thrownWithoutLeak } from '../helpers/rejections';

const ids = tf.tensor2d(
  [
    [1, 5, 9, 3, 2],
    [4, 4, 7, 0, 0],
  ],
  undefined,
  'int32',
);
const targets = tf.tensor2d(
  [
    [5, 9, 3, 2, 8],
    [4, 7, 1, 0, 0],
  ],
  undefined,
  'int32',
);
const paddingMask = tf.tensor2d([
  [1, 1, 1, 1, 1],
  [1, 1, 1, 0, 0],
]);
const gpt2 = {
  ...gpt2Config({ vocabSize: 16, maxLength: 8, dModel: 8, numLayers: 3, numHeads: 2 }),
};
gpt2.block = { ...gpt2.block, dropoutRate: 0.2, attentionDropoutRate: 0.1 };
const llama = llamaConfig({
  vocabSize: 16,
  maxLength: 8,
  dModel: 8,
  numLayers: 2,
  numHeads: 2,
  numKvHeads: 1,
  hidden: 12,
});

function loss(config: DecoderLmConfig, params: DecoderLmParams, options: DecoderLmOptions) {
  return softmaxCrossEntropy(decoderLm(config, params, ids, options), targets);
}

/** Gradients of the loss w.r.t. the params `select` picks, in path order. */
function gradients(
  config: DecoderLmConfig,
  params: DecoderLmParams,
  options: DecoderLmOptions,
  select: (path: string) => boolean = () => true,
): tf.Tensor[] {
  const xs = treeLeavesWithPath(params)
    .filter(([path]) => select(path))
    .map(([, t]) => t);
  return tf.tidy(() => tf.grads(() => loss(config, params, options))(xs));
}

/** Hand-made LoRA factors on every block's query and value projections (PEFT's q_proj, v_proj). */
function withHandLora(params: DecoderLmParams, dModel: number, rank = 2): DecoderLmParams {
  let seed = 100;
  const factors = (outFeatures: number): LoraFactors => ({
    a: tf.randomNormal([dModel, rank], 0, 0.5, 'float32', seed++) as tf.Tensor2D,
    b: tf.randomNormal([rank, outFeatures], 0, 0.5, 'float32', seed++) as tf.Tensor2D,
    scale: 4 / rank,
  });
  return {
    ...params,
    blocks: params.blocks.map((block) => ({
      ...block,
      attention: {
        ...block.attention,
        query: { ...block.attention.query, lora: factors(block.attention.query.kernel.shape[1]) },
        value: { ...block.attention.value, lora: factors(block.attention.value.kernel.shape[1]) },
      },
    })),
  };
}

const isLora = (path: string) => path.includes('.lora.');
const loraLeaves = (params: DecoderLmParams) =>
  treeLeavesWithPath(params)
    .filter(([path]) => isLora(path))
    .map(([, t]) => t);

describe('decoderLm with gradient checkpointing', () => {
  for (const [name, config] of [
    ['gpt2 (dropout on, padding mask)', gpt2],
    ['llama (RoPE, GQA, SwiGLU)', llama],
  ] as const) {
    it(`${name}: every param's gradient equals the plain path's`, () => {
      const params = initDecoderLm(config, 1);
      const options = { training: true, seed: 3, paddingMask };
      const plain = gradients(config, params, options);
      const ckpt = gradients(config, params, { ...options, gradientCheckpointing: true });
      expect(ckpt.length).toBe(plain.length);
      ckpt.forEach((g, i) => {
        expectClose(g, plain[i]!, { rtol: 1e-5, atol: 1e-5 });
      });
      tf.dispose([plain, ckpt, params as never]);
    });
  }

  it('LoRA: the adapter gradients equal the plain path, with trainable picking the factors', () => {
    const base = initDecoderLm(gpt2, 2);
    const params = withHandLora(base, 8);
    const options = { training: true, seed: 4, paddingMask };
    const plain = gradients(gpt2, params, options, isLora);
    const ckpt = gradients(
      gpt2,
      params,
      { ...options, gradientCheckpointing: { trainable: isLora } },
      isLora,
    );
    expect(plain.length).toBe(12); // 3 blocks × 2 linears × (a, b)
    ckpt.forEach((g, i) => {
      expectClose(g, plain[i]!, { rtol: 1e-5, atol: 1e-5 });
    });
    tf.dispose([plain, ckpt, loraLeaves(params), base as never]);
  });

  it('LoRA: no kernel computes a gradient of a frozen weight (tf.profile of the whole step)', async () => {
    // dModel 8, hidden 32, 10 rows of activations: only a weight's
    // gradient is a product of one of these shapes (clones of the weights
    // are Identity kernels, no compute).
    const frozenShapes = new Set(['8,8', '8,32', '32,8']);
    const base = initDecoderLm(gpt2, 3);
    const params = withHandLora(base, 8);
    const weightShapedOutputs = async (options: DecoderLmOptions) => {
      const profile = await tf.profile(() => {
        tf.dispose(tf.grads(() => loss(gpt2, params, options))(loraLeaves(params)));
      });
      return profile.kernels.filter(
        (k) =>
          k.name.includes('MatMul') &&
          k.outputShapes.some((s) => s !== undefined && frozenShapes.has(s.join(','))),
      ).length;
    };
    const options = { training: true, seed: 5 };
    // tfjs itself computes no frozen gradient without checkpointing...
    expect(await weightShapedOutputs(options)).toBe(0);
    // ...and neither does a checkpoint that takes only the factors as inputs,
    expect(
      await weightShapedOutputs({ ...options, gradientCheckpointing: { trainable: isLora } }),
    ).toBe(0);
    // while one that differentiates every param does (the count can fail).
    expect(await weightShapedOutputs({ ...options, gradientCheckpointing: true })).toBeGreaterThan(
      0,
    );
    tf.dispose([loraLeaves(params), base as never]);
  });

  it('keeps less memory at the peak of a training step (≥ 1.5× less activation memory)', async () => {
    const config = gpt2Config({
      vocabSize: 64,
      maxLength: 256,
      dModel: 32,
      numLayers: 4,
      numHeads: 4,
    });
    const params = initDecoderLm(config, 4);
    const leaves = treeLeavesWithPath(params).map(([, t]) => t);
    const tokens = tf.randomUniform([1, 256], 0, 64, 'int32');
    const activationPeak = async (gradientCheckpointing: boolean) => {
      const start = tf.memory().numBytes;
      const profile = await tf.profile(() => {
        const grads = tf.grads(() =>
          softmaxCrossEntropy(
            decoderLm(config, params, tokens, { training: true, seed: 1, gradientCheckpointing }),
            tokens,
          ),
        )(leaves);
        tf.dispose(grads);
      });
      const paramBytes = leaves.reduce((n, t) => n + t.size * 4, 0);
      // Peak minus what was resident before and the gradients (one per param).
      return profile.peakBytes - start - paramBytes;
    };
    const plain = await activationPeak(false);
    const ckpt = await activationPeak(true);
    expect(plain / ckpt).toBeGreaterThanOrEqual(1.5);
    tf.dispose([tokens, params as never]);
  });

  it('adds only its outputs (forward and gradients)', () => {
    const params = withHandLora(initDecoderLm(gpt2, 6), 8);
    const options = { training: true, paddingMask, gradientCheckpointing: { trainable: isLora } };
    expectNoLeak(() => decoderLm(gpt2, params, ids, options));
    expectNoLeak(() => tf.grads(() => loss(gpt2, params, options))(loraLeaves(params)));
    tf.dispose(treeLeavesWithPath(params).map(([, t]) => t));
  });

  describe('bad options', () => {
    const params = initDecoderLm(llama, 7);
    for (const [value, argument] of [
      ['on', 'options.gradientCheckpointing'],
      [{ trainble: isLora }, 'options.gradientCheckpointing.trainble'],
      [{ trainable: true }, 'options.gradientCheckpointing.trainable'],
    ] as const) {
      it(`${JSON.stringify(value)} names ${argument}`, () => {
        const error = thrownWithoutLeak(() =>
          decoderLm(llama, params, ids, { gradientCheckpointing: value as never }),
        );
        expect(error.argument).toBe(argument);
      });
    }

    it('with a cache', () => {
      const self = params.blocks.map(() => ({
        key: tf.zeros([2, 1, 8, 4]) as tf.Tensor4D,
        value: tf.zeros([2, 1, 8, 4]) as tf.Tensor4D,
      }));
      const error = thrownWithoutLeak(() =>
        decoderLm(llama, params, ids, { cache: { self, index: 0 }, gradientCheckpointing: true }),
      );
      expect(error.argument).toBe('options.gradientCheckpointing');
      tf.dispose(self.flatMap((c) => [c.key, c.value]));
    });
  });
});
