/**
 * Both cores for large quantized products: worker threads that run the
 * int8/int4 SIMD kernels (`src/nn/quantized-simd.ts`) on a shared
 * `WebAssembly.Memory`, so a big matrix-vector product (a GPT-2 MLP matrix,
 * the tied output head) is split over the threads by columns or rows while
 * the calling thread does its own share and then waits with `Atomics.wait`.
 *
 * Node only (worker threads; `Atomics.wait` blocks the main thread, which
 * Node allows and browsers do not), and opt-in: until
 * {@link enableQuantizedThreads} runs, and after
 * {@link disableQuantizedThreads}, every product runs on one thread.
 *
 * Protocol (an `Int32Array` over a `SharedArrayBuffer`): the caller writes
 * each worker's kernel calls into its slot, sets `PENDING` to the number of
 * workers, bumps `SEQUENCE` and notifies; each worker wakes on `SEQUENCE`,
 * runs its calls, decrements `PENDING` and notifies the caller when it
 * reaches 0. A kernel that throws sets `FAILED`, which the caller raises.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { TfjsBlocksError } from '../errors';
import { checkInteger, checkOptionKeys, describeValue, optionKeys } from '../internal/checks';
import {
  type KernelCall,
  QUANTIZED_SIMD_KERNELS,
  QUANTIZED_SIMD_MAX_PAGES,
  type QuantizedSimdThreads,
  setQuantizedSimdThreads,
} from '../nn/quantized-simd';
import { quantizedSimdSharedWasm } from '../nn/quantized-simd-module';

/** Options of {@link enableQuantizedThreads}. */
export type QuantizedThreadsOptions = {
  /** Threads in all, the calling one included (default: `os.availableParallelism()`); 1 turns the split off. */
  threads?: number;
  /**
   * Products whose packed codes take fewer bytes run on the calling thread
   * alone (default 4 MiB: GPT-2 small's tied head, 39 MB in int8, is split;
   * its `[768, 3072]` MLP matrices, 2.4 MB, whose product takes well under a
   * millisecond, were not faster on two threads of a loaded 2-core machine).
   */
  minBytes?: number;
};

const OPTION_KEYS = optionKeys<QuantizedThreadsOptions>({ threads: true, minBytes: true });

/** Default {@link QuantizedThreadsOptions.minBytes}. */
const DEFAULT_MIN_BYTES = 4 << 20;

// Control words, then one slot per worker: [count, then count calls of CALL_WORDS words].
const SEQUENCE = 0;
const PENDING = 1;
const STOP = 2;
const FAILED = 3;
const HEADER = 4;
/** A call: the kernel's index and up to 8 arguments. */
const CALL_WORDS = 9;
/** Calls per worker and product (4 input rows × 64 column tiles). */
const MAX_CALLS = 256;
const SLOT = 1 + MAX_CALLS * CALL_WORDS;

/** A worker's loop: instantiate the kernels on the shared memory, then serve until STOP (indented: no top-level call in this file's text). */
const WORKER = `
  const { parentPort, workerData } = require('node:worker_threads');
  const { memory, bytes, control, index } = workerData;
  const e = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } }).exports;
  const kernels = ${JSON.stringify(QUANTIZED_SIMD_KERNELS)}.map((name) => e[name]);
  const c = new Int32Array(control);
  const at = ${HEADER} + index * ${SLOT};
  let seen = Atomics.load(c, ${SEQUENCE});
  parentPort.postMessage('ready');
  for (;;) {
    Atomics.wait(c, ${SEQUENCE}, seen);
    if (Atomics.load(c, ${STOP}) !== 0) break;
    const now = Atomics.load(c, ${SEQUENCE});
    if (now === seen) continue;
    seen = now;
    try {
      for (let i = 0, o = at + 1; i < c[at]; i++, o += ${CALL_WORDS}) {
        kernels[c[o]](c[o + 1], c[o + 2], c[o + 3], c[o + 4], c[o + 5], c[o + 6], c[o + 7], c[o + 8]);
      }
    } catch (err) {
      Atomics.store(c, ${FAILED}, 1);
    }
    if (Atomics.sub(c, ${PENDING}, 1) === 1) Atomics.notify(c, ${PENDING});
  }
`;

/** The running pool, if any. */
let pool: { workers: Worker[]; control: Int32Array } | undefined;

/**
 * Starts worker threads that share the quantized SIMD kernels' memory, so
 * that large int8/int4 products (`quantizedMatMul`, and the tied head's
 * `quantizedMatMulTransposed`, for up to 4 input rows on the cpu and wasm
 * backends) are split over `threads` threads: by columns for `x · W`, by
 * rows of the table for `x · Wᵀ`. Each output's sum is taken in the same
 * order as on one thread, so the values are identical. The workers are
 * `unref`'d (they do not keep the process alive); a second call replaces the
 * pool. Every QuantizedTensor is packed again (into the shared memory) on
 * its next product.
 *
 * @param options - `threads` (default `os.availableParallelism()`),
 *   `minBytes` (default 4 MiB of packed codes).
 * @returns The threads in use: 1 when `threads` is 1 or where shared
 *   WebAssembly memory is unavailable (then nothing changes).
 * @example
 * ```ts
 * const threads = await enableQuantizedThreads({ threads: 2 }); // 2, or 1 without shared memory
 * console.log(`quantized products on ${threads} thread(s)`);
 * // ... decode with int8 / int4 weights ...
 * await disableQuantizedThreads();
 * ```
 */
