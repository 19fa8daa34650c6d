import {
  add,
  broadcastTo,
  cast,
  clone,
  dispose,
  equal,
  exp,
  expandDims,
  fill,
  gather,
  greaterEqual,
  isFinite as isFiniteTensor,
  less,
  log,
  logicalAnd,
  logSoftmax,
  logSumExp,
  matMul,
  max,
  maximum,
  mul,
  neg,
  notEqual,
  oneHot,
  onesLike,
  range,
  reshape,
  scalar,
  square,
  sub,
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
import { customGradient } from '../internal/custom-gradient';
import { checkClassLabels } from '../internal/label-checks';
import { multiplyNoNan } from './multiply-no-nan';
import {
  checkReduction,
  type Reduction,
  type ReductionOption,
  reduce,
  safeDivide,
} from './reduction';

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
 * Memory: with integer labels (every option) the loss is one custom gradient
 * that keeps, for the backward pass, only the logits and a few numbers per
 * target, never a `[..., classes]` intermediate; the backward recomputes the
 * softmax from the logits, so the peak of `tf.grads` is about four
 * logits-sized tensors in tfjs's accounting (one a view of the logits, one
 * the gradient itself), not twenty to forty. The class `weights` are constants
 * there: no gradient flows to them. Probability labels use plain autodiff.
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
  if (!soft) {
    return integerLabelLoss(x, labels, {
      classes,
      ignoreIndex,
      smoothing,
      zLossWeight,
      weights,
      reduction,
    });
  }
  return tidy(() => {
    // Probability labels: plain autodiff; the labels are [..., classes] already.
    const logProbs = logSoftmax(x);
    const target = smoothing > 0 ? add(mul(labels, 1 - smoothing), smoothing / classes) : labels;
    // A masked class (-Infinity) with target 0 adds 0, not 0 · -Infinity = NaN.
    const weightedTarget = weights ? mul(target, broadcastTo(weights, x.shape)) : target;
    const ce = neg(sum(multiplyNoNan(logProbs, weightedTarget), -1));
    const zLoss = zLossWeight > 0 ? mul(square(logSumExp(x, -1)), zLossWeight) : undefined;
    // PyTorch divides probability-target losses by their count, whatever the weights.
    return reduce(zLoss ? add(ce, zLoss) : ce, reduction);
  });
}

interface IntegerLabelOptions {
  classes: number;
  ignoreIndex: number;
  smoothing: number;
  zLossWeight: number;
  weights: Tensor | undefined;
  reduction: Reduction;
}

/**
 * The integer-label loss as one custom gradient, so that the backward pass
 * keeps no `[..., classes]` intermediate of the forward: only the logits (an
 * input, alive anyway) and a few per-target rows. Per counted target `i` with
 * label `y`, class weights `w` (all 1 without `weights`), `W = Σ_c w_c`,
 * smoothing `s`, `C` classes and `lse = logsumexp(x_i)`:
 *
 *   ce_i = (1 - s) · w_y · (lse - x_iy) + (s / C) · Σ_c w_c · (lse - x_ic)
 *   z_i  = zLossWeight · lse²
 *   loss = Σ_i a_i · ce_i + b_i · z_i
 *
 * where `a_i`, `b_i` carry the reduction (1 for counted targets with 'sum' and
 * 'none'; 1 / the counted weight and 1 / the counted number with 'mean') and
 * are 0 for ignored targets. With `p = softmax(x_i)` and `t` the one-hot label:
 *
 *   ∂loss/∂x_i = p · (a_i · ((1 - s) · w_y + s · W / C) + 2 · zLossWeight · b_i · lse)
 *                - a_i · (1 - s) · w_y · t - a_i · (s / C) · w
 *
 * With smoothing, a masked class (-Infinity) of weight > 0 makes `ce_i`
 * +Infinity, as in PyTorch; its gradient stays finite. The three per-row
 * factors are computed in the forward pass and saved; the backward recomputes
 * `p` from the logits and the saved row shift and `lse - shift`, and frees each
 * `[..., classes]` temporary as soon as the next one exists (at most three
 * buffers at a time, the gradient included).
 */
