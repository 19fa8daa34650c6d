// The cases of the cross-backend agreement suites, and the harness that runs
// one case on cpu (the reference) and on another backend. Shared by the Node
// suite (test/reliability/cross-backend.test.ts: cpu vs wasm) and the browser
// page (test/browser/cross-backend-page: cpu vs webgl / webgpu), so both
// measure the same functions on the same inputs. No test-runner or Node
// imports here: the page bundles this file with Vite.
//
// Each case's inputs are built on cpu from seeded numbers, copied out as plain
// numbers and rebuilt on each backend; the outputs and the gradients of
// sum(output · cotangent) with respect to the listed inputs are compared. An
// error is |other - cpu| / max|cpu| over each tensor (the tensor's largest
// entry sets the scale).
import * as tf from '@tensorflow/tfjs-core';
import {
  adadelta,
  adafactor,
  adagrad,
  adam,
  adamax,
  adamw,
  alibiBias,
  alibiSlopes,
  applyRotaryEmbedding,
  applyUpdates,
  bertConfig,
  chain,
  clipByGlobalNorm,
  cosineEmbeddingLoss,
  ctcLoss,
  decoderLm,
  dequantizeWeights,
  distillationLoss,
  embed,
  encoderClassifier,
  encoderDecoder,
  feedForward,
  flattenParams,
  focalLoss,
  type GradientTransformation,
  gelu,
  generate,
  gpt2Config,
  huberLoss,
  infoNceLoss,
  initDecoderLm,
  initEmbedding,
  initEncoderClassifier,
  initEncoderDecoder,
  initFeedForward,
  initLinear,
  initMixtureOfExperts,
  initMultiHeadAttention,
  initPatchEmbedding,
  initTokenAndPositionEmbedding,
  initTransformerDecoderBlock,
  initTransformerEncoderBlock,
  initVit,
  klDivergence,
  lamb,
  layerNorm,
  linear,
  lion,
  llamaConfig,
  meanAbsoluteError,
  meanSquaredError,
  memoryEfficientAttention,
  mixtureOfExperts,
  multiHeadAttention,
  nadam,
  patchEmbedding,
  perplexity,
  quantizedLinear,
  quantizeWeights,
  radam,
  rmsNorm,
  rmsprop,
  scaledDotProductAttention,
  seededRandom,
  sgd,
  sigmoidBinaryCrossEntropy,
  silu,
  sinusoidalPositionEncoding,
  softmaxCrossEntropy,
  type TransformerBlockConfig,
  tiedOutputProjection,
  tokenAccuracy,
  tokenAndPositionEmbedding,
  transformerDecoderBlock,
  transformerEncoderBlock,
  tripletMarginLoss,
  unflattenParams,
  vit,
  warmupCosineDecaySchedule,
} from '../../src/index';
import { sumTensors } from '../../src/internal/reduce';

/** The bound every case must meet: |diff| / max|reference| per tensor. */
export const RTOL = 1e-4;
export type Inputs = Record<string, tf.Tensor>;
export type Outputs = tf.Tensor | tf.Tensor[];

/** One case: built on cpu; `run` is then called on each backend with copies of the inputs. */
export interface Case {
  /** The public function(s) measured: the row of docs/backends.md. */
  fn: string;
  /** What this case varies. */
  variant: string;
  setup: () => {
    inputs: Inputs;
    run: (t: Inputs) => Outputs;
    /** Inputs to differentiate; default none. */
    grad?: string[];
  };
  /** Host-side results compared exactly (e.g. generated tokens, int8 codes). */
  exact?: boolean;
}

let rand = seededRandom(1);
/** Restarts the generator that makes the cases' inputs (`compareCase` does, per case). */
export function reseed(seed: number): void {
  rand = seededRandom(seed);
}
const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
/** Uniform in [-scale, scale). */
const uniform = (shape: number[], scale = 1) =>
  tf.tensor(
    Array.from({ length: size(shape) }, () => (2 * rand() - 1) * scale),
    shape,
  );
const positive = (shape: number[]) =>
  tf.tensor(
    Array.from({ length: size(shape) }, () => 0.5 + rand()),
    shape,
  );
const ints = (shape: number[], n: number) =>
  tf.tensor(
    Array.from({ length: size(shape) }, () => Math.floor(rand() * n)),
    shape,
    'int32',
  );
const bools = (shape: number[], pTrue: number) =>
  tf.tensor(
    Array.from({ length: size(shape) }, () => (rand() < pTrue ? 1 : 0)),
    shape,
    'bool',
  );
