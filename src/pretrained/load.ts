/**
 * `loadPretrained`: a Hugging Face model folder (base URL, fetch-like
 * function, or `folderSource(dir)` in Node) to our config, params,
 * tokenizer and generation defaults. The small JSON files are read and
 * checked first; the weights last, streamed (see `weights.ts`).
 */

import {
  checkQuantizeParamsOptions,
  paramQuantizer,
  type QuantizeParamsOptions,
} from '../efficiency/quantization';
import { TfjsBlocksError } from '../errors';
import type { GenerateOptions } from '../generate/options';
import {
  checkInteger,
  checkOptionKeys,
  describeChoice,
  describeValue,
  optionKeys,
} from '../internal/checks';
import type { DecoderLmConfig, DecoderLmParams } from '../models/decoder-lm';
import type {
  EncoderClassifierConfig,
  EncoderClassifierParams,
} from '../models/encoder-classifier';
import type { WithQuantizedKernels } from '../nn/quantized-weights';
import { type HuggingFaceTokenizer, loadTokenizer } from '../tokenizers/hugging-face-tokenizer';
import type { TokenizerFiles } from '../tokenizers/tokenizer-files';
import { type ConfigJsonReader, configJsonReader } from './config-json';
import type { PretrainedFamily } from './families/family';
import { familyForConfigJson } from './families/registry';
import { generateOptionsFromConfigJson } from './generation-config';
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
      generationConfig?: Partial<GenerateOptions> | undefined;
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
  /**
   * Quantizes the weights while they load, with `quantizeParams`' options
   * (`bits`, `groupSize`, `kernelsOnly`) and its choice of matrices: each
   * matrix becomes a `QuantizedTensor` as it is read and its float bytes are
   * dropped before the next one, so the float32 model never exists whole
   * (a matrix stored as we keep it, such as GPT-2's tables and most of its
   * kernels, never becomes a tensor at all). The params equal `quantizeParams(loaded.params, quantize).params`
   * value for value. Default: none (float32 params).
   */
  quantize?: QuantizeParamsOptions;
}

const LOAD_OPTION_KEYS = optionKeys<LoadPretrainedOptions>({
  onProgress: true,
  signal: true,
  dtype: true,
  quantize: true,
});

/**
 * What {@link loadPretrained} returns with its `quantize` option: the same
 * model, its params with quantized matrices (`WithQuantizedKernels`), which
 * run in `decoderLm`, `generate` and `encoderClassifier` as they are.
 *
 * @example
 * ```ts
 * const loaded: QuantizedLoadedPretrained = await loadPretrained(source, { quantize: { bits: 8 } });
 * ```
 */
export type QuantizedLoadedPretrained<T = HuggingFaceTokenizer> = (
  | {
      /** A decoder-only language model. */
      kind: 'decoder-lm';
      /** `model_type` of `config.json`. */
      modelType: string;
      /** Its config. */
      config: DecoderLmConfig;
      /** Its params: matrices as `QuantizedTensor`s, the other leaves float32 tensors. */
      params: WithQuantizedKernels<DecoderLmParams>;
      /** Defaults for `generate` (from `generation_config.json`), if any. */
      generationConfig?: Partial<GenerateOptions> | undefined;
    }
  | {
      /** An encoder (BERT). */
      kind: 'encoder-classifier';
      /** `model_type` of `config.json`. */
      modelType: string;
      /** Its config. */
      config: EncoderClassifierConfig;
      /** Its params: matrices as `QuantizedTensor`s, the other leaves float32 tensors. */
      params: WithQuantizedKernels<EncoderClassifierParams>;
      /** Encoders have no generation defaults. */
      generationConfig?: undefined;
    }
) & {
  /** The folder's tokenizer; `undefined` when it has no `tokenizer.json`. */
  tokenizer: T | undefined;
};

/**
 * What the loader needs from the rest of issue 18, as functions: the family
 * registry, the tokenizer and the generation-config reader.
 *
 * @internal The public `loadPretrained` passes the library's own.
 */
