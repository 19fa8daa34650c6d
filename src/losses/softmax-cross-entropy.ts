import {
  add,
  cast,
  logSoftmax,
  logSumExp,
  mul,
  neg,
  notEqual,
  oneHot,
  reshape,
  square,
  sum,
  Tensor,
  tidy,
  where,
  zerosLike,
} from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import {
  checkDim,
  checkFloatTensor,
  checkInteger,
  checkNumber,
  formatShape,
} from '../internal/checks';
import { checkClassLabels } from './label-checks';
import { checkReduction, type ReductionOption, reduce, safeDivide } from './reduction';

/** Options of {@link softmaxCrossEntropy}. */
export interface SoftmaxCrossEntropyOptions extends ReductionOption {
  /** Mix the target with the uniform distribution: `(1 - ε) · target + ε / classes`. Default `0`. */
  labelSmoothing?: number;
  /** Integer labels equal to this are ignored (no loss, no gradient, not counted). Default `-100`. */
  ignoreIndex?: number;
  /** Per-class weights `[classes]`; the mean divides by the total weight of the counted targets. */
  weights?: Tensor;
  /** Adds `zLossWeight · logsumexp(logits)²` per counted target (PaLM's z-loss). Default `0`. */
  zLossWeight?: number;
}

/**
 * Softmax cross-entropy over the last axis, with PyTorch's `cross_entropy`
 * semantics: integer labels (with `ignoreIndex`) or class probabilities,
 * `labelSmoothing`, class `weights`, and the weighted mean over counted
 * targets. Where PyTorch returns NaN (every target ignored), this returns 0
 * with zero gradients. Computed from `logSoftmax`, so logits of ±1e4 give
 * finite values and gradients.
 *
 * Integer labels are range-checked on the host: a label outside
 * `[0, classes)` (other than `ignoreIndex`) throws a `TfjsBlocksError`
 * naming it. A check that passed is remembered per tensor, so passing the
 * same labels again reads nothing. On WebGPU, labels whose values exist only
 * on the GPU (the output of a GPU op, never read with `data()`) and that were
 * never checked are not range-checked, because a synchronous read there can
 * lose the device: an out-of-range label then gets an all-zero one-hot row,
 * adding no cross-entropy (only the smoothing and z-loss terms) while still
 * counting in the mean's denominator.
 *
 * @param logits - `[..., classes]` float32 (the class axis is last, unlike PyTorch's axis 1).
 * @param labels - int32 `[...]` class indices, or float32 `[..., classes]` probabilities.
 * @returns a scalar, or `[...]` per-target losses with `reduction: 'none'`.
 * @example
 * ```ts
 * const logits = tf.randomNormal([2, 8, 100]); // [batch, time, vocab]
 * const labels = tf.tensor2d([[5, 9, 1, -100, -100, 3, 2, 7], [1, 1, 4, 0, 2, 9, 9, 8]], undefined, 'int32');
 * const loss = softmaxCrossEntropy(logits, labels, { labelSmoothing: 0.1, zLossWeight: 1e-4 });
 * ```
 */
export function softmaxCrossEntropy(
  logits: Tensor,
  labels: Tensor,
  options: SoftmaxCrossEntropyOptions = {},
): Tensor {
  const fn = 'softmaxCrossEntropy';
  const x = checkFloatTensor(fn, 'logits', logits, { layout: '[..., classes]' });
  if (x.rank < 1)
    throw new TfjsBlocksError(fn, 'logits', 'a tensor of rank >= 1 [..., classes]', 'a scalar');
  const classes = x.shape[x.rank - 1]!;
  const reduction = checkReduction(fn, options.reduction);
  const smoothing = checkNumber(fn, 'options.labelSmoothing', options.labelSmoothing ?? 0, {
    min: 0,
    max: 1,
    maxInclusive: true,
  });
  const ignoreIndex = checkInteger(
    fn,
    'options.ignoreIndex',
    options.ignoreIndex ?? -100,
    -Infinity,
  );
  const zLossWeight = checkNumber(fn, 'options.zLossWeight', options.zLossWeight ?? 0, { min: 0 });
  if (options.weights !== undefined) {
    const w = checkFloatTensor(fn, 'options.weights', options.weights, {
      rank: 1,
      layout: '[classes]',
    });
    checkDim(fn, 'options.weights.shape[0]', w.shape[0]!, classes, "logits' class count");
  }
  const soft = labels instanceof Tensor && labels.dtype === 'float32';
  if (soft) {
    const target = checkFloatTensor(fn, 'labels', labels, {
      layout: '[..., classes] probabilities',
    });
    if (target.rank !== x.rank || target.shape.some((d, i) => d !== x.shape[i])) {
      throw new TfjsBlocksError(
        fn,
        'labels',
        `class indices (int32) or probabilities of the logits' shape ${formatShape(x.shape)}`,
        `shape ${formatShape(target.shape)}`,
      );
    }
  } else {
    checkClassLabels(fn, 'labels', labels, x.shape.slice(0, -1), classes, ignoreIndex);
  }
  const { weights } = options;
  return tidy(() => {
    const logProbs = logSoftmax(x);
    const weighted = weights ? mul(logProbs, weights) : logProbs;
    const zLoss = zLossWeight > 0 ? mul(square(logSumExp(x, -1)), zLossWeight) : undefined;
    if (soft) {
      const target = smoothing > 0 ? add(mul(labels, 1 - smoothing), smoothing / classes) : labels;
      const ce = neg(sum(mul(weighted, target), -1));
      // PyTorch divides probability-target losses by their count, whatever the weights.
      return reduce(zLoss ? add(ce, zLoss) : ce, reduction);
    }
    const counted = notEqual(labels, ignoreIndex);
    const keep = cast(counted, 'float32');
    const safeLabels = where(counted, labels, zerosLike(labels));
    const targetOneHot = reshape(oneHot(reshape(safeLabels, [-1]), classes), x.shape);
    const nll = neg(sum(mul(weighted, targetOneHot), -1));
    const ce =
      smoothing > 0
        ? add(mul(nll, 1 - smoothing), mul(neg(sum(weighted, -1)), smoothing / classes))
        : nll;
    const ceCounted = mul(ce, keep);
    const zCounted = zLoss ? mul(zLoss, keep) : undefined;
    if (reduction !== 'mean')
      return reduce(zCounted ? add(ceCounted, zCounted) : ceCounted, reduction);
    // PyTorch's weighted mean: divide by the summed class weight of the counted targets.
    const targetWeight = weights ? mul(sum(mul(targetOneHot, weights), -1), keep) : keep;
    const meanCe = safeDivide(sum(ceCounted), sum(targetWeight));
    return zCounted ? add(meanCe, safeDivide(sum(zCounted), sum(keep))) : meanCe;
  });
}
