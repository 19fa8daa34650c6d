import { addN, maximum, type Tensor } from '@tensorflow/tfjs-core';

// WebGPU binds one storage buffer per kernel input and allows 8 per shader
// (output included): an addN over more inputs builds an invalid pipeline, and
// tfjs returns a wrong sum with only a console warning. Chunks of 7 stay valid.
const MAX_KERNEL_INPUTS = 7;

/** The sum of same-shape tensors, in kernels of at most 7 inputs (call inside `tidy`). */
export function sumTensors(tensors: Tensor[]): Tensor {
  let level = tensors;
  while (level.length > 1) {
    const next: Tensor[] = [];
    for (let i = 0; i < level.length; i += MAX_KERNEL_INPUTS) {
      const chunk = level.slice(i, i + MAX_KERNEL_INPUTS);
      next.push(chunk.length === 1 ? chunk[0]! : addN(chunk));
    }
    level = next;
  }
  return level[0]!;
}

/** The element-wise maximum of same-shape tensors, pairwise (call inside `tidy`). */
export function maximumOfTensors(tensors: Tensor[]): Tensor {
  let level = tensors;
  while (level.length > 1) {
    const next: Tensor[] = [];
    for (let i = 0; i < level.length; i += 2) {
      next.push(i + 1 < level.length ? maximum(level[i]!, level[i + 1]!) : level[i]!);
    }
    level = next;
  }
  return level[0]!;
}
