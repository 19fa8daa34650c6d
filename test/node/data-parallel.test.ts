// Data-parallel training over worker_threads: workers on a split batch must
// train like one process on the whole batch, keep their replicas equal,
// survive a failing shard without diverging, and reject bad calls with typed
// errors. The workers run the TypeScript fixtures (through tsx). Worker
// start-up is the slow part (~1-3 s each), so the checks share trainers.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createOptimizer,
  decoderLm,
  flattenParams,
  initDecoderLm,
  paramsToVariables,
  softmaxCrossEntropy,
  TfjsBlocksError,
} from '../../src/index';
import {
  type DataParallelTrainer,
  loadCheckpoint,
  saveCheckpoint,
  startDataParallel,
} from '../../src/node/index';
import {
  TINY_GPT,
  type TinyTaskOptions,
  tinyOptimizer,
} from '../fixtures/data-parallel/tiny-gpt-config';

const fixture = (name: string) => new URL(`../fixtures/data-parallel/${name}`, import.meta.url);
const start = (workers: number, taskOptions: TinyTaskOptions) =>
  startDataParallel(fixture('tiny-gpt-task.ts'), { workers, backend: 'wasm', taskOptions });

/** Seeded token batches of `rows` rows. */
function batchOf(rows: number, seed: number) {
  let a = seed;
  const next = () => {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    return a % TINY_GPT.vocabSize;
  };
  const grid = () => Array.from({ length: rows }, () => Array.from({ length: 6 }, next));
  return {
    ids: tf.tensor2d(grid(), [rows, 6], 'int32'),
    targets: tf.tensor2d(grid(), [rows, 6], 'int32'),
  };
}
type Batch = ReturnType<typeof batchOf>;

/** The same training in this process, on whole batches. */
function trainHere(batches: Batch[], name: TinyTaskOptions['optimizer']) {
  const init = initDecoderLm(TINY_GPT, 0);
  const { params, variables } = paramsToVariables(init);
  tf.dispose(Object.values(flattenParams(init)));
  const optimizer = createOptimizer(tinyOptimizer(name), variables);
  const losses = batches.map(({ ids, targets }) => {
    const loss = optimizer.minimize(
      () => softmaxCrossEntropy(decoderLm(TINY_GPT, params, ids), targets) as tf.Scalar,
      true,
    )!;
    const value = loss.dataSync()[0]!;
    loss.dispose();
    return value;
  });
  optimizer.dispose();
  return { losses, variables };
}

/** Every tensor in a nested value. */
function tfTensorsOf(value: unknown, into: tf.Tensor[] = []): tf.Tensor[] {
  if (value instanceof tf.Tensor) into.push(value);
  else if (value !== null && typeof value === 'object')
    for (const v of Object.values(value)) tfTensorsOf(v, into);
  return into;
}

/** Largest difference over all parameters, over their largest entry. */
function maxError(a: Record<string, tf.Tensor>, b: Record<string, tf.Tensor>): number {
  let worst = 0;
  let scale = 0;
  for (const name of Object.keys(b)) {
    const x = a[name]!.dataSync();
    const y = b[name]!.dataSync();
    for (let i = 0; i < y.length; i++) {
      worst = Math.max(worst, Math.abs(x[i]! - y[i]!));
      scale = Math.max(scale, Math.abs(y[i]!));
    }
  }
  return worst / scale;
}

async function trainBoth(
  trainer: DataParallelTrainer,
  batches: Batch[],
  name: TinyTaskOptions['optimizer'],
) {
  const reference = trainHere(batches, name);
  const before = tf.memory().numTensors;
  const losses: number[] = [];
  for (const batch of batches) losses.push(await trainer.step(batch));
  expect(tf.memory().numTensors, 'the main thread keeps no tensor').toBe(before);
  for (let i = 0; i < batches.length; i++) expect(losses[i]).toBeCloseTo(reference.losses[i]!, 5);
  // The last batch repeats the first: training happened.
  expect(losses[losses.length - 1]).toBeLessThan(losses[0]! - 0.01);
  const params = await trainer.params();
  expect(Object.keys(params).sort()).toEqual(Object.keys(reference.variables).sort());
  for (let w = 1; w < trainer.workers; w++) {
    const other = await trainer.params(w);
    expect(maxError(other, params), `worker ${w}'s replica`).toBe(0);
    tf.dispose(Object.values(other));
  }
  const error = maxError(params, reference.variables);
  tf.dispose([...Object.values(params), ...Object.values(reference.variables)]);
  return error;
}

