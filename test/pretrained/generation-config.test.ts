import { describe, expect, it } from 'vitest';
import type { GenerateOptions } from '../../src/index';
import { configJsonReader } from '../../src/pretrained/config-json';
import {
  generateOptionsFromConfigJson,
  toGenerationConfigJson,
} from '../../src/pretrained/generation-config';
import { thrownBy } from '../helpers/rejections';

const FILE = 'generation_config.json';
const read = (json: unknown) => generateOptionsFromConfigJson(configJsonReader('f', json, FILE));

describe('generateOptionsFromConfigJson', () => {
  it("reads transformers' defaults: absent do_sample is greedy search", () => {
    expect(read({})).toEqual({ temperature: 0 });
    // GPT-2's file: only ids and bookkeeping.
    expect(
      read({ bos_token_id: 50256, eos_token_id: 50256, transformers_version: '4.26.0' }),
    ).toEqual({ temperature: 0, eosTokenId: 50256 });
  });

  it('sampling: temperature, top_k (50 unless set; 0 is off), top_p (1 is off), min_p', () => {
    // Llama 3's file.
    expect(
      read({ do_sample: true, temperature: 0.6, top_p: 0.9, eos_token_id: [128001, 128009] }),
    ).toEqual({ temperature: 0.6, topK: 50, topP: 0.9, eosTokenId: [128001, 128009] });
    expect(read({ do_sample: true, top_k: 0, top_p: 1, min_p: 0.05 })).toEqual({
      temperature: 1,
      minP: 0.05,
    });
    // Sampling fields without do_sample are ignored, as transformers does.
    expect(read({ do_sample: false, temperature: 0.6, top_p: 0.9 })).toEqual({ temperature: 0 });
  });

  it('every mapped field', () => {
    expect(
      read({
        max_new_tokens: 32,
        max_length: 4096,
        use_cache: true,
        num_beams: 4,
        repetition_penalty: 1.2,
        no_repeat_ngram_size: 3,
        min_new_tokens: 2,
        bad_words_ids: [[5], [6, 7]],
        eos_token_id: 2,
        pad_token_id: 0,
        length_penalty: -0.5,
        early_stopping: 'never',
        num_return_sequences: 2,
        min_length: 0,
        typical_p: 1.0,
        num_beam_groups: 1,
        suppress_tokens: null,
      }),
    ).toEqual({
      maxNewTokens: 32,
      useCache: true,
      numBeams: 4,
      repetitionPenalty: 1.2,
      noRepeatNgramSize: 3,
      minNewTokens: 2,
      badWordsIds: [[5], [6, 7]],
      eosTokenId: 2,
      padId: 0,
      lengthPenalty: -0.5,
      earlyStopping: 'never',
      numReturnSequences: 2,
    });
    expect(read({ num_beams: 2, early_stopping: true }).earlyStopping).toBe(true);
    expect(read({ num_beams: 2, early_stopping: false }).earlyStopping).toBeUndefined();
  });

  it('names the field of a bad or unsupported value', () => {
    const cases: [unknown, string][] = [
      [{ max_new_tokens: 0 }, 'max_new_tokens'],
      [{ max_length: 'long' }, 'max_length'],
      [{ do_sample: 'yes' }, 'do_sample'],
      [{ do_sample: true, num_beams: 2 }, 'do_sample'],
      [{ temperature: 0 }, 'temperature'],
      [{ top_k: -1 }, 'top_k'],
      [{ top_p: 1.5 }, 'top_p'],
      [{ min_p: 2 }, 'min_p'],
      [{ repetition_penalty: 0 }, 'repetition_penalty'],
      [{ no_repeat_ngram_size: 1.5 }, 'no_repeat_ngram_size'],
      [{ min_new_tokens: -1 }, 'min_new_tokens'],
      [{ bad_words_ids: [] }, 'bad_words_ids'],
      [{ bad_words_ids: [[1], []] }, 'bad_words_ids'],
      [{ bad_words_ids: [1, 2] }, 'bad_words_ids'],
      [{ eos_token_id: [] }, 'eos_token_id'],
      [{ pad_token_id: -1 }, 'pad_token_id'],
      [{ bos_token_id: 'x' }, 'bos_token_id'],
      [{ num_beams: 0 }, 'num_beams'],
      [{ length_penalty: 'x' }, 'length_penalty'],
      [{ early_stopping: 'sometimes' }, 'early_stopping'],
      [{ num_return_sequences: 0 }, 'num_return_sequences'],
      [{ use_cache: 1 }, 'use_cache'],
      [{ min_length: 5 }, 'min_length'],
      [{ typical_p: 0.9 }, 'typical_p'],
      [{ suppress_tokens: [1] }, 'suppress_tokens'],
      [{ num_beam_groups: 2 }, 'num_beam_groups'],
      [{ renormalize_logits: true }, 'renormalize_logits'],
      [{ forced_eos_token_id: 2 }, 'forced_eos_token_id'],
      [{ stop_strings: ['\n'] }, 'stop_strings'],
    ];
    for (const [json, field] of cases) {
      const error = thrownBy(() => read(json));
      expect(error.argument, JSON.stringify(json)).toBe(`${FILE}: ${field}`);
    }
    expect(thrownBy(() => read([])).argument).toBe(FILE);
  });
});

