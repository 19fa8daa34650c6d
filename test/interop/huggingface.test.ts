import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import {
  decoderLm,
  fromHuggingFace,
  generate,
  gpt2Config,
  llamaConfig,
  toHuggingFace,
} from '../../src/index';
import { readSafetensorsFile } from '../../src/node/index';
import { describeEachBackend } from '../helpers/backends';
import { expectClose } from '../helpers/close';
import { flattenParams } from '../helpers/params';
import { describeRejections } from '../helpers/rejections';

const dir = fileURLToPath(new URL('../fixtures/huggingface/', import.meta.url));
const expected = JSON.parse(readFileSync(`${dir}expected.json`, 'utf8'));
const s = expected.sizes;
const configs = {
  gpt2: gpt2Config({
    vocabSize: s.vocab,
    maxLength: s.maxLength,
    dModel: s.dModel,
    numLayers: s.layers,
    numHeads: s.heads,
  }),
  llama: llamaConfig({
    vocabSize: s.vocab,
    maxLength: s.maxLength,
    dModel: s.dModel,
    numLayers: s.layers,
    numHeads: s.heads,
    numKvHeads: s.kvHeads,
    hidden: s.hidden,
  }),
} as const;

describeEachBackend('Hugging Face checkpoints', () => {
  for (const family of ['gpt2', 'llama'] as const) {
    it(`${family}: logits within 1e-4 of the reference, greedy generation identical, export gives back the same tensors`, async () => {
      const stateDict = (await readSafetensorsFile(`${dir}${family}.safetensors`)).tensors;
      const config = configs[family];
      const params = fromHuggingFace(family, config, stateDict);
      const c = expected.cases[family];
      const ids = tf.tensor2d([c.prompt], undefined, 'int32');
      const logits = decoderLm(config, params, ids);
      const scale = Math.max(...c.logits.map(Math.abs));
      expectClose(logits, c.logits, { rtol: 0, atol: 1e-4 * scale });
      const [greedy] = await generate({ kind: 'decoderLm', config, params }, [c.prompt], {
        maxNewTokens: 6,
        temperature: 0,
      });
      expect(greedy).toEqual(c.greedy);
      const exported = toHuggingFace(family, config, params);
      expect(Object.keys(exported).sort()).toEqual(
        Object.keys(stateDict)
          .filter((k) => family === 'llama' || k !== 'lm_head.weight')
          .sort(),
      );
      for (const [name, t] of Object.entries(exported))
        expectClose(t, stateDict[name]!, { rtol: 0, atol: 0 });
      tf.dispose([
        ids,
        logits,
        Object.values(exported),
        Object.values(stateDict),
        Object.values(flattenParams(params)),
      ]);
    });
  }
});

describeRejections('fromHuggingFace rejects mismatched checkpoints, loading nothing', () => {
  const config = configs.llama;
  return [
    [
      'a missing tensor',
      () => fromHuggingFace('llama', config, {}),
      /stateDict\["model.embed_tokens.weight"\] must be a tensor of shape \[40, 16\]; got nothing/,
    ],
    [
      'a tensor of the wrong shape',
      () => {
        fromHuggingFace('gpt2', configs.gpt2, { 'transformer.wte.weight': tf.zeros([40, 8]) });
      },
      /stateDict\["transformer.wte.weight"\] must be shape \[40, 16\]; got shape \[40, 8\]/,
    ],
  ];
});

it('a failed load leaves no tensor behind', () => {
  const wte = tf.zeros([40, 16]);
  const before = tf.memory().numTensors;
  expect(() => fromHuggingFace('gpt2', configs.gpt2, { 'transformer.wte.weight': wte })).toThrow(
    /transformer.wpe.weight/,
  );
  expect(tf.memory().numTensors).toBe(before);
  wte.dispose();
});
