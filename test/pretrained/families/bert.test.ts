import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bertFamily,
  type EncoderClassifierConfig,
  type EncoderClassifierParams,
  encoderClassifier,
  encoderHiddenStates,
  familyForConfigJson,
} from '../../../src/index';
import { readSafetensorsFile } from '../../../src/node/index';
import { configJsonReader } from '../../../src/pretrained/config-json';
import { describeEachBackend } from '../../helpers/backends';
import { expectClose } from '../../helpers/close';
import { expectNoLeak } from '../../helpers/leaks';
import { flattenParams } from '../../helpers/params';
import { thrownBy } from '../../helpers/rejections';

// Parity with transformers' BertForSequenceClassification / BertModel on
// the fixtures test/reference/pretrained_bert.py wrote (save_pretrained of
// tiny random-weight models). The loader (loadPretrained) lives elsewhere:
// `load` below does what a loader does with a family's rules, for one
// unsharded file.

const dir = fileURLToPath(new URL('../../fixtures/pretrained/bert/', import.meta.url));
const expected = JSON.parse(readFileSync(`${dir}expected.json`, 'utf8'));
const configJson = (sub = '') => JSON.parse(readFileSync(`${dir}${sub}config.json`, 'utf8'));
const readConfig = (json: unknown) => bertFamily.fromConfigJson(configJsonReader('test', json));

/** Every checkpoint tensor through its rule into a params record; unknown names fail. */
async function load(sub: string, config: EncoderClassifierConfig) {
  const { tensors } = await readSafetensorsFile(`${dir}${sub}model.safetensors`);
  const rules = bertFamily.tensors(config);
  const byName = new Map(rules.map((r) => [r.name, r]));
  const tree: Record<string, unknown> = {};
  const unknown: string[] = [];
  for (const [name, tensor] of Object.entries(tensors)) {
    const rule = byName.get(name);
    if (!rule) {
      if (!bertFamily.isBuffer(name, config)) unknown.push(name);
      tensor.dispose();
      continue;
    }
    expect(tensor.shape, name).toEqual(rule.shape);
    const outs = tf.tidy(() => rule.load(tensor));
    rule.paths.forEach((path, i) => {
      let at = tree;
      for (const key of path.slice(0, -1)) {
        at[key] ??= {};
        at = at[key] as Record<string, unknown>;
      }
      at[path.at(-1)!] = outs[i];
    });
    byName.delete(name);
  }
  const blocks = tree.blocks as Record<string, unknown>;
  tree.blocks = Array.from({ length: config.numLayers }, (_, i) => blocks[String(i)]);
  return { params: tree as EncoderClassifierParams, unknown, missing: [...byName.keys()] };
}

const relative = (actual: tf.Tensor, want: unknown) => {
  const w = tf.tensor(want as number[]);
  const error = tf.max(tf.abs(tf.sub(actual, w))).dataSync()[0]! / tf.max(tf.abs(w)).dataSync()[0]!;
  w.dispose();
  return error;
};

