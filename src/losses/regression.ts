import { abs, add, minimum, mul, square, sub, type Tensor, tidy } from '@tensorflow/tfjs-core';
import {
  checkFloatTensor,
  checkNumber,
  checkOptionKeys,
  checkSameShape,
  optionKeys,
} from '../internal/checks';
import { checkReduction, type ReductionOption, reduce } from './reduction';

const REDUCTION_KEYS = optionKeys<ReductionOption>({ reduction: true });

function elementwiseLoss(
  fn: string,
  predictions: Tensor,
  targets: Tensor,
  options: ReductionOption,
  f: (difference: Tensor) => Tensor,
  known: readonly string[] = REDUCTION_KEYS,
): Tensor {
  checkOptionKeys(fn, options, known);
  const p = checkFloatTensor(fn, 'predictions', predictions);
  checkSameShape(fn, 'targets', targets, 'predictions', p);
  const reduction = checkReduction(fn, options.reduction);
  return tidy(() => reduce(f(sub(p, targets)), reduction));
}

/**
 * Mean squared error, `(prediction - target)²`, as `torch.nn.functional.mse_loss`.
 *
 * @example
 * ```ts
 * const loss = meanSquaredError(tf.tensor1d([1, 2]), tf.tensor1d([1.5, 1]));
 * ```
 */
export function meanSquaredError(
  predictions: Tensor,
  targets: Tensor,
  options: ReductionOption = {},
): Tensor {
  return elementwiseLoss('meanSquaredError', predictions, targets, options, square);
}

/**
 * Mean absolute error, `|prediction - target|`, as `torch.nn.functional.l1_loss`.
 *
 * @example
 * ```ts
 * const loss = meanAbsoluteError(tf.tensor1d([1, 2]), tf.tensor1d([1.5, 1]));
 * ```
 */
export function meanAbsoluteError(
  predictions: Tensor,
  targets: Tensor,
  options: ReductionOption = {},
): Tensor {
  return elementwiseLoss('meanAbsoluteError', predictions, targets, options, abs);
}

/** Options of {@link huberLoss}. */
export interface HuberLossOptions extends ReductionOption {
  /** Where the loss turns from quadratic to linear. Default `1`. */
  delta?: number;
}

const HUBER_KEYS = optionKeys<HuberLossOptions>({ reduction: true, delta: true });

/**
 * Huber loss, as `torch.nn.functional.huber_loss`: `0.5 d²` for `|d| < δ`,
 * else `δ (|d| - 0.5 δ)`.
 *
 * @example
 * ```ts
 * const loss = huberLoss(tf.tensor1d([0, 3]), tf.tensor1d([0.5, 0]), { delta: 1 });
 * ```
 */
export function huberLoss(
  predictions: Tensor,
  targets: Tensor,
  options: HuberLossOptions = {},
): Tensor {
  const fn = 'huberLoss';
  checkOptionKeys(fn, options, HUBER_KEYS);
  const delta = checkNumber(fn, 'options.delta', options.delta ?? 1, {
    min: 0,
    minExclusive: true,
  });
  // min/sub rather than a where(): comparison ops have no gradient in tfjs.
  return elementwiseLoss(
    fn,
    predictions,
    targets,
    options,
    (d) => {
      const quadratic = minimum(abs(d), delta);
      return add(mul(square(quadratic), 0.5), mul(sub(abs(d), quadratic), delta));
    },
    HUBER_KEYS,
  );
}
