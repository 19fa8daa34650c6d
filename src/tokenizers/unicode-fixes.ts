import {
  ByteFallbackDecoder,
  ByteLevelPreTokenizer,
  type Decoder,
  type PreTokenizer,
  SequenceDecoder,
  SequencePreTokenizer,
} from '@huggingface/tokenizers';

/**
 * Where `@huggingface/tokenizers` 0.2.0 disagrees with the Rust `tokenizers`
 * that wrote the files, and the patch that makes it agree. Each is applied to
 * the objects the library built from `tokenizer.json`, so every tokenizer that
 * uses the piece is fixed, wherever it sits in a `Sequence`.
 *
 * 1. The GPT-2 pre-tokenizer regex (`ByteLevel` with `use_regex`) is written
 *    with JavaScript's `\s`, which counts U+FEFF as whitespace and misses
 *    U+0085; Rust's `\s` is Unicode `White_Space` (U+0085 in, U+FEFF out).
 *    `"!\u0085"` is one pre-token in JavaScript, two in Rust. (Regexes read
 *    from a `Split` pre-tokenizer are already translated by the library.)
 * 2. The `ByteFallback` decoder turns `<0xNN>` runs into text with a default
 *    `TextDecoder`, which drops a leading byte-order mark, so U+FEFF vanished
 *    from decoded text; Rust keeps it.
 */

/** The GPT-2 pattern of Rust `tokenizers`' ByteLevel, with `\s` as Unicode `White_Space`. */
export const GPT2_PATTERN =
  /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\p{White_Space}\p{L}\p{N}]+|\p{White_Space}+(?!\P{White_Space})|\p{White_Space}+/gu;

// The fields the patches replace; private in the library's typings.
type WithPattern = { pattern: RegExp };
type WithTextDecoder = { text_decoder: TextDecoder };
type WithPreTokenizers = { tokenizers: PreTokenizer[] };
type WithDecoders = { decoders: Decoder[] };

/** Patches the pre-tokenizer tree in place (see the list above). */
export function fixPreTokenizer(preTokenizer: PreTokenizer | null): void {
  if (preTokenizer instanceof ByteLevelPreTokenizer) {
    (preTokenizer as unknown as WithPattern).pattern = new RegExp(GPT2_PATTERN.source, 'gu');
  } else if (preTokenizer instanceof SequencePreTokenizer) {
    for (const inner of (preTokenizer as unknown as WithPreTokenizers).tokenizers) {
      fixPreTokenizer(inner);
    }
  }
}

/** Patches the decoder tree in place (see the list above). */
export function fixDecoder(decoder: Decoder | null): void {
  if (decoder instanceof ByteFallbackDecoder) {
    (decoder as unknown as WithTextDecoder).text_decoder = new TextDecoder('utf-8', {
      ignoreBOM: true,
    });
  } else if (decoder instanceof SequenceDecoder) {
    for (const inner of (decoder as unknown as WithDecoders).decoders) fixDecoder(inner);
  }
}
