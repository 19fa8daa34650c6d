import { Tokenizer as LibraryTokenizer } from '@huggingface/tokenizers';
import { TfjsBlocksError } from '../errors';
import type { Tokenizer } from '../generate/tokenizer';
import {
  checkFlag,
  checkOptionKeys,
  describeChoice,
  describeEntry,
  describeValue,
  optionKeys,
  truncateForMessage,
} from '../internal/checks';
import {
  type ChatMessage,
  type ChatTemplate,
  readChatTemplate,
  renderChatTemplate,
} from './chat-template';
import {
  checkJsonObjectFile,
  checkTokenizerJson,
  isJsonObject,
  readSpecialToken,
  type TokenizerFiles,
} from './tokenizer-files';
import { fixDecoder, fixPreTokenizer } from './unicode-fixes';

/** Which end of a sequence padding goes to: `'right'` (after the text) or `'left'` (before it, as decoder LMs batch prompts). */
export type PaddingSide = 'left' | 'right';

/** Options of {@link loadTokenizer}. */
export interface LoadTokenizerOptions {
  /** Overrides `tokenizer_config.json`'s `padding_side` (which defaults to `'right'`, as in `transformers`). */
  paddingSide?: PaddingSide;
}

/** Options of {@link HuggingFaceTokenizer.encode}. */
export interface EncodeOptions {
  /** Add the special tokens of the post-processor (`<s>`, `[CLS] ... [SEP]`), as `transformers` does. Default `true`. */
  addSpecialTokens?: boolean;
}

/** Options of {@link HuggingFaceTokenizer.decode}. */
export interface DecodeOptions {
  /** Leave special tokens (`<s>`, `[PAD]`, ...) out of the text. Default `false`. */
  skipSpecialTokens?: boolean;
}

/** Options of {@link HuggingFaceTokenizer.encodeBatch}. */
export interface EncodeBatchOptions {
  /** As in {@link EncodeOptions}. Default `true`. */
  addSpecialTokens?: boolean;
  /** Where the pad ids go. Default: the tokenizer's {@link HuggingFaceTokenizer.paddingSide}. */
  paddingSide?: PaddingSide;
}

/** A padded batch: ids and mask, both `[batch, time]` with `time` the longest sequence. */
export interface BatchEncoding {
  /** Token ids, padded with the pad token's id. */
  inputIds: number[][];
  /** 1 for a real token, 0 for padding. */
  attentionMask: number[][];
}

/** Options of {@link HuggingFaceTokenizer.applyChatTemplate}. */
export interface ChatTemplateOptions {
  /** End with the header of an assistant turn, so a model's continuation is the reply. Default `false`. */
  addGenerationPrompt?: boolean;
  /** Return token ids (the text encoded without adding special tokens, as `transformers` does) instead of text. Default `false`. */
  tokenize?: boolean;
  /** Tool descriptions (JSON schemas) for templates that read `tools`. Default none. */
  tools?: unknown[];
  /** Documents for retrieval templates that read `documents`. Default none. */
  documents?: unknown[];
  /** More template variables, as `apply_chat_template`'s `**kwargs`. Default none. */
  variables?: Record<string, unknown>;
}

/** The special tokens of a tokenizer: their text, when the files name one. */
export interface SpecialTokens {
  bos?: string;
  eos?: string;
  pad?: string;
  unk?: string;
}

const LOAD_OPTION_KEYS = optionKeys<LoadTokenizerOptions>({ paddingSide: true });
const ENCODE_OPTION_KEYS = optionKeys<EncodeOptions>({ addSpecialTokens: true });
const DECODE_OPTION_KEYS = optionKeys<DecodeOptions>({ skipSpecialTokens: true });
const BATCH_OPTION_KEYS = optionKeys<EncodeBatchOptions>({
  addSpecialTokens: true,
  paddingSide: true,
});
const CHAT_OPTION_KEYS = optionKeys<ChatTemplateOptions>({
  addGenerationPrompt: true,
  tokenize: true,
  tools: true,
  documents: true,
  variables: true,
});
const FILE_KEYS = optionKeys<TokenizerFiles>({
  tokenizerJson: true,
  tokenizerConfig: true,
  chatTemplate: true,
  specialTokensMap: true,
});
const SPECIAL_KINDS = ['bos', 'eos', 'pad', 'unk'] as const;

