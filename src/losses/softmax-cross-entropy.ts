import {
  add,
  broadcastTo,
  cast,
  expandDims,
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
  checkOptionKeys,
  formatShape,
  optionKeys,
} from '../internal/checks';
import { checkClassLabels } from '../internal/label-checks';
import { multiplyNoNan } from './multiply-no-nan';
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

const SOFTMAX_CROSS_ENTROPY_KEYS = optionKeys<SoftmaxCrossEntropyOptions>({
  reduction: true,
  labelSmoothing: true,
  ignoreIndex: true,
  weights: true,
  zLossWeight: true,
});

/**
 * Softmax cross-entropy over the last axis, with PyTorch's `cross_entropy`
 * semantics: integer labels (with `ignoreIndex`) or class probabilities,
 * `labelSmoothing`, class `weights`, and the weighted mean over counted
 * targets. Where PyTorch returns NaN (every target ignored), this returns 0
 * with zero gradients. Computed from `logSoftmax`, so logits of ±1e4 give
 * finite values and gradients.
 *
 * Masked logits: a class masked with `-Infinity` gives PyTorch's finite loss
 * and gradient (`+Infinity` with `labelSmoothing`, which puts weight on a
 * class of probability 0, as in PyTorch), never NaN; an ignored row adds
 * nothing, and its gradient is 0 even when all its logits are `-Infinity`
 * (PyTorch's is NaN there). With probability labels, a class of probability
 * 0 adds 0 whatever its logit (PyTorch: NaN for a `-Infinity` logit).
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
  checkOptionKeys(fn, options, SOFTMAX_CROSS_ENTROPY_KEYS);
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
    // Ignored rows are replaced by zeros before anything is computed from
    // them: a row of all -Infinity logits (a fully masked position) would
    // give NaN in logSoftmax, and NaN survives any mask in the backward pass.
    const counted = soft ? undefined : notEqual(labels, ignoreIndex);
    const safeLogits = counted
      ? where(broadcastTo(expandDims(counted, -1), x.shape), x, zerosLike(x))
      : x;
    const logProbs = logSoftmax(safeLogits);
    const classWeights = weights ? broadcastTo(weights, x.shape) : undefined;
    const zLoss = zLossWeight > 0 ? mul(square(logSumExp(safeLogits, -1)), zLossWeight) : undefined;
    if (soft) {
      const target = smoothing > 0 ? add(mul(labels, 1 - smoothing), smoothing / classes) : labels;
      // A masked class (-Infinity) with target 0 adds 0, not 0 · -Infinity = NaN.
      const weightedTarget = classWeights ? mul(target, classWeights) : target;
      const ce = neg(sum(multiplyNoNan(logProbs, weightedTarget), -1));
      // PyTorch divides probability-target losses by their count, whatever the weights.
      return reduce(zLoss ? add(ce, zLoss) : ce, reduction);
    }
    const safeLabels = where(counted!, labels, zerosLike(labels));
    const targetOneHot = cast(
      reshape(oneHot(reshape(safeLabels, [-1]), classes), x.shape),
      'float32',
    );
    // The target's log-probability, selected rather than multiplied by the
    // one-hot row, whose zeros would meet the -Infinity of masked classes.
    const targetLogProb = sum(multiplyNoNan(logProbs, targetOneHot), -1);
    const targetWeight = weights ? sum(mul(targetOneHot, weights), -1) : undefined;
    const nll = neg(targetWeight ? mul(targetLogProb, targetWeight) : targetLogProb);
    // With smoothing, a masked class of weight > 0 makes the loss +Infinity, as in PyTorch.
    const ce =
      smoothing > 0
        ? add(
            mul(nll, 1 - smoothing),
            mul(
              neg(sum(classWeights ? multiplyNoNan(logProbs, classWeights) : logProbs, -1)),
              smoothing / classes,
            ),
          )
        : nll;
    const zero = zerosLike(ce);
    const ceCounted = where(counted!, ce, zero);
    const zCounted = zLoss ? where(counted!, zLoss, zero) : undefined;
    if (reduction !== 'mean')
      return reduce(zCounted ? add(ceCounted, zCounted) : ceCounted, reduction);
    // PyTorch's weighted mean: divide by the summed class weight of the counted targets.
    const keep = cast(counted!, 'float32');
    const countedWeight = targetWeight ? mul(targetWeight, keep) : keep;
    const meanCe = safeDivide(sum(ceCounted), sum(countedWeight));
    return zCounted ? add(meanCe, safeDivide(sum(zCounted), sum(keep))) : meanCe;
  });
}
