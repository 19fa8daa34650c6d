import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../src/generate/logits-processors';
import {
  ByteTokenizer,
  type ByteTokenizerOptions,
  type Tokenizer,
} from '../../src/generate/tokenizer';
import { describeRejections, thrownBy } from '../helpers/rejections';

/** A random code point in [0, 0x10FFFF] outside the surrogate range, which has no UTF-8 form. */
function randomCodePoint(random: () => number): number {
  // Mostly ASCII and the BMP, where the 1- to 3-byte encodings live, plus the astral planes.
  const ranges: Array<[number, number]> = [
    [0, 0x7f],
    [0x80, 0x7ff],
    [0x800, 0xd7ff],
    [0xe000, 0xffff],
    [0x10000, 0x10ffff],
  ];
  const [lo, hi] = ranges[Math.floor(random() * ranges.length)]!;
  return lo + Math.floor(random() * (hi - lo + 1));
}

describe('ByteTokenizer', () => {
  const tokenizer = new ByteTokenizer({ specialTokens: ['<eos>', '<pad>'] });

  it('has 256 byte ids plus one per special token', () => {
    expect(new ByteTokenizer().vocabSize).toBe(256);
    expect(tokenizer.vocabSize).toBe(258);
    expect(tokenizer.tokenId('<eos>')).toBe(256);
    expect(tokenizer.tokenId('<pad>')).toBe(257);
  });

  it('encodes UTF-8 bytes, 1 to 4 per character', () => {
    expect(tokenizer.encode('hi')).toEqual([104, 105]);
    expect(tokenizer.encode('é')).toEqual([0xc3, 0xa9]);
    expect(tokenizer.encode('€')).toEqual([0xe2, 0x82, 0xac]);
    expect(tokenizer.encode('😀')).toEqual([0xf0, 0x9f, 0x98, 0x80]);
    expect(tokenizer.encode('')).toEqual([]);
  });

  it.each([
    ['ASCII', 'Hello, world! 0123456789 ~\t\n'],
    ['accents', 'Crème brûlée, naïve façade, Ångström, Łódź'],
    ['CJK', '日本語のテキスト、中文文本，한국어 텍스트'],
    ['emoji', '👋🏽 👨‍👩‍👧‍👦 🇫🇷 😀'],
    ['control characters and NUL', '\u0000\u0001\u007f\u0085'],
    ['a leading byte order mark', '\uFEFFtext'],
    ['the replacement character itself', '\uFFFD'],
    ['astral symbols', '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𐍈 𝄞'],
  ])('round-trips %s', (_, text) => {
    const ids = tokenizer.encode(text);
    expect(ids.every((id) => Number.isInteger(id) && id >= 0 && id < 256)).toBe(true);
    expect(tokenizer.decode(ids)).toBe(text);
  });

  it('round-trips 2,000 random strings of random code points', () => {
    const random = seededRandom(2024);
    for (let n = 0; n < 2000; n++) {
      const length = Math.floor(random() * 40);
      const text = String.fromCodePoint(...Array.from({ length }, () => randomCodePoint(random)));
      const decoded = tokenizer.decode(tokenizer.encode(text));
      if (decoded !== text) expect.fail(`string ${n} did not round-trip: ${JSON.stringify(text)}`);
    }
  });

  it('does not parse special-token strings in the text', () => {
    const ids = tokenizer.encode('a<eos>');
    expect(ids).toEqual([97, 60, 101, 111, 115, 62]);
    expect(ids).not.toContain(256);
  });

  it('decodes special ids as their strings, between byte runs', () => {
    const eos = tokenizer.tokenId('<eos>');
    const pad = tokenizer.tokenId('<pad>');
    const ids = [...tokenizer.encode('héllo'), eos, ...tokenizer.encode('日本'), pad, pad];
    expect(tokenizer.decode(ids)).toBe('héllo<eos>日本<pad><pad>');
    expect(tokenizer.decode([eos])).toBe('<eos>');
    expect(tokenizer.decode([])).toBe('');
  });

  it('turns invalid or cut UTF-8 into U+FFFD, as TextDecoder does', () => {
    expect(tokenizer.decode([0xff])).toBe('\uFFFD');
    expect(tokenizer.decode([0x61, 0xc3])).toBe('a\uFFFD');
    // A special token between the two bytes of 'é' cuts it: each half is invalid alone.
    expect(tokenizer.decode([0xc3, 256, 0xa9])).toBe('\uFFFD<eos>\uFFFD');
    // A lone surrogate cannot be encoded: TextEncoder writes U+FFFD.
    expect(tokenizer.decode(tokenizer.encode('a\uD800b'))).toBe('a\uFFFDb');
  });

  it('fits the Tokenizer interface', () => {
    const generic: Tokenizer = tokenizer;
    expect(generic.decode(generic.encode('ok'))).toBe('ok');
  });
});

describeRejections('ByteTokenizer rejects bad input', () => {
  const tokenizer = new ByteTokenizer({ specialTokens: ['<eos>'] });
  return [
    [
      'an id past the vocabulary',
      () => tokenizer.decode([104, 257]),
      /ByteTokenizer.decode: ids\[1\] must be an integer in \[0, 257\); got number 257/,
    ],
    ['a negative id', () => tokenizer.decode([-1]), /ids\[0\] must be an integer in \[0, 257\)/],
    ['a fractional id', () => tokenizer.decode([1.5]), /got number 1.5/],
    ['NaN', () => tokenizer.decode([Number.NaN]), /got number NaN/],
    ['a special id with no specials', () => new ByteTokenizer().decode([256]), /\[0, 256\)/],
    [
      'an unknown special token',
      () => tokenizer.tokenId('<pad>'),
      /ByteTokenizer.tokenId: special must be a special token given to the constructor \(<eos>\); got string <pad>/,
    ],
    [
      'duplicate special tokens',
      () => new ByteTokenizer({ specialTokens: ['<eos>', '<eos>'] }),
      /options.specialTokens\[1\] must be a string not given before/,
    ],
    [
      'an empty special token',
      () => new ByteTokenizer({ specialTokens: [''] }),
      /options.specialTokens\[0\] must be a non-empty string/,
    ],
    [
      'a non-string text',
      () => tokenizer.encode(42 as unknown as string),
      /ByteTokenizer.encode: text must be a string; got number/,
    ],
  ];
});

describe('ByteTokenizer names the option or slot at fault', () => {
  it('rejects an unknown option key with the closest name', () => {
    const e = thrownBy(
      () => new ByteTokenizer({ specialToken: ['<eos>'] } as unknown as ByteTokenizerOptions),
    );
    expect(e.argument).toBe('options.specialToken');
    expect(e.message).toMatch(/did you mean 'specialTokens'/);
  });

  it('rejects null options (not a TypeError)', () => {
    expect(
      thrownBy(() => new ByteTokenizer(null as unknown as ByteTokenizerOptions)).argument,
    ).toBe('options');
  });

  it('names a hole in specialTokens (it would shift the ids of the ones after it)', () => {
    // biome-ignore lint/suspicious/noSparseArray: the hole is the input under test
    const specialTokens = ['<eos>', , '<pad>'] as string[];
    const e = thrownBy(() => new ByteTokenizer({ specialTokens }));
    expect(e.argument).toBe('options.specialTokens[1]');
    expect(e.actual).toMatch(/a hole/);
  });

  it('names a hole in the ids to decode', () => {
    // biome-ignore lint/suspicious/noSparseArray: the hole is the input under test
    const e = thrownBy(() => new ByteTokenizer().decode([104, , 105] as number[]));
    expect(e.argument).toBe('ids[1]');
  });
});
