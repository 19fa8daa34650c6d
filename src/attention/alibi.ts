import {
  abs,
  cast,
  mul,
  neg,
  range,
  reshape,
  sub,
  type Tensor1D,
  type Tensor4D,
  tensor1d,
  tidy,
} from '@tensorflow/tfjs-core';
import { checkInteger } from '../internal/checks';

/** Geometric slopes `2^(-8/n)`, `2^(-16/n)`, … for a power-of-two `n`. */
function powerOfTwoSlopes(n: number): number[] {
  const start = 2 ** (-8 / n);
  return Array.from({ length: n }, (_, i) => start ** (i + 1));
}

function slopesFor(numHeads: number): number[] {
  const closest = 2 ** Math.floor(Math.log2(numHeads));
  const slopes = powerOfTwoSlopes(closest);
  if (closest === numHeads) return slopes;
  // The paper's rule for other head counts: the power-of-two slopes plus
  // every other slope of the next power of two.
  const extra = powerOfTwoSlopes(2 * closest).filter((_, i) => i % 2 === 0);
  return [...slopes, ...extra.slice(0, numHeads - closest)];
}

/**
 * ALiBi's per-head slopes `m_h`: the geometric sequence `2^(-8/n)`,
 * `2^(-16/n)`, …, and for a head count that is not a power of two, the
 * paper's interleaving of the two nearest power-of-two sequences (as in
 * BLOOM and the authors' code). See Press et al.,
 * https://arxiv.org/abs/2108.12409.
 *
 * @returns `[numHeads]`.
 * @example
 * ```ts
 * alibiSlopes(8).print(); // [0.5, 0.25, ..., 0.00390625]
 * ```
 */
export function alibiSlopes(numHeads: number): Tensor1D {
  checkInteger('alibiSlopes', 'numHeads', numHeads, 1);
  return tensor1d(slopesFor(numHeads));
}

/**
 * ALiBi's additive attention bias `-m_h · |i' - j|`, where query `i` sits at
 * position `i' = i + tk - tq` (the last `tq` of `tk` positions, as with
 * `causal` attention and cached decoding). On the causal part this is the
 * paper's `m_h · (j - i')`; beyond it, the symmetric distance serves
 * bidirectional encoders. Pass it as `mask` to
 * {@link scaledDotProductAttention} (together with `causal: true` for a
 * decoder).
 *
 * @returns `[1, numHeads, tq, tk]`, broadcastable over the batch.
 * @example
 * ```ts
 * const bias = alibiBias(8, 16, 16);
 * const out = scaledDotProductAttention(q, k, v, { mask: bias, causal: true });
 * ```
 */
export function alibiBias(numHeads: number, tq: number, tk: number): Tensor4D {
  const fn = 'alibiBias';
  checkInteger(fn, 'numHeads', numHeads, 1);
  checkInteger(fn, 'tq', tq, 1);
  checkInteger(fn, 'tk', tk, 1);
  return tidy(() => {
    const queryPositions = reshape(range(tk - tq, tk, 1, 'int32'), [tq, 1]);
    const keyPositions = reshape(range(0, tk, 1, 'int32'), [1, tk]);
    const distance = cast(abs(sub(keyPositions, queryPositions)), 'float32');
    const slopes = reshape(tensor1d(slopesFor(numHeads)), [1, numHeads, 1, 1]);
    return neg(mul(slopes, reshape(distance, [1, 1, tq, tk]))) as Tensor4D;
  });
}
