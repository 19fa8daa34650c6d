import { parentPort, workerData } from 'node:worker_threads';
import {
  dispose,
  type Scalar,
  type Tensor,
  tensor,
  tidy,
  type Variable,
  variableGrads,
} from '@tensorflow/tfjs-core';
import { type BackendName, useBackend } from '../../backends';
import { TfjsBlocksError } from '../../errors';
import { checkOptionKeys, describeValue, optionKeys } from '../../internal/checks';
import { emptyRecord } from '../../internal/records';
import { createOptimizer, type StatefulOptimizer } from '../../optim/create-optimizer';
import { paramsToVariables } from '../../optim/param-tree';
import type { GradientTransformation } from '../../optim/types';
import { flattenParams } from '../../tree/flatten';
import type { TensorMap } from '../../tree/types';
import { barrier, CONTROL, reduceSegment, type SharedBuffers } from './memory';
import {
  type FromWorker,
  fromHost,
  fromHostMap,
  type ParamLayout,
  serialiseError,
  TASK_MARKER,
  type ToWorker,
  toHostMap,
  type WorkerStart,
} from './protocol';

/** What a data-parallel task's factory is given, in each worker. */
export type DataParallelTaskContext = {
  /** This worker's index, `0 … workers - 1`. */
  rank: number;
  /** How many workers train together. */
  workers: number;
  /** `taskOptions` from {@link startDataParallel} (structured-cloned). */
  options: unknown;
};

/** What a data-parallel task's factory returns: the model, its loss and its optimizer. */
export type DataParallelTaskDefinition<P> = {
  /**
   * The initial parameters, a param record from an `init…` function. Worker
   * 0's values are copied to every worker, so replicas start equal even if
   * the initialisation is not seeded. The worker takes the tensors over.
   */
  params: P;
  /** Applied by every worker to the same averaged gradients, so the replicas stay equal. */
  optimizer: GradientTransformation<unknown>;
  /**
   * The loss of one shard: a scalar that is a **mean over the shard's
   * examples**, so that the average weighted by shard size is the mean over
   * the whole batch (a sum would be off by the number of workers).
   * `batch` holds the shard's rows of each tensor given to `step`.
   */
  loss: (params: NoInfer<P>, batch: Record<string, Tensor>) => Scalar;
};

const DEFINITION_KEYS = optionKeys<DataParallelTaskDefinition<unknown>>({
  params: true,
  optimizer: true,
  loss: true,
});

/** What {@link dataParallelTask} returns: a marker the main thread may ignore. */
export type DataParallelTask = {
  /** Always `'tfjs-blocks/data-parallel-task'`. */
  readonly kind: 'tfjs-blocks/data-parallel-task';
};

/**
 * Declares the module that each data-parallel worker runs: call it at the top
 * level of the module whose path you give {@link startDataParallel}. In a
 * worker started by `startDataParallel` it selects the backend, calls
 * `factory` and serves training steps; anywhere else (the main thread
 * importing the module for its config, say) it does nothing.
 *
 * @param factory - builds the params, optimizer and loss from the worker's
 *   context. Annotate its parameter (`(context: DataParallelTaskContext) =>`)
 *   when you use it, so that TypeScript infers the params' type for `loss`.
 * @returns a marker; the work happens in the workers.
 * @example
 * ```ts
 * // gpt-task.ts
 * import { adamw, decoderLm, gpt2Config, initDecoderLm, softmaxCrossEntropy } from 'tfjs-blocks';
 * import { dataParallelTask } from 'tfjs-blocks/node';
 *
 * const config = gpt2Config({ vocabSize: 64, maxLength: 128, dModel: 128, numLayers: 2, numHeads: 4 });
 * export default dataParallelTask(() => ({
 *   params: initDecoderLm(config, 0),
 *   optimizer: adamw({ learningRate: 1e-3 }),
 *   loss: (params, batch) => softmaxCrossEntropy(decoderLm(config, params, batch.ids), batch.targets),
 * }));
 * ```
 */
export function dataParallelTask<P>(
  factory: (
    context: DataParallelTaskContext,
  ) => DataParallelTaskDefinition<P> | Promise<DataParallelTaskDefinition<P>>,
): DataParallelTask {
  if (typeof factory !== 'function') {
    throw new TfjsBlocksError('dataParallelTask', 'factory', 'a function', typeof factory);
  }
  const start = workerData as WorkerStart | undefined;
  if (parentPort && start?.[TASK_MARKER]) void serve(factory, start, parentPort);
  return { kind: 'tfjs-blocks/data-parallel-task' };
}