function integerLabelLoss(x: Tensor, labels: Tensor, options: IntegerLabelOptions): Tensor {
  const { classes, ignoreIndex, smoothing, zLossWeight, weights, reduction } = options;
  const rowShape = x.shape.slice(0, -1);
  const rows = labels.size;
  return tidy(() => {
    const flatLabels = reshape(labels, [rows]);
    const counted = notEqual(flatLabels, ignoreIndex);
    // A label outside [0, classes) reaches here only on WebGPU (see the TSDoc):
    // its one-hot row is all zeros, so its target term (and weight) is 0.
    const isTarget = logicalAnd(
      counted,
      logicalAnd(greaterEqual(flatLabels, 0), less(flatLabels, classes)),
    );
    const safeLabels = where(isTarget, flatLabels, zerosLike(flatLabels));
    const keep = cast(counted, 'float32');
    const targetWeight = weights
      ? mul(gather(weights, safeLabels), cast(isTarget, 'float32'))
      : cast(isTarget, 'float32');
    // PyTorch's weighted mean divides the cross-entropy by the summed weight of
    // the counted targets and the z-loss by their number; 0 / 0 gives 0.
    const ceScale =
      reduction === 'mean' ? safeDivide(keep, sum(weights ? targetWeight : keep)) : keep;
    const zScale = reduction === 'mean' ? safeDivide(keep, sum(keep)) : keep;
    const totalWeight = weights ? sum(weights) : classes;
    const loss = customGradient<[Tensor]>(([logits], save) => {
      const x2 = reshape(logits, [rows, classes]);
      const rowMax = max(x2, -1, true);
      const shift = where(isFiniteTensor(rowMax), rowMax, zerosLike(rowMax)); // [rows, 1]
      const shifted = sub(x2, shift); // [rows, classes]: the one temporary kept through the forward
      const lseShifted = tidy(() => log(sum(exp(shifted), -1))); // lse - shift
      const lse = add(lseShifted, reshape(shift, [rows]));
      // An all -Infinity row has lse = -Infinity: 0 keeps its (ignored) terms finite.
      const lseSafe = where(isFiniteTensor(lse), lse, zerosLike(lse));
      const lseShiftedSafe = where(isFiniteTensor(lseShifted), lseShifted, zerosLike(lseShifted));
      const flatIndex = add(mul(range(0, rows, 1, 'int32'), scalar(classes, 'int32')), safeLabels);
      const targetShifted = gather(reshape(shifted, [-1]), flatIndex);
      let ce = mul(sub(lseShifted, targetShifted), mul(targetWeight, 1 - smoothing));
      if (smoothing > 0) {
        // Σ_c w_c · (lse - x_c) = W · (lse - shift) - Σ_c w_c · (x_c - shift), where a
        // class of weight 0 adds 0 even at -Infinity (as multiplyNoNan does).
        // Every shifted logit is <= 0, so raising those of weight-0 classes to 0
        // (one temporary) zeroes their -Infinity before the product.
        const weighted = weights
          ? tidy(() => {
              const floor = where(
                equal(weights, 0),
                zerosLike(weights),
                fill([classes], -Infinity),
              );
              return reshape(matMul(maximum(shifted, floor), reshape(weights, [classes, 1])), [
                rows,
              ]);
            })
          : sum(shifted, -1);
        ce = add(ce, mul(sub(mul(lseShifted, totalWeight), weighted), smoothing / classes));
      }
      dispose([x2, shifted]);
      const perRow =
        zLossWeight > 0
          ? add(mul(ce, ceScale), mul(mul(square(lse), zLossWeight), zScale))
          : mul(ce, ceScale);
      // An ignored row adds 0, even where its terms are NaN (all logits -Infinity).
      const value = where(counted, perRow, zerosLike(perRow));
      // The per-row factors of the gradient (see above), multiplied by dy in the backward.
      const softmaxFactor = add(
        mul(ceScale, add(mul(targetWeight, 1 - smoothing), mul(totalWeight, smoothing / classes))),
        mul(mul(zScale, lseSafe), 2 * zLossWeight),
      );
      const targetFactor = mul(mul(ceScale, targetWeight), 1 - smoothing);
      const classFactor = mul(ceScale, smoothing / classes);
      const factors = [softmaxFactor, targetFactor, classFactor];
      save(
        weights
          ? [logits, shift, lseShiftedSafe, ...factors, safeLabels, weights]
          : [logits, shift, lseShiftedSafe, ...factors, safeLabels],
      );
      return {
        value,
        gradFunc: (dy: Tensor, saved: Tensor[]) => {
          const [sx, sShift, sLse, sSoftmax, sTarget, sClass, sLabels, sWeights] = saved as [
            Tensor,
            Tensor,
            Tensor,
            Tensor,
            Tensor,
            Tensor,
            Tensor,
            Tensor?,
          ];
          return integerLabelGradient(
            dy,
            sx,
            sShift,
            sLse,
            [sSoftmax, sTarget, sClass],
            sLabels,
            sWeights,
            smoothing,
          );
        },
      };
    });
    const perTarget = loss(x);
    return reduction === 'none' ? reshape(perTarget, rowShape) : sum(perTarget);
  });
}

/**
 * `dy · (p · softmaxFactor - targetFactor · onehot - classFactor · w)`, shaped as
 * the logits, freeing each `[rows, classes]` temporary as soon as it is used.
 */
function integerLabelGradient(
  dy: Tensor,
  logits: Tensor,
  shift: Tensor,
  lseShifted: Tensor,
  factors: [Tensor, Tensor, Tensor],
  labels: Tensor,
  weights: Tensor | undefined,
  smoothing: number,
): Tensor {
  const rows = labels.size;
  const classes = logits.shape[logits.rank - 1]!;
  const [softmaxFactor, targetFactor, classFactor] = tidy(() =>
    factors.map((f) => expandDims(mul(f, dy), -1)),
  ) as [Tensor, Tensor, Tensor]; // [rows, 1] each
  // p = exp((x - shift) - (lse - shift)): subtracting lse in one step would lose
  // its low bits next to logits of 1e4.
  const shifted = tidy(() => sub(reshape(logits, [rows, classes]), shift));
  const centred = sub(shifted, expandDims(lseShifted, -1));
  shifted.dispose();
  const probs = exp(centred);
  centred.dispose();
  let grad = mul(probs, softmaxFactor);
  probs.dispose();
  // grad ← grad - term(), never holding more than grad, the term and the result.
  const subtract = (term: () => Tensor) => {
    const t = term();
    const next = sub(grad, t);
    t.dispose();
    grad.dispose();
    grad = next;
  };
  if (smoothing < 1) {
    subtract(() => {
      // oneHot needs depth >= 2 (with one class the one-hot row is [1]); its
      // float32 output is wrong on wasm (int32 bits), hence int32 and a cast.
      const indices = classes > 1 ? oneHot(labels, classes) : onesLike(grad);
      const target = cast(indices, 'float32');
      indices.dispose();
      const scaled = mul(target, targetFactor);
      target.dispose();
      return scaled;
    });
  }
  if (smoothing > 0) {
    subtract(() =>
      weights ? mul(classFactor, reshape(weights, [1, classes])) : clone(classFactor),
    );
  }
  const out = reshape(grad, logits.shape);
  grad.dispose();
  dispose([softmaxFactor, targetFactor, classFactor]);
  return out;
}
