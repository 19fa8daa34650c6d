import * as tf from '@tensorflow/tfjs-core';
import { afterEach, describe, expect, it } from 'vitest';
import { quantizeParams } from '../../src/efficiency/quantization';
import { memoryCheckpointStore } from '../../src/fine-tuning/checkpoint-store';
import type { SequenceExample } from '../../src/fine-tuning/examples';
import {
  adapterLossOptions,
  type FineTuneOptions,
  fineTune,
} from '../../src/fine-tuning/fine-tune';
import { initLora, type LoraAdapter, loraTensors, withLora } from '../../src/fine-tuning/lora';
import { type DecoderLmParams, gpt2Config, initDecoderLm } from '../../src/models/decoder-lm';
import { isQuantizedTensor } from '../../src/nn/quantized-weights';
import { adamw } from '../../src/optim/optimizers/adam';
import { flattenParams } from '../../src/tree/flatten';
import { treeLeavesWithPath } from '../../src/tree/leaves';
import { visitLeaves } from '../../src/tree/walk';
import { interruptedFineTune } from '../helpers/fine-tune';
import { rejectionOf } from '../helpers/rejections';

const config = gpt2Config({ vocabSize: 24, maxLength: 12, dModel: 32, numHeads: 2, numLayers: 2 });
const params = initDecoderLm(config, 0);
const { params: q4 } = quantizeParams(params, { bits: 4, kernelsOnly: true });
const { params: q8 } = quantizeParams(params, { bits: 8, kernelsOnly: true });
const model = (p: typeof q4) => ({
  kind: 'decoder-lm' as const,
  modelType: 'gpt2',
  config,
  params: p,
});
const train: SequenceExample[] = Array.from({ length: 8 }, (_, k) => {
  const ids = Array.from({ length: 8 }, (_, t) => (3 * k + t) % 24);
  return { ids, labels: ids.slice() };
});
const heldOut = train.slice(0, 2);
const LORA = { r: 4, alpha: 8, targetModules: ['c_attn', 'c_fc'] };

/** Every value of a base (tensors, quantized codes and scales), to check it is untouched. */
function snapshotBase(base: unknown): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  visitLeaves(
    base,
    (leaf, keys) => {
      const path = keys.join('.');
      if (isQuantizedTensor(leaf)) {
        out[`${path}.values`] = Array.from(leaf.values);
        out[`${path}.scales`] = Array.from(leaf.scales);
      } else out[path] = Array.from((leaf as tf.Tensor).dataSync());
    },
    {
      fn: 'test',
      argument: 'base',
      isLeaf: (n) => n instanceof tf.Tensor || isQuantizedTensor(n),
    },
  );
  return out;
}

const values = (adapter: LoraAdapter) =>
  Object.fromEntries(
    Object.entries(loraTensors(adapter)).map(([n, t]) => [n, Array.from(t.dataSync())]),
  );
const disposeAdapter = (adapter: LoraAdapter) => tf.dispose(Object.values(loraTensors(adapter)));

const options = (
  adapter: LoraAdapter,
  extra: Partial<FineTuneOptions> = {},
): FineTuneOptions & { adapter: LoraAdapter } => ({
  model: model(q4),
  data: { train, heldOut },
  optimizer: adamw({ learningRate: 2e-2, weightDecay: 0 }),
  steps: 8,
  batchSize: 4,
  evalEvery: 4,
  ...extra,
  adapter,
});

let before = 0;
afterEach(() => {
  expect(tf.memory().numTensors).toBe(before);
});
const mark = () => {
  before = tf.memory().numTensors;
};

