import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { expect, it } from 'vitest';
import { MixtureOfExperts } from '../../src/layers/mixture-of-experts';
import { PatchEmbedding } from '../../src/layers/patch-embedding';
import { initMixtureOfExperts, mixtureOfExperts } from '../../src/nn/mixture-of-experts';
import { initPatchEmbedding, patchEmbedding } from '../../src/nn/patch-embedding';
import { nodeFileSystem } from '../../src/node/index';
import { treeLeavesWithPath } from '../../src/tree/leaves';
import { treeMap } from '../../src/tree/map';
import { describeEachBackend } from '../helpers/backends';
import { expectClose } from '../helpers/close';
import { roundTrip } from '../helpers/layers';
import { expectNoLeak } from '../helpers/leaks';
import { describeRejections } from '../helpers/rejections';

const count = (params: unknown) => treeLeavesWithPath(params).reduce((n, [, t]) => n + t.size, 0);
const moeArgs = { hidden: 12, numExperts: 4, topK: 2, kind: 'gated', activation: 'silu' } as const;

/** The layer's weights as its functional param record, by path. */
function paramsOf<P>(layer: tfl.layers.Layer, template: P): P {
  const byPath = new Map(
    layer.getWeights().map((w, i) => [layer.weights[i]!.originalName.split('/').pop()!, w]),
  );
  return treeMap(template, (t, path) => byPath.get(path) ?? t);
}

