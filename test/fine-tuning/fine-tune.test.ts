import * as tf from '@tensorflow/tfjs-core';
import { afterEach, describe, expect, it } from 'vitest';
import { memoryCheckpointStore } from '../../src/fine-tuning/checkpoint-store';
import { IGNORED_LABEL, type SequenceExample } from '../../src/fine-tuning/examples';
import { examplesAt, type FineTuneOptions, fineTune } from '../../src/fine-tuning/fine-tune';
import { softmaxCrossEntropy } from '../../src/losses/softmax-cross-entropy';
import { decoderLm, gpt2Config, initDecoderLm } from '../../src/models/decoder-lm';
import { adamw } from '../../src/optim/optimizers/adam';
import { sgd } from '../../src/optim/optimizers/sgd';
import { flattenParams } from '../../src/tree/flatten';
import { interruptedFineTune } from '../helpers/fine-tune';
import { rejectionOf } from '../helpers/rejections';

const config = gpt2Config({ vocabSize: 24, maxLength: 12, dModel: 16, numHeads: 2, numLayers: 1 });
const params = initDecoderLm(config, 0);
const model = { config, params };

/** Sequences of a learnable pattern (i, i+1, i+2, ...), some with a masked prompt. */
function makeExamples(count: number, offset: number): SequenceExample[] {
  return Array.from({ length: count }, (_, k) => {
    const ids = Array.from({ length: 8 }, (_, t) => (k + offset + t) % 24);
    const labels = ids.map((id, t) => (k % 2 === 1 && t < 3 ? IGNORED_LABEL : id));
    return { ids, labels };
  });
}
const train = makeExamples(12, 0);
const heldOut = makeExamples(4, 5);

function values(tree: unknown): Record<string, number[]> {
  return Object.fromEntries(
    Object.entries(flattenParams(tree)).map(([name, t]) => [name, Array.from(t.dataSync())]),
  );
}

function disposeParams(p: unknown): void {
  tf.dispose(Object.values(flattenParams(p)));
}

const base = (extra: Partial<FineTuneOptions> = {}): FineTuneOptions => ({
  model,
  data: { train, heldOut },
  optimizer: adamw({ learningRate: 1e-2, weightDecay: 0 }),
  steps: 6,
  batchSize: 2,
  ...extra,
});

let before = 0;
afterEach(() => {
  expect(tf.memory().numTensors).toBe(before);
});
const mark = () => {
  before = tf.memory().numTensors;
};

