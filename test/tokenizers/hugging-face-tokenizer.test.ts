// Parity with Python `tokenizers` / `transformers` on the three tokenizers
// that test/reference/tokenizers.py trains (fixtures in test/fixtures/tokenizers/).
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { generate } from '../../src/generate/generate';
import type { Tokenizer } from '../../src/generate/tokenizer';
import { gpt2Config, initDecoderLm } from '../../src/models/decoder-lm';
import {
  type ChatMessage,
  HuggingFaceTokenizer,
  loadTokenizer,
  type TokenizerFiles,
} from '../../src/tokenizers/index';
import { thrownBy } from '../helpers/rejections';

const dir = fileURLToPath(new URL('../fixtures/tokenizers/', import.meta.url));
type Case = {
  text: string;
  ids: number[];
  idsNoSpecial: number[];
  decode: string;
  decodeSkipSpecial: string;
};
type Chat = {
  messages: ChatMessage[];
  addGenerationPrompt: boolean;
  text?: string;
  ids?: number[];
  error?: string;
};
type Expected = {
  vocabSize: number;
  specialIds: Record<'bos' | 'eos' | 'pad' | 'unk', number | null>;
  paddingSide: 'left' | 'right';
  cases: Case[];
  batch?: { texts: string[]; inputIds: number[][]; attentionMask: number[][] };
  chats?: Chat[];
};
const expected = JSON.parse(readFileSync(`${dir}expected.json`, 'utf8')) as Record<
  string,
  Expected
>;
const NAMES = ['gpt2', 'llama', 'bert'] as const;

function readFiles(name: string): TokenizerFiles {
  const read = (file: string) => JSON.parse(readFileSync(`${dir}${name}/${file}`, 'utf8'));
  const jinja = `${dir}${name}/chat_template.jinja`;
  return {
    tokenizerJson: read('tokenizer.json'),
    tokenizerConfig: read('tokenizer_config.json'),
    ...(existsSync(jinja) ? { chatTemplate: readFileSync(jinja, 'utf8') } : {}),
  };
}

const show = (s: string) => JSON.stringify(s);

describe.each(NAMES)('%s tokenizer: the same as transformers', (name) => {
  const exp = expected[name]!;
  const tokenizer = loadTokenizer(readFiles(name));

  it(`encodes every one of the ${exp.cases.length} strings to the same ids, with and without special tokens`, () => {
    const wrong = exp.cases.filter(
      (c) =>
        JSON.stringify(tokenizer.encode(c.text)) !== JSON.stringify(c.ids) ||
        JSON.stringify(tokenizer.encode(c.text, { addSpecialTokens: false })) !==
          JSON.stringify(c.idsNoSpecial),
    );
    expect(wrong.map((c) => show(c.text))).toEqual([]);
  });

  it('decodes every id list to the same text, with and without special tokens', () => {
    const wrong = exp.cases.filter(
      (c) =>
        tokenizer.decode(c.ids) !== c.decode ||
        tokenizer.decode(c.ids, { skipSpecialTokens: true }) !== c.decodeSkipSpecial,
    );
    expect(wrong.map((c) => show(c.text))).toEqual([]);
  });

  it('has the same size, special-token ids and padding side', () => {
    expect(tokenizer.vocabSize).toBe(exp.vocabSize);
    expect(tokenizer.bosTokenId).toBe(exp.specialIds.bos ?? undefined);
    expect(tokenizer.eosTokenId).toBe(exp.specialIds.eos ?? undefined);
    expect(tokenizer.padTokenId).toBe(exp.specialIds.pad ?? undefined);
    expect(tokenizer.unkTokenId).toBe(exp.specialIds.unk ?? undefined);
    expect(tokenizer.paddingSide).toBe(exp.paddingSide);
  });

  it('pads a batch as tokenizer(texts, padding=True) does (or says it has no pad token)', () => {
    if (exp.batch === undefined) {
      const error = thrownBy(() => tokenizer.encodeBatch(['a', 'bb']));
      expect(error.argument).toBe('tokenizer_config.json: pad_token');
      return;
    }
    const { inputIds, attentionMask } = tokenizer.encodeBatch(exp.batch.texts);
    expect(inputIds).toEqual(exp.batch.inputIds);
    expect(attentionMask).toEqual(exp.batch.attentionMask);
  });

  it('renders chat templates as apply_chat_template does (or has none)', () => {
    if (exp.chats === undefined) {
      expect(tokenizer.hasChatTemplate).toBe(false);
      const error = thrownBy(() => tokenizer.applyChatTemplate([{ role: 'user', content: 'x' }]));
      expect(error.argument).toBe('chat_template.jinja');
      return;
    }
    expect(tokenizer.hasChatTemplate).toBe(true);
    for (const chat of exp.chats) {
      const options = { addGenerationPrompt: chat.addGenerationPrompt };
      if (chat.error !== undefined) {
        const error = thrownBy(() => tokenizer.applyChatTemplate(chat.messages, options));
        expect(error.argument).toBe('messages');
        expect(error.message).toContain(chat.error);
        continue;
      }
      expect(tokenizer.applyChatTemplate(chat.messages, options)).toBe(chat.text);
      expect(tokenizer.applyChatTemplate(chat.messages, { ...options, tokenize: true })).toEqual(
        chat.ids,
      );
    }
  });

  it('gives back the files it was read from, and they read back to the same tokenizer', () => {
    const files = tokenizer.files();
    expect(files).toEqual(readFiles(name));
    const again = loadTokenizer(files);
    const c = exp.cases[20]!;
    expect(again.encode(c.text)).toEqual(c.ids);
  });
});

