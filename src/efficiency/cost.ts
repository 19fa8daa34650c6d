import type { Tensor } from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import { checkInteger, checkNumber, checkOptionKeys, optionKeys } from '../internal/checks';
import { DECODER_LM_CONFIG_KEYS, type DecoderLmConfig } from '../models/decoder-lm';
import { visitLeaves } from '../tree/walk';

/** Parameter counts of a decoder-only model, by part. */
export type ParameterCounts = {
  /** Everything. */
  total: number;
  /** Token embedding table. */
  embedding: number;
  /** Learned position table (0 with RoPE or ALiBi). */
  positions: number;
  /** Attention projections (weights and biases) over all layers. */
  attention: number;
  /** Feed-forward layers over all layers. */
  feedForward: number;
  /** Norm scales and shifts, the final norm included. */
  norms: number;
  /** Output projection (0 when tied to the embedding). */
  head: number;
  /** Kaplan et al.'s N: the weight matrices of attention and feed-forward, `total` minus embeddings, biases and norms. */
  nonEmbedding: number;
};

/** FLOPs per token (a multiply-add counts 2). */
export type FlopCounts = {
  /** Forward pass: dense matMuls (projections, feed-forward, output head) plus attention. */
  forward: number;
  /** Of `forward`: the projections, feed-forward and output head. */
  dense: number;
  /** Of `forward`: the attention products `q·kᵀ` and `p·v` over the whole context (`4 · layers · context · dAttn`). */
  attention: number;
  /** Training (forward + backward, whose matMuls cost twice the forward's): `3 · forward`. */
  training: number;
};

/** Memory a model needs besides its parameters, in bytes. */
export type MemoryCounts = {
  /** Parameters at the given precision. */
  parameterBytes: number;
  /** Key/value cache per token of context and per sequence (`2 · layers · kvHeads · headDim · bytes`). */
  kvCacheBytesPerToken: number;
  /** Key/value cache for the whole context and batch. */
  kvCacheBytes: number;
  /**
   * Activations kept for the backward pass by one training step, from
   * Korthikanti et al.'s per-layer count `s·b·h·(34 + 5·a·s/h)` for 16-bit
   * training (scaled by `bytesPerElement / 2`); an estimate, not a measurement.
   */
  trainingActivationBytes: number;
};

/** Everything {@link modelCost} reports. */
export type ModelCost = {
  /** Parameters by part. */
  parameters: ParameterCounts;
  /** FLOPs per token at the given context. */
  flopsPerToken: FlopCounts;
  /** Memory at the given context and batch. */
  memory: MemoryCounts;
};

/** Options of {@link modelCost}. */
export type ModelCostOptions = {
  /** Tokens of context attended to (default: the config's `maxLength`). */
  context?: number;
  /** Sequences per step, for memory. Default `1`. */
  batch?: number;
  /** Bytes per element for memory. Default `4` (float32). */
  bytesPerElement?: number;
};

/**
 * Parameters, FLOPs per token (inference and training, attention apart) and
 * memory of a decoder-only model config, counted exactly from its shapes
 * (biases and norms included). GPT-2 small gives 124,439,808 parameters.
 * `training` is `6N + 12 · layers · context · dAttn` plus the output head's
 * `6 · d · vocab`: attention over the full context, `q·kᵀ` and `p·v`, as in
 * PaLM's Appendix B (Chowdhery et al., https://arxiv.org/abs/2204.02311).
 * Kaplan et al.'s Eq. 2.2 (https://arxiv.org/abs/2001.08361) counts `q·kᵀ`
 * alone, `2 · n_layer · n_ctx · d_attn` per forward token.
 *
 * @example
 * ```ts
 * const cost = modelCost(gpt2Config({ vocabSize: 50257, maxLength: 1024, dModel: 768, numLayers: 12, numHeads: 12 }));
 * cost.parameters.total; // 124439808
 * ```
 */
