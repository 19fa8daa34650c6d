/**
 * Hugging Face's `generation_config.json` ↔ our `GenerateOptions`: the
 * decoding defaults a model folder carries, read with `transformers`'
 * meaning (and its defaults, such as `top_k: 50` when sampling) and written
 * so that `transformers` decodes as `generate` would.
 */
import { TfjsBlocksError } from '../errors';
import type { GenerateOptions } from '../generate/options';
import { describeValue } from '../internal/checks';
import type { ConfigJsonReader } from './config-json';

/**
 * Fields of `generation_config.json` that change decoding in a way
 * `generate` does not implement, with the value that leaves decoding
 * unchanged (`transformers`' default; `null` is "unset" and always fine).
 * Any other value is a `TfjsBlocksError` naming the field.
 */
const UNSUPPORTED_FIELDS: ReadonlyArray<readonly [string, unknown]> = [
  ['min_length', 0],
  ['max_time', undefined],
  ['stop_strings', undefined],
  ['top_h', undefined],
  ['typical_p', 1],
  ['epsilon_cutoff', 0],
  ['eta_cutoff', 0],
  ['encoder_repetition_penalty', 1],
  ['encoder_no_repeat_ngram_size', 0],
  ['renormalize_logits', false],
  ['forced_bos_token_id', undefined],
  ['forced_eos_token_id', undefined],
  ['remove_invalid_values', false],
  ['exponential_decay_length_penalty', undefined],
  ['suppress_tokens', undefined],
  ['begin_suppress_tokens', undefined],
  ['sequence_bias', undefined],
  ['token_healing', false],
  ['guidance_scale', 1],
  ['watermarking_config', undefined],
  ['penalty_alpha', undefined],
  ['dola_layers', undefined],
  ['diversity_penalty', 0],
  ['num_beam_groups', 1],
  ['constraints', undefined],
  ['force_words_ids', undefined],
];

/**
 * Reads a parsed `generation_config.json` into the options of `generate`,
 * with `transformers`' meaning: `do_sample: false` (or absent) is greedy
 * search (`temperature: 0`), `num_beams > 1` beam search; with `do_sample:
 * true` the warpers apply, `top_k` defaulting to 50 as in `transformers`.
 * `max_new_tokens` becomes `maxNewTokens`; `max_length` is checked and
 * otherwise ignored, because `generate` always has a `maxNewTokens` and in
 * `transformers` an explicit `max_new_tokens` overrides `max_length`.
 * `bos_token_id` is checked and not used (`generate` always has a prompt).
 * Fields that do not change decoding (`use_cache` aside, which maps to
 * `useCache`; `output_*`, `transformers_version`, …) and unknown fields are
 * ignored.
 *
 * | field | option |
 * |---|---|
 * | `max_new_tokens` | `maxNewTokens` |
 * | `do_sample`, `temperature` | `temperature` (`0` unless sampling) |
 * | `top_k` (`0` = off), `top_p` (`1` = off), `min_p` | `topK`, `topP`, `minP` (sampling only) |
 * | `repetition_penalty` (`1` = off) | `repetitionPenalty` |
 * | `no_repeat_ngram_size`, `min_new_tokens` (`0` = off) | `noRepeatNgramSize`, `minNewTokens` |
 * | `bad_words_ids` | `badWordsIds` |
 * | `eos_token_id` (a number or a list) | `eosTokenId` |
 * | `pad_token_id` | `padId` |
 * | `num_beams` (`1` = off) | `numBeams` |
 * | `length_penalty`, `early_stopping`, `num_return_sequences` | `lengthPenalty`, `earlyStopping`, `numReturnSequences` |
 *
 * @param read - the file, through `configJsonReader(fn, json, 'generation_config.json')`.
 * @returns the options the file sets (merge the caller's over them).
 *   Throws a {@link TfjsBlocksError} whose argument is
 *   `generation_config.json: <field>` for a bad value, or for a field that
 *   changes decoding in a way `generate` does not implement (beam sampling,
 *   `min_length`, `typical_p`, `suppress_tokens`, group beam search, …; the
 *   same field at its no-op value is accepted).
 * @example
 * ```ts
 * const read = configJsonReader('loadPretrained', { do_sample: true, temperature: 0.7, top_p: 0.9, eos_token_id: [1, 2] }, 'generation_config.json');
 * const defaults = generateOptionsFromConfigJson(read);
 * // { temperature: 0.7, topK: 50, topP: 0.9, eosTokenId: [1, 2] }
 * ```
 */
