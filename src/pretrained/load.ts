/**
 * `loadPretrained`: a Hugging Face model folder (base URL, fetch-like
 * function, or `folderSource(dir)` in Node) to our config, params,
 * tokenizer and generation defaults. The small JSON files are read and
 * checked first; the weights last, streamed (see `weights.ts`).
 */
import { TfjsBlocksError } from '../errors';
import type { GenerateOptions } from '../generate/options';
import { checkOptionKeys, describeChoice, describeValue, optionKeys } from '../internal/checks';
import type { DecoderLmConfig, DecoderLmParams } from '../models/decoder-lm';
import type {
  EncoderClassifierConfig,
  EncoderClassifierParams,
} from '../models/encoder-classifier';
import { type ConfigJsonReader, configJsonReader } from './config-json';
import type { PretrainedFamily } from './families/family';
import {
  fetchJson,
  fetchText,
  type PretrainedFetch,
  type PretrainedSource,
  sourceFetch,
  throwIfAborted,
} from './source';
import { loadWeights, type PretrainedProgress } from './weights';

/**
 * A model with its Hugging Face identity: what {@link loadPretrained}
 * returns and `savePretrained` / `pretrainedFiles` take. Narrow on `kind`:
 * a `'decoder-lm'` runs with `decoderLm` and `generate({ kind: 'decoderLm',
 * config, params }, …)`, an `'encoder-classifier'` with `encoderClassifier`.
 *
 * @example
 * ```ts
 * const model: PretrainedModel = { kind: 'decoder-lm', modelType: 'gpt2', config, params };
 * ```
 */
export type PretrainedModel =
  | {
      /** A decoder-only language model. */
      kind: 'decoder-lm';
      /** `model_type` of `config.json` (e.g. `'llama'`): picks the family on save. */
      modelType: string;
      /** Its config. */
      config: DecoderLmConfig;
      /** Its params (float32). */
      params: DecoderLmParams;
      /** Defaults for `generate` (from `generation_config.json`), if any. */
      generationConfig?: GenerateOptions | undefined;
    }
  | {
      /** An encoder (BERT): token-type embeddings, pooler and classifier as the family maps them. */
      kind: 'encoder-classifier';
      /** `model_type` of `config.json` (e.g. `'bert'`). */
      modelType: string;
      /** Its config. */
      config: EncoderClassifierConfig;
      /** Its params (float32). */
      params: EncoderClassifierParams;
      /** Encoders have no generation defaults. */
      generationConfig?: undefined;
    };

/**
 * Options of {@link loadPretrained}.
 *
 * @example
 * ```ts
 * const options: LoadPretrainedOptions = { onProgress: (p) => console.log(p.loadedBytes / p.totalBytes) };
 * ```
 */
export interface LoadPretrainedOptions {
  /**
   * Called as weight bytes arrive (`{ loadedBytes, totalBytes, file }`),
   * after each tensor. Default: none.
   */
  onProgress?: (progress: PretrainedProgress) => void;
  /**
   * Aborts the load: it rejects with `signal.reason` and frees every tensor
   * made so far. Default: none.
   */
  signal?: AbortSignal;
  /**
   * The dtype the weights are kept in: `'float32'` (the default and the
   * only one; float16 and bfloat16 checkpoints are widened exactly).
   */
  dtype?: 'float32';
}

const LOAD_OPTION_KEYS = optionKeys<LoadPretrainedOptions>({
  onProgress: true,
  signal: true,
  dtype: true,
});

/** The tokenizer files of a folder, parsed (the shape `loadTokenizer` takes). */
export type PretrainedTokenizerFiles = {
  /** `tokenizer.json`, parsed. */
  tokenizerJson: unknown;
  /** `tokenizer_config.json`, parsed, when present. */
  tokenizerConfig?: unknown;
  /** `chat_template.jinja`'s text, when present. */
  chatTemplate?: string;
  /** `special_tokens_map.json`, parsed, when present. */
  specialTokensMap?: unknown;
};

/**
 * What the loader needs from the rest of issue 18, as functions: the family
 * registry, the tokenizer and the generation-config reader.
 *
 * @internal The public `loadPretrained` passes the library's own.
 */
