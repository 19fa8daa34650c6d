/**
 * The data-parallel trainer: `step`, `params`, `checkpoint` and `restore`
 * as requests to a {@link WorkerPool} (./worker-pool.ts), which owns the
 * threads, their messages, failures, timeouts and shutdown.
 */
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { dispose, type Tensor } from '@tensorflow/tfjs-core';
import type { BackendName } from '../../backends';
import { TfjsBlocksError } from '../../errors';
import {
  checkInteger,
  checkOptionKeys,
  describeValue,
  optionKeys,
  sharedLeadingDim,
} from '../../internal/checks';
import { emptyRecord, ownEntry, recordFromEntries } from '../../internal/records';
import { restoreOptimizerState, saveOptimizerState } from '../../optim/state-io';
import { checkShapes } from '../../optim/tree';
import { flattenParams } from '../../tree/flatten';
import { shareOf } from './memory';
import {
  type FromWorker,
  fromHostMap,
  type HostOptimizerState,
  type HostTensor,
  type ParamLayout,
  toHost,
  toHostMap,
} from './protocol';
import { startWorkerPool, type WorkerPool } from './worker-pool';

/** Options of {@link startDataParallel}. */
export type DataParallelOptions = {
  /** Workers (each its own thread and tfjs backend); default `os.availableParallelism()`. */
  workers?: number;
  /** Backend of every worker; default `'wasm'` (one thread each in Node, so workers add up). */
  backend?: BackendName;
  /** Passed to the task's factory as `context.options`; must be structured-cloneable. */
  taskOptions?: unknown;
  /** Node flags of the worker threads; default: the main process's. */
  execArgv?: string[];
  /**
   * The longest wait, in ms, for the workers' replies to one request once the
   * trainer runs (`step`, `params`, `checkpoint`, `restore`), counted from
   * when the request reaches the workers; default 600,000 (10 minutes):
   * several times a wasm training step of a GPT-2-small-sized model on one
   * core, so a slow step is never cut short, while a worker stuck in an
   * endless loop still fails the call. When it passes, every worker is
   * terminated and the call rejects with a `TfjsBlocksError` naming the stuck
   * worker; the trainer is stopped (its replicas may differ). `Infinity`
   * waits for ever.
   */
  stepTimeoutMs?: number;
  /**
   * The longest wait, in ms, for every worker to load the task, build its
   * replica and receive worker 0's parameters; default 120,000 (2 minutes):
   * start-up loads tsx and the backend, compiles the wasm module and runs the
   * factory (which may read a checkpoint) in every worker, all at once. When
   * it passes, the workers are terminated and `startDataParallel` rejects
   * with a `TfjsBlocksError` naming the workers that did not start (a
   * module that never calls `dataParallelTask`, say). `Infinity` waits for ever.
   */
  startTimeoutMs?: number;
  /**
   * How long, in ms, `close()` lets a call in progress finish and the
   * workers exit by themselves before it terminates them; default 5,000.
   */
  closeTimeoutMs?: number;
};

const DATA_PARALLEL_OPTION_KEYS = optionKeys<DataParallelOptions>({
  workers: true,
  backend: true,
  taskOptions: true,
  execArgv: true,
  stepTimeoutMs: true,
  startTimeoutMs: true,
  closeTimeoutMs: true,
});

/** Default {@link DataParallelOptions.stepTimeoutMs}. */
const DEFAULT_STEP_TIMEOUT_MS = 600_000;
/** Default {@link DataParallelOptions.startTimeoutMs}. */
const DEFAULT_START_TIMEOUT_MS = 120_000;
/** Default {@link DataParallelOptions.closeTimeoutMs}. */
const DEFAULT_CLOSE_TIMEOUT_MS = 5_000;
/** The longest delay `setTimeout` honours (a longer one fires at once). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** One parameter of a {@link DataParallelTrainer}'s layout. */
export type DataParallelParam = {
  /** The dotted path, as `flattenParams` names it. */
  name: string;
  /** The parameter's shape. */
  shape: number[];
};

