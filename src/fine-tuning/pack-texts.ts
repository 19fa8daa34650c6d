import { TfjsBlocksError } from '../errors';
import type { Tokenizer } from '../generate/tokenizer';
import { checkInteger, checkOptionKeys, describeValue, optionKeys } from '../internal/checks';
import type { SequenceExample } from './examples';

/** Options of {@link packTexts}. */
export interface PackTextsOptions {
  /** Tokens per sequence (the model's context, at most its `maxLength`). */
  sequenceLength: number;
  /**
   * The id put after each document, so the model learns where one ends.
   * Default: the tokenizer's `eosTokenId` (a `HuggingFaceTokenizer` has
   * one); required for tokenizers without it.
   */
  eosId?: number;
}

const PACK_KEYS = optionKeys<PackTextsOptions>({ sequenceLength: true, eosId: true });

/** The end-of-sequence id of a tokenizer that has one (`HuggingFaceTokenizer.eosTokenId`). */
export function tokenizerId(
  tokenizer: Tokenizer,
  key: 'eosTokenId' | 'padTokenId',
): number | undefined {
  const id = (tokenizer as Partial<Record<typeof key, unknown>>)[key];
  return typeof id === 'number' ? id : undefined;
}

/**
 * Tokenizes plain texts and packs them into sequences of exactly
 * `sequenceLength` tokens, as Hugging Face's `group_texts` (`run_clm.py`)
 * does: every text is encoded, followed by the end-of-sequence id,
 * the documents are concatenated, and the stream is cut into
 * consecutive blocks; the last partial block is dropped. Every token is
 * learned (`labels` equals `ids`), and no padding is needed.
 *
 * @param tokenizer - any {@link Tokenizer} (`ByteTokenizer`, `HuggingFaceTokenizer`, ...).
 * @param texts - the documents.
 * @returns `floor(totalTokens / sequenceLength)` examples, ids and labels `[sequenceLength]`.
 * @example
 * ```ts
 * const tokenizer = new ByteTokenizer({ specialTokens: ['<eos>'] });
 * const examples = packTexts(tokenizer, ['first text', 'second text'], {
 *   sequenceLength: 8,
 *   eosId: tokenizer.tokenId('<eos>'),
 * });
 * examples.length; // 2: 23 tokens make two blocks of 8
 * ```
 */
export function packTexts(
  tokenizer: Tokenizer,
  texts: readonly string[],
  options: PackTextsOptions,
): SequenceExample[] {
  const fn = 'packTexts';
  if (tokenizer === null || typeof tokenizer?.encode !== 'function') {
    throw new TfjsBlocksError(
      fn,
      'tokenizer',
      'a Tokenizer (with encode)',
      describeValue(tokenizer),
    );
  }
  if (!Array.isArray(texts) || !texts.every((t) => typeof t === 'string')) {
    throw new TfjsBlocksError(fn, 'texts', 'an array of strings', describeValue(texts));
  }
  checkOptionKeys(fn, options, PACK_KEYS);
  const length = checkInteger(fn, 'options.sequenceLength', options.sequenceLength, 2);
  const eos = options.eosId ?? tokenizerId(tokenizer, 'eosTokenId');
  if (eos === undefined) {
    throw new TfjsBlocksError(
      fn,
      'options.eosId',
      'an id (the tokenizer names no end-of-sequence token)',
      'undefined',
    );
  }
  checkInteger(fn, 'options.eosId', eos, 0);
  const stream: number[] = [];
  for (const text of texts) {
    for (const id of tokenizer.encode(text)) stream.push(id);
    stream.push(eos);
  }
  const examples: SequenceExample[] = [];
  for (let start = 0; start + length <= stream.length; start += length) {
    const ids = stream.slice(start, start + length);
    examples.push({ ids, labels: ids.slice() });
  }
  return examples;
}
