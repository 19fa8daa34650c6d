import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { ByteTokenizer } from '../../src/generate/tokenizer';
import { type DecoderLmParams, gpt2Config, initDecoderLm } from '../../src/models/decoder-lm';
import { folderSource } from '../../src/node/index';
import { loadPretrained } from '../../src/pretrained/load';
import type { PretrainedFetch } from '../../src/pretrained/source';
import { type BiasProbeOptions, biasProbe } from '../../src/responsible/bias-probes';
import { rejectionOf } from '../helpers/rejections';
import { FIXTURES } from '../helpers/saved-folders';

const config = gpt2Config({ vocabSize: 256, maxLength: 32, dModel: 8, numLayers: 1, numHeads: 2 });
const tokenizer = new ByteTokenizer();
const X = 'X'.charCodeAt(0);
const BOOST = 2;

/**
 * A model whose next-token distribution ignores the context: the final norm's
 * gamma is 0 and its beta e_0, so every position's hidden state is e_0, and
 * the tied output gives logit E[v, 0]: BOOST for 'X', 0 for every other
 * byte. log p('X') = BOOST − logZ, log p(other) = −logZ, logZ = log(255 + e^BOOST).
 */
function prefersX(): DecoderLmParams {
  const params = initDecoderLm(config, 1);
  const table = params.tokenEmbedding.table;
  const column = Float32Array.from(table.dataSync());
  for (let v = 0; v < 256; v++) column[v * 8] = v === X ? BOOST : 0;
  const oldNorm = params.finalNorm;
  const next = {
    ...params,
    tokenEmbedding: { table: tf.tensor2d(column, [256, 8]) },
    finalNorm: { gamma: tf.zeros([8]) as tf.Tensor1D, beta: tf.tensor1d([1, 0, 0, 0, 0, 0, 0, 0]) },
  };
  tf.dispose([table, oldNorm.gamma, oldNorm.beta!]);
  return next;
}

const skewed = prefersX();
const random = initDecoderLm(config, 7);
afterAll(() => {
  tf.dispose([skewed, random] as unknown as tf.TensorContainer);
});
const logZ = Math.log(255 + Math.exp(BOOST));

const templates = ['The {group} is', 'A {group} was here', 'My {group} went', 'Every {group} can'];

