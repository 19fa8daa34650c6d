// The processors behind Hugging Face's generation_config.json options
// (no_repeat_ngram_size, min_new_tokens, bad_words_ids): hand-worked values,
// leaks, bad input. How generate uses them is in hf-options.test.ts. With
// processors.test.ts, these are the tests `npm run test:mutation --
// logits-processors` runs against src/generate/logits-processors.ts.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  badWordsProcessor,
  minNewTokensProcessor,
  noRepeatNgramProcessor,
} from '../../src/generate/logits-processors';
import { expectNoLeak } from '../helpers/leaks';
import { thrownWithoutLeak } from '../helpers/rejections';

const zeros = (batch: number, vocab: number) => tf.zeros([batch, vocab]) as tf.Tensor2D;
const banned = (t: tf.Tensor) =>
  (t.arraySync() as number[][]).map((row) => row.flatMap((v, i) => (v === -Infinity ? [i] : [])));

describe('noRepeatNgramProcessor, minNewTokensProcessor, badWordsProcessor', () => {
  it('noRepeatNgram bans the tokens that would complete a seen n-gram', () => {
    const x = zeros(3, 6);
    const tokens = [
      [1, 2, 3, 1, 2], // bigrams after 2: (2, 3) → 3
      [4, 4, 4], // (4, 4) → 4
      [5], // shorter than 2: nothing
    ];
    const two = noRepeatNgramProcessor(2)(x, { tokens, step: 0 });
    expect(banned(two)).toEqual([[3], [4], []]);
    // Trigram (1, 2) → 3; size 1 bans every token seen.
    expect(banned(noRepeatNgramProcessor(3)(x, { tokens, step: 0 }))).toEqual([[3], [4], []]);
    expect(banned(noRepeatNgramProcessor(1)(x, { tokens, step: 0 }))).toEqual([
      [1, 2, 3],
      [4],
      [5],
    ]);
    tf.dispose([x, two]);
  });

  it('minNewTokens holds the end tokens back before step minNewTokens', () => {
    const x = tf.tensor2d([[1, 2, 3, 4]]);
    const hold = minNewTokensProcessor(2, [0, 3]);
    const early = hold(x, { tokens: [[]], step: 1 });
    const late = hold(x, { tokens: [[]], step: 2 });
    expect(early.arraySync()).toEqual([[-Infinity, 2, 3, -Infinity]]);
    expect(late.arraySync()).toEqual([[1, 2, 3, 4]]);
    tf.dispose([x, early, late]);
  });

  it('badWords bans one-token words always, longer words after their prefix', () => {
    const x = zeros(3, 6);
    const noBad = badWordsProcessor([[5], [1, 2], [3, 4, 0]]);
    const out = noBad(x, { tokens: [[0, 1], [3, 4], [3]], step: 0 });
    expect(banned(out)).toEqual([[2, 5], [0, 5], [5]]);
    tf.dispose([x, out]);
  });

  it('leave no tensor behind but their output', () => {
    const x = zeros(2, 6);
    const context = { tokens: [[1, 2, 1], [3]], step: 0 };
    expectNoLeak(() => noRepeatNgramProcessor(2)(x, context));
    expectNoLeak(() => minNewTokensProcessor(1, [0])(x, context));
    expectNoLeak(() => badWordsProcessor([[1, 2], [4]])(x, context));
    x.dispose();
  });

  it('name the bad argument', () => {
    const x = zeros(1, 6);
    const ok = { tokens: [[1]], step: 0 };
    const cases: [() => unknown, string][] = [
      [() => noRepeatNgramProcessor(0), 'size'],
      [() => noRepeatNgramProcessor(1.5), 'size'],
      [() => noRepeatNgramProcessor(2)(x, { tokens: [[9]], step: 0 }), 'context.tokens[0][0]'],
      [() => minNewTokensProcessor(-1, [0]), 'minNewTokens'],
      [() => minNewTokensProcessor(1, [0.5]), 'endTokens[0]'],
      [() => minNewTokensProcessor(1, [6])(x, ok), 'endTokens[0]'],
      [() => minNewTokensProcessor(1, [0])(x, { tokens: [[]] } as never), 'context.step'],
      [() => badWordsProcessor([]), 'badWordsIds'],
      [() => badWordsProcessor('x' as never), 'badWordsIds'],
      [() => badWordsProcessor([[1], []]), 'badWordsIds[1]'],
      [() => badWordsProcessor([[1, -1]]), 'badWordsIds[0][1]'],
      [() => badWordsProcessor([[1, 6]])(x, ok), 'badWordsIds[0][1]'],
      [() => badWordsProcessor([[1]])(x, { tokens: [], step: 0 }), 'context.tokens'],
    ];
    for (const [call, argument] of cases) {
      expect(thrownWithoutLeak(call).argument).toBe(argument);
    }
    x.dispose();
  });
});

