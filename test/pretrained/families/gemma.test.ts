// gemmaFamily against transformers' GemmaForCausalLM: the folder written by
// test/reference/pretrained_gemma.py (save_pretrained of a tiny random Gemma:
// 2 layers, d 32, 4 heads × head_dim 16, 2 kv heads, vocab 100).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  configJsonReader,
  type DecoderLmConfig,
  type DecoderLmParams,
  decoderLm,
  familyForConfigJson,
  gemmaFamily,
  generate,
  initDecoderLm,
} from '../../../src/index';
import { readSafetensorsFile } from '../../../src/node/index';
import { getParamPath, setParamPath } from '../../../src/pretrained/families/rules';
import { describeEachBackend } from '../../helpers/backends';
import { thrownWithoutLeak } from '../../helpers/rejections';

const dir = fileURLToPath(new URL('../../fixtures/pretrained/gemma/', import.meta.url));
const readJson = (name: string) => JSON.parse(readFileSync(`${dir}${name}`, 'utf8'));
const expected = readJson('expected.json');
const configJson = readJson('config.json');
const read = (json: unknown) => configJsonReader('test', json);

/** The checkpoint's tensors through the family's rules (what loadPretrained does, shard by shard). */
async function loadParams(config: DecoderLmConfig): Promise<DecoderLmParams> {
  const { tensors } = await readSafetensorsFile(`${dir}model.safetensors`);
  const rules = gemmaFamily.tensors(config);
  const names = new Set(rules.map((r) => r.name));
  const unknown = Object.keys(tensors).filter(
    (n) => !names.has(n) && !gemmaFamily.isBuffer(n, config),
  );
  expect(unknown).toEqual([]);
  const params = tf.tidy(() => {
    const root: Record<string, unknown> = {};
    for (const rule of rules) {
      const t = tensors[rule.name]!;
      expect(t.shape, rule.name).toEqual(rule.shape);
      rule.load(t).forEach((part, i) => {
        setParamPath(root, rule.paths[i]!, part);
      });
    }
    return root as unknown as DecoderLmParams;
  });
  tf.dispose(Object.values(tensors));
  return params;
}

/** max |a - b| / max |b|. */
function relativeError(actual: tf.Tensor, reference: number[][][]): number {
  const a = actual.dataSync();
  const b = reference.flat(2);
  let diff = 0;
  let scale = 0;
  b.forEach((v, i) => {
    diff = Math.max(diff, Math.abs(a[i]! - v));
    scale = Math.max(scale, Math.abs(v));
  });
  return diff / scale;
}

describeEachBackend('Gemma: transformers parity', () => {
  it('config.json reads through the registry into the Gemma config', () => {
    const family = familyForConfigJson('test', configJson);
    expect(family).toBe(gemmaFamily);
    const config = gemmaFamily.fromConfigJson(read(configJson));
    expect(config).toMatchObject({
      vocabSize: 100,
      maxLength: 64,
      numLayers: 2,
      positions: 'rope',
      tieEmbeddings: true,
      embeddingScale: Math.sqrt(32),
      block: {
        dModel: 32,
        numHeads: 4,
        numKvHeads: 2,
        headDim: 16,
        norm: { kind: 'rms', epsilon: 1e-6, unitOffset: true },
        feedForward: { hidden: 64, kind: 'gated', activation: 'gelu-tanh', useBias: false },
        attentionBias: false,
        rope: { base: 10000 },
      },
    });
  });

  for (const [name, json] of [
    ['config.json', configJson],
    ['legacy config (hidden_act "gelu")', readJson('legacy-config/config.json')],
  ] as const) {
    it(`${name}: logits of a batch of 2 prompts within 1e-4 relative of GemmaForCausalLM`, async () => {
      const config = gemmaFamily.fromConfigJson(read(json));
      const params = await loadParams(config);
      const ids = tf.tensor2d(expected.prompts, undefined, 'int32');
      const logits = decoderLm(config, params, ids);
      expect(logits.shape).toEqual([2, 7, 100]);
      const error = relativeError(logits, expected.logits);
      expect(error).toBeLessThan(1e-4);
      tf.dispose([params, ids, logits]);
    });
  }

  it('greedy generate (10 tokens, both prompts in one left-padded batch) == GemmaForCausalLM.generate', async () => {
    const config = gemmaFamily.fromConfigJson(read(configJson));
    const params = await loadParams(config);
    const before = tf.memory().numTensors;
    const { prompts, maxNewTokens, greedy } = expected.generate;
    const out = await generate({ kind: 'decoderLm', config, params }, prompts, {
      maxNewTokens,
      temperature: 0,
    });
    expect(out).toEqual(greedy);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose(params);
  });
});

