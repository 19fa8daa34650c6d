import { describe, expect, it } from 'vitest';
import {
  configJsonReader,
  type DecoderLmConfig,
  familyForConfigJson,
  gemmaFamily,
  gpt2Config,
  llamaConfig,
  llamaFamily,
  mistralFamily,
  phi3Family,
  qwen2Family,
} from '../../../src/index';
import { thrownWithoutLeak } from '../../helpers/rejections';

const LLAMA = {
  hidden_size: 32,
  intermediate_size: 48,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  vocab_size: 64,
};
const GPT2 = { n_embd: 16, n_layer: 1, n_head: 2, n_positions: 8, vocab_size: 10 };

function read(json: Record<string, unknown>) {
  const family = familyForConfigJson('loadPretrained', json);
  return family.fromConfigJson(configJsonReader('loadPretrained', json));
}

describe('config.json values we do not implement are errors naming the field', () => {
  const llama3 = { factor: 8, high_freq_factor: 4, original_max_position_embeddings: 16 };
  const cases: [string, Record<string, unknown>, string][] = [
    [
      'an activation we lack',
      { model_type: 'gpt2', ...GPT2, activation_function: 'gelu_fast' },
      'activation_function',
    ],
    [
      'attention scaled by layer index',
      { model_type: 'gpt2', ...GPT2, scale_attn_by_inverse_layer_idx: true },
      'scale_attn_by_inverse_layer_idx',
    ],
    [
      'unscaled attention',
      { model_type: 'gpt2', ...GPT2, scale_attn_weights: false },
      'scale_attn_weights',
    ],
    [
      'cross-attention',
      { model_type: 'gpt2', ...GPT2, add_cross_attention: true },
      'add_cross_attention',
    ],
    ['heads that do not divide the width', { model_type: 'gpt2', ...GPT2, n_head: 5 }, 'n_head'],
    [
      'a bad epsilon',
      { model_type: 'gpt2', ...GPT2, layer_norm_epsilon: -1 },
      'layer_norm_epsilon',
    ],
    [
      'dynamic RoPE scaling (rope_scaling.type)',
      { model_type: 'llama', ...LLAMA, rope_scaling: { type: 'dynamic', factor: 2 } },
      'rope_scaling.type',
    ],
    [
      'yarn (rope_parameters)',
      {
        model_type: 'llama',
        ...LLAMA,
        rope_parameters: { rope_type: 'yarn', rope_theta: 1e4, factor: 4 },
      },
      'rope_parameters.rope_type',
    ],
    [
      'llama3 scaling without low_freq_factor',
      { model_type: 'llama', ...LLAMA, rope_scaling: { rope_type: 'llama3', ...llama3 } },
      'rope_scaling.low_freq_factor',
    ],
    [
      'llama3 scaling with high <= low',
      {
        model_type: 'llama',
        ...LLAMA,
        rope_scaling: { rope_type: 'llama3', ...llama3, low_freq_factor: 4 },
      },
      'rope_scaling.high_freq_factor',
    ],
    [
      'linear scaling without a factor',
      { model_type: 'llama', ...LLAMA, rope_parameters: { rope_type: 'linear', rope_theta: 1e4 } },
      'rope_parameters.factor',
    ],
    ['a head_dim of 0', { model_type: 'llama', ...LLAMA, head_dim: 0 }, 'head_dim'],
    [
      'heads that do not divide the width, without head_dim',
      { model_type: 'llama', ...LLAMA, num_attention_heads: 5, num_key_value_heads: 5 },
      'num_attention_heads',
    ],
    [
      'an activation we lack (hidden_act)',
      { model_type: 'llama', ...LLAMA, hidden_act: 'gelu_fast' },
      'hidden_act',
    ],
    [
      'kv heads that do not divide the heads',
      { model_type: 'llama', ...LLAMA, num_key_value_heads: 3 },
      'num_key_value_heads',
    ],
    [
      'a negative rms_norm_eps',
      { model_type: 'llama', ...LLAMA, rms_norm_eps: -1 },
      'rms_norm_eps',
    ],
    ['a fractional size', { model_type: 'llama', ...LLAMA, hidden_size: 32.5 }, 'hidden_size'],
    [
      "Qwen2's sliding window on some layers only (max_window_layers)",
      { model_type: 'qwen2', ...LLAMA, use_sliding_window: true, max_window_layers: 1 },
      'max_window_layers',
    ],
    [
      "Qwen2's sliding window on some layers only (layer_types)",
      {
        model_type: 'qwen2',
        ...LLAMA,
        use_sliding_window: true,
        sliding_window: 4,
        layer_types: ['full_attention', 'sliding_attention'],
      },
      'layer_types',
    ],
    [
      "Qwen2's sliding_attention layers without use_sliding_window",
      { model_type: 'qwen2', ...LLAMA, layer_types: ['sliding_attention', 'sliding_attention'] },
      'layer_types',
    ],
    [
      "Qwen2's layer_types of the wrong length",
      { model_type: 'qwen2', ...LLAMA, layer_types: ['full_attention'] },
      'layer_types',
    ],
    [
      "Phi-3's longrope",
      {
        model_type: 'phi3',
        ...LLAMA,
        rope_scaling: { type: 'longrope', short_factor: [1], long_factor: [1] },
      },
      'rope_scaling.type',
    ],
    [
      'partial RoPE',
      { model_type: 'phi3', ...LLAMA, partial_rotary_factor: 0.5 },
      'partial_rotary_factor',
    ],
    [
      'partial RoPE (rope_parameters)',
      {
        model_type: 'phi3',
        ...LLAMA,
        rope_parameters: { rope_type: 'default', rope_theta: 1e4, partial_rotary_factor: 0.5 },
      },
      'rope_parameters.partial_rotary_factor',
    ],
    [
      "Phi-3's sliding window of 0",
      { model_type: 'phi3', ...LLAMA, sliding_window: 0 },
      'sliding_window',
    ],
  ];
  for (const [title, json, field] of cases) {
    it(title, () => {
      const e = thrownWithoutLeak(() => read(json));
      expect(e.functionName).toBe('loadPretrained');
      expect(e.argument).toBe(`config.json: ${field}`);
    });
  }
});

