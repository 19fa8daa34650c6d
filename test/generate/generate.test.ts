import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import {
  type EncoderDecoderConfig,
  type GenerateOptions,
  type GenerationModel,
  generate,
  gpt2Config,
  initDecoderLm,
  initEncoderDecoder,
  type LogitsProcessor,
  llamaConfig,
} from '../../src/index';
import { describeEachBackend } from '../helpers/backends';
import { expectClose } from '../helpers/close';
import { flattenParams } from '../helpers/params';

const gpt2 = gpt2Config({ vocabSize: 12, maxLength: 24, dModel: 16, numLayers: 2, numHeads: 4 });
const llama = llamaConfig({
  vocabSize: 12,
  maxLength: 24,
  dModel: 16,
  numLayers: 2,
  numHeads: 4,
  numKvHeads: 2,
  hidden: 24,
});
const alibi = { ...llama, positions: 'alibi' as const };
const seq2seq: EncoderDecoderConfig = {
  sourceVocabSize: 10,
  targetVocabSize: 12,
  maxLength: 16,
  numEncoderLayers: 1,
  numDecoderLayers: 2,
  block: {
    dModel: 16,
    numHeads: 2,
    norm: { kind: 'layer' },
    feedForward: { hidden: 32, kind: 'mlp', activation: 'gelu' },
  },
};

function models(): Array<[string, GenerationModel]> {
  return [
    ['GPT-2 style', { kind: 'decoderLm', config: gpt2, params: initDecoderLm(gpt2, 1) }],
    [
      'Llama style (RoPE, GQA)',
      { kind: 'decoderLm', config: llama, params: initDecoderLm(llama, 2) },
    ],
    [
      'ALiBi (llama-sized, no RoPE)',
      { kind: 'decoderLm', config: alibi, params: initDecoderLm(alibi, 5) },
    ],
    [
      'encoder-decoder',
      {
        kind: 'encoderDecoder',
        config: seq2seq,
        params: initEncoderDecoder(seq2seq, 3),
        decoderStartId: 0,
      },
    ],
  ];
}

/** A pass-through processor that keeps a copy of the logits it sees. */
function recorder(): { processor: LogitsProcessor; steps: number[][][] } {
  const steps: number[][][] = [];
  return {
    steps,
    processor: (logits) => {
      steps.push(logits.arraySync() as number[][]);
      return tf.clone(logits);
    },
  };
}

const prompts = [
  [3, 4, 5, 6, 7],
  [8, 1],
  [2, 9, 9],
];

