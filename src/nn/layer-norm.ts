import {
  add,
  mean,
  mul,
  rsqrt,
  scalar,
  square,
  sub,
  type Tensor,
  tidy,
} from '@tensorflow/tfjs-core';
import { checkOptionKeys, optionKeys } from '../internal/checks';
import { checkLastAxisNorm } from './norm-checks';

/** Options of {@link layerNorm}. */
export interface LayerNormOptions {
  /** Added to the variance before the square root. Default `1e-5` (PyTorch's). */
  epsilon?: number;
}

const LAYER_NORM_OPTION_KEYS = optionKeys<LayerNormOptions>({ epsilon: true });

/**
 * Layer normalization over the last axis, as `torch.nn.functional.layer_norm`
 * with `normalized_shape = [features]`:
 * `y = (x - mean(x)) / sqrt(var(x) + epsilon) * gamma + beta`, with the
 * biased variance. See Ba et al., https://arxiv.org/abs/1607.06450.
 *
 * @param x - `[..., features]`.
 * @param gamma - scale, `[features]`.
 * @param beta - shift, `[features]`.
 * @returns `[..., features]`.
 * @example
 * ```ts
 * const x = tf.randomNormal([2, 5, 16]);
 * const y = layerNorm(x, tf.ones([16]), tf.zeros([16]), { epsilon: 1e-5 });
 * ```
 */
export function layerNorm<T extends Tensor>(
  x: T,
  gamma: Tensor,
  beta: Tensor,
  options: LayerNormOptions = {},
): T {
  checkOptionKeys('layerNorm', options, LAYER_NORM_OPTION_KEYS);
  const epsilon = checkLastAxisNorm('layerNorm', x, { gamma, beta }, options.epsilon ?? 1e-5);
  return layerNormCore(x, gamma, beta, epsilon);
}

/** {@link layerNorm} without checks, for blocks whose params were validated at the model's entry. */
export function layerNormCore<T extends Tensor>(
  x: T,
  gamma: Tensor,
  beta: Tensor,
  epsilon: number,
): T {
  return tidy(() => {
    const centered = sub(x, mean(x, -1, true));
    const variance = mean(square(centered), -1, true);
    const normalized = mul(centered, rsqrt(add(variance, scalar(epsilon))));
    return add(mul(normalized, gamma), beta);
  }) as T;
}
