// Generation parity for every family (issue 18, "Done means"): each tiny
// fixture is loaded with loadPretrained(folderSource(dir)), and greedy and
// beam search (num_beams 3), plain and with Hugging Face options, must give
// the ids transformers' generate gives (test/reference/pretrained_family_generate.py
// writes them into <fixture>/generate.json), prompt by prompt and for the
// three prompts as one left-padded batch.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  configJsonReader,
  type GenerationModel,
  generate,
  generateOptionsFromConfigJson,
  loadPretrained,
} from '../../../src/index';
import { folderSource } from '../../../src/node/index';
import { describeEachBackend } from '../../helpers/backends';
import { flattenParams } from '../../helpers/params';

type Case = {
  name: string;
  config: Record<string, unknown>;
  expected: number[][][];
  batchEqualsPerPrompt: boolean;
};
type Expected = { prompts: number[][]; maxNewTokens: number; padId: number; cases: Case[] };

const FIXTURES = [
  'gpt2',
  'llama',
  'llama3-rope',
  'llama-linear-rope',
  'qwen2',
  'phi3',
  'gemma',
  'mistral',
  'llama-head-dim',
  'phi3-window',
  'qwen2-window',
];
const folder = (name: string) =>
  fileURLToPath(new URL(`../../fixtures/pretrained/${name}/`, import.meta.url));
const fixtures = Object.fromEntries(
  FIXTURES.map((name) => [
    name,
    JSON.parse(readFileSync(`${folder(name)}generate.json`, 'utf8')) as Expected,
  ]),
);

async function load(name: string): Promise<GenerationModel & { kind: 'decoderLm' }> {
  const loaded = await loadPretrained(folderSource(folder(name)));
  if (loaded.kind !== 'decoder-lm') throw new Error(`${name} is not a decoder`);
  return { kind: 'decoderLm', config: loaded.config, params: loaded.params };
}

describe('the family generation fixtures exercise what they claim', () => {
  it('every fixture has greedy and beam 3 cases with the HF options', () => {
    for (const name of FIXTURES) {
      const cases = fixtures[name]!.cases;
      expect(cases.some((c) => c.config.num_beams === 3)).toBe(true);
      expect(cases.some((c) => c.config.num_beams === undefined)).toBe(true);
      const fields = new Set(cases.flatMap((c) => Object.keys(c.config)));
      for (const field of [
        'repetition_penalty',
        'no_repeat_ngram_size',
        'eos_token_id',
        'length_penalty',
        'num_return_sequences',
      ]) {
        expect(fields.has(field), `${name}: ${field}`).toBe(true);
      }
      // Prompts of different lengths, so the batch is left-padded.
      expect(new Set(fixtures[name]!.prompts.map((p) => p.length)).size).toBe(3);
    }
  });
});

describeEachBackend('every family: generate equals transformers generate', (backend) => {
  for (const name of FIXTURES) {
    const fixture = fixtures[name]!;
    // wasm runs the plain greedy and the beam case with options: the suite is CPU-bound.
    const cases =
      backend === 'cpu'
        ? fixture.cases
        : fixture.cases.filter((c) => c.name === 'greedy' || c.name.startsWith('beam 3, eos list'));
    it(`${name}: ${cases.length} cases, identical ids prompt by prompt and as one left-padded batch`, async () => {
      const model = await load(name);
      const before = tf.memory().numTensors;
      try {
        for (const c of cases) {
          const options = {
            ...generateOptionsFromConfigJson(
              configJsonReader('test', c.config, 'generation_config.json'),
            ),
            maxNewTokens: fixture.maxNewTokens,
            padId: fixture.padId,
          };
          for (const [i, prompt] of fixture.prompts.entries()) {
            const ours = await generate(model, [prompt], options);
            expect(ours, `${name}, ${c.name}, prompt ${i}`).toEqual(c.expected[i]);
          }
          // Ours never penalises pads, so the left-padded batch gives the per-prompt ids.
          const batched = await generate(model, fixture.prompts, options);
          expect(batched, `${name}, ${c.name}, batch`).toEqual(c.expected.flat());
        }
        expect(tf.memory().numTensors).toBe(before);
      } finally {
        tf.dispose(Object.values(flattenParams(model.params)));
      }
    }, 300_000);
  }
});