export type LoadDependencies<T> = {
  familyFor(fn: string, json: unknown): PretrainedFamily<unknown>;
  loadTokenizer(files: TokenizerFiles): T;
  generationConfig(read: ConfigJsonReader): Partial<GenerateOptions>;
};

/**
 * What {@link loadPretrained} returns: the model (narrow on `kind`), its
 * tokenizer and its generation defaults (`generationConfig`, `undefined`
 * without a `generation_config.json`).
 *
 * @example
 * ```ts
 * const loaded: LoadedPretrained = await loadPretrained(source);
 * ```
 */
export type LoadedPretrained<T = HuggingFaceTokenizer> = PretrainedModel & {
  /** The folder's tokenizer; `undefined` when it has no `tokenizer.json`. */
  tokenizer: T | undefined;
};

/** Reads the optional tokenizer files; `undefined` when there is no `tokenizer.json`. */
async function readTokenizerFiles(
  fn: string,
  fetcher: PretrainedFetch,
  signal: AbortSignal | undefined,
): Promise<TokenizerFiles | undefined> {
  const tokenizerJson = await fetchJson(fn, fetcher, 'tokenizer.json', { optional: true, signal });
  if (tokenizerJson === undefined) return undefined;
  const files: TokenizerFiles = { tokenizerJson };
  const optional = { optional: true, signal };
  const tokenizerConfig = await fetchJson(fn, fetcher, 'tokenizer_config.json', optional);
  if (tokenizerConfig !== undefined) files.tokenizerConfig = tokenizerConfig;
  const chatTemplate = await fetchText(fn, fetcher, 'chat_template.jinja', optional);
  if (chatTemplate !== undefined) files.chatTemplate = chatTemplate;
  const specialTokensMap = await fetchJson(fn, fetcher, 'special_tokens_map.json', optional);
  if (specialTokensMap !== undefined) files.specialTokensMap = specialTokensMap;
  return files;
}