/** A probability distribution along the last axis. */
const probabilities = (shape: number[]) => tf.tidy(() => tf.softmax(uniform(shape, 2)));
/** Params (flattened, as `p.<path>`) plus other inputs; `params(t)` rebuilds the record. */
function withParams<P>(template: P, other: Inputs) {
  const flat = flattenParams(template);
  const inputs: Inputs = { ...other };
  for (const [k, v] of Object.entries(flat)) inputs[`p.${k}`] = v;
  const params = (t: Inputs): P =>
    unflattenParams(template, Object.fromEntries(Object.keys(flat).map((k) => [k, t[`p.${k}`]!])));
  return { inputs, params, names: Object.keys(flat).map((k) => `p.${k}`) };
}

// ---- Small configs for the block and model cases (wasm runs matMul gradients as plain loops).
const block = (over: Partial<TransformerBlockConfig> = {}): TransformerBlockConfig => ({
  dModel: 16,
  numHeads: 4,
  feedForward: { hidden: 32, kind: 'mlp', activation: 'gelu' },
  norm: { kind: 'layer' },
  normPosition: 'pre',
  ...over,
});

const optimizerCase = (name: string, make: () => GradientTransformation<unknown>): Case => ({
  fn: 'optimizer update',
  variant: name,
  setup: () => {
    const inputs: Inputs = {
      w: uniform([6, 5]),
      b: uniform([5]),
      g1w: uniform([6, 5], 2),
      g1b: uniform([5], 2),
      g2w: uniform([6, 5], 2),
      g2b: uniform([5], 2),
      g3w: uniform([6, 5], 0.1),
      g3b: uniform([5], 0.1),
    };
    return {
      inputs,
      // Three steps of init/update/applyUpdates: the final params and updates.
      run: (t) => {
        const optimizer = make();
        let params: Inputs = { w: t.w!, b: t.b! };
        let state = optimizer.init(params);
        let updates: Inputs = {};
        for (const i of [1, 2, 3]) {
          const result = optimizer.update({ w: t[`g${i}w`]!, b: t[`g${i}b`]! }, state, params);
          updates = result.updates;
          params = applyUpdates(params, updates);
          state = result.state;
        }
        return [params.w!, params.b!, updates.w!, updates.b!];
      },
    };
  },
});

