import { ones, type Tensor, type Tensor1D, zeros } from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import {
  checkDim,
  checkFlag,
  checkFloatTensor,
  checkInteger,
  checkOptionKeys,
  describeValue,
  optionKeys,
} from '../internal/checks';
import { layerNorm, layerNormCore } from './layer-norm';
import { rmsNorm, rmsNormCore } from './rms-norm';

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
      /**
       * Scale by `1 + gamma` (Gemma's RMSNorm: its weight is stored as an
       * offset from 1, and {@link initNorm} makes it zeros). Default `false`.
       */
      unitOffset?: boolean;
    };

/** Parameters of a norm: `gamma` `[dModel]`, and `beta` for LayerNorm. */
export type NormParams = {
  /** Scale, `[dModel]`. */
  gamma: Tensor1D;
  /** Shift, `[dModel]` (LayerNorm only). */
  beta?: Tensor1D;
};

/** The keys of each kind of {@link NormConfig}. */
const NORM_CONFIG_KEYS = {
  layer: optionKeys<Extract<NormConfig, { kind: 'layer' }>>({ kind: true, epsilon: true }),
  rms: optionKeys<Extract<NormConfig, { kind: 'rms' }>>({
    kind: true,
    epsilon: true,
    unitOffset: true,
  }),
} as const;

/**
 * Throws unless `config` is a known norm with no unknown keys (`extra`:
 * keys the caller's record also has, such as `dModel`).
 */
export function checkNormConfig(
  fn: string,
  name: string,
  config: unknown,
  extra: readonly string[] = [],
): NormConfig {
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new TfjsBlocksError(
      fn,
      name,
      "{kind: 'layer' | 'rms', epsilon?, unitOffset? (rms)}",
      describeValue(config),
    );
  }
  const kind = (config as NormConfig).kind;
  if (kind !== 'layer' && kind !== 'rms') {
    throw new TfjsBlocksError(fn, `${name}.kind`, "'layer' or 'rms'", String(kind));
  }
  checkOptionKeys(fn, config, [...NORM_CONFIG_KEYS[kind], ...extra], name);
  if (kind === 'rms') {
    checkFlag(fn, `${name}.unitOffset`, (config as { unitOffset?: unknown }).unitOffset, false);
  }
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

/** Throws unless `config` is a complete {@link NormLayerConfig}; returns its width. */
function checkNormLayerConfig(fn: string, config: NormLayerConfig): number {
  checkNormConfig(fn, 'config', config, ['dModel']);
  return checkInteger(fn, 'config.dModel', config.dModel, 1);
}

/**
 * Creates a norm's parameters: ones for the scale (zeros with `unitOffset`,
 * whose scale is `1 + gamma`), zeros for LayerNorm's shift (no seed:
 * nothing is random).
 *
 * @example
 * ```ts
 * const params = initNorm({ kind: 'rms', dModel: 64 });
 * const gemma = initNorm({ kind: 'rms', dModel: 64, unitOffset: true }); // gamma = zeros
 * ```
 */
export function initNorm(config: NormLayerConfig): NormParams {
  const dModel = checkNormLayerConfig('initNorm', config);
  const unitOffset = config.kind === 'rms' && config.unitOffset === true;
  const gamma = (unitOffset ? zeros([dModel]) : ones([dModel])) as Tensor1D;
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
  return rmsNorm(x, params?.gamma as Tensor, {
    epsilon: config.epsilon,
    unitOffset: config.unitOffset,
  });
}

/**
 * {@link normalize} without checks: for blocks whose norm params were
 * validated once at the model's entry (a LayerNorm's `beta` is present).
 */
export function normalizeCore<T extends Tensor>(config: NormConfig, params: NormParams, x: T): T {
  if (config.kind === 'layer') {
    return layerNormCore(x, params.gamma, params.beta as Tensor, config.epsilon ?? 1e-5);
  }
  return rmsNormCore(x, params.gamma, config.epsilon ?? 1e-6, config.unitOffset === true);
}
