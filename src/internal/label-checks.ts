import { Tensor } from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import { describeValue, formatShape } from './checks';
import { hostValues } from './host-values';

/**
 * Range checks that passed, per tensor data (`dataId`): for each
 * `ignoreIndex` (`'none'` without one), the smallest and largest value that
 * is not ignored (`min > max` when every value is). tfjs never changes the
 * data behind a `dataId` (a `Variable`'s `assign` gives it a new one), so a
 * check of the same data is answered here without reading it again: on
 * WebGPU that second read could be a GPU readback (see `hostValues`). Keyed
 * weakly, so it goes with the tensor data.
 */
const checkedRanges = new WeakMap<object, Map<number | 'none', { min: number; max: number }>>();

/**
 * Checks integer class labels: an int32 tensor of `shape`, each value in
 * `[0, numClasses)` or equal to `ignoreIndex`. Reads the labels (a small
 * int tensor) to check the range, so a bad label is named here rather than
 * silently producing a zero one-hot row. A check that passed is remembered
 * per tensor data, so the same labels checked again are not read again.
 * On WebGPU, labels whose values are only on the GPU (the output of a GPU
 * op, never read with `data()`) and were never checked are not range-checked:
 * reading them synchronously there can lose the device.
 */
export function checkClassLabels(
  fn: string,
  name: string,
  labels: unknown,
  shape: readonly number[],
  numClasses: number,
  ignoreIndex?: number,
): Tensor {
  // Built only on failure: embed checks its ids once per decoded token.
  const layout = () =>
    `an int32 tensor of shape ${formatShape(shape)} with values in [0, ${numClasses})${
      ignoreIndex === undefined ? '' : ` or ${ignoreIndex}`
    }`;
  if (!(labels instanceof Tensor))
    throw new TfjsBlocksError(fn, name, layout(), describeValue(labels));
  if (labels.isDisposed) throw new TfjsBlocksError(fn, name, layout(), 'a disposed tensor');
  if (labels.dtype !== 'int32')
    throw new TfjsBlocksError(fn, name, layout(), `a ${labels.dtype} tensor`);
  if (
    labels.shape.length !== shape.length ||
    labels.shape.some((d: number, i: number) => d !== shape[i])
  ) {
    throw new TfjsBlocksError(fn, name, layout(), `shape ${formatShape(labels.shape)}`);
  }
  const ignoreKey = ignoreIndex ?? 'none';
  const known = checkedRanges.get(labels.dataId)?.get(ignoreKey);
  // A passed check keeps min >= 0 (or no counted value at all): only the top can now fail.
  if (known && (known.min > known.max || known.max < numClasses)) return labels;
  const values = hostValues(labels);
  if (values === undefined) {
    // GPU-only on WebGPU (see the TSDoc); an earlier check may still know a bad value.
    if (known) throw new TfjsBlocksError(fn, name, layout(), `a value ${known.max}`);
    return labels;
  }
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v === ignoreIndex) continue;
    if (v < 0 || v >= numClasses) {
      throw new TfjsBlocksError(fn, name, layout(), `${v} at flat index ${i}`);
    }
    if (v < min) min = v;
    if (v > max) max = v;
  }
  let ranges = checkedRanges.get(labels.dataId);
  if (!ranges) {
    ranges = new Map();
    checkedRanges.set(labels.dataId, ranges);
  }
  ranges.set(ignoreKey, { min, max });
  return labels;
}
