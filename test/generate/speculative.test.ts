// Speculative decoding (issue 20): generate({ draftModel, numDraftTokens })
// gives the target's greedy output token for token, with the draft's tokens
// accepted where the target agrees and both caches rewound past the rest.
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import {
  type DecoderLmConfig,
  type GenerateOptions,
  type GenerationModel,
  generate,
  gpt2Config,
  initDecoderLm,
  initEncoderDecoder,
  llamaConfig,
} from '../../src/index';
import { folderSource } from '../../src/node/index';
import { loadPretrained } from '../../src/pretrained/load';
import { describeEachBackend } from '../helpers/backends';
import { flattenParams } from '../helpers/params';
import { rejectionOf } from '../helpers/rejections';
import { FIXTURES } from '../helpers/saved-folders';

type Lm = Extract<GenerationModel, { kind: 'decoderLm' }>;

const VOCAB = 16;
const TARGET = gpt2Config({
  vocabSize: VOCAB,
  maxLength: 40,
  dModel: 32,
  numLayers: 2,
  numHeads: 4,
});
const DRAFT = gpt2Config({
  vocabSize: VOCAB,
  maxLength: 40,
  dModel: 16,
  numLayers: 1,
  numHeads: 2,
});
const LLAMA = llamaConfig({
  vocabSize: VOCAB,
  maxLength: 40,
  dModel: 32,
  numLayers: 2,
  numHeads: 4,
  numKvHeads: 2,
  hidden: 48,
});

function lm(config: DecoderLmConfig, seed: number): Lm {
  return { kind: 'decoderLm', config, params: initDecoderLm(config, seed) };
}

function disposeLm(m: GenerationModel) {
  tf.dispose(Object.values(flattenParams(m.params)));
}

/** Greedy with and without the draft; the token counts and rounds seen. */
async function both(
  target: Lm,
  draft: Lm,
  prompts: number[][],
  allOptions: Partial<GenerateOptions>,
) {
  const { numDraftTokens, ...options } = allOptions;
  const plainSteps: Array<Array<number | null>> = [];
  const plain = await generate(target, prompts, {
    maxNewTokens: 12,
    temperature: 0,
    onToken: (t) => {
      plainSteps.push(t);
    },
    ...options,
  });
  const rounds: Array<{ proposed: number; accepted: number }> = [];
  const steps: Array<Array<number | null>> = [];
  const before = tf.memory().numTensors;
  const spec = await generate(target, prompts, {
    maxNewTokens: 12,
    temperature: 0,
    draftModel: draft,
    ...(numDraftTokens === undefined ? {} : { numDraftTokens }),
    onDraftRound: (r) => {
      rounds.push(r);
    },
    onToken: (t) => {
      steps.push(t);
    },
    ...options,
  });
  expect(tf.memory().numTensors, 'tensors left behind').toBe(before);
  expect(steps).toEqual(plainSteps);
  return { plain, spec, rounds };
}

