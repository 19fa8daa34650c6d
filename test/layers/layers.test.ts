import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { describe, expect, it } from 'vitest';
import {
  adamw,
  initFeedForward,
  initMixtureOfExperts,
  initMultiHeadAttention,
  initTransformerDecoderBlock,
  initTransformerEncoderBlock,
  learningRateScheduler,
  softmaxCrossEntropy,
  TfjsBlocksError,
  TransformOptimizer,
  toLayersLoss,
  toLayersMetric,
  transformerDecoderBlock,
  warmupCosineDecaySchedule,
} from '../../src/index';
import * as blockLayers from '../../src/layers/index';
import {
  FeedForward,
  MixtureOfExperts,
  MultiHeadAttention,
  PositionEmbedding,
  RMSNormalization,
  TokenAndPositionEmbedding,
  TransformerDecoderBlock,
  TransformerEncoderBlock,
} from '../../src/layers/index';
import { nodeFileSystem } from '../../src/node/index';
import { treeLeavesWithPath } from '../../src/tree/leaves';
import { describeEachBackend } from '../helpers/backends';
import { expectClose } from '../helpers/close';
import { roundTrip } from '../helpers/layers';
import { expectNoLeak } from '../helpers/leaks';
import { describeRejections } from '../helpers/rejections';

const blockArgs = {
  numHeads: 4,
  norm: { kind: 'rms' as const },
  feedForward: { hidden: 24, kind: 'gated' as const, activation: 'silu' as const },
  rope: true,
};
const count = (params: unknown) => treeLeavesWithPath(params).reduce((n, [, t]) => n + t.size, 0);

/** Layers on a [batch, 6, 16] input, with the functional params they must mirror. */
const CASES = () => [
  {
    name: 'MultiHeadAttention',
    layer: new MultiHeadAttention({ numHeads: 4, numKvHeads: 2, causal: true, seed: 1 }),
    params: () => initMultiHeadAttention({ dModel: 16, numHeads: 4, numKvHeads: 2 }, 0),
  },
  {
    name: 'RMSNormalization',
    layer: new RMSNormalization(),
    params: () => ({ gamma: tf.ones([16]) }),
  },
  {
    name: 'MixtureOfExperts',
    layer: new MixtureOfExperts({ hidden: 8, numExperts: 4, topK: 2, seed: 6 }),
    params: () =>
      initMixtureOfExperts(
        { dModel: 16, hidden: 8, numExperts: 4, topK: 2, kind: 'mlp', activation: 'gelu' },
        0,
      ),
  },
  {
    name: 'PositionEmbedding',
    layer: new PositionEmbedding({ maxLength: 8, seed: 9 }),
    params: () => ({ table: tf.zeros([8, 16]) }),
  },
  {
    name: 'transformerEncoderBlock (factory)',
    layer: blockLayers.transformerEncoderBlock({ ...blockArgs, seed: 5 }),
    params: () => initTransformerEncoderBlock({ ...blockArgs, dModel: 16 }, 0),
  },
  {
    name: 'FeedForward',
    layer: new FeedForward({ hidden: 32, kind: 'gated', activation: 'silu', seed: 2 }),
    params: () => initFeedForward({ dModel: 16, hidden: 32, kind: 'gated', activation: 'silu' }, 0),
  },
  {
    name: 'TransformerEncoderBlock',
    layer: new TransformerEncoderBlock({ ...blockArgs, seed: 3 }),
    params: () => initTransformerEncoderBlock({ ...blockArgs, dModel: 16 }, 0),
  },
  {
    name: 'TransformerDecoderBlock',
    layer: new TransformerDecoderBlock({ ...blockArgs, seed: 4 }),
    params: () => initTransformerDecoderBlock({ ...blockArgs, dModel: 16 }, 0),
  },
];