export function enableQuantizedThreads(options?: QuantizedThreadsOptions): Promise<number> {
  return serialised(() => enable(options));
}

/** {@link enableQuantizedThreads}, once no other enable or disable is under way. */
async function enable(options: QuantizedThreadsOptions | undefined): Promise<number> {
  const fn = 'enableQuantizedThreads';
  if (options !== undefined && (options === null || typeof options !== 'object')) {
    throw new TfjsBlocksError(fn, 'options', 'an options object', describeValue(options));
  }
  checkOptionKeys(fn, options, OPTION_KEYS);
  const threads = checkInteger(
    fn,
    'options.threads',
    options?.threads ?? availableParallelism(),
    1,
  );
  const minBytes = checkInteger(fn, 'options.minBytes', options?.minBytes ?? DEFAULT_MIN_BYTES, 0);
  await disable();
  if (threads === 1) return 1;
  let memory: WebAssembly.Memory;
  try {
    memory = new WebAssembly.Memory({
      initial: 1,
      maximum: QUANTIZED_SIMD_MAX_PAGES,
      shared: true,
    });
  } catch {
    return 1;
  }
  const workers = threads - 1;
  const control = new Int32Array(new SharedArrayBuffer(4 * (HEADER + workers * SLOT)));
  const bytes = Buffer.from(quantizedSimdSharedWasm, 'base64');
  const started: Worker[] = [];
  try {
    for (let index = 0; index < workers; index++) {
      const worker = new Worker(WORKER, {
        eval: true,
        workerData: { memory, bytes, control: control.buffer, index },
      });
      started.push(worker);
      await new Promise<void>((resolve, reject) => {
        worker.once('message', () => resolve());
        worker.once('error', reject);
        worker.once('exit', (code) => reject(new Error(`exited with code ${code} at start`)));
      });
      worker.unref();
    }
  } catch (e) {
    await stopWorkers(control, started);
    throw new TfjsBlocksError(
      fn,
      'options.threads',
      'worker threads that start',
      `a quantized-kernel worker failed to start: ${(e as Error).message}`,
    );
  }
  // Installed only now: a product started while the workers were loading would wait for them forever.
  const installed: QuantizedSimdThreads = {
    memory,
    workers,
    minBytes,
    maxCalls: MAX_CALLS,
    start: (calls) => start(control, calls),
    wait: () => wait(control),
  };
  if (!setQuantizedSimdThreads(installed)) {
    await stopWorkers(control, started);
    return 1;
  }
  pool = { workers: started, control };
  return threads;
}

/**
 * Stops the threads {@link enableQuantizedThreads} started (no-op when none
 * run): products run on one thread again, in the kernels' own memory.
 *
 * @example
 * ```ts
 * await enableQuantizedThreads({ threads: 2 });
 * await disableQuantizedThreads();
 * ```
 */
export function disableQuantizedThreads(): Promise<void> {
  return serialised(disable);
}

/** The last enable or disable, which the next one waits for (two calls never start two pools). */
let queue: Promise<unknown> = Promise.resolve();

/** Runs `task` after every enable or disable called before it. */
function serialised<T>(task: () => Promise<T>): Promise<T> {
  const run = queue.then(task, task);
  queue = run.catch(() => undefined);
  return run;
}

/** {@link disableQuantizedThreads}, in turn. */
async function disable(): Promise<void> {
  if (pool === undefined) return;
  const { workers, control } = pool;
  pool = undefined;
  setQuantizedSimdThreads(null);
  await stopWorkers(control, workers);
}

/** Sets STOP, wakes the workers and waits until each has exited. */
async function stopWorkers(control: Int32Array, workers: Worker[]): Promise<void> {
  Atomics.store(control, STOP, 1);
  Atomics.notify(control, SEQUENCE);
  await Promise.all(workers.map((w) => w.terminate()));
}

/** Writes each worker's calls into its slot and wakes them all. */
function start(control: Int32Array, calls: KernelCall[][]): void {
  Atomics.store(control, FAILED, 0);
  for (let w = 0; w < calls.length; w++) {
    const mine = calls[w]!;
    const at = HEADER + w * SLOT;
    control[at] = mine.length;
    for (let i = 0, o = at + 1; i < mine.length; i++, o += CALL_WORDS) {
      const call = mine[i]!;
      for (let k = 0; k < CALL_WORDS; k++) control[o + k] = call[k] ?? 0;
    }
  }
  Atomics.store(control, PENDING, calls.length);
  Atomics.add(control, SEQUENCE, 1);
  Atomics.notify(control, SEQUENCE);
}

/** Blocks until PENDING is 0; throws if a worker's kernel failed. */
function wait(control: Int32Array): void {
  for (;;) {
    const pending = Atomics.load(control, PENDING);
    if (pending === 0) break;
    Atomics.wait(control, PENDING, pending);
  }
  if (Atomics.load(control, FAILED) !== 0) {
    throw new Error('a quantized-kernel worker thread failed (out-of-range memory access)');
  }
}