export type LoadDependencies<T> = {
  familyFor(fn: string, json: unknown): PretrainedFamily<unknown>;
  loadTokenizer(files: PretrainedTokenizerFiles): T;
  generationConfig(read: ConfigJsonReader): GenerateOptions;
};

/** What `loadPretrained` returns: the model, its tokenizer and its generation defaults. */
export type LoadedPretrained<T> = PretrainedModel & {
  /** The folder's tokenizer; `undefined` when it has no `tokenizer.json`. */
  tokenizer: T | undefined;
};

/** Reads the optional tokenizer files; `undefined` when there is no `tokenizer.json`. */
async function readTokenizerFiles(
  fn: string,
  fetcher: PretrainedFetch,
  signal: AbortSignal | undefined,
): Promise<PretrainedTokenizerFiles | undefined> {
  const tokenizerJson = await fetchJson(fn, fetcher, 'tokenizer.json', { optional: true, signal });
  if (tokenizerJson === undefined) return undefined;
  const files: PretrainedTokenizerFiles = { tokenizerJson };
  const optional = { optional: true, signal };
  const tokenizerConfig = await fetchJson(fn, fetcher, 'tokenizer_config.json', optional);
  if (tokenizerConfig !== undefined) files.tokenizerConfig = tokenizerConfig;
  const chatTemplate = await fetchText(fn, fetcher, 'chat_template.jinja', optional);
  if (chatTemplate !== undefined) files.chatTemplate = chatTemplate;
  const specialTokensMap = await fetchJson(fn, fetcher, 'special_tokens_map.json', optional);
  if (specialTokensMap !== undefined) files.specialTokensMap = specialTokensMap;
  return files;
}

/**
 * `loadPretrained` over given dependencies (the registry, tokenizer and
 * generation-config readers).
 *
 * @internal Tests pass a test-only family; users call `loadPretrained`.
 */
export async function loadPretrainedWith<T>(
  fn: string,
  source: PretrainedSource,
  options: LoadPretrainedOptions | undefined,
  dependencies: LoadDependencies<T>,
): Promise<LoadedPretrained<T>> {
  const fetcher = sourceFetch(fn, source);
  checkOptionKeys(fn, options, LOAD_OPTION_KEYS);
  const { onProgress, signal, dtype = 'float32' } = options ?? {};
  if (dtype !== 'float32') {
    throw new TfjsBlocksError(fn, 'options.dtype', "'float32'", describeChoice(dtype));
  }
  if (onProgress !== undefined && typeof onProgress !== 'function') {
    throw new TfjsBlocksError(fn, 'options.onProgress', 'a function', describeValue(onProgress));
  }
  if (
    signal !== undefined &&
    (signal === null || typeof signal !== 'object' || typeof signal.aborted !== 'boolean')
  ) {
    throw new TfjsBlocksError(fn, 'options.signal', 'an AbortSignal', describeValue(signal));
  }
  throwIfAborted(signal);
  // Everything but the weights first: a bad folder fails before any tensor exists.
  const json = await fetchJson(fn, fetcher, 'config.json', { signal });
  const read = configJsonReader(fn, json, 'config.json');
  const family = dependencies.familyFor(fn, json);
  const config = family.fromConfigJson(read);
  const modelType = read.string('model_type');
  const generationJson = await fetchJson(fn, fetcher, 'generation_config.json', {
    optional: true,
    signal,
  });
  const generationConfig =
    generationJson === undefined || family.kind !== 'decoder-lm'
      ? undefined
      : dependencies.generationConfig(
          configJsonReader(fn, generationJson, 'generation_config.json'),
        );
  const files = await readTokenizerFiles(fn, fetcher, signal);
  const tokenizer = files === undefined ? undefined : dependencies.loadTokenizer(files);
  const params = await loadWeights<unknown, unknown>(fn, fetcher, family, config, {
    ...(signal === undefined ? {} : { signal }),
    ...(onProgress === undefined ? {} : { onProgress }),
  });
  return {
    kind: family.kind,
    modelType,
    config,
    params,
    generationConfig,
    tokenizer,
  } as LoadedPretrained<T>;
}