describe('fineTune (full fine-tuning)', () => {
  it('lowers the training loss and leaves only the trained params, keeping the tensor count flat', async () => {
    mark();
    const counts: number[] = [];
    const { trained, history, step } = await fineTune(
      base({
        steps: 12,
        onStep: () => {
          counts.push(tf.memory().numTensors);
        },
      }),
    );
    expect(step).toBe(12);
    expect(history.map((h) => h.step)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    expect(history.at(-1)!.loss).toBeLessThan(history[0]!.loss * 0.8);
    expect(new Set(counts.slice(1)).size).toBe(1);
    const added = tf.memory().numTensors - before;
    expect(added).toBe(Object.keys(flattenParams(trained)).length);
    // The model's own params are untouched.
    expect(params.blocks[0]!.attention.query.kernel.isDisposed).toBe(false);
    disposeParams(trained);
  });

  it("reports the step's loss as the mean masked next-token cross-entropy", async () => {
    mark();
    const seen: number[] = [];
    const { trained } = await fineTune(
      base({ steps: 1, batchSize: 4, onStep: ({ loss }) => void seen.push(loss) }),
    );
    disposeParams(trained);
    const batch = examplesAt(train, 0, 0, 4);
    const expected = tf.tidy(() => {
      const logits = decoderLm(
        config,
        params,
        tf.tensor2d(
          batch.map((e) => e.ids),
          undefined,
          'int32',
        ),
      );
      const [b, t, v] = logits.shape;
      const shifted = tf.slice(logits, [0, 0, 0], [b, t - 1, v]);
      const labels = tf.tensor2d(
        batch.map((e) => e.labels.slice(1)),
        undefined,
        'int32',
      );
      return softmaxCrossEntropy(shifted, labels).dataSync()[0]!;
    });
    expect(seen[0]).toBeCloseTo(expected, 5);
  });

  it('accumulating micro-batches equals one big batch', async () => {
    mark();
    const optimizer = sgd({ learningRate: 0.5 });
    const one = await fineTune(base({ optimizer, steps: 3, batchSize: 4, accumulate: 1 }));
    const split = await fineTune(base({ optimizer, steps: 3, batchSize: 2, accumulate: 2 }));
    const a = values(one.trained);
    const b = values(split.trained);
    for (const name of Object.keys(a)) {
      const diff = Math.max(...a[name]!.map((x, i) => Math.abs(x - b[name]![i]!)));
      expect(diff, name).toBeLessThan(1e-5);
    }
    for (let i = 0; i < 3; i++) expect(split.history[i]!.loss).toBeCloseTo(one.history[i]!.loss, 5);
    disposeParams(one.trained);
    disposeParams(split.trained);
  });

  it('scales the updates by the schedule and reports its value', async () => {
    mark();
    const rates: number[] = [];
    const { trained } = await fineTune(
      base({
        optimizer: sgd({ learningRate: 1 }),
        schedule: () => 0,
        steps: 2,
        onStep: ({ learningRate }) => void rates.push(learningRate),
      }),
    );
    expect(rates).toEqual([0, 0]);
    expect(values(trained)).toEqual(values(params));
    disposeParams(trained);
  });

  it('evaluates the held-out loss and stops early, returning the best params', async () => {
    mark();
    // A learning rate of 0 never improves on the first evaluation.
    const result = await fineTune(
      base({
        optimizer: sgd({ learningRate: 0 }),
        steps: 20,
        evalEvery: 2,
        earlyStopping: { patience: 2 },
      }),
    );
    expect(result.stoppedEarly).toBe(true);
    expect(result.step).toBe(6);
    expect(result.bestStep).toBe(2);
    expect(result.history.filter((h) => h.heldOutLoss !== undefined).map((h) => h.step)).toEqual([
      2, 4, 6,
    ]);
    expect(result.bestHeldOutLoss).toBe(result.history[1]!.heldOutLoss);
    expect(values(result.trained)).toEqual(values(params));
    disposeParams(result.trained);
  });

  it('a run that stopped early stays stopped when started again on its checkpoints', async () => {
    mark();
    const store = memoryCheckpointStore();
    const options = base({
      optimizer: sgd({ learningRate: 0 }),
      steps: 20,
      evalEvery: 2,
      earlyStopping: { patience: 2 },
      checkpointStore: store,
    });
    const first = await fineTune(options);
    const again = await fineTune(options);
    expect(again.stoppedEarly).toBe(true);
    expect(again.step).toBe(first.step);
    expect(again.history).toEqual(first.history);
    expect(values(again.trained)).toEqual(values(first.trained));
    store.dispose();
    disposeParams(first.trained);
    disposeParams(again.trained);
  });

  it('resumes from a checkpoint bit-identically to an uninterrupted run', async () => {
    mark();
    const options = base({ steps: 6, evalEvery: 2, earlyStopping: { patience: 5 } });
    const straight = await fineTune(options);
    const store = memoryCheckpointStore();
    await interruptedFineTune(options, store);
    const resumed = await fineTune({ ...options, checkpointStore: store, checkpointEvery: 2 });
    expect(resumed.step).toBe(6);
    expect(values(resumed.trained)).toEqual(values(straight.trained));
    expect(resumed.history).toEqual(straight.history);
    store.dispose();
    disposeParams(straight.trained);
    disposeParams(resumed.trained);
  });

  it('an abort frees everything and rejects with the reason', async () => {
    mark();
    const controller = new AbortController();
    controller.abort('before');
    await expect(fineTune(base({ signal: controller.signal }))).rejects.toBe('before');
    const later = new AbortController();
    const run = fineTune(
      base({
        signal: later.signal,
        onStep: ({ step }) => {
          if (step === 2) later.abort();
        },
      }),
    );
    await expect(run).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('an error in onStep frees everything', async () => {
    mark();
    const run = fineTune(
      base({
        onStep: () => {
          throw new Error('ui failed');
        },
      }),
    );
    await expect(run).rejects.toThrow('ui failed');
  });

  it('names the bad option', async () => {
    mark();
    const cases: Array<[Partial<FineTuneOptions>, string]> = [
      [{ steps: 0 }, 'options.steps'],
      [{ batchSize: 1.5 }, 'options.batchSize'],
      [{ accumulate: 0 }, 'options.accumulate'],
      [{ optimizer: {} as never }, 'options.optimizer'],
      [{ schedule: 3 as never }, 'options.schedule'],
      [{ data: { train: [] } }, 'options.data.train'],
      [{ data: { train: [{ ids: [1, 2], labels: [1] }] } }, 'options.data.train[0].labels.length'],
      [
        {
          data: {
            train: makeExamples(2, 0).map((e) => ({
              ...e,
              ids: [...e.ids, ...e.ids],
              labels: [...e.labels, ...e.labels],
            })),
          },
        },
        'options.data.train[0].ids.length',
      ],
      [{ data: { train }, evalEvery: 2 }, 'options.data.heldOut'],
      [{ earlyStopping: { patience: 0 } }, 'options.earlyStopping.patience'],
      [{ evalEvery: 0, earlyStopping: { patience: 1 } }, 'options.evalEvery'],
      [{ checkpointStore: {} as never }, 'options.checkpointStore'],
      [{ onStep: 1 as never }, 'options.onStep'],
      [{ seed: 0.5 }, 'options.seed'],
      [{ model: { config } as never }, 'options.model'],
      [{ model: { ...model, kind: 'encoder-classifier' } as never }, 'options.model.kind'],
      [{ stepz: 1 } as never, 'options.stepz'],
    ];
    for (const [extra, argument] of cases) {
      const error = await rejectionOf(() => fineTune(base(extra)));
      expect(error.argument, argument).toBe(argument);
    }
  });

  it('rejects a checkpoint whose tensors do not fit, freeing it', async () => {
    mark();
    const store = memoryCheckpointStore();
    const other = gpt2Config({
      vocabSize: 24,
      maxLength: 12,
      dModel: 8,
      numHeads: 2,
      numLayers: 1,
    });
    const otherParams = initDecoderLm(other, 1);
    await store.save({
      step: 1,
      trainable: flattenParams(otherParams),
      optimizerState: [],
      metadata: { history: [], evalsWithoutImprovement: 0, examplesSeen: 2 },
    });
    disposeParams(otherParams);
    const error = await rejectionOf(() => fineTune(base({ checkpointStore: store })));
    expect(error.argument).toMatch(/^checkpoint\.trainable/);
    store.dispose();
  });
});
