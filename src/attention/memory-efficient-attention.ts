import {
  add,
  concat,
  dispose,
  div,
  exp,
  fill,
  greater,
  isFinite as isFiniteTensor,
  log,
  matMul,
  max,
  maximum,
  mul,
  onesLike,
  reshape,
  scalar,
  slice,
  sub,
  sum,
  type Tensor,
  type Tensor4D,
  tidy,
  where,
  zerosLike,
} from '@tensorflow/tfjs-core';
import { checkInteger, optionKeys } from '../internal/checks';
import { customGradient } from '../internal/custom-gradient';
import {
  ATTENTION_OPTION_KEYS,
  type AttentionOptions,
  type AttentionSetup,
  addBias,
  attentionBias,
  dropoutKeepScale,
  groupedScaledQuery,
  setUpAttention,
} from './attention-setup';

/** Options of {@link memoryEfficientAttention}. */
export interface MemoryEfficientAttentionOptions extends AttentionOptions {
  /** Keys per block. Default `128`. */
  chunkSize?: number;
}

const MEMORY_EFFICIENT_OPTION_KEYS = [
  ...ATTENTION_OPTION_KEYS,
  ...optionKeys<Omit<MemoryEfficientAttentionOptions, keyof AttentionOptions>>({ chunkSize: true }),
];

/**
 * Scaled dot-product attention that never forms the `[tq, tk]` score
 * matrix: keys are processed in blocks of `chunkSize` with an online
 * (running max and sum) softmax, and the gradient recomputes each block's
 * scores instead of storing them, so peak memory is O(tq · chunkSize) in
 * training too. Same results as {@link scaledDotProductAttention} within
 * float32 rounding, with the same options (dropout draws its mask per block,
 * so a given seed gives a different mask from the plain path's).
 *
 * See Rabe & Staats, https://arxiv.org/abs/2112.05682, and Dao et al.
 * (FlashAttention), https://arxiv.org/abs/2205.14135.
 *
 * @param q - `[batch, heads, tq, headDim]`.
 * @param k - `[batch, kvHeads, tk, headDim]`.
 * @param v - `[batch, kvHeads, tk, valueDim]`.
 * @returns `[batch, heads, tq, valueDim]`.
 * @example
 * ```ts
 * const q = tf.randomNormal([1, 4, 2048, 64]);
 * const out = memoryEfficientAttention(q, q, q, { causal: true, chunkSize: 256 });
 * ```
 */
export function memoryEfficientAttention(
  q: Tensor4D,
  k: Tensor4D,
  v: Tensor4D,
  options: MemoryEfficientAttentionOptions = {},
): Tensor4D {
  const fn = 'memoryEfficientAttention';
  const setup = setUpAttention(fn, q, k, v, options, MEMORY_EFFICIENT_OPTION_KEYS);
  return memoryEfficientCore(fn, q, k, v, setup, options.chunkSize ?? 128);
}

/** The chunked path behind both public doors; `setup` is already validated. */
export function memoryEfficientCore(
  fn: string,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  setup: AttentionSetup,
  chunkSize: number,
): Tensor4D {
  checkInteger(fn, 'options.chunkSize', chunkSize, 1);
  const { batch, heads, tq, valueDim } = setup.dims;
  return tidy(() => {
    const attend = customGradient<[Tensor, Tensor, Tensor]>(([query, key, value], save) => {
      const { output, logSumExp } = chunkedForward(query, key, value, setup, chunkSize);
      // The backward pass runs after tf.grads has disposed the forward's
      // temporaries, so a mask made inside the loss function must be saved too.
      save(
        setup.mask
          ? [query, key, value, output, logSumExp, setup.mask]
          : [query, key, value, output, logSumExp],
      );
      return {
        value: output,
        gradFunc: (dy: Tensor, saved: Tensor[]) => {
          const [sq, sk, sv, so, sl, mask] = saved as [
            Tensor,
            Tensor,
            Tensor,
            Tensor,
            Tensor,
            Tensor?,
          ];
          const backwardSetup = mask ? { ...setup, mask } : setup;
          return chunkedBackward(dy, sq, sk, sv, so, sl, backwardSetup, chunkSize);
        },
      };
    });
    const out = attend(groupedScaledQuery(q, setup), k, v);
    return reshape(out, [batch, heads, tq, valueDim]) as Tensor4D;
  });
}

function keyBlocks(tk: number, chunkSize: number): Array<[number, number]> {
  const blocks: Array<[number, number]> = [];
  for (let start = 0; start < tk; start += chunkSize) {
    blocks.push([start, Math.min(tk, start + chunkSize)]);
  }
  return blocks;
}

