/**
 * The worker threads of a data-parallel run and the conversation with them,
 * knowing nothing of steps, params or checkpoints (the trainer, ./trainer.ts,
 * builds those requests):
 *
 * - spawn: one thread per rank, each loading the task module, which replies
 *   `ready` with its parameter layout; the layouts must agree, and the pool
 *   shares gradient buffers sized for it (./memory.ts);
 * - messages: one request at a time to some or all workers, replies
 *   collected by rank, requests made without awaiting queued in order;
 * - failure: a crashed or exited worker, a failed start or a reply that
 *   does not come within its deadline stops the pool: every thread is
 *   terminated and the request in progress, and every later one, rejects;
 * - close: lets the request in progress finish and the workers exit, then
 *   terminates whatever is left.
 */
import { Worker } from 'node:worker_threads';
import type { BackendName } from '../../backends';
import { TfjsBlocksError } from '../../errors';
import { truncateForMessage } from '../../internal/checks';
import { allocateSharedBuffers, CONTROL } from './memory';
import {
  deserialiseError,
  type FromWorker,
  type ParamLayout,
  TASK_MARKER,
  type ToWorker,
  type WorkerStart,
} from './protocol';

/** What a {@link WorkerPool} runs, and how long it waits (all checked by the caller). */
export type WorkerPoolOptions = {
  /** The public function starting the pool, named by start-up errors. */
  fn: string;
  /** The task module's file URL. */
  task: URL;
  /** How many workers. */
  workers: number;
  /** Backend of every worker. */
  backend: BackendName;
  /** Passed to the task's factory as `context.options`. */
  taskOptions: unknown;
  /** Node flags of the worker threads; default: the main process's. */
  execArgv?: string[];
  /** Default deadline of a request, in ms (`Infinity`: none). */
  stepTimeoutMs: number;
  /** Deadline of the whole start-up, in ms (`Infinity`: none). */
  startTimeoutMs: number;
  /** How long `close()` waits before terminating, in ms. */
  closeTimeoutMs: number;
};

/** How long a request may wait, and what its timeout error says was expected. */
export type Deadline = { ms: number; expected: string };

/** A message for one worker, with the buffers it transfers. */
export type Outgoing = { value: ToWorker; transfer?: ArrayBuffer[] };

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

/**
 * Starts `options.workers` threads on the task module and waits, within
 * `startTimeoutMs`, until each has built its replica, reported the same
 * parameter layout and received the shared gradient buffers. On any failure
 * every thread is terminated before the promise rejects.
 */
export async function startWorkerPool(
  options: WorkerPoolOptions,
): Promise<{ pool: WorkerPool; layout: ParamLayout[] }> {
  const pool = new WorkerPool(options);
  const layout = await pool.handshake();
  return { pool, layout };
}

/** The running workers of one data-parallel run (see {@link startWorkerPool}). */
export class WorkerPool {
  /** The ranks of every worker, `[0, workers)`. */
  readonly ranks: number[];
  private readonly options: WorkerPoolOptions;
  private readonly workers: Worker[] = [];
  /** One promise per worker, settled when its thread has exited. */
  private readonly exits: Array<Promise<void>> = [];
  private readonly exited = new Set<number>();
  private readonly stepDeadline: Deadline;
  private readonly startDeadline: number;
  private readonly startExpected: string;
  private pending: Pending | undefined;
  /** Why the run stopped (a worker died, failed to start or timed out); every call rejects after. */
  private failure: Error | undefined;
  private closing = false;
  private closed: Promise<void> | undefined;
  private terminated: Promise<void> | undefined;
  private control: Int32Array | undefined;
  /** The last exchange: calls made without awaiting the one before run in order. */
  private previous: Promise<void> = Promise.resolve();

  /** A pool with no worker yet: {@link handshake} starts them. */
  constructor(options: WorkerPoolOptions) {
    this.options = options;
    const { workers: count, startTimeoutMs, stepTimeoutMs } = options;
    this.ranks = Array.from({ length: count }, (_, r) => r);
    this.stepDeadline = {
      ms: stepTimeoutMs,
      expected: `to reply within options.stepTimeoutMs (${stepTimeoutMs} ms)`,
    };
    this.startDeadline = Date.now() + startTimeoutMs;
    this.startExpected = `to be ready within options.startTimeoutMs (${startTimeoutMs} ms): a task module that calls dataParallelTask(...)`;
  }

  /** How many workers. */
  get size(): number {
    return this.ranks.length;
  }

