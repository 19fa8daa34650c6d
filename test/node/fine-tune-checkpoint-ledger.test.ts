import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { describe, expect, it } from 'vitest';
import { createRunLedger } from '../../src/efficiency/run-ledger';
import type { SequenceExample } from '../../src/fine-tuning/examples';
import { type FineTuneOptions, fineTune } from '../../src/fine-tuning/fine-tune';
import { gpt2Config, initDecoderLm } from '../../src/models/decoder-lm';
import { fineTuneCheckpointDir } from '../../src/node/fine-tune-checkpoint';
import { sgd } from '../../src/optim/optimizers/sgd';
import { flattenParams } from '../../src/tree/flatten';

const config = gpt2Config({ vocabSize: 16, maxLength: 8, dModel: 8, numHeads: 2, numLayers: 1 });
const params = initDecoderLm(config, 0);
const train: SequenceExample[] = Array.from({ length: 4 }, (_, k) => {
  const ids = Array.from({ length: 6 }, (_, t) => (k + t) % 16);
  return { ids, labels: ids };
});
const options = (extra: Partial<FineTuneOptions>): FineTuneOptions => ({
  model: { config, params },
  data: { train },
  optimizer: sgd({ learningRate: 0.1 }),
  steps: 4,
  batchSize: 2,
  checkpointEvery: 2,
  ...extra,
});

describe('fineTuneCheckpointDir with a run ledger', () => {
  it('saves the ledger in the checkpoint on disk and sums it across a resume in a new ledger', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ledger-ckpt-'));
    try {
      const straight = createRunLedger({ model: config });
      const a = await fineTune(options({ ledger: straight }));
      tf.dispose(Object.values(flattenParams(a.trained)));
      const first = await fineTune(
        options({
          steps: 2,
          ledger: createRunLedger({ model: config }),
          checkpointStore: fineTuneCheckpointDir(dir),
        }),
      );
      tf.dispose(Object.values(flattenParams(first.trained)));
      const resumedLedger = createRunLedger({ model: config });
      const before = tf.memory().numTensors;
      const b = await fineTune(
        options({ ledger: resumedLedger, checkpointStore: fineTuneCheckpointDir(dir) }),
      );
      tf.dispose(Object.values(flattenParams(b.trained)));
      expect(tf.memory().numTensors).toBe(before);
      expect(resumedLedger.toJSON().training.tokens).toBe(straight.toJSON().training.tokens);
      expect(resumedLedger.toJSON().training.flops).toBe(straight.toJSON().training.flops);
      expect(resumedLedger.toJSON().training.spans).toBe(4);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
