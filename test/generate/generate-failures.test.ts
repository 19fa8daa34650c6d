import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type EncoderDecoderConfig,
  type GenerateOptions,
  type GenerationModel,
  generate,
  gpt2Config,
  initDecoderLm,
  initEncoderDecoder,
  type LogitsProcessor,
  TfjsBlocksError,
} from '../../src/index';
import { describeEachBackend } from '../helpers/backends';
import { flattenParams } from '../helpers/params';

// Every error path of generate: the call never throws synchronously, the
// promise rejects with the error, and no tensor is left behind.

const gpt2 = gpt2Config({ vocabSize: 12, maxLength: 24, dModel: 16, numLayers: 1, numHeads: 2 });
const seq2seq: EncoderDecoderConfig = {
  sourceVocabSize: 10,
  targetVocabSize: 12,
  maxLength: 16,
  numEncoderLayers: 1,
  numDecoderLayers: 1,
  block: {
    dModel: 16,
    numHeads: 2,
    norm: { kind: 'layer' },
    feedForward: { hidden: 32, kind: 'mlp', activation: 'gelu' },
  },
};

/**
 * Calls `generate` and returns what it rejected with. Fails the test if the
 * call threw synchronously, resolved, or changed the number of live tensors.
 */
async function rejection(call: () => Promise<unknown>): Promise<unknown> {
  const before = tf.memory().numTensors;
  let promise: Promise<unknown>;
  try {
    promise = call();
  } catch (e) {
    throw new Error(`threw synchronously instead of rejecting: ${String(e)}`);
  }
  let error: unknown;
  await promise.then(
    () => {
      throw new Error('resolved instead of rejecting');
    },
    (e: unknown) => {
      error = e;
    },
  );
  expect(tf.memory().numTensors, 'tensors left behind').toBe(before);
  return error;
}

/** {@link rejection}, which must be a TfjsBlocksError naming `argument`. */
async function expectRejected(
  call: () => Promise<unknown>,
  argument: string,
  message?: RegExp,
): Promise<TfjsBlocksError> {
  const error = await rejection(call);
  expect(error, String(error)).toBeInstanceOf(TfjsBlocksError);
  const e = error as TfjsBlocksError;
  expect(e.argument).toBe(argument);
  if (message) expect(e.message).toMatch(message);
  return e;
}