describe('config.json fields read into our config', () => {
  it('rope_scaling (older folders) and rope_parameters (transformers 5) read the same', () => {
    const scaling = {
      factor: 8,
      low_freq_factor: 1,
      high_freq_factor: 4,
      original_max_position_embeddings: 16,
    };
    const legacy = read({
      model_type: 'llama',
      ...LLAMA,
      rope_theta: 5e5,
      rope_scaling: { rope_type: 'llama3', ...scaling },
    });
    const v5 = read({
      model_type: 'llama',
      ...LLAMA,
      rope_parameters: { rope_type: 'llama3', rope_theta: 5e5, ...scaling },
    });
    expect(legacy).toEqual(v5);
    expect(v5.block.rope).toEqual({
      base: 5e5,
      scaling: {
        kind: 'llama3',
        factor: 8,
        lowFreqFactor: 1,
        highFreqFactor: 4,
        originalMaxLength: 16,
      },
    });
  });

  it('defaults and flags: GPT-2 n_inner and activation, Llama biases, Qwen2 biases, tied heads', () => {
    const gpt2 = read({ model_type: 'gpt2', ...GPT2, n_inner: 24, activation_function: 'relu' });
    expect(gpt2.block.feedForward).toMatchObject({ hidden: 24, activation: 'relu' });
    const llama = read({
      model_type: 'llama',
      ...LLAMA,
      attention_bias: true,
      mlp_bias: true,
      head_dim: 8,
    });
    expect(llama.block.attentionBias).toBe(true);
    expect(llama.block.feedForward.useBias).toBe(true);
    expect(llama.block.rope).toEqual({ base: 10000 });
    const qwen = read({ model_type: 'qwen2', ...LLAMA, tie_word_embeddings: true });
    expect(qwen.block).toMatchObject({ attentionBias: true, attentionOutputBias: false });
    expect(qwen).toMatchObject({ tieEmbeddings: true });
  });

  it('toConfigJson refuses a config its family cannot describe', () => {
    const llama = llamaConfig({
      vocabSize: 64,
      maxLength: 16,
      dModel: 32,
      numLayers: 1,
      numHeads: 4,
      hidden: 48,
    });
    const gpt2 = gpt2Config({
      vocabSize: 64,
      maxLength: 16,
      dModel: 32,
      numLayers: 1,
      numHeads: 4,
    });
    expect(thrownWithoutLeak(() => qwen2Family.toConfigJson(llama)).argument).toBe(
      'config.block.attentionBias',
    );
    expect(thrownWithoutLeak(() => llamaFamily.toConfigJson(gpt2)).argument).toBe(
      'config.positions',
    );
    const outputOnly = {
      ...llama,
      block: { ...llama.block, attentionBias: true, attentionOutputBias: false },
    };
    expect(thrownWithoutLeak(() => llamaFamily.toConfigJson(outputOnly)).argument).toBe(
      'config.block.attentionOutputBias',
    );
  });
});