  /**
   * Posts one message per worker in `from` (none where `message` returns
   * `undefined`) once the request before has settled, and waits, at most
   * `deadline` (default `stepTimeoutMs`), for each one's reply. Rejects with
   * the first failed reply's error, in rank order, once every reply is in.
   */
  async request(
    caller: string,
    from: number[],
    message: (rank: number) => Outgoing | undefined,
    deadline: Deadline = this.stepDeadline,
  ): Promise<Map<number, FromWorker>> {
    const replies = await this.exchange(caller, from, message, deadline);
    for (const rank of from) {
      const reply = replies.get(rank)!;
      if (reply.type === 'failed') throw deserialiseError(reply.error, rank);
    }
    return replies;
  }

  /**
   * Stops the workers: the request in progress gets `closeTimeoutMs` to
   * finish (then it rejects naming the stuck worker), the workers are told to
   * exit, and those still running when the time is up are terminated.
   * Resolves once every thread has exited; idempotent.
   */
  close(): Promise<void> {
    this.closed ??= this.shutDown();
    return this.closed;
  }

  /**
   * Spawns the workers, waits for every one's `ready`, checks their layouts
   * agree, and shares the gradient buffers, within `startTimeoutMs`;
   * terminates every worker and rethrows on failure.
   */
  async handshake(): Promise<ParamLayout[]> {
    const { fn, workers: count, startTimeoutMs } = this.options;
    try {
      const ready = new Promise<Map<number, FromWorker>>((resolve, reject) => {
        this.pending = { fn, replies: new Map(), resolve, reject, from: this.ranks };
        this.arm(this.pending, { ms: startTimeoutMs, expected: this.startExpected });
      });
      for (const rank of this.ranks) this.spawn(rank);
      const replies = await ready;
      const layout = (replies.get(0) as Extract<FromWorker, { type: 'ready' }>).layout;
      const signature = JSON.stringify(layout);
      for (const rank of this.ranks) {
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
      this.control = new Int32Array(buffers.control);
      await this.exchange(fn, this.ranks, () => ({ value: { type: 'buffers', buffers } }), {
        ms: startTimeoutMs === Infinity ? Infinity : Math.max(1, this.startDeadline - Date.now()),
        expected: this.startExpected,
      });
      return layout;
    } catch (e) {
      // No request is left waiting: the exits of the terminated workers are expected.
      this.closing = true;
      if (this.pending) clearTimeout(this.pending.timer);
      this.pending = undefined;
      await this.terminateAll();
      throw e;
    }
  }

  /** Starts worker `rank` on the bootstrap script and listens to it. */
  private spawn(rank: number): void {
    const { task, workers, backend, taskOptions, execArgv } = this.options;
    const start: WorkerStart = {
      [TASK_MARKER]: true,
      rank,
      workers,
      backend,
      options: taskOptions,
    };
    let worker: Worker;
    try {
      worker = new Worker(BOOTSTRAP, {
        eval: true,
        workerData: { ...start, task: task.href, typescript: /\.[cm]?ts$/.test(task.pathname) },
        ...(execArgv ? { execArgv } : {}),
      });
    } catch (e) {
      throw spawnError(this.options.fn, e);
    }
    worker.on('message', (m: FromWorker) => this.onMessage(rank, m));
    worker.on('error', (e) =>
      this.fail(new Error(`data-parallel worker ${rank} crashed: ${e.message}`)),
    );
    this.exits.push(
      new Promise<void>((resolve) => {
        worker.once('exit', (code) => {
          this.exited.add(rank);
          resolve();
          // Exits are expected once close() has told the workers to stop.
          if (this.closing && !this.pending) return;
          this.fail(
            new TfjsBlocksError(
              this.pending?.fn ?? 'DataParallelTrainer',
              'task',
              'a module that calls dataParallelTask(...) and keeps serving',
              `worker ${rank} exited with code ${code}`,
            ),
          );
        });
      }),
    );
    this.workers.push(worker);
  }

  private onMessage(rank: number, message: FromWorker): void {
    if (message.type === 'failed' && message.id === -1) {
      this.fail(deserialiseError(message.error, rank));
      return;
    }
    const pending = this.pending;
    if (!pending) return;
    pending.replies.set(rank, message);
    if (pending.replies.size === pending.from.length) {
      this.pending = undefined;
      clearTimeout(pending.timer);
      pending.resolve(pending.replies);
    }
  }

  /** Posts one message per worker in `from` and waits, at most `deadline`, for each one's reply. */
  private exchange(
    caller: string,
    from: number[],
    message: (rank: number) => Outgoing | undefined,
    deadline: Deadline,
  ): Promise<Map<number, FromWorker>> {
    if (this.failure || this.closing) return Promise.reject(this.notRunning());
    const chained = this.previous.then(
      () =>
        new Promise<Map<number, FromWorker>>((resolve, reject) => {
          if (this.failure) return reject(this.notRunning());
          this.pending = { fn: caller, replies: new Map(), resolve, reject, from };
          this.arm(this.pending, deadline);
          for (const rank of from) {
            const m = message(rank);
            if (m) this.workers[rank]!.postMessage(m.value, m.transfer ?? []);
          }
        }),
    );
    this.previous = chained.then(
      () => undefined,
      () => undefined,
    );
    return chained;
  }

  /** Starts `p`'s clock: when `deadline` passes before every reply, the run fails. */
  private arm(p: Pending, deadline: Deadline): void {
    if (deadline.ms === Infinity) return;
    const ms = Math.max(1, Math.round(deadline.ms));
    p.timer = setTimeout(() => {
      if (this.pending !== p) return;
      this.fail(
        this.noReply(
          p,
          deadline.expected,
          `no reply after ${ms} ms; every worker was terminated and the trainer can no longer be used`,
        ),
      );
    }, ms);
  }

  /**
   * Ends the run: workers waiting at a barrier are released, every worker is
   * terminated, and then the pending request rejects with `error`; later
   * requests reject too. Terminating also ends a worker blocked in an
   * endless loop or in `Atomics.wait`.
   */
  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    if (this.control) Atomics.store(this.control, CONTROL.aborted, 1);
    const stuck = this.pending;
    this.pending = undefined;
    if (stuck) clearTimeout(stuck.timer);
    void this.terminateAll().then(() => stuck?.reject(error));
  }

