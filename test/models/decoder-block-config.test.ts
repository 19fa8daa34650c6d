import { describe, expect, it } from 'vitest';
import { decoderBlockConfig, gpt2Config, llamaConfig } from '../../src/models/decoder-lm';

// decoderLm derives its blocks' config on every call; the blocks validate a
// config object once (checkBlockConfig), so the derived object must keep its
// identity while the model config is unchanged, or every decoded token pays
// a full validation (issue 17's decode regression).
describe('decoderBlockConfig', () => {
  it('returns the same object for an unchanged model config', () => {
    const config = gpt2Config({
      vocabSize: 16,
      maxLength: 8,
      dModel: 8,
      numLayers: 1,
      numHeads: 2,
    });
    const block = decoderBlockConfig(config);
    expect(decoderBlockConfig(config)).toBe(block);
    expect(block).toMatchObject({ rope: false, alibi: false, dModel: 8 });
  });

  it('derives anew when the model config is changed in place, nested records included', () => {
    const config = llamaConfig({
      vocabSize: 16,
      maxLength: 8,
      dModel: 8,
      numLayers: 1,
      numHeads: 2,
      hidden: 16,
    });
    const first = decoderBlockConfig(config);
    config.block.numHeads = 4;
    const second = decoderBlockConfig(config);
    expect(second).not.toBe(first);
    expect(second.numHeads).toBe(4);
    (config.block.norm as { epsilon?: number }).epsilon = 1e-3;
    expect(decoderBlockConfig(config).norm).toMatchObject({ epsilon: 1e-3 });
    config.positions = 'alibi';
    expect(decoderBlockConfig(config)).toMatchObject({ rope: false, alibi: true });
  });
});
