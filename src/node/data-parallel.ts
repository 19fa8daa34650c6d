import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { dispose, type Tensor } from '@tensorflow/tfjs-core';
import type { BackendName } from '../backends';
import { TfjsBlocksError } from '../errors';
import {
  checkInteger,
  checkOptionKeys,
  describeValue,
  optionKeys,
  sharedLeadingDim,
  truncateForMessage,
} from '../internal/checks';
import { emptyRecord, ownEntry } from '../internal/records';
import { restoreOptimizerState, saveOptimizerState } from '../optim/state-io';
import { flattenParams } from '../tree/flatten';
import { allocateSharedBuffers, CONTROL, shareOf } from './data-parallel-memory';
import {
  deserialiseError,
  type FromWorker,
  fromHostMap,
  type HostOptimizerState,
  type HostTensor,
  type ParamLayout,
  TASK_MARKER,
  type ToWorker,
  toHost,
  toHostMap,
  type WorkerStart,
} from './data-parallel-protocol';

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

type Pending = {
  /** The public function waiting, for messages. */
  fn: string;
  replies: Map<number, FromWorker>;
  resolve: (replies: Map<number, FromWorker>) => void;
  reject: (e: Error) => void;
  /** Workers whose reply this waits for. */
  from: number[];
  /** Fails the run when the workers do not all reply in time. */
  timer?: ReturnType<typeof setTimeout>;
};

