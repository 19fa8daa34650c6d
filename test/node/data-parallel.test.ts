// Data-parallel training over worker_threads: workers on a split batch must
// train like one process on the whole batch, keep their replicas equal,
// survive a failing shard without diverging, and reject bad calls with typed
// errors. The workers run the TypeScript fixtures (through tsx). Worker
// start-up is the slow part (~1-3 s each), so the checks share trainers.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
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
  type DataParallelOptions,
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
import type { HangTaskOptions } from './data-parallel-hang-task';

// Every worker thread the library starts, until its 'exit' fires: the tests
// check that none outlives close() or a failed call.
const live = vi.hoisted(() => new Set<object>());
vi.mock('node:worker_threads', async (importOriginal) => {
  const original = await importOriginal<typeof import('node:worker_threads')>();
  class TrackedWorker extends original.Worker {
    constructor(...args: ConstructorParameters<typeof original.Worker>) {
      super(...args);
      live.add(this);
      this.once('exit', () => live.delete(this));
    }
  }
  return { ...original, Worker: TrackedWorker };
});

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
    expect(live.size, 'no worker thread outlives close()').toBe(0);
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

  it('rejects params of another shape or name, disposed or not a record, and leaves the workers as they were', async () => {
    const trainer = await start(2, { optimizer: 'sgd' });
    /** The `argument` of the TfjsBlocksError `restore(checkpoint)` rejects with. */
    const restoreArgument = async (checkpoint: Parameters<DataParallelTrainer['restore']>[0]) => {
      const error = await trainer.restore(checkpoint).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TfjsBlocksError);
      return (error as TfjsBlocksError).argument;
    };
    try {
      const params = await trainer.params();
      const name = 'blocks.0.attention.query.kernel';
      const wrong = { ...params, [name]: tf.zeros([3, 3]) };
      await expect(trainer.restore({ params: wrong })).rejects.toThrow(
        /checkpoint.params.blocks.0.attention.query.kernel must be shape \[8, 8\] \(as in the task's parameters\); got shape \[3, 3\]/,
      );
      expect(await restoreArgument({ params: wrong })).toBe(`checkpoint.params.${name}`);
      const extra = { ...params, 'head.kernel': tf.zeros([2]) };
      await expect(trainer.restore({ params: extra })).rejects.toThrow(
        /checkpoint.params.head.kernel/,
      );
      // The shared shape check: a disposed tensor is named (it crashed in dataSync),
      // and params that are no record are restore's own argument (not flattenParams').
      const disposed = { ...params, [name]: tf.zeros([8, 8]) };
      disposed[name]!.dispose();
      expect(await restoreArgument({ params: disposed })).toBe(`checkpoint.params.${name}`);
      expect(await restoreArgument({ params: 7 })).toBe('checkpoint.params');
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

describe('startDataParallel: a worker that never replies', () => {
  const hangTask = new URL('./data-parallel-hang-task.ts', import.meta.url);
  const startHang = (taskOptions: HangTaskOptions, timeouts: Record<string, number> = {}) =>
    startDataParallel(hangTask, { workers: 2, backend: 'cpu', taskOptions, ...timeouts });
  const rowsOf = (rows: number) => ({ x: tf.ones([rows, 2]) });
  /** The rejection of `promise`, which must be a TfjsBlocksError. */
  const typedRejection = async (promise: Promise<unknown>) => {
    const error = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(TfjsBlocksError);
    return error as TfjsBlocksError;
  };

  it('a loss that loops for ever on worker 1 fails the step after stepTimeoutMs, naming worker 1, and stops the trainer', async () => {
    const trainer = await startHang({ hangAt: { rank: 1, call: 1 } }, { stepTimeoutMs: 300 });
    const batch = rowsOf(4);
    const started = Date.now();
    const error = await typedRejection(trainer.step(batch));
    expect(Date.now() - started).toBeLessThan(10_000);
    // Worker 0 waits at the barrier for worker 1: the stuck one is worker 1.
    expect(error.functionName).toBe('DataParallelTrainer.step');
    expect(error.argument).toBe('worker 1');
    expect(error.message).toMatch(/options.stepTimeoutMs \(300 ms\); got no reply after 300 ms/);
    expect(live.size, 'every worker was terminated before the step rejected').toBe(0);
    // The replicas may differ now: every later call fails, typed.
    for (const call of [trainer.step(batch), trainer.params(), trainer.checkpoint()]) {
      const later = await typedRejection(call);
      expect(later.argument).toBe('trainer');
      expect(later.message).toMatch(
        /stopped by an earlier failure \(DataParallelTrainer.step: worker 1/,
      );
    }
    await trainer.close();
    tf.dispose(batch.x);
  }, 30_000);

  it('a worker that hangs only on the 2nd step: the 1st trains, the 2nd fails naming worker 0', async () => {
    const trainer = await startHang({ hangAt: { rank: 0, call: 2 } }, { stepTimeoutMs: 300 });
    const batch = rowsOf(4);
    expect(await trainer.step(batch)).toBeCloseTo(1, 5);
    const error = await typedRejection(trainer.step(batch));
    expect(error.argument).toBe('worker 0');
    expect(trainer.steps).toBe(1);
    expect(live.size).toBe(0);
    await trainer.close();
    tf.dispose(batch.x);
  }, 30_000);

  it('close() during a stuck step terminates the workers within closeTimeoutMs; the step rejects naming the worker', async () => {
    const trainer = await startHang(
      { hangAt: { rank: 1, call: 1 }, keepAlive: true },
      { stepTimeoutMs: 600_000, closeTimeoutMs: 300 },
    );
    const batch = rowsOf(4);
    const stepping = typedRejection(trainer.step(batch));
    await new Promise((resolve) => setTimeout(resolve, 300));
    const started = Date.now();
    await trainer.close();
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(live.size, 'no worker thread outlives close()').toBe(0);
    const error = await stepping;
    expect(error.functionName).toBe('DataParallelTrainer.step');
    expect(error.argument).toBe('worker 1');
    expect(error.message).toMatch(/before close\(\) stopped the workers/);
    const later = await typedRejection(trainer.params());
    expect(later.argument).toBe('trainer');
    await trainer.close(); // a second close is a no-op
    tf.dispose(batch.x);
  }, 30_000);

  it('close() terminates workers that keep their thread alive after being told to stop', async () => {
    const trainer = await startHang({ keepAlive: true }, { closeTimeoutMs: 300 });
    const batch = rowsOf(4);
    await trainer.step(batch);
    const started = Date.now();
    await trainer.close();
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(live.size).toBe(0);
    tf.dispose(batch.x);
  }, 30_000);

  it('a checkpoint() called just before close() completes, and close() waits for it', async () => {
    const trainer = await startHang({});
    const before = tf.memory().numTensors;
    const saving = trainer.checkpoint();
    await trainer.close();
    expect(live.size).toBe(0);
    const saved = await saving;
    expect(Object.keys(saved.params)).toEqual(['w']);
    tf.dispose([...Object.values(saved.params), ...tfTensorsOf(saved.optimizerState)]);
    expect(tf.memory().numTensors, 'no tensor left').toBe(before);
  }, 30_000);

  it('a module that never calls dataParallelTask but keeps its thread alive fails start-up after startTimeoutMs', async () => {
    const idle = new URL('./data-parallel-idle-task.ts', import.meta.url);
    const error = await typedRejection(
      startDataParallel(idle, { workers: 2, backend: 'cpu', startTimeoutMs: 1_500 }),
    );
    expect(error.functionName).toBe('startDataParallel');
    expect(error.argument).toBe('workers 0, 1');
    expect(error.message).toMatch(/ready within options.startTimeoutMs \(1500 ms\)/);
    expect(live.size).toBe(0);
  }, 30_000);

  it('a worker that crashes during start-up fails startDataParallel, and no thread outlives it', async () => {
    await expect(startHang({ crashRank: 1, keepAlive: true })).rejects.toThrow(
      /data-parallel worker 1 crashed: planned crash during start-up/,
    );
    expect(live.size).toBe(0);
  }, 30_000);
});

describe('startDataParallel: options', () => {
  const hangTask = new URL('./data-parallel-hang-task.ts', import.meta.url);
  const argumentOf = async (promise: Promise<unknown>) => {
    const error = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(TfjsBlocksError);
    return (error as TfjsBlocksError).argument;
  };

  it('rejects unknown option keys with the closest valid name, before starting any worker', async () => {
    const options = { workers: 1, stepTimeout: 300 } as unknown as DataParallelOptions;
    await expect(startDataParallel(hangTask, options)).rejects.toThrow(
      /did you mean 'stepTimeoutMs'/,
    );
    expect(await argumentOf(startDataParallel(hangTask, options))).toBe('options.stepTimeout');
    expect(live.size).toBe(0);
  });

  it('rejects timeouts that are not positive millisecond counts', async () => {
    for (const [key, value] of [
      ['stepTimeoutMs', 0],
      ['startTimeoutMs', -1],
      ['stepTimeoutMs', Number.NaN],
      ['startTimeoutMs', 2 ** 31],
      ['closeTimeoutMs', Number.POSITIVE_INFINITY],
    ] as const) {
      expect(await argumentOf(startDataParallel(hangTask, { workers: 1, [key]: value }))).toBe(
        `options.${key}`,
      );
    }
    expect(live.size).toBe(0);
  });

  it('rejects taskOptions Node cannot clone and flags it refuses, leaving no thread and no timer', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      const taskOptions = { keepAlive: () => true } as unknown as HangTaskOptions;
      const uncloneable = { workers: 2, backend: 'cpu', startTimeoutMs: 100, taskOptions } as const;
      expect(await argumentOf(startDataParallel(hangTask, uncloneable))).toBe(
        'options.taskOptions',
      );
      const badFlag = { workers: 2, startTimeoutMs: 100, execArgv: ['--no-such-flag'] };
      expect(await argumentOf(startDataParallel(hangTask, badFlag))).toBe('options.execArgv');
      const notArray = { workers: 1, execArgv: '--inspect' as unknown as string[] };
      expect(await argumentOf(startDataParallel(hangTask, notArray))).toBe('options.execArgv');
      // Past startTimeoutMs: the start-up timer was cleared, nothing rejects unseen.
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(unhandled).toEqual([]);
      expect(live.size).toBe(0);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('rejects a task definition with an unknown key, naming it', async () => {
    const error = await startDataParallel(hangTask, {
      workers: 1,
      backend: 'cpu',
      taskOptions: { extraKey: true } satisfies HangTaskOptions,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TfjsBlocksError);
    expect((error as TfjsBlocksError).argument).toBe('factory().learningRate');
    expect((error as TfjsBlocksError).message).toMatch(/in data-parallel worker 0/);
    expect(live.size).toBe(0);
  });
});