/** A running data-parallel training job (see {@link startDataParallel}). */
export interface DataParallelTrainer {
  /** How many workers train. */
  readonly workers: number;
  /** The parameters' dotted paths and shapes, in the order the gradients are laid out. */
  readonly layout: ReadonlyArray<DataParallelParam>;
  /** Steps applied so far (a skipped or failed step does not count). */
  readonly steps: number;
  /**
   * One training step on `batch`: its tensors are split along axis 0 into one
   * contiguous shard per worker (sizes differing by at most one), each worker
   * computes its shard's loss and gradients, the gradients are averaged
   * weighted by shard size, and every worker applies the optimizer. Resolves
   * to the batch's loss (the shard losses' weighted mean). If a worker's loss
   * throws, no worker updates and the promise rejects with that error.
   * The batch's tensors stay the caller's.
   */
  step(batch: Record<string, Tensor>): Promise<number>;
  /**
   * A worker's current parameters (worker 0's by default; every replica holds
   * the same), as new tensors on this thread's backend, by dotted path.
   */
  params(worker?: number): Promise<Record<string, Tensor>>;
  /**
   * What to save to resume the run: worker 0's parameters (by dotted path)
   * and optimizer state, as new tensors on this thread, and {@link steps}.
   * Shaped for `saveCheckpoint`; the caller disposes the tensors.
   */
  checkpoint(): Promise<DataParallelCheckpoint>;
  /**
   * Gives every worker these parameters (names and shapes as in
   * {@link layout}; nested records or dotted paths) and, when given, this
   * optimizer state, e.g. from `loadCheckpoint`; `step` sets {@link steps}.
   * The tensors stay the caller's.
   */
  restore(checkpoint: { params: unknown; optimizerState?: unknown; step?: number }): Promise<void>;
  /**
   * Stops the workers and frees their memory. A call in progress gets
   * `closeTimeoutMs` to finish (then it rejects naming the stuck worker);
   * workers that have not exited by then are terminated. Resolves once every
   * worker thread has exited; later calls reject.
   */
  close(): Promise<void>;
}

/** What {@link DataParallelTrainer.checkpoint} returns. */
export type DataParallelCheckpoint = {
  /** Worker 0's parameters by dotted path. */
  params: Record<string, Tensor>;
  /** Worker 0's optimizer state (every worker holds the same). */
  optimizerState: unknown;
  /** Steps applied so far. */
  step: number;
};

/**
 * Starts data-parallel training over Node `worker_threads`: `workers`
 * threads, each with its own tfjs backend and a full replica of the model,
 * train on shards of each batch; their gradients are averaged through a
 * `SharedArrayBuffer` (each worker sums one segment: no copy through the main
 * thread), and each applies the same optimizer update to the same averaged
 * gradients, so the replicas stay equal, as in PyTorch's
 * DistributedDataParallel. The task module declares the model with
 * {@link dataParallelTask}.
 *
 * Worth it when one backend instance leaves cores idle: Node's wasm backend
 * runs on one thread, so on a machine with n cores up to n workers help
 * (docs/performance.md has the measured speed-up on 2 cores). With n
 * workers each shard is 1/n of the batch: keep batches large enough that a
 * shard still fills the matMuls.
 *
 * @param task - path or file URL of a module that calls {@link dataParallelTask}.
 * A worker that never replies (an endless loss, a task module that never
 * calls `dataParallelTask` but keeps its thread alive) cannot hang the run:
 * start-up and every request are bounded by `startTimeoutMs` and
 * `stepTimeoutMs`, and `close()` by `closeTimeoutMs`, after which the
 * workers are terminated.
 *
 * @param options - `workers`, `backend`, `taskOptions`, `execArgv`,
 *   `stepTimeoutMs`, `startTimeoutMs`, `closeTimeoutMs`.
 * @returns the trainer, once every worker has built its replica and holds worker 0's parameters.
 * @example
 * ```ts
 * import { startDataParallel } from 'tfjs-blocks/node';
 *
 * const trainer = await startDataParallel(new URL('./gpt-task.ts', import.meta.url), { workers: 2 });
 * for (let step = 0; step < 100; step++) {
 *   const { ids, targets } = nextBatch(); // int32 [batch, time] each
 *   const loss = await trainer.step({ ids, targets });
 *   tf.dispose([ids, targets]);
 * }
 * const params = await trainer.params(); // by dotted path: unflattenParams(template, params)
 * await trainer.close();
 * ```
 */
