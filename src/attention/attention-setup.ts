import {
  add,
  cast,
  fill,
  greater,
  lessEqual,
  logicalAnd,
  logicalNot,
  mul,
  randomUniform,
  range,
  reshape,
  scalar,
  slice,
  sub,
  Tensor,
  type Tensor4D,
  where,
  zeros,
} from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import {
  checkBroadcastsTo,
  checkDim,
  checkFloatTensor,
  checkInteger,
  checkNumber,
  checkOptionKeys,
  optionKeys,
} from '../internal/checks';

/** Options shared by {@link scaledDotProductAttention} and {@link memoryEfficientAttention}. */
export interface AttentionOptions {
  /**
   * Which keys each query may attend to, broadcastable to
   * `[batch, heads, tq, tk]`: a boolean tensor (`true` = may attend) or a
   * float32 additive bias (e.g. ALiBi's, or `-Infinity` to forbid). Combined
   * with `causal` when both are given. Not differentiated.
   */
  mask?: Tensor;
  /**
   * Causal masking: query `i` sees keys `j <= i + tk - tq`, i.e. the queries
   * are the last `tq` positions of the `tk` keys (which also serves decoding
   * with cached keys). Default `false`.
   */
  causal?: boolean;
  /**
   * Sliding-window attention (Mistral): with `causal`, a query at position
   * `i` sees only the last `slidingWindow` keys, `i - slidingWindow < j <= i`
   * (the rule of `transformers`' `sliding_window_causal_mask_function`; the
   * query's own key counts). Requires `causal: true`. Default: no window.
   */
  slidingWindow?: number;
  /** Multiplies `q · kᵀ`. Default `1 / sqrt(headDim)`. */
  scale?: number;
  /**
   * Dropout on the attention weights, in `[0, 1)`. Default `0`. Applied
   * whenever it is non-zero (pass `0` at inference), as in PyTorch's
   * `scaled_dot_product_attention(dropout_p=...)`.
   */
  dropoutRate?: number;
  /** Seed of the dropout mask; the same seed gives the same mask. Default: random. */
  seed?: number;
}

/** The keys of {@link AttentionOptions}, for {@link checkOptionKeys}. */
export const ATTENTION_OPTION_KEYS = optionKeys<AttentionOptions>({
  mask: true,
  causal: true,
  slidingWindow: true,
  scale: true,
  dropoutRate: true,
  seed: true,
});

/** Sizes of one attention call; heads are grouped as `h = kvHead * groups + g`. */
export interface AttentionDims {
  batch: number;
  heads: number;
  kvHeads: number;
  groups: number;
  tq: number;
  tk: number;
  headDim: number;
  valueDim: number;
}

/** Validated inputs and options, ready for either attention path. */
export interface AttentionSetup {
  dims: AttentionDims;
  scale: number;
  causal: boolean;
  /** Keys a causal query sees, its own included; `undefined` = all earlier keys. */
  slidingWindow: number | undefined;
  mask: Tensor | undefined;
  dropoutRate: number;
  seed: number;
}

/**
 * Validates everything an attention call takes; throws {@link TfjsBlocksError}.
 * `knownOptions` lists the option names the calling function accepts.
 */
export function setUpAttention(
  fn: string,
  q: unknown,
  k: unknown,
  v: unknown,
  options: AttentionOptions,
  knownOptions: readonly string[],
): AttentionSetup {
  // Also rejects null and non-objects, naming `options`.
  checkOptionKeys(fn, options, knownOptions);
  const query = checkFloatTensor<Tensor4D>(fn, 'q', q, {
    rank: 4,
    layout: '[batch, heads, tq, headDim]',
  });
  const key = checkFloatTensor<Tensor4D>(fn, 'k', k, {
    rank: 4,
    layout: '[batch, kvHeads, tk, headDim]',
  });
  const value = checkFloatTensor<Tensor4D>(fn, 'v', v, {
    rank: 4,
    layout: '[batch, kvHeads, tk, valueDim]',
  });
  const [batch, heads, tq, headDim] = query.shape;
  const [, kvHeads, tk] = key.shape;
  checkDim(fn, 'k.shape[0]', key.shape[0], batch, 'q.shape[0] (batch)');
  checkDim(fn, 'v.shape[0]', value.shape[0], batch, 'q.shape[0] (batch)');
  checkDim(fn, 'k.shape[3]', key.shape[3], headDim, 'q.shape[3] (headDim)');
  checkDim(fn, 'v.shape[1]', value.shape[1], kvHeads, 'k.shape[1] (kvHeads)');
  checkDim(fn, 'v.shape[2]', value.shape[2], tk, 'k.shape[2] (tk)');
  if (heads % kvHeads !== 0) {
    throw new TfjsBlocksError(
      fn,
      'k.shape[1]',
      `a divisor of q's head count ${heads} (kvHeads for grouped-query attention)`,
      String(kvHeads),
    );
  }
  const dims: AttentionDims = {
    batch,
    heads,
    kvHeads,
    groups: heads / kvHeads,
    tq,
    tk,
    headDim,
    valueDim: value.shape[3],
  };

  const { mask } = options;
  if (mask !== undefined) {
    // A bool mask skips the float check, so null, non-tensors and disposed
    // bool masks are caught here rather than inside tfjs.
    if (!(mask instanceof Tensor) || mask.dtype !== 'bool' || mask.isDisposed) {
      checkFloatTensor(fn, 'options.mask', mask, { layout: '(or a bool tensor)' });
    }
    checkBroadcastsTo(
      fn,
      'options.mask',
      mask.shape,
      [batch, heads, tq, tk],
      '[batch, heads, tq, tk]',
    );
  }
  const causal = options.causal ?? false;
  if (typeof causal !== 'boolean') {
    throw new TfjsBlocksError(fn, 'options.causal', 'a boolean', String(causal));
  }
  const slidingWindow = checkSlidingWindow(fn, options.slidingWindow, causal);
  const scale =
    options.scale === undefined
      ? 1 / Math.sqrt(headDim)
      : checkNumber(fn, 'options.scale', options.scale);
  const dropoutRate = checkNumber(fn, 'options.dropoutRate', options.dropoutRate ?? 0, {
    min: 0,
    max: 1,
  });
  const seed =
    options.seed === undefined ? randomSeed() : checkInteger(fn, 'options.seed', options.seed, 0);
  return { dims, scale, causal, slidingWindow, mask, dropoutRate, seed };
}