describe('toGenerationConfigJson', () => {
  it('writes what transformers reads back to the same decoding', () => {
    expect(
      toGenerationConfigJson({ maxNewTokens: 64, temperature: 0, eosTokenId: 2, padId: 0 }),
    ).toEqual({ do_sample: false, max_new_tokens: 64, eos_token_id: 2, pad_token_id: 0 });
    // Our default temperature (1) samples; top_k 0 keeps transformers from adding top_k 50.
    expect(toGenerationConfigJson({})).toEqual({ do_sample: true, temperature: 1, top_k: 0 });
    expect(
      toGenerationConfigJson({
        numBeams: 3,
        lengthPenalty: 0.5,
        earlyStopping: 'never',
        numReturnSequences: 2,
        eosTokenId: [1, 2],
        stopTokens: [2, 3],
        badWordsIds: [[4]],
        noRepeatNgramSize: 2,
        minNewTokens: 1,
        repetitionPenalty: 1.1,
        useCache: false,
        seed: 3,
      }),
    ).toEqual({
      do_sample: false,
      num_beams: 3,
      length_penalty: 0.5,
      early_stopping: 'never',
      num_return_sequences: 2,
      eos_token_id: [1, 2, 3],
      bad_words_ids: [[4]],
      no_repeat_ngram_size: 2,
      min_new_tokens: 1,
      repetition_penalty: 1.1,
      use_cache: false,
    });
  });

  it('round-trips through generateOptionsFromConfigJson', () => {
    const options: Partial<GenerateOptions>[] = [
      { maxNewTokens: 8, temperature: 0.7, topK: 20, topP: 0.9, minP: 0.1, eosTokenId: [1, 2] },
      {
        maxNewTokens: 8,
        numBeams: 4,
        lengthPenalty: 2,
        earlyStopping: true,
        numReturnSequences: 2,
      },
      { maxNewTokens: 8, temperature: 0, badWordsIds: [[3, 4]], padId: 5, minNewTokens: 2 },
    ];
    for (const o of options) {
      const back = read(JSON.parse(JSON.stringify(toGenerationConfigJson(o))));
      expect(back).toEqual(o);
    }
  });

  it('rejects what a generation_config.json cannot hold', () => {
    const error = thrownBy(() => toGenerationConfigJson({ logitsProcessors: [(x) => x] }));
    expect(error.argument).toBe('options.logitsProcessors');
    expect(thrownBy(() => toGenerationConfigJson(null as never)).argument).toBe('options');
  });
});
