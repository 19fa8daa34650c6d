import type { Tensor } from '@tensorflow/tfjs-core';
import type { ConfigJsonReader } from '../config-json';

/**
 * How one tensor of a Hugging Face checkpoint maps onto our parameters.
 * Loading is streamed tensor by tensor (a shard at a time), so each rule
 * converts one checkpoint tensor on its own, never the whole state dict.
 *
 * @example
 * ```ts
 * // Llama's q_proj is a torch Linear ([out, in]); ours is [in, out].
 * const rule: TensorRule = {
 *   name: 'model.layers.0.self_attn.q_proj.weight',
 *   shape: [512, 512],
 *   paths: [['blocks', '0', 'attention', 'query', 'kernel']],
 *   load: (t) => [tf.transpose(t)],
 *   save: ([kernel]) => tf.transpose(kernel!),
 * };
 * ```
 */
export type TensorRule = {
  /** The checkpoint's name for the tensor, e.g. `model.layers.0.self_attn.q_proj.weight`. */
  name: string;
  /** Its shape in the checkpoint. */
  shape: number[];
  /**
   * The parameter paths it fills, in our record (e.g.
   * `['blocks', '0', 'attention', 'query', 'kernel']`); several for a fused
   * tensor (GPT-2's `c_attn`, Phi-3's `qkv_proj` and `gate_up_proj`).
   */
  paths: string[][];
  /**
   * The checkpoint tensor (float32, of `shape`) to ours, one per path, new
   * tensors. The caller runs it inside `tf.tidy` and disposes the input.
   */
  load(tensor: Tensor): Tensor[];
  /**
   * `true` when `load` returns a copy of its input, unchanged (one path):
   * a loader that owns the input (the streaming `loadPretrained`) keeps the
   * decoded tensor itself and skips the copy, which on the wasm backend
   * would hold the tensor twice for a moment and leave the heap (which never
   * shrinks) that much larger. Default `false`.
   */
  unchanged?: boolean;
  /** Ours (one per path) back to the checkpoint's layout, a new tensor. */
  save(tensors: Tensor[]): Tensor;
};

/**
 * One model family of Hugging Face `transformers` (`model_type` in
 * `config.json`): how its `config.json` reads into our config, and how its
 * tensors map onto our params. `loadPretrained`, `savePretrained`,
 * `fromHuggingFace` and `toHuggingFace` all go through these; adding a
 * family is one file under `src/pretrained/families/` plus its line in the
 * registry (see docs/architecture.md).
 *
 * @typeParam C - our config for the model (`DecoderLmConfig`, `EncoderClassifierConfig`).
 *
 * @example
 * ```ts
 * const config = gpt2Family.fromConfigJson(configJsonReader('loadPretrained', JSON.parse(configJsonText)));
 * const rules = gpt2Family.tensors(config);
 * ```
 */
export interface PretrainedFamily<C> {
  /** The `model_type` values of `config.json` it reads (e.g. `['llama']`). */
  readonly modelTypes: readonly string[];
  /** What our model is: a decoder LM (`decoderLm`) or an encoder (`encoderClassifier`). */
  readonly kind: 'decoder-lm' | 'encoder-classifier';
  /** The `transformers` class `savePretrained` names in `architectures` (e.g. `'LlamaForCausalLM'`). */
  readonly architecture: string;
  /**
   * `config.json` to our config, read through `read` (see
   * `configJsonReader`, which carries the caller's name for errors). A field
   * we cannot honour (an unknown `rope_scaling` type, an activation we lack,
   * a feature of the family that is not implemented) is a `TfjsBlocksError`
   * whose argument is `config.json: <field>`: never a silently different model.
   */
  fromConfigJson(read: ConfigJsonReader): C;
  /** Our config to a `config.json` object that `transformers` 5 reads back to the same model. */
  toConfigJson(config: C): Record<string, unknown>;
  /** Every tensor the checkpoint of this config holds, with where it goes. */
  tensors(config: C): TensorRule[];
  /**
   * Whether a checkpoint name is a known non-parameter (GPT-2's
   * `h.N.attn.bias` / `masked_bias`, rotary `inv_freq`, a tied `lm_head`):
   * such names are skipped; any other name no rule has is an error.
   */
  isBuffer(name: string, config: C): boolean;
}