export async function startDataParallel(
  task: string | URL,
  options: DataParallelOptions = {},
): Promise<DataParallelTrainer> {
  const fn = 'startDataParallel';
  if (!(task instanceof URL) && (typeof task !== 'string' || task === '')) {
    throw new TfjsBlocksError(fn, 'task', 'a module path or file URL', describeValue(task));
  }
  checkOptionKeys(fn, options, DATA_PARALLEL_OPTION_KEYS);
  const count = checkInteger(fn, 'options.workers', options.workers ?? availableParallelism(), 1);
  const stepTimeoutMs = checkTimeout(
    fn,
    'stepTimeoutMs',
    options.stepTimeoutMs,
    DEFAULT_STEP_TIMEOUT_MS,
    true,
  );
  const startTimeoutMs = checkTimeout(
    fn,
    'startTimeoutMs',
    options.startTimeoutMs,
    DEFAULT_START_TIMEOUT_MS,
    true,
  );
  const closeTimeoutMs = checkTimeout(
    fn,
    'closeTimeoutMs',
    options.closeTimeoutMs,
    DEFAULT_CLOSE_TIMEOUT_MS,
    false,
  );
  const execArgv = options.execArgv;
  if (
    execArgv !== undefined &&
    (!Array.isArray(execArgv) || execArgv.some((flag) => typeof flag !== 'string'))
  ) {
    throw new TfjsBlocksError(
      fn,
      'options.execArgv',
      'an array of Node flags (strings)',
      describeValue(execArgv),
    );
  }
  const { pool, layout } = await startWorkerPool({
    fn,
    task: task instanceof URL ? task : pathToFileURL(resolve(task)),
    workers: count,
    backend: options.backend ?? 'wasm',
    taskOptions: options.taskOptions,
    ...(execArgv ? { execArgv } : {}),
    stepTimeoutMs,
    startTimeoutMs,
    closeTimeoutMs,
  });
  return trainerOver(pool, layout);
}

/** The {@link DataParallelTrainer} whose requests `pool`'s workers serve. */
function trainerOver(pool: WorkerPool, layout: ParamLayout[]): DataParallelTrainer {
  const count = pool.size;
  const ranks = pool.ranks;
  const shapes = recordFromEntries(layout.map((p) => [p.name, p.shape] as const));
  let nextId = 1;
  let steps = 0;

  async function readParams(worker = 0): Promise<Record<string, Tensor>> {
    const rank = checkInteger('DataParallelTrainer.params', 'worker', worker, 0);
    if (rank >= count) {
      throw new TfjsBlocksError(
        'DataParallelTrainer.params',
        'worker',
        `an integer < ${count}`,
        `${rank}`,
      );
    }
    const replies = await pool.request('DataParallelTrainer.params', [rank], () => ({
      value: { type: 'params', id: nextId++ },
    }));
    return fromHostMap((replies.get(rank) as Extract<FromWorker, { type: 'params' }>).values);
  }

  return {
    workers: count,
    layout: layout.map(({ name, shape }) => ({ name, shape })),
    get steps() {
      return steps;
    },
    async step(batch) {
      const shards = splitBatch('DataParallelTrainer.step', batch, count);
      const rows = shards.rows;
      const replies = await pool.request('DataParallelTrainer.step', ranks, (rank) => {
        const shard = shards.shards[rank]!;
        return {
          value: { type: 'step', id: nextId++, shard, weight: shards.sizes[rank]! / rows },
          transfer: Object.values(shard).map((t) => t.values.buffer as ArrayBuffer),
        };
      });
      let loss = 0;
      for (const rank of ranks) {
        const reply = replies.get(rank) as Extract<FromWorker, { type: 'stepped' }>;
        loss += (shards.sizes[rank]! / rows) * reply.loss;
      }
      steps += 1;
      return loss;
    },
    params: readParams,
    async checkpoint() {
      // Both requests are queued at once: a close() called right after lets
      // the whole checkpoint finish, and no tensor is left if either fails.
      const reading = readParams(0);
      const saving = pool.request('DataParallelTrainer.checkpoint', [0], () => ({
        value: { type: 'checkpoint', id: nextId++ },
      }));
      const [params, replies] = await Promise.allSettled([reading, saving]);
      if (params.status === 'rejected') throw params.reason;
      try {
        if (replies.status === 'rejected') throw replies.reason;
        const { tensors, skeleton } = (
          replies.value.get(0) as Extract<FromWorker, { type: 'checkpoint' }>
        ).optimizer;
        const held = fromHostMap(tensors);
        try {
          return {
            params: params.value,
            optimizerState: restoreOptimizerState({ tensors: held, skeleton }),
            step: steps,
          };
        } finally {
          dispose(Object.values(held));
        }
      } catch (e) {
        dispose(Object.values(params.value));
        throw e;
      }
    },
    async restore(checkpoint) {
      const fn = 'DataParallelTrainer.restore';
      if (checkpoint === null || typeof checkpoint !== 'object') {
        throw new TfjsBlocksError(
          fn,
          'checkpoint',
          '{ params, optimizerState?, step? }',
          describeValue(checkpoint),
        );
      }
      const step =
        checkpoint.step === undefined
          ? undefined
          : checkInteger(fn, 'checkpoint.step', checkpoint.step, 0);
      const params = paramsToHost(fn, checkpoint.params, shapes);
      let optimizer: HostOptimizerState | undefined;
      if (checkpoint.optimizerState !== undefined) {
        const saved = saveOptimizerState(checkpoint.optimizerState);
        optimizer = {
          tensors: toHostMap(saved.tensors),
          skeleton: saved.skeleton,
          iterations: step ?? steps,
        };
      }
      await pool.request('DataParallelTrainer.restore', ranks, () => ({
        value: { type: 'restore', id: nextId++, params, ...(optimizer ? { optimizer } : {}) },
      }));
      if (step !== undefined) steps = step;
    },
    close: () => pool.close(),
  };
}