describe('bertFamily: config.json', () => {
  it('is the registry’s family for model_type "bert"', () => {
    expect(familyForConfigJson('t', configJson())).toBe(bertFamily);
    expect(familyForConfigJson('t', { model_type: 'bert' }).kind).toBe('encoder-classifier');
  });

  it('reads BertForSequenceClassification as a classifier with token types and the tanh pooler', () => {
    const config = readConfig(configJson());
    expect(config).toEqual({
      vocabSize: 100,
      maxLength: 16,
      numLayers: 2,
      numClasses: 3,
      pooling: 'cls',
      typeVocabSize: 2,
      pooler: 'tanh',
      block: {
        dModel: 32,
        numHeads: 4,
        norm: { kind: 'layer', epsilon: 1e-12 },
        normPosition: 'post',
        feedForward: { hidden: 64, kind: 'mlp', activation: 'gelu' },
        dropoutRate: 0.1,
        attentionDropoutRate: 0.1,
      },
    });
    expect(readConfig(configJson('base-model/')).numClasses).toBe(0);
    expect(readConfig({ ...configJson(), architectures: undefined }).numClasses).toBe(0);
    expect(readConfig({ ...configJson(), id2label: undefined, num_labels: 5 }).numClasses).toBe(5);
    expect(readConfig({ ...configJson(), id2label: undefined }).numClasses).toBe(2);
  });

  it('toConfigJson writes back what transformers wrote, and reads back to the same config', () => {
    for (const sub of ['', 'base-model/']) {
      const json = configJson(sub);
      const config = readConfig(json);
      const written = bertFamily.toConfigJson(config);
      for (const [key, value] of Object.entries(written)) expect(json[key], key).toEqual(value);
      expect(readConfig(written)).toEqual(config);
    }
  });

  it('rejects what it does not implement, naming the field', () => {
    const base = configJson();
    const cases: [Record<string, unknown>, string][] = [
      [{ hidden_act: 'relu' }, 'config.json: hidden_act'],
      [{ position_embedding_type: 'relative_key' }, 'config.json: position_embedding_type'],
      [{ architectures: ['BertForMaskedLM'] }, 'config.json: architectures'],
      [{ architectures: [] }, 'config.json: architectures'],
      [{ num_attention_heads: 5 }, 'config.json: num_attention_heads'],
      [{ is_decoder: true }, 'config.json: is_decoder'],
      [{ add_cross_attention: true }, 'config.json: add_cross_attention'],
      [{ id2label: { 1: 'A', 2: 'B' } }, 'config.json: id2label'],
      [{ id2label: {} }, 'config.json: id2label'],
      [{ id2label: ['A'] }, 'config.json: id2label'],
      [{ num_labels: 4 }, 'config.json: num_labels'],
      [{ hidden_dropout_prob: 1 }, 'config.json: hidden_dropout_prob'],
      [{ layer_norm_eps: 0 }, 'config.json: layer_norm_eps'],
      [{ type_vocab_size: 0 }, 'config.json: type_vocab_size'],
      [{ hidden_size: 'big' }, 'config.json: hidden_size'],
    ];
    for (const [change, argument] of cases) {
      expect(thrownBy(() => readConfig({ ...base, ...change })).argument, argument).toBe(argument);
    }
  });

  it('toConfigJson rejects configs BERT cannot express, naming our field', () => {
    const config = readConfig(configJson());
    const { block } = config;
    const cases: [EncoderClassifierConfig, string][] = [
      [{ ...config, typeVocabSize: undefined }, 'config.typeVocabSize'],
      [{ ...config, pooler: undefined }, 'config.pooler'],
      [{ ...config, pooling: 'mean' }, 'config.pooling'],
      [{ ...config, block: { ...block, normPosition: 'pre' } }, 'config.block.normPosition'],
      [{ ...config, block: { ...block, norm: { kind: 'rms' } } }, 'config.block.norm.kind'],
      [
        {
          ...config,
          block: { ...block, feedForward: { ...block.feedForward, activation: 'gelu-tanh' } },
        },
        'config.block.feedForward.activation',
      ],
      [
        { ...config, block: { ...block, feedForward: { ...block.feedForward, kind: 'gated' } } },
        'config.block.feedForward.kind',
      ],
      [{ ...config, block: { ...block, attentionBias: false } }, 'config.block.attentionBias'],
      [{ ...config, block: { ...block, numKvHeads: 2 } }, 'config.block.numKvHeads'],
      [{ ...config, block: { ...block, rope: true } }, 'config.block.rope'],
      [{ ...config, block: { ...block, alibi: true } }, 'config.block.alibi'],
    ];
    for (const [bad, argument] of cases) {
      expect(thrownBy(() => bertFamily.toConfigJson(bad)).argument, argument).toBe(argument);
    }
  });

  it('names the buffers it skips, with the checkpoint’s prefix', () => {
    const classifier = readConfig(configJson());
    const encoder = readConfig(configJson('base-model/'));
    expect(bertFamily.isBuffer('bert.embeddings.position_ids', classifier)).toBe(true);
    expect(bertFamily.isBuffer('bert.embeddings.token_type_ids', classifier)).toBe(true);
    expect(bertFamily.isBuffer('embeddings.position_ids', encoder)).toBe(true);
    expect(bertFamily.isBuffer('embeddings.position_ids', classifier)).toBe(false);
    expect(bertFamily.isBuffer('cls.predictions.bias', classifier)).toBe(false);
    expect(bertFamily.isBuffer('bert.embeddings.word_embeddings.weight', classifier)).toBe(false);
  });
});

