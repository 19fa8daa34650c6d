import { type Tensor, tensor } from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../../errors';
import type { SharedBuffers } from './memory';

/** The `workerData` key that tells {@link dataParallelTask} it runs in one of our workers. */
export const TASK_MARKER = '__tfjsBlocksDataParallel';

/** `workerData` of a data-parallel worker. */
export type WorkerStart = {
  [TASK_MARKER]: true;
  rank: number;
  workers: number;
  backend: string;
  options: unknown;
};

/** `workerData` as the bootstrap script gets it: the start, and what to load. */
export type WorkerBoot = WorkerStart & {
  /** The task module's file URL. */
  task: string;
  /** Whether the task is TypeScript, to be loaded through tsx. */
  typescript: boolean;
};

/** A tensor's values on the host, as posted to a worker. */
export type HostTensor = {
  values: Float32Array | Int32Array | Uint8Array;
  shape: number[];
  dtype: 'float32' | 'int32' | 'bool';
};

/** A copy of `t`'s values for posting to another thread. */
export function toHost(t: Tensor): HostTensor {
  return {
    values: (t.dataSync() as HostTensor['values']).slice(),
    shape: t.shape.slice(),
    dtype: t.dtype as HostTensor['dtype'],
  };
}

/** A tensor on this thread's backend from posted values. */
export function fromHost(h: HostTensor): Tensor {
  return tensor(h.values, h.shape, h.dtype);
}

/** {@link toHost} of every tensor of a map. */
export function toHostMap(tensors: Record<string, Tensor>): Record<string, HostTensor> {
  return Object.fromEntries(Object.entries(tensors).map(([name, t]) => [name, toHost(t)]));
}

/** {@link fromHost} of every entry of a map: new tensors the caller disposes. */
export function fromHostMap(hosts: Record<string, HostTensor>): Record<string, Tensor> {
  return Object.fromEntries(Object.entries(hosts).map(([name, h]) => [name, fromHost(h)]));
}

/** An optimizer state as it crosses threads: its tensors' values and its skeleton. */
export type HostOptimizerState = {
  tensors: Record<string, HostTensor>;
  skeleton: unknown;
  iterations: number;
};

/** One trainable parameter in the flat gradient layout, in worker order. */
export type ParamLayout = { name: string; shape: number[]; size: number };

export type ToWorker =
  | { type: 'buffers'; buffers: SharedBuffers }
  | { type: 'step'; id: number; shard: Record<string, HostTensor>; weight: number }
  | { type: 'params'; id: number }
  | { type: 'checkpoint'; id: number }
  | {
      type: 'restore';
      id: number;
      params: Record<string, HostTensor>;
      optimizer?: HostOptimizerState;
    }
  | { type: 'close' };

/** An error as it crosses the thread boundary (TfjsBlocksError keeps its fields). */
export type SerialisedError = {
  name: string;
  message: string;
  stack?: string;
  fields?: { functionName: string; argument: string; expected: string; actual: string };
};

export type FromWorker =
  | { type: 'ready'; layout: ParamLayout[] }
  | { type: 'synced' }
  | { type: 'stepped'; id: number; loss: number }
  | { type: 'skipped'; id: number }
  | { type: 'failed'; id: number; error: SerialisedError }
  | { type: 'params'; id: number; values: Record<string, HostTensor> }
  | { type: 'checkpoint'; id: number; optimizer: HostOptimizerState }
  | { type: 'restored'; id: number };

export function serialiseError(e: unknown): SerialisedError {
  if (e instanceof TfjsBlocksError) {
    return {
      name: e.name,
      message: e.message,
      ...(e.stack === undefined ? {} : { stack: e.stack }),
      fields: {
        functionName: e.functionName,
        argument: e.argument,
        expected: e.expected,
        actual: e.actual,
      },
    };
  }
  if (e instanceof Error) {
    return {
      name: e.name,
      message: e.message,
      ...(e.stack === undefined ? {} : { stack: e.stack }),
    };
  }
  return { name: 'Error', message: String(e) };
}

/** The error again on the main thread, said to come from worker `rank`. */
export function deserialiseError(e: SerialisedError, rank: number): Error {
  if (e.fields) {
    const { functionName, argument, expected, actual } = e.fields;
    const error = new TfjsBlocksError(functionName, argument, expected, actual);
    error.message = `${error.message} (in data-parallel worker ${rank})`;
    return error;
  }
  const error = new Error(`data-parallel worker ${rank}: ${e.message}`);
  error.name = e.name;
  if (e.stack) error.stack = `${error.name}: ${error.message}\n[worker ${rank}] ${e.stack}`;
  return error;
}