describe('noRepeatNgram, minNewTokens and badWords at their edges', () => {
  it('noRepeatNgram: a row of exactly size tokens, and the window that ends the row', () => {
    const x = zeros(3, 6);
    // [2, 2]: its only bigram (2, 2) starts with the last token; [1, 3, 3]: the last window (3, 3).
    const tokens = [
      [2, 2],
      [1, 3, 3],
      [3, 1],
    ];
    const out = noRepeatNgramProcessor(2)(x, { tokens, step: 0 });
    expect(banned(out)).toEqual([[2], [3], []]);
    // Size 4 on a row of 4 tokens: the prefix (1, 2, 3) never repeats; on 5, it does.
    const four = noRepeatNgramProcessor(4)(zeros(2, 6), {
      tokens: [
        [1, 2, 3, 4],
        [1, 2, 3, 1, 2, 3],
      ],
      step: 0,
    });
    expect(banned(four)).toEqual([[], [1]]);
    tf.dispose([x, out, four]);
  });

  it('minNewTokens: step 0 with 0 changes nothing, and the other logits are kept as they are', () => {
    const x = tf.tensor2d([
      [1.5, -2, 3],
      [0, 7, -1],
    ]);
    const none = minNewTokensProcessor(0, [1])(x, { tokens: [[], []], step: 0 });
    expect(none.arraySync()).toEqual(x.arraySync());
    const held = minNewTokensProcessor(1, [2])(x, { tokens: [[], []], step: 0 });
    expect(held.arraySync()).toEqual([
      [1.5, -2, -Infinity],
      [0, 7, -Infinity],
    ]);
    tf.dispose([x, none, held]);
  });

  it('badWords: the prefix must end the row; each row is matched on its own', () => {
    const x = zeros(3, 6);
    const noBad = badWordsProcessor([
      [1, 2],
      [0, 1, 4],
    ]);
    const out = noBad(x, {
      tokens: [
        [1, 0],
        [0, 1],
        [5, 1],
      ],
      step: 0,
    });
    // Row 0 ends with 0 (not 1); row 1 ends with (0, 1) → 4, and with 1 → 2; row 2 ends with 1 → 2.
    expect(banned(out)).toEqual([[], [2, 4], [2]]);
    tf.dispose([x, out]);
  });

  it('name the bad entry of an id list', () => {
    const x = zeros(1, 6);
    const vector = tf.tensor1d([1]);
    const ok = { tokens: [[1]], step: 0 };
    const cases: [() => unknown, string][] = [
      [() => minNewTokensProcessor(1, 'x' as never), 'endTokens'],
      // biome-ignore lint/suspicious/noSparseArray: the hole is the input under test
      [() => minNewTokensProcessor(1, [0, , 1] as number[]), 'endTokens[1]'],
      [() => minNewTokensProcessor(1, [0, -1]), 'endTokens[1]'],
      [() => minNewTokensProcessor(1, [0, '1' as never]), 'endTokens[1]'],
      [() => minNewTokensProcessor(1, [0, 5, 6])(x, ok), 'endTokens[2]'],
      [() => minNewTokensProcessor(1, [0])(x, { tokens: [[]], step: -1 }), 'context.step'],
      [() => minNewTokensProcessor(1.5, [0]), 'minNewTokens'],
      // biome-ignore lint/suspicious/noSparseArray: the hole is the input under test
      [() => badWordsProcessor([[1], , [2]] as number[][]), 'badWordsIds[1]'],
      [() => badWordsProcessor([[1], 5 as never]), 'badWordsIds[1]'],
      [() => badWordsProcessor([[1], [2, 6]])(x, ok), 'badWordsIds[1][1]'],
      [() => badWordsProcessor([[1]])(x, undefined as never), 'context.tokens'],
      [() => noRepeatNgramProcessor(2)(x, { tokens: [[1], [2]], step: 0 }), 'context.tokens'],
      [() => noRepeatNgramProcessor(2)(vector as never, ok), 'logits'],
    ];
    for (const [call, argument] of cases) {
      expect(thrownWithoutLeak(call).argument).toBe(argument);
    }
    tf.dispose([x, vector]);
  });
});
