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
