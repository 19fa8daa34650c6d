import { TfjsBlocksError } from '../errors';
import { describeChoice, describeValue } from '../internal/checks';
import { hasName, ownEntry } from '../internal/records';

/**
 * The files of a Hugging Face tokenizer, parsed: what `loadTokenizer` reads
 * and `HuggingFaceTokenizer.files()` gives back for `savePretrained`.
 *
 * @example
 * ```ts
 * const files: TokenizerFiles = {
 *   tokenizerJson: { model: { type: 'WordLevel' } },
 *   tokenizerConfig: { eos_token: '</s>' },
 *   chatTemplate: '{% for m in messages %}{{ m.content }}{% endfor %}',
 * };
 * ```
 */
export type TokenizerFiles = {
  /** `tokenizer.json`, parsed. */
  tokenizerJson: unknown;
  /** `tokenizer_config.json`, parsed, if the folder has one. */
  tokenizerConfig?: unknown;
  /**
   * The text of `chat_template.jinja` (where transformers 5 writes the
   * template); it takes precedence over `tokenizer_config.json`'s `chat_template`.
   */
  chatTemplate?: string;
  /** `special_tokens_map.json`, parsed, if the folder has one (older folders). */
  specialTokensMap?: unknown;
};

/** A parsed JSON object (not an array, not null). */
export type JsonObject = Record<string, unknown>;

/** The pre-tokenizer, normalizer, model, post-processor and decoder types `@huggingface/tokenizers` 0.2.0 builds. */
const SUPPORTED: Readonly<Record<string, readonly string[]>> = {
  model: ['BPE', 'WordPiece', 'Unigram'],
  normalizer: [
    'BertNormalizer',
    'Precompiled',
    'Sequence',
    'Replace',
    'NFC',
    'NFD',
    'NFKC',
    'NFKD',
    'Strip',
    'StripAccents',
    'Lowercase',
    'Prepend',
  ],
  pre_tokenizer: [
    'BertPreTokenizer',
    'Sequence',
    'Whitespace',
    'WhitespaceSplit',
    'Metaspace',
    'ByteLevel',
    'Split',
    'Punctuation',
    'Digits',
    'Replace',
    'FixedLength',
  ],
  post_processor: [
    'TemplateProcessing',
    'ByteLevel',
    'BertProcessing',
    'RobertaProcessing',
    'Sequence',
  ],
  decoder: [
    'ByteLevel',
    'WordPiece',
    'Metaspace',
    'BPEDecoder',
    'CTC',
    'Sequence',
    'Replace',
    'Fuse',
    'Strip',
    'ByteFallback',
  ],
};

/** Where `Sequence` components keep their parts, per component kind. */
const SEQUENCE_FIELD: Readonly<Record<string, string>> = {
  normalizer: 'normalizers',
  pre_tokenizer: 'pretokenizers',
  post_processor: 'processors',
  decoder: 'decoders',
};

export function isJsonObject(x: unknown): x is JsonObject {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/**
 * Checks `tokenizer.json` before the library reads it: an object with a
 * `model` of a supported type, supported components (inside `Sequence`s
 * too) and an `added_tokens` list. Each error's argument names the file and
 * field, e.g. `tokenizer.json: model.type`.
 */
export function checkTokenizerJson(fn: string, json: unknown): JsonObject {
  if (!isJsonObject(json)) {
    throw new TfjsBlocksError(fn, 'tokenizer.json', 'a parsed JSON object', describeValue(json));
  }
  const model = ownEntry(json, 'model');
  if (!isJsonObject(model)) {
    throw new TfjsBlocksError(fn, 'tokenizer.json: model', 'an object', describeValue(model));
  }
  checkComponentType(fn, 'model', model, 'model');
  for (const kind of ['normalizer', 'pre_tokenizer', 'post_processor', 'decoder']) {
    const component = ownEntry(json, kind);
    if (component === undefined || component === null) continue;
    checkComponent(fn, kind, component, kind);
  }
  const added = ownEntry(json, 'added_tokens');
  if (added !== undefined && !Array.isArray(added)) {
    throw new TfjsBlocksError(fn, 'tokenizer.json: added_tokens', 'an array', describeValue(added));
  }
  (added ?? []).forEach((token: unknown, i: number) => {
    const where = `tokenizer.json: added_tokens[${i}]`;
    if (!isJsonObject(token)) {
      throw new TfjsBlocksError(fn, where, 'an object', describeValue(token));
    }
    const id = ownEntry(token, 'id');
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) {
      throw new TfjsBlocksError(fn, `${where}.id`, 'an integer >= 0', describeValue(id));
    }
    if (typeof ownEntry(token, 'content') !== 'string') {
      const actual = describeValue(ownEntry(token, 'content'));
      throw new TfjsBlocksError(fn, `${where}.content`, 'a string', actual);
    }
  });
  // The library reads all five keys and added_tokens; absent ones mean "none".
  return {
    normalizer: null,
    pre_tokenizer: null,
    post_processor: null,
    decoder: null,
    ...json,
    added_tokens: added ?? [],
  };
}

function checkComponent(fn: string, kind: string, component: unknown, path: string): void {
  if (!isJsonObject(component)) {
    const argument = `tokenizer.json: ${path}`;
    throw new TfjsBlocksError(fn, argument, 'an object or null', describeValue(component));
  }
  const type = checkComponentType(fn, kind, component, path);
  if (type !== 'Sequence') return;
  const field = SEQUENCE_FIELD[kind]!;
  const parts = ownEntry(component, field);
  if (!Array.isArray(parts)) {
    const argument = `tokenizer.json: ${path}.${field}`;
    throw new TfjsBlocksError(fn, argument, 'an array', describeValue(parts));
  }
  parts.forEach((part: unknown, i: number) => {
    checkComponent(fn, kind, part, `${path}.${field}[${i}]`);
  });
}

function checkComponentType(fn: string, kind: string, component: JsonObject, path: string): string {
  const type = ownEntry(component, 'type');
  const supported = SUPPORTED[kind]!;
  if (typeof type !== 'string' || !supported.includes(type)) {
    throw new TfjsBlocksError(
      fn,
      `tokenizer.json: ${path}.type`,
      `one of ${supported.join(', ')} (what @huggingface/tokenizers 0.2.0 implements)`,
      describeChoice(type),
    );
  }
  return type;
}

/** `tokenizer_config.json` (or `{}` when absent) as an object, or a typed error. */
export function checkJsonObjectFile(fn: string, file: string, json: unknown): JsonObject {
  if (json === undefined) return {};
  if (!isJsonObject(json)) {
    throw new TfjsBlocksError(fn, file, 'a parsed JSON object', describeValue(json));
  }
  return json;
}

/**
 * A special token's text from `tokenizer_config.json` (then
 * `special_tokens_map.json`): a string, an AddedToken object
 * (`{content: '<s>', ...}`, older files) or null/absent for none.
 */
export function readSpecialToken(
  fn: string,
  config: JsonObject,
  map: JsonObject,
  key: string,
): string | undefined {
  for (const [file, record] of [
    ['tokenizer_config.json', config],
    ['special_tokens_map.json', map],
  ] as const) {
    if (!hasName(record, key)) continue;
    const value = record[key];
    if (value === null) return undefined;
    if (typeof value === 'string') return value;
    if (isJsonObject(value) && typeof ownEntry(value, 'content') === 'string') {
      return value.content as string;
    }
    throw new TfjsBlocksError(
      fn,
      `${file}: ${key}`,
      "a string, an object with a string 'content', or null",
      describeValue(value),
    );
  }
  return undefined;
}
