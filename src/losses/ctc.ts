import {
  add,
  concat,
  exp,
  fill,
  greaterEqual,
  log,
  matMul,
  max,
  maximum,
  mean,
  mul,
  neg,
  reshape,
  slice,
  sub,
  sum,
  type Tensor,
  type Tensor3D,
  Tensor as TensorClass,
  tensor,
  tidy,
  transpose,
  unstack,
  where,
  zerosLike,
} from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import {
  checkFlag,
  checkFloatTensor,
  checkInteger,
  checkOptionKeys,
  describeValue,
  formatShape,
  optionKeys,
} from '../internal/checks';
import { customGradient } from '../internal/custom-gradient';
import { checkReduction, type ReductionOption } from './reduction';

/** Options of {@link ctcLoss}. */
export interface CtcLossOptions extends ReductionOption {
  /** Index of the blank class. Default `0`. */
  blank?: number;
  /** Replace infinite losses (impossible alignments) and their gradients by 0. Default `false`. */
  zeroInfinity?: boolean;
}

const CTC_KEYS = optionKeys<CtcLossOptions>({ reduction: true, blank: true, zeroInfinity: true });

/** Reads lengths given as numbers or an int32 tensor. */
function readLengths(fn: string, name: string, lengths: unknown, batch: number): number[] {
  const values =
    lengths instanceof TensorClass
      ? lengths.dtype === 'int32' && lengths.rank === 1
        ? Array.from(lengths.dataSync())
        : undefined
      : Array.isArray(lengths)
        ? lengths
        : undefined;
  if (!values || values.length !== batch) {
    throw new TfjsBlocksError(
      fn,
      name,
      `${batch} lengths (number[] or an int32 [batch] tensor)`,
      lengths instanceof TensorClass
        ? `a ${lengths.dtype} tensor of shape ${formatShape(lengths.shape)}`
        : String(lengths),
    );
  }
  values.forEach((v, i) => {
    checkInteger(fn, `${name}[${i}]`, v, 0);
  });
  return values as number[];
}

/** Per batch entry, the label sequence (from padded `[batch, S]` or concatenated targets). */
function readTargets(
  fn: string,
  targets: unknown,
  targetLengths: number[],
  classes: number,
  blank: number,
): number[][] {
  const layout =
    'int32 targets, [batch, maxTargetLength] (padded) or [sum(targetLengths)] (concatenated)';
  if (
    !(targets instanceof TensorClass) ||
    targets.dtype !== 'int32' ||
    (targets.rank !== 1 && targets.rank !== 2)
  ) {
    throw new TfjsBlocksError(fn, 'targets', layout, describeValue(targets));
  }
  const data = Array.from(targets.dataSync());
  const sequences: number[][] = [];
  if (targets.rank === 2) {
    const [rows, width] = targets.shape as [number, number];
    if (rows !== targetLengths.length) {
      throw new TfjsBlocksError(
        fn,
        'targets.shape[0]',
        `the batch size ${targetLengths.length}`,
        String(rows),
      );
    }
    targetLengths.forEach((n, b) => {
      if (n > width)
        throw new TfjsBlocksError(
          fn,
          `targetLengths[${b}]`,
          `at most the targets' width ${width}`,
          String(n),
        );
      sequences.push(data.slice(b * width, b * width + n));
    });
  } else {
    const total = targetLengths.reduce((a, b) => a + b, 0);
    if (total !== data.length) {
      throw new TfjsBlocksError(
        fn,
        'targetLengths',
        `lengths summing to the concatenated targets' size ${data.length}`,
        `a sum of ${total}`,
      );
    }
    let offset = 0;
    for (const n of targetLengths) {
      sequences.push(data.slice(offset, offset + n));
      offset += n;
    }
  }
  sequences.forEach((seq, b) => {
    seq.forEach((label, i) => {
      if (label < 0 || label >= classes || label === blank) {
        throw new TfjsBlocksError(
          fn,
          `targets (sequence ${b}, position ${i})`,
          `a class in [0, ${classes}) other than blank ${blank}`,
          String(label),
        );
      }
    });
  });
  return sequences;
}

/**
 * "Log of zero": finite, so that the recursion needs no comparison (tfjs
 * has no gradient for comparison ops) and no 0 · -Infinity = NaN appears;
 * exp(LOG_ZERO - anything finite) is exactly 0 in float32.
 */
const LOG_ZERO = -1e30;
/** Losses at or above this come from LOG_ZERO paths: impossible alignments. */
const IMPOSSIBLE = 1e29;

/** log(exp(a) + exp(b) + exp(c)): the max term contributes exp(0) = 1, so the log is finite. */
function logSumExp3(a: Tensor, b: Tensor, c: Tensor): Tensor {
  const m = maximum(maximum(a, b), c);
  return add(m, log(add(add(exp(sub(a, m)), exp(sub(b, m))), exp(sub(c, m)))));
}

/**
 * Maps LOG_ZERO-sized losses to +Infinity (or 0 with `zeroInfinity`), with a
 * zero gradient there and the identity elsewhere.
 */
function finalizeLosses(losses: Tensor, zeroInfinity: boolean): Tensor {
  return customGradient<[Tensor]>(([x], save) => {
    const impossible = greaterEqual(x, IMPOSSIBLE);
    save([impossible]);
    return {
      value: where(impossible, fill(x.shape, zeroInfinity ? 0 : Number.POSITIVE_INFINITY), x),
      gradFunc: (dy, [mask]) => where(mask!, zerosLike(dy), dy),
    };
  })(losses);
}

