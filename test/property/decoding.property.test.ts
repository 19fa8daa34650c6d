import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { decoderLmStep } from '../../src/generate/decoders';
import { disposeKvCache, initDecoderLmCache, type KvCache } from '../../src/generate/kv-cache';
import {
  type DecoderLmConfig,
  decoderLm,
  generate,
  gpt2Config,
  initDecoderLm,
  llamaConfig,
} from '../../src/index';
import { describeEachBackend } from '../helpers/backends';
import { expectClose } from '../helpers/close';
import { runs } from './support';

const MAX_LENGTH = 16;

/** A tiny random GPT-2 or Llama (GQA when numKvHeads < numHeads) config. */
const configs = fc
  .record({
    family: fc.constantFrom('gpt2', 'llama', 'alibi'),
    vocabSize: fc.integer({ min: 3, max: 12 }),
    numLayers: fc.integer({ min: 1, max: 2 }),
    numHeads: fc.constantFrom(1, 2, 4),
    kvDivisor: fc.constantFrom(1, 2, 4),
    headDim: fc.constantFrom(2, 4),
    hidden: fc.integer({ min: 2, max: 12 }),
  })
  .map(
    ({ family, vocabSize, numLayers, numHeads, kvDivisor, headDim, hidden }): DecoderLmConfig => {
      const sizes = {
        vocabSize,
        maxLength: MAX_LENGTH,
        dModel: numHeads * headDim,
        numLayers,
        numHeads,
      };
      if (family === 'gpt2') return gpt2Config(sizes);
      const numKvHeads = numHeads % kvDivisor === 0 ? numHeads / kvDivisor : numHeads;
      const llama = llamaConfig({ ...sizes, numKvHeads, hidden });
      return family === 'alibi' ? { ...llama, positions: 'alibi' } : llama;
    },
  );

/** Prompts of 1-3 rows, 1-5 tokens each (different lengths: left padding), ids below `vocab`. */
function prompts(vocab: number) {
  return fc.array(
    fc.array(fc.integer({ min: 0, max: vocab - 1 }), { minLength: 1, maxLength: 5 }),
    {
      minLength: 1,
      maxLength: 3,
    },
  );
}

const generateCases = configs.chain((config) =>
  fc.record({
    config: fc.constant(config),
    prompts: prompts(config.vocabSize),
    maxNewTokens: fc.integer({ min: 1, max: 4 }),
    seed: fc.integer({ min: 0, max: 1000 }),
  }),
);

const stepCases = configs.chain((config) =>
  fc.record({
    config: fc.constant(config),
    batch: fc.integer({ min: 1, max: 2 }),
    prefix: fc.integer({ min: 1, max: 5 }),
    steps: fc.integer({ min: 1, max: 4 }),
    seed: fc.integer({ min: 0, max: 1000 }),
  }),
);

describeEachBackend('property: cached decoding == uncached', () => {
  it('generate greedy: useCache true == useCache false (20 runs)', async () => {
    await fc.assert(
      fc.asyncProperty(generateCases, async ({ config, prompts, maxNewTokens, seed }) => {
        const params = initDecoderLm(config, seed);
        const model = { kind: 'decoderLm' as const, config, params };
        try {
          const options = { maxNewTokens, temperature: 0 };
          const cached = await generate(model, prompts, { ...options, useCache: true });
          const uncached = await generate(model, prompts, { ...options, useCache: false });
          expect(cached).toEqual(uncached);
          expect(cached.map((row) => row.length)).toEqual(prompts.map(() => maxNewTokens));
        } finally {
          tf.dispose(params as unknown as tf.TensorContainer);
        }
      }),
      runs(20),
    );
  });

  it('decoderLmStep over a prefix then one token at a time == decoderLm on the whole sequence (20 runs)', () => {
    fc.assert(
      fc.property(stepCases, ({ config, batch, prefix, steps, seed }) => {
        const params = initDecoderLm(config, seed);
        const time = prefix + steps;
        const ids = Array.from({ length: batch }, (_, b) =>
          Array.from({ length: time }, (_, t) => (seed + 7 * b + 3 * t) % config.vocabSize),
        );
        let cache: KvCache = initDecoderLmCache(config, params, batch, time);
        try {
          tf.tidy(() => {
            const full = decoderLm(config, params, tf.tensor2d(ids, undefined, 'int32'));
            const chunks: Array<[number, number]> = [[0, prefix]];
            for (let t = prefix; t < time; t++) chunks.push([t, t + 1]);
            for (const [start, end] of chunks) {
              const slice = ids.map((row) => row.slice(start, end));
              const valid = slice.map((row) => row.map(() => true));
              const step = decoderLmStep(
                config,
                params,
                tf.tensor2d(slice, undefined, 'int32'),
                cache,
                valid,
              );
              disposeKvCache(cache);
              cache = step.cache;
              for (const layer of cache.layers) {
                tf.keep(layer.key);
                tf.keep(layer.value);
              }
              const expected = tf.slice(full, [0, start, 0], [-1, end - start, -1]);
              expectClose(step.logits, expected, { rtol: 1e-4, atol: 1e-5 });
            }
          });
        } finally {
          disposeKvCache(cache);
          tf.dispose(params as unknown as tf.TensorContainer);
        }
      }),
      runs(20),
    );
  });
});
