// Bad tokenizer files and bad calls: each a TfjsBlocksError whose argument
// names the file and field (or the argument), and none leaves a tensor.
import { describe, expect, it } from 'vitest';
import { loadTokenizer } from '../../src/tokenizers/hugging-face-tokenizer';
import type { TokenizerFiles } from '../../src/tokenizers/tokenizer-files';
import { thrownWithoutLeak } from '../helpers/rejections';
import { readFiles } from './fixture-files';

const gpt2 = readFiles('gpt2');
const llama = readFiles('llama');
const json = gpt2.tokenizerJson as Record<string, unknown>;
const model = json.model as Record<string, unknown>;
const config = llama.tokenizerConfig as Record<string, unknown>;

const withJson = (patch: Record<string, unknown>): TokenizerFiles => ({
  tokenizerJson: { ...json, ...patch },
});
const withModel = (patch: Record<string, unknown>) => withJson({ model: { ...model, ...patch } });
const withConfig = (patch: Record<string, unknown>): TokenizerFiles => ({
  ...llama,
  tokenizerConfig: { ...config, ...patch },
});

// [what, files, options, the error's argument]
const BAD_FILES: [string, unknown, unknown, string][] = [
  ['tokenizer.json not an object', { tokenizerJson: 'text' }, undefined, 'tokenizer.json'],
  ['no model', withJson({ model: undefined }), undefined, 'tokenizer.json: model'],
  ['unknown model type', withModel({ type: 'WordLevel' }), undefined, 'tokenizer.json: model.type'],
  ['BPE without a vocab', withModel({ vocab: 5 }), undefined, 'tokenizer.json: model.vocab'],
  ['BPE without merges', withModel({ merges: null }), undefined, 'tokenizer.json: model.merges'],
  [
    'Unigram with an object vocab',
    withModel({ type: 'Unigram', vocab: {} }),
    undefined,
    'tokenizer.json: model.vocab',
  ],
  [
    'normalizer not an object',
    withJson({ normalizer: 3 }),
    undefined,
    'tokenizer.json: normalizer',
  ],
  [
    'unknown pre-tokenizer inside a Sequence',
    withJson({
      pre_tokenizer: {
        type: 'Sequence',
        pretokenizers: [{ type: 'ByteLevel' }, { type: 'UnicodeScripts' }],
      },
    }),
    undefined,
    'tokenizer.json: pre_tokenizer.pretokenizers[1].type',
  ],
  [
    'decoder Sequence without a list',
    withJson({ decoder: { type: 'Sequence', decoders: 'x' } }),
    undefined,
    'tokenizer.json: decoder.decoders',
  ],
  [
    'unknown post-processor',
    withJson({ post_processor: { type: 'Nope' } }),
    undefined,
    'tokenizer.json: post_processor.type',
  ],
  [
    'added_tokens not a list',
    withJson({ added_tokens: {} }),
    undefined,
    'tokenizer.json: added_tokens',
  ],
  [
    'an added token without an id',
    withJson({ added_tokens: [{ content: 'x' }] }),
    undefined,
    'tokenizer.json: added_tokens[0].id',
  ],
  [
    'an added token without content',
    withJson({ added_tokens: [{ id: 3 }] }),
    undefined,
    'tokenizer.json: added_tokens[0].content',
  ],
  [
    'tokenizer_config.json not an object',
    { ...gpt2, tokenizerConfig: [] },
    undefined,
    'tokenizer_config.json',
  ],
  [
    'padding_side up',
    withConfig({ padding_side: 'up' }),
    undefined,
    'tokenizer_config.json: padding_side',
  ],
  [
    'clean_up_tokenization_spaces a string',
    withConfig({ clean_up_tokenization_spaces: 'yes' }),
    undefined,
    'tokenizer_config.json: clean_up_tokenization_spaces',
  ],
  [
    'eos_token a number',
    withConfig({ eos_token: 5 }),
    undefined,
    'tokenizer_config.json: eos_token',
  ],
  [
    'eos_token not in the vocabulary',
    withConfig({ eos_token: '<nope>' }),
    undefined,
    'tokenizer_config.json: eos_token',
  ],
  [
    'chat_template a number',
    withConfig({ chat_template: 5 }),
    undefined,
    'tokenizer_config.json: chat_template',
  ],
  [
    "chat_template list without 'default'",
    withConfig({ chat_template: [{ name: 'rag', template: 'x' }] }),
    undefined,
    'tokenizer_config.json: chat_template',
  ],
  [
    'chat_template that does not parse',
    withConfig({ chat_template: '{% for %}' }),
    undefined,
    'tokenizer_config.json: chat_template',
  ],
  [
    'chat_template.jinja not a string',
    { ...gpt2, chatTemplate: 5 },
    undefined,
    'chat_template.jinja',
  ],
  [
    'chat_template.jinja that does not parse',
    { ...gpt2, chatTemplate: '{{ unclosed' },
    undefined,
    'chat_template.jinja',
  ],
  [
    'special_tokens_map.json not an object',
    { ...gpt2, specialTokensMap: 'x' },
    undefined,
    'special_tokens_map.json',
  ],
  [
    'special_tokens_map.json pad_token a number',
    { tokenizerJson: json, specialTokensMap: { pad_token: 3 } },
    undefined,
    'special_tokens_map.json: pad_token',
  ],
  ['a misspelt file key', { tokenizerJsn: json }, undefined, 'files.tokenizerJsn'],
  ['a misspelt option', gpt2, { paddingSid: 'left' }, 'options.paddingSid'],
  ['paddingSide up', gpt2, { paddingSide: 'up' }, 'options.paddingSide'],
];

