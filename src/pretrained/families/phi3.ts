import type { DecoderLmConfig } from '../../models/decoder-lm';
import type { ConfigJsonReader } from '../config-json';
import type { PretrainedFamily } from './family';
import {
  isLlamaLikeBuffer,
  llamaLikeJson,
  llamaLikeTensors,
  readLlamaLike,
  ropeParametersJson,
} from './llama';
import {
  blockPath,
  checkWritable,
  fusedRule,
  headDimOf,
  linearRule,
  llamaLikeFacts,
} from './rules';

/**
 * Phi-3 (`model_type: "phi3"`, `Phi3ForCausalLM`): Llama's architecture
 * with fused tensors: `qkv_proj` (query, key and value stacked on the output
 * axis) and `gate_up_proj` (gate first, then up), split on load and joined
 * on save; no biases. `sliding_window: w` (Phi-3-mini-4k has 2047) is
 * sliding-window attention as for Mistral (`config.block.slidingWindow`:
 * position `i` attends to `i - w < j <= i`, and `generate` keeps a rolling
 * cache of `w` slots); absent or `null` is no window, `transformers`'
 * default. `head_dim` as for Llama. `partial_rotary_factor` other than 1
 * and RoPE scaling `longrope` (Phi-3 128k) are rejected.
 *
 * @example
 * ```ts
 * const read = configJsonReader('example', {
 *   model_type: 'phi3', hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2,
 *   num_attention_heads: 4, vocab_size: 100,
 * });
 * const names = phi3Family.tensors(phi3Family.fromConfigJson(read)).map((rule) => rule.name);
 * // [..., 'model.layers.0.self_attn.qkv_proj.weight', ..., 'model.layers.0.mlp.gate_up_proj.weight', ...]
 * ```
 */
export const phi3Family: PretrainedFamily<DecoderLmConfig> = {
  modelTypes: ['phi3'],
  kind: 'decoder-lm',
  architecture: 'Phi3ForCausalLM',
  fromConfigJson(read: ConfigJsonReader): DecoderLmConfig {
    const config = readLlamaLike(read, {
      vocabSize: 32064,
      maxLength: 4096,
      hidden: 8192,
      epsilon: 1e-5,
    });
    const parameters = read.object('rope_parameters');
    const partial = parameters?.has('partial_rotary_factor') ? parameters : read;
    if (partial.number('partial_rotary_factor', 1) !== 1) {
      partial.unsupported(
        'partial_rotary_factor',
        '1 (RoPE on part of each head is not implemented)',
      );
    }
    // Phi3Config's default is null: no window (absent and null mean the same here).
    const slidingWindow = read.has('sliding_window')
      ? read.integer('sliding_window', undefined, 1)
      : undefined;
    return {
      ...config,
      block: {
        ...config.block,
        ...(slidingWindow === undefined ? {} : { slidingWindow }),
        attentionBias: false,
        feedForward: { ...config.block.feedForward, useBias: false },
      },
    };
  },
  toConfigJson(config: DecoderLmConfig): Record<string, unknown> {
    checkWritable(
      'phi3Family.toConfigJson',
      'phi3',
      llamaLikeFacts(config, {
        attentionBias: false,
        attentionOutputBias: false,
        useBias: false,
        slidingWindow: true,
      }),
    );
    return {
      architectures: ['Phi3ForCausalLM'],
      model_type: 'phi3',
      ...llamaLikeJson(config),
      rope_parameters: { ...ropeParametersJson(config.block.rope), partial_rotary_factor: 1 },
      original_max_position_embeddings: config.maxLength,
      sliding_window: config.block.slidingWindow ?? null,
      // Phi3Config's default pad id (32000) is an embedding row only its
      // 32064-token vocabulary has: say "none", as our config holds no token ids.
      pad_token_id: null,
    };
  },
  tensors(config: DecoderLmConfig) {
    const d = config.block.dModel;
    const headDim = headDimOf('tensors', config);
    const q = config.block.numHeads * headDim;
    const kv = (config.block.numKvHeads ?? config.block.numHeads) * headDim;
    const hidden = config.block.feedForward.hidden;
    return llamaLikeTensors(config, (i, h) => [
      fusedRule(
        `${h}.self_attn.qkv_proj.weight`,
        [q + 2 * kv, d],
        ['query', 'key', 'value'].map((n) => blockPath(i, 'attention', n, 'kernel')),
        [q, kv, kv],
        0,
        true,
      ),
      linearRule(
        `${h}.self_attn.o_proj.weight`,
        [d, q],
        blockPath(i, 'attention', 'output', 'kernel'),
      ),
      fusedRule(
        `${h}.mlp.gate_up_proj.weight`,
        [2 * hidden, d],
        ['gate', 'up'].map((n) => blockPath(i, 'feedForward', n, 'kernel')),
        [hidden, hidden],
        0,
        true,
      ),
      linearRule(
        `${h}.mlp.down_proj.weight`,
        [d, hidden],
        blockPath(i, 'feedForward', 'down', 'kernel'),
      ),
    ]);
  },
  isBuffer: isLlamaLikeBuffer,
};