export function modelCost(config: DecoderLmConfig, options: ModelCostOptions = {}): ModelCost {
  const fn = 'modelCost';
  checkOptionKeys(fn, config, DECODER_LM_CONFIG_KEYS, 'config');
  checkOptionKeys(fn, options, MODEL_COST_OPTION_KEYS);
  const vocab = checkInteger(fn, 'config.vocabSize', config?.vocabSize, 1);
  const layers = checkInteger(fn, 'config.numLayers', config.numLayers, 1);
  const { block } = config;
  const d = checkInteger(fn, 'config.block.dModel', block?.dModel, 1);
  const heads = checkInteger(fn, 'config.block.numHeads', block.numHeads, 1);
  const kvHeads = block.numKvHeads ?? heads;
  const headDim = checkInteger(fn, 'config.block.headDim', block.headDim ?? d / heads, 1);
  const hidden = block.feedForward.hidden;
  const context = checkInteger(fn, 'options.context', options.context ?? config.maxLength, 1);
  const batch = checkInteger(fn, 'options.batch', options.batch ?? 1, 1);
  const bytes = checkNumber(fn, 'options.bytesPerElement', options.bytesPerElement ?? 4, {
    min: 0,
    minExclusive: true,
  });

  const attnBias = block.attentionBias ?? true;
  const qOut = heads * headDim;
  const kvOut = kvHeads * headDim;
  const attentionWeights = d * qOut + 2 * d * kvOut + qOut * d;
  const attentionBiases = attnBias ? qOut + 2 * kvOut + d : 0;
  const gated = block.feedForward.kind === 'gated';
  const ffBias = block.feedForward.useBias ?? !gated;
  const feedForwardWeights = (gated ? 3 : 2) * d * hidden;
  const feedForwardBiases = ffBias ? (gated ? 2 : 1) * hidden + d : 0;
  const normSize = block.norm.kind === 'layer' ? 2 * d : d;

  const parameters: ParameterCounts = {
    embedding: vocab * d,
    positions: config.positions === 'learned' ? config.maxLength * d : 0,
    attention: layers * (attentionWeights + attentionBiases),
    feedForward: layers * (feedForwardWeights + feedForwardBiases),
    norms: (2 * layers + 1) * normSize,
    head: config.tieEmbeddings ? 0 : d * vocab,
    nonEmbedding: layers * (attentionWeights + feedForwardWeights),
    total: 0,
  };
  parameters.total =
    parameters.embedding +
    parameters.positions +
    parameters.attention +
    parameters.feedForward +
    parameters.norms +
    parameters.head;

  const dense = 2 * parameters.nonEmbedding + 2 * d * vocab;
  const attention = 4 * layers * context * qOut;
  const forward = dense + attention;
  const kvCacheBytesPerToken = 2 * layers * kvOut * bytes;
  return {
    parameters,
    flopsPerToken: { forward, dense, attention, training: 3 * forward },
    memory: {
      parameterBytes: parameters.total * bytes,
      kvCacheBytesPerToken,
      kvCacheBytes: kvCacheBytesPerToken * context * batch,
      trainingActivationBytes:
        layers * context * batch * d * (34 + (5 * heads * context) / d) * (bytes / 2),
    },
  };
}

/**
 * Parameters of a built model: the total size of every tensor in a param
 * record (numbers such as head counts are not parameters).
 *
 * @example
 * ```ts
 * countParameters(initDecoderLm(config, 0)); // equals modelCost(config).parameters.total
 * ```
 */
export function countParameters(params: unknown): number {
  let count = 0;
  visitLeaves(
    params,
    (leaf) => {
      count += (leaf as Tensor).size;
    },
    { fn: 'countParameters', argument: 'params' },
  );
  return count;
}

const MODEL_COST_OPTION_KEYS = optionKeys<ModelCostOptions>({
  context: true,
  batch: true,
  bytesPerElement: true,
});

/** How fast the hardware runs, for {@link energyEstimate}: measured, or from its peak. */
export type ThroughputSource =
  | {
      /** Seconds one training or inference step took. */
      stepSeconds: number;
      /** Tokens that step processed. */
      tokensPerStep: number;
    }
  | {
      /** FLOPs per token (e.g. `modelCost(...).flopsPerToken.training`). */
      flopsPerToken: number;
      /** The device's peak FLOP/s. */
      peakFlops: number;
      /** Fraction of the peak achieved (model FLOPs utilization). Default `0.4`. */
      utilization?: number;
    };

/** Options of {@link energyEstimate}. */
export type EnergyOptions = {
  /** Average power draw of the device while running, in watts. */
  watts: number;
  /** Grid carbon intensity in grams of CO₂ per kWh. Default `475` (the IEA's 2019 world average). */
  gridGramsPerKwh?: number;
  /** Data-centre overhead (PUE). Default `1`. */
  powerUsageEffectiveness?: number;
};

const ENERGY_OPTION_KEYS = optionKeys<EnergyOptions>({
  watts: true,
  gridGramsPerKwh: true,
  powerUsageEffectiveness: true,
});

