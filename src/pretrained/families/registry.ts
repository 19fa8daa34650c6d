import type { DecoderLmConfig } from '../../models/decoder-lm';
import type { EncoderClassifierConfig } from '../../models/encoder-classifier';
import { configJsonReader } from '../config-json';
import type { PretrainedFamily } from './family';
import { gpt2Family } from './gpt2';
import { llamaFamily } from './llama';

/** A family of any kind the registry holds. */
export type AnyPretrainedFamily = PretrainedFamily<DecoderLmConfig | EncoderClassifierConfig>;

/**
 * Every model family we read and write, one line each (adding a family is
 * its file under `src/pretrained/families/` and a line here: see
 * docs/architecture.md, "Adding a model family").
 *
 * @example
 * ```ts
 * const modelTypes = PRETRAINED_FAMILIES.flatMap((family) => family.modelTypes); // ['gpt2', 'llama', ...]
 * ```
 */
export const PRETRAINED_FAMILIES: readonly AnyPretrainedFamily[] = [gpt2Family, llamaFamily];

/**
 * The family of a parsed Hugging Face `config.json`, by its `model_type`.
 * An unknown or missing `model_type` is a `TfjsBlocksError` whose argument
 * is `config.json: model_type` and whose expected value lists the supported
 * ones. `fn` is the caller's name in errors.
 *
 * @example
 * ```ts
 * const json = { model_type: 'gpt2', n_embd: 64, n_layer: 2, n_head: 4, n_positions: 128, vocab_size: 100 };
 * const family = familyForConfigJson('example', json); // gpt2Family
 * const config = family.fromConfigJson(configJsonReader('example', json));
 * ```
 */
export function familyForConfigJson(fn: string, json: unknown): AnyPretrainedFamily {
  const read = configJsonReader(fn, json);
  const modelType = read.string(
    'model_type',
    PRETRAINED_FAMILIES.flatMap((f) => f.modelTypes),
  );
  return PRETRAINED_FAMILIES.find((f) => f.modelTypes.includes(modelType))!;
}