describe('startDataParallel: 3 workers, SGD with momentum', () => {
  it('shards of 3+2+2, 2+2+2 and 3+2+2 rows train exactly like one process on the whole batches', async () => {
    const trainer = await start(3, { optimizer: 'sgd' });
    try {
      const batches = [batchOf(7, 1), batchOf(6, 2), batchOf(7, 1)];
      expect(await trainBoth(trainer, batches, 'sgd')).toBeLessThan(1e-5);
      expect(trainer.steps).toBe(3);
      tf.dispose(batches.flatMap((b) => [b.ids, b.targets]));
    } finally {
      await trainer.close();
    }
  });
});

describe('startDataParallel: 2 workers, AdamW', () => {
  let trainer: DataParallelTrainer;
  // Worker 1's loss throws on its 4th call (the step after the 3 of the first test).
  beforeAll(async () => {
    trainer = await start(2, { optimizer: 'adamw', failAt: { rank: 1, call: 4 } });
  });
  afterAll(() => trainer.close());

  it('gives the losses of one process on the whole batch, and equal replicas', async () => {
    const batches = [batchOf(5, 3), batchOf(4, 4), batchOf(5, 3)];
    // Adam turns a gradient that is zero in exact arithmetic (the attention
    // key bias's) into lr-sized steps of float noise, so the parameters are
    // compared loosely; the losses above and SGD's run are the exact checks.
    expect(await trainBoth(trainer, batches, 'adamw')).toBeLessThan(1e-2);
    tf.dispose(batches.flatMap((b) => [b.ids, b.targets]));
  });

  it('a shard whose loss throws fails the step everywhere: nobody updates, the next step works', async () => {
    const batch = batchOf(4, 7);
    const before = await trainer.params();
    const steps = trainer.steps;
    await expect(trainer.step(batch)).rejects.toThrow(
      /data-parallel worker 1: planned failure at call 4/,
    );
    expect(trainer.steps).toBe(steps);
    for (const w of [0, 1]) {
      const now = await trainer.params(w);
      expect(maxError(now, before), `worker ${w} did not update`).toBe(0);
      tf.dispose(Object.values(now));
    }
    await trainer.step(batch);
    expect(trainer.steps).toBe(steps + 1);
    const after = await trainer.params();
    expect(maxError(after, before)).toBeGreaterThan(0);
    tf.dispose([...Object.values(before), ...Object.values(after), batch.ids, batch.targets]);
  });

  it('a worker’s TfjsBlocksError arrives as a TfjsBlocksError with its fields', async () => {
    const ids = tf.zeros([2, 6], 'int32');
    const targets = tf.fill([2, 6], 99, 'int32');
    const error = await trainer.step({ ids, targets }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TfjsBlocksError);
    expect((error as TfjsBlocksError).argument).toBe('labels');
    expect((error as TfjsBlocksError).message).toMatch(/in data-parallel worker 0/);
    tf.dispose([ids, targets]);
  });

  it('rejects bad batches and worker indices with typed errors naming the argument', async () => {
    const a = tf.zeros([4, 6], 'int32');
    const b = tf.zeros([3, 6], 'int32');
    const one = tf.zeros([1, 6], 'int32');
    await expect(trainer.step({ ids: a, targets: b })).rejects.toThrow(
      /batch.targets.shape\[0\] must be the batch size 4 \(as batch.ids\); got 3/,
    );
    await expect(trainer.step({ ids: one, targets: one })).rejects.toThrow(
      /batch must be at least one row per worker \(2\); got 1 rows/,
    );
    await expect(trainer.step({})).rejects.toThrow(TfjsBlocksError);
    await expect(trainer.params(2)).rejects.toThrow(/worker must be an integer < 2/);
    tf.dispose([a, b, one]);
  });

  it('rejects calls once closed', async () => {
    await trainer.close();
    const a = tf.zeros([4, 6], 'int32');
    await expect(trainer.step({ ids: a, targets: a })).rejects.toThrow(
      /DataParallelTrainer: trainer must be a running trainer; got a closed one/,
    );
    a.dispose();
  });
});

