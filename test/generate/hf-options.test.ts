// The generation options of Hugging Face's generation_config.json as
// generate uses them (EOS kept, numReturnSequences, bad values named). The
// processors behind them are tested in hf-processors.test.ts; parity with
// transformers itself is in hf-generate-parity.test.ts.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  type GenerateOptions,
  type GenerationModel,
  generate,
  gpt2Config,
  initDecoderLm,
  TfjsBlocksError,
} from '../../src/index';

const config = gpt2Config({ vocabSize: 12, maxLength: 32, dModel: 16, numLayers: 1, numHeads: 2 });
const model: GenerationModel = { kind: 'decoderLm', config, params: initDecoderLm(config, 7) };
const prompts = [[1, 2, 3], [4]];

describe('generate with the generation_config options', () => {
  it('eosTokenId ends a row and stays in its output; a stop token ends it and is dropped', async () => {
    const greedy = await generate(model, prompts, { maxNewTokens: 8, temperature: 0 });
    const end = greedy[0]![2]!;
    const cut = greedy[0]!.indexOf(end);
    const streamed: Array<number | null> = [];
    const [withEos] = await generate(model, [prompts[0]!], {
      maxNewTokens: 8,
      temperature: 0,
      eosTokenId: [end],
      onToken: ([t]) => {
        streamed.push(t!);
      },
    });
    expect(withEos).toEqual(greedy[0]!.slice(0, cut + 1));
    expect(streamed.slice(0, cut + 1)).toEqual(withEos);
    const [withStop] = await generate(model, [prompts[0]!], {
      maxNewTokens: 8,
      temperature: 0,
      stopTokens: [end],
    });
    expect(withStop).toEqual(greedy[0]!.slice(0, cut));
    // A bad word that is an end token is not banned (as transformers drops it).
    const [badEos] = await generate(model, [prompts[0]!], {
      maxNewTokens: 8,
      temperature: 0,
      eosTokenId: end,
      badWordsIds: [[end]],
    });
    expect(badEos).toEqual(withEos);
    // minNewTokens holds it back.
    const [held] = await generate(model, [prompts[0]!], {
      maxNewTokens: 8,
      temperature: 0,
      eosTokenId: end,
      minNewTokens: cut + 1,
    });
    expect(held!.indexOf(end) === -1 || held!.indexOf(end) > cut).toBe(true);
  });

  it('numReturnSequences: the n best beams, or n seeded samples per prompt', async () => {
    const beams = await generate(model, prompts, {
      maxNewTokens: 5,
      numBeams: 4,
      numReturnSequences: 3,
    });
    expect(beams.length).toBe(6);
    expect(new Set(beams.slice(0, 3).map((b) => b.join())).size).toBe(3);
    const [best] = await generate(model, [prompts[0]!], { maxNewTokens: 5, numBeams: 4 });
    expect(beams[0]).toEqual(best);
    const options: GenerateOptions = { maxNewTokens: 5, numReturnSequences: 3, seed: 2 };
    const samples = await generate(model, prompts, options);
    expect(samples.length).toBe(6);
    expect(await generate(model, prompts, options)).toEqual(samples);
  });

  it('leaves no tensor behind with every option, sampling and beam search', async () => {
    const before = tf.memory().numTensors;
    const all: GenerateOptions = {
      maxNewTokens: 6,
      eosTokenId: [1, 2],
      stopTokens: [3],
      repetitionPenalty: 1.2,
      noRepeatNgramSize: 2,
      minNewTokens: 2,
      badWordsIds: [[4], [5, 6]],
      lengthPenalty: 0.5,
      earlyStopping: 'never',
    };
    await generate(model, prompts, { ...all, numReturnSequences: 2, seed: 1, topK: 5 });
    await generate(model, prompts, { ...all, numBeams: 3, numReturnSequences: 2 });
    await generate(model, prompts, { ...all, numBeams: 3, earlyStopping: true });
    expect(tf.memory().numTensors).toBe(before);
  });

  it('names a bad option, leaving no tensor behind', async () => {
    const ok: GenerateOptions = { maxNewTokens: 2 };
    const cases: [Partial<GenerateOptions>, string][] = [
      [{ eosTokenId: 12 }, 'options.eosTokenId'],
      [{ eosTokenId: [1, 12] }, 'options.eosTokenId[1]'],
      [{ eosTokenId: 'x' as never }, 'options.eosTokenId'],
      [{ noRepeatNgramSize: -1 }, 'options.noRepeatNgramSize'],
      [{ minNewTokens: 1.5 }, 'options.minNewTokens'],
      [{ badWordsIds: [] }, 'options.badWordsIds'],
      [{ badWordsIds: [[1], []] }, 'options.badWordsIds[1]'],
      [{ badWordsIds: [[1, 12]] }, 'options.badWordsIds[0][1]'],
      [{ earlyStopping: 'always' as never }, 'options.earlyStopping'],
      [{ numReturnSequences: 0 }, 'options.numReturnSequences'],
      [{ numBeams: 2, numReturnSequences: 3 }, 'options.numReturnSequences'],
      [{ temperature: 0, numReturnSequences: 2 }, 'options.numReturnSequences'],
      [{ lengthPenalty: Number.NaN, numBeams: 2 }, 'options.lengthPenalty'],
    ];
    for (const [bad, argument] of cases) {
      const before = tf.memory().numTensors;
      const error = await generate(model, [[1]], { ...ok, ...bad }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error, argument).toBeInstanceOf(TfjsBlocksError);
      expect((error as TfjsBlocksError).argument).toBe(argument);
      expect(tf.memory().numTensors).toBe(before);
    }
  });
});
