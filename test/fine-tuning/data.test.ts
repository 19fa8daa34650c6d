import { describe, expect, it } from 'vitest';
import { chatExamples } from '../../src/fine-tuning/chat-examples';
import { IGNORED_LABEL, shuffleExamples, splitHeldOut } from '../../src/fine-tuning/examples';
import { packTexts } from '../../src/fine-tuning/pack-texts';
import { ByteTokenizer } from '../../src/generate/tokenizer';
import { loadTokenizer } from '../../src/tokenizers/hugging-face-tokenizer';
import { thrownBy } from '../helpers/rejections';
import { readFiles } from '../tokenizers/fixture-files';

const bytes = new ByteTokenizer({ specialTokens: ['<eos>'] });
const EOS = 256;

describe('packTexts', () => {
  it('concatenates documents with EOS between them and cuts full blocks, as group_texts', () => {
    const examples = packTexts(bytes, ['abc', 'de', 'fghij'], { sequenceLength: 4, eosId: EOS });
    // a b c <eos> d e <eos> f g h i j <eos> = 13 tokens: 3 blocks, 1 dropped.
    expect(examples.map((e) => e.ids)).toEqual([
      [97, 98, 99, EOS],
      [100, 101, EOS, 102],
      [103, 104, 105, 106],
    ]);
    for (const e of examples) expect(e.labels).toEqual(e.ids);
  });

  it("uses a Hugging Face tokenizer's eosTokenId by default", () => {
    const tokenizer = loadTokenizer(readFiles('llama'));
    const eos = tokenizer.eosTokenId!;
    const examples = packTexts(tokenizer, ['hello world', 'more text here'], { sequenceLength: 3 });
    const stream = [
      ...tokenizer.encode('hello world'),
      eos,
      ...tokenizer.encode('more text here'),
      eos,
    ];
    expect(examples.flatMap((e) => e.ids)).toEqual(stream.slice(0, examples.length * 3));
    expect(examples.length).toBe(Math.floor(stream.length / 3));
  });

  it('names the bad argument', () => {
    expect(thrownBy(() => packTexts(bytes, ['a'], { sequenceLength: 4 })).argument).toBe(
      'options.eosId',
    );
    expect(
      thrownBy(() => packTexts(bytes, ['a'], { sequenceLength: 1, eosId: EOS })).argument,
    ).toBe('options.sequenceLength');
    expect(
      thrownBy(() => packTexts(bytes, [3 as unknown as string], { sequenceLength: 4, eosId: EOS }))
        .argument,
    ).toBe('texts');
    expect(
      thrownBy(() => packTexts({} as ByteTokenizer, ['a'], { sequenceLength: 4, eosId: EOS }))
        .argument,
    ).toBe('tokenizer');
    const typo = { sequenceLength: 4, eos: EOS } as unknown as { sequenceLength: number };
    expect(thrownBy(() => packTexts(bytes, ['a'], typo)).argument).toBe('options.eos');
  });
});