/**
 * `params` (nested records or dotted paths) as host arrays by dotted path,
 * checked by the shared shape check to hold exactly the task's parameters,
 * each a live float32 tensor of its shape.
 */
function paramsToHost(
  fn: string,
  params: unknown,
  shapes: Record<string, readonly number[]>,
): Record<string, HostTensor> {
  if (params === null || typeof params !== 'object') {
    throw new TfjsBlocksError(
      fn,
      'checkpoint.params',
      'a record of tensors, nested or by dotted path',
      describeValue(params),
    );
  }
  const flat = flattenParams(params);
  checkShapes(fn, 'checkpoint.params', flat, shapes, "the task's parameters");
  const host = emptyRecord<HostTensor>();
  for (const name of Object.keys(shapes)) host[name] = toHost(ownEntry(flat, name)!);
  return host;
}

/**
 * The batch's tensors as host arrays cut along axis 0 into `parts`
 * contiguous shards, checked to share a leading dimension of at least `parts`.
 */
function splitBatch(
  fn: string,
  batch: Record<string, Tensor>,
  parts: number,
): { rows: number; sizes: number[]; shards: Array<Record<string, HostTensor>> } {
  if (batch === null || typeof batch !== 'object' || Object.keys(batch).length === 0) {
    throw new TfjsBlocksError(fn, 'batch', 'a record of tensors by name', describeValue(batch));
  }
  for (const [name, t] of Object.entries(batch)) {
    if (typeof t?.dataSync !== 'function' || t.isDisposed) {
      throw new TfjsBlocksError(fn, `batch.${name}`, 'a live tensor', describeValue(t));
    }
    if (t.dtype !== 'float32' && t.dtype !== 'int32' && t.dtype !== 'bool') {
      throw new TfjsBlocksError(
        fn,
        `batch.${name}`,
        'a float32, int32 or bool tensor',
        `a ${t.dtype} tensor`,
      );
    }
    if (t.rank === 0) {
      throw new TfjsBlocksError(fn, `batch.${name}`, 'a tensor of rank 1 or more', 'a scalar');
    }
  }
  const rows = sharedLeadingDim(fn, 'batch', batch);
  if (rows < parts) {
    throw new TfjsBlocksError(
      fn,
      'batch',
      `at least one row per worker (${parts})`,
      `${rows} rows`,
    );
  }
  const sizes: number[] = [];
  const shards: Array<Record<string, HostTensor>> = Array.from({ length: parts }, () => ({}));
  for (let rank = 0; rank < parts; rank++) {
    const [start, end] = shareOf(rows, parts, rank);
    sizes.push(end - start);
  }
  for (const [name, t] of Object.entries(batch)) {
    const rowSize = t.size / rows;
    const values = t.dataSync() as Float32Array | Int32Array | Uint8Array;
    for (let rank = 0; rank < parts; rank++) {
      const [start, end] = shareOf(rows, parts, rank);
      shards[rank]![name] = {
        values: values.slice(start * rowSize, end * rowSize),
        shape: [end - start, ...t.shape.slice(1)],
        dtype: t.dtype as HostTensor['dtype'],
      };
    }
  }
  return { rows: rows, sizes, shards };
}

/**
 * `value` (default `fallback`) checked as a timeout option: milliseconds in
 * `(0, 2^31 - 1]`, or `Infinity` where `unbounded` allows it.
 */
function checkTimeout(
  fn: string,
  key: string,
  value: unknown,
  fallback: number,
  unbounded: boolean,
): number {
  const ms = value ?? fallback;
  if (unbounded && ms === Infinity) return ms;
  if (typeof ms !== 'number' || !(ms > 0 && ms <= MAX_TIMER_MS)) {
    throw new TfjsBlocksError(
      fn,
      `options.${key}`,
      `a number of milliseconds in (0, ${MAX_TIMER_MS}]${unbounded ? ' or Infinity' : ''}`,
      describeValue(ms),
    );
  }
  return ms;
}
