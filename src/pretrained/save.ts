/**
 * The files of a Hugging Face model folder for a model of ours: `config.json`,
 * `generation_config.json`, the weights (one `model.safetensors`, or shards
 * `model-00001-of-0000N.safetensors` with `model.safetensors.index.json`) and
 * the tokenizer files. Browser-safe; `savePretrained` in `tfjs-blocks/node`
 * writes them to a folder, one shard's tensors at a time.
 */
import { dispose, type Tensor, tidy } from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import type { GenerateOptions } from '../generate/options';
import {
  checkInteger,
  checkOptionKeys,
  checkTensor,
  describeValue,
  formatShape,
  optionKeys,
} from '../internal/checks';
import { emptyRecord, ownEntry } from '../internal/records';
import { serializeSafetensors } from '../interop/safetensors';
import type { TokenizerFiles } from '../tokenizers/tokenizer-files';
import type { PretrainedFamily, TensorRule } from './families/family';
import { familyForConfigJson } from './families/registry';
import { toGenerationConfigJson } from './generation-config';
import type { LoadedPretrained, PretrainedModel } from './load';
import { WEIGHTS_FILE, WEIGHTS_INDEX_FILE } from './weights';

/**
 * Options of `savePretrained` and {@link pretrainedFiles}.
 *
 * @example
 * ```ts
 * const options: SavePretrainedOptions = { maxShardSize: 2_000_000_000 };
 * ```
 */
export interface SavePretrainedOptions {
  /**
   * The most tensor bytes per weight file; above it the weights are split
   * into shards `model-00001-of-0000N.safetensors` with
   * `model.safetensors.index.json`, as `transformers` does (a tensor larger
   * than this gets a shard of its own). Default `5_000_000_000` (HF's "5GB").
   */
  maxShardSize?: number;
}

const SAVE_OPTION_KEYS = optionKeys<SavePretrainedOptions>({ maxShardSize: true });
/**
 * What `model` may hold: a {@link PretrainedModel}, or all that
 * `loadPretrained` returns (its `tokenizer` is not saved from here: pass it
 * as the `tokenizer` argument, as the docs do).
 */
const MODEL_KEYS = optionKeys<LoadedPretrained<unknown>>({
  kind: true,
  modelType: true,
  config: true,
  params: true,
  generationConfig: true,
  tokenizer: true,
});
/** The `transformers` version whose folder layout is written. */
const TRANSFORMERS_VERSION = '5.0.0';
const DEFAULT_MAX_SHARD_SIZE = 5_000_000_000;

/**
 * A tokenizer that can give back its files (`HuggingFaceTokenizer` does).
 *
 * @example
 * ```ts
 * const tokenizer: PretrainedTokenizerSource = { files: () => ({ tokenizerJson: json }) };
 * ```
 */
export interface PretrainedTokenizerSource {
  /** The files it was made from, parsed. */
  files(): TokenizerFiles;
  /** Its beginning-of-sequence id, written as `config.json`'s `bos_token_id`. Default none. */
  readonly bosTokenId?: number | undefined;
  /** Its end-of-sequence id, `config.json`'s `eos_token_id` (unless the generation config has one). */
  readonly eosTokenId?: number | undefined;
  /** Its padding id, `config.json`'s `pad_token_id` (unless the generation config has one). */
  readonly padTokenId?: number | undefined;
}

/** One file of a folder; weights are computed per shard, on demand. */
export type PlannedPretrainedFile =
  | { name: string; text: string }
  | { name: string; rules: TensorRule[]; tensors: () => Record<string, Tensor> };

/**
 * What the writers need from the rest of issue 18.
 *
 * @internal The public writers pass the library's registry and generation-config writer.
 */
export type SaveDependencies = {
  familyFor(fn: string, json: unknown): PretrainedFamily<unknown>;
  toGenerationConfigJson(options: Partial<GenerateOptions>): Record<string, unknown>;
};

const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;

/** The param at `path` in `params`, checked to be a live tensor. */
function paramAt(fn: string, params: unknown, path: string[]): Tensor {
  let node: unknown = params;
  for (const key of path) {
    node =
      node !== null && typeof node === 'object'
        ? ownEntry(node as Record<string, unknown>, key)
        : undefined;
  }
  return checkTensor(fn, `model.params.${path.join('.')}`, node);
}

/**
 * `config.json`'s `bos_token_id`, `eos_token_id` and `pad_token_id`: the
 * generation config's `eosTokenId` / `padId`, else the tokenizer's ids, else
 * `null`. Always written: where the field is absent `transformers` takes its
 * class default (GPT-2's 50256, Llama's 1 and 2, Gemma's 2, 1 and 0, Phi-3's
 * 32000), ids our model may not have. A pad id must be a row of the
 * embedding (`transformers` builds it with `padding_idx`).
 */
