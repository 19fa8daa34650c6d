import { describe, expect, it } from 'vitest';
import { TfjsBlocksError } from '../../src/errors';
import { configJsonReader } from '../../src/pretrained/config-json';
import { thrownBy } from '../helpers/rejections';

describe('configJsonReader', () => {
  const json = {
    hidden_size: 768,
    rms_norm_eps: 1e-6,
    tie_word_embeddings: false,
    hidden_act: 'silu',
    eos_token_id: [1, 2],
    bos_token_id: 0,
    sliding_window: null,
    rope_scaling: { rope_type: 'llama3', factor: 8 },
  };
  const read = configJsonReader('f', json);

  it('reads each kind of field, with fallbacks for absent and null ones', () => {
    expect(read.integer('hidden_size', undefined, 1)).toBe(768);
    expect(read.integer('sliding_window', 4096)).toBe(4096);
    expect(read.has('sliding_window')).toBe(false);
    expect(read.has('hidden_size')).toBe(true);
    expect(read.number('rms_norm_eps')).toBe(1e-6);
    expect(read.number('rope_theta', 10000)).toBe(10000);
    expect(read.boolean('tie_word_embeddings', true)).toBe(false);
    expect(read.string('hidden_act', ['silu', 'gelu'])).toBe('silu');
    expect(read.integers('eos_token_id')).toEqual([1, 2]);
    expect(read.integers('bos_token_id')).toEqual([0]);
    expect(read.object('rope_scaling')?.number('factor')).toBe(8);
    expect(read.object('absent')).toBeUndefined();
  });

  it('names the file and field of a missing or wrong value', () => {
    const cases: [() => unknown, string, string][] = [
      [() => read.integer('num_layers'), 'config.json: num_layers', 'nothing'],
      [() => read.integer('rms_norm_eps'), 'config.json: rms_norm_eps', 'number 0.000001'],
      [() => read.number('hidden_act'), 'config.json: hidden_act', 'string silu'],
      [() => read.string('hidden_act', ['gelu']), 'config.json: hidden_act', 'string silu'],
      [() => read.boolean('hidden_size'), 'config.json: hidden_size', 'number 768'],
      [() => read.integers('hidden_act'), 'config.json: hidden_act', 'string silu'],
      [
        () => read.object('rope_scaling')?.string('rope_type', ['linear']),
        'config.json: rope_scaling.rope_type',
        'string llama3',
      ],
      [
        () => read.unsupported('rope_scaling', 'no rope_scaling'),
        'config.json: rope_scaling',
        'an object',
      ],
      [
        () => configJsonReader('f', [1], 'generation_config.json'),
        'generation_config.json',
        'an array',
      ],
    ];
    for (const [call, argument, actual] of cases) {
      const error = thrownBy(call);
      expect(error).toBeInstanceOf(TfjsBlocksError);
      expect((error as TfjsBlocksError).argument).toBe(argument);
      expect((error as TfjsBlocksError).actual).toBe(actual);
    }
  });

  it('reads lists of id lists (bad_words_ids), naming a bad one', () => {
    const lists = configJsonReader('f', { ok: [[1], [2, 3]], empty: [[1], []], flat: [1, 2] });
    expect(lists.integerLists('ok')).toEqual([[1], [2, 3]]);
    expect(lists.integerLists('absent', [])).toEqual([]);
    for (const field of ['empty', 'flat', 'absent']) {
      expect(thrownBy(() => lists.integerLists(field)).argument).toBe(`config.json: ${field}`);
    }
  });
});

describe('configJsonReader: lists of strings and object keys', () => {
  const read = configJsonReader('f', {
    architectures: ['BertModel'],
    id2label: { 0: 'NEG', 1: 'POS' },
    empty: [],
    mixed: ['a', 1],
  });

  it('reads a list of strings and the keys of an object, with fallbacks', () => {
    expect(read.strings('architectures')).toEqual(['BertModel']);
    expect(read.strings('absent', ['X'])).toEqual(['X']);
    expect(read.keys('id2label')).toEqual(['0', '1']);
    expect(read.keys('absent')).toBeUndefined();
  });

  it('names the field of a wrong value', () => {
    const cases: [() => unknown, string][] = [
      [() => read.strings('empty'), 'config.json: empty'],
      [() => read.strings('mixed'), 'config.json: mixed'],
      [() => read.strings('id2label'), 'config.json: id2label'],
      [() => read.strings('absent'), 'config.json: absent'],
      [() => read.keys('architectures'), 'config.json: architectures'],
    ];
    for (const [call, argument] of cases) expect(thrownBy(call).argument).toBe(argument);
  });
});
