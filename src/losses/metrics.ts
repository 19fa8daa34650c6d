import {
  argMax,
  cast,
  equal,
  exp,
  logicalAnd,
  notEqual,
  sum,
  type Tensor,
  tidy,
} from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import { checkFloatTensor, checkInteger, checkOptionKeys, optionKeys } from '../internal/checks';
import { checkClassLabels } from '../internal/label-checks';
import { safeDivide } from './reduction';
import { softmaxCrossEntropy } from './softmax-cross-entropy';

/** Options of {@link tokenAccuracy} and {@link perplexity}. */
export interface TokenMetricOptions {
  /** Labels equal to this are not counted. Default `-100`. */
  ignoreIndex?: number;
}

const TOKEN_METRIC_KEYS = optionKeys<TokenMetricOptions>({ ignoreIndex: true });

function checkLogits(fn: string, logits: Tensor): number {
  const x = checkFloatTensor(fn, 'logits', logits, { layout: '[..., classes]' });
  if (x.rank < 1)
    throw new TfjsBlocksError(fn, 'logits', 'a tensor of rank >= 1 [..., classes]', 'a scalar');
  return x.shape[x.rank - 1]!;
}

/**
 * Fraction of counted targets whose arg-max logit is the label (0 when every
 * target is ignored). Labels are range-checked as in
 * {@link softmaxCrossEntropy}; on WebGPU, unchecked GPU-only labels are not,
 * and an out-of-range one counts as a wrong prediction.
 *
 * @param logits - `[..., classes]`.
 * @param labels - int32 `[...]`.
 * @returns a scalar in [0, 1].
 * @example
 * ```ts
 * const accuracy = tokenAccuracy(logits, labels, { ignoreIndex: -100 }).dataSync()[0];
 * ```
 */
export function tokenAccuracy(
  logits: Tensor,
  labels: Tensor,
  options: TokenMetricOptions = {},
): Tensor {
  const fn = 'tokenAccuracy';
  checkOptionKeys(fn, options, TOKEN_METRIC_KEYS);
  const classes = checkLogits(fn, logits);
  const ignoreIndex = checkInteger(
    fn,
    'options.ignoreIndex',
    options.ignoreIndex ?? -100,
    -Infinity,
  );
  checkClassLabels(fn, 'labels', labels, logits.shape.slice(0, -1), classes, ignoreIndex);
  return tidy(() => {
    const counted = notEqual(labels, ignoreIndex);
    const correct = logicalAnd(counted, equal(argMax(logits, -1), labels));
    return safeDivide(sum(cast(correct, 'float32')), sum(cast(counted, 'float32')));
  });
}

/**
 * Perplexity, `exp(mean cross-entropy)` over the counted targets (1 when
 * every target is ignored). Labels are range-checked as in
 * {@link softmaxCrossEntropy} (with the same WebGPU exception); a check that
 * passed is remembered, so `perplexity` then `tokenAccuracy` on the same
 * labels reads them once.
 *
 * @param logits - `[..., classes]`.
 * @param labels - int32 `[...]`.
 * @returns a scalar.
 * @example
 * ```ts
 * const ppl = perplexity(logits, labels).dataSync()[0];
 * ```
 */
export function perplexity(
  logits: Tensor,
  labels: Tensor,
  options: TokenMetricOptions = {},
): Tensor {
  checkOptionKeys('perplexity', options, TOKEN_METRIC_KEYS);
  checkLogits('perplexity', logits);
  return tidy(() => exp(softmaxCrossEntropy(logits, labels, { ignoreIndex: options.ignoreIndex })));
}