/** Checks `options.quantize` whole before any weight is read (a bad `bits` fails before any tensor exists). */
function checkQuantizeOption(fn: string, quantize: QuantizeParamsOptions): void {
  checkQuantizeParamsOptions(fn, quantize, 'options.quantize');
  const { bits, groupSize } = quantize;
  if (bits !== undefined && bits !== 8 && bits !== 4) {
    throw new TfjsBlocksError(fn, 'options.quantize.bits', '8 or 4', describeChoice(bits));
  }
  if (groupSize !== undefined) checkInteger(fn, 'options.quantize.groupSize', groupSize, 1);
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
  const { onProgress, signal, dtype = 'float32', quantize } = options ?? {};
  if (dtype !== 'float32') {
    throw new TfjsBlocksError(fn, 'options.dtype', "'float32'", describeChoice(dtype));
  }
  if (quantize !== undefined) checkQuantizeOption(fn, quantize);
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
    ...(quantize === undefined ? {} : { quantize: paramQuantizer(quantize) }),
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

/**
 * Loads a Hugging Face model folder: `config.json` (checked: an unknown
 * `model_type` or a value we cannot honour is a typed error naming the
 * field), `generation_config.json` (optional: defaults for `generate`), the
 * weights (`model.safetensors`, or `model.safetensors.index.json` and its
 * shards) and the tokenizer (`tokenizer.json` with `tokenizer_config.json`,
 * `chat_template.jinja`, `special_tokens_map.json`; optional).
 *
 * Memory: the JSON files are read and checked first, then every weight
 * file's header (a ranged request where the server allows), all checked
 * against the family's tensor names, dtypes and shapes before any tensor
 * exists; then the weights stream in, one file at a time, tensor by tensor
 * in offset order, each converted to our layout and its bytes dropped: the
 * peak is the params plus about one tensor, never the checkpoint twice.
 * float16 and bfloat16 weights are widened exactly to float32.
 *
 * Errors are `TfjsBlocksError`s whose argument names the file and the field
 * or tensor (`config.json: rope_scaling.rope_type`,
 * `model-00002-of-00004.safetensors: tensor "lm_head.weight".shape`): an
 * unknown `model_type`, a missing file or shard (`HTTP status 404`), other
 * HTTP statuses, malformed JSON, a missing, extra or mis-shaped tensor, a
 * truncated download. On any failure, or an abort, every tensor made so far
 * is disposed.
 *
 * @param source - a base URL (`https://huggingface.co/<repo>/resolve/main`),
 *   a fetch-like function `(file, init?) => Promise<Response>`, or, in Node,
 *   `folderSource(dir)` from `tfjs-blocks/node`.
 * With `quantize` (`quantizeParams`' options), each matrix is quantized as
 * it is read and its floats dropped before the next: the float32 model never
 * exists whole, and a matrix stored as we keep it (GPT-2's Conv1D kernels and
 * tables; not its fused q/k/v, which is split) never becomes a float tensor. The params are those of
 * `quantizeParams(loadPretrained(source).params, quantize)`, value for value.
 * GPT-2 small in int8 (`{ bits: 8, kernelsOnly: false }`): RSS after loading
 * ~0.32 GB instead of ~0.77 GB for load-then-quantize (docs/benchmarks.md).
 *
 * @param options - `onProgress({ loadedBytes, totalBytes, file })` (default
 *   none), `signal` (an `AbortSignal`; default none), `dtype` (`'float32'`,
 *   the default and only choice), `quantize` (`{ bits, groupSize,
 *   kernelsOnly }` as in `quantizeParams`; default none: float32 params).
 * @returns `{ kind, modelType, config, params, tokenizer, generationConfig }`:
 *   for `kind: 'decoder-lm'`, `decoderLm(config, params, ids)` gives logits
 *   `[batch, time, vocabSize]` and `generate({ kind: 'decoderLm', config,
 *   params }, prompts, { ...generationConfig, ... })` decodes. The params are
 *   new tensors the caller owns (with `quantize`, `QuantizedTensor`s for the
 *   quantized matrices).
 *
 * @example
 * ```ts
 * import { generate, loadPretrained } from 'tfjs-blocks';
 *
 * const base = 'https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct/resolve/main';
 * const model = await loadPretrained(base, { onProgress: (p) => console.log(p.loadedBytes, p.totalBytes) });
 * if (model.kind === 'decoder-lm' && model.tokenizer) {
 *   const prompt = model.tokenizer.encode('The capital of France is');
 *   const [out] = await generate({ kind: 'decoderLm', config: model.config, params: model.params }, [prompt], {
 *     ...model.generationConfig,
 *     maxNewTokens: 8,
 *   });
 *   console.log(model.tokenizer.decode(out ?? []));
 * }
 *
 * // int8 weights from the start: the float32 model never exists whole.
 * const small = await loadPretrained(base, { quantize: { bits: 8, kernelsOnly: false } });
 * if (small.kind === 'decoder-lm') {
 *   const [ids] = await generate({ kind: 'decoderLm', config: small.config, params: small.params }, [[1, 2, 3]], {
 *     maxNewTokens: 8,
 *   });
 * }
 * ```
 */
export function loadPretrained(
  source: PretrainedSource,
  options: LoadPretrainedOptions & { quantize: QuantizeParamsOptions },
): Promise<QuantizedLoadedPretrained>;
export function loadPretrained(
  source: PretrainedSource,
  options?: LoadPretrainedOptions,
): Promise<LoadedPretrained>;
export function loadPretrained(
  source: PretrainedSource,
  options?: LoadPretrainedOptions,
): Promise<LoadedPretrained | QuantizedLoadedPretrained> {
  return loadPretrainedWith('loadPretrained', source, options, {
    familyFor: familyForConfigJson,
    loadTokenizer: (files) => loadTokenizer(files),
    generationConfig: generateOptionsFromConfigJson,
  });
}