describeEachBackend('tfjs-layers Layers', () => {
  CASES().forEach(({ name, layer, params }, index) => {
    it(`${name}: weights = the functional params, round trips in memory and on disk, no leaks`, async () => {
      const input = tfl.input({ shape: [6, 16] });
      const model = tfl.model({ inputs: input, outputs: layer.apply(input) as tfl.SymbolicTensor });
      const reference = params();
      expect(model.countParams()).toBe(count(reference));
      expect(layer.trainableWeights.length).toBe(treeLeavesWithPath(reference).length);
      tf.dispose(reference as tf.TensorContainer);
      const x = tf.randomNormal([2, 6, 16], 0, 1, 'float32', 5);
      expectNoLeak(() => model.predict(x) as tf.Tensor);
      const loaded = await roundTrip(model);
      expectClose(loaded.predict(x) as tf.Tensor, model.predict(x) as tf.Tensor, {
        rtol: 0,
        atol: 0,
      });
      const dir = mkdtempSync(join(tmpdir(), 'tfjs-blocks-layer-'));
      await model.save(nodeFileSystem(dir));
      const fromDisk = await tfl.loadLayersModel(nodeFileSystem(dir));
      expectClose(fromDisk.predict(x) as tf.Tensor, model.predict(x) as tf.Tensor, {
        rtol: 0,
        atol: 0,
      });
      rmSync(dir, { recursive: true, force: true });
      tf.dispose(x);
      model.dispose();
      loaded.dispose();
      fromDisk.dispose();
    });

    it(`${name}: trains in model.fit (${index % 2 === 0 ? 'our adamw' : 'tf.train.adam with a schedule callback'})`, async () => {
      const input = tfl.input({ shape: [6, 16] });
      const trained = CASES()[index]!.layer;
      // x + layer(x) keeps the task learnable for every layer; the layer must still move.
      const h = tfl.layers
        .add()
        .apply([input, trained.apply(input) as tfl.SymbolicTensor]) as tfl.SymbolicTensor;
      const model = tfl.model({
        inputs: input,
        outputs: tfl.layers.dense({ units: 1 }).apply(h) as tfl.SymbolicTensor,
      });
      const ours = index % 2 === 0;
      model.compile({
        optimizer: ours
          ? new TransformOptimizer(adamw({ learningRate: 1e-2, weightDecay: 0 }))
          : tf.train.adam(1e-2),
        loss: 'meanSquaredError',
      });
      const x = tf.randomNormal([32, 6, 16], 0, 1, 'float32', 11);
      const y = tf.sum(tf.slice(x, [0, 0, 0], [-1, -1, 2]), -1, true);
      const before = trained.getWeights().map((w) => tf.clone(w));
      const callbacks = ours
        ? []
        : [
            learningRateScheduler(
              warmupCosineDecaySchedule({ peakValue: 1e-2, warmupSteps: 2, decaySteps: 30 }),
            ),
          ];
      const history = await model.fit(x, y, { epochs: 30, batchSize: 8, verbose: 0, callbacks });
      const losses = history.history.loss as number[];
      expect(losses[losses.length - 1]!).toBeLessThan(losses[0]! * 0.5);
      const moved = trained
        .getWeights()
        .some((w, i) => tf.tidy(() => tf.any(tf.notEqual(w, before[i]!)).dataSync()[0] === 1));
      expect(moved).toBe(true);
      tf.dispose([x, y, before]);
      model.dispose();
    });
  });

  it('Layer output equals the functional block on the layer weights', () => {
    tf.tidy(() => {
      const layer = new TransformerDecoderBlock({ ...blockArgs, seed: 7 });
      const x = tf.randomNormal([2, 6, 16], 0, 1, 'float32', 8) as tf.Tensor3D;
      const y = layer.apply(x) as tf.Tensor;
      const byName = new Map(
        layer.getWeights().map((w, i) => [layer.weights[i]!.originalName.split('/').pop()!, w]),
      );
      const template = initTransformerDecoderBlock({ ...blockArgs, dModel: 16 }, 0);
      const fromWeights = JSON.parse(
        JSON.stringify(treeLeavesWithPath(template).map(([path]) => path)),
      ) as string[];
      const params = structuredCloneParams(template, fromWeights, byName);
      expectClose(y, transformerDecoderBlock({ ...blockArgs, dModel: 16 }, params, x), {
        rtol: 0,
        atol: 0,
      });
    });
  });

  it('a small language model of our Layers trains with model.fit and our loss, and round-trips', async () => {
    const ids = tfl.input({ shape: [8], dtype: 'int32' });
    let h = new TokenAndPositionEmbedding({
      vocabSize: 10,
      maxLength: 8,
      dModel: 16,
      seed: 1,
    }).apply(ids) as tfl.SymbolicTensor;
    h = new TransformerDecoderBlock({ ...blockArgs, seed: 2 }).apply(h) as tfl.SymbolicTensor;
    h = new RMSNormalization().apply(h) as tfl.SymbolicTensor;
    const logits = tfl.layers.dense({ units: 10 }).apply(h) as tfl.SymbolicTensor;
    const model = tfl.model({ inputs: ids, outputs: logits });
    model.compile({
      optimizer: new TransformOptimizer(adamw({ learningRate: 1e-2 })),
      loss: toLayersLoss((l, t) => softmaxCrossEntropy(l, t), { integerLabels: true }),
    });
    const x = tf.tensor2d(
      [
        [0, 1, 2, 3, 4, 5, 6, 7],
        [1, 2, 3, 4, 5, 6, 7, 8],
      ],
      undefined,
      'int32',
    );
    const y = tf.oneHot(
      tf.tensor2d(
        [
          [1, 2, 3, 4, 5, 6, 7, 8],
          [2, 3, 4, 5, 6, 7, 8, 9],
        ],
        undefined,
        'int32',
      ),
      10,
    );
    await model.fit(x, y, { epochs: 1, verbose: 0 });
    const before = tf.memory().numTensors;
    const history = await model.fit(x, y, { epochs: 40, verbose: 0 });
    expect(tf.memory().numTensors).toBe(before);
    const losses = history.history.loss as number[];
    expect(losses[losses.length - 1]!).toBeLessThan(losses[0]! * 0.5);
    const loaded = await roundTrip(model);
    expectClose(loaded.predict(x) as tf.Tensor, model.predict(x) as tf.Tensor, {
      rtol: 0,
      atol: 0,
    });
    tf.dispose([x, y]);
    model.dispose();
    loaded.dispose();
  });
});

