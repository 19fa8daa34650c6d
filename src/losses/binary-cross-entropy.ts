import { add, mul, pow, sigmoid, softplus, sub, type Tensor, tidy } from '@tensorflow/tfjs-core';
import {
  checkFloatTensor,
  checkNumber,
  checkOptionKeys,
  checkSameShape,
  optionKeys,
} from '../internal/checks';
import { multiplyNoNan } from './multiply-no-nan';
import { checkReduction, type ReductionOption, reduce } from './reduction';

/** Options of {@link sigmoidBinaryCrossEntropy}. */
export interface SigmoidBinaryCrossEntropyOptions extends ReductionOption {
  /** Weight of the positive term, broadcast over the last axis (e.g. `[classes]`). Default none (1). */
  posWeight?: Tensor;
}

const BINARY_CROSS_ENTROPY_KEYS = optionKeys<SigmoidBinaryCrossEntropyOptions>({
  reduction: true,
  posWeight: true,
});

/**
 * Binary cross-entropy on logits, as `torch.nn.functional.binary_cross_entropy_with_logits`:
 * `posWeight · y · softplus(-x) + (1 - y) · softplus(x)`, written with
 * softplus so logits of ±1e4 stay finite. A logit of ±Infinity gives 0 for
 * the matching target and +Infinity for the other (PyTorch: NaN for both),
 * with PyTorch's gradient (0 or ±1).
 *
 * @param logits - float32, any shape.
 * @param targets - float32 in [0, 1], the shape of `logits`.
 * @example
 * ```ts
 * const loss = sigmoidBinaryCrossEntropy(tf.tensor1d([2, -1]), tf.tensor1d([1, 0]), { posWeight: tf.scalar(3) });
 * ```
 */
export function sigmoidBinaryCrossEntropy(
  logits: Tensor,
  targets: Tensor,
  options: SigmoidBinaryCrossEntropyOptions = {},
): Tensor {
  const fn = 'sigmoidBinaryCrossEntropy';
  checkOptionKeys(fn, options, BINARY_CROSS_ENTROPY_KEYS);
  const x = checkFloatTensor(fn, 'logits', logits);
  checkSameShape(fn, 'targets', targets, 'logits', x);
  const reduction = checkReduction(fn, options.reduction);
  if (options.posWeight !== undefined) checkFloatTensor(fn, 'options.posWeight', options.posWeight);
  return tidy(() => reduce(binaryCrossEntropyTerms(x, targets, options.posWeight), reduction));
}

/**
 * The per-element terms. Each softplus is weighted with {@link multiplyNoNan}:
 * a logit of ±Infinity makes one softplus +Infinity, and its weight (`y` or
 * `1 - y`) may be 0 (a certain, correct prediction), where a plain product
 * gives NaN. PyTorch returns NaN there; the loss is 0 (or +Infinity when the
 * certain prediction is wrong), with PyTorch's gradient.
 */
function binaryCrossEntropyTerms(x: Tensor, y: Tensor, posWeight?: Tensor): Tensor {
  const positive = multiplyNoNan(softplus(mul(x, -1)), y);
  const negative = multiplyNoNan(softplus(x), sub(1, y));
  return add(posWeight ? mul(positive, posWeight) : positive, negative);
}

/** Options of {@link focalLoss}. */
export interface FocalLossOptions extends ReductionOption {
  /** Weight of the positive class, `α·y + (1-α)(1-y)`; a negative value turns it off. Default `0.25`. */
  alpha?: number;
  /** Focusing exponent on `(1 - p_t)`. Default `2`. */
  gamma?: number;
}

const FOCAL_LOSS_KEYS = optionKeys<FocalLossOptions>({ reduction: true, alpha: true, gamma: true });

/**
 * Sigmoid focal loss for dense detection, as torchvision's
 * `sigmoid_focal_loss`: binary cross-entropy scaled by `(1 - p_t)^γ` and
 * `α_t`, so easy examples count less. See Lin et al., https://arxiv.org/abs/1708.02002.
 *
 * @param logits - float32, any shape.
 * @param targets - float32 in [0, 1], the shape of `logits`.
 * @example
 * ```ts
 * const loss = focalLoss(tf.tensor1d([3, -2, 0.5]), tf.tensor1d([1, 0, 1]), { alpha: 0.25, gamma: 2 });
 * ```
 */
export function focalLoss(logits: Tensor, targets: Tensor, options: FocalLossOptions = {}): Tensor {
  const fn = 'focalLoss';
  checkOptionKeys(fn, options, FOCAL_LOSS_KEYS);
  const x = checkFloatTensor(fn, 'logits', logits);
  checkSameShape(fn, 'targets', targets, 'logits', x);
  const reduction = checkReduction(fn, options.reduction);
  const alpha = checkNumber(fn, 'options.alpha', options.alpha ?? 0.25, {
    max: 1,
    maxInclusive: true,
  });
  const gamma = checkNumber(fn, 'options.gamma', options.gamma ?? 2, { min: 0 });
  return tidy(() => {
    const p = sigmoid(x);
    const ce = binaryCrossEntropyTerms(x, targets);
    const pT = add(mul(p, targets), mul(sub(1, p), sub(1, targets)));
    let loss = gamma === 0 ? ce : mul(ce, pow(sub(1, pT), gamma));
    if (alpha >= 0) loss = mul(loss, add(mul(targets, alpha), mul(sub(1, targets), 1 - alpha)));
    return reduce(loss, reduction);
  });
}