/**
 * Reads a Hugging Face tokenizer from its files (`tokenizer.json`,
 * `tokenizer_config.json`, `chat_template.jinja`, `special_tokens_map.json`,
 * parsed) into a {@link HuggingFaceTokenizer}: BPE (byte-level as GPT-2,
 * SentencePiece-style with byte fallback as Llama), WordPiece (BERT) and
 * Unigram, through `@huggingface/tokenizers`, giving the same ids as Python's
 * `tokenizers` / `transformers`.
 *
 * Throws {@link TfjsBlocksError} for files it cannot honour, naming the file
 * and field (`tokenizer.json: model.type`, `tokenizer_config.json: eos_token`,
 * `chat_template.jinja`).
 *
 * @param files - the parsed files; see {@link TokenizerFiles}.
 * @param options - `paddingSide` overrides the config's (default from
 *   `tokenizer_config.json`, else `'right'`).
 *
 * @example
 * ```ts
 * import { readFileSync } from 'node:fs';
 * const read = (name: string) => JSON.parse(readFileSync(`my-model/${name}`, 'utf8'));
 * const tokenizer = loadTokenizer({
 *   tokenizerJson: read('tokenizer.json'),
 *   tokenizerConfig: read('tokenizer_config.json'),
 * });
 * const ids = tokenizer.encode('Hello world');
 * tokenizer.decode(ids, { skipSpecialTokens: true }); // 'Hello world'
 * ```
 */
export function loadTokenizer(
  files: TokenizerFiles,
  options: LoadTokenizerOptions = {},
): HuggingFaceTokenizer {
  return new HuggingFaceTokenizer(files, options);
}

/**
 * A Hugging Face tokenizer behind the library's {@link Tokenizer} interface
 * (so `generate` and the examples take it), with the parts of `transformers`'
 * `PreTrainedTokenizerFast` that models need: special tokens, padding side,
 * padded batches and chat templates. Make it with {@link loadTokenizer}.
 *
 * It wraps `@huggingface/tokenizers` and fixes where that library's 0.2.0
 * disagrees with the Rust original (U+0085 and U+FEFF in the GPT-2 regex, a
 * byte-order mark lost by the byte-fallback decoder); `decode` cleans up
 * tokenization spaces only when `tokenizer_config.json` says
 * `clean_up_tokenization_spaces: true` (transformers 5's default is false).
 *
 * @example
 * ```ts
 * declare const tokenizer: HuggingFaceTokenizer;
 * const prompt = tokenizer.applyChatTemplate(
 *   [{ role: 'user', content: 'Hello!' }],
 *   { addGenerationPrompt: true, tokenize: true },
 * );
 * const { inputIds, attentionMask } = tokenizer.encodeBatch(['hi', 'hello there']);
 * ```
 */
export class HuggingFaceTokenizer implements Tokenizer {
  /**
   * The tokenizer's size: one more than its largest id (vocabulary plus added
   * tokens, `len(tokenizer)` in `transformers`). A model's vocabulary may be
   * larger (Qwen2, Phi-3 pad it), never smaller.
   */
  readonly vocabSize: number;
  /** The special tokens' text, as the files name them (`tokenizer_config.json`, then `special_tokens_map.json`). */
  readonly specialTokens: Readonly<SpecialTokens>;
  /** The id of the beginning-of-sequence token, `undefined` if the tokenizer has none. */
  readonly bosTokenId: number | undefined;
  /** The id of the end-of-sequence token, `undefined` if the tokenizer has none. */
  readonly eosTokenId: number | undefined;
  /** The id of the padding token, `undefined` if the tokenizer has none (GPT-2). */
  readonly padTokenId: number | undefined;
  /** The id of the unknown token, `undefined` if the tokenizer has none. */
  readonly unkTokenId: number | undefined;
  /** Where {@link encodeBatch} pads: `tokenizer_config.json`'s `padding_side`, `'right'` by default. */
  readonly paddingSide: PaddingSide;
  /** Whether the files carry a chat template. */
  readonly hasChatTemplate: boolean;

