import type { RotaryEmbeddingOptions } from '../../attention/rotary-embedding';
import { type DecoderLmConfig, llamaConfig } from '../../models/decoder-lm';
import type { ConfigJsonReader } from '../config-json';
import type { PretrainedFamily, TensorRule } from './family';
import {
  blockPath,
  checkWritable,
  copyRule,
  headDimOf,
  hfActivation,
  linearRule,
  llamaLikeFacts,
  readActivation,
  readHeadDim,
} from './rules';

/**
 * Reads RoPE's base and scaling from either form `transformers` writes:
 * `rope_parameters` (transformers 5: `{rope_type, rope_theta, factor, …}`)
 * or the older `rope_theta` + `rope_scaling` (`{rope_type | type, factor, …}`).
 * `default`, `linear` and `llama3` are implemented; any other type
 * (`dynamic`, `yarn`, `longrope`, …) is an error naming the field.
 */
export function readRope(read: ConfigJsonReader): RotaryEmbeddingOptions {
  const parameters = read.object('rope_parameters');
  const scaling = parameters ?? read.object('rope_scaling');
  const base =
    parameters?.has('rope_theta') === true
      ? parameters.number('rope_theta')
      : read.number('rope_theta', 10000);
  if (!scaling) return { base };
  const typeField = scaling.has('rope_type') || !scaling.has('type') ? 'rope_type' : 'type';
  const type = scaling.string(typeField, undefined, 'default');
  if (type === 'default') return { base };
  if (type === 'linear') {
    return { base, scaling: { kind: 'linear', factor: scaling.number('factor') } };
  }
  if (type === 'llama3') {
    const lowFreqFactor = scaling.number('low_freq_factor');
    const highFreqFactor = scaling.number('high_freq_factor');
    if (highFreqFactor <= lowFreqFactor) {
      scaling.unsupported('high_freq_factor', `a number > low_freq_factor (${lowFreqFactor})`);
    }
    return {
      base,
      scaling: {
        kind: 'llama3',
        factor: scaling.number('factor'),
        lowFreqFactor,
        highFreqFactor,
        originalMaxLength: scaling.integer('original_max_position_embeddings', undefined, 1),
      },
    };
  }
  return scaling.unsupported(
    typeField,
    '"default", "linear" or "llama3" (dynamic, yarn, longrope and the other types are not implemented)',
  );
}

/** Our RoPE options as transformers 5's `rope_parameters`. */
export function ropeParametersJson(rope: unknown): Record<string, unknown> {
  const options: RotaryEmbeddingOptions = typeof rope === 'object' && rope !== null ? rope : {};
  const json: Record<string, unknown> = { rope_theta: options.base ?? 10000 };
  const scaling = options.scaling;
  if (!scaling) return { ...json, rope_type: 'default' };
  if (scaling.kind === 'linear') return { ...json, rope_type: 'linear', factor: scaling.factor };
  return {
    ...json,
    rope_type: 'llama3',
    factor: scaling.factor,
    low_freq_factor: scaling.lowFreqFactor,
    high_freq_factor: scaling.highFreqFactor,
    original_max_position_embeddings: scaling.originalMaxLength,
  };
}

/**
 * The sizes, norm, activation and RoPE every Llama-like `config.json`
 * (Llama, Qwen2, Mistral, Phi-3) has, read into a {@link llamaConfig}.
 * `head_dim`, where it differs from `hidden_size / num_attention_heads`,
 * becomes `config.block.headDim` (attention `numHeads · headDim` wide).
 * `defaults` are the family's `transformers` defaults for absent fields.
 */
