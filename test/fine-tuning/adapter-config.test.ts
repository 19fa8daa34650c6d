import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { adapterConfigJson, readAdapterConfig } from '../../src/fine-tuning/adapter-config';
import { thrownBy } from '../helpers/rejections';

const FIXTURES = join(__dirname, '..', 'fixtures', 'peft');
const fixtureConfig = (name: string): Record<string, unknown> =>
  JSON.parse(readFileSync(join(FIXTURES, name, 'adapter', 'adapter_config.json'), 'utf8'));

describe('readAdapterConfig', () => {
  it('maps the fields of every PEFT-written fixture', () => {
    // PEFT writes a list target_modules from a Python set: any order.
    const gpt2 = readAdapterConfig('f', fixtureConfig('gpt2'));
    expect([...(gpt2.targetModules as string[])].sort()).toEqual(['c_attn', 'c_fc']);
    expect({ ...gpt2, targetModules: undefined }).toEqual({
      r: 4,
      alpha: 8,
      targetModules: undefined,
      dropout: 0,
      useRsLora: false,
      initLoraWeights: false,
      taskType: 'CAUSAL_LM',
    });
    expect(readAdapterConfig('f', fixtureConfig('llama-regex')).targetModules).toBe(
      '.*\\.layers\\.1\\.self_attn\\.(q|k)_proj|.*mlp\\.down_proj',
    );
    expect(readAdapterConfig('f', fixtureConfig('llama-rslora')).useRsLora).toBe(true);
    expect(readAdapterConfig('f', fixtureConfig('llama-save')).modulesToSave).toEqual(['lm_head']);
  });

  it('reads base_model_name_or_path, gaussian init, dropout and empty modules_to_save', () => {
    const fields = readAdapterConfig('f', {
      ...fixtureConfig('llama-list'),
      base_model_name_or_path: 'HuggingFaceTB/SmolLM2-135M',
      init_lora_weights: 'gaussian',
      lora_dropout: 0.1,
      modules_to_save: [],
    });
    expect(fields.baseModelNameOrPath).toBe('HuggingFaceTB/SmolLM2-135M');
    expect(fields.initLoraWeights).toBe('gaussian');
    expect(fields.dropout).toBe(0.1);
    expect(fields.modulesToSave).toBeUndefined();
  });

  it('accepts an unknown field holding an "off" value, as a newer PEFT writes them', () => {
    const json = { ...fixtureConfig('llama-list'), new_thing: null, other_new: {}, third: false };
    expect(readAdapterConfig('f', json).r).toBe(4);
  });

  const base = () => fixtureConfig('llama-list');
  const rejected: Array<[string, Record<string, unknown>, RegExp?]> = [
    ['use_dora', { use_dora: true }, /DoRA/],
    ['lora_bias', { lora_bias: true }],
    ['rank_pattern', { rank_pattern: { q_proj: 2 } }],
    ['alpha_pattern', { alpha_pattern: { q_proj: 2 } }],
    ['layers_to_transform', { layers_to_transform: [0] }],
    ['exclude_modules', { exclude_modules: ['k_proj'] }],
    ['target_parameters', { target_parameters: ['experts.weight'] }],
    ['layer_replication', { layer_replication: [[0, 1]] }],
    ['trainable_token_indices', { trainable_token_indices: [1, 2] }],
    ['use_qalora', { use_qalora: true }],
    ['loftq_config', { loftq_config: { loftq_bits: 4 } }],
    ['eva_config', { eva_config: { rho: 2 } }],
    ['ensure_weight_tying', { ensure_weight_tying: true }],
    ['future_field', { future_field: 3 }, /not implemented/],
    ['init_lora_weights', { init_lora_weights: 'pissa' }, /gaussian/],
    ['init_lora_weights', { init_lora_weights: 'olora' }],
    ['bias', { bias: 'all' }],
    ['peft_type', { peft_type: 'IA3' }],
    ['peft_type', { peft_type: undefined }],
    ['r', { r: 0 }],
    ['r', { r: 2.5 }],
    ['lora_alpha', { lora_alpha: '8' }],
    ['lora_dropout', { lora_dropout: 1 }],
    ['lora_dropout', { lora_dropout: -0.1 }],
    ['use_rslora', { use_rslora: 'yes' }],
    ['target_modules', { target_modules: null }],
    ['target_modules', { target_modules: [] }],
    ['target_modules', { target_modules: [3] }],
    ['target_modules', { target_modules: '(?P<x>q_proj)' }, /\(\?<name>/],
    ['modules_to_save', { modules_to_save: 'lm_head' }],
    ['task_type', { task_type: 7 }],
  ];
  for (const [field, change, message] of rejected) {
    it(`rejects ${field} = ${JSON.stringify(Object.values(change)[0])}, naming it`, () => {
      const json = { ...base(), ...change };
      if (change.peft_type === undefined && 'peft_type' in change) delete json.peft_type;
      const e = thrownBy(() => readAdapterConfig('loadAdapter', json));
      expect(e.functionName).toBe('loadAdapter');
      expect(e.argument).toBe(`adapter_config.json: ${field}`);
      if (message) expect(e.message).toMatch(message);
    });
  }

  it('rejects a config that is not a JSON object', () => {
    expect(thrownBy(() => readAdapterConfig('f', [1])).argument).toBe('adapter_config.json');
    expect(thrownBy(() => readAdapterConfig('f', null)).argument).toBe('adapter_config.json');
  });
});

describe('adapterConfigJson', () => {
  it('writes what PEFT wrote for the same adapter, in the fields PEFT reads', () => {
    for (const name of ['gpt2', 'llama-list', 'llama-regex', 'llama-rslora', 'llama-save']) {
      const peft = fixtureConfig(name);
      const ours = adapterConfigJson(readAdapterConfig('f', peft), peft.fan_in_fan_out === true);
      for (const [key, value] of Object.entries(ours)) {
        if (key === 'base_model_name_or_path') continue;
        expect([name, key, peft[key]]).toEqual([name, key, value]);
      }
      // And it reads back to the same fields.
      expect(readAdapterConfig('f', ours)).toEqual(readAdapterConfig('f', peft));
    }
  });

  it('writes the base model name and a string target_modules as given', () => {
    const json = adapterConfigJson(
      {
        r: 2,
        alpha: 4,
        targetModules: '.*q_proj',
        dropout: 0,
        useRsLora: true,
        initLoraWeights: true,
        baseModelNameOrPath: 'org/model',
      },
      false,
    );
    expect(json).toMatchObject({
      base_model_name_or_path: 'org/model',
      target_modules: '.*q_proj',
      use_rslora: true,
      modules_to_save: null,
      fan_in_fan_out: false,
      task_type: 'CAUSAL_LM',
    });
  });
});