/**
 * Connectionist temporal classification loss with PyTorch's `ctc_loss`
 * semantics: the negative log-likelihood of each target sequence summed
 * over all alignments (forward algorithm in log space), `'mean'` dividing
 * each sequence's loss by its target length before averaging, and
 * `zeroInfinity` for impossible alignments. The gradient comes from
 * autodiff through the recursion. See Graves et al.,
 * https://www.cs.toronto.edu/~graves/icml_2006.pdf.
 *
 * @param logProbs - `[time, batch, classes]` log-probabilities (e.g. `tf.logSoftmax(logits)`).
 * @param targets - int32 `[batch, maxTargetLength]` (padded) or the concatenation of all targets.
 * @param inputLengths - per sequence, frames used (≤ time).
 * @param targetLengths - per sequence, target length.
 * @returns a scalar, or `[batch]` with `reduction: 'none'`.
 * @example
 * ```ts
 * const logProbs = tf.logSoftmax(tf.randomNormal([50, 2, 20])) as tf.Tensor3D; // [time, batch, classes]
 * const targets = tf.tensor2d([[3, 3, 7], [5, 2, 0]], undefined, 'int32');
 * const loss = ctcLoss(logProbs, targets, [50, 40], [3, 2], { blank: 0 });
 * ```
 */
export function ctcLoss(
  logProbs: Tensor3D,
  targets: Tensor,
  inputLengths: number[] | Tensor,
  targetLengths: number[] | Tensor,
  options: CtcLossOptions = {},
): Tensor {
  const fn = 'ctcLoss';
  checkOptionKeys(fn, options, CTC_KEYS);
  const zeroInfinity = checkFlag(fn, 'options.zeroInfinity', options.zeroInfinity, false);
  const lp = checkFloatTensor<Tensor3D>(fn, 'logProbs', logProbs, {
    rank: 3,
    layout: '[time, batch, classes]',
  });
  const [time, batch, classes] = lp.shape;
  const blank = checkInteger(fn, 'options.blank', options.blank ?? 0, 0);
  if (blank >= classes)
    throw new TfjsBlocksError(fn, 'options.blank', `a class index below ${classes}`, String(blank));
  const reduction = checkReduction(fn, options.reduction);
  const inputs = readLengths(fn, 'inputLengths', inputLengths, batch);
  inputs.forEach((n, b) => {
    if (n > time || n < 1)
      throw new TfjsBlocksError(
        fn,
        `inputLengths[${b}]`,
        `in [1, ${time}] (the time axis of logProbs)`,
        String(n),
      );
  });
  const lengths = readLengths(fn, 'targetLengths', targetLengths, batch);
  const sequences = readTargets(fn, targets, lengths, classes, blank);

  // Extended labels: blank, l1, blank, l2, ..., blank (padded with blanks).
  const width = 2 * Math.max(0, ...lengths) + 1;
  const extended = sequences.map((seq) =>
    Array.from({ length: width }, (_, s) =>
      s % 2 === 1 && (s - 1) / 2 < seq.length ? seq[(s - 1) / 2]! : blank,
    ),
  );
  const mask = (f: (b: number, s: number) => boolean) =>
    tensor(
      sequences.flatMap((_, b) => Array.from({ length: width }, (_, s) => f(b, s))),
      [batch, width],
      'bool',
    );
  return tidy(() => {
    const oneHotLabels = tensor(
      extended.flatMap((row) =>
        row.flatMap((label) => Array.from({ length: classes }, (_, c) => (c === label ? 1 : 0))),
      ),
      [batch, width, classes],
    );
    // Per frame and extended position, log p(label): one batched matMul with
    // one-hot rows (no gather, whose gradient the wasm backend lacks). A
    // floor keeps -Infinity inputs from turning 0 · -Infinity into NaN.
    const floored = maximum(lp, LOG_ZERO);
    const emissions = unstack(matMul(transpose(floored, [1, 0, 2]), oneHotLabels, false, true), 1); // time × [B, L]
    const logZero = fill([batch, width], LOG_ZERO);
    const canSkip = mask(
      (b, s) => s >= 2 && s % 2 === 1 && extended[b]![s] !== extended[b]![s - 2],
    );
    let alpha = where(
      mask((b, s) => s === 0 || (s === 1 && lengths[b]! > 0)),
      emissions[0]!,
      logZero,
    );
    for (let t = 1; t < time; t++) {
      const shifted1 = concat(
        [fill([batch, 1], LOG_ZERO), slice(alpha, [0, 0], [batch, width - 1])],
        1,
      );
      const shifted2 =
        width > 2
          ? where(
              canSkip,
              concat([fill([batch, 2], LOG_ZERO), slice(alpha, [0, 0], [batch, width - 2])], 1),
              logZero,
            )
          : logZero;
      const next = add(logSumExp3(alpha, shifted1, shifted2), emissions[t]!);
      // Sequences shorter than `time` keep their alpha from their last frame.
      const active = tensor(
        inputs.map((n) => t < n),
        [batch, 1],
        'bool',
      );
      alpha = where(active, next, alpha);
    }
    const ends = where(
      mask((b, s) => s === 2 * lengths[b]! || s === 2 * lengths[b]! - 1),
      alpha,
      logZero,
    );
    const endMax = max(ends, 1, true);
    const logLikelihood = add(reshape(endMax, [batch]), log(sum(exp(sub(ends, endMax)), 1)));
    const losses = finalizeLosses(neg(logLikelihood), zeroInfinity);
    if (reduction === 'none') return losses;
    if (reduction === 'sum') return sum(losses);
    return mean(mul(losses, tensor(lengths.map((n) => 1 / Math.max(n, 1)))));
  });
}