  private readonly library: LibraryTokenizer;
  private readonly chat: ChatTemplate | undefined;
  private readonly sourceFiles: TokenizerFiles;
  private readonly templateTokens: Record<string, string>;

  /** Use {@link loadTokenizer}. */
  constructor(files: TokenizerFiles, options: LoadTokenizerOptions = {}) {
    const fn = 'loadTokenizer';
    checkOptionKeys(fn, files, FILE_KEYS, 'files');
    checkOptionKeys(fn, options, LOAD_OPTION_KEYS);
    const json = checkTokenizerJson(fn, files.tokenizerJson);
    const config = checkJsonObjectFile(fn, 'tokenizer_config.json', files.tokenizerConfig);
    const map = checkJsonObjectFile(fn, 'special_tokens_map.json', files.specialTokensMap);
    const side = options.paddingSide ?? config.padding_side ?? 'right';
    if (side !== 'left' && side !== 'right') {
      const argument =
        options.paddingSide === undefined
          ? 'tokenizer_config.json: padding_side'
          : 'options.paddingSide';
      throw new TfjsBlocksError(fn, argument, "'left' or 'right'", describeChoice(side));
    }
    this.paddingSide = side;
    const cleanUp = config.clean_up_tokenization_spaces ?? false;
    if (typeof cleanUp !== 'boolean') {
      const argument = 'tokenizer_config.json: clean_up_tokenization_spaces';
      throw new TfjsBlocksError(fn, argument, 'true or false', describeValue(cleanUp));
    }
    try {
      // transformers 5 does not clean up spaces unless the config asks; the library's default is to.
      this.library = new LibraryTokenizer(json, {
        ...config,
        clean_up_tokenization_spaces: cleanUp,
      });
    } catch (e) {
      const reason = truncateForMessage((e as Error).message);
      throw new TfjsBlocksError(
        fn,
        'tokenizer.json',
        'a tokenizer file',
        `one rejected (${reason})`,
      );
    }
    fixPreTokenizer(this.library.pre_tokenizer);
    fixDecoder(this.library.decoder);

    let size = 0;
    for (const id of this.library.get_vocab(true).values()) size = Math.max(size, id + 1);
    this.vocabSize = size;

    const special: SpecialTokens = {};
    const ids: Partial<Record<(typeof SPECIAL_KINDS)[number], number>> = {};
    for (const kind of SPECIAL_KINDS) {
      const token = readSpecialToken(fn, config, map, `${kind}_token`);
      if (token === undefined) continue;
      const id = this.library.token_to_id(token);
      if (id === undefined) {
        throw new TfjsBlocksError(
          fn,
          `tokenizer_config.json: ${kind}_token`,
          'a token of tokenizer.json',
          describeChoice(token),
        );
      }
      special[kind] = token;
      ids[kind] = id;
    }
    this.specialTokens = Object.freeze(special);
    this.bosTokenId = ids.bos;
    this.eosTokenId = ids.eos;
    this.padTokenId = ids.pad;
    this.unkTokenId = ids.unk;
    // The template sees every `*_token` string of the config, as transformers passes its special tokens map.
    this.templateTokens = {};
    for (const key of new Set([...Object.keys(map), ...Object.keys(config)])) {
      if (!key.endsWith('_token')) continue;
      const token = readSpecialToken(fn, config, map, key);
      if (token !== undefined) this.templateTokens[key] = token;
    }
    this.chat = readChatTemplate(fn, files.chatTemplate, config);
    this.hasChatTemplate = this.chat !== undefined;
    this.sourceFiles = structuredClone(files);
  }

  /**
   * Text to token ids, with the special tokens of the post-processor unless
   * `addSpecialTokens: false`. Special tokens written in the text (`<|im_end|>`)
   * become their ids, as in `transformers`.
   *
   * @example
   * ```ts
   * declare const tokenizer: HuggingFaceTokenizer;
   * tokenizer.encode('Hello'); // e.g. [1, 15043] with Llama's <s>
   * tokenizer.encode('Hello', { addSpecialTokens: false }); // [15043]
   * ```
   */
  encode(text: string, options: EncodeOptions = {}): number[] {
    const fn = 'HuggingFaceTokenizer.encode';
    checkOptionKeys(fn, options, ENCODE_OPTION_KEYS);
    const add = checkFlag(fn, 'options.addSpecialTokens', options.addSpecialTokens, true);
    if (typeof text !== 'string') {
      throw new TfjsBlocksError(fn, 'text', 'a string', describeValue(text));
    }
    return this.library.encode(text, { add_special_tokens: add }).ids;
  }

