import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import type { SequenceExample } from '../../src/fine-tuning/examples';
import { examplesAt, fineTune } from '../../src/fine-tuning/fine-tune';
import { initLora, loraTensors, withLora } from '../../src/fine-tuning/lora';
import { softmaxCrossEntropy } from '../../src/losses/softmax-cross-entropy';
import { decoderLm, gpt2Config, initDecoderLm } from '../../src/models/decoder-lm';
import { adamw } from '../../src/optim/optimizers/adam';
import { sgd } from '../../src/optim/optimizers/sgd';
import { flattenParams } from '../../src/tree/flatten';
import { rejectionOf } from '../helpers/rejections';

const config = gpt2Config({ vocabSize: 24, maxLength: 12, dModel: 16, numHeads: 2, numLayers: 2 });
const params = initDecoderLm(config, 0);
const model = { kind: 'decoder-lm' as const, modelType: 'gpt2', config, params };
const train: SequenceExample[] = Array.from({ length: 8 }, (_, k) => {
  const ids = Array.from({ length: 8 }, (_, t) => (3 * k + t) % 24);
  return { ids, labels: ids.slice() };
});
const heldOut = train.slice(0, 2);

const snapshot = (map: Record<string, tf.Tensor>) =>
  Object.fromEntries(Object.entries(map).map(([n, t]) => [n, Array.from(t.dataSync())]));

describe('fineTune with a LoRA adapter', () => {
  it('trains only the adapter: the base is untouched, the loss falls, only the adapter remains', async () => {
    const adapter = initLora(model, { r: 4, alpha: 8, targetModules: ['c_attn', 'c_fc'] }, 1);
    const baseBefore = snapshot(flattenParams(params));
    const before = tf.memory().numTensors;
    const counts: number[] = [];
    const result = await fineTune({
      model,
      adapter,
      data: { train, heldOut },
      optimizer: adamw({ learningRate: 2e-2, weightDecay: 0 }),
      steps: 15,
      batchSize: 4,
      evalEvery: 5,
      onStep: () => void counts.push(tf.memory().numTensors),
    });
    const trained = loraTensors(result.trained);
    expect(tf.memory().numTensors - before).toBe(Object.keys(trained).length);
    expect(new Set(counts.slice(1)).size).toBe(1);
    expect(Object.keys(trained)).toEqual(Object.keys(loraTensors(adapter)));
    expect(result.trained.config).toEqual(adapter.config);
    expect(result.history.at(-1)!.loss).toBeLessThan(result.history[0]!.loss * 0.97);
    const held = result.history.filter((h) => h.heldOutLoss !== undefined);
    expect(held.at(-1)!.heldOutLoss!).toBeLessThan(held[0]!.heldOutLoss!);
    expect(snapshot(flattenParams(params))).toEqual(baseBefore);
    // The held-out loss fineTune reports is the trained adapter's, computed directly.
    const direct = tf.tidy(() => {
      const ids = tf.tensor2d(
        heldOut.map((e) => e.ids),
        undefined,
        'int32',
      );
      const logits = decoderLm(config, withLora(params, result.trained), ids);
      const shifted = tf.slice(logits, [0, 0, 0], [2, 7, 24]);
      const labels = tf.tensor2d(
        heldOut.map((e) => e.labels.slice(1)),
        undefined,
        'int32',
      );
      return softmaxCrossEntropy(shifted, labels).dataSync()[0]!;
    });
    expect(held.at(-1)!.heldOutLoss!).toBeCloseTo(direct, 5);
    tf.dispose(Object.values(trained));
    tf.dispose(Object.values(loraTensors(adapter)));
  });

  it("first step: B starts at zero, so A's gradient is zero and only B moves (SGD)", async () => {
    const adapter = initLora(params, { r: 2, targetModules: '.*attention\\.(query|value)' }, 2);
    const initial = snapshot(loraTensors(adapter));
    const { trained, history } = await fineTune({
      model,
      adapter,
      data: { train },
      optimizer: sgd({ learningRate: 0.1 }),
      steps: 1,
      batchSize: 4,
    });
    const after = snapshot(loraTensors(trained));
    for (const name of Object.keys(initial)) {
      if (name.endsWith('.a')) expect(after[name], name).toEqual(initial[name]);
      else
        expect(
          after[name]!.some((v) => v !== 0),
          name,
        ).toBe(true);
    }
    // With B = 0 the adapted model is the base: the first loss is the base model's.
    const baseLoss = tf.tidy(() => {
      const batch = examplesAt(train, 0, 0, 4);
      const ids = tf.tensor2d(
        batch.map((e) => e.ids),
        undefined,
        'int32',
      );
      const logits = decoderLm(config, params, ids);
      const shifted = tf.slice(logits, [0, 0, 0], [4, 7, 24]);
      const labels = tf.tensor2d(
        batch.map((e) => e.labels.slice(1)),
        undefined,
        'int32',
      );
      return softmaxCrossEntropy(shifted, labels).dataSync()[0]!;
    });
    expect(history[0]!.loss).toBeCloseTo(baseLoss, 5);
    tf.dispose(Object.values(loraTensors(trained)));
    tf.dispose(Object.values(loraTensors(adapter)));
  });

  it('rejects an adapter made for another model before making any tensor', async () => {
    const other = initDecoderLm(
      gpt2Config({ vocabSize: 24, maxLength: 12, dModel: 8, numHeads: 2, numLayers: 2 }),
      3,
    );
    const adapter = initLora(other, { r: 2, targetModules: '.*attention\\.query' }, 0);
    const before = tf.memory().numTensors;
    const error = await rejectionOf(() =>
      fineTune({
        model,
        adapter,
        data: { train },
        optimizer: sgd({ learningRate: 0.1 }),
        steps: 1,
      }),
    );
    expect(error.functionName).toBe('withLora');
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose(Object.values(flattenParams(other)));
    tf.dispose(Object.values(loraTensors(adapter)));
  });
});
