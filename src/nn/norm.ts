import { ones, type Tensor, type Tensor1D, zeros } from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import { checkInteger, checkOptionKeys, describeValue, optionKeys } from '../internal/checks';
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

/** Parameters of a norm: `gamma` `[features]`, and `beta` for LayerNorm. */
export type NormParams = {
  /** Scale, `[features]`. */
  gamma: Tensor1D;
  /** Shift, `[features]` (LayerNorm only). */
  beta?: Tensor1D;
};

/** The keys of a {@link NormConfig} (both kinds take the same ones). */
const NORM_CONFIG_KEYS = optionKeys<NormConfig>({ kind: true, epsilon: true });

/** Throws unless `config` is a known norm with no unknown keys. */
export function checkNormConfig(fn: string, name: string, config: unknown): NormConfig {
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new TfjsBlocksError(fn, name, "{kind: 'layer' | 'rms', epsilon?}", describeValue(config));
  }
  const kind = (config as NormConfig).kind;
  if (kind !== 'layer' && kind !== 'rms') {
    throw new TfjsBlocksError(fn, `${name}.kind`, "'layer' or 'rms'", String(kind));
  }
  checkOptionKeys(fn, config, NORM_CONFIG_KEYS, name);
  return config as NormConfig;
}

/**
 * Creates a norm's parameters: ones for the scale, zeros for LayerNorm's shift.
 *
 * @example
 * ```ts
 * const params = initNorm({ kind: 'rms' }, 64);
 * ```
 */
export function initNorm(config: NormConfig, features: number): NormParams {
  checkNormConfig('initNorm', 'config', config);
  checkInteger('initNorm', 'features', features, 1);
  const gamma = ones([features]) as Tensor1D;
  return config.kind === 'layer' ? { gamma, beta: zeros([features]) as Tensor1D } : { gamma };
}

/**
 * Applies the configured norm over the last axis ({@link layerNorm} or {@link rmsNorm}).
 *
 * @example
 * ```ts
 * const y = applyNorm({ kind: 'layer', epsilon: 1e-5 }, initNorm({ kind: 'layer' }, 64), x);
 * ```
 */
export function applyNorm<T extends Tensor>(config: NormConfig, params: NormParams, x: T): T {
  checkNormConfig('applyNorm', 'config', config);
  if (config.kind === 'layer') {
    if (!params?.beta)
      throw new TfjsBlocksError(
        'applyNorm',
        'params.beta',
        'a [features] tensor for LayerNorm',
        'undefined',
      );
    return layerNorm(x, params.gamma, params.beta, { epsilon: config.epsilon });
  }
  return rmsNorm(x, params?.gamma as Tensor, { epsilon: config.epsilon });
}
