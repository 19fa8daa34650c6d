import { matMul, mul, reshape, type Tensor, type Tensor4D, tidy } from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import { optionKeys } from '../internal/checks';
import {
  ATTENTION_OPTION_KEYS,
  type AttentionOptions,
  type AttentionSetup,
  addBias,
  attentionBias,
  dropoutKeepScale,
  groupedScaledQuery,
  randomSeed,
  setUpAttention,
} from './attention-setup';
import { maskedSoftmax } from './masked-softmax';
import { memoryEfficientCore } from './memory-efficient-attention';

/** Options of {@link scaledDotProductAttention}. */
export interface ScaledDotProductAttentionOptions extends AttentionOptions {
  /**
   * Process keys in blocks of this many with an online softmax (the
   * {@link memoryEfficientAttention} path): peak memory O(tq · chunkSize)
   * instead of O(tq · tk), in the forward and the backward pass. Default:
   * off (the whole score matrix at once).
   */
  chunkSize?: number;
}

/** {@link ScaledDotProductAttentionOptions} plus the request for the weights. */
export interface ReturnWeightsOption {
  /**
   * Also return the attention weights `[batch, heads, tq, tk]` (before
   * dropout). Not available with `chunkSize`, which never forms them.
   */
  returnWeights: true;
}

/** Every option {@link scaledDotProductAttention} accepts, `returnWeights` included. */
const SDPA_OPTION_KEYS = [
  ...ATTENTION_OPTION_KEYS,
  ...optionKeys<Omit<ScaledDotProductAttentionOptions, keyof AttentionOptions>>({
    chunkSize: true,
  }),
  ...optionKeys<ReturnWeightsOption>({ returnWeights: true }),
];

/** Output of {@link scaledDotProductAttention} with `returnWeights: true`. */
export type AttentionWithWeights = {
  /** `[batch, heads, tq, valueDim]`. */
  output: Tensor4D;
  /** `[batch, heads, tq, tk]`, softmax weights before dropout; rows of fully masked queries are zero. */
  weights: Tensor4D;
};

/**
 * Scaled dot-product attention, `softmax(q · kᵀ · scale + mask) · v`.
 *
 * Grouped-query and multi-query attention come from the shapes: when `k`
 * and `v` have fewer heads than `q` (a divisor of them), query head `h` uses
 * key/value head `floor(h / (heads / kvHeads))`, as `repeat_interleave` in
 * PyTorch, without copying `k` or `v`. A query whose keys are all masked
 * gets a zero output (and zero gradients), never NaN.
 *
 * See Vaswani et al., https://arxiv.org/abs/1706.03762; GQA: Ainslie et al.,
 * https://arxiv.org/abs/2305.13245.
 *
 * @param q - `[batch, heads, tq, headDim]`.
 * @param k - `[batch, kvHeads, tk, headDim]`.
 * @param v - `[batch, kvHeads, tk, valueDim]`.
 * @returns `[batch, heads, tq, valueDim]`, or `{output, weights}` with `returnWeights`.
 * @example
 * ```ts
 * const q = tf.randomNormal([1, 8, 16, 32]);
 * const kv = tf.randomNormal([1, 2, 16, 32]); // 2 key/value heads: GQA
 * const out = scaledDotProductAttention(q, kv, kv, { causal: true });
 * ```
 */
export function scaledDotProductAttention(
  q: Tensor4D,
  k: Tensor4D,
  v: Tensor4D,
  options: ScaledDotProductAttentionOptions & ReturnWeightsOption,
): AttentionWithWeights;
export function scaledDotProductAttention(
  q: Tensor4D,
  k: Tensor4D,
  v: Tensor4D,
  options?: ScaledDotProductAttentionOptions & { returnWeights?: false },
): Tensor4D;
export function scaledDotProductAttention(
  q: Tensor4D,
  k: Tensor4D,
  v: Tensor4D,
  options: ScaledDotProductAttentionOptions & { returnWeights?: boolean } = {},
): Tensor4D | AttentionWithWeights {
  const fn = 'scaledDotProductAttention';
  const setup = setUpAttention(fn, q, k, v, options, SDPA_OPTION_KEYS);
  if (options.chunkSize !== undefined) {
    if (options.returnWeights) {
      throw new TfjsBlocksError(
        fn,
        'options.returnWeights',
        'false when options.chunkSize is set (the chunked path never forms the weights)',
        'true',
      );
    }
    return memoryEfficientCore(fn, q, k, v, setup, options.chunkSize);
  }
  const result = tidy(() => plainAttention(q, k, v, setup));
  if (options.returnWeights) return result;
  result.weights.dispose();
  return result.output;
}

/**
 * {@link scaledDotProductAttention}'s plain path without checks, for
 * `multiHeadAttention`'s unchecked core: `q`, `k`, `v` come from projections
 * of a validated block and the options (a mask of the model's own making)
 * were checked at the model's entry. Returns the output only.
 */
export function attentionUnchecked(
  q: Tensor4D,
  k: Tensor4D,
  v: Tensor4D,
  options: AttentionOptions,
): Tensor4D {
  const [batch, heads, tq, headDim] = q.shape;
  const [, kvHeads, tk] = k.shape;
  const dropoutRate = options.dropoutRate ?? 0;
  const setup: AttentionSetup = {
    dims: { batch, heads, kvHeads, groups: heads / kvHeads, tq, tk, headDim, valueDim: v.shape[3] },
    scale: options.scale ?? 1 / Math.sqrt(headDim),
    causal: options.causal ?? false,
    slidingWindow: options.slidingWindow,
    mask: options.mask,
    dropoutRate,
    seed: options.seed ?? randomSeed(),
  };
  return tidy(() => plainAttention(q, k, v, setup).output);
}

function plainAttention(q: Tensor, k: Tensor, v: Tensor, setup: AttentionSetup) {
  const { batch, heads, tq, tk, valueDim } = setup.dims;
  const query = groupedScaledQuery(q, setup); // [B, kvH, G*tq, D]
  const scores = addBias(matMul(query, k, false, true), attentionBias(setup, 0, tk), setup.dims);
  const weights = maskedSoftmax(scores); // [B, kvH, G*tq, tk]
  const dropped =
    setup.dropoutRate > 0
      ? mul(weights, dropoutKeepScale(weights.shape, setup.dropoutRate, setup.seed, 0))
      : weights;
  const output = matMul(dropped, v); // [B, kvH, G*tq, Dv]
  return {
    output: reshape(output, [batch, heads, tq, valueDim]) as Tensor4D,
    // A reshape is a view (no copy): the unchecked core drops it with the tidy.
    weights: reshape(weights, [batch, heads, tq, tk]) as Tensor4D,
  };
}