export function generateOptionsFromConfigJson(read: ConfigJsonReader): Partial<GenerateOptions> {
  for (const [field, noOp] of UNSUPPORTED_FIELDS) {
    if (!read.has(field)) continue;
    const value =
      typeof noOp === 'number'
        ? read.number(field, undefined, true)
        : typeof noOp === 'boolean'
          ? read.boolean(field)
          : undefined;
    if (noOp === undefined || value !== noOp) {
      const allowed = noOp === undefined ? 'null' : JSON.stringify(noOp);
      read.unsupported(field, `${allowed} or absent (other values are not implemented)`);
    }
  }
  const out: Partial<GenerateOptions> = {};
  if (read.has('max_new_tokens')) out.maxNewTokens = read.integer('max_new_tokens', undefined, 1);
  if (read.has('max_length')) read.integer('max_length', undefined, 1);
  if (read.has('bos_token_id')) read.integers('bos_token_id');
  if (read.has('use_cache')) out.useCache = read.boolean('use_cache');
  const numBeams = read.integer('num_beams', 1, 1);
  if (numBeams > 1) out.numBeams = numBeams;
  const sample = read.boolean('do_sample', false);
  if (sample && numBeams > 1) {
    read.unsupported('do_sample', 'false with num_beams > 1 (beam sampling is not implemented)');
  }
  // Read every field, so a bad value fails even where it would not be used.
  const temperature = read.number('temperature', 1);
  const topK = read.integer('top_k', 50);
  const topP = read.number('top_p', 1);
  if (topP > 1) read.unsupported('top_p', 'a number in (0, 1]');
  const minP = read.has('min_p') ? read.number('min_p', undefined, true) : undefined;
  if (minP !== undefined && (minP < 0 || minP > 1)) read.unsupported('min_p', 'a number in [0, 1]');
  if (sample) {
    out.temperature = temperature;
    if (topK > 0) out.topK = topK;
    if (topP < 1) out.topP = topP;
    if (minP !== undefined) out.minP = minP;
  } else if (numBeams === 1) {
    out.temperature = 0;
  }
  const repetitionPenalty = read.number('repetition_penalty', 1);
  if (repetitionPenalty !== 1) out.repetitionPenalty = repetitionPenalty;
  const noRepeat = read.integer('no_repeat_ngram_size', 0);
  if (noRepeat > 0) out.noRepeatNgramSize = noRepeat;
  const minNewTokens = read.integer('min_new_tokens', 0);
  if (minNewTokens > 0) out.minNewTokens = minNewTokens;
  if (read.has('bad_words_ids')) out.badWordsIds = read.integerLists('bad_words_ids');
  if (read.has('eos_token_id')) {
    const eos = read.integers('eos_token_id');
    out.eosTokenId = eos.length === 1 ? eos[0]! : eos;
  }
  if (read.has('pad_token_id')) out.padId = read.integer('pad_token_id');
  const lengthPenalty = read.number('length_penalty', 1, true);
  if (lengthPenalty !== 1) out.lengthPenalty = lengthPenalty;
  if (read.has('early_stopping')) {
    let early: boolean | 'never';
    try {
      early = read.boolean('early_stopping');
    } catch {
      try {
        early = read.string<'never'>('early_stopping', ['never']);
      } catch {
        return read.unsupported('early_stopping', 'true, false or "never"');
      }
    }
    if (early !== false) out.earlyStopping = early;
  }
  const returned = read.integer('num_return_sequences', 1, 1);
  if (returned > 1) out.numReturnSequences = returned;
  return out;
}