describe('gemmaFamily', () => {
  it('toConfigJson is what the reference script read back with GemmaConfig (same logits)', () => {
    const config = gemmaFamily.fromConfigJson(read(configJson));
    expect(gemmaFamily.toConfigJson(config)).toEqual(readJson('ours.config.json'));
    expect(expected.checks.oursConfigRelativeError).toBe(0);
    expect(expected.checks.legacyConfigRelativeError).toBe(0);
    // And it reads back to the same config.
    expect(gemmaFamily.fromConfigJson(read(gemmaFamily.toConfigJson(config)))).toEqual(config);
  });

  it('the tensors: Llama names, attention numHeads · headDim wide, a tied head is a buffer', () => {
    const config = gemmaFamily.fromConfigJson(read(configJson));
    const rules = gemmaFamily.tensors(config);
    const shapes = Object.fromEntries(rules.map((r) => [r.name, r.shape]));
    expect(shapes['model.layers.0.self_attn.q_proj.weight']).toEqual([64, 32]);
    expect(shapes['model.layers.0.self_attn.k_proj.weight']).toEqual([32, 32]);
    expect(shapes['model.layers.1.self_attn.o_proj.weight']).toEqual([32, 64]);
    expect(shapes['model.layers.1.mlp.gate_proj.weight']).toEqual([64, 32]);
    expect(shapes['model.norm.weight']).toEqual([32]);
    expect(rules).toHaveLength(1 + 2 * 9 + 1);
    expect(gemmaFamily.isBuffer('lm_head.weight', config)).toBe(true);
    const untied = gemmaFamily.fromConfigJson(read({ ...configJson, tie_word_embeddings: false }));
    expect(gemmaFamily.tensors(untied).map((r) => r.name)).toContain('lm_head.weight');
    // Saving is the inverse of loading.
    const params = initDecoderLm(config, 0);
    for (const rule of rules) {
      const ours = rule.paths.map((p) => getParamPath(params, p) as tf.Tensor);
      const saved = rule.save(ours);
      const [back] = rule.load(saved);
      expect(Array.from(back!.dataSync())).toEqual(Array.from(ours[0]!.dataSync()));
      tf.dispose([saved, back!]);
    }
    tf.dispose(params);
  });

  it('hidden_activation wins over hidden_act; "gelu" in either means the tanh GELU', () => {
    const activation = (json: Record<string, unknown>) =>
      gemmaFamily.fromConfigJson(read({ ...configJson, ...json })).block.feedForward.activation;
    expect(activation({ hidden_act: 'gelu' })).toBe('gelu-tanh');
    expect(activation({ hidden_act: 'gelu', hidden_activation: 'gelu_pytorch_tanh' })).toBe(
      'gelu-tanh',
    );
    expect(activation({ hidden_act: 'gelu_pytorch_tanh', hidden_activation: 'silu' })).toBe('silu');
    expect(activation({ hidden_act: 'gelu', hidden_activation: null })).toBe('gelu-tanh');
  });

  it("absent fields take GemmaConfig's defaults", () => {
    const config = gemmaFamily.fromConfigJson(read({ model_type: 'gemma' }));
    expect(config.block).toMatchObject({
      dModel: 3072,
      numHeads: 16,
      numKvHeads: 16,
      headDim: 256,
    });
    expect(config.vocabSize).toBe(256000);
    expect(config.block.feedForward.activation).toBe('gelu-tanh');
  });

  it('rejects what it does not implement, naming the config.json field', () => {
    const argument = (json: Record<string, unknown>) =>
      thrownWithoutLeak(() => gemmaFamily.fromConfigJson(read({ ...configJson, ...json })))
        .argument;
    expect(argument({ model_type: 'gemma2' })).toBe('config.json: model_type');
    expect(argument({ model_type: 'gemma3' })).toBe('config.json: model_type');
    expect(argument({ use_bidirectional_attention: true })).toBe(
      'config.json: use_bidirectional_attention',
    );
    expect(argument({ hidden_act: 'gelu_fast' })).toBe('config.json: hidden_act');
    expect(argument({ hidden_activation: 'quick_gelu' })).toBe('config.json: hidden_activation');
    expect(argument({ num_key_value_heads: 3 })).toBe('config.json: num_key_value_heads');
    expect(argument({ head_dim: 0 })).toBe('config.json: head_dim');
    expect(argument({ rms_norm_eps: -1 })).toBe('config.json: rms_norm_eps');
    expect(argument({ rope_parameters: { rope_type: 'yarn', factor: 2 } })).toBe(
      'config.json: rope_parameters.rope_type',
    );
    // Through the registry, Gemma 2 and 3 are unknown model types.
    expect(
      thrownWithoutLeak(() => familyForConfigJson('test', { ...configJson, model_type: 'gemma2' }))
        .argument,
    ).toBe('config.json: model_type');
  });

  it('toConfigJson rejects a config GemmaForCausalLM would compute differently, naming the field', () => {
    const config = gemmaFamily.fromConfigJson(read(configJson));
    const argument = (c: DecoderLmConfig) =>
      thrownWithoutLeak(() => gemmaFamily.toConfigJson(c)).argument;
    const block = config.block;
    expect(argument({ ...config, embeddingScale: undefined })).toBe('config.embeddingScale');
    // One field per fact: the missing unit offset is named, not the whole norm record.
    expect(argument({ ...config, block: { ...block, norm: { kind: 'rms' } } })).toBe(
      'config.block.norm.unitOffset',
    );
    expect(
      argument({
        ...config,
        block: { ...block, feedForward: { ...block.feedForward, activation: 'gelu' } },
      }),
    ).toBe('config.block.feedForward.activation');
    expect(argument({ ...config, positions: 'learned' })).toBe('config.positions');
  });
});
