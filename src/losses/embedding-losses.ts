import {
  abs,
  add,
  div,
  equal,
  matMul,
  maximum,
  minimum,
  mul,
  norm,
  pow,
  range,
  sqrt,
  sub,
  sum,
  type Tensor,
  type Tensor2D,
  tidy,
  transpose,
  where,
  zerosLike,
} from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import {
  checkFlag,
  checkFloatTensor,
  checkNumber,
  checkOptionKeys,
  checkSameShape,
  formatShape,
  optionKeys,
} from '../internal/checks';
import { checkReduction, type ReductionOption, reduce } from './reduction';
import { softmaxCrossEntropy } from './softmax-cross-entropy';

/** Options of {@link cosineEmbeddingLoss}. */
export interface CosineEmbeddingLossOptions extends ReductionOption {
  /** Margin for dissimilar pairs. Default `0`. */
  margin?: number;
}

const COSINE_EMBEDDING_KEYS = optionKeys<CosineEmbeddingLossOptions>({
  reduction: true,
  margin: true,
});

/**
 * Cosine embedding loss, as `torch.nn.functional.cosine_embedding_loss`:
 * `1 - cos(x1, x2)` for pairs labelled 1, `max(0, cos(x1, x2) - margin)` for
 * pairs labelled -1.
 *
 * @param x1 - `[batch, dim]`.
 * @param x2 - `[batch, dim]`.
 * @param y - `[batch]` of 1 or -1 (float32).
 * @example
 * ```ts
 * const loss = cosineEmbeddingLoss(a, b, tf.tensor1d([1, -1, 1]), { margin: 0.2 });
 * ```
 */
export function cosineEmbeddingLoss(
  x1: Tensor,
  x2: Tensor,
  y: Tensor,
  options: CosineEmbeddingLossOptions = {},
): Tensor {
  const fn = 'cosineEmbeddingLoss';
  checkOptionKeys(fn, options, COSINE_EMBEDDING_KEYS);
  const a = checkFloatTensor(fn, 'x1', x1, { rank: 2, layout: '[batch, dim]' });
  checkSameShape(fn, 'x2', x2, 'x1', a);
  const labels = checkFloatTensor(fn, 'y', y, { rank: 1, layout: '[batch] of 1 or -1' });
  if (labels.shape[0] !== a.shape[0]) {
    throw new TfjsBlocksError(
      fn,
      'y',
      `[batch] with batch = ${a.shape[0]}`,
      `shape ${formatShape(labels.shape)}`,
    );
  }
  const margin = checkNumber(fn, 'options.margin', options.margin ?? 0);
  const reduction = checkReduction(fn, options.reduction);
  return tidy(() => {
    // PyTorch's form: eps inside each squared magnitude.
    const eps = 1e-12;
    const dot = sum(mul(a, x2), 1);
    const cos = div(dot, sqrt(mul(add(sum(mul(a, a), 1), eps), add(sum(mul(x2, x2), 1), eps))));
    const similar = sub(1, cos);
    const dissimilar = maximum(sub(cos, margin), 0);
    const loss = where(
      equal(labels, 1),
      similar,
      where(equal(labels, -1), dissimilar, zerosLike(cos)),
    );
    return reduce(loss, reduction);
  });
}

/** Options of {@link tripletMarginLoss}. */
export interface TripletMarginLossOptions extends ReductionOption {
  /** Required gap between the positive and the negative distance. Default `1`. */
  margin?: number;
  /** Norm degree of the distance. Default `2`. */
  p?: number;
  /** Added to the difference before the norm (PyTorch's `eps` of `pairwise_distance`): a number >= 0. Default `1e-6`. */
  epsilon?: number;
  /** Use `min(d(a, n), d(p, n))` as the negative distance. Default `false`. */
  swap?: boolean;
}

const TRIPLET_MARGIN_KEYS = optionKeys<TripletMarginLossOptions>({
  reduction: true,
  margin: true,
  p: true,
  epsilon: true,
  swap: true,
});

function pairwiseDistance(a: Tensor, b: Tensor, p: number, epsilon: number): Tensor {
  const d = add(sub(a, b), epsilon);
  return p === 2 ? norm(d, 'euclidean', -1) : pow(sum(pow(abs(d), p), -1), 1 / p);
}

