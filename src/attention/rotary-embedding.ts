import {
  add,
  concat,
  mul,
  slice,
  sub,
  type Tensor2D,
  type Tensor4D,
  tensor2d,
  tidy,
} from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import {
  checkFloatTensor,
  checkInteger,
  checkNumber,
  checkOptionKeys,
  optionKeys,
} from '../internal/checks';

/** Options of {@link applyRotaryEmbedding}. */
export interface RotaryEmbeddingOptions {
  /**
   * Position of the first token along `time`, for decoding with a KV cache
   * (the new token at position `offset` is rotated as in the full sequence).
   * Default `0`.
   */
  offset?: number;
  /** Base of the rotation frequencies `base^(-2i / headDim)`. Default `10000`. */
  base?: number;
}

/** The keys of {@link RotaryEmbeddingOptions}, for {@link checkOptionKeys}. */
export const ROTARY_OPTION_KEYS = optionKeys<RotaryEmbeddingOptions>({ offset: true, base: true });

/**
 * Rotary position embedding (RoPE) in the "rotate half" layout of
 * GPT-NeoX and Llama: the head's first and second halves form the pairs
 * `(x₁, x₂)` rotated by angle `position · base^(-2i / headDim)`:
 * `[x₁ cos − x₂ sin, x₂ cos + x₁ sin]`. Apply it to queries and keys before
 * attention. See Su et al., https://arxiv.org/abs/2104.09864.
 *
 * @param x - `[batch, heads, time, headDim]` with an even `headDim`.
 * @returns `[batch, heads, time, headDim]`.
 * @example
 * ```ts
 * const q = tf.randomNormal([1, 4, 10, 64]) as tf.Tensor4D;
 * const qRotated = applyRotaryEmbedding(q);
 * // One decoding step: the token at position 10 of the same sequence.
 * const next = applyRotaryEmbedding(tf.randomNormal([1, 4, 1, 64]) as tf.Tensor4D, { offset: 10 });
 * ```
 */
export function applyRotaryEmbedding(x: Tensor4D, options: RotaryEmbeddingOptions = {}): Tensor4D {
  const fn = 'applyRotaryEmbedding';
  checkOptionKeys(fn, options, ROTARY_OPTION_KEYS);
  const input = checkFloatTensor<Tensor4D>(fn, 'x', x, {
    rank: 4,
    layout: '[batch, heads, time, headDim]',
  });
  const offset = checkInteger(fn, 'options.offset', options.offset ?? 0, 0);
  const base = checkNumber(fn, 'options.base', options.base ?? 10000, {
    min: 1,
    minExclusive: true,
  });
  const [, , time, headDim] = input.shape;
  if (headDim % 2 !== 0) {
    throw new TfjsBlocksError(
      fn,
      'x.shape[3]',
      'an even headDim (RoPE rotates pairs)',
      String(headDim),
    );
  }
  const half = headDim / 2;
  return tidy(() => {
    const { cos, sin } = rotaryTables(time, half, offset, base);
    const x1 = slice(input, [0, 0, 0, 0], [-1, -1, -1, half]);
    const x2 = slice(input, [0, 0, 0, half], [-1, -1, -1, half]);
    const rotated = concat([sub(mul(x1, cos), mul(x2, sin)), add(mul(x2, cos), mul(x1, sin))], 3);
    return rotated as Tensor4D;
  });
}

/** cos and sin of `(offset + t) · base^(-i / half)`, `[time, half]`, computed in float64. */
function rotaryTables(time: number, half: number, offset: number, base: number) {
  const cos = new Float32Array(time * half);
  const sin = new Float32Array(time * half);
  for (let t = 0; t < time; t++) {
    for (let i = 0; i < half; i++) {
      const angle = (offset + t) * base ** (-i / half);
      cos[t * half + i] = Math.cos(angle);
      sin[t * half + i] = Math.sin(angle);
    }
  }
  return {
    cos: tensor2d(cos, [time, half]) as Tensor2D,
    sin: tensor2d(sin, [time, half]) as Tensor2D,
  };
}

/**
 * The {@link RotaryEmbeddingOptions} of a `rope` setting (`true` = the
 * defaults, `false`/absent = no RoPE), with its `offset` replaced when one is
 * given: the one place attention options and block configs resolve `rope`.
 *
 * @example
 * ```ts
 * rotaryOptions(true, 7); // { offset: 7 }
 * rotaryOptions({ base: 500000 }); // { base: 500000 }
 * rotaryOptions(false); // undefined
 * ```
 */
export function rotaryOptions(
  rope: boolean | RotaryEmbeddingOptions | undefined,
  offset?: number,
): RotaryEmbeddingOptions | undefined {
  if (!rope) return undefined;
  const options = rope === true ? {} : rope;
  return offset === undefined ? options : { ...options, offset };
}