describeEachBackend('MixtureOfExperts and PatchEmbedding layers', () => {
  const CASES = () => [
    {
      name: 'MixtureOfExperts',
      inputShape: [6, 8],
      layer: new MixtureOfExperts({ ...moeArgs, seed: 1 }),
      params: () => initMixtureOfExperts({ ...moeArgs, dModel: 8 }, 0),
    },
    {
      name: 'PatchEmbedding',
      inputShape: [8, 12, 3],
      layer: new PatchEmbedding({ patchSize: 4, dModel: 10, seed: 2 }),
      params: () => initPatchEmbedding({ patchSize: 4, channels: 3, dModel: 10 }, 0),
    },
  ];
  for (const { name, inputShape, layer, params } of CASES()) {
    it(`${name}: weights = the functional params, serialization round trip, no leaks`, async () => {
      const input = tfl.input({ shape: inputShape });
      const output = layer.apply(input) as tfl.SymbolicTensor;
      const model = tfl.model({ inputs: input, outputs: output });
      const reference = params();
      expect(model.countParams()).toBe(count(reference));
      expect(layer.trainableWeights.length).toBe(treeLeavesWithPath(reference).length);
      tf.dispose(reference as tf.TensorContainer);
      const x = tf.randomNormal([2, ...inputShape], 0, 1, 'float32', 5);
      const y = model.predict(x) as tf.Tensor;
      expect(output.shape).toEqual(y.shape.map((d, i) => (i === 0 ? null : d)));
      expectNoLeak(() => model.predict(x) as tf.Tensor);
      const loaded = await roundTrip(model);
      expectClose(loaded.predict(x) as tf.Tensor, y, { rtol: 0, atol: 0 });
      tf.dispose([x, y]);
      model.dispose();
      loaded.dispose();
    });
  }

  it('Layer outputs equal the functional blocks on the layer weights', () => {
    tf.tidy(() => {
      const moe = new MixtureOfExperts({ ...moeArgs, seed: 3 });
      const x = tf.randomNormal([2, 5, 8], 0, 1, 'float32', 4);
      const y = moe.apply(x) as tf.Tensor;
      const config = { ...moeArgs, dModel: 8 };
      const params = paramsOf(moe, initMixtureOfExperts(config, 0));
      expectClose(y, mixtureOfExperts(config, params, x).output, { rtol: 0, atol: 0 });

      const patches = new PatchEmbedding({ patchSize: 2, dModel: 6, seed: 5 });
      const images = tf.randomNormal([2, 4, 6, 3], 0, 1, 'float32', 6) as tf.Tensor4D;
      const tokens = patches.apply(images) as tf.Tensor;
      const pConfig = { patchSize: 2, channels: 3, dModel: 6 };
      const pParams = paramsOf(patches, initPatchEmbedding(pConfig, 0));
      expectClose(tokens, patchEmbedding(pConfig, pParams, images), { rtol: 0, atol: 0 });
    });
  });

  it('MixtureOfExperts adds auxLossWeight · auxLoss to the losses of training calls only', () => {
    const moe = new MixtureOfExperts({ ...moeArgs, auxLossWeight: 0.5, seed: 7 });
    const x = tf.randomNormal([3, 8], 0, 1, 'float32', 8);
    tf.dispose(moe.apply(x) as tf.Tensor);
    const [none] = moe.calculateLosses();
    expectClose(none!, 0, { rtol: 0, atol: 0 });
    tf.tidy(() => {
      moe.apply(x, { training: true });
      const [aux] = moe.calculateLosses();
      const params = paramsOf(moe, initMixtureOfExperts({ ...moeArgs, dModel: 8 }, 0));
      const expected = mixtureOfExperts({ ...moeArgs, dModel: 8 }, params, x).auxLoss;
      expectClose(aux!, tf.mul(expected, 0.5), { rtol: 1e-6 });
      // Drained: the next step counts only its own calls.
      expectClose(moe.calculateLosses()[0]!, 0, { rtol: 0, atol: 0 });
      // As in fit: forward and losses on one tape give the router a gradient from the aux loss.
      const { grads } = tf.variableGrads(() => {
        moe.apply(x, { training: true });
        return moe.calculateLosses()[0]!;
      });
      const router = moe.weights.find((w) => w.originalName.endsWith('router.kernel'))!;
      expect(
        tf.max(tf.abs(grads[router.originalName] ?? grads[router.name]!)).dataSync()[0],
      ).toBeGreaterThan(0);
    });
    tf.dispose([x, none!]);
    moe.dispose();
  });

  it('a patch-embedding + mixture-of-experts classifier trains with model.fit', async () => {
    // Bright-left (class 0) vs bright-right (class 1) 8×8 images.
    const { images, labels } = tf.tidy(() => {
      const cls = Array.from({ length: 32 }, (_, i) => i % 2);
      const left = tf.cast(tf.less(tf.range(0, 8), 4), 'float32');
      const rows = tf.stack(cls.map((c) => (c === 0 ? left : tf.sub(1, left))));
      const bright = tf.tile(tf.reshape(rows, [32, 1, 8, 1]), [1, 8, 1, 1]);
      return {
        images: tf.add(bright, tf.randomNormal([32, 8, 8, 1], 0, 0.3, 'float32', 9)),
        labels: tf.oneHot(tf.tensor1d(cls, 'int32'), 2),
      };
    });
    const input = tfl.input({ shape: [8, 8, 1] });
    let h = new PatchEmbedding({ patchSize: 4, dModel: 8, seed: 1 }).apply(
      input,
    ) as tfl.SymbolicTensor;
    const moe = new MixtureOfExperts({ hidden: 16, numExperts: 4, topK: 2, seed: 2 });
    h = moe.apply(h) as tfl.SymbolicTensor;
    // Records the aux losses fit adds to its loss, one per step.
    const added: number[] = [];
    const calculateLosses = moe.calculateLosses.bind(moe);
    moe.calculateLosses = () => {
      const losses = calculateLosses();
      added.push(losses[0]!.dataSync()[0]!);
      return losses;
    };
    h = tfl.layers.flatten().apply(h) as tfl.SymbolicTensor;
    const logits = tfl.layers.dense({ units: 2, activation: 'softmax' }).apply(h);
    const model = tfl.model({ inputs: input, outputs: logits as tfl.SymbolicTensor });
    model.compile({ optimizer: tf.train.adam(1e-2), loss: 'categoricalCrossentropy' });
    // One epoch first: Adam creates its 2 slots per weight on its first step.
    const first = await model.fit(images, labels, { epochs: 1, batchSize: 16, verbose: 0 });
    const before = tf.memory().numTensors;
    const history = await model.fit(images, labels, { epochs: 15, batchSize: 16, verbose: 0 });
    expect(tf.memory().numTensors).toBe(before);
    const losses = history.history.loss as number[];
    expect(losses[losses.length - 1]!).toBeLessThan((first.history.loss![0] as number) / 2);
    // 2 steps an epoch, each adding 0.01 · auxLoss (auxLoss is 1 when perfectly balanced).
    expect(added.length).toBe(32);
    for (const a of added) expect(a).toBeGreaterThan(0.005);
    // The trained model survives a save to disk through tfjs-blocks/node.
    const dir = mkdtempSync(join(tmpdir(), 'tfjs-blocks-moe-'));
    await model.save(nodeFileSystem(dir));
    const fromDisk = await tfl.loadLayersModel(nodeFileSystem(dir));
    expectClose(fromDisk.predict(images) as tf.Tensor, model.predict(images) as tf.Tensor, {
      rtol: 0,
      atol: 0,
    });
    rmSync(dir, { recursive: true, force: true });
    fromDisk.dispose();
    model.dispose();
    tf.dispose([images, labels]);
  });
});

describeRejections('layers reject bad arguments with a TfjsBlocksError', () => [
  [
    'topK > numExperts',
    () => new MixtureOfExperts({ hidden: 4, numExperts: 2, topK: 3 }),
    /MixtureOfExperts: args.topK must be at most numExperts \(2\); got 3/,
  ],
  [
    'negative aux loss weight',
    () => new MixtureOfExperts({ hidden: 4, numExperts: 2, auxLossWeight: -1 }),
    /args.auxLossWeight must be a finite number in \[0, inf\); got -1/,
  ],
  [
    'patch size 0',
    () => new PatchEmbedding({ patchSize: 0, dModel: 4 }),
    /PatchEmbedding: args.patchSize must be an integer >= 1; got number 0/,
  ],
]);