/** The keys of each kind of {@link ThroughputSource}: which ones are known depends on the kind. */
const MEASURED_SOURCE_KEYS = optionKeys<Extract<ThroughputSource, { stepSeconds: number }>>({
  stepSeconds: true,
  tokensPerStep: true,
});
const PEAK_SOURCE_KEYS = optionKeys<Extract<ThroughputSource, { peakFlops: number }>>({
  flopsPerToken: true,
  peakFlops: true,
  utilization: true,
});

/** What {@link energyEstimate} returns, per 1,000 tokens. */
export type EnergyEstimate = {
  /** Seconds per 1,000 tokens. */
  secondsPer1000Tokens: number;
  /** Joules per 1,000 tokens. */
  joulesPer1000Tokens: number;
  /** kWh per 1,000 tokens. */
  kwhPer1000Tokens: number;
  /** Grams of CO₂ per 1,000 tokens. */
  co2GramsPer1000Tokens: number;
};

/**
 * Grams of CO₂ per kWh used when none is given: the IEA's 2019 world average (as `energyEstimate`).
 *
 * @example
 * ```ts
 * const kgPerKwh = DEFAULT_GRID_INTENSITY / 1000; // 0.475 kg of CO₂ per kWh
 * ```
 */
export const DEFAULT_GRID_INTENSITY = 475;

/**
 * Energy and CO₂ per 1,000 tokens, from a measured step time or from FLOPs
 * and a device's peak: time × power × PUE, and kWh × grid intensity. See
 * Strubell et al., https://arxiv.org/abs/1906.02243, and Patterson et al.,
 * https://arxiv.org/abs/2104.10350.
 *
 * @example
 * ```ts
 * const { flopsPerToken } = modelCost(config);
 * energyEstimate({ flopsPerToken: flopsPerToken.training, peakFlops: 312e12 }, { watts: 400, gridGramsPerKwh: 300 });
 * ```
 */
export function energyEstimate(source: ThroughputSource, options: EnergyOptions): EnergyEstimate {
  const fn = 'energyEstimate';
  checkOptionKeys(fn, options, ENERGY_OPTION_KEYS);
  const watts = checkNumber(fn, 'options.watts', options?.watts, { min: 0, minExclusive: true });
  const grid = checkNumber(
    fn,
    'options.gridGramsPerKwh',
    options.gridGramsPerKwh ?? DEFAULT_GRID_INTENSITY,
    {
      min: 0,
    },
  );
  const pue = checkNumber(
    fn,
    'options.powerUsageEffectiveness',
    options.powerUsageEffectiveness ?? 1,
    { min: 1 },
  );
  let secondsPerToken: number;
  const isRecord = source !== null && typeof source === 'object' && !Array.isArray(source);
  if (isRecord && 'stepSeconds' in source) {
    checkOptionKeys(fn, source, MEASURED_SOURCE_KEYS, 'source');
    const seconds = checkNumber(fn, 'source.stepSeconds', source.stepSeconds, {
      min: 0,
      minExclusive: true,
    });
    secondsPerToken =
      seconds /
      checkNumber(fn, 'source.tokensPerStep', source.tokensPerStep, { min: 0, minExclusive: true });
  } else if (isRecord && 'peakFlops' in source) {
    checkOptionKeys(fn, source, PEAK_SOURCE_KEYS, 'source');
    const flops = checkNumber(fn, 'source.flopsPerToken', source.flopsPerToken, {
      min: 0,
      minExclusive: true,
    });
    const peak = checkNumber(fn, 'source.peakFlops', source.peakFlops, {
      min: 0,
      minExclusive: true,
    });
    const utilization = checkNumber(fn, 'source.utilization', source.utilization ?? 0.4, {
      min: 0,
      minExclusive: true,
      max: 1,
      maxInclusive: true,
    });
    secondsPerToken = flops / (peak * utilization);
  } else {
    throw new TfjsBlocksError(
      fn,
      'source',
      '{stepSeconds, tokensPerStep} or {flopsPerToken, peakFlops}',
      String(source),
    );
  }
  const secondsPer1000Tokens = 1000 * secondsPerToken;
  const joulesPer1000Tokens = secondsPer1000Tokens * watts * pue;
  const kwhPer1000Tokens = joulesPer1000Tokens / 3.6e6;
  return {
    secondsPer1000Tokens,
    joulesPer1000Tokens,
    kwhPer1000Tokens,
    co2GramsPer1000Tokens: kwhPer1000Tokens * grid,
  };
}