describe('HuggingFaceTokenizer details', () => {
  const gpt2 = loadTokenizer(readFiles('gpt2'));
  const llama = loadTokenizer(readFiles('llama'));

  it("decode([]) is ''", () => {
    expect(gpt2.decode([])).toBe('');
    expect(llama.decode([], { skipSpecialTokens: true })).toBe('');
  });

  it('reads the chat template from both places: chat_template.jinja and tokenizer_config.json', () => {
    // gpt2's fixture has chat_template.jinja; llama's has it inside tokenizer_config.json.
    expect(readFiles('gpt2').chatTemplate).toBeTypeOf('string');
    expect(readFiles('llama').chatTemplate).toBeUndefined();
    expect(gpt2.hasChatTemplate && llama.hasChatTemplate).toBe(true);
    // chat_template.jinja wins over tokenizer_config.json's field.
    const files = readFiles('llama');
    const both = loadTokenizer({ ...files, chatTemplate: 'jinja:{{ messages[0].content }}' });
    expect(both.applyChatTemplate([{ role: 'user', content: 'x' }])).toBe('jinja:x');
  });

  it('reads the list form of chat_template and AddedToken objects for special tokens (older files)', () => {
    const files = readFiles('llama');
    const config = files.tokenizerConfig as Record<string, unknown>;
    const tokenizer = loadTokenizer({
      ...files,
      tokenizerConfig: {
        ...config,
        bos_token: { content: '<s>', lstrip: false },
        chat_template: [
          { name: 'tool_use', template: 'tools' },
          { name: 'default', template: '{{ bos_token }}{{ messages[0].content }}' },
        ],
      },
    });
    expect(tokenizer.bosTokenId).toBe(1);
    expect(tokenizer.applyChatTemplate([{ role: 'user', content: 'hi' }])).toBe('<s>hi');
  });

  it('takes special tokens from special_tokens_map.json when the config has none', () => {
    const files = readFiles('bert');
    const tokenizer = loadTokenizer({
      ...files,
      tokenizerConfig: { padding_side: 'right' },
      specialTokensMap: { pad_token: '[PAD]', unk_token: '[UNK]' },
    });
    expect(tokenizer.padTokenId).toBe(0);
    expect(tokenizer.specialTokens).toEqual({ pad: '[PAD]', unk: '[UNK]' });
  });

  it('passes tools, documents and extra variables to the template', () => {
    const tokenizer = loadTokenizer({
      ...readFiles('gpt2'),
      chatTemplate:
        '{{ tools | length }}|{{ documents[0].title }}|{{ eos_token }}|{{ add_generation_prompt }}|{{ greeting }}',
    });
    const text = tokenizer.applyChatTemplate([], {
      tools: [{ name: 'a' }, { name: 'b' }],
      documents: [{ title: 'doc' }],
      variables: { greeting: 'hey' },
      addGenerationPrompt: true,
    });
    expect(text).toBe('2|doc|<|endoftext|>|true|hey');
  });

  it('padding side: the config, the loader option and the call option', () => {
    const files = readFiles('bert');
    expect(loadTokenizer(files, { paddingSide: 'left' }).paddingSide).toBe('left');
    const bert = loadTokenizer(files);
    const right = bert.encodeBatch(['a b c', 'a']);
    const left = bert.encodeBatch(['a b c', 'a'], { paddingSide: 'left' });
    expect(left.inputIds[1]).toEqual([
      ...right.inputIds[1]!.slice(right.attentionMask[1]!.indexOf(0)),
      ...right.inputIds[1]!.slice(0, right.attentionMask[1]!.indexOf(0)),
    ]);
    expect(left.attentionMask[1]).toEqual([...right.attentionMask[1]!].reverse());
    expect(bert.encodeBatch([])).toEqual({ inputIds: [], attentionMask: [] });
  });

  it('special tokens written in text become their ids', () => {
    const ids = gpt2.encode('a<|im_end|>b', { addSpecialTokens: false });
    expect(ids).toContain(2);
    expect(gpt2.decode(ids, { skipSpecialTokens: true })).toBe('ab');
  });

  it('is a Tokenizer that generate takes: chat prompt in, text out, no tensor left', async () => {
    expect(llama).toBeInstanceOf(HuggingFaceTokenizer);
    const tokenizer: Tokenizer = llama;
    const config = gpt2Config({
      vocabSize: tokenizer.vocabSize,
      maxLength: 64,
      dModel: 16,
      numLayers: 1,
      numHeads: 2,
    });
    const params = initDecoderLm(config, 0);
    const before = tf.memory().numTensors;
    const prompt = llama.applyChatTemplate([{ role: 'user', content: 'Hello!' }], {
      addGenerationPrompt: true,
      tokenize: true,
    });
    const [ids] = await generate({ kind: 'decoderLm', config, params }, [prompt], {
      maxNewTokens: 4,
      temperature: 0,
      stopTokens: [llama.eosTokenId!],
    });
    expect(tf.memory().numTensors).toBe(before);
    expect(ids!.length).toBeGreaterThan(0);
    expect(typeof tokenizer.decode(ids!)).toBe('string');
    tf.dispose(params);
  });
});