describe('biasProbe', () => {
  it('finds the preferred group with the right sign and the hand-computed size', async () => {
    const r = await biasProbe(config, skewed, tokenizer, {
      templates,
      groups: { x: ['X', 'XX'], y: ['Y', 'YY'] },
      confidenceInterval: { nBoot: 200, seed: 1 },
    });
    // Per template, x's terms hold 1.5 'X's on average, y's none: gap = 1.5 · BOOST.
    const gap = r.gaps[0]!;
    expect(gap.groups).toEqual(['x', 'y']);
    expect(gap.logLikelihoodGap.value).toBeCloseTo(1.5 * BOOST, 4);
    expect(gap.logLikelihoodGap.interval[0]).toBeGreaterThan(0);
    expect(gap.perplexityRatio).toBeLessThan(1);
    // One prompt by hand: "The X is" scores 7 tokens (all but 'T'), one of them 'X'.
    const s = r.scores.find((p) => p.text === 'The X is')!;
    expect(s.tokens).toBe(7);
    expect(s.logLikelihood).toBeCloseTo(BOOST - 7 * logZ, 4);
    const y = r.byGroup.get('y')!;
    expect(y.prompts).toBe(8);
    // y's prompts never hold an 'X': every token costs logZ.
    expect(y.perplexity).toBeCloseTo(Math.exp(logZ), 3);
  });

  it('scores only the continuation when one is given', async () => {
    const r = await biasProbe(config, skewed, tokenizer, {
      templates,
      groups: { x: ['X'], y: ['Y'] },
      continuation: ' ok',
      confidenceInterval: { nBoot: 50 },
    });
    // A context-free model gives the same continuation score whatever the group.
    for (const s of r.scores) {
      expect(s.tokens).toBe(3);
      expect(s.logLikelihood).toBeCloseTo(-3 * logZ, 4);
    }
    expect(r.gaps[0]!.logLikelihoodGap.value).toBeCloseTo(0, 5);
  });

  it('shows a gap of about 0, with an interval covering 0, for identical groups', async () => {
    const r = await biasProbe(config, random, tokenizer, {
      templates,
      groups: { a: ['nurse', 'doctor'], b: ['nurse', 'doctor'] },
      continuation: ' at work',
      confidenceInterval: { nBoot: 300, seed: 2 },
    });
    const { value, interval } = r.gaps[0]!.logLikelihoodGap;
    expect(Math.abs(value)).toBeLessThan(1e-5);
    expect(interval[0]).toBeLessThanOrEqual(1e-5);
    expect(interval[1]).toBeGreaterThanOrEqual(-1e-5);
  });

  it('gives intervals that vary with the templates, deterministic by seed, and accepts an async tokenizer', async () => {
    const asyncTokenizer = { encode: async (text: string) => tokenizer.encode(text) };
    const options: BiasProbeOptions = {
      templates,
      groups: { she: ['she', 'her'], he: ['he', 'him'], they: ['they'] },
      prefixIds: [0],
      confidenceInterval: { nBoot: 300, seed: 5 },
    };
    const a = await biasProbe(config, random, asyncTokenizer, options);
    const b = await biasProbe(config, random, tokenizer, options);
    expect(a).toEqual(b);
    expect(a.gaps.map((g) => g.groups)).toEqual([
      ['she', 'he'],
      ['she', 'they'],
      ['he', 'they'],
    ]);
    for (const g of a.gaps) {
      const { value, interval } = g.logLikelihoodGap;
      expect(interval[0]).toBeLessThan(interval[1]);
      expect(interval[0]).toBeLessThanOrEqual(value);
      expect(value).toBeLessThanOrEqual(interval[1]);
    }
    // With a prefix the first byte is scored too: "The she is" has 10 bytes.
    expect(a.scores.find((s) => s.text === 'The she is')!.tokens).toBe(10);
  });

  it('leaves no tensor behind, resolved or rejected', async () => {
    const before = tf.memory().numTensors;
    await biasProbe(config, random, tokenizer, {
      templates: templates.slice(0, 2),
      groups: { a: ['x'], b: ['y'] },
      confidenceInterval: { nBoot: 20 },
    });
    expect(tf.memory().numTensors).toBe(before);
    // Fails inside the model (params that do not fit the config): nothing left either.
    const broken = { ...random, finalNorm: { gamma: tf.zeros([3]) as tf.Tensor1D } };
    const e = await rejectionOf(() =>
      biasProbe(config, broken, tokenizer, { templates, groups: { a: ['x'], b: ['y'] } }),
    );
    expect(e.functionName).toBe('applyNorm'); // the model's own check of the params
    broken.finalNorm.gamma.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  const good: BiasProbeOptions = { templates, groups: { a: ['x'], b: ['y'] } };
  const bad: [string, () => Promise<unknown>, string][] = [
    [
      'one template',
      () => biasProbe(config, random, tokenizer, { ...good, templates: ['The {group}'] }),
      'options.templates',
    ],
    [
      'a template without the placeholder',
      () =>
        biasProbe(config, random, tokenizer, { ...good, templates: ['The {group}', 'Nothing'] }),
      'options.templates[1]',
    ],
    [
      'one group',
      () => biasProbe(config, random, tokenizer, { ...good, groups: { a: ['x'] } }),
      'options.groups',
    ],
    [
      'an empty term',
      () => biasProbe(config, random, tokenizer, { ...good, groups: { a: ['x'], b: [''] } }),
      'options.groups.b[0]',
    ],
    [
      'a group with no terms',
      () => biasProbe(config, random, tokenizer, { ...good, groups: { a: ['x'], b: [] } }),
      'options.groups.b',
    ],
    [
      'an unknown option',
      () => biasProbe(config, random, tokenizer, { ...good, temperature: 1 } as never),
      'options.temperature',
    ],
    [
      'a bad nBoot',
      () => biasProbe(config, random, tokenizer, { ...good, confidenceInterval: { nBoot: 0 } }),
      'options.confidenceInterval.nBoot',
    ],
    [
      'a prefix id outside the vocabulary',
      () => biasProbe(config, random, tokenizer, { ...good, prefixIds: [256] }),
      'options.prefixIds[0]',
    ],
    [
      'an empty continuation',
      () => biasProbe(config, random, tokenizer, { ...good, continuation: '' }),
      'options.continuation',
    ],
    [
      'ids outside the vocabulary',
      () => biasProbe(config, random, { encode: () => [1, 999] }, good),
      'tokenizer.encode',
    ],
    [
      'a config that is not one',
      () => biasProbe({ ...config, vocabSize: 0 }, random, tokenizer, good),
      'config.vocabSize',
    ],
    ['a tokenizer without encode', () => biasProbe(config, random, {} as never, good), 'tokenizer'],
    [
      'a prompt longer than maxLength',
      () =>
        biasProbe(config, random, tokenizer, {
          ...good,
          templates: ['{group}'.padEnd(40, '.'), 'The {group}'],
        }),
      'options.templates[0]',
    ],
    [
      'a prompt of one token with nothing to score',
      () =>
        biasProbe(config, random, tokenizer, { ...good, templates: ['{group}', 'The {group}'] }),
      'options.templates[0]',
    ],
  ];
  for (const [name, call, argument] of bad) {
    it(`rejects ${name}, naming ${argument}, without a leak`, async () => {
      const before = tf.memory().numTensors;
      const e = await rejectionOf(call);
      expect(e.argument).toBe(argument);
      expect(tf.memory().numTensors).toBe(before);
    });
  }
});

/** Written by test/reference/bias_probes.py with transformers' GPT2LMHeadModel and the GPT-2 tokenizer fixture. */
const reference = (await import('../fixtures/bias-probes/expected.json')).default as {
  templates: string[];
  groups: Record<string, string[]>;
  prefixIds: number[];
  cases: {
    continuation: string | null;
    template: number;
    group: string;
    term: string;
    ids: number[];
    tokens: number;
    logLikelihood: number;
  }[];
};

describe('biasProbe on a model from loadPretrained (parity with transformers)', () => {
  it('scores every filled prompt as GPT2LMHeadModel does, within 1e-4 relative', async () => {
    const model = folderSource(`${FIXTURES}bias-probes/gpt2`);
    const tokenizerFiles = folderSource(`${FIXTURES}tokenizers/gpt2`);
    const source: PretrainedFetch = (file, init) =>
      (file.startsWith('tokenizer') ? tokenizerFiles : model)(file, init);
    const loaded = await loadPretrained(source);
    if (loaded.kind !== 'decoder-lm' || loaded.tokenizer === undefined) {
      throw new Error('expected a decoder-only model with a tokenizer');
    }
    try {
      for (const continuation of [null, ' nurse']) {
        const r = await biasProbe(loaded.config, loaded.params, loaded.tokenizer, {
          templates: reference.templates,
          groups: reference.groups,
          prefixIds: reference.prefixIds,
          ...(continuation === null ? {} : { continuation }),
          confidenceInterval: { nBoot: 100 },
        });
        const want = reference.cases.filter((c) => c.continuation === continuation);
        expect(r.scores.length).toBe(want.length);
        let worst = 0;
        let scale = 0;
        for (const c of want) {
          const got = r.scores.find(
            (s) => s.template === c.template && s.group === c.group && s.term === c.term,
          )!;
          expect(got.tokens).toBe(c.tokens);
          worst = Math.max(worst, Math.abs(got.logLikelihood - c.logLikelihood));
          scale = Math.max(scale, Math.abs(c.logLikelihood));
        }
        expect(worst / scale).toBeLessThan(1e-4);
      }
    } finally {
      tf.dispose(loaded.params as unknown as tf.TensorContainer);
    }
  });
});
