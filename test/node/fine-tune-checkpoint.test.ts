import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SequenceExample } from '../../src/fine-tuning/examples';
import { type FineTuneOptions, fineTune } from '../../src/fine-tuning/fine-tune';
import { gpt2Config, initDecoderLm } from '../../src/models/decoder-lm';
import { saveCheckpoint } from '../../src/node/checkpoint';
import { fineTuneCheckpointDir } from '../../src/node/fine-tune-checkpoint';
import { adamw } from '../../src/optim/optimizers/adam';
import { flattenParams } from '../../src/tree/flatten';
import { rejectionOf, thrownBy } from '../helpers/rejections';

const config = gpt2Config({ vocabSize: 16, maxLength: 8, dModel: 8, numHeads: 2, numLayers: 1 });
const params = initDecoderLm(config, 3);
const train: SequenceExample[] = Array.from({ length: 6 }, (_, k) => {
  const ids = Array.from({ length: 6 }, (_, t) => (k + 2 * t) % 16);
  return { ids, labels: ids.slice() };
});
const options: FineTuneOptions = {
  model: { config, params },
  data: { train, heldOut: train.slice(0, 2) },
  optimizer: adamw({ learningRate: 1e-2 }),
  steps: 5,
  batchSize: 2,
  evalEvery: 2,
  earlyStopping: { patience: 4 },
};

const values = (tree: unknown) =>
  Object.fromEntries(
    Object.entries(flattenParams(tree)).map(([n, t]) => [n, Array.from(t.dataSync())]),
  );
const disposeTrained = (tree: unknown) => tf.dispose(Object.values(flattenParams(tree)));

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tfjs-blocks-finetune-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('fineTuneCheckpointDir', () => {
  it('resumes a run from its directory bit-identically, leaking nothing', async () => {
    const before = tf.memory().numTensors;
    const straight = await fineTune(options);
    const controller = new AbortController();
    await expect(
      fineTune({
        ...options,
        checkpointStore: fineTuneCheckpointDir(dir),
        checkpointEvery: 2,
        signal: controller.signal,
        onStep: ({ step }) => {
          if (step === 3) controller.abort('interrupted');
        },
      }),
    ).rejects.toBe('interrupted');
    const resumedSteps: number[] = [];
    const resumed = await fineTune({
      ...options,
      checkpointStore: fineTuneCheckpointDir(dir),
      checkpointEvery: 2,
      onStep: ({ step }) => void resumedSteps.push(step),
    });
    expect(resumedSteps).toEqual([3, 4, 5]);
    expect(values(resumed.trained)).toEqual(values(straight.trained));
    expect(resumed.history).toEqual(straight.history);
    disposeTrained(straight.trained);
    disposeTrained(resumed.trained);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('starts fresh from an empty or missing directory', async () => {
    expect(await fineTuneCheckpointDir(join(dir, 'missing')).load()).toBeUndefined();
  });

  it('rejects checkpoints not written by fineTune, freeing their tensors', async () => {
    const w = tf.ones([2]);
    await saveCheckpoint(dir, { params: { w }, step: 1 });
    w.dispose();
    const before = tf.memory().numTensors;
    const error = await rejectionOf(() => fineTuneCheckpointDir(dir).load());
    expect(error.argument).toBe('directory');
    expect(tf.memory().numTensors).toBe(before);
  });

  it('names the bad argument', () => {
    expect(thrownBy(() => fineTuneCheckpointDir('')).argument).toBe('directory');
    expect(thrownBy(() => fineTuneCheckpointDir(dir, { keepLast: 0 })).argument).toBe(
      'options.keepLast',
    );
  });
});
