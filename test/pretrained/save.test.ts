import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  decoderLm,
  flattenParams,
  gpt2Config,
  initDecoderLm,
  loadPretrained,
  loadTokenizer,
  type PretrainedModel,
  parseSafetensors,
  pretrainedFiles,
} from '../../src/index';
import { memorySource } from '../helpers/pretrained-source';
import { thrownWithoutLeak } from '../helpers/rejections';

const hf = fileURLToPath(new URL('../fixtures/huggingface/', import.meta.url));
const tok = fileURLToPath(new URL('../fixtures/tokenizers/gpt2/', import.meta.url));
const config = gpt2Config({ vocabSize: 40, maxLength: 16, dModel: 16, numLayers: 2, numHeads: 4 });

function model(): Extract<PretrainedModel, { kind: 'decoder-lm' }> {
  return {
    kind: 'decoder-lm',
    modelType: 'gpt2',
    config,
    params: initDecoderLm(config, 7),
    generationConfig: { maxNewTokens: 5, eosTokenId: 3 },
  };
}
const text = (bytes: Uint8Array) => JSON.parse(new TextDecoder().decode(bytes));

describe('pretrainedFiles', () => {
  it('lays out a GPT-2 folder; loadPretrained reads it back to equal params', async () => {
    const m = model();
    const before = tf.memory().numTensors;
    const files = pretrainedFiles(m);
    expect(tf.memory().numTensors).toBe(before);
    expect(files.map((f) => f.name)).toEqual([
      'config.json',
      'generation_config.json',
      'model.safetensors',
    ]);
    const configJson = text(files[0]!.bytes);
    expect(configJson).toMatchObject({
      architectures: ['GPT2LMHeadModel'],
      model_type: 'gpt2',
      dtype: 'float32',
      torch_dtype: 'float32',
    });
    expect(typeof configJson.transformers_version).toBe('string');
    const { metadata, tensors } = parseSafetensors(files[2]!.bytes);
    expect(metadata.format).toBe('pt');
    tf.dispose(Object.values(tensors));
    const loaded = await loadPretrained(
      memorySource(Object.fromEntries(files.map((f) => [f.name, f.bytes]))),
    );
    expect(loaded.config).toEqual(config);
    expect(loaded.generationConfig).toMatchObject({ maxNewTokens: 5 });
    const a = flattenParams(m.params);
    const b = flattenParams(loaded.params);
    expect(Object.keys(b).sort()).toEqual(Object.keys(a).sort());
    for (const [k, t] of Object.entries(a)) expect(await b[k]!.data()).toEqual(await t.data());
    tf.dispose([Object.values(a), Object.values(b)]);
  });

  it('shards above maxShardSize with HF names and index; the sharded folder loads back equal', async () => {
    const m = model();
    const files = pretrainedFiles(m, undefined, { maxShardSize: 4000 });
    const shards = files.filter((f) => f.name.endsWith('.safetensors')).map((f) => f.name);
    expect(shards.length).toBeGreaterThan(2);
    const n = String(shards.length).padStart(5, '0');
    expect(shards).toEqual(
      shards.map((_, i) => `model-${String(i + 1).padStart(5, '0')}-of-${n}.safetensors`),
    );
    const index = text(files.find((f) => f.name === 'model.safetensors.index.json')!.bytes);
    let total = 0;
    for (const f of files.filter((x) => x.name.endsWith('.safetensors'))) {
      const { tensors } = parseSafetensors(f.bytes);
      for (const [name, t] of Object.entries(tensors)) {
        expect(index.weight_map[name]).toBe(f.name);
        total += t.size * 4;
      }
      // Every shard holds at most maxShardSize bytes unless one tensor is larger.
      const sizes = Object.values(tensors).map((t) => t.size * 4);
      expect(sizes.length === 1 || sizes.reduce((x, y) => x + y) <= 4000).toBe(true);
      tf.dispose(Object.values(tensors));
    }
    expect(index.metadata.total_size).toBe(total);
    const loaded = await loadPretrained(
      memorySource(Object.fromEntries(files.map((f) => [f.name, f.bytes]))),
    );
    const a = flattenParams(m.params);
    const b = flattenParams(loaded.params);
    for (const [k, t] of Object.entries(a)) expect(await b[k]!.data()).toEqual(await t.data());
    tf.dispose([Object.values(a), Object.values(b)]);
  });

  it('writes the tokenizer files; they load back to the same ids', async () => {
    const tokenizer = loadTokenizer({
      tokenizerJson: JSON.parse(readFileSync(`${tok}tokenizer.json`, 'utf8')),
      tokenizerConfig: JSON.parse(readFileSync(`${tok}tokenizer_config.json`, 'utf8')),
      chatTemplate: readFileSync(`${tok}chat_template.jinja`, 'utf8'),
    });
    const m = model();
    const files = pretrainedFiles(m, tokenizer);
    tf.dispose(flattenParams(m.params) as never);
    expect(files.map((f) => f.name)).toContain('chat_template.jinja');
    const source = memorySource(Object.fromEntries(files.map((f) => [f.name, f.bytes])));
    const loaded = await loadPretrained(source);
    tf.dispose(Object.values(flattenParams(loaded.params)));
    for (const s of ['Hello world', ' 👋 tabs\tand  spaces', 'code(x) => x + 1']) {
      expect(loaded.tokenizer!.encode(s)).toEqual(tokenizer.encode(s));
    }
  });

  it('writes bos/eos/pad ids to config.json: generation config, then tokenizer, else null', () => {
    const ids = (m: PretrainedModel, t?: Parameters<typeof pretrainedFiles>[1]) => {
      const { bos_token_id, eos_token_id, pad_token_id } = text(pretrainedFiles(m, t)[0]!.bytes);
      return [bos_token_id, eos_token_id, pad_token_id];
    };
    const m = model();
    const files = () => ({ tokenizerJson: {} });
    // Absent would mean transformers' class default (GPT-2: 50256), so none is null.
    expect(ids({ ...m, generationConfig: undefined })).toEqual([null, null, null]);
    expect(ids(m)).toEqual([null, 3, null]);
    const tokenizer = { files, bosTokenId: 1, eosTokenId: 2, padTokenId: 0 };
    expect(ids({ ...m, generationConfig: undefined }, tokenizer)).toEqual([1, 2, 0]);
    expect(ids({ ...m, generationConfig: { eosTokenId: [3, 4], padId: 5 } }, tokenizer)).toEqual([
      1,
      [3, 4],
      5,
    ]);
    // transformers builds the embedding with padding_idx = pad_token_id: it must be a row.
    const far = thrownWithoutLeak(() =>
      pretrainedFiles({ ...m, generationConfig: undefined }, { files, padTokenId: 40 }),
    );
    expect(far.argument).toBe('tokenizer.padTokenId');
    const farPad = thrownWithoutLeak(() =>
      pretrainedFiles({ ...m, generationConfig: { padId: 99 } }),
    );
    expect(farPad.argument).toBe('model.generationConfig.padId');
    const bad = thrownWithoutLeak(() => pretrainedFiles(m, { files, bosTokenId: -1 }));
    expect(bad.argument).toBe('tokenizer.bosTokenId');
    tf.dispose(Object.values(flattenParams(m.params)));
  });

  it('bad models are typed errors naming the field, with nothing left behind', () => {
    const m = model();
    const params = m.params as unknown as { finalNorm: Record<string, tf.Tensor> };
    const unknown = thrownWithoutLeak(() => pretrainedFiles({ ...m, modelType: 'mamba' }));
    expect(unknown.argument).toBe('config.json: model_type');
    const kind = thrownWithoutLeak(() =>
      pretrainedFiles({ ...m, kind: 'encoder-classifier' } as never),
    );
    expect(kind.argument).toBe('model.kind');
    const [name] = Object.keys(params.finalNorm);
    const dead = tf.zeros([3]);
    dead.dispose();
    const bad = thrownWithoutLeak(() =>
      pretrainedFiles({
        ...m,
        params: { ...m.params, finalNorm: { ...params.finalNorm, [name!]: dead } },
      } as never),
    );
    expect(bad.argument).toBe(`model.params.finalNorm.${name}`);
    const wrong = tf.zeros([3]);
    const shape = thrownWithoutLeak(() =>
      pretrainedFiles({
        ...m,
        params: { ...m.params, finalNorm: { ...params.finalNorm, [name!]: wrong } },
      } as never),
    );
    wrong.dispose();
    expect(shape.argument).toBe(`model.params.finalNorm.${name}`);
    expect(
      thrownWithoutLeak(() => pretrainedFiles(m, undefined, { maxShardSize: 0 })).argument,
    ).toBe('options.maxShardSize');
    expect(thrownWithoutLeak(() => pretrainedFiles(m, 3 as never)).argument).toBe('tokenizer');
    // A config GPT-2's config.json cannot say is named by its field, before
    // the params are checked against the family's tensor rules.
    const rms = { ...m.config, block: { ...m.config.block, norm: { kind: 'rms', epsilon: 1e-5 } } };
    expect(thrownWithoutLeak(() => pretrainedFiles({ ...m, config: rms } as never)).argument).toBe(
      'config.block.norm.kind',
    );
    expect(thrownWithoutLeak(() => pretrainedFiles({ ...m, extra: 1 } as never)).argument).toMatch(
      /extra/,
    );
    tf.dispose(Object.values(flattenParams(m.params)));
  });
});

