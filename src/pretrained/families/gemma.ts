import type { DecoderLmConfig } from '../../models/decoder-lm';
import type { FeedForwardActivation } from '../../nn/feed-forward';
import type { ConfigJsonReader } from '../config-json';
import type { PretrainedFamily } from './family';
import { isLlamaLikeBuffer, llamaLikeJson, llamaLikeTensors, readRope } from './llama';
import { checkWritable, llamaLikeFacts, readActivation, type WritableFact } from './rules';

/**
 * The activation of a Gemma `config.json`: `hidden_activation` when present
 * (the field transformers 4 ran), else `hidden_act`. The first Hub releases
 * say `"gelu"` where transformers runs the tanh approximation (it rewrites
 * `hidden_act: "gelu"` to `"gelu_pytorch_tanh"`), so `gelu` reads as
 * `'gelu-tanh'` here too.
 */
function readGemmaActivation(read: ConfigJsonReader): FeedForwardActivation {
  const field = read.has('hidden_activation') ? 'hidden_activation' : 'hidden_act';
  const activation = readActivation(read, field, 'gelu_pytorch_tanh');
  return activation === 'gelu' ? 'gelu-tanh' : activation;
}

/**
 * Hugging Face's Gemma names of our activations. The exact GELU has none: a
 * Gemma `config.json`'s `"gelu"` runs the tanh approximation.
 */
const GEMMA_ACTIVATIONS: Partial<Record<FeedForwardActivation, string>> = {
  'gelu-tanh': 'gelu_pytorch_tanh',
  relu: 'relu',
  silu: 'silu',
};

/**
 * What `GemmaForCausalLM` computes: RoPE, pre-norm RMSNorm with the unit
 * offset, a gated feed-forward without biases, token embeddings scaled by
 * `sqrt(dModel)`, the same bias on all four attention projections, no
 * sliding window, an activation other than the exact GELU.
 */
function gemmaFacts(config: DecoderLmConfig): WritableFact[] {
  const { block } = config;
  const bias = block.attentionBias ?? true;
  return [
    ...llamaLikeFacts(config, {
      attentionBias: bias,
      attentionOutputBias: bias,
      useBias: false,
      unitOffset: true,
      embeddingScale: Math.sqrt(block.dModel),
    }),
    {
      field: 'config.block.feedForward.activation',
      actual: block.feedForward.activation,
      oneOf: Object.keys(GEMMA_ACTIVATIONS),
      why: 'its "gelu" runs the tanh approximation',
    },
  ];
}

/**
 * Gemma (`model_type: "gemma"`, `GemmaForCausalLM`, Gemma 1 / CodeGemma):
 * a Llama-like decoder with RMSNorm scaled by `1 + weight` (the checkpoint
 * stores the offset from 1), GeGLU with the tanh GELU, token embeddings
 * multiplied by `sqrt(hidden_size)` (computed in float32 as transformers
 * does), its own per-head width `head_dim` (e.g. 8 heads × 256 on a
 * 2048-wide stream), grouped-query attention and a tied output head by
 * default. The tensor names are Llama's.
 *
 * `config.json`: the sizes (`hidden_size`, `intermediate_size`,
 * `num_hidden_layers`, `num_attention_heads`, `num_key_value_heads`,
 * `head_dim`, `vocab_size`, `max_position_embeddings`), `rms_norm_eps`,
 * `tie_word_embeddings`, `attention_bias`, RoPE (`rope_parameters` or
 * `rope_theta` + `rope_scaling`, as Llama) and the activation:
 * `hidden_activation` wins over `hidden_act`, and the legacy `"gelu"` of the
 * first Hub releases reads as the tanh GELU, as transformers runs it. Absent
 * fields take `GemmaConfig`'s defaults (`head_dim` 256, 16 key/value heads).
 * Gemma 2 and 3 (`gemma2`, `gemma3`: logit soft-capping, sliding-window
 * layers, extra norms) and `use_bidirectional_attention` are not
 * implemented: errors naming the field.
 *
 * @example
 * ```ts
 * const read = configJsonReader('example', {
 *   model_type: 'gemma', hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2,
 *   num_attention_heads: 4, num_key_value_heads: 1, head_dim: 32, vocab_size: 100,
 *   hidden_act: 'gelu', // legacy: the tanh GELU
 * });
 * const config = gemmaFamily.fromConfigJson(read); // block.headDim 32, embeddingScale 8
 * const names = gemmaFamily.tensors(config).map((rule) => rule.name); // 'model.embed_tokens.weight', ...
 * ```
 */
export const gemmaFamily: PretrainedFamily<DecoderLmConfig> = {
  modelTypes: ['gemma'],
  kind: 'decoder-lm',
  architecture: 'GemmaForCausalLM',
  fromConfigJson(read: ConfigJsonReader): DecoderLmConfig {
    if (read.has('model_type') && read.string('model_type') !== 'gemma') {
      read.unsupported(
        'model_type',
        '"gemma" (Gemma 2 and 3, with logit soft-capping and sliding-window layers, are not implemented)',
      );
    }
    if (read.boolean('use_bidirectional_attention', false)) {
      read.unsupported('use_bidirectional_attention', 'false or absent (causal attention)');
    }
    const dModel = read.integer('hidden_size', 3072, 1);
    const numHeads = read.integer('num_attention_heads', 16, 1);
    const numKvHeads = read.integer('num_key_value_heads', 16, 1);
    if (numHeads % numKvHeads !== 0) {
      read.unsupported('num_key_value_heads', `a divisor of num_attention_heads (${numHeads})`);
    }
    const headDim = read.integer('head_dim', 256, 1);
    return {
      vocabSize: read.integer('vocab_size', 256000, 1),
      maxLength: read.integer('max_position_embeddings', 8192, 1),
      numLayers: read.integer('num_hidden_layers', 28, 1),
      positions: 'rope',
      tieEmbeddings: read.boolean('tie_word_embeddings', true),
      embeddingScale: Math.sqrt(dModel),
      block: {
        dModel,
        numHeads,
        numKvHeads,
        headDim,
        norm: { kind: 'rms', epsilon: read.number('rms_norm_eps', 1e-6), unitOffset: true },
        normPosition: 'pre',
        feedForward: {
          hidden: read.integer('intermediate_size', 24576, 1),
          kind: 'gated',
          activation: readGemmaActivation(read),
          useBias: false,
        },
        attentionBias: read.boolean('attention_bias', false),
        rope: readRope(read),
      },
    };
  },
  toConfigJson(config: DecoderLmConfig): Record<string, unknown> {
    checkWritable('gemmaFamily.toConfigJson', 'gemma', gemmaFacts(config));
    const { block } = config;
    return {
      architectures: ['GemmaForCausalLM'],
      model_type: 'gemma',
      ...llamaLikeJson(config),
      // Gemma's config.json names its GELU its own way ("gelu" there runs tanh).
      hidden_act: GEMMA_ACTIVATIONS[block.feedForward.activation],
      attention_bias: block.attentionBias ?? true,
    };
  },
  // Llama's names and layouts; the attention projections follow block.headDim.
  tensors: (config) => llamaLikeTensors(config),
  isBuffer: isLlamaLikeBuffer,
};
