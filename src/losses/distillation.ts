import { add, div, logSoftmax, mul, softmax, type Tensor, tidy } from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import {
  checkFloatTensor,
  checkNumber,
  checkOptionKeys,
  checkSameShape,
  optionKeys,
} from '../internal/checks';
import { klDivergence } from './kl-divergence';
import { softmaxCrossEntropy } from './softmax-cross-entropy';

/** Options of {@link distillationLoss}. */
export interface DistillationLossOptions {
  /** Softens both distributions: `softmax(logits / T)`. Default `2`. */
  temperature?: number;
  /** Weight of the soft (teacher) term; `1 - alpha` goes to the hard labels. Default `0.5` with labels, `1` without. */
  alpha?: number;
  /** Integer class labels for the hard term (as in {@link softmaxCrossEntropy}). */
  labels?: Tensor;
  /** Ignored label value for the hard term. Default `-100`. */
  ignoreIndex?: number;
}

const DISTILLATION_KEYS = optionKeys<DistillationLossOptions>({
  temperature: true,
  alpha: true,
  labels: true,
  ignoreIndex: true,
});

/**
 * Knowledge-distillation loss (Hinton et al.):
 * `alpha · T² · KL(softmax(teacher / T) ‖ softmax(student / T))` (summed
 * over classes, averaged over examples) plus `(1 - alpha) · CE(student,
 * labels)`. The T² keeps the soft term's gradients on the scale of the hard
 * term's. See https://arxiv.org/abs/1503.02531.
 *
 * @param studentLogits - `[..., classes]`.
 * @param teacherLogits - `[..., classes]`, not differentiated (pass the teacher's output).
 * @returns a scalar.
 * @example
 * ```ts
 * const loss = distillationLoss(student(x), teacher(x), { temperature: 4, alpha: 0.7, labels: y });
 * ```
 */
export function distillationLoss(
  studentLogits: Tensor,
  teacherLogits: Tensor,
  options: DistillationLossOptions = {},
): Tensor {
  const fn = 'distillationLoss';
  checkOptionKeys(fn, options, DISTILLATION_KEYS);
  const s = checkFloatTensor(fn, 'studentLogits', studentLogits, { layout: '[..., classes]' });
  checkSameShape(fn, 'teacherLogits', teacherLogits, 'studentLogits', s);
  const temperature = checkNumber(fn, 'options.temperature', options.temperature ?? 2, {
    min: 0,
    minExclusive: true,
  });
  const alpha = checkNumber(fn, 'options.alpha', options.alpha ?? (options.labels ? 0.5 : 1), {
    min: 0,
    max: 1,
    maxInclusive: true,
  });
  if (alpha < 1 && options.labels === undefined) {
    throw new TfjsBlocksError(
      fn,
      'options.labels',
      `given when options.alpha (${alpha}) < 1 (the hard term needs them)`,
      'undefined',
    );
  }
  const classes = s.shape[s.rank - 1]!;
  return tidy(() => {
    const studentLog = logSoftmax(div(s, temperature));
    const teacherProbs = softmax(div(teacherLogits, temperature));
    const examples = s.size / classes;
    // batchmean over all leading axes: the KL per example.
    const kl = mul(klDivergence(studentLog, teacherProbs, { reduction: 'sum' }), 1 / examples);
    const soft = mul(kl, alpha * temperature * temperature);
    if (alpha === 1 || options.labels === undefined) return soft;
    const hard = softmaxCrossEntropy(s, options.labels, { ignoreIndex: options.ignoreIndex });
    return add(soft, mul(hard, 1 - alpha));
  });
}
