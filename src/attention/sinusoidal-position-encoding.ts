import { type Tensor2D, tensor2d } from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import { checkInteger, checkNumber, checkOptionKeys, optionKeys } from '../internal/checks';

/** Options of {@link sinusoidalPositionEncoding}. */
export interface SinusoidalPositionEncodingOptions {
  /** Base of the wavelengths. Default `10000`. */
  base?: number;
}

const SINUSOIDAL_OPTION_KEYS = optionKeys<SinusoidalPositionEncodingOptions>({ base: true });

/**
 * The Transformer's fixed sinusoidal position encoding:
 * `PE[p, 2i] = sin(p / base^(2i/dim))`, `PE[p, 2i+1] = cos(p / base^(2i/dim))`.
 * Add it to token embeddings. Computed in float64, rounded once to float32.
 * See Vaswani et al., https://arxiv.org/abs/1706.03762 (section 3.5).
 *
 * @param length - number of positions.
 * @param dim - model width, even.
 * @returns `[length, dim]`.
 * @example
 * ```ts
 * const pe = sinusoidalPositionEncoding(128, 64);
 * const x = tf.add(tokenEmbeddings, pe); // [batch, 128, 64] + [128, 64]
 * ```
 */
export function sinusoidalPositionEncoding(
  length: number,
  dim: number,
  options: SinusoidalPositionEncodingOptions = {},
): Tensor2D {
  const fn = 'sinusoidalPositionEncoding';
  checkOptionKeys(fn, options, SINUSOIDAL_OPTION_KEYS);
  checkInteger(fn, 'length', length, 1);
  checkInteger(fn, 'dim', dim, 2);
  if (dim % 2 !== 0) throw new TfjsBlocksError(fn, 'dim', 'an even number', String(dim));
  const base = checkNumber(fn, 'options.base', options.base ?? 10000, {
    min: 1,
    minExclusive: true,
  });
  const values = new Float32Array(length * dim);
  for (let p = 0; p < length; p++) {
    for (let i = 0; i < dim / 2; i++) {
      const angle = p / base ** ((2 * i) / dim);
      values[p * dim + 2 * i] = Math.sin(angle);
      values[p * dim + 2 * i + 1] = Math.cos(angle);
    }
  }
  return tensor2d(values, [length, dim]);
}
