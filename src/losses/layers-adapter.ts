import { cast, reshape, type Tensor, tidy } from '@tensorflow/tfjs-core';

/** Options of {@link toLayersLoss} and {@link toLayersMetric}. */
export interface LayersAdapterOptions {
  /**
   * `yTrue` holds class indices (tfjs-layers passes them as float32 of the
   * output's rank, e.g. `[batch, 1]`): reshape them to `yPred`'s leading
   * axes and cast to int32 before calling. Default `false`.
   */
  integerLabels?: boolean;
  /** The name tfjs-layers shows in logs and history. Default: the function's name. */
  name?: string;
}

function adapt(
  f: (yPred: Tensor, yTrue: Tensor) => Tensor,
  options: LayersAdapterOptions,
): (yTrue: Tensor, yPred: Tensor) => Tensor {
  const adapted = (yTrue: Tensor, yPred: Tensor) =>
    tidy(() => {
      const labels = options.integerLabels
        ? cast(reshape(yTrue, yPred.shape.slice(0, -1)), 'int32')
        : yTrue;
      return f(yPred, labels);
    });
  Object.defineProperty(adapted, 'name', { value: options.name ?? (f.name || 'loss') });
  return adapted;
}

/**
 * Turns a loss of `(predictions, targets)` into what `model.compile({loss})`
 * expects, `(yTrue, yPred) => Tensor` (note the swapped order).
 *
 * @example
 * ```ts
 * model.compile({
 *   optimizer: new TransformOptimizer(adamw()),
 *   loss: toLayersLoss((logits, labels) => softmaxCrossEntropy(logits, labels, { labelSmoothing: 0.1 }), { integerLabels: true }),
 * });
 * ```
 */
export function toLayersLoss(
  loss: (predictions: Tensor, targets: Tensor) => Tensor,
  options: LayersAdapterOptions = {},
): (yTrue: Tensor, yPred: Tensor) => Tensor {
  return adapt(loss, options);
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
  return adapt(metric, options);
}