export function readLlamaLike(
  read: ConfigJsonReader,
  defaults: { vocabSize: number; maxLength: number; hidden: number; epsilon: number },
): DecoderLmConfig {
  const dModel = read.integer('hidden_size', 4096, 1);
  const numHeads = read.integer('num_attention_heads', 32, 1);
  const headDim = readHeadDim(read, dModel, numHeads);
  const numKvHeads = read.integer('num_key_value_heads', numHeads, 1);
  if (numHeads % numKvHeads !== 0) {
    read.unsupported('num_key_value_heads', `a divisor of num_attention_heads (${numHeads})`);
  }
  const config = llamaConfig({
    vocabSize: read.integer('vocab_size', defaults.vocabSize, 1),
    maxLength: read.integer('max_position_embeddings', defaults.maxLength, 1),
    dModel,
    numLayers: read.integer('num_hidden_layers', 32, 1),
    numHeads,
    numKvHeads,
    hidden: read.integer('intermediate_size', defaults.hidden, 1),
    epsilon: read.number('rms_norm_eps', defaults.epsilon),
    tieEmbeddings: read.boolean('tie_word_embeddings', false),
  });
  const activation = readActivation(read, 'hidden_act', 'silu');
  return {
    ...config,
    block: {
      ...config.block,
      ...(headDim === undefined ? {} : { headDim }),
      feedForward: { ...config.block.feedForward, activation },
      rope: readRope(read),
    },
  };
}

/** The `config.json` fields {@link readLlamaLike} reads, from our config. */
export function llamaLikeJson(config: DecoderLmConfig): Record<string, unknown> {
  const { block } = config;
  return {
    vocab_size: config.vocabSize,
    max_position_embeddings: config.maxLength,
    hidden_size: block.dModel,
    intermediate_size: block.feedForward.hidden,
    num_hidden_layers: config.numLayers,
    num_attention_heads: block.numHeads,
    num_key_value_heads: block.numKvHeads ?? block.numHeads,
    head_dim: headDimOf('toConfigJson', config),
    hidden_act: hfActivation(block.feedForward.activation),
    rms_norm_eps: block.norm.epsilon ?? 1e-6,
    tie_word_embeddings: config.tieEmbeddings,
    rope_parameters: ropeParametersJson(block.rope),
  };
}

/**
 * The tensors of a Llama-style checkpoint (`model.layers.N.self_attn.q_proj`,
 * …, `mlp.gate_proj`/`up_proj`/`down_proj`, `torch.nn.Linear` layouts),
 * with biases where the config has them. Phi-3 replaces the attention and
 * MLP rules with its fused ones through `layer`.
 */
export function llamaLikeTensors(
  config: DecoderLmConfig,
  layer: (i: number, prefix: string) => TensorRule[] = (i, prefix) => [
    ...llamaAttentionRules(config, i, prefix),
    ...llamaMlpRules(config, i, prefix),
  ],
): TensorRule[] {
  const d = config.block.dModel;
  const rules = [
    copyRule('model.embed_tokens.weight', [config.vocabSize, d], ['tokenEmbedding', 'table']),
  ];
  for (let i = 0; i < config.numLayers; i++) {
    const h = `model.layers.${i}`;
    rules.push(
      copyRule(`${h}.input_layernorm.weight`, [d], blockPath(i, 'attentionNorm', 'gamma')),
      copyRule(
        `${h}.post_attention_layernorm.weight`,
        [d],
        blockPath(i, 'feedForwardNorm', 'gamma'),
      ),
      ...layer(i, h),
    );
  }
  rules.push(copyRule('model.norm.weight', [d], ['finalNorm', 'gamma']));
  if (!config.tieEmbeddings) {
    rules.push(linearRule('lm_head.weight', [config.vocabSize, d], ['lmHead', 'kernel']));
  }
  return rules;
}

/**
 * Layer `i`'s `q_proj`, `k_proj`, `v_proj`, `o_proj` (weights, and biases
 * where the config has them): `numHeads · headDim` (or `numKvHeads ·
 * headDim`) wide on the attention side, where `headDim` is
 * `config.block.headDim` or `dModel / numHeads` (see {@link headDimOf}).
 */
export function llamaAttentionRules(config: DecoderLmConfig, i: number, h: string): TensorRule[] {
  const d = config.block.dModel;
  const headDim = headDimOf('tensors', config);
  const q = config.block.numHeads * headDim;
  const kv = (config.block.numKvHeads ?? config.block.numHeads) * headDim;
  const bias = config.block.attentionBias ?? true;
  const outputBias = config.block.attentionOutputBias ?? bias;
  const rules: TensorRule[] = [];
  for (const [hf, ours, shape, withBias] of [
    ['q_proj', 'query', [q, d], bias],
    ['k_proj', 'key', [kv, d], bias],
    ['v_proj', 'value', [kv, d], bias],
    ['o_proj', 'output', [d, q], outputBias],
  ] as const) {
    const path = blockPath(i, 'attention', ours);
    rules.push(linearRule(`${h}.self_attn.${hf}.weight`, [...shape], [...path, 'kernel']));
    if (withBias) {
      rules.push(copyRule(`${h}.self_attn.${hf}.bias`, [shape[0]], [...path, 'bias']));
    }
  }
  return rules;
}