/**
 * Writes `generate`'s options as a `generation_config.json` object that
 * `transformers` decodes the same way: greedy (`temperature: 0`) is
 * `do_sample: false`; sampling (any other temperature, including the default
 * 1) is `do_sample: true` with an explicit `top_k` (`0` when `topK` is unset,
 * since `transformers` would otherwise apply `top_k: 50`); beam search is
 * `num_beams`. `stopTokens` join `eos_token_id` (`transformers` has no
 * end token that is dropped from the output). Options with no
 * `generation_config.json` field (`seed`, `onToken`, `signal`) are left out;
 * `logitsProcessors` cannot be written and throw.
 *
 * @param options - some or all options of `generate`.
 * @returns a JSON object for `generation_config.json` (add
 *   `transformers_version` if you need it). Throws a {@link TfjsBlocksError}
 *   (argument `options.logitsProcessors`) when custom processors are given.
 * @example
 * ```ts
 * const json = toGenerationConfigJson({ maxNewTokens: 64, temperature: 0, eosTokenId: 2, padId: 0 });
 * // { do_sample: false, max_new_tokens: 64, eos_token_id: 2, pad_token_id: 0 }
 * ```
 */
export function toGenerationConfigJson(options: Partial<GenerateOptions>): Record<string, unknown> {
  const fn = 'toGenerationConfigJson';
  if (options === null || typeof options !== 'object') {
    throw new TfjsBlocksError(fn, 'options', 'an options object', describeValue(options));
  }
  if (options.logitsProcessors !== undefined && options.logitsProcessors.length > 0) {
    throw new TfjsBlocksError(
      fn,
      'options.logitsProcessors',
      'none (functions have no generation_config.json field)',
      `${options.logitsProcessors.length} processors`,
    );
  }
  const json: Record<string, unknown> = {};
  const beams = options.numBeams !== undefined && options.numBeams > 1;
  const temperature = options.temperature ?? 1;
  const sample = !beams && temperature > 0;
  json.do_sample = sample;
  if (sample) {
    json.temperature = temperature;
    json.top_k = options.topK ?? 0;
    if (options.topP !== undefined) json.top_p = options.topP;
    if (options.minP !== undefined) json.min_p = options.minP;
  }
  if (options.maxNewTokens !== undefined) json.max_new_tokens = options.maxNewTokens;
  if (beams) json.num_beams = options.numBeams;
  if (options.repetitionPenalty !== undefined) json.repetition_penalty = options.repetitionPenalty;
  if (options.noRepeatNgramSize) json.no_repeat_ngram_size = options.noRepeatNgramSize;
  if (options.minNewTokens) json.min_new_tokens = options.minNewTokens;
  if (options.badWordsIds !== undefined)
    json.bad_words_ids = options.badWordsIds.map((w) => [...w]);
  const eos = [
    ...new Set([
      ...(typeof options.eosTokenId === 'number'
        ? [options.eosTokenId]
        : (options.eosTokenId ?? [])),
      ...(options.stopTokens ?? []),
    ]),
  ];
  if (eos.length > 0) json.eos_token_id = eos.length === 1 ? eos[0] : eos;
  if (options.padId !== undefined) json.pad_token_id = options.padId;
  if (options.lengthPenalty !== undefined) json.length_penalty = options.lengthPenalty;
  if (options.earlyStopping !== undefined) json.early_stopping = options.earlyStopping;
  if (options.numReturnSequences !== undefined && options.numReturnSequences > 1) {
    json.num_return_sequences = options.numReturnSequences;
  }
  if (options.useCache !== undefined) json.use_cache = options.useCache;
  return json;
}