function tokenIdsJson(
  fn: string,
  model: PretrainedModel,
  tokenizer: PretrainedTokenizerSource | undefined,
): Record<string, unknown> {
  const id = (argument: string, value: unknown): number | undefined =>
    value === undefined ? undefined : checkInteger(fn, argument, value, 0);
  const generation = model.generationConfig;
  const eos =
    generation?.eosTokenId !== undefined
      ? generation.eosTokenId
      : id('tokenizer.eosTokenId', tokenizer?.eosTokenId);
  const pad =
    generation?.padId !== undefined
      ? generation.padId
      : id('tokenizer.padTokenId', tokenizer?.padTokenId);
  const vocabSize = model.config.vocabSize;
  if (pad !== undefined && pad >= vocabSize) {
    throw new TfjsBlocksError(
      fn,
      generation?.padId !== undefined ? 'model.generationConfig.padId' : 'tokenizer.padTokenId',
      `an id below the model's vocabSize ${vocabSize} (config.json: pad_token_id)`,
      String(pad),
    );
  }
  return {
    bos_token_id: id('tokenizer.bosTokenId', tokenizer?.bosTokenId) ?? null,
    eos_token_id: eos ?? null,
    pad_token_id: pad ?? null,
  };
}

/** Splits the rules into shards of at most `max` bytes, in order, as `transformers` does. */
function shardRules(rules: TensorRule[], max: number): TensorRule[][] {
  const shards: TensorRule[][] = [];
  let current: TensorRule[] = [];
  let size = 0;
  for (const rule of rules) {
    const bytes = 4 * rule.shape.reduce((a, b) => a * b, 1);
    if (current.length > 0 && size + bytes > max) {
      shards.push(current);
      current = [];
      size = 0;
    }
    current.push(rule);
    size += bytes;
  }
  if (current.length > 0 || shards.length === 0) shards.push(current);
  return shards;
}

/**
 * Checks the model, tokenizer and options and lays out the folder: the JSON
 * files as text, each weight file as its rules and a function that computes
 * its tensors (new, in the checkpoint's layout; the caller disposes them).
 * Every param is checked (present, live, of the checkpoint's shape after
 * its rule) before this returns, so a writer fails before it writes.
 *
 * @internal Shared by `pretrainedFiles` and the Node `savePretrained`.
 */
export function planPretrained(
  fn: string,
  model: PretrainedModel,
  tokenizer: PretrainedTokenizerSource | undefined,
  options: SavePretrainedOptions | undefined,
  dependencies: SaveDependencies,
): PlannedPretrainedFile[] {
  if (model === null || typeof model !== 'object' || Array.isArray(model)) {
    throw new TfjsBlocksError(
      fn,
      'model',
      '{kind, modelType, config, params}',
      describeValue(model),
    );
  }
  checkOptionKeys(fn, model, MODEL_KEYS, 'model');
  checkOptionKeys(fn, options, SAVE_OPTION_KEYS);
  const max =
    options?.maxShardSize === undefined
      ? DEFAULT_MAX_SHARD_SIZE
      : checkInteger(fn, 'options.maxShardSize', options.maxShardSize, 1);
  if (typeof model.modelType !== 'string') {
    throw new TfjsBlocksError(fn, 'model.modelType', 'a string', describeValue(model.modelType));
  }
  const family = dependencies.familyFor(fn, { model_type: model.modelType });
  if (family.kind !== model.kind) {
    throw new TfjsBlocksError(fn, 'model.kind', `'${family.kind}'`, describeValue(model.kind));
  }
  if (tokenizer !== undefined && typeof tokenizer?.files !== 'function') {
    throw new TfjsBlocksError(
      fn,
      'tokenizer',
      'a tokenizer with files()',
      describeValue(tokenizer),
    );
  }
  const config = model.config;
  // The config first: one the family's config.json cannot express is named
  // by its field, before any parameter is checked against the rules.
  const familyJson = family.toConfigJson(config);
  const rules = family.tensors(config);
  // Check every param against its rule (tensor by tensor, freed at once).
  for (const rule of rules) {
    const inputs = rule.paths.map((path) => paramAt(fn, model.params, path));
    tidy(() => {
      const out = rule.save(inputs);
      if (out.shape.length !== rule.shape.length || out.shape.some((d, i) => d !== rule.shape[i])) {
        throw new TfjsBlocksError(
          fn,
          `model.params.${rule.paths[0]!.join('.')}`,
          `a tensor that makes ${rule.name} of shape ${formatShape(rule.shape)}`,
          `one that makes ${formatShape(out.shape)}`,
        );
      }
    });
  }
  const configJson = {
    architectures: [family.architecture],
    ...familyJson,
    ...tokenIdsJson(fn, model, tokenizer),
    model_type: model.modelType,
    dtype: 'float32',
    torch_dtype: 'float32',
    transformers_version: TRANSFORMERS_VERSION,
  };
  const files: PlannedPretrainedFile[] = [{ name: 'config.json', text: json(configJson) }];
  if (model.generationConfig !== undefined) {
    const generation = dependencies.toGenerationConfigJson(model.generationConfig);
    files.push({
      name: 'generation_config.json',
      text: json({ ...generation, transformers_version: TRANSFORMERS_VERSION }),
    });
  }
  const shards = shardRules(rules, max);
  const count = String(shards.length).padStart(5, '0');
  const names = shards.map((_, i) =>
    shards.length === 1
      ? WEIGHTS_FILE
      : `model-${String(i + 1).padStart(5, '0')}-of-${count}.safetensors`,
  );
  shards.forEach((shard, i) => {
    files.push({
      name: names[i]!,
      rules: shard,
      tensors: () =>
        tidy(() => {
          const out = emptyRecord<Tensor>();
          for (const rule of shard) {
            out[rule.name] = rule.save(rule.paths.map((p) => paramAt(fn, model.params, p)));
          }
          return out;
        }),
    });
  });
  if (shards.length > 1) {
    const weightMap = emptyRecord<string>();
    let total = 0;
    shards.forEach((shard, i) => {
      for (const rule of shard) {
        weightMap[rule.name] = names[i]!;
        total += 4 * rule.shape.reduce((a, b) => a * b, 1);
      }
    });
    files.push({
      name: WEIGHTS_INDEX_FILE,
      text: json({ metadata: { total_size: total }, weight_map: weightMap }),
    });
  }
  if (tokenizer !== undefined) {
    const t = tokenizer.files();
    files.push({ name: 'tokenizer.json', text: json(t.tokenizerJson) });
    if (t.tokenizerConfig !== undefined) {
      files.push({ name: 'tokenizer_config.json', text: json(t.tokenizerConfig) });
    }
    if (t.chatTemplate !== undefined) {
      files.push({ name: 'chat_template.jinja', text: t.chatTemplate });
    }
    if (t.specialTokensMap !== undefined) {
      files.push({ name: 'special_tokens_map.json', text: json(t.specialTokensMap) });
    }
  }
  return files;
}

