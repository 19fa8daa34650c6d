/**
 * The wasm backend on tfjs-backend-wasm's threaded SIMD build, in Node.
 *
 * Why this file exists: tfjs-backend-wasm ships a multi-threaded build
 * (XNNPACK over pthreadpool, Emscripten pthreads on worker threads) but never
 * uses it in Node: its `WASM_HAS_MULTITHREAD_SUPPORT` flag is false there
 * (tfjs issue #3830), and its `init()` hands Emscripten a `Blob` for the main
 * script and a `blob:` URL for the pthread worker, which `worker_threads`
 * cannot load. Here the threaded module is instantiated with real file paths
 * (the package's `.wasm` and threaded `.js`; the worker script, which the
 * package ships only as a string, written to a temporary file until every
 * worker has loaded it) and wrapped in the package's own `BackendWasm`, under
 * the name `wasm`: the wasm kernels, registered by backend name, serve it
 * unchanged, and so do tfjs-blocks' own wasm fast kernels.
 *
 * Two details of the 4.x build that the code below works around:
 * - backend.cc caps the pool at `emscripten_num_logical_cores() / 2` ("two
 *   hardware threads per core"), one thread on a 2-vCPU machine whatever
 *   `setThreadsCount` asks; the module's import of that function is replaced
 *   so that the cap is the thread count asked for.
 * - A pthread worker is `ref`'d while it runs a thread, and pthreadpool's
 *   threads run for the life of the module: the workers are `unref`'d once
 *   the pool has started, so they never keep the process alive; the build's
 *   other pre-started workers, idle for good, are terminated.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Worker, WorkerOptions } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { processListeners, removeListenersAddedSince } from '../backends';
import { TfjsBlocksError } from '../errors';
import { checkOptionKeys, describeValue, optionKeys } from '../internal/checks';

/** Options of {@link useThreadedWasm}. */
export type ThreadedWasmOptions = {
  /**
   * Threads XNNPACK's kernels run on, the calling thread included (default:
   * `os.availableParallelism()`, at most 8). 1 runs the threaded build on
   * the calling thread alone (a baseline for comparisons).
   */
  threads?: number;
};

const OPTION_KEYS = optionKeys<ThreadedWasmOptions>({ threads: true });

/** The build's pre-started pthread workers (PTHREAD_POOL_SIZE), which is also backend.cc's cap. */
const MAX_THREADS = 8;

const BACKEND = 'wasm';

const PACKAGE = '@tensorflow/tfjs-backend-wasm';
const SCRIPT = `${PACKAGE}/wasm-out/tfjs-backend-wasm-threaded-simd.js`;
const WORKER_SCRIPT = `${PACKAGE}/wasm-out/tfjs-backend-wasm-threaded-simd.worker.js`;

/** The parts of the threaded Emscripten module used here (tfjs-backend-wasm 4.x). */
type ThreadedModule = {
  cwrap: (name: string, ret: string | null, argTypes: string[]) => (...args: number[]) => number;
  PThread: { runningWorkers: Worker[]; unusedWorkers: Worker[] };
  tfjs?: Record<string, (...args: number[]) => number>;
};

type EmscriptenFactory = (config: Record<string, unknown>) => Promise<ThreadedModule>;

type WasmPackage = {
  BackendWasm: new (module: unknown) => tf.KernelBackend;
  setThreadsCount(threads: number): void;
};

/** The stock `wasm` factory, put back by {@link disposeThreadedWasm}. */
let stock:
  | { factory: () => tf.KernelBackend | Promise<tf.KernelBackend>; priority: number }
  | undefined;

/** The threaded backend in use and its thread count, if any. */
let active: { backend: tf.KernelBackend; threads: number } | undefined;

/**
 * Makes the `wasm` backend run on tfjs-backend-wasm's threaded SIMD build,
 * so that XNNPACK's matMul, convolutions and other pooled kernels use
 * `threads` cores, and selects it (as `useBackend('wasm')` does). Node only;
 * opt-in because the threads cost memory (each worker is a V8 isolate) and,
 * on a machine shared with other work, can be slower than one thread.
 *
 * Call it before the `wasm` backend holds any tensor: tensors cannot move to
 * a new backend. A second call with the same `threads` keeps the backend;
 * with another count, it replaces the backend while that holds no tensor.
 * The pthread workers never keep the process alive; {@link
 * disposeThreadedWasm} stops them and puts the stock `wasm` backend back.
 * `enableWasmFastKernels()` (main entry) works on either build.
 *
 * Values agree with the single-threaded build's within 1e-5 relative
 * (tested on matMuls, conv2d and a GPT's forward and decode step).
 *
 * @param options - `threads` (default `os.availableParallelism()`, 1 to 8).
 * @returns The threads XNNPACK uses.
 * @throws TfjsBlocksError for bad options (`options.threads`), where the
 *   runtime lacks `SharedArrayBuffer` or shared WebAssembly memory or SIMD,
 *   or the package is missing (`runtime`), or when the `wasm` backend
 *   already holds tensors (`wasm backend`).
 * @example
 * ```ts
 * import { enableWasmFastKernels } from 'tfjs-blocks';
 * import { disposeThreadedWasm, useThreadedWasm } from 'tfjs-blocks/node';
 *
 * const threads = await useThreadedWasm({ threads: 2 }); // before any tensor is made on wasm
 * enableWasmFastKernels();
 * console.log(`wasm on ${threads} threads`);
 * // ... build, train or decode as usual ...
 * await disposeThreadedWasm(); // optional: the workers do not keep the process alive
 * ```
 */