/**
 * Triplet margin loss, as `torch.nn.functional.triplet_margin_loss`:
 * `max(d(a, p) - d(a, n) + margin, 0)` with `d` the p-norm distance.
 * See Schroff et al., https://arxiv.org/abs/1503.03832.
 *
 * @param anchor - `[batch, dim]`.
 * @param positive - `[batch, dim]`.
 * @param negative - `[batch, dim]`.
 * @example
 * ```ts
 * const loss = tripletMarginLoss(anchor, positive, negative, { margin: 0.5 });
 * ```
 */
export function tripletMarginLoss(
  anchor: Tensor,
  positive: Tensor,
  negative: Tensor,
  options: TripletMarginLossOptions = {},
): Tensor {
  const fn = 'tripletMarginLoss';
  checkOptionKeys(fn, options, TRIPLET_MARGIN_KEYS);
  const swap = checkFlag(fn, 'options.swap', options.swap, false);
  const a = checkFloatTensor(fn, 'anchor', anchor, { rank: 2, layout: '[batch, dim]' });
  checkSameShape(fn, 'positive', positive, 'anchor', a);
  checkSameShape(fn, 'negative', negative, 'anchor', a);
  const margin = checkNumber(fn, 'options.margin', options.margin ?? 1);
  const p = checkNumber(fn, 'options.p', options.p ?? 2, { min: 0, minExclusive: true });
  const epsilon = checkNumber(fn, 'options.epsilon', options.epsilon ?? 1e-6, { min: 0 });
  const reduction = checkReduction(fn, options.reduction);
  return tidy(() => {
    const dPositive = pairwiseDistance(a, positive, p, epsilon);
    let dNegative = pairwiseDistance(a, negative, p, epsilon);
    if (swap) dNegative = minimum(dNegative, pairwiseDistance(positive, negative, p, epsilon));
    return reduce(maximum(add(sub(dPositive, dNegative), margin), 0), reduction);
  });
}

/** Options of {@link infoNceLoss}. */
export interface InfoNceLossOptions {
  /** Divides the similarities. Default `0.07` (CLIP's initial value). */
  temperature?: number;
  /** Average the a→b and b→a losses (CLIP). Default `true`; `false` gives a→b only. */
  symmetric?: boolean;
  /** L2-normalise the embeddings first (cosine similarity). Default `true`. */
  normalize?: boolean;
}

const INFO_NCE_KEYS = optionKeys<InfoNceLossOptions>({
  temperature: true,
  symmetric: true,
  normalize: true,
});

/**
 * InfoNCE / CLIP contrastive loss over a batch of paired embeddings: row
 * `i` of `a` should match row `i` of `b` against every other row, via
 * softmax cross-entropy on `a · bᵀ / temperature`, averaged over both
 * directions. See Radford et al., https://arxiv.org/abs/2103.00020, and
 * van den Oord et al., https://arxiv.org/abs/1807.03748.
 *
 * @param a - `[batch, dim]`.
 * @param b - `[batch, dim]`.
 * @returns a scalar.
 * @example
 * ```ts
 * const loss = infoNceLoss(imageEmbeddings, textEmbeddings, { temperature: 0.07 });
 * ```
 */
export function infoNceLoss(a: Tensor, b: Tensor, options: InfoNceLossOptions = {}): Tensor {
  const fn = 'infoNceLoss';
  checkOptionKeys(fn, options, INFO_NCE_KEYS);
  const symmetric = checkFlag(fn, 'options.symmetric', options.symmetric, true);
  const normalize = checkFlag(fn, 'options.normalize', options.normalize, true);
  const x = checkFloatTensor(fn, 'a', a, { rank: 2, layout: '[batch, dim]' });
  checkSameShape(fn, 'b', b, 'a', x);
  const temperature = checkNumber(fn, 'options.temperature', options.temperature ?? 0.07, {
    min: 0,
    minExclusive: true,
  });
  return tidy(() => {
    const unit = (t: Tensor) => (!normalize ? t : div(t, norm(t, 'euclidean', -1, true)));
    const logits = div(matMul(unit(x) as Tensor2D, unit(b) as Tensor2D, false, true), temperature);
    const labels = range(0, x.shape[0]!, 1, 'int32');
    const forward = softmaxCrossEntropy(logits, labels);
    if (!symmetric) return forward;
    return mul(add(forward, softmaxCrossEntropy(transpose(logits), labels)), 0.5);
  });
}