/**
 * One file of a model folder, as bytes.
 *
 * @example
 * ```ts
 * const file: PretrainedFile = { name: 'config.json', bytes: new TextEncoder().encode('{}') };
 * ```
 */
export interface PretrainedFile {
  /** Its name in the folder (`config.json`, `model-00001-of-00002.safetensors`). */
  name: string;
  /** Its content. */
  bytes: Uint8Array;
}

/**
 * {@link planPretrained}'s files as bytes, each weight file's tensors made,
 * serialized and freed before the next.
 *
 * @internal The public `pretrainedFiles` passes the library's dependencies.
 */
export function pretrainedFilesWith(
  fn: string,
  model: PretrainedModel,
  tokenizer: PretrainedTokenizerSource | undefined,
  options: SavePretrainedOptions | undefined,
  dependencies: SaveDependencies,
): PretrainedFile[] {
  return planPretrained(fn, model, tokenizer, options, dependencies).map((file) => {
    if ('text' in file) return { name: file.name, bytes: new TextEncoder().encode(file.text) };
    const tensors = file.tensors();
    try {
      return { name: file.name, bytes: serializeSafetensors(tensors, { format: 'pt' }) };
    } finally {
      dispose(Object.values(tensors));
    }
  });
}

/**
 * The library's registry and generation-config writer, for the public writers.
 *
 * @internal Shared by `pretrainedFiles` and the Node `savePretrained`.
 */
export const SAVE_DEPENDENCIES: SaveDependencies = {
  familyFor: familyForConfigJson,
  toGenerationConfigJson,
};

/**
 * The files of a Hugging Face model folder for `model`, as bytes (browser
 * and Node): `config.json` (`architectures`, `model_type`, `dtype` float32,
 * `transformers_version`), `generation_config.json` when
 * `model.generationConfig` is set, the weights as `model.safetensors` or,
 * above `maxShardSize`, as `model-00001-of-0000N.safetensors` shards with
 * `model.safetensors.index.json` (`metadata.total_size`, `weight_map`), and
 * the tokenizer's files. `transformers`' `from_pretrained` reads the folder
 * back to the same model. In Node, `savePretrained` writes the same files
 * to a folder without holding them all in memory.
 *
 * Every param is checked (present, a live tensor, of its checkpoint shape)
 * before any file is made; the params are not disposed.
 *
 * @param model - `{ kind, modelType, config, params, generationConfig? }`, as
 *   {@link loadPretrained} returns it.
 * @param tokenizer - a tokenizer with `files()` (a `HuggingFaceTokenizer`); default none.
 * @param options - `maxShardSize`: the most tensor bytes per weight file
 *   (default `5_000_000_000`).
 * @returns the files, each `{ name, bytes }`.
 *
 * @example
 * ```ts
 * import { gpt2Config, initDecoderLm, pretrainedFiles } from 'tfjs-blocks';
 *
 * const config = gpt2Config({ vocabSize: 100, maxLength: 32, dModel: 16, numLayers: 1, numHeads: 2 });
 * const files = pretrainedFiles({ kind: 'decoder-lm', modelType: 'gpt2', config, params: initDecoderLm(config, 0) });
 * console.log(files.map((f) => f.name)); // ['config.json', 'model.safetensors']
 * ```
 */
export function pretrainedFiles(
  model: PretrainedModel,
  tokenizer?: PretrainedTokenizerSource,
  options?: SavePretrainedOptions,
): PretrainedFile[] {
  return pretrainedFilesWith('pretrainedFiles', model, tokenizer, options, SAVE_DEPENDENCIES);
}