export const CASES: Case[] = [
  // ---- Attention.
  {
    fn: 'scaledDotProductAttention',
    variant: 'plain, tq ≠ tk',
    setup: () => ({
      inputs: { q: uniform([2, 4, 6, 8]), k: uniform([2, 4, 7, 8]), v: uniform([2, 4, 7, 8]) },
      run: (t) =>
        scaledDotProductAttention(t.q as tf.Tensor4D, t.k as tf.Tensor4D, t.v as tf.Tensor4D),
      grad: ['q', 'k', 'v'],
    }),
  },
  {
    fn: 'scaledDotProductAttention',
    variant: 'causal, GQA (4 q heads, 2 kv heads)',
    setup: () => ({
      inputs: { q: uniform([2, 4, 6, 8]), k: uniform([2, 2, 6, 8]), v: uniform([2, 2, 6, 8]) },
      run: (t) =>
        scaledDotProductAttention(t.q as tf.Tensor4D, t.k as tf.Tensor4D, t.v as tf.Tensor4D, {
          causal: true,
        }),
      grad: ['q', 'k', 'v'],
    }),
  },
  {
    fn: 'scaledDotProductAttention',
    variant: 'boolean mask [b, 1, tq, tk], returnWeights',
    setup: () => ({
      inputs: {
        q: uniform([2, 4, 6, 8], 2),
        k: uniform([2, 4, 7, 8], 2),
        v: uniform([2, 4, 7, 8]),
        mask: bools([2, 1, 6, 7], 0.7),
      },
      run: (t) => {
        const r = scaledDotProductAttention(
          t.q as tf.Tensor4D,
          t.k as tf.Tensor4D,
          t.v as tf.Tensor4D,
          { mask: t.mask, returnWeights: true },
        );
        return [r.output, r.weights];
      },
      grad: ['q', 'k', 'v'],
    }),
  },
  {
    fn: 'scaledDotProductAttention',
    variant: 'chunked path (chunkSize 3), causal',
    setup: () => ({
      inputs: { q: uniform([2, 4, 7, 8]), k: uniform([2, 4, 7, 8]), v: uniform([2, 4, 7, 8]) },
      run: (t) =>
        scaledDotProductAttention(t.q as tf.Tensor4D, t.k as tf.Tensor4D, t.v as tf.Tensor4D, {
          causal: true,
          chunkSize: 3,
        }),
      grad: ['q', 'k', 'v'],
    }),
  },
  {
    fn: 'memoryEfficientAttention',
    variant: 'GQA, mask [tq, tk], chunkSize 4',
    setup: () => ({
      inputs: {
        q: uniform([2, 4, 6, 8]),
        k: uniform([2, 2, 9, 8]),
        v: uniform([2, 2, 9, 8]),
        mask: bools([6, 9], 0.8),
      },
      run: (t) =>
        memoryEfficientAttention(t.q as tf.Tensor4D, t.k as tf.Tensor4D, t.v as tf.Tensor4D, {
          mask: t.mask,
          chunkSize: 4,
        }),
      grad: ['q', 'k', 'v'],
    }),
  },
  {
    fn: 'multiHeadAttention',
    variant: 'self-attention, bias',
    setup: () => {
      const p = withParams(initMultiHeadAttention({ dModel: 16, numHeads: 4 }, 3), {
        x: uniform([2, 5, 16]),
      });
      return {
        inputs: p.inputs,
        run: (t) =>
          multiHeadAttention({ dModel: 16, numHeads: 4 }, p.params(t), t.x as tf.Tensor3D),
        grad: ['x', ...p.names],
      };
    },
  },
  {
    fn: 'multiHeadAttention',
    variant: 'causal, RoPE, GQA, no bias',
    setup: () => {
      const p = withParams(
        initMultiHeadAttention({ dModel: 16, numHeads: 4, numKvHeads: 2, useBias: false }, 4),
        { x: uniform([2, 6, 16]) },
      );
      return {
        inputs: p.inputs,
        run: (t) =>
          multiHeadAttention(
            { dModel: 16, numHeads: 4, numKvHeads: 2, useBias: false },
            p.params(t),
            t.x as tf.Tensor3D,
            { causal: true, rope: true },
          ),
        grad: ['x', ...p.names],
      };
    },
  },
  {
    fn: 'multiHeadAttention',
    variant: 'cross-attention (context of width 12), chunked path',
    setup: () => {
      const p = withParams(initMultiHeadAttention({ dModel: 16, numHeads: 2, contextDim: 12 }, 5), {
        x: uniform([2, 5, 16]),
        context: uniform([2, 7, 12]),
      });
      return {
        inputs: p.inputs,
        run: (t) =>
          multiHeadAttention(
            { dModel: 16, numHeads: 2, contextDim: 12 },
            p.params(t),
            t.x as tf.Tensor3D,
            {
              context: t.context as tf.Tensor3D,
              chunkSize: 3,
            },
          ),
        grad: ['x', 'context', ...p.names],
      };
    },
  },
  {
    fn: 'applyRotaryEmbedding',
    variant: 'offset 3',
    setup: () => ({
      inputs: { x: uniform([2, 4, 6, 8]) },
      run: (t) => applyRotaryEmbedding(t.x as tf.Tensor4D, { offset: 3 }),
      grad: ['x'],
    }),
  },
  {
    fn: 'alibiBias / alibiSlopes',
    variant: '6 heads, tq 5, tk 7',
    setup: () => ({ inputs: {}, run: () => [alibiBias(6, 5, 7), alibiSlopes(6)] }),
  },
  {
    fn: 'sinusoidalPositionEncoding',
    variant: 'length 16, dim 8',
    setup: () => ({ inputs: {}, run: () => sinusoidalPositionEncoding(16, 8) }),
  },
  // ---- Norms, activations, linear, feed-forward.
  {
    fn: 'layerNorm',
    variant: 'x [3, 5, 16], gamma, beta',
    setup: () => ({
      inputs: { x: uniform([3, 5, 16], 3), gamma: positive([16]), beta: uniform([16]) },
      run: (t) => layerNorm(t.x!, t.gamma!, t.beta!),
      grad: ['x', 'gamma', 'beta'],
    }),
  },
  {
    fn: 'rmsNorm',
    variant: 'x [3, 5, 16], gamma',
    setup: () => ({
      inputs: { x: uniform([3, 5, 16], 3), gamma: positive([16]) },
      run: (t) => rmsNorm(t.x!, t.gamma!),
      grad: ['x', 'gamma'],
    }),
  },
  {
    fn: 'gelu',
    variant: 'exact (erf) and tanh, x in [-6, 6]',
    setup: () => ({
      inputs: { x: uniform([4, 64], 6) },
      run: (t) => [gelu(t.x!), gelu(t.x!, { approximate: 'tanh' })],
      grad: ['x'],
    }),
  },
  {
    fn: 'silu',
    variant: 'x in [-6, 6]',
    setup: () => ({ inputs: { x: uniform([4, 64], 6) }, run: (t) => silu(t.x!), grad: ['x'] }),
  },
  {
    fn: 'linear',
    variant: '[2, 5, 12] -> 10, bias',
    setup: () => {
      const p = withParams(initLinear({ inFeatures: 12, outFeatures: 10 }, 6), {
        x: uniform([2, 5, 12]),
      });
      return {
        inputs: p.inputs,
        run: (t) => linear({ inFeatures: 12, outFeatures: 10 }, p.params(t), t.x!),
        grad: ['x', ...p.names],
      };
    },
  },
  ...(
    [
      ['mlp', 'gelu'],
      ['mlp', 'gelu-tanh'],
      ['mlp', 'relu'],
      ['gated', 'silu'],
    ] as const
  ).map(
    ([kind, activation]): Case => ({
      fn: 'feedForward',
      variant: `${kind}, ${activation}`,
      setup: () => {
        const config = { dModel: 12, hidden: 24, kind, activation };
        const p = withParams(initFeedForward(config, 7), { x: uniform([2, 5, 12]) });
        return {
          inputs: p.inputs,
          run: (t) => feedForward(config, p.params(t), t.x!),
          grad: ['x', ...p.names],
        };
      },
    }),
  ),
  {
    fn: 'mixtureOfExperts',
    variant: '4 experts, top-2, gated silu: output and aux loss',
    setup: () => {
      const config = {
        dModel: 8,
        hidden: 16,
        numExperts: 4,
        topK: 2,
        activation: 'silu',
        kind: 'gated',
      } as const;
      const p = withParams(initMixtureOfExperts(config, 8), { x: uniform([2, 5, 8], 2) });
      return {
        inputs: p.inputs,
        run: (t) => {
          const r = mixtureOfExperts(config, p.params(t), t.x!);
          return [r.output, r.auxLoss];
        },
        grad: ['x', ...p.names],
      };
    },
  },
  // ---- Embeddings.
  {
    fn: 'embed',
    variant: 'ids [3, 5] into a [20, 8] table (gradient: our scatter, not tf.gather’s)',
    setup: () => {
      const p = withParams(initEmbedding({ numEmbeddings: 20, embeddingDim: 8 }, 9), {
        ids: ints([3, 5], 20),
      });
      return {
        inputs: p.inputs,
        run: (t) => embed({ numEmbeddings: 20, embeddingDim: 8 }, p.params(t), t.ids!),
        grad: p.names,
      };
    },
  },
  {
    fn: 'tokenAndPositionEmbedding',
    variant: 'offset 2',
    setup: () => {
      const p = withParams(
        initTokenAndPositionEmbedding({ vocabSize: 20, maxLength: 10, dModel: 8 }, 10),
        {
          ids: ints([3, 5], 20),
        },
      );
      return {
        inputs: p.inputs,
        run: (t) =>
          tokenAndPositionEmbedding(
            { vocabSize: 20, maxLength: 10, dModel: 8 },
            p.params(t),
            t.ids!,
            {
              offset: 2,
            },
          ),
        grad: p.names,
      };
    },
  },
  {
    fn: 'tiedOutputProjection',
    variant: 'x [2, 5, 8], table [20, 8]',
    setup: () => {
      const p = withParams(initEmbedding({ numEmbeddings: 20, embeddingDim: 8 }, 11), {
        x: uniform([2, 5, 8]),
      });
      return {
        inputs: p.inputs,
        run: (t) => tiedOutputProjection({ numEmbeddings: 20, embeddingDim: 8 }, p.params(t), t.x!),
        grad: ['x', ...p.names],
      };
    },
  },
  {
    fn: 'patchEmbedding',
    variant: 'images [2, 8, 8, 3], patch 4',
    setup: () => {
      const p = withParams(initPatchEmbedding({ patchSize: 4, channels: 3, dModel: 8 }, 12), {
        images: uniform([2, 8, 8, 3]),
      });
      return {
        inputs: p.inputs,
        run: (t) =>
          patchEmbedding(
            { patchSize: 4, channels: 3, dModel: 8 },
            p.params(t),
            t.images as tf.Tensor4D,
          ),
        grad: ['images', ...p.names],
      };
    },
  },
  // ---- Blocks and models.
  ...(
    [
      ['pre-LN, gelu MLP', block()],
      ['post-LN', block({ normPosition: 'post' })],
      [
        'parallel, RMSNorm, gated silu, RoPE',
        block({
          normPosition: 'parallel',
          norm: { kind: 'rms' },
          feedForward: { hidden: 32, kind: 'gated', activation: 'silu' },
          rope: true,
        }),
      ],
    ] as const
  ).map(
    ([variant, config]): Case => ({
      fn: 'transformerEncoderBlock',
      variant,
      setup: () => {
        const p = withParams(initTransformerEncoderBlock(config, 13), {
          x: uniform([2, 6, 16]),
          mask: bools([2, 1, 1, 6], 0.8),
        });
        return {
          inputs: p.inputs,
          run: (t) =>
            transformerEncoderBlock(config, p.params(t), t.x as tf.Tensor3D, { mask: t.mask }),
          grad: ['x', ...p.names],
        };
      },
    }),
  ),
  {
    fn: 'transformerDecoderBlock',
    variant: 'causal self-attention + cross-attention, RMSNorm, GQA, ALiBi',
    setup: () => {
      const config = block({ norm: { kind: 'rms' }, numKvHeads: 2, alibi: true });
      const p = withParams(initTransformerDecoderBlock(config, 14, { withCrossAttention: true }), {
        x: uniform([2, 6, 16]),
        context: uniform([2, 4, 16]),
      });
      return {
        inputs: p.inputs,
        run: (t) =>
          transformerDecoderBlock(config, p.params(t), t.x as tf.Tensor3D, {
            context: t.context as tf.Tensor3D,
          }),
        grad: ['x', 'context', ...p.names],
      };
    },
  },
  {
    fn: 'decoderLm',
    variant: 'gpt2Config (vocab 24, d 16, 2 layers)',
    setup: () => {
      const config = gpt2Config({
        vocabSize: 24,
        maxLength: 12,
        dModel: 16,
        numLayers: 2,
        numHeads: 4,
      });
      const p = withParams(initDecoderLm(config, 15), { ids: ints([2, 8], 24) });
      return {
        inputs: p.inputs,
        run: (t) => decoderLm(config, p.params(t), t.ids!),
        grad: p.names,
      };
    },
  },
  {
    fn: 'decoderLm',
    variant: 'llamaConfig (RoPE, RMSNorm, gated silu, GQA)',
    setup: () => {
      const config = llamaConfig({
        vocabSize: 24,
        maxLength: 12,
        dModel: 16,
        numLayers: 2,
        numHeads: 4,
        numKvHeads: 2,
        hidden: 40,
      });
      const p = withParams(initDecoderLm(config, 16), { ids: ints([2, 8], 24) });
      return {
        inputs: p.inputs,
        run: (t) => decoderLm(config, p.params(t), t.ids!),
        grad: p.names,
      };
    },
  },
  {
    fn: 'encoderDecoder',
    variant: 'source mask, 2 + 2 layers',
    setup: () => {
      const config = {
        sourceVocabSize: 20,
        targetVocabSize: 18,
        maxLength: 10,
        numEncoderLayers: 2,
        numDecoderLayers: 2,
        block: block(),
      };
      const p = withParams(initEncoderDecoder(config, 17), {
        source: ints([2, 7], 20),
        target: ints([2, 5], 18),
        sourceMask: bools([2, 7], 0.8),
      });
      return {
        inputs: p.inputs,
        run: (t) =>
          encoderDecoder(config, p.params(t), t.source!, t.target!, { sourceMask: t.sourceMask }),
        grad: p.names,
      };
    },
  },
  {
    fn: 'vit',
    variant: 'images [2, 8, 8, 3], patch 4, cls pooling',
    setup: () => {
      const config = {
        imageSize: 8,
        patchSize: 4,
        channels: 3,
        dModel: 16,
        numLayers: 2,
        numHeads: 4,
        hidden: 32,
        numClasses: 5,
        pooling: 'cls',
      } as const;
      const p = withParams(initVit(config, 18), { images: uniform([2, 8, 8, 3]) });
      return {
        inputs: p.inputs,
        run: (t) => vit(config, p.params(t), t.images as tf.Tensor4D),
        grad: ['images', ...p.names],
      };
    },
  },
  {
    fn: 'encoderClassifier',
    variant: 'bertConfig (post-LN), mean pooling',
    setup: () => {
      const config = bertConfig({
        vocabSize: 20,
        maxLength: 10,
        dModel: 16,
        numLayers: 2,
        numHeads: 4,
        numClasses: 3,
        pooling: 'mean',
      });
      const p = withParams(initEncoderClassifier(config, 19), { ids: ints([2, 7], 20) });
      return {
        inputs: p.inputs,
        run: (t) => encoderClassifier(config, p.params(t), t.ids!),
        grad: p.names,
      };
    },
  },
  {
    fn: 'generate',
    variant:
      'greedy, seeded sampling (temperature 0.8) and beam search (3 beams); 2 prompts of different lengths: the tokens',
    exact: true,
    setup: () => {
      const config = gpt2Config({
        vocabSize: 24,
        maxLength: 16,
        dModel: 16,
        numLayers: 2,
        numHeads: 4,
      });
      const p = withParams(initDecoderLm(config, 20), {});
      return {
        inputs: p.inputs,
        // generate is async: runOn awaits the rows of an `exact` case.
        run: (t) => {
          const model = { kind: 'decoderLm', config, params: p.params(t) } as const;
          const prompts = [[1, 2, 3], [4]];
          const pending = Promise.all([
            generate(model, prompts, { maxNewTokens: 8, temperature: 0 }),
            generate(model, prompts, { maxNewTokens: 8, temperature: 0.8, seed: 3 }),
            generate(model, prompts, { maxNewTokens: 6, numBeams: 3 }),
          ]).then((runs) => runs.flat());
          return pending as unknown as tf.Tensor;
        },
      };
    },
  },
  // ---- Losses and metrics.
  {
    fn: 'softmaxCrossEntropy',
    variant: 'integer labels with -100 (ignored), mean',
    setup: () => ({
      inputs: {
        logits: uniform([4, 5, 7], 4),
        labels: tf.tidy(() =>
          tf.where(bools([4, 5], 0.8), ints([4, 5], 7), tf.fill([4, 5], -100, 'int32')),
        ),
      },
      run: (t) => softmaxCrossEntropy(t.logits!, t.labels!),
      grad: ['logits'],
    }),
  },
  {
    fn: 'softmaxCrossEntropy',
    variant: 'label smoothing 0.1, z-loss 1e-3, none',
    setup: () => ({
      inputs: { logits: uniform([6, 7], 4), labels: ints([6], 7) },
      run: (t) =>
        softmaxCrossEntropy(t.logits!, t.labels!, {
          labelSmoothing: 0.1,
          zLossWeight: 1e-3,
          reduction: 'none',
        }),
      grad: ['logits'],
    }),
  },
  {
    fn: 'softmaxCrossEntropy',
    variant: 'probability labels',
    setup: () => ({
      inputs: { logits: uniform([6, 7], 4), labels: probabilities([6, 7]) },
      run: (t) => softmaxCrossEntropy(t.logits!, t.labels!),
      grad: ['logits'],
    }),
  },
  {
    fn: 'sigmoidBinaryCrossEntropy / focalLoss',
    variant: 'logits [6, 4], targets in {0, 1}',
    setup: () => ({
      inputs: {
        logits: uniform([6, 4], 5),
        targets: tf.tidy(() => tf.cast(bools([6, 4], 0.4), 'float32')),
      },
      run: (t) => [
        sigmoidBinaryCrossEntropy(t.logits!, t.targets!),
        focalLoss(t.logits!, t.targets!),
      ],
      grad: ['logits'],
    }),
  },
  {
    fn: 'klDivergence / distillationLoss',
    variant: 'log-prob input, prob target; distillation at temperature 2',
    setup: () => ({
      inputs: {
        logits: uniform([5, 6], 3),
        target: probabilities([5, 6]),
        teacher: uniform([5, 6], 3),
      },
      run: (t) => [
        klDivergence(tf.logSoftmax(t.logits!), t.target!, { reduction: 'batchmean' }),
        distillationLoss(t.logits!, t.teacher!, { temperature: 2 }),
      ],
      grad: ['logits', 'teacher'],
    }),
  },
  {
    fn: 'meanSquaredError / meanAbsoluteError / huberLoss',
    variant: '[5, 6]',
    setup: () => ({
      inputs: { p: uniform([5, 6], 3), y: uniform([5, 6], 3) },
      run: (t) => [
        meanSquaredError(t.p!, t.y!),
        meanAbsoluteError(t.p!, t.y!),
        huberLoss(t.p!, t.y!, { delta: 1 }),
      ],
      grad: ['p', 'y'],
    }),
  },
  {
    fn: 'cosineEmbeddingLoss / tripletMarginLoss / infoNceLoss',
    variant: '[6, 8] embeddings',
    setup: () => ({
      inputs: {
        a: uniform([6, 8]),
        b: uniform([6, 8]),
        c: uniform([6, 8]),
        y: tf.tensor1d([1, -1, 1, 1, -1, -1]),
      },
      run: (t) => [
        cosineEmbeddingLoss(t.a!, t.b!, t.y!, { margin: 0.1 }),
        tripletMarginLoss(t.a!, t.b!, t.c!),
        infoNceLoss(t.a!, t.b!),
      ],
      grad: ['a', 'b', 'c'],
    }),
  },
  {
    fn: 'ctcLoss',
    variant: 'time 12, batch 2, 6 classes',
    setup: () => ({
      inputs: {
        logits: uniform([12, 2, 6], 2),
        targets: tf.tensor2d(
          [
            [1, 2, 2],
            [3, 5, 0],
          ],
          undefined,
          'int32',
        ),
      },
      run: (t) => ctcLoss(tf.logSoftmax(t.logits!) as tf.Tensor3D, t.targets!, [12, 10], [3, 2]),
      grad: ['logits'],
    }),
  },
  {
    fn: 'perplexity / tokenAccuracy',
    variant: 'logits [3, 5, 7]',
    setup: () => ({
      inputs: { logits: uniform([3, 5, 7], 3), labels: ints([3, 5], 7) },
      run: (t) => [perplexity(t.logits!, t.labels!), tokenAccuracy(t.logits!, t.labels!)],
    }),
  },
  // ---- Optimizers: three update steps.
  optimizerCase('sgd (momentum 0.9, Nesterov)', () =>
    sgd({ learningRate: 0.1, momentum: 0.9, nesterov: true }),
  ),
  optimizerCase('adam', () => adam({ learningRate: 0.01 })),
  optimizerCase('chain(clipByGlobalNorm(1), adamw(warmupCosineDecaySchedule))', () =>
    chain(
      clipByGlobalNorm(1),
      adamw({
        learningRate: warmupCosineDecaySchedule({
          peakValue: 0.01,
          warmupSteps: 2,
          decaySteps: 10,
        }),
        weightDecay: 0.1,
      }),
    ),
  ),
  optimizerCase('adamax', () => adamax({ learningRate: 0.01 })),
  optimizerCase('nadam', () => nadam({ learningRate: 0.01 })),
  optimizerCase('radam', () => radam({ learningRate: 0.01 })),
  optimizerCase('lion', () => lion({ learningRate: 0.01, weightDecay: 0.1 })),
  optimizerCase('lamb', () => lamb({ learningRate: 0.01, weightDecay: 0.1 })),
  optimizerCase('rmsprop (centered, momentum)', () =>
    rmsprop({ learningRate: 0.01, centered: true, momentum: 0.9 }),
  ),
  optimizerCase('adagrad', () => adagrad({ learningRate: 0.1 })),
  optimizerCase('adadelta', () => adadelta({ learningRate: 1 })),
  optimizerCase('adafactor', () => adafactor({ learningRate: 0.01 })),
  // ---- Quantization.
  {
    fn: 'quantizeWeights / dequantizeWeights / quantizedLinear',
    variant: 'int8 per channel and int4 groups of 8: codes, scales, dequantized, linear',
    setup: () => {
      const w = uniform([16, 6]);
      return {
        inputs: { w, x: uniform([3, 16]), bias: uniform([6]) },
        run: (t) => {
          const outs: tf.Tensor[] = [];
          for (const bits of [8, 4] as const) {
            const q = quantizeWeights(t.w!, { bits, groupSize: 8 });
            outs.push(tf.tensor(Array.from(q.values)), tf.tensor(q.scales), dequantizeWeights(q));
            outs.push(
              quantizedLinear(
                { inFeatures: 16, outFeatures: 6 },
                { kernel: q, bias: t.bias! } as never,
                t.x!,
              ),
            );
          }
          return outs;
        },
        grad: ['x', 'bias'],
      };
    },
  },
];

