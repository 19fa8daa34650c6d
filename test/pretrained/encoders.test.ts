// Encoders through the public loader: a BERT folder written by transformers
// (test/reference/pretrained_bert.py) loaded with loadPretrained(folderSource(dir))
// gives what docs/pretrained.md "Encoders (BERT)" promises, with the logits,
// hidden states and pooler output transformers computed; saved with
// savePretrained, it loads back to the same params.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import {
  encoderClassifier,
  encoderHiddenStates,
  type LoadedPretrained,
  loadPretrained,
} from '../../src/index';
import { folderSource, savePretrained } from '../../src/node/index';
import type { PretrainedFetch } from '../../src/pretrained/source';
import { FIXTURES } from '../helpers/saved-folders';

const bert = `${FIXTURES}pretrained/bert/`;
const expected = (await import('../fixtures/pretrained/bert/expected.json')).default as {
  ids: number[][];
  token_type_ids: number[][];
  attention_mask: number[][];
  logits: number[][];
  logits_without_token_types: number[][];
  last_hidden_state: number[][][];
  pooler_output: number[][];
};

/** The model folder, with the WordPiece tokenizer fixture's files served beside it. */
function withTokenizer(dir: string): PretrainedFetch {
  const model = folderSource(dir);
  const tokenizer = folderSource(`${FIXTURES}tokenizers/bert`);
  return (file, init) => (file.startsWith('tokenizer') ? tokenizer : model)(file, init);
}

function relative(actual: tf.Tensor, want: unknown): number {
  return tf.tidy(() => {
    const w = tf.tensor(want as number[]);
    return tf.max(tf.abs(tf.sub(actual, w))).dataSync()[0]! / tf.max(tf.abs(w)).dataSync()[0]!;
  });
}

type Encoder = Extract<LoadedPretrained, { kind: 'encoder-classifier' }>;

function asEncoder(loaded: LoadedPretrained): Encoder {
  expect(loaded.kind).toBe('encoder-classifier');
  return loaded as Encoder;
}

const disposeParams = (m: { params: unknown }) => tf.dispose(m.params as tf.TensorContainer);

describe('loadPretrained on BERT folders', () => {
  const root = mkdtempSync(join(tmpdir(), 'tfjs-blocks-bert-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('BertForSequenceClassification + WordPiece: what the docs promise, logits as transformers', async () => {
    const before = tf.memory().numTensors;
    const model = asEncoder(await loadPretrained(withTokenizer(bert)));
    expect(model.modelType).toBe('bert');
    expect(model.generationConfig).toBeUndefined();
    expect(model.config).toMatchObject({ numClasses: 3, typeVocabSize: 2, pooler: 'tanh' });
    expect(model.params.head).toBeDefined();
    expect(model.params.tokenTypeEmbedding!.table.shape).toEqual([2, 32]);
    // The tokenizer gives [CLS] … [SEP] and the token types the model expects.
    const t = model.tokenizer!;
    const ids = t.encode('hello world');
    expect(ids[0]).toBe(t.encode('[CLS]', { addSpecialTokens: false })[0]);
    expect(ids[ids.length - 1]).toBe(t.encode('[SEP]', { addSpecialTokens: false })[0]);
    expect(t.padTokenId).toBe(0);
    const inputs = {
      ids: tf.tensor2d(expected.ids, undefined, 'int32'),
      tokenTypeIds: tf.tensor2d(expected.token_type_ids, undefined, 'int32'),
      paddingMask: tf.tensor2d(expected.attention_mask),
    };
    tf.tidy(() => {
      const { ids: x, tokenTypeIds, paddingMask } = inputs;
      const logits = encoderClassifier(model.config, model.params, x, {
        tokenTypeIds,
        paddingMask,
      });
      expect(logits.shape).toEqual([2, 3]);
      expect(relative(logits, expected.logits)).toBeLessThan(1e-4);
      const plain = encoderClassifier(model.config, model.params, x, { paddingMask });
      expect(relative(plain, expected.logits_without_token_types)).toBeLessThan(1e-4);
      const states = encoderHiddenStates(model.config, model.params, x, {
        tokenTypeIds,
        paddingMask,
      });
      expect(relative(states.hiddenStates, expected.last_hidden_state)).toBeLessThan(1e-4);
      expect(relative(states.pooled, expected.pooler_output)).toBeLessThan(1e-4);
    });
    tf.dispose(Object.values(inputs));
    disposeParams(model);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('BertModel (no head): hidden states and pooler output as transformers', async () => {
    const model = asEncoder(await loadPretrained(folderSource(`${bert}base-model`)));
    expect(model.config.numClasses).toBe(0);
    expect(model.params.head).toBeUndefined();
    expect(model.tokenizer).toBeUndefined();
    tf.tidy(() => {
      const ids = tf.tensor2d(expected.ids, undefined, 'int32');
      const { hiddenStates, pooled } = encoderHiddenStates(model.config, model.params, ids, {
        tokenTypeIds: tf.tensor2d(expected.token_type_ids, undefined, 'int32'),
        paddingMask: tf.tensor2d(expected.attention_mask),
      });
      expect(hiddenStates.shape).toEqual([2, 8, 32]);
      expect(relative(hiddenStates, expected.last_hidden_state)).toBeLessThan(1e-4);
      expect(relative(pooled, expected.pooler_output)).toBeLessThan(1e-4);
    });
    disposeParams(model);
  });

  it.each([
    ['classifier', ''],
    ['encoder', 'base-model'],
  ])(
    '%s: savePretrained then loadPretrained gives equal config, params and tokenizer',
    async (name, sub) => {
      const before = tf.memory().numTensors;
      const model = asEncoder(await loadPretrained(withTokenizer(join(bert, sub))));
      const dir = await savePretrained(join(root, name), model, model.tokenizer);
      const back = asEncoder(await loadPretrained(folderSource(dir)));
      expect(back.config).toEqual(model.config);
      const a = model.params as unknown as Record<string, unknown>;
      const flat = (p: unknown, prefix = ''): [string, tf.Tensor][] =>
        p instanceof tf.Tensor
          ? [[prefix, p]]
          : Object.entries(p as object).flatMap(([k, v]) => flat(v, `${prefix}.${k}`));
      const mine = flat(a);
      const theirs = new Map(flat(back.params));
      expect([...theirs.keys()].sort()).toEqual(mine.map(([k]) => k).sort());
      for (const [k, t] of mine) expect(await theirs.get(k)!.data()).toEqual(await t.data());
      for (const s of ['hello world', 'Héllo, wörld!']) {
        expect(back.tokenizer!.encode(s)).toEqual(model.tokenizer!.encode(s));
      }
      disposeParams(model);
      disposeParams(back);
      expect(tf.memory().numTensors).toBe(before);
    },
  );

  it('a BERT folder with a head we lack is a typed error naming the field, nothing allocated', async () => {
    const files = (file: string) => {
      if (file !== 'config.json') return folderSource(bert)(file);
      return folderSource(bert)(file).then(async (r) => {
        const config = JSON.parse(new TextDecoder().decode(await r.arrayBuffer()));
        return new Response(JSON.stringify({ ...config, architectures: ['BertForMaskedLM'] }));
      });
    };
    const before = tf.memory().numTensors;
    const error = await loadPretrained(files as PretrainedFetch).catch((e) => e);
    expect(error.argument).toBe('config.json: architectures');
    expect(tf.memory().numTensors).toBe(before);
  });
});
