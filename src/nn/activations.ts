import { add, erf, mul, scalar, sigmoid, type Tensor, tidy } from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import { checkFloatTensor, checkOptionKeys, optionKeys } from '../internal/checks';

/** Options of {@link gelu}. */
export interface GeluOptions {
  /**
   * `'none'` (default) computes the exact `x * Φ(x)` with the error function;
   * `'tanh'` the tanh approximation used by GPT-2 and BERT's original code,
   * as in `torch.nn.functional.gelu(x, approximate='tanh')`.
   */
  approximate?: 'none' | 'tanh';
}

const GELU_OPTION_KEYS = optionKeys<GeluOptions>({ approximate: true });

/**
 * Gaussian error linear unit, `x * Φ(x)`, elementwise.
 *
 * Exact: `0.5 x (1 + erf(x / √2))`; tanh approximation:
 * `0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³)))`.
 * See Hendrycks & Gimpel, https://arxiv.org/abs/1606.08415.
 *
 * @param x - float32 tensor of any shape.
 * @returns a tensor of the same shape.
 * @example
 * ```ts
 * const y = gelu(tf.tensor1d([-1, 0, 1]), { approximate: 'tanh' });
 * ```
 */
export function gelu<T extends Tensor>(x: T, options: GeluOptions = {}): T {
  const fn = 'gelu';
  checkOptionKeys(fn, options, GELU_OPTION_KEYS);
  checkFloatTensor(fn, 'x', x);
  const approximate = options.approximate ?? 'none';
  if (approximate !== 'none' && approximate !== 'tanh') {
    throw new TfjsBlocksError(fn, 'options.approximate', "'none' or 'tanh'", String(approximate));
  }
  return geluCore(x, approximate);
}

/** {@link gelu} without checks, for layers whose input was validated at the model's entry. */
export function geluCore<T extends Tensor>(x: T, approximate: 'none' | 'tanh'): T {
  return tidy(() => {
    if (approximate === 'none') {
      return mul(mul(x, scalar(0.5)), add(erf(mul(x, scalar(Math.SQRT1_2))), scalar(1)));
    }
    // 0.5 (1 + tanh(u)) = sigmoid(2u): the same function in fewer ops, and
    // sigmoid has a vectorised kernel on wasm (XNNPACK) where tanh has not.
    const c = 2 * Math.sqrt(2 / Math.PI);
    const u2 = mul(x, add(mul(mul(x, x), scalar(c * 0.044715)), scalar(c)));
    return mul(x, sigmoid(u2));
  }) as T;
}

/**
 * Sigmoid linear unit (swish with β = 1), `x * sigmoid(x)`, elementwise.
 * See Elfwing et al., https://arxiv.org/abs/1702.03118.
 *
 * @param x - float32 tensor of any shape.
 * @returns a tensor of the same shape.
 * @example
 * ```ts
 * const y = silu(tf.tensor1d([-1, 0, 1]));
 * ```
 */
export function silu<T extends Tensor>(x: T): T {
  checkFloatTensor('silu', 'x', x);
  return siluCore(x);
}

/** {@link silu} without checks, for layers whose input was validated at the model's entry. */
export function siluCore<T extends Tensor>(x: T): T {
  return tidy(() => mul(x, sigmoid(x))) as T;
}