describe('fineTune on a quantized base (QLoRA) with gradient checkpointing', () => {
  for (const [bits, base] of [
    [4, q4],
    [8, q8],
  ] as const) {
    it(`int${bits}: lowers the held-out loss, leaves the base untouched, equals the run without checkpointing`, async () => {
      mark();
      const adapter = initLora(model(base), LORA, 1);
      const baseBefore = snapshotBase(base);
      const counts: number[] = [];
      const checkpointed = await fineTune(
        options(adapter, {
          model: model(base),
          gradientCheckpointing: true,
          onStep: () => void counts.push(tf.memory().numTensors),
        }),
      );
      const plain = await fineTune(options(adapter, { model: model(base) }));
      const held = checkpointed.history.filter((h) => h.heldOutLoss !== undefined);
      expect(held.at(-1)!.heldOutLoss!).toBeLessThan(held[0]!.heldOutLoss!);
      expect(checkpointed.history.at(-1)!.loss).toBeLessThan(checkpointed.history[0]!.loss);
      expect(new Set(counts.slice(1)).size).toBe(1);
      expect(snapshotBase(base)).toEqual(baseBefore);
      const a = values(checkpointed.trained);
      const b = values(plain.trained);
      for (const name of Object.keys(b)) {
        const scale = Math.max(...b[name]!.map(Math.abs), 1e-6);
        const diff = Math.max(...a[name]!.map((v, i) => Math.abs(v - b[name]![i]!)));
        expect(diff / scale, name).toBeLessThan(1e-4);
      }
      disposeAdapter(checkpointed.trained);
      disposeAdapter(plain.trained);
      disposeAdapter(adapter);
    });
  }

  it('resumes from a checkpoint bit-identically to an uninterrupted run', async () => {
    mark();
    const adapter = initLora(model(q4), LORA, 2);
    const run = options(adapter, { steps: 6, gradientCheckpointing: true });
    const straight = await fineTune(run);
    const store = memoryCheckpointStore();
    await interruptedFineTune(run, store);
    const resumed = await fineTune({ ...run, checkpointStore: store, checkpointEvery: 2 });
    expect(resumed.step).toBe(6);
    expect(values(resumed.trained)).toEqual(values(straight.trained));
    expect(resumed.history).toEqual(straight.history);
    store.dispose();
    disposeAdapter(straight.trained);
    disposeAdapter(resumed.trained);
    disposeAdapter(adapter);
  });

  it('with an adapter, only its tensors are checkpoint inputs (the lora factors and the saved modules)', () => {
    const adapter = initLora(
      params,
      { r: 2, targetModules: ['query'], modulesToSave: ['blocks.1.feedForwardNorm'] },
      0,
    );
    const { gradientCheckpointing } = adapterLossOptions(true, adapter);
    const trainable = (gradientCheckpointing as { trainable: (path: string) => boolean }).trainable;
    const accepted = treeLeavesWithPath(withLora(params, adapter))
      .map(([path]) => path)
      .filter((path) => trainable(path));
    expect(accepted.sort()).toEqual(
      [
        'blocks.0.attention.query.lora.a',
        'blocks.0.attention.query.lora.b',
        'blocks.1.attention.query.lora.a',
        'blocks.1.attention.query.lora.b',
        ...Object.keys(Object.values(adapter.modulesToSave)[0]!),
      ].sort(),
    );
    expect(adapterLossOptions(false, adapter)).toEqual({});
    disposeAdapter(adapter);
  });

  it('privacy (DP-SGD) on a quantized base trains the adapter and reports epsilon', async () => {
    mark();
    const adapter = initLora(model(q8), LORA, 3);
    const baseBefore = snapshotBase(q8);
    const result = await fineTune(
      options(adapter, {
        model: model(q8),
        steps: 2,
        evalEvery: 0,
        privacy: { l2NormClip: 1, noiseMultiplier: 1, delta: 1e-3, datasetSize: 100 },
      }),
    );
    expect(result.privacy!.epsilon).toBeGreaterThan(0);
    expect(Number.isFinite(result.history.at(-1)!.loss)).toBe(true);
    expect(values(result.trained)).not.toEqual(values(adapter));
    expect(snapshotBase(q8)).toEqual(baseBefore);
    disposeAdapter(result.trained);
    disposeAdapter(adapter);
  });
});

describe('fineTune with gradient checkpointing, full fine-tuning', () => {
  it('trains every param to the values of the run without checkpointing', async () => {
    mark();
    const run: FineTuneOptions = {
      model: { config, params },
      data: { train },
      optimizer: adamw({ learningRate: 1e-2, weightDecay: 0 }),
      steps: 3,
      batchSize: 4,
    };
    const plain = await fineTune(run);
    const checkpointed = await fineTune({ ...run, gradientCheckpointing: true });
    const a = flattenParams(checkpointed.trained);
    const b = flattenParams(plain.trained);
    for (const [name, t] of Object.entries(b)) {
      const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(a[name]!, t))).dataSync()[0]!);
      const scale = tf.tidy(() => tf.max(tf.abs(t)).dataSync()[0]!);
      expect(diff / scale, name).toBeLessThan(1e-4);
    }
    tf.dispose([...Object.values(a), ...Object.values(b)]);
  });
});

describe('fineTune on a quantized base: bad input', () => {
  it('full fine-tuning of a quantized model is a typed error naming the first quantized kernel', async () => {
    mark();
    const error = await rejectionOf(() =>
      fineTune({
        model: model(q4) as { config: typeof config; params: DecoderLmParams },
        data: { train },
        optimizer: adamw({ learningRate: 1e-2 }),
        steps: 1,
      }),
    );
    expect(error.argument).toBe('options.model.params.blocks.0.attention.query.kernel');
    expect(error.message).toMatch(/initLora/);
  });

  it('names options.gradientCheckpointing when it is no boolean, or set with privacy', async () => {
    mark();
    const adapter = initLora(model(q4), LORA, 4);
    const notBoolean = await rejectionOf(() =>
      fineTune(options(adapter, { gradientCheckpointing: 'yes' as never })),
    );
    expect(notBoolean.argument).toBe('options.gradientCheckpointing');
    const withPrivacy = await rejectionOf(() =>
      fineTune(
        options(adapter, {
          gradientCheckpointing: true,
          evalEvery: 0,
          privacy: { l2NormClip: 1, noiseMultiplier: 1, delta: 1e-3, datasetSize: 100 },
        }),
      ),
    );
    expect(withPrivacy.argument).toBe('options.gradientCheckpointing');
    disposeAdapter(adapter);
  });
});
