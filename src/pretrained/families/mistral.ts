import type { DecoderLmConfig } from '../../models/decoder-lm';
import type { ConfigJsonReader } from '../config-json';
import type { PretrainedFamily } from './family';
import { isLlamaLikeBuffer, llamaLikeJson, llamaLikeTensors, readLlamaLike } from './llama';
import { checkWritable, llamaLikeFacts } from './rules';

/** `transformers`' `MistralConfig.sliding_window` when `config.json` has no such field. */
const DEFAULT_SLIDING_WINDOW = 4096;

/**
 * Mistral (`model_type: "mistral"`, `MistralForCausalLM`): Llama's layout
 * and tensor names (no biases) with sliding-window attention: a token at
 * position `i` attends to positions `i - sliding_window < j <= i`
 * (`config.block.slidingWindow`), and `generate` keeps a rolling key/value
 * cache of `sliding_window` slots, so its memory stays bounded past the
 * window. `sliding_window: null` means no window (Mistral 7B v0.2 and
 * later); an absent field is `transformers`' default, 4096. `head_dim` (or
 * `null`) as for Llama: `config.block.headDim` where it differs from
 * `hidden_size / num_attention_heads`; RoPE scaling as for Llama.
 *
 * @example
 * ```ts
 * const read = configJsonReader('example', {
 *   model_type: 'mistral', hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2,
 *   num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 100, sliding_window: 16,
 * });
 * const config = mistralFamily.fromConfigJson(read); // config.block.slidingWindow === 16
 * ```
 */
export const mistralFamily: PretrainedFamily<DecoderLmConfig> = {
  modelTypes: ['mistral'],
  kind: 'decoder-lm',
  architecture: 'MistralForCausalLM',
  fromConfigJson(read: ConfigJsonReader): DecoderLmConfig {
    const config = readLlamaLike(read, {
      vocabSize: 32000,
      maxLength: 4096 * 32,
      hidden: 14336,
      epsilon: 1e-6,
    });
    const slidingWindow = read.isNull('sliding_window')
      ? undefined
      : read.integer('sliding_window', DEFAULT_SLIDING_WINDOW, 1);
    return {
      ...config,
      block: {
        ...config.block,
        ...(slidingWindow === undefined ? {} : { slidingWindow }),
      },
    };
  },
  toConfigJson(config: DecoderLmConfig): Record<string, unknown> {
    // MistralForCausalLM has no biases: a config with them would load as another model.
    checkWritable(
      'mistralFamily.toConfigJson',
      'mistral',
      llamaLikeFacts(config, {
        attentionBias: false,
        attentionOutputBias: false,
        useBias: false,
        slidingWindow: true,
      }),
    );
    return {
      architectures: ['MistralForCausalLM'],
      model_type: 'mistral',
      ...llamaLikeJson(config),
      sliding_window: config.block.slidingWindow ?? null,
    };
  },
  tensors: (config) => llamaLikeTensors(config),
  isBuffer: isLlamaLikeBuffer,
};