describeEachBackend('speculative decoding', () => {
  it('equals greedy decoding of the target, for several seeds, prompts and draft lengths', async () => {
    const seen: Array<{ proposed: number; accepted: number }> = [];
    for (const [targetSeed, draftSeed, k] of [
      [1, 2, 1],
      [3, 4, 3],
      [5, 6, 4],
      [7, 8, 7],
    ] as const) {
      const target = lm(TARGET, targetSeed);
      const draft = lm(DRAFT, draftSeed);
      for (const prompt of [[1], [3, 1, 4, 1, 5], [9, 2, 6, 5, 3, 5, 8, 9, 7]]) {
        const { plain, spec, rounds } = await both(target, draft, [prompt], { numDraftTokens: k });
        expect(spec).toEqual(plain);
        expect(spec[0]).toHaveLength(12);
        seen.push(...rounds);
        for (const r of rounds) {
          expect(r.proposed).toBeLessThanOrEqual(k);
          expect(r.accepted).toBeLessThanOrEqual(r.proposed);
        }
      }
      disposeLm(target);
      disposeLm(draft);
    }
    // Both paths ran: rounds that rewound past rejected tokens, and accepted ones.
    expect(seen.some((r) => r.accepted < r.proposed)).toBe(true);
    expect(seen.some((r) => r.accepted > 0)).toBe(true);
  });

  it('accepts every draft token when the draft is the target, and needs fewer rounds', async () => {
    const target = lm(LLAMA, 11);
    const { plain, spec, rounds } = await both(target, target, [[2, 7, 1, 8]], {
      numDraftTokens: 4,
      maxNewTokens: 14,
    });
    expect(spec).toEqual(plain);
    expect(rounds.every((r) => r.accepted === r.proposed)).toBe(true);
    // 1 token after the prompt, then rounds of k + 1: 1 + 5 + 5 + 3 (k = 2, not past maxNewTokens).
    expect(rounds.map((r) => r.proposed)).toEqual([4, 4, 2]);
    disposeLm(target);
  });

  it('runs a left-padded batch of prompts of different lengths (RoPE, GQA target)', async () => {
    const target = lm(LLAMA, 12);
    const draft = lm(DRAFT, 13);
    const prompts = [[1, 2, 3, 4, 5, 6], [7], [8, 9, 10]];
    const { plain, spec } = await both(target, draft, prompts, { numDraftTokens: 3 });
    expect(spec).toEqual(plain);
    disposeLm(target);
    disposeLm(draft);
  });

  it('respects stop tokens, EOS and maxNewTokens as greedy decoding does', async () => {
    const target = lm(TARGET, 21);
    const draft = lm(DRAFT, 22);
    const prompts = [
      [4, 4, 2],
      [1, 3],
    ];
    const free = await generate(target, prompts, { maxNewTokens: 12, temperature: 0 });
    // A token from the middle of each row's output ends it there.
    const stop = free[0]![5]!;
    const eos = free[1]![3]!;
    for (const options of [
      { stopTokens: [stop] },
      { eosTokenId: eos },
      { stopTokens: [stop], eosTokenId: [eos] },
      { maxNewTokens: 1 },
      { maxNewTokens: 2 },
      { maxNewTokens: 7, numDraftTokens: 6 },
    ]) {
      const { plain, spec } = await both(target, draft, prompts, { numDraftTokens: 3, ...options });
      expect(spec).toEqual(plain);
    }
    disposeLm(target);
    disposeLm(draft);
  });

  it('frees both caches when onToken throws', async () => {
    const target = lm(TARGET, 31);
    const draft = lm(DRAFT, 32);
    const before = tf.memory().numTensors;
    const boom = new Error('boom');
    await expect(
      generate(target, [[1, 2]], {
        maxNewTokens: 10,
        temperature: 0,
        draftModel: draft,
        onToken: (_, step) => {
          if (step === 4) throw boom;
        },
      }),
    ).rejects.toBe(boom);
    expect(tf.memory().numTensors).toBe(before);
    disposeLm(target);
    disposeLm(draft);
  });
});

/** A decoder-only model read by loadPretrained, as generate takes it. */
async function pretrained(folder: string): Promise<Lm> {
  const loaded = await loadPretrained(folderSource(`${FIXTURES}pretrained/${folder}`));
  if (loaded.kind !== 'decoder-lm') throw new Error(`${folder} is not a decoder-only model`);
  return { kind: 'decoderLm', config: loaded.config, params: loaded.params };
}

describeEachBackend('speculative decoding: cancelling', () => {
  it('stops between rounds on an aborted signal, leaving no tensor behind', async () => {
    const target = lm(TARGET, 51);
    const draft = lm(DRAFT, 52);
    const controller = new AbortController();
    const before = tf.memory().numTensors;
    const seen: number[] = [];
    const reason = new Error('enough');
    await expect(
      generate(target, [[3, 4]], {
        maxNewTokens: 20,
        temperature: 0,
        draftModel: draft,
        numDraftTokens: 2,
        signal: controller.signal,
        onToken: (_, step) => {
          seen.push(step);
          if (step === 3) controller.abort(reason);
        },
      }),
    ).rejects.toBe(reason);
    // As greedy decoding: no token after the one whose onToken aborted.
    expect(seen).toEqual([0, 1, 2, 3]);
    expect(tf.memory().numTensors).toBe(before);
    disposeLm(target);
    disposeLm(draft);
  });
});

describeEachBackend('speculative decoding of models from loadPretrained', () => {
  it("gives transformers' greedy ids for a GPT-2 target with a Llama draft of the same vocabulary", async () => {
    // test/reference/pretrained_generate.py: GPT2LMHeadModel.generate(do_sample=False).
    const reference = JSON.parse(
      readFileSync(`${FIXTURES}pretrained/gpt2/generate.json`, 'utf8'),
    ) as {
      prompts: number[][];
      maxNewTokens: number;
      padId: number;
      cases: Array<{ name: string; expected: number[][][] }>;
    };
    const greedy = reference.cases.find((c) => c.name === 'greedy')!.expected.map((e) => e[0]!);
    const target = await pretrained('gpt2');
    const draft = await pretrained('llama');
    const options = {
      maxNewTokens: reference.maxNewTokens,
      temperature: 0,
      padId: reference.padId,
    };
    for (const [i, prompt] of reference.prompts.entries()) {
      for (const numDraftTokens of [2, 5]) {
        const [ids] = await generate(target, [prompt], {
          ...options,
          draftModel: draft,
          numDraftTokens,
        });
        expect(ids).toEqual(greedy[i]);
      }
    }
    const batch = await generate(target, reference.prompts, { ...options, draftModel: draft });
    expect(batch).toEqual(greedy);
    disposeLm(target);
    disposeLm(draft);
  });
});