  /**
   * The error for `p`'s workers that have not replied. Those waiting at a
   * barrier wait for a peer: the others are named, the stuck ones.
   */
  private noReply(p: Pending, expected: string, actual: string): TfjsBlocksError {
    const missing = p.from.filter((rank) => !p.replies.has(rank));
    const shared = this.control;
    const busy = shared
      ? missing.filter((rank) => Atomics.load(shared, CONTROL.waiting + rank) === 0)
      : missing;
    const named = busy.length > 0 ? busy : missing;
    const argument = `${named.length === 1 ? 'worker' : 'workers'} ${named.join(', ')}`;
    return new TfjsBlocksError(p.fn, argument, expected, actual);
  }

  /** What a request gets once the run has stopped or been closed. */
  private notRunning(): TfjsBlocksError {
    return this.failure
      ? new TfjsBlocksError(
          'DataParallelTrainer',
          'trainer',
          'a running trainer',
          `one stopped by an earlier failure (${truncateForMessage(this.failure.message, 300)})`,
        )
      : new TfjsBlocksError('DataParallelTrainer', 'trainer', 'a running trainer', 'a closed one');
  }

  /** Terminates every worker (once); resolves when every thread has exited. */
  private terminateAll(): Promise<void> {
    this.terminated ??= Promise.allSettled(this.workers.map((w) => w.terminate())).then(
      () => undefined,
    );
    return this.terminated;
  }

  /**
   * `close()`: lets the request in progress finish and the workers exit,
   * within `closeTimeoutMs`, then terminates whatever is left; resolves when
   * every thread has exited.
   */
  private async shutDown(): Promise<void> {
    const { closeTimeoutMs } = this.options;
    this.closing = true;
    const deadline = Date.now() + closeTimeoutMs;
    if (!(await settlesWithin(this.previous, closeTimeoutMs)) && !this.failure) {
      const stuck = this.pending;
      this.fail(
        stuck
          ? this.noReply(
              stuck,
              `to reply before close() stopped the workers (options.closeTimeoutMs = ${closeTimeoutMs} ms)`,
              'no reply; every worker was terminated',
            )
          : this.notRunning(),
      );
    }
    if (!this.failure) {
      for (const [rank, w] of this.workers.entries()) {
        if (!this.exited.has(rank)) w.postMessage({ type: 'close' } satisfies ToWorker);
      }
      await settlesWithin(Promise.all(this.exits), Math.max(0, deadline - Date.now()));
    }
    // Workers that did not exit by themselves (a task that keeps its thread busy) are stopped.
    await this.terminateAll();
  }
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
 * What a worker that Node refuses to start reports: options Node rejects
 * (`taskOptions` it cannot clone, flags it does not accept) as a
 * `TfjsBlocksError` naming the option; anything else as it is.
 */
function spawnError(fn: string, e: unknown): unknown {
  if (!(e instanceof Error)) return e;
  const code = (e as { code?: unknown }).code;
  if (e.name === 'DataCloneError') {
    return new TfjsBlocksError(
      fn,
      'options.taskOptions',
      'a structured-cloneable value (no functions, classes or symbols)',
      truncateForMessage(e.message),
    );
  }
  if (code === 'ERR_WORKER_INVALID_EXEC_ARGV') {
    return new TfjsBlocksError(
      fn,
      'options.execArgv',
      'Node flags that worker threads accept',
      truncateForMessage(e.message),
    );
  }
  return e;
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