describeEachBackend('generate: errors reject and leave no tensor behind', () => {
  const lm: GenerationModel = { kind: 'decoderLm', config: gpt2, params: initDecoderLm(gpt2, 1) };
  const s2s = {
    kind: 'encoderDecoder' as const,
    config: seq2seq,
    params: initEncoderDecoder(seq2seq, 2),
    decoderStartId: 0,
  };
  afterAll(() => {
    tf.dispose([Object.values(flattenParams(lm.params)), Object.values(flattenParams(s2s.params))]);
  });
  const ok: GenerateOptions = { maxNewTokens: 3, temperature: 0 };
  const prompts = [[1, 2, 3], [4]];

  describe('invalid input rejects (never throws at the call)', () => {
    // [name, call, argument, message]
    const cases: Array<[string, () => Promise<unknown>, string, RegExp?]> = [
      ['no prompts', () => generate(lm, [], ok), 'prompts', /non-empty array/],
      ['empty prompt', () => generate(lm, [[]], ok), 'prompts[0]', /got an empty prompt/],
      [
        'a hole in the prompt list',
        // biome-ignore lint/suspicious/noSparseArray: the hole is the input under test
        () => generate(lm, [[1], , [2]] as number[][], ok),
        'prompts[1]',
        /a hole/,
      ],
      [
        'a hole in a prompt',
        // biome-ignore lint/suspicious/noSparseArray: the hole is the input under test
        () => generate(lm, [[1, , 3]] as number[][], ok),
        'prompts[0][1]',
        /a hole/,
      ],
      ['a fractional id', () => generate(lm, [[1, 2.5]], ok), 'prompts[0][1]'],
      ['a negative id', () => generate(lm, [[4], [1, -1]], ok), 'prompts[1][1]'],
      [
        'an id out of vocabulary',
        () => generate(lm, [[1, 12]], ok),
        'prompts[0][1]',
        /a token id in \[0, 12\); got number 12/,
      ],
      ['a string id', () => generate(lm, [['1' as unknown as number]], ok), 'prompts[0][0]'],
      [
        'beyond the context',
        () => generate(lm, [[1, 2, 3, 4, 5]], { maxNewTokens: 20 }),
        'options.maxNewTokens',
        /at most 19 \(the model's context of 24 minus the longest prompt, 5\); got 20/,
      ],
      [
        'a misspelt option',
        () => generate(lm, prompts, { maxNewToken: 3 } as unknown as GenerateOptions),
        'options.maxNewToken',
        /did you mean 'maxNewTokens'/,
      ],
      [
        'a misspelt second option',
        () => generate(lm, prompts, { ...ok, topk: 3 } as unknown as GenerateOptions),
        'options.topk',
        /did you mean 'topK'/,
      ],
      [
        'no options',
        () => generate(lm, prompts, undefined as unknown as GenerateOptions),
        'options',
      ],
      ['null options', () => generate(lm, prompts, null as unknown as GenerateOptions), 'options'],
      [
        'padId out of vocabulary (with prompts of different lengths)',
        () => generate(lm, prompts, { ...ok, padId: 12 }),
        'options.padId',
        /a token id in \[0, 12\)/,
      ],
      [
        'padId out of the target vocabulary (encoder-decoder)',
        () => generate(s2s, [[1, 2], [3]], { ...ok, padId: 10 }),
        'options.padId',
        /a token id in \[0, 10\)/,
      ],
      ['numBeams 5e7', () => generate(lm, [[1]], { ...ok, numBeams: 5e7 }), 'options.numBeams'],
      [
        'numBeams 1025',
        () => generate(lm, [[1]], { ...ok, numBeams: 1025 }),
        'options.numBeams',
        /at most 1024/,
      ],
      ['numBeams 0', () => generate(lm, [[1]], { ...ok, numBeams: 0 }), 'options.numBeams'],
      [
        'a hole in stopTokens',
        // biome-ignore lint/suspicious/noSparseArray: the hole is the input under test
        () => generate(lm, [[1]], { ...ok, stopTokens: [1, , 2] as number[] }),
        'options.stopTokens[1]',
      ],
      [
        'a stop token the model cannot emit',
        () => generate(lm, [[1]], { ...ok, stopTokens: [3, 12] }),
        'options.stopTokens[1]',
        /a token id in \[0, 12\)/,
      ],
      [
        'a hole in logitsProcessors',
        () =>
          generate(lm, [[1]], {
            ...ok,
            // biome-ignore lint/suspicious/noSparseArray: the hole is the input under test
            logitsProcessors: [(l) => tf.clone(l), , (l) => tf.clone(l)] as LogitsProcessor[],
          }),
        'options.logitsProcessors[1]',
      ],
      [
        'signal not an AbortSignal',
        () => generate(lm, [[1]], { ...ok, signal: {} as AbortSignal }),
        'options.signal',
      ],
      [
        'an unknown model kind',
        () => generate({ ...lm, kind: 'gpt' } as unknown as GenerationModel, [[1]], ok),
        'model.kind',
      ],
      [
        'a misspelt model key',
        () => generate({ ...s2s, decoderStartID: 1 } as unknown as GenerationModel, [[1]], ok),
        'model.decoderStartID',
        /did you mean 'decoderStartId'/,
      ],
      [
        'an undefined decoderStartId',
        () => generate({ ...s2s, decoderStartId: undefined } as never, [[1]], ok),
        'model.decoderStartId',
      ],
      [
        'a decoderStartId out of the target vocabulary',
        () => generate({ ...s2s, decoderStartId: 12 }, [[1]], ok),
        'model.decoderStartId',
        /a token id in \[0, 12\)/,
      ],
    ];
    for (const [name, call, argument, message] of cases) {
      it(name, async () => {
        await expectRejected(call, argument, message);
      });
    }
  });

  it('a prefill that throws frees the cache (decoder-only and encoder-decoder, cached or not)', async () => {
    // A norm of the wrong width: the model fails only once the cache (and,
    // for the encoder-decoder, the encoder output) exists.
    const badGamma = tf.ones([5]) as tf.Tensor1D;
    const badLm: GenerationModel = {
      ...lm,
      params: { ...lm.params, finalNorm: { ...lm.params.finalNorm, gamma: badGamma } },
    };
    const badS2s: GenerationModel = {
      ...s2s,
      params: { ...s2s.params, decoderNorm: { ...s2s.params.decoderNorm!, gamma: badGamma } },
    };
    try {
      for (const useCache of [true, false]) {
        for (const numBeams of [undefined, 2]) {
          const options = { ...ok, useCache, numBeams };
          for (const model of [badLm, badS2s]) {
            const error = await rejection(() => generate(model, prompts, options));
            expect(error, String(error)).toBeInstanceOf(TfjsBlocksError);
          }
        }
      }
    } finally {
      badGamma.dispose();
    }
  });

  it('a cache that cannot be allocated frees the encoder output and the cross-attention keys', async () => {
    // The last decoder block's cross-attention values disagree with the
    // config (3 columns are no whole number of heads), so allocating the
    // cache fails after the encoder ran and the other cross-attention keys
    // and values were projected.
    const blocks = s2s.params.decoder;
    const last = blocks[blocks.length - 1]!;
    const kernel = tf.zeros([last.crossAttention!.value.kernel.shape[0], 3]) as tf.Tensor2D;
    const broken: GenerationModel = {
      ...s2s,
      params: {
        ...s2s.params,
        decoder: [
          ...blocks.slice(0, -1),
          { ...last, crossAttention: { ...last.crossAttention!, value: { kernel } } },
        ],
      },
    };
    const error = await rejection(() => generate(broken, prompts, ok));
    expect(error).toBeInstanceOf(Error);
    kernel.dispose();
  });

  it('a processor that throws at the first step, or a sampler that throws, frees everything', async () => {
    const failing: LogitsProcessor = () => {
      throw new Error('processor failed');
    };
    const maskAll: LogitsProcessor = (logits) => tf.fill(logits.shape, -Infinity);
    for (const model of [lm, s2s]) {
      for (const useCache of [true, false]) {
        for (const extra of [{ temperature: 0.8, seed: 1 }, { numBeams: 2 }]) {
          const options = { maxNewTokens: 3, useCache, ...extra };
          const e = await rejection(() =>
            generate(model, prompts, { ...options, logitsProcessors: [failing] }),
          );
          expect(String(e)).toMatch(/processor failed/);
        }
        // Every token masked: the greedy picker and the sampler both throw.
        for (const temperature of [0, 1]) {
          const e = await rejection(() =>
            generate(model, prompts, {
              maxNewTokens: 3,
              useCache,
              temperature,
              seed: 1,
              logitsProcessors: [maskAll],
            }),
          );
          expect(e).toBeInstanceOf(TfjsBlocksError);
        }
      }
    }
  });

  it('a processor that returns a tensor of the wrong shape or kind is named', async () => {
    const wrongShape: LogitsProcessor = (logits) => tf.zeros([1, logits.shape[1]]) as tf.Tensor2D;
    const notATensor = (() => [[0]]) as unknown as LogitsProcessor;
    for (const numBeams of [undefined, 2]) {
      await expectRejected(
        () =>
          generate(lm, prompts, {
            ...ok,
            numBeams,
            logitsProcessors: [(l) => tf.clone(l), wrongShape],
          }),
        'options.logitsProcessors[1]',
        /the shape of the logits \[2, 12\]; got shape \[1, 12\]/,
      );
      await expectRejected(
        () => generate(lm, prompts, { ...ok, numBeams, logitsProcessors: [notATensor] }),
        'options.logitsProcessors[0]',
      );
      // An async processor: named, its tensor freed, its promise not left dangling.
      const asyncProcessor = (async (l: tf.Tensor2D) => tf.clone(l)) as unknown as LogitsProcessor;
      await expectRejected(
        () => generate(lm, prompts, { ...ok, numBeams, logitsProcessors: [asyncProcessor] }),
        'options.logitsProcessors[0]',
        /a synchronous function returning a tensor; got a promise/,
      );
    }
  });

  it('a synchronous onToken that throws rejects generate with its error', async () => {
    const boom = new Error('onToken failed');
    for (const model of [lm, s2s]) {
      for (const step of [0, 1]) {
        const e = await rejection(() =>
          generate(model, prompts, {
            ...ok,
            onToken: (_t, s) => {
              if (s === step) throw boom;
            },
          }),
        );
        expect(e).toBe(boom);
      }
    }
  });

  it('an async onToken that rejects rejects generate with its error (no unhandled rejection)', async () => {
    const boom = new Error('async onToken failed');
    for (const model of [lm, s2s]) {
      const e = await rejection(() =>
        generate(model, prompts, {
          ...ok,
          onToken: async (_t, step) => {
            await new Promise((resolve) => setTimeout(resolve, 1));
            if (step === 1) throw boom;
          },
        }),
      );
      expect(e).toBe(boom);
    }
  });

  it('an async onToken is awaited before the next step', async () => {
    const events: string[] = [];
    const seen: number[] = [];
    await generate(lm, [[1, 2]], {
      maxNewTokens: 3,
      temperature: 0,
      logitsProcessors: [
        (logits, { step }) => {
          events.push(`step ${step}`);
          return tf.clone(logits);
        },
      ],
      onToken: async ([t], step) => {
        events.push(`onToken ${step} start`);
        await new Promise((resolve) => setTimeout(resolve, 5));
        seen.push(t!);
        events.push(`onToken ${step} end`);
      },
    });
    expect(events).toEqual([
      'step 0',
      'onToken 0 start',
      'onToken 0 end',
      'step 1',
      'onToken 1 start',
      'onToken 1 end',
      'step 2',
      'onToken 2 start',
      'onToken 2 end',
    ]);
    expect(seen.length).toBe(3);
  });

  it('an AbortSignal stops sampling and beam search with its reason, freeing the cache', async () => {
    for (const model of [lm, s2s]) {
      for (const useCache of [true, false]) {
        // Aborted before the call: nothing runs.
        const early = new AbortController();
        early.abort(new Error('stopped early'));
        let ran = false;
        const e0 = await rejection(() =>
          generate(model, prompts, {
            ...ok,
            useCache,
            signal: early.signal,
            logitsProcessors: [
              (l) => {
                ran = true;
                return tf.clone(l);
              },
            ],
          }),
        );
        expect(String(e0)).toMatch(/stopped early/);
        expect(ran).toBe(false);
        // Aborted from onToken during sampling.
        const during = new AbortController();
        let calls = 0;
        const e1 = await rejection(() =>
          generate(model, prompts, {
            maxNewTokens: 5,
            temperature: 0.9,
            seed: 3,
            useCache,
            signal: during.signal,
            onToken: () => {
              calls++;
              if (calls === 2) during.abort(new Error('user stop'));
            },
          }),
        );
        expect(String(e1)).toMatch(/user stop/);
        expect(calls).toBe(2);
        // Aborted from a processor during beam search.
        const beams = new AbortController();
        const e2 = await rejection(() =>
          generate(model, prompts, {
            maxNewTokens: 5,
            numBeams: 2,
            useCache,
            signal: beams.signal,
            logitsProcessors: [
              (l, { step }) => {
                if (step === 1) beams.abort();
                return tf.clone(l);
              },
            ],
          }),
        );
        expect((e2 as Error).name).toBe('AbortError');
      }
    }
  });

  it('an unaborted signal changes nothing', async () => {
    const signal = new AbortController().signal;
    const plain = await generate(lm, prompts, ok);
    expect(await generate(lm, prompts, { ...ok, signal })).toEqual(plain);
    const beam = await generate(lm, prompts, { ...ok, numBeams: 3 });
    expect(await generate(lm, prompts, { ...ok, numBeams: 3, signal })).toEqual(beam);
  });
}, ['cpu']);