export function useThreadedWasm(options?: ThreadedWasmOptions): Promise<number> {
  return serialised(() => use(options));
}

/**
 * Disposes the threaded `wasm` backend of {@link useThreadedWasm} (its
 * tensors with it), stops its worker threads and registers the stock
 * single-threaded `wasm` backend again; no-op when none is in use. Select a
 * backend afterwards (`useBackend('wasm')`) before making tensors.
 *
 * @example
 * ```ts
 * import { disposeThreadedWasm, useThreadedWasm } from 'tfjs-blocks/node';
 * await useThreadedWasm({ threads: 2 });
 * await disposeThreadedWasm();
 * ```
 */
export function disposeThreadedWasm(): Promise<void> {
  return serialised(async () => {
    if (active === undefined) return;
    active = undefined;
    tf.removeBackend(BACKEND);
    if (stock !== undefined) tf.registerBackend(BACKEND, stock.factory, stock.priority);
  });
}

async function use(options: ThreadedWasmOptions | undefined): Promise<number> {
  const fn = 'useThreadedWasm';
  checkOptionKeys(fn, options, OPTION_KEYS);
  const threads = options?.threads ?? Math.min(availableParallelism(), MAX_THREADS);
  if (!Number.isInteger(threads) || threads < 1 || threads > MAX_THREADS) {
    throw new TfjsBlocksError(
      fn,
      'options.threads',
      `an integer from 1 to ${MAX_THREADS} (the build's pthread pool)`,
      describeValue(threads),
    );
  }
  checkRuntime(fn);
  const wasmPackage = await loadPackage(fn);
  const current = tf.findBackend(BACKEND);
  if (current !== null && active?.backend === current && active.threads === threads) {
    await tf.setBackend(BACKEND);
    return threads;
  }
  if (current !== null && current.numDataIds() > 0) {
    throw new TfjsBlocksError(
      fn,
      'wasm backend',
      `a wasm backend that holds no tensor yet (call ${fn} before making tensors or loading a model on wasm)`,
      `an initialised wasm backend holding ${current.numDataIds()} tensor buffer(s)`,
    );
  }
  const registered = tf.findBackendFactory(BACKEND);
  if (stock === undefined && registered) {
    stock = { factory: registered, priority: tf.engine().registryFactory[BACKEND]?.priority ?? 2 };
  }
  const listenersBefore = processListeners();
  let module: ThreadedModule;
  try {
    module = await instantiate(threads);
  } catch (e) {
    throw new TfjsBlocksError(
      fn,
      'runtime',
      `a runtime that can start ${SCRIPT} on worker threads`,
      `an error: ${(e as Error)?.message ?? String(e)}`,
    );
  } finally {
    // The module rethrows every uncaught error from inside its minified source (see useBackend).
    removeListenersAddedSince(listenersBefore);
  }
  module.tfjs = tfjsBindings(module);
  wasmPackage.setThreadsCount(threads);
  const backend = new wasmPackage.BackendWasm(module);
  for (const worker of module.PThread.runningWorkers) worker.unref();
  // The build starts 8 workers whatever the pool's size; pthreadpool's threads
  // are all started by now and none is made later, so the idle ones (a V8
  // isolate each, ~10 MB of RSS) go.
  await Promise.all(module.PThread.unusedWorkers.splice(0).map((worker) => worker.terminate()));
  const started = module.tfjs.getThreadsCount!();
  if (tf.findBackendFactory(BACKEND)) tf.removeBackend(BACKEND);
  tf.registerBackend(BACKEND, () => backend, stock?.priority ?? 2);
  active = { backend, threads: started };
  await tf.setBackend(BACKEND);
  return started;
}

/** Throws unless shared WebAssembly memory and SIMD are available. */
function checkRuntime(fn: string): void {
  const expected = 'Node with SharedArrayBuffer, shared WebAssembly.Memory and WebAssembly SIMD';
  if (typeof SharedArrayBuffer !== 'function') {
    throw new TfjsBlocksError(fn, 'runtime', expected, 'no SharedArrayBuffer');
  }
  try {
    new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
  } catch (e) {
    throw new TfjsBlocksError(
      fn,
      'runtime',
      expected,
      `no shared WebAssembly.Memory (${(e as Error).message})`,
    );
  }
  // (module (func (result v128) (v128.const i32x4 0 0 0 0)))
  const simd = Uint8Array.from([
    0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 22, 1, 20, 0, 253, 12, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 11,
  ]);
  if (!WebAssembly.validate(simd)) {
    throw new TfjsBlocksError(fn, 'runtime', expected, 'no WebAssembly SIMD');
  }
}