/** The functional param record with the layer's weights in place of the template's tensors. */
function structuredCloneParams<T>(
  template: T,
  paths: string[],
  weights: Map<string, tf.Tensor>,
): T {
  const values = new Map(paths.map((p) => [p, weights.get(p)!]));
  const walk = (node: unknown, prefix: string): unknown => {
    if (node instanceof tf.Tensor) return values.get(prefix);
    if (node !== null && typeof node === 'object') {
      return Object.fromEntries(
        Object.entries(node).map(([k, v]) => [k, walk(v, prefix ? `${prefix}.${k}` : k)]),
      );
    }
    return node;
  };
  return walk(template, '') as T;
}

describeRejections('Layers reject bad configs at construction', () => [
  [
    'heads not dividing the width',
    () => new TransformerEncoderBlock({ ...blockArgs, numHeads: 0 }),
    /numHeads must be an integer >= 1/,
  ],
  [
    'unknown norm',
    () => new TransformerEncoderBlock({ ...blockArgs, norm: { kind: 'batch' } as never }),
    /args.norm.kind must be 'layer' or 'rms'; got batch/,
  ],
  [
    'negative dropout',
    () => new TransformerDecoderBlock({ ...blockArgs, dropoutRate: -0.5 }),
    /args.dropoutRate must be a finite number in \[0, 1\); got -0.5/,
  ],
  [
    'negative attention dropout',
    () => new MultiHeadAttention({ numHeads: 2, dropoutRate: -1 }),
    /args.dropoutRate must be a finite number in \[0, 1\); got -1/,
  ],
  [
    'unknown activation',
    () => new FeedForward({ hidden: 8, activation: 'tanh' as never }),
    /args.activation must be/,
  ],
]);

describe('the model.compile loss adapter rejects unknown and ill-typed options', () => {
  const loss = (l: tf.Tensor, t: tf.Tensor) => softmaxCrossEntropy(l, t);
  const argumentOf = (call: () => unknown): string => {
    try {
      call();
    } catch (e) {
      expect(e).toBeInstanceOf(TfjsBlocksError);
      return (e as TfjsBlocksError).argument;
    }
    throw new Error('expected a TfjsBlocksError; nothing was thrown');
  };

  it('an unknown key names the closest option (toLayersLoss and toLayersMetric)', () => {
    expect(argumentOf(() => toLayersLoss(loss, { integerLabel: true } as never))).toBe(
      'options.integerLabel',
    );
    expect(() => toLayersLoss(loss, { integerLabel: true } as never)).toThrow(
      /did you mean 'integerLabels'/,
    );
    expect(argumentOf(() => toLayersMetric(loss, { ignoreIdx: 0 } as never))).toBe(
      'options.ignoreIdx',
    );
  });

  it('ill-typed options and a missing function', () => {
    expect(argumentOf(() => toLayersLoss(loss, { integerLabels: 'yes' as never }))).toBe(
      'options.integerLabels',
    );
    expect(argumentOf(() => toLayersLoss(loss, { ignoreIndex: 0.5 }))).toBe('options.ignoreIndex');
    expect(argumentOf(() => toLayersMetric(loss, { name: '' }))).toBe('options.name');
    expect(argumentOf(() => toLayersLoss(undefined as never))).toBe('loss');
  });
});