describe('head_dim and sliding windows in the Llama-style families', () => {
  it('head_dim other than hidden/heads becomes block.headDim and is written back (llama, mistral, qwen2, phi3)', () => {
    for (const modelType of ['llama', 'mistral', 'qwen2', 'phi3']) {
      const json = { model_type: modelType, ...LLAMA, head_dim: 16 };
      const config = read(json);
      expect(config.block.headDim, modelType).toBe(16);
      const family = familyForConfigJson('test', json);
      const written = family.toConfigJson(config);
      expect(written.head_dim, modelType).toBe(16);
      expect(read(written), modelType).toEqual(config);
      // q_proj and o_proj are numHeads · headDim = 64 wide; k/v numKvHeads · headDim = 32.
      const shapes = Object.fromEntries(family.tensors(config).map((r) => [r.name, r.shape]));
      if (modelType === 'phi3') {
        expect(shapes['model.layers.0.self_attn.qkv_proj.weight']).toEqual([64 + 2 * 32, 32]);
      } else {
        expect(shapes['model.layers.0.self_attn.q_proj.weight']).toEqual([64, 32]);
        expect(shapes['model.layers.0.self_attn.k_proj.weight']).toEqual([32, 32]);
      }
      expect(shapes['model.layers.0.self_attn.o_proj.weight']).toEqual([32, 64]);
    }
    // hidden/heads itself (and null, as transformers writes it) leaves no headDim.
    expect(read({ model_type: 'llama', ...LLAMA, head_dim: 8 }).block.headDim).toBeUndefined();
    expect(read({ model_type: 'mistral', ...LLAMA, head_dim: null }).block.headDim).toBeUndefined();
    // heads that do not divide the width are fine with a head_dim.
    const odd = read({
      model_type: 'llama',
      ...LLAMA,
      num_attention_heads: 6,
      num_key_value_heads: 2,
      head_dim: 8,
    });
    expect(odd.block).toMatchObject({ numHeads: 6, headDim: 8 });
  });

  const decoder = (json: Record<string, unknown>) => read(json) as DecoderLmConfig;

  it("Phi-3's sliding_window (2047 in Phi-3-mini-4k) is block.slidingWindow; null and absent are none", () => {
    const config = decoder({ model_type: 'phi3', ...LLAMA, sliding_window: 2047 });
    expect(config.block.slidingWindow).toBe(2047);
    expect(phi3Family.toConfigJson(config).sliding_window).toBe(2047);
    expect(read(phi3Family.toConfigJson(config))).toEqual(config);
    expect(read({ model_type: 'phi3', ...LLAMA, sliding_window: null }).block.slidingWindow).toBe(
      undefined,
    );
    expect(read({ model_type: 'phi3', ...LLAMA }).block.slidingWindow).toBeUndefined();
  });

  it("Qwen2's window: on every layer it is read; off (the Hub releases) or on no layer it is none", () => {
    const all = decoder({
      model_type: 'qwen2',
      ...LLAMA,
      use_sliding_window: true,
      sliding_window: 16,
      max_window_layers: 0,
    });
    expect(all.block.slidingWindow).toBe(16);
    const written = qwen2Family.toConfigJson(all);
    expect(written).toMatchObject({
      use_sliding_window: true,
      sliding_window: 16,
      max_window_layers: 0,
    });
    expect(read(written)).toEqual(all);
    const types = read({
      model_type: 'qwen2',
      ...LLAMA,
      use_sliding_window: true,
      sliding_window: 16,
      layer_types: ['sliding_attention', 'sliding_attention'],
    });
    expect(types.block.slidingWindow).toBe(16);
    // absent sliding_window with use_sliding_window: Qwen2Config's 4096.
    const fallback = read({
      model_type: 'qwen2',
      ...LLAMA,
      use_sliding_window: true,
      max_window_layers: 0,
    });
    expect(fallback.block.slidingWindow).toBe(4096);
    for (const json of [
      // Qwen2.5's config.json: the fields are there, the window is off.
      { use_sliding_window: false, sliding_window: 32768, max_window_layers: 21 },
      // on from a layer past the last: on no layer.
      { use_sliding_window: true, sliding_window: 16, max_window_layers: 2 },
      { layer_types: ['full_attention', 'full_attention'] },
    ]) {
      expect(read({ model_type: 'qwen2', ...LLAMA, ...json }).block.slidingWindow).toBeUndefined();
    }
    expect(
      qwen2Family.toConfigJson(decoder({ model_type: 'qwen2', ...LLAMA })).use_sliding_window,
    ).toBe(false);
  });

  it('toConfigJson of a family without windows refuses a config with one', () => {
    const windowed = decoder({ model_type: 'mistral', ...LLAMA, sliding_window: 8 });
    expect(thrownWithoutLeak(() => llamaFamily.toConfigJson(windowed)).argument).toBe(
      'config.block.slidingWindow',
    );
    const gemma = gemmaFamily.fromConfigJson(
      configJsonReader('test', { model_type: 'gemma', ...LLAMA, head_dim: 8 }),
    );
    const windowedGemma = { ...gemma, block: { ...gemma.block, slidingWindow: 8 } };
    expect(thrownWithoutLeak(() => gemmaFamily.toConfigJson(windowedGemma)).argument).toBe(
      'config.block.slidingWindow',
    );
    expect(mistralFamily.toConfigJson(windowed).sliding_window).toBe(8);
  });
});
