import {
  add,
  dropout,
  matMul,
  mul,
  randomUniform,
  reshape,
  type Tensor,
  type Tensor1D,
  type Tensor2D,
  tidy,
  zeros,
} from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import {
  checkDim,
  checkFloatTensor,
  checkInteger,
  checkOptionKeys,
  describeValue,
  optionKeys,
} from '../internal/checks';
import {
  checkKernel,
  isQuantizedTensor,
  type QuantizedTensor,
  quantizedMatMul,
} from './quantized-weights';

/**
 * A low-rank update of a linear map (LoRA, Hu et al. 2021,
 * https://arxiv.org/abs/2106.09685): the map computes
 * `x · kernel + bias + scale · (x · a) · b`, as PEFT's
 * `base(x) + lora_B(lora_A(x)) · scaling`.
 */
export type LoraFactors = {
  /** `[inFeatures, rank]`: the transpose of PEFT's `lora_A.weight`. */
  a: Tensor2D;
  /** `[rank, outFeatures]`: the transpose of PEFT's `lora_B.weight`; zeros when new. */
  b: Tensor2D;
  /** `alpha / rank`, or `alpha / √rank` with rsLoRA. */
  scale: number;
  /**
   * Training only: PEFT's `lora_dropout` on the input of `a` (inverted
   * dropout, mask from `seed`). Absent: no dropout.
   */
  dropout?: {
    /** The probability of zeroing an input element, in `[0, 1)`. */
    rate: number;
    /** The integer seed of the mask. */
    seed: number;
  };
};

/** Parameters of an affine map `y = x · kernel + bias`. */
export type LinearParams = {
  /** `[inFeatures, outFeatures]` (Keras layout: the transpose of `torch.nn.Linear.weight`). */
  kernel: Tensor2D;
  /** `[outFeatures]`, absent when the layer has no bias. */
  bias?: Tensor1D;
  /**
   * A LoRA update added to the product (present only on params made by
   * `withLora`): `a` and `b` are trained while `kernel` stays frozen.
   */
  lora?: LoraFactors;
};

/**
 * {@link LinearParams} whose kernel may be weight-only quantized (int8 or
 * int4, a frozen QLoRA-style base): what {@link linear} and `affine` accept.
 * The kernel is dequantized for each product and freed after it.
 */
export type QuantizableLinearParams = Omit<LinearParams, 'kernel'> & {
  /** `[inFeatures, outFeatures]`, float32 or quantized. */
  kernel: Tensor2D | QuantizedTensor;
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
  const { inFeatures, outFeatures, useBias } = checkLinearConfig(fn, config);
  const limit = Math.sqrt(6 / (inFeatures + outFeatures));
  const kernel = randomUniform(
    [inFeatures, outFeatures],
    -limit,
    limit,
    'float32',
    seed,
  ) as Tensor2D;
  return !useBias ? { kernel } : { kernel, bias: zeros([outFeatures]) as Tensor1D };
}

/**
 * Throws unless `config` is a complete {@link LinearConfig}; returns its
 * sizes with the default filled in.
 */
export function checkLinearConfig(
  fn: string,
  config: LinearConfig,
  name = 'config',
): Required<LinearConfig> {
  checkOptionKeys(fn, config, LINEAR_CONFIG_KEYS, name);
  const inFeatures = checkInteger(fn, `${name}.inFeatures`, config?.inFeatures, 1);
  const outFeatures = checkInteger(fn, `${name}.outFeatures`, config.outFeatures, 1);
  if (config.useBias !== undefined && typeof config.useBias !== 'boolean') {
    throw new TfjsBlocksError(fn, `${name}.useBias`, 'a boolean', describeValue(config.useBias));
  }
  return { inFeatures, outFeatures, useBias: config.useBias ?? true };
}

/**
 * Applies an affine map to the last axis: `x · kernel + bias`.
 *
 * `config` is the one {@link initLinear} took: the params must have its
 * shapes (`kernel` `[inFeatures, outFeatures]`, and `bias` `[outFeatures]`
 * exactly when `useBias` is not `false`). Inputs of rank > 2 are flattened
 * to one 2-D product, which keeps tfjs on its fastest matMul path (no
 * batched matMul).
 *
 * @param x - `[..., inFeatures]`.
 * @returns `[..., outFeatures]`.
 * @example
 * ```ts
 * const config = { inFeatures: 16, outFeatures: 32 };
 * const y = linear(config, initLinear(config, 0), tf.randomNormal([2, 5, 16]));
 * ```
 */