/** A dropout seed when none is given: a whole number in `[0, 2^31)`. */
export function randomSeed(): number {
  return Math.floor(Math.random() * 2 ** 31);
}

function maskToBias(mask: Tensor): Tensor {
  if (mask.dtype !== 'bool') return mask;
  return where(logicalNot(mask), fill(mask.shape, -Infinity), zeros(mask.shape));
}

/**
 * The additive bias (0 or -Infinity, plus any float mask) for key columns
 * `[start, end)`, as a rank-4 tensor broadcastable to `[batch, heads, tq,
 * end - start]`; `undefined` when nothing is masked.
 */
export function attentionBias(
  setup: AttentionSetup,
  start: number,
  end: number,
): Tensor | undefined {
  const { mask, causal, slidingWindow, dims } = setup;
  let bias: Tensor | undefined;
  if (mask !== undefined) {
    const m4 =
      mask.rank === 4 ? mask : reshape(mask, [...Array(4 - mask.rank).fill(1), ...mask.shape]);
    const spansBlock = m4.shape[3] === 1 || (start === 0 && end === dims.tk);
    const block = spansBlock ? m4 : slice(m4, [0, 0, 0, start], [-1, -1, -1, end - start]);
    bias = maskToBias(block);
  }
  if (causal) {
    const rows = reshape(range(dims.tk - dims.tq, dims.tk, 1, 'int32'), [dims.tq, 1]);
    const columns = reshape(range(start, end, 1, 'int32'), [1, end - start]);
    // Query i sees key j when j <= i and, with a window w, i - w < j.
    const earlier = lessEqual(columns, rows);
    const allowed =
      slidingWindow === undefined
        ? earlier
        : logicalAnd(earlier, greater(columns, sub(rows, scalar(slidingWindow, 'int32'))));
    const causalBias = reshape(maskToBias(allowed), [1, 1, dims.tq, end - start]);
    bias = bias === undefined ? causalBias : add(bias, causalBias);
  }
  return bias;
}

/**
 * Adds a `[b, h, tq, c]` bias (b ∈ {1, batch}, h ∈ {1, heads}) to grouped
 * scores `[batch, kvHeads, groups * tq, c]` without materialising the bias
 * per group.
 */
export function addBias(scores: Tensor, bias: Tensor | undefined, dims: AttentionDims): Tensor {
  if (bias === undefined) return scores;
  if (dims.groups === 1) return add(scores, bias);
  // The bias may broadcast over queries (bq = 1) and keys (bc = 1): the
  // scores' own sizes come from dims and the scores, not from the bias.
  const [b, h, bq, bc] = bias.shape as [number, number, number, number];
  const { batch, kvHeads, groups, tq } = dims;
  const c = scores.shape[3]!;
  const bias5 =
    h === 1 ? reshape(bias, [b, 1, 1, bq, bc]) : reshape(bias, [b, kvHeads, groups, bq, bc]);
  const sum = add(reshape(scores, [batch, kvHeads, groups, tq, c]), bias5);
  return reshape(sum, [batch, kvHeads, groups * tq, c]);
}

/** `q · scale` viewed as `[batch, kvHeads, groups * tq, headDim]` (no copy of k or v per group). */
export function groupedScaledQuery(q: Tensor, setup: AttentionSetup): Tensor4D {
  const { batch, kvHeads, groups, tq, headDim } = setup.dims;
  return reshape(mul(q, scalar(setup.scale)), [batch, kvHeads, groups * tq, headDim]);
}

/** Keep-mask scaled by `1 / (1 - rate)`, the same for the same `(seed, salt)`. */
export function dropoutKeepScale(
  shape: number[],
  rate: number,
  seed: number,
  salt: number,
): Tensor {
  const uniform = randomUniform(shape, 0, 1, 'float32', `${seed}:${salt}`);
  const keep = cast(lessEqual(scalar(rate), uniform), 'float32');
  return mul(keep, scalar(1 / (1 - rate)));
}

/**
 * Checks an `options.slidingWindow` (absent, or an integer ≥ 1 that needs
 * causal attention); returns it. Shared by the attention set-up and the
 * cached multi-head attention.
 */
export function checkSlidingWindow(
  fn: string,
  slidingWindow: unknown,
  causal: boolean,
): number | undefined {
  if (slidingWindow === undefined) return undefined;
  const window = checkInteger(fn, 'options.slidingWindow', slidingWindow, 1);
  if (!causal) {
    throw new TfjsBlocksError(
      fn,
      'options.slidingWindow',
      'absent unless options.causal is true (a sliding window is causal)',
      String(window),
    );
  }
  return window;
}
