import {
  argMax,
  cast,
  fill,
  greater,
  reshape,
  sum,
  type Tensor,
  tidy,
  where,
} from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import { checkInteger, checkOptionKeys, describeValue, optionKeys } from '../internal/checks';

/** Options of {@link toLayersLoss} and {@link toLayersMetric}. */
export interface LayersAdapterOptions {
  /**
   * Call the loss with int32 class indices. tfjs-layers' `model.fit` only
   * accepts targets of the output's shape `[..., classes]`, so give them
   * one-hot: each row becomes the index of its 1, and an all-zero row
   * becomes `ignoreIndex` (ignored). Targets whose last axis is 1 are read
   * as indices directly. Default `false` (targets passed as they are).
   */
  integerLabels?: boolean;
  /** The index that all-zero one-hot rows become. Default `-100`. */
  ignoreIndex?: number;
  /** The name tfjs-layers shows in logs and history. Default: the function's name. */
  name?: string;
}

const ADAPTER_KEYS = optionKeys<LayersAdapterOptions>({
  integerLabels: true,
  ignoreIndex: true,
  name: true,
});

/** Throws unless `f` is a function and `options` holds only known, well-typed options. */
function checkAdapterArgs(fn: string, argument: string, f: unknown, options: unknown): void {
  if (typeof f !== 'function') {
    throw new TfjsBlocksError(
      fn,
      argument,
      'a function of (predictions, targets)',
      describeValue(f),
    );
  }
  checkOptionKeys(fn, options, ADAPTER_KEYS);
  const { integerLabels, ignoreIndex, name } = (options ?? {}) as LayersAdapterOptions;
  if (integerLabels !== undefined && typeof integerLabels !== 'boolean') {
    throw new TfjsBlocksError(
      fn,
      'options.integerLabels',
      'a boolean',
      describeValue(integerLabels),
    );
  }
  if (ignoreIndex !== undefined) {
    checkInteger(fn, 'options.ignoreIndex', ignoreIndex, Number.MIN_SAFE_INTEGER);
  }
  if (name !== undefined && (typeof name !== 'string' || name.length === 0)) {
    throw new TfjsBlocksError(fn, 'options.name', 'a non-empty string', describeValue(name));
  }
}

function toIndices(yTrue: Tensor, yPred: Tensor, ignoreIndex: number): Tensor {
  const leading = yPred.shape.slice(0, -1);
  if (yTrue.shape[yTrue.rank - 1] === 1) return cast(reshape(yTrue, leading), 'int32');
  const index = cast(argMax(yTrue, -1), 'int32');
  return where(greater(sum(yTrue, -1), 0), index, fill(index.shape, ignoreIndex, 'int32'));
}

function adapt(
  f: (yPred: Tensor, yTrue: Tensor) => Tensor,
  options: LayersAdapterOptions,
): (yTrue: Tensor, yPred: Tensor) => Tensor {
  const adapted = (yTrue: Tensor, yPred: Tensor) =>
    tidy(() => {
      const labels = options.integerLabels
        ? toIndices(yTrue, yPred, options.ignoreIndex ?? -100)
        : yTrue;
      return f(yPred, labels);
    });
  Object.defineProperty(adapted, 'name', { value: options.name ?? (f.name || 'loss') });
  return adapted;
}

/**
 * Turns a loss of `(predictions, targets)` into what `model.compile({loss})`
 * expects, `(yTrue, yPred) => Tensor` (note the swapped order). Unknown
 * option keys are rejected with the closest valid name.
 *
 * tfjs-layers saves only loss names, not functions: a model saved with
 * `includeOptimizer: true` reloads without this loss (tfjs warns), so compile
 * it again with `{ optimizer: loaded.optimizer, loss: toLayersLoss(…) }`.
 *
 * @example
 * ```ts
 * model.compile({
 *   optimizer: new TransformOptimizer(adamw()),
 *   loss: toLayersLoss((logits, labels) => softmaxCrossEntropy(logits, labels, { labelSmoothing: 0.1 }), { integerLabels: true }),
 *   // ys: one-hot [batch, time, vocab]; all-zero rows are padding
 * });
 * ```
 */
export function toLayersLoss(
  loss: (predictions: Tensor, targets: Tensor) => Tensor,
  options: LayersAdapterOptions = {},
): (yTrue: Tensor, yPred: Tensor) => Tensor {
  checkAdapterArgs('toLayersLoss', 'loss', loss, options);
  return adapt(loss, { ...options });
}

/**
 * Turns a metric of `(predictions, targets)` (e.g. {@link tokenAccuracy},
 * {@link perplexity}) into a `model.compile({metrics})` entry, named for the logs.
 *
 * @example
 * ```ts
 * model.compile({ optimizer, loss, metrics: [toLayersMetric(tokenAccuracy, { integerLabels: true, name: 'acc' })] });
 * ```
 */
export function toLayersMetric(
  metric: (predictions: Tensor, targets: Tensor) => Tensor,
  options: LayersAdapterOptions = {},
): (yTrue: Tensor, yPred: Tensor) => Tensor {
  checkAdapterArgs('toLayersMetric', 'metric', metric, options);
  return adapt(metric, { ...options });
}