export function linear<T extends Tensor>(
  config: LinearConfig,
  params: LinearParams | QuantizableLinearParams,
  x: T,
): T {
  const fn = 'linear';
  const { inFeatures, outFeatures, useBias } = checkLinearConfig(fn, config);
  const input = checkFloatTensor<Tensor>(fn, 'x', x);
  const kernel = checkKernel(fn, 'params.kernel', params?.kernel, '[inFeatures, outFeatures]');
  checkDim(fn, 'params.kernel.shape[0]', kernel[0], inFeatures, 'config.inFeatures');
  checkDim(fn, 'params.kernel.shape[1]', kernel[1], outFeatures, 'config.outFeatures');
  checkDim(fn, 'x.shape[-1]', input.shape[input.rank - 1]!, inFeatures, 'config.inFeatures');
  if (useBias) {
    const bias = checkFloatTensor(fn, 'params.bias', params.bias, {
      rank: 1,
      layout: '[outFeatures] (config.useBias is not false)',
    });
    checkDim(fn, 'params.bias.shape[0]', bias.shape[0]!, outFeatures, 'config.outFeatures');
  } else if (params.bias !== undefined) {
    throw new TfjsBlocksError(
      fn,
      'params.bias',
      'absent (config.useBias is false)',
      describeValue(params.bias),
    );
  }
  if (params.lora !== undefined) checkLoraFactors(fn, params.lora, inFeatures, outFeatures);
  return affine(params, input) as T;
}

/**
 * Throws unless `lora` is {@link LoraFactors} for a `[inFeatures,
 * outFeatures]` kernel: `a` `[inFeatures, r]`, `b` `[r, outFeatures]`, a
 * finite `scale`, and a dropout rate in `[0, 1)` with an integer seed.
 */
export function checkLoraFactors(
  fn: string,
  lora: LoraFactors,
  inFeatures: number,
  outFeatures: number,
  name = 'params.lora',
): void {
  if (lora === null || typeof lora !== 'object') {
    throw new TfjsBlocksError(fn, name, 'LoRA factors { a, b, scale }', describeValue(lora));
  }
  const a = checkFloatTensor<Tensor2D>(fn, `${name}.a`, lora.a, {
    rank: 2,
    layout: '[inFeatures, r]',
  });
  checkDim(fn, `${name}.a.shape[0]`, a.shape[0], inFeatures, 'config.inFeatures');
  const b = checkFloatTensor<Tensor2D>(fn, `${name}.b`, lora.b, {
    rank: 2,
    layout: '[r, outFeatures]',
  });
  checkDim(fn, `${name}.b.shape[0]`, b.shape[0], a.shape[1], `${name}.a.shape[1] (r)`);
  checkDim(fn, `${name}.b.shape[1]`, b.shape[1], outFeatures, 'config.outFeatures');
  // Number.isFinite is false for anything but a finite number.
  if (!Number.isFinite(lora.scale)) {
    throw new TfjsBlocksError(fn, `${name}.scale`, 'a finite number', describeValue(lora.scale));
  }
  if (lora.dropout !== undefined) {
    const { rate, seed } = lora.dropout ?? {};
    if (typeof rate !== 'number' || !(rate >= 0 && rate < 1)) {
      throw new TfjsBlocksError(
        fn,
        `${name}.dropout.rate`,
        'a number in [0, 1)',
        describeValue(rate),
      );
    }
    checkInteger(fn, `${name}.dropout.seed`, seed, Number.MIN_SAFE_INTEGER);
  }
}

/**
 * `x · kernel + bias` without checks: for blocks that checked their params
 * against their own config once (attention's four projections).
 */
export function affine(params: LinearParams | QuantizableLinearParams, x: Tensor): Tensor {
  return tidy(() => {
    const [inFeatures, outFeatures] = params.kernel.shape;
    const flat = x.rank === 2 ? x : reshape(x, [-1, inFeatures]);
    // A quantized kernel is dequantized for this product only (QLoRA's frozen base).
    let y: Tensor = isQuantizedTensor(params.kernel)
      ? quantizedMatMul(flat as Tensor2D, params.kernel)
      : matMul(flat as Tensor2D, params.kernel);
    if (params.bias !== undefined) y = add(y, params.bias);
    const lora = params.lora;
    if (lora !== undefined) {
      const drop = lora.dropout;
      const xa = drop === undefined ? flat : dropout(flat, drop.rate, undefined, drop.seed);
      // Scaled at rank r, where the tensor is small: one [rows, out] tensor
      // fewer on the tape per adapted linear than scaling the product.
      const down = matMul(xa as Tensor2D, lora.a);
      y = add(y, matMul(lora.scale === 1 ? down : mul(down, lora.scale), lora.b));
    }
    return x.rank === 2 ? y : reshape(y, [...x.shape.slice(0, -1), outFeatures]);
  });
}

/**
 * The {@link LinearConfig} that `params` fit, read from their shapes: for
 * internal code that is handed bare params by name (the per-example
 * gradient tape), never for a block that has its own config.
 */
export function linearConfigOf(params: LinearParams): LinearConfig {
  const shape: readonly unknown[] = params?.kernel?.shape ?? [];
  // A kernel that is no 2-D tensor gets a placeholder config, so that
  // linear's own check names params.kernel rather than the config.
  const [inFeatures, outFeatures] = shape.length === 2 ? (shape as [number, number]) : [1, 1];
  return { inFeatures, outFeatures, useBias: params?.bias !== undefined };
}
