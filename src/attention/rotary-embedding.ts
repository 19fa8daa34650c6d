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
  describeChoice,
  describeValue,
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
  /**
   * How the frequencies are rescaled for contexts longer than training
   * (Hugging Face's `rope_scaling`): see {@link RopeScaling}. Default: none.
   */
  scaling?: RopeScaling;
}

/**
 * A rescaling of RoPE's inverse frequencies `θᵢ = base^(-2i / headDim)`, as
 * `transformers` computes them:
 * - `linear` (position interpolation, Chen et al., https://arxiv.org/abs/2306.15595):
 *   every `θᵢ / factor`.
 * - `llama3` (Llama 3.1): wavelengths `2π / θᵢ` longer than
 *   `originalMaxLength / lowFreqFactor` get `θᵢ / factor`, shorter than
 *   `originalMaxLength / highFreqFactor` keep `θᵢ`, and those between are
 *   interpolated smoothly with `s = (originalMaxLength / wavelength −
 *   lowFreqFactor) / (highFreqFactor − lowFreqFactor)`: `(1 − s) θᵢ / factor + s θᵢ`.
 *
 * @example
 * ```ts
 * const scaling: RopeScaling = { kind: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxLength: 8192 };
 * const q = applyRotaryEmbedding(tf.randomNormal([1, 4, 10, 64]) as tf.Tensor4D, { base: 500000, scaling });
 * ```
 */
export type RopeScaling =
  | {
      /** Position interpolation. */
      kind: 'linear';
      /** Divides every frequency (> 0). */
      factor: number;
    }
  | {
      /** Llama 3.1's frequency-dependent scaling. */
      kind: 'llama3';
      /** Divides the low frequencies (> 0). */
      factor: number;
      /** Wavelengths above `originalMaxLength / lowFreqFactor` are scaled (> 0). */
      lowFreqFactor: number;
      /** Wavelengths below `originalMaxLength / highFreqFactor` are kept (> `lowFreqFactor`). */
      highFreqFactor: number;
      /** The context length the model was trained with (whole, >= 1). */
      originalMaxLength: number;
    };

/** The keys of {@link RotaryEmbeddingOptions}, for {@link checkOptionKeys}. */
export const ROTARY_OPTION_KEYS = optionKeys<RotaryEmbeddingOptions>({
  offset: true,
  base: true,
  scaling: true,
});

const LINEAR_SCALING_KEYS = optionKeys<Extract<RopeScaling, { kind: 'linear' }>>({
  kind: true,
  factor: true,
});
const LLAMA3_SCALING_KEYS = optionKeys<Extract<RopeScaling, { kind: 'llama3' }>>({
  kind: true,
  factor: true,
  lowFreqFactor: true,
  highFreqFactor: true,
  originalMaxLength: true,
});

/**
 * Throws unless `scaling` is absent or a complete {@link RopeScaling};
 * `name` is how messages call it (`options.scaling`, `config.block.rope.scaling`).
 */
export function checkRopeScaling(fn: string, name: string, scaling: unknown): void {
  if (scaling === undefined) return;
  if (scaling === null || typeof scaling !== 'object' || Array.isArray(scaling)) {
    throw new TfjsBlocksError(
      fn,
      name,
      "{kind: 'linear' | 'llama3', factor, ...}",
      describeValue(scaling),
    );
  }
  const s = scaling as RopeScaling;
  const kind: unknown = s.kind;
  if (kind !== 'linear' && kind !== 'llama3') {
    throw new TfjsBlocksError(fn, `${name}.kind`, "'linear' or 'llama3'", describeChoice(kind));
  }
  checkOptionKeys(fn, s, s.kind === 'linear' ? LINEAR_SCALING_KEYS : LLAMA3_SCALING_KEYS, name);
  checkNumber(fn, `${name}.factor`, s.factor, { min: 0, minExclusive: true });
  if (s.kind === 'llama3') {
    const low = checkNumber(fn, `${name}.lowFreqFactor`, s.lowFreqFactor, {
      min: 0,
      minExclusive: true,
    });
    // Above lowFreqFactor, so above 0 too: one check of the range.
    const high = checkNumber(fn, `${name}.highFreqFactor`, s.highFreqFactor);
    if (high <= low) {
      throw new TfjsBlocksError(
        fn,
        `${name}.highFreqFactor`,
        `a number > lowFreqFactor (${low})`,
        String(high),
      );
    }
    checkInteger(fn, `${name}.originalMaxLength`, s.originalMaxLength, 1);
  }
}

/**
 * RoPE's inverse frequencies `θᵢ = base^(-2i / headDim)`, `half = headDim / 2`
 * of them, rescaled by `scaling` (see {@link RopeScaling}), in float64.
 */
export function rotaryInverseFrequencies(
  half: number,
  base: number,
  scaling?: RopeScaling,
): number[] {
  const plain = Array.from({ length: half }, (_, i) => base ** (-i / half));
  if (!scaling) return plain;
  const { factor } = scaling;
  if (scaling.kind === 'linear') return plain.map((f) => f / factor);
  const { lowFreqFactor: low, highFreqFactor: high, originalMaxLength: original } = scaling;
  return plain.map((f) => {
    const wavelength = (2 * Math.PI) / f;
    if (wavelength > original / low) return f / factor;
    if (wavelength < original / high) return f;
    const s = (original / wavelength - low) / (high - low);
    return ((1 - s) * f) / factor + s * f;
  });
}

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
  checkRopeScaling(fn, 'options.scaling', options.scaling);
  const headDim = input.shape[3];
  if (headDim % 2 !== 0) {
    throw new TfjsBlocksError(
      fn,
      'x.shape[3]',
      'an even headDim (RoPE rotates pairs)',
      String(headDim),
    );
  }
  return applyRotaryEmbeddingCore(input, { ...options, offset, base });
}

/**
 * {@link applyRotaryEmbedding} without checks: for attention whose RoPE
 * options were validated once at the model's entry (`x` comes from its own
 * projections, with an even `headDim`).
 */
export function applyRotaryEmbeddingCore(
  input: Tensor4D,
  options: RotaryEmbeddingOptions = {},
): Tensor4D {
  const [, , time, headDim] = input.shape;
  const half = headDim / 2;
  return tidy(() => {
    const { cos, sin } = rotaryTables(
      time,
      options.offset ?? 0,
      rotaryInverseFrequencies(half, options.base ?? 10000, options.scaling),
    );
    const x1 = slice(input, [0, 0, 0, 0], [-1, -1, -1, half]);
    const x2 = slice(input, [0, 0, 0, half], [-1, -1, -1, half]);
    const rotated = concat([sub(mul(x1, cos), mul(x2, sin)), add(mul(x2, cos), mul(x1, sin))], 3);
    return rotated as Tensor4D;
  });
}

/** cos and sin of `(offset + t) · θᵢ`, `[time, half]`, computed in float64. */
function rotaryTables(time: number, offset: number, inverseFrequencies: readonly number[]) {
  const half = inverseFrequencies.length;
  const cos = new Float32Array(time * half);
  const sin = new Float32Array(time * half);
  for (let t = 0; t < time; t++) {
    for (let i = 0; i < half; i++) {
      const angle = (offset + t) * inverseFrequencies[i]!;
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
