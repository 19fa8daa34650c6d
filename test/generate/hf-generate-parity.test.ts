// Greedy and beam search against transformers' `generate` on tiny
// random-weight GPT-2 and Llama checkpoints written by
// test/reference/pretrained_generate.py (the real transformers classes,
// save_pretrained): every case's ids must be identical, prompt by prompt.
// Each case's options are a generation_config.json object, read with
// generateOptionsFromConfigJson as a loaded model's defaults would be.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  type DecoderLmConfig,
  decoderLm,
  fromHuggingFace,
  type GenerationModel,
  generate,
  generateOptionsFromConfigJson,
  gpt2Config,
  llamaConfig,
} from '../../src/index';
import { readSafetensorsFile } from '../../src/node/index';
import { configJsonReader } from '../../src/pretrained/config-json';
import { describeEachBackend } from '../helpers/backends';
import { flattenParams } from '../helpers/params';

type Case = {
  name: string;
  config: Record<string, unknown>;
  expected: number[][][];
  batchEqualsPerPrompt: boolean;
  endedByEos: number;
};
type Expected = {
  sizes: Record<string, number>;
  prompts: number[][];
  maxNewTokens: number;
  padId: number;
  logits: { prompt: number[]; values: number[][] };
  cases: Case[];
};

const FAMILIES = ['gpt2', 'llama'] as const;
const folder = (family: string) =>
  fileURLToPath(new URL(`../fixtures/pretrained/generate-${family}/`, import.meta.url));
const fixtures = Object.fromEntries(
  FAMILIES.map((family) => [
    family,
    JSON.parse(readFileSync(`${folder(family)}expected.json`, 'utf8')) as Expected,
  ]),
) as Record<(typeof FAMILIES)[number], Expected>;

function configOf(family: (typeof FAMILIES)[number], s: Record<string, number>): DecoderLmConfig {
  const common = {
    vocabSize: s.vocab!,
    maxLength: s.maxLength!,
    dModel: s.dModel!,
    numLayers: s.layers!,
    numHeads: s.heads!,
  };
  return family === 'gpt2'
    ? gpt2Config(common)
    : llamaConfig({ ...common, numKvHeads: s.kvHeads!, hidden: s.hidden! });
}

async function load(family: (typeof FAMILIES)[number]) {
  const config = configOf(family, fixtures[family].sizes);
  const { tensors } = await readSafetensorsFile(`${folder(family)}model.safetensors`);
  try {
    const params = fromHuggingFace(family, config, tensors);
    return { kind: 'decoderLm', config, params } as const satisfies GenerationModel;
  } finally {
    tf.dispose(Object.values(tensors));
  }
}

function optionsOf(c: Case, fixture: Expected) {
  return {
    ...generateOptionsFromConfigJson(configJsonReader('test', c.config, 'generation_config.json')),
    maxNewTokens: fixture.maxNewTokens,
    padId: fixture.padId,
  };
}

describe('the fixtures exercise what they claim', () => {
  it('EOS ends rows in greedy and beam cases; every option appears', () => {
    for (const family of FAMILIES) {
      const cases = fixtures[family].cases;
      const ended = (beam: boolean) =>
        cases.filter((c) => 'num_beams' in c.config === beam).reduce((n, c) => n + c.endedByEos, 0);
      expect(ended(false)).toBeGreaterThan(0);
      expect(ended(true)).toBeGreaterThan(0);
      const fields = new Set(cases.flatMap((c) => Object.keys(c.config)));
      for (const field of [
        'eos_token_id',
        'repetition_penalty',
        'no_repeat_ngram_size',
        'min_new_tokens',
        'bad_words_ids',
        'length_penalty',
        'early_stopping',
        'num_return_sequences',
      ]) {
        expect(fields.has(field), field).toBe(true);
      }
    }
  });
});

for (const family of FAMILIES) {
  const fixture = fixtures[family];
  describeEachBackend(`generate equals transformers' generate: ${family}`, (backend) => {
    it('the checkpoint loads: logits within 1e-4 relative of transformers', async () => {
      const model = await load(family);
      const logits = tf.tidy(() =>
        decoderLm(
          model.config,
          model.params,
          tf.tensor2d([fixture.logits.prompt], undefined, 'int32'),
        ),
      );
      const ours = (logits.arraySync() as number[][][])[0]!.flat();
      const theirs = fixture.logits.values.flat();
      const scale = Math.max(...theirs.map(Math.abs));
      const error = Math.max(...ours.map((v, i) => Math.abs(v - theirs[i]!)));
      expect(error / scale).toBeLessThan(1e-4);
      tf.dispose([logits, Object.values(flattenParams(model.params))]);
    });

    // wasm runs a subset (the first greedy and beam cases of each kind): the suite is CPU-bound.
    const cases =
      backend === 'cpu'
        ? fixture.cases
        : fixture.cases.filter((c) => /plain|eos list|combined/.test(c.name));
    it(`${cases.length} cases: identical ids prompt by prompt, and for the prompts as one batch`, async () => {
      const model = await load(family);
      const before = tf.memory().numTensors;
      try {
        for (const c of cases) {
          const options = optionsOf(c, fixture);
          for (const [i, prompt] of fixture.prompts.entries()) {
            const ours = await generate(model, [prompt], options);
            expect(ours, `${c.name}, prompt ${i}`).toEqual(c.expected[i]);
          }
          // Ours never penalises pads, so a left-padded batch gives the per-prompt ids.
          const batched = await generate(model, fixture.prompts, options);
          expect(batched, `${c.name}, batch`).toEqual(c.expected.flat());
        }
        expect(tf.memory().numTensors).toBe(before);
      } finally {
        tf.dispose(Object.values(flattenParams(model.params)));
      }
    }, 600_000);
  });
}