/** The wasm package (which registers the stock backend and the wasm kernels). */
async function loadPackage(fn: string): Promise<WasmPackage> {
  try {
    const loaded = (await import(/* @vite-ignore */ PACKAGE)) as Partial<WasmPackage> & {
      default?: Partial<WasmPackage>;
    };
    const wasmPackage = loaded.BackendWasm === undefined ? loaded.default : loaded;
    if (typeof wasmPackage?.BackendWasm !== 'function') throw new Error('no BackendWasm export');
    return wasmPackage as WasmPackage;
  } catch (e) {
    throw new TfjsBlocksError(
      fn,
      'runtime',
      `${PACKAGE} 4.x installed (npm install ${PACKAGE})`,
      `a package that could not be loaded: ${(e as Error).message.split('\n')[0]}`,
    );
  }
}

/** `require` from here, in the ESM and the CommonJS builds alike. */
function requireHere(): NodeJS.Require {
  return typeof require === 'function' ? require : createRequire(import.meta.url);
}

/** Instantiates the threaded Emscripten module with `threads` as its pool's cap. */
async function instantiate(threads: number): Promise<ThreadedModule> {
  const load = requireHere();
  const script = load.resolve(SCRIPT);
  const factory = load(script) as EmscriptenFactory;
  const { wasmWorkerContents } = load(WORKER_SCRIPT) as { wasmWorkerContents: string };
  const binary = await WebAssembly.compile(readFileSync(script.replace(/\.js$/, '.wasm')));
  const dir = mkdtempSync(join(tmpdir(), 'tfjs-blocks-wasm-'));
  // `.cjs`: the worker script uses require() whatever package.json is nearest.
  // Its string literals' `\n` arrive as newlines (the package exports it as a
  // template literal): escaped back, as tfjs's own init does.
  const workerPath = join(dir, 'tfjs-backend-wasm-threaded-simd.worker.cjs');
  writeFileSync(workerPath, wasmWorkerContents.replace(/\n/g, '\\n'));
  // The module makes its pthread workers with `new (require('worker_threads').Worker)(path)`,
  // synchronously inside the factory call: for that call, a Worker that does
  // not inherit this process's flags (a `--import` of a TypeScript loader or
  // preload would fail, or run, in every worker; the script needs none).
  const workerThreads = load('node:worker_threads') as typeof import('node:worker_threads');
  const NodeWorker = workerThreads.Worker;
  class PthreadWorker extends NodeWorker {
    constructor(path: string | URL, options?: WorkerOptions) {
      super(path, { execArgv: [], ...options });
    }
  }
  try {
    return await new Promise<ThreadedModule>((resolve, reject) => {
      workerThreads.Worker = PthreadWorker;
      const ready = factory({
        mainScriptUrlOrBlob: script,
        locateFile: (path: string) =>
          path.endsWith('.worker.js') ? workerPath : join(dirname(script), path),
        instantiateWasm: (
          imports: WebAssembly.Imports & { env: WebAssembly.ModuleImports },
          receive: (instance: WebAssembly.Instance, module: WebAssembly.Module) => void,
        ) => {
          // backend.cc takes half of this as its cap on the pool.
          imports.env.emscripten_num_logical_cores = () => 2 * threads;
          WebAssembly.instantiate(binary, imports).then(
            (instance) => receive(instance, binary),
            reject,
          );
          return {};
        },
        onAbort: (what: unknown) => reject(new Error(`aborted: ${String(what)}`)),
      });
      workerThreads.Worker = NodeWorker;
      ready.then(resolve, reject);
    });
  } finally {
    workerThreads.Worker = NodeWorker;
    // Every pre-started worker has read the script once the module is ready.
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The `module.tfjs` table that tfjs-backend-wasm's `init()` builds. */
function tfjsBindings(module: ThreadedModule): Record<string, (...args: number[]) => number> {
  return {
    init: module.cwrap('init', null, []),
    initWithThreadsCount: module.cwrap('init_with_threads_count', null, ['number']),
    getThreadsCount: module.cwrap('get_threads_count', 'number', []),
    registerTensor: module.cwrap('register_tensor', null, ['number', 'number', 'number']),
    disposeData: module.cwrap('dispose_data', null, ['number']),
    dispose: module.cwrap('dispose', null, []),
  };
}

/** The last use or dispose, which the next one waits for. */
let queue: Promise<unknown> = Promise.resolve();

function serialised<T>(task: () => Promise<T>): Promise<T> {
  const run = queue.then(task, task);
  queue = run.catch(() => undefined);
  return run;
}
