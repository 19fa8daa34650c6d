import { ones, type Tensor, type Tensor1D, zeros } from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import {
  checkDim,
  checkFloatTensor,
  checkInteger,
  checkOptionKeys,
  describeValue,
  optionKeys,
} from '../internal/checks';
import { layerNorm } from './layer-norm';
import { rmsNorm } from './rms-norm';

/** Which normalization a block uses: LayerNorm (with shift) or RMSNorm (scale only). */
export type NormConfig =
  | {
      /** LayerNorm: centre, scale and shift. */
      kind: 'layer';
      /** Default `1e-5`. */
      epsilon?: number;
    }
  | {
      /** RMSNorm: scale by the root mean square. */
      kind: 'rms';
      /** Default `1e-6`. */
      epsilon?: number;
    };

/** Parameters of a norm: `gamma` `[dModel]`, and `beta` for LayerNorm. */
export type NormParams = {
  /** Scale, `[dModel]`. */
  gamma: Tensor1D;
  /** Shift, `[dModel]` (LayerNorm only). */
  beta?: Tensor1D;
};

/** The keys of a {@link NormConfig} (both kinds take the same ones). */
const NORM_CONFIG_KEYS = optionKeys<NormConfig>({ kind: true, epsilon: true });

/** Throws unless `config` is a known norm with no unknown keys. */
export function checkNormConfig(
  fn: string,
  name: string,
  config: unknown,
  known: readonly string[] = NORM_CONFIG_KEYS,
): NormConfig {
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new TfjsBlocksError(fn, name, "{kind: 'layer' | 'rms', epsilon?}", describeValue(config));
  }
  const kind = (config as NormConfig).kind;
  if (kind !== 'layer' && kind !== 'rms') {
    throw new TfjsBlocksError(fn, `${name}.kind`, "'layer' or 'rms'", String(kind));
  }
  checkOptionKeys(fn, config, known, name);
  return config as NormConfig;
}

/**
 * A norm layer on its own: {@link NormConfig} plus its width. (A block's
 * `norm` is a {@link NormConfig}; the block supplies its `dModel`.)
 *
 * @example
 * ```ts
 * const config: NormLayerConfig = { kind: 'rms', epsilon: 1e-6, dModel: 64 };
 * ```
 */
export type NormLayerConfig = NormConfig & {
  /** Width of the normalised (last) axis. */
  dModel: number;
};

const NORM_LAYER_CONFIG_KEYS = [...NORM_CONFIG_KEYS, 'dModel'];

/** Throws unless `config` is a complete {@link NormLayerConfig}; returns its width. */
function checkNormLayerConfig(fn: string, config: NormLayerConfig): number {
  checkNormConfig(fn, 'config', config, NORM_LAYER_CONFIG_KEYS);
  return checkInteger(fn, 'config.dModel', config.dModel, 1);
}

/**
 * Creates a norm's parameters: ones for the scale, zeros for LayerNorm's
 * shift (no seed: nothing is random).
 *
 * @example
 * ```ts
 * const params = initNorm({ kind: 'rms', dModel: 64 });
 * ```
 */
export function initNorm(config: NormLayerConfig): NormParams {
  const dModel = checkNormLayerConfig('initNorm', config);
  const gamma = ones([dModel]) as Tensor1D;
  return config.kind === 'layer' ? { gamma, beta: zeros([dModel]) as Tensor1D } : { gamma };
}

/**
 * Applies the configured norm over the last axis ({@link layerNorm} or {@link rmsNorm}).
 *
 * @example
 * ```ts
 * const config = { kind: 'layer', epsilon: 1e-5, dModel: 64 } as const;
 * const y = applyNorm(config, initNorm(config), tf.randomNormal([2, 10, 64]));
 * ```
 */
export function applyNorm<T extends Tensor>(config: NormLayerConfig, params: NormParams, x: T): T {
  const fn = 'applyNorm';
  const dModel = checkNormLayerConfig(fn, config);
  const gamma = checkFloatTensor(fn, 'params.gamma', params?.gamma, {
    rank: 1,
    layout: '[dModel]',
  });
  checkDim(fn, 'params.gamma.shape[0]', gamma.shape[0]!, dModel, 'config.dModel');
  return normalize(config, params, x);
}

/**
 * The norm of a block, whose config (without a width) was checked with the
 * block's: {@link layerNorm} or {@link rmsNorm} by `config.kind`.
 */
export function normalize<T extends Tensor>(config: NormConfig, params: NormParams, x: T): T {
  if (config.kind === 'layer') {
    if (!params?.beta)
      throw new TfjsBlocksError(
        'applyNorm',
        'params.beta',
        'a [dModel] tensor for LayerNorm',
        'undefined',
      );
    return layerNorm(x, params.gamma, params.beta, { epsilon: config.epsilon });
  }
  return rmsNorm(x, params?.gamma as Tensor, { epsilon: config.epsilon });
}
