import { TfjsBlocksError } from '../errors';
import { checkOptionKeys, describeEntry, describeValue, optionKeys } from '../internal/checks';

/**
 * What generation needs from a tokenizer: text to ids, ids to text, and the
 * vocabulary size (the model's output width). Any BPE tokenizer from npm can
 * be wrapped to fit; see docs/generation.md.
 *
 * @example
 * ```ts
 * import { encode, decode } from 'gpt-tokenizer';
 * const gpt2: Tokenizer = { vocabSize: 50257, encode, decode };
 * ```
 */
export interface Tokenizer {
  /** Number of ids: every id `encode` returns, and every id `decode` accepts, is in `[0, vocabSize)`. */
  readonly vocabSize: number;
  /** Text to token ids. */
  encode(text: string): number[];
  /** Token ids to text. */
  decode(ids: number[]): string;
}

/** Options of {@link ByteTokenizer}. */
export interface ByteTokenizerOptions {
  /**
   * Special tokens, given ids 256, 257, ... in this order: distinct, non-empty
   * strings such as `['<eos>', '<pad>']`. Default `[]`.
   */
  specialTokens?: string[];
}

const BYTE_TOKENIZER_OPTION_KEYS = optionKeys<ByteTokenizerOptions>({ specialTokens: true });

const BYTES = 256;

/**
 * A byte-level tokenizer: ids 0 to 255 are the UTF-8 bytes of the text, and
 * optional special tokens take ids 256, 257, ... in the order given. It needs
 * no vocabulary file, so it suits small character-level models, tests and
 * demos; any text round-trips.
 *
 * `encode` never produces special ids: a special token's string in the text
 * is encoded as its plain bytes, so user text cannot inject an `<eos>`. Add
 * special ids yourself (`[...tokenizer.encode(text), tokenizer.tokenId('<eos>')]`).
 * Lone surrogates in the text are encoded as U+FFFD, as `TextEncoder` does.
 *
 * `decode` turns each run of byte ids into text with `TextDecoder` (a byte
 * order mark is kept, and an invalid or incomplete UTF-8 sequence becomes
 * U+FFFD) and each special id into its string. Decoding tokens one at a
 * time can split a multi-byte character; when streaming, decode the whole
 * sequence so far and print what was added.
 *
 * @example
 * ```ts
 * const tokenizer = new ByteTokenizer({ specialTokens: ['<eos>', '<pad>'] });
 * tokenizer.vocabSize; // 258
 * const ids = tokenizer.encode('héllo'); // [104, 195, 169, 108, 108, 111]
 * tokenizer.decode([...ids, tokenizer.tokenId('<eos>')]); // 'héllo<eos>'
 * ```
 */
export class ByteTokenizer implements Tokenizer {
  /** 256 plus the number of special tokens. */
  readonly vocabSize: number;
  private readonly specials: readonly string[];
  private readonly specialIds: ReadonlyMap<string, number>;
  private readonly encoder = new TextEncoder();
  // ignoreBOM keeps a leading U+FEFF in the text instead of stripping it, so it round-trips.
  private readonly decoder = new TextDecoder('utf-8', { ignoreBOM: true });

  /**
   * Makes a tokenizer with the given special tokens.
   *
   * @param options - see {@link ByteTokenizerOptions}; throws
   *   {@link TfjsBlocksError} for an unknown option key and for special
   *   tokens that are not distinct non-empty strings.
   */
  constructor(options: ByteTokenizerOptions = {}) {
    const fn = 'ByteTokenizer';
    checkOptionKeys(fn, options, BYTE_TOKENIZER_OPTION_KEYS);
    const specials: unknown = options.specialTokens ?? [];
    if (!Array.isArray(specials)) {
      throw new TfjsBlocksError(
        fn,
        'options.specialTokens',
        'an array of strings',
        describeValue(specials),
      );
    }
    const ids = new Map<string, number>();
    // An index loop: forEach would skip a hole (`['<eos>', , '<pad>']`) and shift the ids.
    for (let i = 0; i < specials.length; i++) {
      const s: unknown = specials[i];
      const name = `options.specialTokens[${i}]`;
      if (typeof s !== 'string' || s.length === 0) {
        const actual = describeEntry(specials, i);
        throw new TfjsBlocksError(fn, name, 'a non-empty string', actual);
      }
      if (ids.has(s)) {
        throw new TfjsBlocksError(fn, name, 'a string not given before', describeValue(s));
      }
      ids.set(s, BYTES + i);
    }
    this.specials = [...(specials as string[])];
    this.specialIds = ids;
    this.vocabSize = BYTES + specials.length;
  }

  /**
   * The UTF-8 bytes of `text`, one id per byte (special-token strings are
   * not parsed).
   *
   * @example
   * ```ts
   * new ByteTokenizer().encode('€'); // [226, 130, 172]
   * ```
   */
  encode(text: string): number[] {
    if (typeof text !== 'string') {
      throw new TfjsBlocksError('ByteTokenizer.encode', 'text', 'a string', describeValue(text));
    }
    return Array.from(this.encoder.encode(text));
  }

  /**
   * The text of `ids`: byte runs through `TextDecoder`, special ids as their
   * strings. Throws {@link TfjsBlocksError} for an id that is not an integer
   * in `[0, vocabSize)`.
   *
   * @example
   * ```ts
   * new ByteTokenizer({ specialTokens: ['<eos>'] }).decode([104, 105, 256]); // 'hi<eos>'
   * ```
   */
  decode(ids: number[]): string {
    const fn = 'ByteTokenizer.decode';
    if (!Array.isArray(ids)) {
      throw new TfjsBlocksError(fn, 'ids', 'an array of ids', describeValue(ids));
    }
    let text = '';
    let run: number[] = [];
    const flush = () => {
      if (run.length > 0) text += this.decoder.decode(Uint8Array.from(run));
      run = [];
    };
    // An index loop: forEach would skip a hole (`[104, , 105]`) silently.
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
        throw new TfjsBlocksError(
          fn,
          `ids[${i}]`,
          `an integer in [0, ${this.vocabSize})`,
          describeEntry(ids, i),
        );
      }
      if (id < BYTES) {
        run.push(id);
      } else {
        // A special token ends the byte run: bytes are never decoded across it.
        flush();
        text += this.specials[id - BYTES]!;
      }
    }
    flush();
    return text;
  }

  /**
   * The id of a special token. Throws {@link TfjsBlocksError} if it was not
   * given to the constructor.
   *
   * @example
   * ```ts
   * new ByteTokenizer({ specialTokens: ['<eos>', '<pad>'] }).tokenId('<pad>'); // 257
   * ```
   */
  tokenId(special: string): number {
    const id = this.specialIds.get(special);
    if (id === undefined) {
      const known = this.specials.length > 0 ? this.specials.join(', ') : 'none';
      throw new TfjsBlocksError(
        'ByteTokenizer.tokenId',
        'special',
        `a special token given to the constructor (${known})`,
        describeValue(special),
      );
    }
    return id;
  }
}
