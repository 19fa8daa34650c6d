import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import {
  configJsonReader,
  decoderLm,
  familyForConfigJson,
  fromHuggingFace,
  generate,
  type HuggingFaceFamily,
  toHuggingFace,
} from '../../../src/index';
import { readSafetensorsFile } from '../../../src/node/index';
import { describeEachBackend } from '../../helpers/backends';
import { flattenParams } from '../../helpers/params';

// Written by test/reference/pretrained_decoders.py with transformers' own classes.
const FIXTURES = [
  'gpt2',
  'llama',
  'llama3-rope',
  'llama-linear-rope',
  'qwen2',
  'phi3',
  // head_dim 16 where hidden_size / num_attention_heads is 8
  'llama-head-dim',
  // sliding_window 4 (prompt 7 + 10 new tokens), Phi-3 also with head_dim 16
  'phi3-window',
  'qwen2-window',
];
const root = fileURLToPath(new URL('../../fixtures/pretrained/', import.meta.url));

function fixture(name: string) {
  const dir = `${root}${name}/`;
  const configJson = JSON.parse(readFileSync(`${dir}config.json`, 'utf8'));
  const expected = JSON.parse(readFileSync(`${dir}expected.json`, 'utf8'));
  return { dir, configJson, expected };
}

describeEachBackend('pretrained decoder families against transformers', () => {
  for (const name of FIXTURES) {
    it(`${name}: logits within 1e-4 relative, greedy ids identical, config.json and tensors round-trip`, async () => {
      const { dir, configJson, expected } = fixture(name);
      const family = familyForConfigJson('test', configJson);
      const config = family.fromConfigJson(configJsonReader('test', configJson));
      const modelType = family.modelTypes[0] as HuggingFaceFamily;
      const stateDict = (await readSafetensorsFile(`${dir}model.safetensors`)).tensors;
      const params = fromHuggingFace(modelType, config as never, stateDict);
      const ids = tf.tensor2d(expected.prompts, undefined, 'int32');
      const logits = decoderLm(config as never, params, ids);
      const want = tf.tensor3d(expected.logits);
      const scale = tf.max(tf.abs(want)).dataSync()[0]!;
      const worst = tf.max(tf.abs(tf.sub(logits, want))).dataSync()[0]!;
      expect(worst / scale, `max |ours - HF| / max |HF| for ${name}`).toBeLessThan(1e-4);
      const greedy = await generate(
        { kind: 'decoderLm', config: config as never, params },
        expected.prompts,
        { maxNewTokens: expected.greedy[0].length, temperature: 0 },
      );
      expect(greedy).toEqual(expected.greedy);
      // What we write: transformers reads this config.json back to the same
      // model (the reference script checks it with from_pretrained).
      expect(family.toConfigJson(config)).toEqual(expected.configJson);
      const saved = toHuggingFace(modelType, config as never, params);
      expect(Object.keys(saved).sort()).toEqual(Object.keys(stateDict).sort());
      for (const [tensorName, t] of Object.entries(saved)) {
        expect(tf.util.arraysEqual(t.shape, stateDict[tensorName]!.shape), tensorName).toBe(true);
        expect(t.dataSync(), tensorName).toEqual(stateDict[tensorName]!.dataSync());
      }
      tf.dispose([
        ids,
        logits,
        want,
        Object.values(saved),
        Object.values(stateDict),
        Object.values(flattenParams(params)),
      ]);
    });
  }
});

it('loading and saving through the family leave only their outputs', async () => {
  const { dir, configJson } = fixture('phi3');
  const family = familyForConfigJson('test', configJson);
  const config = family.fromConfigJson(configJsonReader('test', configJson));
  const stateDict = (await readSafetensorsFile(`${dir}model.safetensors`)).tensors;
  const before = tf.memory().numTensors;
  const params = fromHuggingFace('phi3', config as never, stateDict);
  const leaves = Object.values(flattenParams(params));
  expect(tf.memory().numTensors).toBe(before + leaves.length);
  const saved = toHuggingFace('phi3', config as never, params);
  expect(tf.memory().numTensors).toBe(before + leaves.length + Object.keys(saved).length);
  tf.dispose([leaves, Object.values(saved)]);
  expect(tf.memory().numTensors).toBe(before);
  tf.dispose(Object.values(stateDict));
});