function sliceTime(x: Tensor, start: number, end: number): Tensor {
  return slice(x, [0, 0, start, 0], [-1, -1, end - start, -1]);
}

/** Scores of one key block with the mask added: `[B, kvH, G*tq, end - start]`. */
function blockScores(
  query: Tensor,
  kBlock: Tensor,
  setup: AttentionSetup,
  start: number,
  end: number,
) {
  return addBias(matMul(query, kBlock, false, true), attentionBias(setup, start, end), setup.dims);
}

function chunkedForward(
  query: Tensor,
  key: Tensor,
  value: Tensor,
  setup: AttentionSetup,
  chunkSize: number,
): { output: Tensor; logSumExp: Tensor } {
  // Running row max, row sum of exp(s - max) and unnormalised output; each
  // block's intermediates are freed before the next block starts. They
  // start as scalars: the first block broadcasts them to [B, kvH, G*tq, 1]
  // and [B, kvH, G*tq, Dv].
  let rowMax: Tensor = scalar(-Infinity);
  let rowSum: Tensor = scalar(0);
  let acc: Tensor = scalar(0);
  keyBlocks(setup.dims.tk, chunkSize).forEach(([start, end], blockIndex) => {
    const next = tidy(() => {
      const scores = blockScores(query, sliceTime(key, start, end), setup, start, end);
      const newMax = maximum(rowMax, max(scores, -1, true));
      const shift = where(isFiniteTensor(newMax), newMax, zerosLike(newMax));
      const p = exp(sub(scores, shift));
      const decay = exp(sub(rowMax, shift)); // 0 while the row has seen only masked keys
      const pv =
        setup.dropoutRate > 0
          ? mul(p, dropoutKeepScale(p.shape, setup.dropoutRate, setup.seed, blockIndex))
          : p;
      return {
        rowMax: newMax,
        rowSum: add(mul(decay, rowSum), sum(p, -1, true)),
        acc: add(mul(decay, acc), matMul(pv, sliceTime(value, start, end))),
      };
    });
    dispose([rowMax, rowSum, acc]);
    ({ rowMax, rowSum, acc } = next);
  });
  const result = tidy(() => {
    const seen = greater(rowSum, 0);
    const output = div(acc, where(seen, rowSum, onesLike(rowSum)));
    // Rows with every key masked get +Infinity, so exp(s - L) is 0 for them.
    const logSumExp = where(seen, add(rowMax, log(rowSum)), fill(rowSum.shape, Infinity));
    return { output, logSumExp };
  });
  dispose([rowMax, rowSum, acc]);
  return result;
}

function chunkedBackward(
  dy: Tensor,
  query: Tensor,
  key: Tensor,
  value: Tensor,
  output: Tensor,
  logSumExp: Tensor,
  setup: AttentionSetup,
  chunkSize: number,
): Tensor[] {
  // softmax backward needs rowsum(dP ∘ P) = rowsum(dO ∘ O), known up front.
  const rowDot = sum(mul(dy, output), -1, true);
  let dQuery: Tensor = zerosLike(query);
  const dKeys: Tensor[] = [];
  const dValues: Tensor[] = [];
  keyBlocks(setup.dims.tk, chunkSize).forEach(([start, end], blockIndex) => {
    const next = tidy(() => {
      const kBlock = sliceTime(key, start, end);
      const scores = blockScores(query, kBlock, setup, start, end);
      const p = exp(sub(scores, logSumExp)); // the block's softmax weights
      const keepScale =
        setup.dropoutRate > 0
          ? dropoutKeepScale(p.shape, setup.dropoutRate, setup.seed, blockIndex)
          : undefined;
      const pv = keepScale ? mul(p, keepScale) : p;
      const dpv = matMul(dy, sliceTime(value, start, end), false, true);
      const dp = keepScale ? mul(dpv, keepScale) : dpv;
      const dScores = mul(p, sub(dp, rowDot));
      return {
        dQuery: add(dQuery, matMul(dScores, kBlock)),
        dKey: matMul(dScores, query, true, false),
        dValue: matMul(pv, dy, true, false),
      };
    });
    dQuery.dispose();
    dQuery = next.dQuery;
    dKeys.push(next.dKey);
    dValues.push(next.dValue);
  });
  rowDot.dispose();
  // concat of one block is a clone (the same data, no copy).
  const dKey = concat(dKeys, 2);
  const dValue = concat(dValues, 2);
  dispose([...dKeys, ...dValues]);
  return [dQuery, dKey, dValue];
}