describe('startDataParallel: checkpoint and restore', () => {
  it('a run saved with saveCheckpoint and restored into new workers continues exactly', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tfjs-blocks-dp-'));
    const first = await start(2, { optimizer: 'adamw' });
    const second = await start(2, { optimizer: 'adamw' });
    const batches = [batchOf(4, 11), batchOf(4, 12), batchOf(4, 13)];
    try {
      await first.step(batches[0]!);
      await first.step(batches[1]!);
      const before = tf.memory().numTensors;
      const saved = await first.checkpoint();
      expect(saved.step).toBe(2);
      await saveCheckpoint(dir, saved);
      tf.dispose([...Object.values(saved.params), ...tfTensorsOf(saved.optimizerState)]);
      expect(tf.memory().numTensors).toBe(before);

      const loaded = await loadCheckpoint(dir);
      await second.restore(loaded);
      tf.dispose([...tfTensorsOf(loaded.params), ...tfTensorsOf(loaded.optimizerState)]);
      expect(second.steps).toBe(2);
      // Adam's moments and step count came along: the next step is the same step.
      const a = await first.step(batches[2]!);
      const b = await second.step(batches[2]!);
      expect(b).toBe(a);
      for (const w of [0, 1]) {
        const x = await first.params(w);
        const y = await second.params(w);
        expect(maxError(y, x), `worker ${w}`).toBe(0);
        tf.dispose([...Object.values(x), ...Object.values(y)]);
      }
    } finally {
      await Promise.all([first.close(), second.close()]);
      tf.dispose(batches.flatMap((b) => [b.ids, b.targets]));
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('rejects params of another shape or name, and leaves the workers as they were', async () => {
    const trainer = await start(2, { optimizer: 'sgd' });
    try {
      const params = await trainer.params();
      const name = 'blocks.0.attention.query.kernel';
      const wrong = { ...params, [name]: tf.zeros([3, 3]) };
      await expect(trainer.restore({ params: wrong })).rejects.toThrow(
        /checkpoint.params.blocks.0.attention.query.kernel must be a float32 tensor of shape \[8, 8\]; got a float32 tensor of shape \[3, 3\]/,
      );
      const extra = { ...params, 'head.kernel': tf.zeros([2]) };
      await expect(trainer.restore({ params: extra })).rejects.toThrow(
        /checkpoint.params.head.kernel/,
      );
      const after = await trainer.params(1);
      expect(maxError(after, params)).toBe(0);
      tf.dispose([
        ...Object.values(params),
        ...Object.values(after),
        wrong[name]!,
        extra['head.kernel']!,
      ]);
    } finally {
      await trainer.close();
    }
  });
});

describe('startDataParallel: bad tasks', () => {
  it('rejects a module that does not call dataParallelTask, replicas that differ, and 0 workers', async () => {
    await expect(
      startDataParallel(fixture('not-a-task.ts'), { workers: 1, backend: 'wasm' }),
    ).rejects.toThrow(/a module that calls dataParallelTask/);
    await expect(
      startDataParallel(fixture('bad-params-task.ts'), { workers: 2, backend: 'wasm' }),
    ).rejects.toThrow(/worker 1 differs from worker 0/);
    await expect(startDataParallel(fixture('tiny-gpt-task.ts'), { workers: 0 })).rejects.toThrow(
      /options.workers must be an integer >= 1/,
    );
  });
});