describeEachBackend('bertFamily: parity with transformers', () => {
  const models: Record<
    string,
    { config: EncoderClassifierConfig; params: EncoderClassifierParams }
  > = {};
  const inputs: Record<string, tf.Tensor> = {};
  beforeAll(async () => {
    for (const [name, sub] of [
      ['classifier', ''],
      ['encoder', 'base-model/'],
    ] as const) {
      const config = readConfig(configJson(sub));
      const { params, unknown, missing } = await load(sub, config);
      expect(unknown).toEqual([]);
      expect(missing).toEqual([]);
      models[name] = { config, params };
    }
    inputs.ids = tf.tensor2d(expected.ids, undefined, 'int32');
    inputs.tokenTypeIds = tf.tensor2d(expected.token_type_ids, undefined, 'int32');
    inputs.paddingMask = tf.tensor2d(expected.attention_mask);
  });
  afterAll(() => {
    for (const { params } of Object.values(models))
      tf.dispose(Object.values(flattenParams(params)));
    tf.dispose(Object.values(inputs));
  });

  it('BertForSequenceClassification: logits within 1e-4 relative, with and without token types', () => {
    const { config, params } = models.classifier!;
    const { ids, tokenTypeIds, paddingMask } = inputs;
    tf.tidy(() => {
      const logits = encoderClassifier(config, params, ids!, { tokenTypeIds, paddingMask });
      expect(logits.shape).toEqual([2, 3]);
      expect(relative(logits, expected.logits)).toBeLessThan(1e-4);
      const plain = encoderClassifier(config, params, ids!, { paddingMask });
      expect(relative(plain, expected.logits_without_token_types)).toBeLessThan(1e-4);
      const { hiddenStates, pooled } = encoderHiddenStates(config, params, ids!, {
        tokenTypeIds,
        paddingMask,
      });
      expect(relative(hiddenStates, expected.last_hidden_state)).toBeLessThan(1e-4);
      expect(relative(pooled, expected.pooler_output)).toBeLessThan(1e-4);
    });
  });

  it('BertModel (no head): hidden states and pooler output within 1e-4 relative', () => {
    const { config, params } = models.encoder!;
    const { ids, tokenTypeIds, paddingMask } = inputs;
    expect(params.head).toBeUndefined();
    tf.tidy(() => {
      const { hiddenStates, pooled } = encoderHiddenStates(config, params, ids!, {
        tokenTypeIds,
        paddingMask,
      });
      expect(hiddenStates.shape).toEqual([2, 8, 32]);
      expect(relative(hiddenStates, expected.last_hidden_state)).toBeLessThan(1e-4);
      expect(relative(pooled, expected.pooler_output)).toBeLessThan(1e-4);
    });
  });

  it('each rule saves back the tensor it loaded, and load and save leave only their outputs', async () => {
    const { config } = models.classifier!;
    const { tensors } = await readSafetensorsFile(`${dir}model.safetensors`);
    for (const rule of bertFamily.tensors(config)) {
      const original = tensors[rule.name]!;
      const loaded = rule.load(original);
      expectNoLeak(() => rule.load(original));
      expectNoLeak(() => rule.save(loaded));
      const saved = rule.save(loaded);
      expectClose(saved, original, { rtol: 0, atol: 0 });
      tf.dispose([saved, loaded]);
    }
    tf.dispose(Object.values(tensors));
  });
});
