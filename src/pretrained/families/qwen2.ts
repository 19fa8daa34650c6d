import type { DecoderLmConfig } from '../../models/decoder-lm';
import type { ConfigJsonReader } from '../config-json';
import type { PretrainedFamily } from './family';
import { isLlamaLikeBuffer, llamaLikeJson, llamaLikeTensors, readLlamaLike } from './llama';
import { checkExpressible } from './rules';

/**
 * Qwen2 and Qwen2.5 (`model_type: "qwen2"`, `Qwen2ForCausalLM`): Llama's
 * layout with biases on the query, key and value projections and none on
 * the output projection (`attentionBias: true, attentionOutputBias: false`),
 * usually tied embeddings in the small sizes. `use_sliding_window: true` is
 * rejected (sliding-window attention is not implemented for Qwen2); RoPE
 * scaling as for Llama. The model's vocabulary (`vocab_size`) may be larger
 * than its tokenizer's.
 *
 * @example
 * ```ts
 * const read = configJsonReader('example', {
 *   model_type: 'qwen2', hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2,
 *   num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 100, tie_word_embeddings: true,
 * });
 * const config = qwen2Family.fromConfigJson(read); // config.block.attentionOutputBias === false
 * ```
 */
export const qwen2Family: PretrainedFamily<DecoderLmConfig> = {
  modelTypes: ['qwen2'],
  kind: 'decoder-lm',
  architecture: 'Qwen2ForCausalLM',
  fromConfigJson(read: ConfigJsonReader): DecoderLmConfig {
    const config = readLlamaLike(read, {
      vocabSize: 151936,
      maxLength: 32768,
      hidden: 22016,
      epsilon: 1e-6,
    });
    if (read.boolean('use_sliding_window', false)) {
      read.unsupported('use_sliding_window', 'false (sliding-window attention is not implemented)');
    }
    return {
      ...config,
      block: { ...config.block, attentionBias: true, attentionOutputBias: false },
    };
  },
  toConfigJson(config: DecoderLmConfig): Record<string, unknown> {
    checkExpressible('qwen2', config, {
      attentionBias: true,
      attentionOutputBias: false,
      useBias: false,
    });
    return {
      architectures: ['Qwen2ForCausalLM'],
      model_type: 'qwen2',
      ...llamaLikeJson(config),
      use_sliding_window: false,
    };
  },
  tensors: (config) => llamaLikeTensors(config),
  isBuffer: isLlamaLikeBuffer,
};