/** How long a request may wait, and what its timeout error says was expected. */
type Deadline = { ms: number; expected: string };

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
  const url = task instanceof URL ? task : pathToFileURL(resolve(task));
  const workers: Worker[] = [];
  /** One promise per worker, settled when its thread has exited. */
  const exits: Array<Promise<void>> = [];
  let pending: Pending | undefined;
  /** Why the run stopped (a worker died, failed to start or timed out); every call rejects after. */
  let failure: Error | undefined;
  let closing = false;
  let closed: Promise<void> | undefined;
  let terminated: Promise<void> | undefined;
  let control: Int32Array | undefined;
  let nextId = 1;
  let steps = 0;
  /** The last exchange: calls made without awaiting the one before run in order. */
  let previous: Promise<void> = Promise.resolve();
  const exited = new Set<number>();
  const ranks = Array.from({ length: count }, (_, r) => r);
  const stepDeadline: Deadline = {
    ms: stepTimeoutMs,
    expected: `to reply within options.stepTimeoutMs (${stepTimeoutMs} ms)`,
  };

  /** Terminates every worker (once); resolves when every thread has exited. */
  const terminateAll = (): Promise<void> => {
    terminated ??= Promise.allSettled(workers.map((w) => w.terminate())).then(() => undefined);
    return terminated;
  };
  /**
   * Ends the run: workers waiting at a barrier are released, every worker is
   * terminated, and then the pending call rejects with `error`; later calls
   * reject too. Terminating also ends a worker blocked in an endless loop or
   * in `Atomics.wait`.
   */
  const fail = (error: Error) => {
    if (failure) return;
    failure = error;
    if (control) Atomics.store(control, CONTROL.aborted, 1);
    const stuck = pending;
    pending = undefined;
    if (stuck) clearTimeout(stuck.timer);
    void terminateAll().then(() => stuck?.reject(error));
  };
  /**
   * The error for `p`'s workers that have not replied. Those waiting at a
   * barrier wait for a peer: the others are named, the stuck ones.
   */
  const noReply = (p: Pending, expected: string, actual: string) => {
    const missing = p.from.filter((rank) => !p.replies.has(rank));
    const shared = control;
    const busy = shared
      ? missing.filter((rank) => Atomics.load(shared, CONTROL.waiting + rank) === 0)
      : missing;
    const named = busy.length > 0 ? busy : missing;
    const argument = `${named.length === 1 ? 'worker' : 'workers'} ${named.join(', ')}`;
    return new TfjsBlocksError(p.fn, argument, expected, actual);
  };
  /** Starts `p`'s clock: when `deadline` passes before every reply, the run fails. */
  const arm = (p: Pending, deadline: Deadline) => {
    if (deadline.ms === Infinity) return;
    const ms = Math.max(1, Math.round(deadline.ms));
    p.timer = setTimeout(() => {
      if (pending !== p) return;
      fail(
        noReply(
          p,
          deadline.expected,
          `no reply after ${ms} ms; every worker was terminated and the trainer can no longer be used`,
        ),
      );
    }, ms);
  };
  /** What a call gets once the run has stopped or been closed. */
  const notRunning = () =>
    failure
      ? new TfjsBlocksError(
          'DataParallelTrainer',
          'trainer',
          'a running trainer',
          `one stopped by an earlier failure (${truncateForMessage(failure.message, 300)})`,
        )
      : new TfjsBlocksError('DataParallelTrainer', 'trainer', 'a running trainer', 'a closed one');
  const onMessage = (rank: number, message: FromWorker) => {
    if (message.type === 'failed' && message.id === -1) {
      fail(deserialiseError(message.error, rank));
      return;
    }
    if (!pending) return;
    pending.replies.set(rank, message);
    if (pending.replies.size === pending.from.length) {
      const done = pending;
      pending = undefined;
      clearTimeout(done.timer);
      done.resolve(done.replies);
    }
  };
  /** Posts one message per worker in `from` and waits, at most `deadline`, for each one's reply. */
  const exchange = (
    caller: string,
    from: number[],
    message: (rank: number) => { value: ToWorker; transfer?: ArrayBuffer[] } | undefined,
    deadline: Deadline = stepDeadline,
  ): Promise<Map<number, FromWorker>> => {
    if (failure || closing) return Promise.reject(notRunning());
    const chained = previous.then(
      () =>
        new Promise<Map<number, FromWorker>>((resolve, reject) => {
          if (failure) return reject(notRunning());
          pending = { fn: caller, replies: new Map(), resolve, reject, from };
          arm(pending, deadline);
          for (const rank of from) {
            const m = message(rank);
            if (m) workers[rank]!.postMessage(m.value, m.transfer ?? []);
          }
        }),
    );
    previous = chained.then(
      () => undefined,
      () => undefined,
    );
    return chained;
  };
  /**
   * `close()`: lets the call in progress finish and the workers exit, within
   * `closeTimeoutMs`, then terminates whatever is left; resolves when every
   * thread has exited.
   */
  const shutDown = async () => {
    closing = true;
    const deadline = Date.now() + closeTimeoutMs;
    if (!(await settlesWithin(previous, closeTimeoutMs)) && !failure) {
      const stuck = pending;
      fail(
        stuck
          ? noReply(
              stuck,
              `to reply before close() stopped the workers (options.closeTimeoutMs = ${closeTimeoutMs} ms)`,
              'no reply; every worker was terminated',
            )
          : notRunning(),
      );
    }
    if (!failure) {
      for (const [rank, w] of workers.entries()) {
        if (!exited.has(rank)) w.postMessage({ type: 'close' } satisfies ToWorker);
      }
      await settlesWithin(Promise.all(exits), Math.max(0, deadline - Date.now()));
    }
    // Workers that did not exit by themselves (a task that keeps its thread busy) are stopped.
    await terminateAll();
  };

  const startDeadline = Date.now() + startTimeoutMs;
  const startExpected = `to be ready within options.startTimeoutMs (${startTimeoutMs} ms): a task module that calls dataParallelTask(...)`;
  const ready = new Promise<Map<number, FromWorker>>((resolve, reject) => {
    pending = { fn, replies: new Map(), resolve, reject, from: ranks };
    arm(pending, { ms: startTimeoutMs, expected: startExpected });
  });
  for (const rank of ranks) {
    const start: WorkerStart = {
      [TASK_MARKER]: true,
      rank,
      workers: count,
      backend: options.backend ?? 'wasm',
      options: options.taskOptions,
    };
    const worker = new Worker(BOOTSTRAP, {
      eval: true,
      workerData: { ...start, task: url.href, typescript: /\.[cm]?ts$/.test(url.pathname) },
      ...(options.execArgv ? { execArgv: options.execArgv } : {}),
    });
    worker.on('message', (m: FromWorker) => onMessage(rank, m));
    worker.on('error', (e) =>
      fail(new Error(`data-parallel worker ${rank} crashed: ${e.message}`)),
    );
    exits.push(
      new Promise<void>((resolve) => {
        worker.once('exit', (code) => {
          exited.add(rank);
          resolve();
          // Exits are expected once close() has told the workers to stop.
          if (closing && !pending) return;
          fail(
            new TfjsBlocksError(
              pending?.fn ?? 'DataParallelTrainer',
              'task',
              'a module that calls dataParallelTask(...) and keeps serving',
              `worker ${rank} exited with code ${code}`,
            ),
          );
        });
      }),
    );
    workers.push(worker);
  }

  let layout: ParamLayout[];
  try {
    const replies = await ready;
    layout = (replies.get(0) as Extract<FromWorker, { type: 'ready' }>).layout;
    const signature = JSON.stringify(layout);
    for (const rank of ranks) {
      const other = (replies.get(rank) as Extract<FromWorker, { type: 'ready' }>).layout;
      if (JSON.stringify(other) !== signature) {
        throw new TfjsBlocksError(
          fn,
          'task',
          'a factory that builds the same parameter names and shapes in every worker',
          `worker ${rank} differs from worker 0`,
        );
      }
    }
    const total = layout.reduce((n, p) => n + p.size, 0);
    const buffers = allocateSharedBuffers(count, total);
    control = new Int32Array(buffers.control);
    await exchange(fn, ranks, () => ({ value: { type: 'buffers', buffers } }), {
      ms: startTimeoutMs === Infinity ? Infinity : Math.max(1, startDeadline - Date.now()),
      expected: startExpected,
    });
  } catch (e) {
    closing = true;
    if (pending) clearTimeout(pending.timer);
    await terminateAll();
    throw e;
  }

  const rejectFailures = (replies: Map<number, FromWorker>) => {
    for (const rank of ranks) {
      const reply = replies.get(rank)!;
      if (reply.type === 'failed') throw deserialiseError(reply.error, rank);
    }
  };

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
    const replies = await exchange('DataParallelTrainer.params', [rank], () => ({
      value: { type: 'params', id: nextId++ },
    }));
    const reply = replies.get(rank)!;
    if (reply.type === 'failed') throw deserialiseError(reply.error, rank);
    return fromHostMap((reply as Extract<FromWorker, { type: 'params' }>).values);
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
      const replies = await exchange('DataParallelTrainer.step', ranks, (rank) => {
        const shard = shards.shards[rank]!;
        return {
          value: { type: 'step', id: nextId++, shard, weight: shards.sizes[rank]! / rows },
          transfer: Object.values(shard).map((t) => t.values.buffer as ArrayBuffer),
        };
      });
      rejectFailures(replies);
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
      const saving = exchange('DataParallelTrainer.checkpoint', [0], () => ({
        value: { type: 'checkpoint', id: nextId++ },
      }));
      const [params, replies] = await Promise.allSettled([reading, saving]);
      if (params.status === 'rejected') throw params.reason;
      try {
        if (replies.status === 'rejected') throw replies.reason;
        const reply = replies.value.get(0)!;
        if (reply.type === 'failed') throw deserialiseError(reply.error, 0);
        const { tensors, skeleton } = (reply as Extract<FromWorker, { type: 'checkpoint' }>)
          .optimizer;
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
      const flat = flattenParams(checkpoint.params);
      const expected = new Set(layout.map((p) => p.name));
      const extra = Object.keys(flat).find((name) => !expected.has(name));
      if (extra !== undefined) {
        throw new TfjsBlocksError(
          fn,
          `checkpoint.params.${extra}`,
          'a parameter of the task',
          'an unknown name',
        );
      }
      const params = emptyRecord<HostTensor>();
      for (const { name, shape } of layout) {
        const t = ownEntry(flat, name);
        if (t?.dtype !== 'float32' || t.shape.join() !== shape.join()) {
          throw new TfjsBlocksError(
            fn,
            `checkpoint.params.${name}`,
            `a float32 tensor of shape [${shape.join(', ')}]`,
            t ? `a ${t.dtype} tensor of shape [${t.shape.join(', ')}]` : 'nothing',
          );
        }
        params[name] = toHost(t);
      }
      let optimizer: HostOptimizerState | undefined;
      if (checkpoint.optimizerState !== undefined) {
        const saved = saveOptimizerState(checkpoint.optimizerState);
        optimizer = {
          tensors: toHostMap(saved.tensors),
          skeleton: saved.skeleton,
          iterations: step ?? steps,
        };
      }
      const replies = await exchange('DataParallelTrainer.restore', ranks, () => ({
        value: { type: 'restore', id: nextId++, params, ...(optimizer ? { optimizer } : {}) },
      }));
      rejectFailures(replies);
      if (step !== undefined) steps = step;
    },
    close() {
      closed ??= shutDown();
      return closed;
    },
  };
}

/**
 * Each worker's entry: loads tsx's loader first for a task written in
 * TypeScript (Node 20 applies no loader hooks to a worker's own entry, not
 * even those of the main process's `--import`), then the task module, whose
 * `dataParallelTask` call serves. A failure to load is posted as a failed
 * start, so the main thread reports it rather than a bare exit.
 */
const BOOTSTRAP = `
const { parentPort, workerData } = require('node:worker_threads');
(async () => {
  if (workerData.typescript) {
    let api;
    try {
      api = await import('tsx/esm/api');
    } catch (e) {
      throw new Error('a task written in TypeScript needs tsx (npm install -D tsx), or compile it to JavaScript: ' + e.message);
    }
    api.register();
  }
  await import(workerData.task);
})().catch((e) => {
  parentPort.postMessage({ type: 'failed', id: -1, error: { name: e && e.name || 'Error', message: e && e.message || String(e), stack: e && e.stack } });
});
`;

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

/** Whether `promise` settles within `ms` (its rejection counts as settling). */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([
      promise.then(
        () => true,
        () => true,
      ),
      expired,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