describe('loadPretrained on a GPT-2 made by transformers', () => {
  it('logits within 1e-4 relative of HF', async () => {
    const expected = JSON.parse(readFileSync(`${hf}expected.json`, 'utf8'));
    const s = expected.sizes;
    const folder = {
      'config.json': {
        model_type: 'gpt2',
        vocab_size: s.vocab,
        n_positions: s.maxLength,
        n_embd: s.dModel,
        n_layer: s.layers,
        n_head: s.heads,
      },
      'model.safetensors': new Uint8Array(readFileSync(`${hf}gpt2.safetensors`)),
    };
    const loaded = await loadPretrained(memorySource(folder, { chunk: 1000 }));
    if (loaded.kind !== 'decoder-lm') throw new Error('not a decoder');
    const c = expected.cases.gpt2;
    const ids = tf.tensor2d([c.prompt], undefined, 'int32');
    const logits = decoderLm(loaded.config, loaded.params, ids);
    const got = await logits.data();
    const scale = Math.max(...c.logits.map(Math.abs));
    const err = Math.max(...c.logits.map((v: number, i: number) => Math.abs(v - got[i]!)));
    expect(err / scale).toBeLessThan(1e-4);
    tf.dispose([ids, logits, Object.values(flattenParams(loaded.params))]);
  });
});
