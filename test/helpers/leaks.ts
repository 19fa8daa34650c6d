import { dispose, memory, type Tensor, type TensorContainer } from '@tensorflow/tfjs-core';
import { expect } from 'vitest';

function collect(x: TensorContainer, into: Set<Tensor>): void {
  if (x === null || x === undefined || typeof x !== 'object') return;
  if ('dataId' in x && 'shape' in x) {
    into.add(x as Tensor);
    return;
  }
  for (const v of Array.isArray(x) ? x : Object.values(x)) collect(v as TensorContainer, into);
}

/**
 * Runs `fn` and asserts that it added exactly its outputs to
 * `tf.memory().numTensors` (nothing left behind), then disposes the outputs.
 * Returns how many tensors the call added beyond its outputs (always 0 when
 * the assertion passes).
 */
export function expectNoLeak(fn: () => TensorContainer): void {
  const before = memory().numTensors;
  const result = fn();
  const outputs = new Set<Tensor>();
  collect(result, outputs);
  const added = memory().numTensors - before;
  expect(added, `tensors added beyond the ${outputs.size} output(s)`).toBe(outputs.size);
  dispose([...outputs]);
  expect(memory().numTensors).toBe(before);
}