// ---- The harness.
export interface RawTensor {
  shape: number[];
  dtype: tf.DataType;
  data: number[];
}
export interface Result {
  outputs: Float64Array[];
  grads: Float64Array[];
}
const toRaw = (t: tf.Tensor): RawTensor => ({
  shape: t.shape,
  dtype: t.dtype,
  data: Array.from(t.dataSync() as ArrayLike<number>, Number),
});
const fromRaw = (r: RawTensor) => tf.tensor(r.data, r.shape, r.dtype);
type Made = ReturnType<Case['setup']>;

async function runOn(
  backend: string,
  c: Case,
  made: Made,
  raw: Record<string, RawTensor>,
  seed: number,
  freshInputs = false,
) {
  if (!(await tf.setBackend(backend))) throw new Error(`backend ${backend} did not start`);
  await tf.ready();
  const { run, grad = [] } = made;
  const before = tf.memory().numTensors;
  const inputs = Object.fromEntries(Object.entries(raw).map(([k, r]) => [k, fromRaw(r)]));
  let result: Result;
  if (c.exact) {
    // generate: a promise of token rows.
    const rows = (await (run(inputs) as unknown as Promise<number[][]>)) as number[][];
    result = { outputs: rows.map((r) => Float64Array.from(r)), grads: [] };
  } else {
    // The tensors are kept out of the tidy and read asynchronously: webgpu's
    // dataSync goes through a canvas (slow, and warns).
    let numOutputs = 0;
    // The gradient pass's own copies of the inputs, when asked: see CompareOptions.
    const gradInputs = freshInputs
      ? Object.fromEntries(Object.entries(raw).map(([k, r]) => [k, fromRaw(r)]))
      : inputs;
    const kept = tf.tidy(() => {
      const outs = [run(inputs)].flat();
      numOutputs = outs.length;
      if (grad.length === 0) return outs;
      const cotRand = seededRandom(seed);
      const cotangents = outs.map((o) =>
        tf.tensor(
          Array.from({ length: o.size }, () => 2 * cotRand() - 1),
          o.shape,
        ),
      );
      const gs = tf.grads((...xs: tf.Tensor[]) => {
        const replaced = { ...gradInputs };
        grad.forEach((name, i) => {
          replaced[name] = xs[i]!;
        });
        const ys = [run(replaced)].flat();
        // Summed in kernels of at most 7 inputs: WebGPU's AddN over 8 or more is invalid.
        return sumTensors(
          ys.map((y, i) =>
            y.dtype === 'float32' ? tf.sum(tf.mul(y, cotangents[i]!)) : tf.scalar(0),
          ),
        ) as tf.Scalar;
      })(grad.map((n) => gradInputs[n]!));
      return [...outs, ...gs];
    });
    const values = await Promise.all(
      kept.map(async (t) => Float64Array.from((await t.data()) as ArrayLike<number>)),
    );
    tf.dispose(kept);
    if (gradInputs !== inputs) tf.dispose(Object.values(gradInputs));
    result = { outputs: values.slice(0, numOutputs), grads: values.slice(numOutputs) };
  }
  tf.dispose(Object.values(inputs));
  const leaked = tf.memory().numTensors - before;
  return { result, leaked };
}