describeEachBackend('speculative decoding: bad options', () => {
  it('names the option at fault and leaves no tensor behind', async () => {
    const target = lm(TARGET, 41);
    const draft = lm(DRAFT, 42);
    const other = lm({ ...DRAFT, vocabSize: VOCAB + 1 }, 43);
    const short = lm({ ...DRAFT, maxLength: 8 }, 44);
    const windowed = lm({ ...LLAMA, block: { ...LLAMA.block, slidingWindow: 6 } }, 45);
    const seq2seq = {
      kind: 'encoderDecoder' as const,
      config: {
        sourceVocabSize: VOCAB,
        targetVocabSize: VOCAB,
        maxLength: 16,
        numEncoderLayers: 1,
        numDecoderLayers: 1,
        block: {
          dModel: 16,
          numHeads: 2,
          norm: { kind: 'layer' as const },
          feedForward: { hidden: 16, kind: 'mlp' as const, activation: 'gelu' as const },
        },
      },
      params: initEncoderDecoder(
        {
          sourceVocabSize: VOCAB,
          targetVocabSize: VOCAB,
          maxLength: 16,
          numEncoderLayers: 1,
          numDecoderLayers: 1,
          block: {
            dModel: 16,
            numHeads: 2,
            norm: { kind: 'layer' },
            feedForward: { hidden: 16, kind: 'mlp', activation: 'gelu' },
          },
        },
        46,
      ),
      decoderStartId: 0,
    };
    const base = { maxNewTokens: 8, temperature: 0 };
    const cases: Array<[GenerationModel, Record<string, unknown>, string]> = [
      [target, { ...base, draftModel: 'small' }, 'options.draftModel'],
      [target, { ...base, draftModel: { kind: 'decoderLm' } }, 'options.draftModel.config'],
      [target, { ...base, draftModel: seq2seq }, 'options.draftModel.kind'],
      [seq2seq, { ...base, draftModel: draft }, 'options.draftModel'],
      [target, { ...base, draftModel: other }, 'options.draftModel.config.vocabSize'],
      [target, { ...base, draftModel: short }, 'options.draftModel.config.maxLength'],
      [windowed, { ...base, draftModel: draft }, 'options.draftModel'],
      [target, { ...base, draftModel: draft, numDraftTokens: 0 }, 'options.numDraftTokens'],
      [target, { ...base, draftModel: draft, numDraftTokens: 65 }, 'options.numDraftTokens'],
      [target, { ...base, draftModel: draft, numDraftTokens: 1.5 }, 'options.numDraftTokens'],
      [target, { ...base, numDraftTokens: 3 }, 'options.numDraftTokens'],
      [target, { ...base, onDraftRound: () => {} }, 'options.onDraftRound'],
      [target, { ...base, draftModel: draft, onDraftRound: 1 }, 'options.onDraftRound'],
      [target, { maxNewTokens: 8, draftModel: draft }, 'options.temperature'],
      [target, { ...base, draftModel: draft, numBeams: 2 }, 'options.numBeams'],
      [target, { ...base, draftModel: draft, useCache: false }, 'options.useCache'],
      [target, { ...base, draftModel: draft, repetitionPenalty: 1.2 }, 'options.repetitionPenalty'],
      [
        target,
        { ...base, draftModel: draft, logitsProcessors: [(x: tf.Tensor2D) => x] },
        'options.logitsProcessors[0]',
      ],
    ];
    for (const [model, options, argument] of cases) {
      const before = tf.memory().numTensors;
      const error = await rejectionOf(generate(model, [[1, 2, 3]], options as GenerateOptions));
      expect(error.argument, JSON.stringify(Object.keys(options))).toBe(argument);
      expect(tf.memory().numTensors).toBe(before);
    }
    for (const m of [target, draft, other, short, windowed]) disposeLm(m);
    disposeLm(seq2seq);
  });
});
