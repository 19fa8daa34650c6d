// The patches of unicode-fixes.ts, each against what Rust `tokenizers` does
// (expected.json's preTokens are Python's GPT-2 pre-tokenizer output).
import {
  ByteFallbackDecoder,
  ByteLevelPreTokenizer,
  SequenceDecoder,
  SequencePreTokenizer,
} from '@huggingface/tokenizers';
import { describe, expect, it } from 'vitest';
import { fixDecoder, fixPreTokenizer } from '../../src/tokenizers/unicode-fixes';
import { readExpected } from './fixture-files';

type Case = { text: string; preTokens: string[] };
const cases = (readExpected().gpt2 as { cases: Case[] }).cases;

type Splits = { pre_tokenize_text(text: string, options?: unknown): string[] };
const split = (p: unknown, text: string) => (p as Splits).pre_tokenize_text(text);

describe('the GPT-2 pre-tokenizer regex', () => {
  const byteLevel = () =>
    new ByteLevelPreTokenizer({ type: 'ByteLevel', add_prefix_space: false, use_regex: true });

  it(`splits all ${cases.length} strings as Rust does once patched`, () => {
    const fixed = byteLevel();
    fixPreTokenizer(fixed);
    const wrong = cases.filter(
      (c) => JSON.stringify(split(fixed, c.text)) !== JSON.stringify(c.preTokens),
    );
    expect(wrong.map((c) => JSON.stringify(c.text))).toEqual([]);
  });

  it('splits U+0085 and U+FEFF wrongly unpatched (the test can fail)', () => {
    const raw = byteLevel();
    const wrong = cases.filter(
      (c) => JSON.stringify(split(raw, c.text)) !== JSON.stringify(c.preTokens),
    );
    expect(wrong.length).toBeGreaterThan(5);
    expect(wrong.every((c) => /[\u0085\ufeff]/.test(c.text))).toBe(true);
    // Rust: '!' and U+0085 (whitespace) apart; JavaScript's \s misses U+0085.
    const fixed = byteLevel();
    fixPreTokenizer(fixed);
    expect(split(raw, '!\u0085')).toHaveLength(1);
    expect(split(fixed, '!\u0085')).toHaveLength(2);
  });

  it('is patched inside a Sequence too', () => {
    const sequence = new SequencePreTokenizer({
      type: 'Sequence',
      pretokenizers: [{ type: 'ByteLevel', add_prefix_space: false, use_regex: true }],
    });
    fixPreTokenizer(sequence);
    const inner = (sequence as unknown as { tokenizers: unknown[] }).tokenizers[0];
    expect(split(inner, '!\u0085')).toHaveLength(2);
  });
});

describe('the ByteFallback decoder', () => {
  // U+FEFF is EF BB BF in UTF-8.
  const bom = ['<0xEF>', '<0xBB>', '<0xBF>'];
  type Chain = { decode_chain(tokens: string[]): string[] };

  it('keeps a byte-order mark once patched, drops it unpatched', () => {
    const raw = new ByteFallbackDecoder({ type: 'ByteFallback' });
    expect((raw as unknown as Chain).decode_chain([...bom, 'x']).join('')).toBe('x');
    const fixed = new ByteFallbackDecoder({ type: 'ByteFallback' });
    fixDecoder(fixed);
    expect((fixed as unknown as Chain).decode_chain([...bom, 'x']).join('')).toBe('\ufeffx');
  });

  it('is patched inside a Sequence too', () => {
    const sequence = new SequenceDecoder({
      type: 'Sequence',
      decoders: [{ type: 'Fuse' }, { type: 'ByteFallback' }],
    });
    fixDecoder(sequence);
    const inner = (sequence as unknown as { decoders: unknown[] }).decoders[1];
    expect((inner as Chain).decode_chain(bom).join('')).toBe('\ufeff');
  });
});