const maxAbs = (x: Float64Array) => x.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

/**
 * max |a - e| / max(max |e|, floor): the tensor's largest entry sets the
 * scale (the plain difference when everything is 0).
 */
export function relativeError(actual: Float64Array, expected: Float64Array, floor = 0): number {
  if (actual.length !== expected.length) return Infinity;
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i]! - expected[i]!);
    if (Number.isNaN(d)) return Infinity;
    worst = Math.max(worst, d);
  }
  const scale = Math.max(maxAbs(expected), floor);
  return scale === 0 ? worst : worst / scale;
}

/**
 * The gradients' error. A gradient that is mathematically zero, such as
 * that of a key-projection bias (softmax ignores a constant shift of the
 * scores), comes out as float32 roundoff, ~1e-7 of the other gradients:
 * relative to its own largest entry that noise is O(1). So a gradient tensor
 * whose entries are all below 1e-6 of the case's largest gradient entry is
 * measured against that largest entry instead.
 */
export function gradientError(actual: Float64Array[], expected: Float64Array[]): number {
  const caseScale = Math.max(...expected.map(maxAbs));
  return Math.max(
    ...actual.map((a, i) => {
      const e = expected[i]!;
      return relativeError(a, e, maxAbs(e) < 1e-6 * caseScale ? caseScale : 0);
    }),
  );
}

