import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { createRunLedger } from '../../src/efficiency/run-ledger';
import { disposeTree, memoryCheckpointStore } from '../../src/fine-tuning/checkpoint-store';
import type { SequenceExample } from '../../src/fine-tuning/examples';
import { type FineTuneOptions, fineTune } from '../../src/fine-tuning/fine-tune';
import { gpt2Config, initDecoderLm } from '../../src/models/decoder-lm';
import { adamw } from '../../src/optim/optimizers/adam';
import { flattenParams } from '../../src/tree/flatten';
import { interruptedFineTune } from '../helpers/fine-tune';
import { rejectionOf } from '../helpers/rejections';

const config = gpt2Config({ vocabSize: 24, maxLength: 12, dModel: 16, numHeads: 2, numLayers: 1 });
const params = initDecoderLm(config, 0);
const train: SequenceExample[] = Array.from({ length: 8 }, (_, k) => {
  const ids = Array.from({ length: 8 }, (_, t) => (k + t) % 24);
  return { ids, labels: ids };
});
const base = (extra: Partial<FineTuneOptions> = {}): FineTuneOptions => ({
  model: { config, params },
  data: { train },
  optimizer: adamw({ learningRate: 1e-2, weightDecay: 0 }),
  steps: 6,
  batchSize: 2,
  accumulate: 2,
  ...extra,
});
const disposeParams = (p: unknown) => tf.dispose(Object.values(flattenParams(p)));

describe("fineTune's ledger option", () => {
  it('records one training span per step: batchSize · accumulate · length tokens, FLOPs from modelCost', async () => {
    const ledger = createRunLedger({ model: config, context: 8 });
    const before = tf.memory().numTensors;
    const { trained } = await fineTune(base({ ledger }));
    disposeParams(trained);
    expect(tf.memory().numTensors).toBe(before);
    const r = ledger.report();
    expect(r.training.spans).toBe(6);
    expect(r.training.tokens.value).toBe(6 * 2 * 2 * 8);
    expect(r.training.flops.value).toBeCloseTo(
      6 *
        32 *
        createRunLedger({ model: config, context: 8 }).record({
          kind: 'training',
          tokens: 1,
          seconds: 0,
        }).flops,
      0,
    );
    expect(r.seconds.value).toBeGreaterThan(0);
    expect(r.energyJoules.label).toBe('estimated');
    expect(r.inference.spans).toBe(0);
  });

  it("saves the ledger with checkpoints: a resumed run's totals equal an uninterrupted run's tokens and FLOPs", async () => {
    const straightLedger = createRunLedger({ model: config });
    const straight = await fineTune(base({ ledger: straightLedger }));
    const store = memoryCheckpointStore();
    const firstLedger = createRunLedger({ model: config });
    await interruptedFineTune(base({ ledger: firstLedger }), store);
    // Step 3 ran but was not checkpointed: the resumed run redoes it and counts it once.
    expect(firstLedger.report().training.spans).toBe(3);
    const resumedLedger = createRunLedger({ model: config });
    const resumed = await fineTune(
      base({ ledger: resumedLedger, checkpointStore: store, checkpointEvery: 2 }),
    );
    const a = straightLedger.toJSON().training;
    const b = resumedLedger.toJSON().training;
    expect(b.spans).toBe(a.spans);
    expect(b.tokens).toBe(a.tokens);
    expect(b.flops).toBe(a.flops);
    // The checkpoint holds the ledger's state.
    const saved = await store.load();
    expect(saved?.metadata.ledger?.training.tokens).toBe(a.tokens);
    disposeTree(saved);
    store.dispose();
    disposeParams(straight.trained);
    disposeParams(resumed.trained);
  });

  it('rejects a bad ledger naming options.ledger, before any tensor', async () => {
    const before = tf.memory().numTensors;
    const error = await rejectionOf(fineTune(base({ ledger: { start: 1 } as never })));
    expect(error.argument).toBe('options.ledger');
    expect(tf.memory().numTensors).toBe(before);
  });
});
