import {
  add,
  matMul,
  randomUniform,
  reshape,
  type Tensor,
  type Tensor1D,
  type Tensor2D,
  tidy,
  zeros,
} from '@tensorflow/tfjs-core';
import {
  checkDim,
  checkFloatTensor,
  checkInteger,
  checkOptionKeys,
  optionKeys,
} from '../internal/checks';

/** Parameters of an affine map `y = x · kernel + bias`. */
export type LinearParams = {
  /** `[inFeatures, outFeatures]` (Keras layout: the transpose of `torch.nn.Linear.weight`). */
  kernel: Tensor2D;
  /** `[outFeatures]`, absent when the layer has no bias. */
  bias?: Tensor1D;
};

/** Configuration of {@link initLinear}. */
export interface LinearConfig {
  /** Size of the input's last axis. */
  inFeatures: number;
  /** Size of the output's last axis. */
  outFeatures: number;
  /** Whether to create a bias (zeros). Default `true`. */
  useBias?: boolean;
}

const LINEAR_CONFIG_KEYS = optionKeys<LinearConfig>({
  inFeatures: true,
  outFeatures: true,
  useBias: true,
});

/**
 * Creates {@link LinearParams} with a Glorot-uniform kernel and a zero bias.
 *
 * @param seed - integer seed; the same seed gives the same kernel.
 * @example
 * ```ts
 * const params = initLinear({ inFeatures: 16, outFeatures: 32 }, 0);
 * ```
 */
export function initLinear(config: LinearConfig, seed: number): LinearParams {
  const fn = 'initLinear';
  checkOptionKeys(fn, config, LINEAR_CONFIG_KEYS, 'config');
  const inFeatures = checkInteger(fn, 'config.inFeatures', config?.inFeatures, 1);
  const outFeatures = checkInteger(fn, 'config.outFeatures', config.outFeatures, 1);
  const limit = Math.sqrt(6 / (inFeatures + outFeatures));
  const kernel = randomUniform(
    [inFeatures, outFeatures],
    -limit,
    limit,
    'float32',
    seed,
  ) as Tensor2D;
  return config.useBias === false ? { kernel } : { kernel, bias: zeros([outFeatures]) as Tensor1D };
}

/**
 * Applies an affine map to the last axis: `x · kernel + bias`.
 *
 * Inputs of rank > 2 are flattened to one 2-D product, which keeps tfjs on
 * its fastest matMul path (no batched matMul).
 *
 * @param x - `[..., inFeatures]`.
 * @returns `[..., outFeatures]`.
 * @example
 * ```ts
 * const y = linear(initLinear({ inFeatures: 16, outFeatures: 32 }, 0), tf.randomNormal([2, 5, 16]));
 * ```
 */
export function linear<T extends Tensor>(params: LinearParams, x: T): T {
  const fn = 'linear';
  const input = checkFloatTensor<Tensor>(fn, 'x', x);
  const kernel = checkFloatTensor<Tensor2D>(fn, 'params.kernel', params?.kernel, {
    rank: 2,
    layout: '[inFeatures, outFeatures]',
  });
  const [inFeatures, outFeatures] = kernel.shape;
  checkDim(fn, 'x.shape[-1]', input.shape[input.rank - 1]!, inFeatures, 'params.kernel.shape[0]');
  if (params.bias !== undefined) {
    const bias = checkFloatTensor(fn, 'params.bias', params.bias, {
      rank: 1,
      layout: '[outFeatures]',
    });
    checkDim(fn, 'params.bias.shape[0]', bias.shape[0]!, outFeatures, 'params.kernel.shape[1]');
  }
  return tidy(() => {
    const flat = input.rank === 2 ? input : reshape(input, [-1, inFeatures]);
    let y: Tensor = matMul(flat as Tensor2D, kernel);
    if (params.bias !== undefined) y = add(y, params.bias);
    return input.rank === 2 ? y : reshape(y, [...input.shape.slice(0, -1), outFeatures]);
  }) as T;
}