describe('loadTokenizer: bad files', () => {
  it.each(BAD_FILES)('%s', (_what, files, options, argument) => {
    const error = thrownWithoutLeak(() => loadTokenizer(files as never, options as never));
    expect(error.functionName).toBe('loadTokenizer');
    expect(error.argument).toBe(argument);
  });

  it('reads a file with only tokenizer.json (every other file absent)', () => {
    const tokenizer = loadTokenizer({ tokenizerJson: json });
    expect(tokenizer.vocabSize).toBe(600);
    expect(tokenizer.paddingSide).toBe('right');
    expect(tokenizer.eosTokenId).toBeUndefined();
    expect(tokenizer.hasChatTemplate).toBe(false);
  });
});

describe('HuggingFaceTokenizer: bad calls', () => {
  const tokenizer = loadTokenizer(llama);
  const user = [{ role: 'user', content: 'hi' }];
  const cases: [string, () => unknown, string][] = [
    ['encode a number', () => tokenizer.encode(5 as never), 'text'],
    [
      'encode addSpecialTokens a string',
      () => tokenizer.encode('a', { addSpecialTokens: 'no' as never }),
      'options.addSpecialTokens',
    ],
    [
      'encode a misspelt option',
      () => tokenizer.encode('a', { special: 1 } as never),
      'options.special',
    ],
    ['decode a string', () => tokenizer.decode('1 2' as never), 'ids'],
    ['decode an id past the vocabulary', () => tokenizer.decode([1, 956]), 'ids[1]'],
    ['decode a negative id', () => tokenizer.decode([-1]), 'ids[0]'],
    ['decode a fraction', () => tokenizer.decode([1, 2.5]), 'ids[1]'],
    [
      'decode skipSpecialTokens 1',
      () => tokenizer.decode([1], { skipSpecialTokens: 1 as never }),
      'options.skipSpecialTokens',
    ],
    ['encodeBatch a string', () => tokenizer.encodeBatch('ab' as never), 'texts'],
    ['encodeBatch a number inside', () => tokenizer.encodeBatch(['a', 3 as never]), 'texts[1]'],
    [
      'encodeBatch paddingSide up',
      () => tokenizer.encodeBatch(['a'], { paddingSide: 'up' as never }),
      'options.paddingSide',
    ],
    ['applyChatTemplate not a list', () => tokenizer.applyChatTemplate('hi' as never), 'messages'],
    [
      'applyChatTemplate a string message',
      () => tokenizer.applyChatTemplate(['hi' as never]),
      'messages[0]',
    ],
    [
      'applyChatTemplate no role',
      () => tokenizer.applyChatTemplate([{ content: 'hi' } as never]),
      'messages[0].role',
    ],
    [
      'applyChatTemplate roles that do not alternate (raise_exception)',
      () => tokenizer.applyChatTemplate([...user, ...user]),
      'messages',
    ],
    [
      'applyChatTemplate tokenize a string',
      () => tokenizer.applyChatTemplate(user, { tokenize: 'yes' as never }),
      'options.tokenize',
    ],
    [
      'applyChatTemplate tools not a list',
      () => tokenizer.applyChatTemplate(user, { tools: {} as never }),
      'options.tools',
    ],
    [
      'applyChatTemplate variables a list',
      () => tokenizer.applyChatTemplate(user, { variables: [] as never }),
      'options.variables',
    ],
    [
      'applyChatTemplate a misspelt option',
      () => tokenizer.applyChatTemplate(user, { addGenerationPromt: true } as never),
      'options.addGenerationPromt',
    ],
  ];
  it.each(cases)('%s', (_what, call, argument) => {
    expect(thrownWithoutLeak(call).argument).toBe(argument);
  });

  it("the template's own message comes through raise_exception", () => {
    const error = thrownWithoutLeak(() => tokenizer.applyChatTemplate([...user, ...user]));
    expect(error.message).toContain('Conversation roles must alternate');
  });
});
