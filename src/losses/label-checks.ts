import { Tensor } from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import { formatShape } from '../internal/checks';

/**
 * Checks integer class labels: an int32 tensor of `shape`, each value in
 * `[0, numClasses)` or equal to `ignoreIndex`. Reads the labels (a small
 * int tensor) to check the range, so a bad label is named here rather than
 * silently producing a zero one-hot row.
 */
export function checkClassLabels(
  fn: string,
  name: string,
  labels: unknown,
  shape: readonly number[],
  numClasses: number,
  ignoreIndex?: number,
): Tensor {
  const layout = `an int32 tensor of shape ${formatShape(shape)} with values in [0, ${numClasses})${
    ignoreIndex === undefined ? '' : ` or ${ignoreIndex}`
  }`;
  if (!(labels instanceof Tensor)) throw new TfjsBlocksError(fn, name, layout, String(labels));
  if (labels.isDisposed) throw new TfjsBlocksError(fn, name, layout, 'a disposed tensor');
  if (labels.dtype !== 'int32')
    throw new TfjsBlocksError(fn, name, layout, `a ${labels.dtype} tensor`);
  if (
    labels.shape.length !== shape.length ||
    labels.shape.some((d: number, i: number) => d !== shape[i])
  ) {
    throw new TfjsBlocksError(fn, name, layout, `shape ${formatShape(labels.shape)}`);
  }
  const values = labels.dataSync();
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if ((v < 0 || v >= numClasses) && v !== ignoreIndex) {
      throw new TfjsBlocksError(fn, name, layout, `${v} at flat index ${i}`);
    }
  }
  return labels;
}