describeEachBackend('generate', () => {
  for (const [name, model] of models()) {
    it(`${name}: cached logits equal full recomputation at every step, and greedy tokens match`, async () => {
      const runs: Array<{ out: number[][]; steps: number[][][] }> = [];
      for (const useCache of [true, false]) {
        const r = recorder();
        const out = await generate(model, prompts, {
          maxNewTokens: 8,
          temperature: 0,
          useCache,
          logitsProcessors: [r.processor],
        });
        runs.push({ out, steps: r.steps });
      }
      expect(runs[0]!.out).toEqual(runs[1]!.out);
      expect(runs[0]!.steps.length).toBe(8);
      runs[0]!.steps.forEach((step, i) => {
        expectClose(step.flat(), runs[1]!.steps[i]!.flat(), { rtol: 1e-5, atol: 1e-5 });
      });
    });
  }

  for (const [name, model] of models()) {
    it(`${name}: beam search with the cache (reordered per step) sees the logits of full recomputation`, async () => {
      const runs: Array<{ out: number[][]; steps: number[][][] }> = [];
      for (const useCache of [true, false]) {
        const r = recorder();
        const out = await generate(model, [[3, 4, 5]], {
          maxNewTokens: 6,
          numBeams: 3,
          useCache,
          logitsProcessors: [r.processor],
        });
        runs.push({ out, steps: r.steps });
      }
      expect(runs[0]!.out).toEqual(runs[1]!.out);
      expect(runs[0]!.steps.length).toBe(runs[1]!.steps.length);
      // After the first step there are 3 live beams, reordered from the step before.
      expect(runs[0]!.steps[1]!.length).toBe(3);
      runs[0]!.steps.forEach((step, i) => {
        expectClose(step.flat(), runs[1]!.steps[i]!.flat(), { rtol: 1e-5, atol: 1e-5 });
      });
    });
  }

  it('ALiBi changes the logits (the bias is applied), and its model has no position table', async () => {
    const { decoderLm } = await import('../../src/index');
    tf.tidy(() => {
      const params = initDecoderLm(alibi, 5);
      expect(params.positionEmbedding).toBeUndefined();
      const ids = tf.tensor2d([[1, 2, 3, 4, 5, 6]], undefined, 'int32');
      const withBias = decoderLm(alibi, params, ids);
      const without = decoderLm({ ...alibi, positions: 'learned' }, params, ids);
      expect(tf.max(tf.abs(tf.sub(withBias, without))).dataSync()[0]).toBeGreaterThan(1e-3);
    });
  });

  it('beam search with one beam equals greedy; with enough beams it finds the most likely sequence', async () => {
    const [, model] = models()[1]!;
    const greedy = await generate(model, [[1, 2]], { maxNewTokens: 5, temperature: 0 });
    expect(await generate(model, [[1, 2]], { maxNewTokens: 5, numBeams: 1 })).toEqual(greedy);
    // Exhaustive search over all 12^3 continuations of length 3.
    const { config, params } = model as Extract<GenerationModel, { kind: 'decoderLm' }>;
    const { decoderLm } = await import('../../src/index');
    const logProb = (seq: number[]) =>
      tf.tidy(() => {
        const ids = tf.tensor2d([[1, 2, ...seq]], undefined, 'int32');
        const lp = (tf.logSoftmax(decoderLm(config, params, ids)).arraySync() as number[][][])[0]!;
        return seq.reduce((s, t, i) => s + lp[1 + i]![t]!, 0);
      });
    let best = { seq: [] as number[], score: -Infinity };
    for (let a = 0; a < 12; a++)
      for (let b = 0; b < 12; b++)
        for (let c = 0; c < 12; c++) {
          const score = logProb([a, b, c]);
          if (score > best.score) best = { seq: [a, b, c], score };
        }
    const [beam] = await generate(model, [[1, 2]], {
      maxNewTokens: 3,
      numBeams: 144,
      lengthPenalty: 0,
    });
    expect(beam).toEqual(best.seq);
  });

  it('sampling is seeded; temperature near 0 equals greedy; stop tokens end rows; onToken streams', async () => {
    const [, model] = models()[0]!;
    const options: GenerateOptions = {
      maxNewTokens: 10,
      temperature: 1.2,
      topK: 6,
      topP: 0.9,
      seed: 5,
    };
    const a = await generate(model, prompts, options);
    expect(await generate(model, prompts, options)).toEqual(a);
    expect(await generate(model, prompts, { ...options, seed: 6 })).not.toEqual(a);
    const greedy = await generate(model, prompts, { maxNewTokens: 10, temperature: 0 });
    expect(
      await generate(model, prompts, { maxNewTokens: 10, temperature: 1e-4, seed: 1 }),
    ).toEqual(greedy);
    const stop = greedy[0]![2]!;
    const streamed: Array<Array<number | null>> = [];
    const stopped = await generate(model, prompts, {
      maxNewTokens: 10,
      temperature: 0,
      stopTokens: [stop],
      onToken: (t) => streamed.push(t),
    });
    expect(stopped[0]).toEqual(greedy[0]!.slice(0, greedy[0]!.indexOf(stop)));
    expect(streamed.map((t) => t[0]).filter((t) => t !== null)).toEqual(stopped[0]);
  });

  it('leaves no tensor behind over a 200-token generation, with and without beams', async () => {
    const config = gpt2Config({
      vocabSize: 12,
      maxLength: 210,
      dModel: 16,
      numLayers: 1,
      numHeads: 2,
    });
    const model: GenerationModel = { kind: 'decoderLm', config, params: initDecoderLm(config, 4) };
    const s2s: GenerationModel = {
      kind: 'encoderDecoder',
      config: seq2seq,
      params: initEncoderDecoder(seq2seq, 3),
      decoderStartId: 0,
    };
    const before = tf.memory().numTensors;
    const [out] = await generate(model, [[1, 2, 3]], {
      maxNewTokens: 200,
      temperature: 0.9,
      seed: 1,
    });
    expect(out!.length).toBe(200);
    await generate(model, [[1, 2, 3], [4]], { maxNewTokens: 20, numBeams: 3 });
    await generate(s2s, [[1, 2, 3]], { maxNewTokens: 10, numBeams: 2 });
    await generate(s2s, [[1, 2, 3]], { maxNewTokens: 10, useCache: false });
    await generate(s2s, [[1, 2, 3], [4]], { maxNewTokens: 10, numBeams: 2, useCache: false });
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([
      Object.values(flattenParams(s2s.params)),
      Object.values(flattenParams(model.params)),
    ]);
  });

  it('a processor that throws mid-chain leaves no tensor behind (sampling and beam search)', async () => {
    const model: GenerationModel = {
      kind: 'decoderLm',
      config: gpt2,
      params: initDecoderLm(gpt2, 6),
    };
    // After a processor that made a fresh tensor, which must then be disposed.
    const copy: LogitsProcessor = (logits) => tf.clone(logits);
    const failOnStep1: LogitsProcessor = (logits, { step }) => {
      if (step === 1) throw new Error('processor failed');
      return tf.clone(logits);
    };
    const before = tf.memory().numTensors;
    const options = {
      maxNewTokens: 4,
      temperature: 0.7,
      topK: 5,
      logitsProcessors: [copy, failOnStep1],
    };
    await expect(generate(model, [[1, 2], [3]], { ...options, seed: 1 })).rejects.toThrow(
      'processor failed',
    );
    await expect(generate(model, [[1, 2]], { ...options, numBeams: 2 })).rejects.toThrow(
      'processor failed',
    );
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose(Object.values(flattenParams(model.params)));
  });
});

// Bad input (which now rejects rather than throws) is in generate-failures.test.ts.
