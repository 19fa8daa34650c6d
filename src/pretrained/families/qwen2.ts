import type { DecoderLmConfig } from '../../models/decoder-lm';
import type { ConfigJsonReader } from '../config-json';
import type { PretrainedFamily } from './family';
import { isLlamaLikeBuffer, llamaLikeJson, llamaLikeTensors, readLlamaLike } from './llama';
import { checkWritable, llamaLikeFacts } from './rules';

/** `transformers`' `Qwen2Config` defaults for the window fields. */
const DEFAULT_SLIDING_WINDOW = 4096;
const DEFAULT_MAX_WINDOW_LAYERS = 28;

/**
 * Qwen2's sliding window, as `transformers` 5 decides it per layer: with
 * `use_sliding_window: true` and a `sliding_window`, layer `i` is
 * `"sliding_attention"` when `i >= max_window_layers`, unless `layer_types`
 * lists each layer's type. Our blocks share one config, so the window must
 * be on every layer or on none: a window on some layers only is an error
 * naming `max_window_layers` (or `layer_types`).
 */
function readQwen2Window(read: ConfigJsonReader, numLayers: number): number | undefined {
  const useWindow = read.boolean('use_sliding_window', false);
  // Qwen2Config drops sliding_window unless use_sliding_window is true.
  const window =
    useWindow && !read.isNull('sliding_window')
      ? read.integer('sliding_window', DEFAULT_SLIDING_WINDOW, 1)
      : undefined;
  let sliding: boolean[];
  let field: string;
  if (read.has('layer_types')) {
    field = 'layer_types';
    const types = read.strings(field);
    const choices =
      window === undefined ? ['full_attention'] : ['full_attention', 'sliding_attention'];
    if (types.length !== numLayers || types.some((t) => !choices.includes(t))) {
      read.unsupported(
        field,
        `${numLayers} entries (num_hidden_layers), each ${choices.map((c) => `"${c}"`).join(' or ')}${window === undefined ? ' (no sliding_window with use_sliding_window: true)' : ''}`,
      );
    }
    sliding = types.map((t) => t === 'sliding_attention');
  } else {
    field = 'max_window_layers';
    const first = read.integer(field, DEFAULT_MAX_WINDOW_LAYERS, 0);
    sliding = Array.from({ length: numLayers }, (_, i) => window !== undefined && i >= first);
  }
  if (sliding.every(Boolean)) return window;
  if (!sliding.some(Boolean)) return undefined;
  return read.unsupported(
    field,
    `the sliding window on every layer or on none (max_window_layers 0 or >= num_hidden_layers ${numLayers}): a window on some layers only is not implemented`,
  );
}

/**
 * Qwen2 and Qwen2.5 (`model_type: "qwen2"`, `Qwen2ForCausalLM`): Llama's
 * layout with biases on the query, key and value projections and none on
 * the output projection (`attentionBias: true, attentionOutputBias: false`),
 * usually tied embeddings in the small sizes. `head_dim` and RoPE scaling as
 * for Llama. The model's vocabulary (`vocab_size`) may be larger than its
 * tokenizer's.
 *
 * Sliding windows: `use_sliding_window: true` with `sliding_window: w` puts
 * a window (`config.block.slidingWindow`, as Mistral's) on the layers from
 * `max_window_layers` on (or those `layer_types` marks
 * `"sliding_attention"`). We implement the window on all layers
 * (`max_window_layers: 0`) or none (`use_sliding_window: false`, the Hub
 * releases' setting, or `max_window_layers >= num_hidden_layers`); a window
 * on some layers only is a `TfjsBlocksError` naming `max_window_layers`.
 *
 * @example
 * ```ts
 * const read = configJsonReader('example', {
 *   model_type: 'qwen2', hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2,
 *   num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 100, tie_word_embeddings: true,
 *   use_sliding_window: true, sliding_window: 16, max_window_layers: 0,
 * });
 * const config = qwen2Family.fromConfigJson(read); // attentionOutputBias false, slidingWindow 16
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
    const slidingWindow = readQwen2Window(read, config.numLayers);
    return {
      ...config,
      block: {
        ...config.block,
        ...(slidingWindow === undefined ? {} : { slidingWindow }),
        attentionBias: true,
        attentionOutputBias: false,
      },
    };
  },
  toConfigJson(config: DecoderLmConfig): Record<string, unknown> {
    checkWritable(
      'qwen2Family.toConfigJson',
      'qwen2',
      llamaLikeFacts(config, {
        attentionBias: true,
        attentionOutputBias: false,
        useBias: false,
        slidingWindow: true,
      }),
    );
    const window = config.block.slidingWindow;
    return {
      architectures: ['Qwen2ForCausalLM'],
      model_type: 'qwen2',
      ...llamaLikeJson(config),
      ...(window === undefined
        ? { use_sliding_window: false }
        : { use_sliding_window: true, sliding_window: window, max_window_layers: 0 }),
    };
  },
  tensors: (config) => llamaLikeTensors(config),
  isBuffer: isLlamaLikeBuffer,
};
