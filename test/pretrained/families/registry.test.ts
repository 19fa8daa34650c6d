import { describe, expect, it } from 'vitest';
import {
  configJsonReader,
  familyForConfigJson,
  gpt2Family,
  llamaFamily,
  PRETRAINED_FAMILIES,
} from '../../../src/index';
import { thrownWithoutLeak } from '../../helpers/rejections';

describe('familyForConfigJson', () => {
  it('finds the family by model_type', () => {
    expect(familyForConfigJson('t', { model_type: 'gpt2' })).toBe(gpt2Family);
    expect(familyForConfigJson('t', { model_type: 'llama' })).toBe(llamaFamily);
  });

  it('every model_type belongs to one family, and each family reads its own default config', () => {
    const types = PRETRAINED_FAMILIES.flatMap((f) => f.modelTypes);
    expect(new Set(types).size).toBe(types.length);
    for (const family of PRETRAINED_FAMILIES) {
      for (const modelType of family.modelTypes) {
        expect(familyForConfigJson('t', { model_type: modelType })).toBe(family);
      }
    }
  });

  it('an unknown or missing model_type names the field and lists the supported ones', () => {
    const unknown = thrownWithoutLeak(() => familyForConfigJson('loadX', { model_type: 'mamba' }));
    expect(unknown.functionName).toBe('loadX');
    expect(unknown.argument).toBe('config.json: model_type');
    expect(unknown.expected).toContain('"gpt2"');
    expect(unknown.expected).toContain('"llama"');
    expect(unknown.actual).toMatch(/mamba/);
    const missing = thrownWithoutLeak(() => familyForConfigJson('loadX', {}));
    expect(missing.argument).toBe('config.json: model_type');
    expect(missing.actual).toBe('nothing');
    const notObject = thrownWithoutLeak(() => familyForConfigJson('loadX', [1]));
    expect(notObject.argument).toBe('config.json');
  });

  it('a family read through configJsonReader gives a config its rules cover', () => {
    const json = {
      model_type: 'gpt2',
      n_embd: 16,
      n_layer: 1,
      n_head: 2,
      n_positions: 8,
      vocab_size: 10,
    };
    const family = familyForConfigJson('t', json);
    const config = family.fromConfigJson(configJsonReader('t', json));
    expect(family.tensors(config).map((r) => r.name)).toContain(
      'transformer.h.0.attn.c_attn.weight',
    );
  });
});
