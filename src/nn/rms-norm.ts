import { add, mean, mul, rsqrt, scalar, square, type Tensor, tidy } from '@tensorflow/tfjs-core';
import { checkFlag, checkOptionKeys, optionKeys } from '../internal/checks';
import { checkLastAxisNorm } from './norm-checks';

/** Options of {@link rmsNorm}. */
export interface RmsNormOptions {
  /** Added to the mean square before the square root. Default `1e-6` (Llama's). */
  epsilon?: number;
  /**
   * Scale by `1 + gamma` instead of `gamma`: Gemma's RMSNorm, whose weight
   * is stored as an offset from 1 (so a zero `gamma` is the identity scale).
   * Default `false`.
   */
  unitOffset?: boolean;
}

const RMS_NORM_OPTION_KEYS = optionKeys<RmsNormOptions>({ epsilon: true, unitOffset: true });

/**
 * Root-mean-square normalization over the last axis:
 * `y = x / sqrt(mean(x²) + epsilon) * gamma`, as Llama's `RMSNorm` and
 * `torch.nn.RMSNorm`. No centering and no shift. With `unitOffset`,
 * `y = x / sqrt(mean(x²) + epsilon) * (1 + gamma)`, as Gemma's `GemmaRMSNorm`.
 * See Zhang & Sennrich,
 * https://arxiv.org/abs/1910.07467.
 *
 * @param x - `[..., features]`.
 * @param gamma - scale, `[features]`.
 * @returns `[..., features]`.
 * @example
 * ```ts
 * const y = rmsNorm(tf.randomNormal([2, 5, 16]), tf.ones([16]));
 * const gemma = rmsNorm(tf.randomNormal([2, 5, 16]), tf.zeros([16]), { unitOffset: true }); // scale 1 + 0
 * ```
 */
export function rmsNorm<T extends Tensor>(x: T, gamma: Tensor, options: RmsNormOptions = {}): T {
  checkOptionKeys('rmsNorm', options, RMS_NORM_OPTION_KEYS);
  const epsilon = checkLastAxisNorm('rmsNorm', x, { gamma }, options.epsilon ?? 1e-6);
  const unitOffset = checkFlag('rmsNorm', 'options.unitOffset', options.unitOffset, false);
  return rmsNormCore(x, gamma, epsilon, unitOffset);
}

/** {@link rmsNorm} without checks, for blocks whose params were validated at the model's entry. */
export function rmsNormCore<T extends Tensor>(
  x: T,
  gamma: Tensor,
  epsilon: number,
  unitOffset: boolean,
): T {
  return tidy(() => {
    const meanSquare = mean(square(x), -1, true);
    const scale = unitOffset ? add(gamma, scalar(1)) : gamma;
    return mul(mul(x, rsqrt(add(meanSquare, scalar(epsilon)))), scale);
  }) as T;
}