type Port = NonNullable<typeof parentPort>;

/** One worker's replica: variables, optimizer, and the shared views. */
type Replica<P> = {
  definition: DataParallelTaskDefinition<P>;
  params: P;
  variables: Record<string, Variable>;
  layout: ParamLayout[];
  optimizer: StatefulOptimizer<unknown>;
};

async function serve<P>(
  factory: (
    context: DataParallelTaskContext,
  ) => DataParallelTaskDefinition<P> | Promise<DataParallelTaskDefinition<P>>,
  start: WorkerStart,
  port: Port,
): Promise<void> {
  const post = (message: FromWorker, transfer: ArrayBuffer[] = []) =>
    port.postMessage(message, transfer);
  let replica: Replica<P>;
  try {
    await useBackend(start.backend as BackendName);
    const definition = await factory({
      rank: start.rank,
      workers: start.workers,
      options: start.options,
    });
    replica = makeReplica(definition);
  } catch (e) {
    post({ type: 'failed', id: -1, error: serialiseError(e) });
    return;
  }
  post({ type: 'ready', layout: replica.layout });

  let shared: { slots: Float32Array; result: Float32Array; control: Int32Array } | undefined;
  let steps = 0;
  port.on('message', (message: ToWorker) => {
    try {
      if (message.type === 'buffers') {
        shared = viewsOf(message.buffers);
        synchronise(replica, shared, start);
        post({ type: 'synced' });
      } else if (message.type === 'step') {
        post(trainStep(replica, shared!, start, message, steps++));
      } else if (message.type === 'params') {
        const values = toHostMap(replica.variables);
        post(
          { type: 'params', id: message.id, values },
          Object.values(values).map((v) => v.values.buffer as ArrayBuffer),
        );
      } else if (message.type === 'checkpoint') {
        // save() returns copies that are ours: read them to the host, then free them.
        const saved = replica.optimizer.save();
        const tensors = toHostMap(saved.tensors);
        dispose(Object.values(saved.tensors));
        post(
          {
            type: 'checkpoint',
            id: message.id,
            optimizer: { tensors, skeleton: saved.skeleton, iterations: saved.iterations },
          },
          Object.values(tensors).map((t) => t.values.buffer as ArrayBuffer),
        );
      } else if (message.type === 'restore') {
        restore(replica, message);
        post({ type: 'restored', id: message.id });
      } else if (message.type === 'close') {
        replica.optimizer.dispose();
        dispose(Object.values(replica.variables));
        port.close();
      }
    } catch (e) {
      post({ type: 'failed', id: 'id' in message ? message.id : -1, error: serialiseError(e) });
    }
  });
}

function makeReplica<P>(definition: DataParallelTaskDefinition<P>): Replica<P> {
  const fn = 'dataParallelTask';
  if (definition === null || typeof definition !== 'object') {
    throw new TfjsBlocksError(
      fn,
      'factory()',
      'an object { params, optimizer, loss }',
      describeValue(definition),
    );
  }
  checkOptionKeys(fn, definition, DEFINITION_KEYS, 'factory()');
  if (typeof definition.loss !== 'function') {
    throw new TfjsBlocksError(fn, 'factory().loss', 'a function', typeof definition.loss);
  }
  const optimizer = definition.optimizer as GradientTransformation<unknown> | undefined;
  if (typeof optimizer?.init !== 'function' || typeof optimizer?.update !== 'function') {
    throw new TfjsBlocksError(
      fn,
      'factory().optimizer',
      'a gradient transformation ({ init, update })',
      describeValue(optimizer),
    );
  }
  const initial = flattenParams(definition.params);
  for (const [name, t] of Object.entries(initial)) {
    if (t.dtype !== 'float32') {
      throw new TfjsBlocksError(
        fn,
        `factory().params.${name}`,
        'a float32 tensor',
        `a ${t.dtype} tensor`,
      );
    }
  }
  const { params, variables } = paramsToVariables(definition.params);
  dispose(Object.values(initial));
  const layout = Object.entries(variables).map(([name, v]) => ({
    name,
    shape: v.shape,
    size: v.size,
  }));
  return {
    definition,
    params,
    variables,
    layout,
    optimizer: createOptimizer(optimizer, variables),
  };
}

function viewsOf(buffers: SharedBuffers) {
  return {
    slots: new Float32Array(buffers.slots),
    result: new Float32Array(buffers.result),
    control: new Int32Array(buffers.control),
  };
}

