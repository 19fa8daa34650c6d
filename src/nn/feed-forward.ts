import { mul, relu, type Tensor, tidy } from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import { checkInteger, checkOptionKeys, optionKeys } from '../internal/checks';
import { splitSeed } from '../internal/seed';
import { tidyParams } from '../internal/tidy-params';
import { gelu, geluCore, silu, siluCore } from './activations';
import { affine, initLinear, type LinearParams, linear } from './linear';

/** Activation of a feed-forward layer. */
export type FeedForwardActivation = 'gelu' | 'gelu-tanh' | 'relu' | 'silu';

/**
 * A feed-forward layer: a plain MLP `down(act(up(x)))`, or a gated linear
 * unit `down(act(gate(x)) ⊙ up(x))` (SwiGLU with `silu`, GeGLU with `gelu`).
 */
export type FeedForwardConfig = {
  /** Input and output width. */
  dModel: number;
  /** Hidden width. */
  hidden: number;
  /** `'mlp'` (GPT-2, BERT) or `'gated'` (Llama's SwiGLU, GeGLU). */
  kind: 'mlp' | 'gated';
  /** The activation. */
  activation: FeedForwardActivation;
  /** Biases on the projections. Default `true` for `'mlp'`, `false` for `'gated'`. */
  useBias?: boolean;
};

/** Parameters of {@link feedForward}. */
export type FeedForwardParams = {
  /** `[dModel, hidden]`. */
  up: LinearParams;
  /** `[dModel, hidden]`, gated kind only. */
  gate?: LinearParams;
  /** `[hidden, dModel]`. */
  down: LinearParams;
};

/** The keys of a {@link FeedForwardConfig}. */
export const FEED_FORWARD_CONFIG_KEYS = optionKeys<FeedForwardConfig>({
  dModel: true,
  hidden: true,
  kind: true,
  activation: true,
  useBias: true,
});

const ACTIVATIONS: Record<FeedForwardActivation, (x: Tensor) => Tensor> = {
  gelu: (x) => gelu(x),
  'gelu-tanh': (x) => gelu(x, { approximate: 'tanh' }),
  relu: (x) => relu(x),
  silu: (x) => silu(x),
};

/** {@link ACTIVATIONS} without their input checks, for {@link feedForwardCore}. */
const ACTIVATION_CORES: Record<FeedForwardActivation, (x: Tensor) => Tensor> = {
  gelu: (x) => geluCore(x, 'none'),
  'gelu-tanh': (x) => geluCore(x, 'tanh'),
  relu: (x) => relu(x),
  silu: (x) => siluCore(x),
};

/**
 * Throws unless the config is complete and consistent. `known`, when given,
 * lists the keys the config may have (callers whose config carries more
 * fields, such as a mixture of experts, pass their own list).
 */
export function checkFeedForwardConfig(
  fn: string,
  name: string,
  config: FeedForwardConfig,
  known: readonly string[] = FEED_FORWARD_CONFIG_KEYS,
): FeedForwardConfig {
  checkOptionKeys(fn, config, known, name);
  checkInteger(fn, `${name}.dModel`, config?.dModel, 1);
  checkInteger(fn, `${name}.hidden`, config.hidden, 1);
  if (config.kind !== 'mlp' && config.kind !== 'gated') {
    throw new TfjsBlocksError(fn, `${name}.kind`, "'mlp' or 'gated'", String(config.kind));
  }
  // Own keys only: `in` would also accept Object.prototype's ('toString', 'constructor').
  if (!Object.hasOwn(ACTIVATIONS, config.activation)) {
    throw new TfjsBlocksError(
      fn,
      `${name}.activation`,
      Object.keys(ACTIVATIONS)
        .map((a) => `'${a}'`)
        .join(', '),
      String(config.activation),
    );
  }
  return config;
}

/**
 * Creates {@link FeedForwardParams} with Glorot-uniform kernels, reproducible from `seed`.
 *
 * @example
 * ```ts
 * const swiglu = initFeedForward({ dModel: 64, hidden: 172, kind: 'gated', activation: 'silu' }, 0);
 * ```
 */
export function initFeedForward(config: FeedForwardConfig, seed: number): FeedForwardParams {
  const { dModel, hidden, kind } = checkFeedForwardConfig('initFeedForward', 'config', config);
  const useBias = config.useBias ?? kind === 'mlp';
  const [su, sg, sd] = splitSeed(seed, 3) as [number, number, number];
  return tidyParams(() => {
    const up = initLinear({ inFeatures: dModel, outFeatures: hidden, useBias }, su);
    const down = initLinear({ inFeatures: hidden, outFeatures: dModel, useBias }, sd);
    return kind === 'gated'
      ? { up, gate: initLinear({ inFeatures: dModel, outFeatures: hidden, useBias }, sg), down }
      : { up, down };
  });
}

/**
 * The position-wise feed-forward layer of a Transformer block.
 * See Shazeer, https://arxiv.org/abs/2002.05202 for the gated variants.
 *
 * @param x - `[..., dModel]`.
 * @returns `[..., dModel]`.
 * @example
 * ```ts
 * const config = { dModel: 64, hidden: 256, kind: 'mlp', activation: 'gelu' } as const;
 * const y = feedForward(config, initFeedForward(config, 0), tf.randomNormal([2, 10, 64]));
 * ```
 */
export function feedForward<T extends Tensor>(
  config: FeedForwardConfig,
  params: FeedForwardParams,
  x: T,
): T {
  const { dModel, hidden, kind } = checkFeedForwardConfig('feedForward', 'config', config);
  const useBias = config.useBias ?? kind === 'mlp';
  const into = { inFeatures: dModel, outFeatures: hidden, useBias };
  const out = { inFeatures: hidden, outFeatures: dModel, useBias };
  const act = ACTIVATIONS[config.activation];
  return tidy(() => {
    if (config.kind === 'gated') {
      if (!params.gate)
        throw new TfjsBlocksError(
          'feedForward',
          'params.gate',
          'the gate projection of a gated layer',
          'undefined',
        );
      return linear(
        out,
        params.down,
        mul(act(linear(into, params.gate, x)), linear(into, params.up, x)),
      );
    }
    return linear(out, params.down, act(linear(into, params.up, x)));
  }) as T;
}

/**
 * {@link feedForward} without checks: for blocks whose config and params
 * were validated once at the model's entry. The products go through
 * `affine`, so LoRA factors on the projections apply.
 */
export function feedForwardCore<T extends Tensor>(
  config: FeedForwardConfig,
  params: FeedForwardParams,
  x: T,
): T {
  const act = ACTIVATION_CORES[config.activation];
  return tidy(() => {
    if (config.kind === 'gated') {
      const gate = act(affine(params.gate as LinearParams, x));
      return affine(params.down, mul(gate, affine(params.up, x)));
    }
    return affine(params.down, act(affine(params.up, x)));
  }) as T;
}
