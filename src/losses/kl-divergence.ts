import {
  add,
  div,
  exp,
  greater,
  log,
  mul,
  onesLike,
  sub,
  sum,
  type Tensor,
  tidy,
  where,
  zerosLike,
} from '@tensorflow/tfjs-core';
import {
  checkFlag,
  checkFloatTensor,
  checkOptionKeys,
  checkSameShape,
  optionKeys,
} from '../internal/checks';
import { customGradient } from '../internal/custom-gradient';
import { multiplyNoNan } from './multiply-no-nan';
import { checkReduction, reduce } from './reduction';

/**
 * `t · log t` with 0 · log 0 = 0 (PyTorch's xlogy), and its gradient
 * `log t + 1` (0 where t = 0): a custom gradient, since the mask is a
 * comparison and tfjs has no gradient for comparisons.
 */
const xLogX = customGradient<[Tensor]>(([t], save) => {
  const positive = greater(t, 0);
  const safe = where(positive, t, onesLike(t));
  save([positive, safe]);
  return {
    value: where(positive, mul(t, log(safe)), zerosLike(t)),
    gradFunc: (dy, [mask, s]) => mul(dy, where(mask!, add(log(s!), 1), zerosLike(dy))),
  };
});

/** Options of {@link klDivergence}. */
export interface KlDivergenceOptions {
  /** `'mean'` (over all elements, default), `'batchmean'` (sum / batch size: the true KL per example), `'sum'` or `'none'`. */
  reduction?: 'mean' | 'batchmean' | 'sum' | 'none';
  /** The target is given as log-probabilities. Default `false`. */
  logTarget?: boolean;
}

const KL_DIVERGENCE_KEYS = optionKeys<KlDivergenceOptions>({ reduction: true, logTarget: true });

/**
 * Kullback–Leibler divergence `KL(target ‖ exp(input))` with PyTorch's
 * `kl_div` semantics: `input` holds log-probabilities, the pointwise loss is
 * `target · (log target - input)` (0 where the target is 0), and
 * `'batchmean'` gives the mathematical KL averaged over the batch.
 * Where the target is 0 the term is 0 even if `input` is `-Infinity` (a
 * masked class: PyTorch gives NaN there), with PyTorch's gradient.
 *
 * @param input - log-probabilities, `[batch, ...]`.
 * @param target - probabilities (or log-probabilities with `logTarget`), the same shape.
 * @example
 * ```ts
 * const kl = klDivergence(tf.logSoftmax(studentLogits), tf.softmax(teacherLogits), { reduction: 'batchmean' });
 * ```
 */
export function klDivergence(
  input: Tensor,
  target: Tensor,
  options: KlDivergenceOptions = {},
): Tensor {
  const fn = 'klDivergence';
  checkOptionKeys(fn, options, KL_DIVERGENCE_KEYS);
  const logTarget = checkFlag(fn, 'options.logTarget', options.logTarget, false);
  const x = checkFloatTensor(fn, 'input', input);
  checkSameShape(fn, 'target', target, 'input', x);
  const reduction = checkReduction(fn, options.reduction, [
    'mean',
    'batchmean',
    'sum',
    'none',
  ] as const);
  return tidy(() => {
    let pointwise: Tensor;
    // multiplyNoNan: where the target is 0, the term is 0 even if the input
    // is -Infinity (a masked class), not 0 · -Infinity = NaN as in PyTorch.
    if (logTarget) {
      pointwise = multiplyNoNan(sub(target, x), exp(target));
    } else {
      pointwise = sub(xLogX(target), multiplyNoNan(x, target));
    }
    if (reduction === 'batchmean')
      return x.rank === 0 ? sum(pointwise) : div(sum(pointwise), x.shape[0]!);
    return reduce(pointwise, reduction);
  });
}