describe('chatExamples', () => {
  const tokenizer = loadTokenizer(readFiles('gpt2'));
  const conversation = [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'Capital of France?' },
    { role: 'assistant', content: 'Paris.' },
    { role: 'user', content: 'And Italy?' },
    { role: 'assistant', content: 'Rome.' },
  ];

  it('learns the assistant turns only: their content and end-of-turn, not the headers', () => {
    const [example] = chatExamples(tokenizer, [conversation], { sequenceLength: 128 });
    const ids = tokenizer.applyChatTemplate(conversation, { tokenize: true });
    expect(example!.ids.slice(0, ids.length)).toEqual(ids);
    // Each maximal run of learned labels decodes to one assistant reply with its end-of-turn.
    const runs: number[][] = [];
    example!.labels.forEach((label, t) => {
      if (label === IGNORED_LABEL) return;
      expect(label).toBe(example!.ids[t]);
      if (t > 0 && example!.labels[t - 1] !== IGNORED_LABEL) runs.at(-1)!.push(label);
      else runs.push([label]);
    });
    expect(runs.map((run) => tokenizer.decode(run))).toEqual([
      'Paris.<|im_end|>\n',
      'Rome.<|im_end|>\n',
    ]);
  });

  it('pads on the right with ignored labels and truncates long conversations', () => {
    const ids = tokenizer.applyChatTemplate(conversation, { tokenize: true });
    const [long] = chatExamples(tokenizer, [conversation], {
      sequenceLength: ids.length + 3,
      padId: 7,
    });
    expect(long!.ids.slice(ids.length)).toEqual([7, 7, 7]);
    expect(long!.labels.slice(ids.length)).toEqual([IGNORED_LABEL, IGNORED_LABEL, IGNORED_LABEL]);
    const [short] = chatExamples(tokenizer, [conversation], { sequenceLength: 5 });
    expect(short!.ids).toEqual(ids.slice(0, 5));
  });

  it('rejects a template whose prefix is not a prefix of the conversation, naming the message', () => {
    const rewriting = {
      applyChatTemplate: (
        messages: { content: string }[],
        options: { addGenerationPrompt?: boolean },
      ) => [messages.length, ...(options.addGenerationPrompt ? [1] : [])],
    };
    const error = thrownBy(() =>
      chatExamples(
        rewriting,
        [
          [
            { role: 'user', content: 'a' },
            { role: 'assistant', content: 'b' },
          ],
        ],
        {
          sequenceLength: 4,
        },
      ),
    );
    expect(error.argument).toBe('conversations[0][1]');
  });

  it('names the bad argument', () => {
    expect(thrownBy(() => chatExamples(tokenizer, [[]], { sequenceLength: 4 })).argument).toBe(
      'conversations[0]',
    );
    expect(thrownBy(() => chatExamples(bytes as never, [], { sequenceLength: 4 })).argument).toBe(
      'tokenizer',
    );
    expect(
      thrownBy(() => chatExamples(tokenizer, [], { sequenceLength: 4, padId: -1 })).argument,
    ).toBe('options.padId');
  });
});

describe('shuffleExamples and splitHeldOut', () => {
  const examples = Array.from({ length: 10 }, (_, i) => ({ ids: [i, i], labels: [i, i] }));

  it('shuffles deterministically by seed, keeping every example once', () => {
    const a = shuffleExamples(examples, 3);
    expect(shuffleExamples(examples, 3)).toEqual(a);
    expect(shuffleExamples(examples, 4)).not.toEqual(a);
    expect([...a].sort((x, y) => x.ids[0]! - y.ids[0]!)).toEqual(examples);
  });

  it('holds out round(fraction · n) examples, disjoint from the training set', () => {
    const { train, heldOut } = splitHeldOut(examples, { fraction: 0.2, seed: 1 });
    expect(heldOut.length).toBe(2);
    expect(train.length).toBe(8);
    expect(new Set([...train, ...heldOut]).size).toBe(10);
    expect(splitHeldOut(examples, { fraction: 0.2, seed: 1 })).toEqual({ train, heldOut });
    expect(splitHeldOut(examples.slice(0, 2), { fraction: 0.01 }).heldOut.length).toBe(1);
  });

  it('names the bad argument', () => {
    expect(thrownBy(() => splitHeldOut(examples, { fraction: 1 })).argument).toBe(
      'options.fraction',
    );
    expect(thrownBy(() => splitHeldOut(examples.slice(0, 1))).argument).toBe('examples');
    expect(thrownBy(() => splitHeldOut(examples, { seed: 0.5 })).argument).toBe('options.seed');
    expect(thrownBy(() => shuffleExamples(examples, Number.NaN)).argument).toBe('seed');
    expect(thrownBy(() => shuffleExamples('x' as never, 0)).argument).toBe('examples');
  });
});