  /**
   * Token ids to text; `decode([])` is `''`. Throws {@link TfjsBlocksError}
   * for an id that is not an integer in `[0, vocabSize)`.
   *
   * @example
   * ```ts
   * declare const tokenizer: HuggingFaceTokenizer;
   * tokenizer.decode(tokenizer.encode('Hello'), { skipSpecialTokens: true }); // 'Hello'
   * ```
   */
  decode(ids: number[], options: DecodeOptions = {}): string {
    const fn = 'HuggingFaceTokenizer.decode';
    checkOptionKeys(fn, options, DECODE_OPTION_KEYS);
    const skip = checkFlag(fn, 'options.skipSpecialTokens', options.skipSpecialTokens, false);
    this.checkIds(fn, 'ids', ids);
    if (ids.length === 0) return '';
    return this.library.decode(ids, { skip_special_tokens: skip });
  }

  /**
   * Encodes several texts and pads them to the longest with the pad token,
   * on {@link paddingSide} (or `options.paddingSide`), with the attention
   * mask: what `tokenizer(texts, padding=True)` gives in `transformers`.
   * Throws {@link TfjsBlocksError} if the tokenizer has no pad token.
   *
   * @returns `inputIds` and `attentionMask`, both `[batch, time]`.
   *
   * @example
   * ```ts
   * declare const tokenizer: HuggingFaceTokenizer;
   * const { inputIds, attentionMask } = tokenizer.encodeBatch(['hi', 'hello there'], {
   *   paddingSide: 'left',
   * });
   * ```
   */
  encodeBatch(texts: string[], options: EncodeBatchOptions = {}): BatchEncoding {
    const fn = 'HuggingFaceTokenizer.encodeBatch';
    checkOptionKeys(fn, options, BATCH_OPTION_KEYS);
    const add = checkFlag(fn, 'options.addSpecialTokens', options.addSpecialTokens, true);
    const side = options.paddingSide ?? this.paddingSide;
    if (side !== 'left' && side !== 'right') {
      throw new TfjsBlocksError(
        fn,
        'options.paddingSide',
        "'left' or 'right'",
        describeChoice(side),
      );
    }
    if (!Array.isArray(texts)) {
      throw new TfjsBlocksError(fn, 'texts', 'an array of strings', describeValue(texts));
    }
    const pad = this.padTokenId;
    if (pad === undefined) {
      throw new TfjsBlocksError(
        fn,
        'tokenizer_config.json: pad_token',
        'a pad token to pad with',
        'none (set pad_token in tokenizer_config.json)',
      );
    }
    const encoded: number[][] = [];
    for (let i = 0; i < texts.length; i++) {
      const text = texts[i];
      if (typeof text !== 'string') {
        throw new TfjsBlocksError(fn, `texts[${i}]`, 'a string', describeEntry(texts, i));
      }
      encoded.push(this.library.encode(text, { add_special_tokens: add }).ids);
    }
    const time = Math.max(0, ...encoded.map((ids) => ids.length));
    const inputIds: number[][] = [];
    const attentionMask: number[][] = [];
    for (const ids of encoded) {
      const padding = new Array<number>(time - ids.length).fill(pad);
      const zeros = new Array<number>(time - ids.length).fill(0);
      const ones = new Array<number>(ids.length).fill(1);
      inputIds.push(side === 'left' ? [...padding, ...ids] : [...ids, ...padding]);
      attentionMask.push(side === 'left' ? [...zeros, ...ones] : [...ones, ...zeros]);
    }
    return { inputIds, attentionMask };
  }