/** Layer `i`'s `gate_proj`, `up_proj`, `down_proj` (and their biases with `mlp_bias`). */
export function llamaMlpRules(config: DecoderLmConfig, i: number, h: string): TensorRule[] {
  const d = config.block.dModel;
  const hidden = config.block.feedForward.hidden;
  const bias = config.block.feedForward.useBias ?? false;
  const rules: TensorRule[] = [];
  for (const [hf, ours, out, inp] of [
    ['gate_proj', 'gate', hidden, d],
    ['up_proj', 'up', hidden, d],
    ['down_proj', 'down', d, hidden],
  ] as const) {
    rules.push(
      linearRule(`${h}.mlp.${hf}.weight`, [out, inp], blockPath(i, 'feedForward', ours, 'kernel')),
    );
    if (bias)
      rules.push(copyRule(`${h}.mlp.${hf}.bias`, [out], blockPath(i, 'feedForward', ours, 'bias')));
  }
  return rules;
}

/** Rotary `inv_freq` buffers older checkpoints carry, and a tied head's copy of the embedding. */
export function isLlamaLikeBuffer(name: string, config: DecoderLmConfig): boolean {
  const rotary = /^model\.layers\.(\d+)\.self_attn\.rotary_emb\.inv_freq$/.exec(name);
  if (rotary) return Number(rotary[1]) < config.numLayers;
  if (name === 'model.rotary_emb.inv_freq') return true;
  return name === 'lm_head.weight' && config.tieEmbeddings;
}

/**
 * Llama (`model_type: "llama"`, `LlamaForCausalLM`): RoPE, pre-norm RMSNorm,
 * SwiGLU, grouped-query attention, optional `attention_bias` and `mlp_bias`,
 * `tie_word_embeddings`, a `head_dim` of its own (`config.block.headDim`
 * where it differs from `hidden_size / num_attention_heads`). RoPE scaling
 * `linear` and `llama3` (Llama 3.1) are read from `rope_parameters` or
 * `rope_scaling`; other types and an activation we lack are errors naming
 * the field.
 *
 * @example
 * ```ts
 * const read = configJsonReader('example', {
 *   model_type: 'llama', hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2,
 *   num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 100,
 *   rope_parameters: { rope_type: 'llama3', rope_theta: 500000, factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 },
 * });
 * const config = llamaFamily.fromConfigJson(read); // config.block.rope.scaling.kind === 'llama3'
 * ```
 */
export const llamaFamily: PretrainedFamily<DecoderLmConfig> = {
  modelTypes: ['llama'],
  kind: 'decoder-lm',
  architecture: 'LlamaForCausalLM',
  fromConfigJson(read: ConfigJsonReader): DecoderLmConfig {
    const config = readLlamaLike(read, {
      vocabSize: 32000,
      maxLength: 2048,
      hidden: 11008,
      epsilon: 1e-6,
    });
    const attentionBias = read.boolean('attention_bias', false);
    const useBias = read.boolean('mlp_bias', false);
    return {
      ...config,
      block: {
        ...config.block,
        attentionBias,
        feedForward: { ...config.block.feedForward, useBias },
      },
    };
  },
  toConfigJson(config: DecoderLmConfig): Record<string, unknown> {
    const attentionBias = config.block.attentionBias ?? true;
    const mlpBias = config.block.feedForward.useBias ?? false;
    checkWritable(
      'llamaFamily.toConfigJson',
      'llama',
      llamaLikeFacts(config, {
        attentionBias,
        attentionOutputBias: attentionBias,
        useBias: mlpBias,
      }),
    );
    return {
      architectures: ['LlamaForCausalLM'],
      model_type: 'llama',
      ...llamaLikeJson(config),
      attention_bias: attentionBias,
      mlp_bias: mlpBias,
    };
  },
  tensors: (config) => llamaLikeTensors(config),
  isBuffer: isLlamaLikeBuffer,
};