/** Worker 0's parameters go to every worker through the result region. */
function synchronise<P>(
  replica: Replica<P>,
  shared: { result: Float32Array; control: Int32Array },
  start: WorkerStart,
): void {
  if (start.rank === 0) {
    let offset = 0;
    for (const { name, size } of replica.layout) {
      shared.result.set(replica.variables[name]!.dataSync() as Float32Array, offset);
      offset += size;
    }
  }
  barrier(shared.control, start.workers, start.rank);
  if (start.rank !== 0) {
    let offset = 0;
    for (const { name, shape, size } of replica.layout) {
      const value = tensor(shared.result.slice(offset, offset + size), shape, 'float32');
      replica.variables[name]!.assign(value);
      value.dispose();
      offset += size;
    }
  }
  // Nobody may overwrite the result region (first step) before everyone has read it.
  barrier(shared.control, start.workers, start.rank);
}

/**
 * One step on this worker's shard: gradients × shard weight into this
 * worker's slot, barrier, sum one segment of the slots, barrier, then the
 * optimizer on the averaged gradients. A failure anywhere is flagged in
 * shared memory before the first barrier, so that every worker skips the
 * update (the replicas stay equal) and none waits for ever.
 */
function trainStep<P>(
  replica: Replica<P>,
  shared: { slots: Float32Array; result: Float32Array; control: Int32Array },
  start: WorkerStart,
  message: Extract<ToWorker, { type: 'step' }>,
  stepIndex: number,
): FromWorker {
  const { layout, variables } = replica;
  const total = shared.result.length;
  // Two flags used on alternate steps: worker 0 clears this step's after the
  // second barrier, when no worker can read it any more and none can yet set
  // the next step's.
  const failedFlag = CONTROL.stepFailed + (stepIndex % 2);
  const slot = shared.slots.subarray(start.rank * total, (start.rank + 1) * total);
  let loss = Number.NaN;
  let error: unknown;
  const batch = emptyRecord<Tensor>();
  try {
    for (const [name, t] of Object.entries(message.shard)) batch[name] = fromHost(t);
    const varList = layout.map(({ name }) => variables[name]!);
    const { value, grads } = variableGrads(
      () => replica.definition.loss(replica.params, batch),
      varList,
    );
    try {
      loss = value.dataSync()[0]!;
      let offset = 0;
      for (const { name, size } of layout) {
        const g = grads[variables[name]!.name];
        if (g) {
          const data = g.dataSync() as Float32Array;
          for (let i = 0; i < size; i++) slot[offset + i] = data[i]! * message.weight;
        } else {
          slot.fill(0, offset, offset + size);
        }
        offset += size;
      }
    } finally {
      dispose([value, ...Object.values(grads)]);
    }
  } catch (e) {
    error = e;
    Atomics.store(shared.control, failedFlag, 1);
  } finally {
    dispose(Object.values(batch));
  }
  barrier(shared.control, start.workers, start.rank);
  const failed = Atomics.load(shared.control, failedFlag) !== 0;
  if (!failed) reduceSegment(shared.slots, shared.result, start.workers, start.rank);
  barrier(shared.control, start.workers, start.rank);
  if (failed) {
    if (start.rank === 0) Atomics.store(shared.control, failedFlag, 0);
    return error === undefined
      ? { type: 'skipped', id: message.id }
      : { type: 'failed', id: message.id, error: serialiseError(error) };
  }
  const averaged: TensorMap = tidy(() => {
    const named = emptyRecord<Tensor>();
    let offset = 0;
    for (const { name, shape, size } of layout) {
      named[name] = tensor(shared.result.slice(offset, offset + size), shape, 'float32');
      offset += size;
    }
    return named;
  });
  try {
    replica.optimizer.step(averaged);
  } finally {
    dispose(Object.values(averaged));
  }
  return { type: 'stepped', id: message.id, loss };
}

/**
 * Sets this replica's parameters (names and shapes checked on the main
 * thread) and, when given, its optimizer state: every worker gets the same
 * values, so the replicas stay equal.
 */
function restore<P>(replica: Replica<P>, message: Extract<ToWorker, { type: 'restore' }>): void {
  // The optimizer first: its load is all or nothing and the one part that can
  // fail here (a state of another optimizer), so a failure changes nothing.
  if (message.optimizer) {
    const { tensors, skeleton, iterations } = message.optimizer;
    const held = fromHostMap(tensors);
    try {
      replica.optimizer.load({ tensors: held, skeleton, iterations });
    } finally {
      dispose(Object.values(held));
    }
  }
  for (const { name } of replica.layout) {
    const value = fromHost(message.params[name]!);
    replica.variables[name]!.assign(value);
    value.dispose();
  }
}