  /**
   * Renders a conversation with the tokenizer's chat template (from
   * `chat_template.jinja` or `tokenizer_config.json`'s `chat_template`) through
   * `@huggingface/jinja`, with the variables `transformers`' `apply_chat_template`
   * passes (`messages`, `add_generation_prompt`, `tools`, `documents`,
   * `bos_token`, `eos_token`, ... and `raise_exception`). With `tokenize: true`
   * it returns the ids of that text, encoded without adding special tokens
   * (the template writes them). Throws {@link TfjsBlocksError} if there is no
   * template, and naming `messages` when the template rejects the conversation.
   *
   * @example
   * ```ts
   * declare const tokenizer: HuggingFaceTokenizer;
   * const text = tokenizer.applyChatTemplate([{ role: 'user', content: 'Hi' }], {
   *   addGenerationPrompt: true,
   * }); // '<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n' for ChatML
   * ```
   */
  applyChatTemplate(
    messages: ChatMessage[],
    options: ChatTemplateOptions & { tokenize: true },
  ): number[];
  applyChatTemplate(
    messages: ChatMessage[],
    options?: ChatTemplateOptions & { tokenize?: false },
  ): string;
  applyChatTemplate(messages: ChatMessage[], options?: ChatTemplateOptions): string | number[];
  applyChatTemplate(messages: ChatMessage[], options: ChatTemplateOptions = {}): string | number[] {
    const fn = 'HuggingFaceTokenizer.applyChatTemplate';
    checkOptionKeys(fn, options, CHAT_OPTION_KEYS);
    const generation = checkFlag(
      fn,
      'options.addGenerationPrompt',
      options.addGenerationPrompt,
      false,
    );
    const tokenize = checkFlag(fn, 'options.tokenize', options.tokenize, false);
    if (this.chat === undefined) {
      throw new TfjsBlocksError(
        fn,
        'chat_template.jinja',
        'a chat template (chat_template.jinja or tokenizer_config.json: chat_template)',
        'none in the tokenizer files',
      );
    }
    checkMessages(fn, messages);
    if (options.variables !== undefined && !isJsonObject(options.variables)) {
      const actual = describeValue(options.variables);
      throw new TfjsBlocksError(fn, 'options.variables', 'an object', actual);
    }
    for (const key of ['tools', 'documents'] as const) {
      const value = options[key];
      if (value !== undefined && !Array.isArray(value)) {
        throw new TfjsBlocksError(fn, `options.${key}`, 'an array', describeValue(value));
      }
    }
    const text = renderChatTemplate(fn, this.chat, {
      ...this.templateTokens,
      ...options.variables,
      messages,
      add_generation_prompt: generation,
      tools: options.tools ?? null,
      documents: options.documents ?? null,
    });
    return tokenize ? this.library.encode(text, { add_special_tokens: false }).ids : text;
  }

  /**
   * The files this tokenizer was read from (copies): what `savePretrained`
   * writes back so `AutoTokenizer.from_pretrained` reads the same tokenizer.
   *
   * @example
   * ```ts
   * declare const tokenizer: HuggingFaceTokenizer;
   * const { tokenizerJson, tokenizerConfig, chatTemplate } = tokenizer.files();
   * ```
   */
  files(): TokenizerFiles {
    return structuredClone(this.sourceFiles);
  }

  private checkIds(fn: string, name: string, ids: unknown): asserts ids is number[] {
    if (!Array.isArray(ids)) {
      throw new TfjsBlocksError(fn, name, 'an array of ids', describeValue(ids));
    }
    for (let i = 0; i < ids.length; i++) {
      const id: unknown = ids[i];
      if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
        throw new TfjsBlocksError(
          fn,
          `${name}[${i}]`,
          `an integer in [0, ${this.vocabSize})`,
          describeEntry(ids, i),
        );
      }
    }
  }
}

function checkMessages(fn: string, messages: unknown): void {
  if (!Array.isArray(messages)) {
    throw new TfjsBlocksError(fn, 'messages', 'an array of messages', describeValue(messages));
  }
  for (let i = 0; i < messages.length; i++) {
    const m: unknown = messages[i];
    if (!isJsonObject(m)) {
      throw new TfjsBlocksError(fn, `messages[${i}]`, 'an object', describeEntry(messages, i));
    }
    if (typeof m.role !== 'string') {
      throw new TfjsBlocksError(fn, `messages[${i}].role`, 'a string', describeValue(m.role));
    }
  }
}