/** One case on cpu and on `backend`: the results of both and the errors. */
export interface Comparison {
  cpu: { result: Result; leaked: number };
  other: { result: Result; leaked: number };
  /** Largest output error (0 when equal; exact cases too). */
  output: number;
  /** Largest gradient error, or null when the case takes no gradient. */
  gradient: number | null;
}

export interface CompareOptions {
  /**
   * Give the gradient pass its own copies of the inputs instead of reusing
   * the forward pass's tensors. For WebGPU: once a tensor has been uploaded,
   * its `dataSync` reads back through a canvas, which on a SwiftShader
   * adapter returns zeros and loses the device; a case that failed only
   * because it reread an uploaded input can be measured this way (none does
   * now: tfjs-blocks' id and label range checks remember what they checked).
   * Default false (the Node suite's behaviour).
   */
  freshInputs?: boolean;
}

/**
 * Builds case `index` on cpu (inputs from `seededRandom(1000 + index)`), runs
 * it on cpu and then on `backend`, and measures the errors. Ends on cpu.
 */
export async function compareCase(
  c: Case,
  index: number,
  backend: string,
  options: CompareOptions = {},
): Promise<Comparison> {
  await tf.setBackend('cpu');
  reseed(1000 + index);
  const made = c.setup();
  const raw = Object.fromEntries(Object.entries(made.inputs).map(([k, t]) => [k, toRaw(t)]));
  tf.dispose(Object.values(made.inputs));
  try {
    const cpu = await runOn('cpu', c, made, raw, index);
    const other = await runOn(backend, c, made, raw, index, options.freshInputs);
    const output = Math.max(
      0,
      ...other.result.outputs.map((o, i) =>
        i < cpu.result.outputs.length ? relativeError(o, cpu.result.outputs[i]!) : Infinity,
      ),
    );
    const gradient =
      cpu.result.grads.length === 0 ? null : gradientError(other.result.grads, cpu.result.grads);
    return { cpu, other, output, gradient };
  } finally {
    await tf.setBackend('cpu');
  }
}
