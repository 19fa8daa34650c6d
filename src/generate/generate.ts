import {
  dispose,
  gather,
  logSoftmax,
  reshape,
  slice,
  type Tensor,
  type Tensor2D,
  type Tensor3D,
  tensor,
  tensor1d,
  tensor2d,
  tidy,
} from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import { checkInteger, checkNumber } from '../internal/checks';
import { nextTask } from '../internal/next-task';
import { type DecoderLmConfig, type DecoderLmParams, decoderLm } from '../models/decoder-lm';
import {
  decode,
  type EncoderDecoderConfig,
  type EncoderDecoderParams,
  encode,
} from '../models/encoder-decoder';
import {
  decoderLmStep,
  disposeKvCache,
  encoderDecoderStep,
  initDecoderLmCache,
  initEncoderDecoderCache,
  type KvCache,
} from './kv-cache';
import {
  greedyTokens,
  type LogitsProcessor,
  type LogitsProcessorContext,
  minPProcessor,
  repetitionPenaltyProcessor,
  sampleTokens,
  seededRandom,
  temperatureProcessor,
  topKProcessor,
  topPProcessor,
} from './logits-processors';

/** A model `generate` can run: a decoder-only LM, or an encoder-decoder with its decoder start token. */
export type GenerationModel =
  | {
      /** Decoder-only language model. */
      kind: 'decoderLm';
      /** Its config. */
      config: DecoderLmConfig;
      /** Its params. */
      params: DecoderLmParams;
    }
  | {
      /** Encoder-decoder: prompts are source sequences. */
      kind: 'encoderDecoder';
      /** Its config. */
      config: EncoderDecoderConfig;
      /** Its params. */
      params: EncoderDecoderParams;
      /** The token the decoder starts from. */
      decoderStartId: number;
    };

/** Options of {@link generate}. */
export type GenerateOptions = {
  /** Tokens to generate at most, per prompt. */
  maxNewTokens: number;
  /** Softmax temperature; `0` picks the arg-max (greedy). Default `1`. */
  temperature?: number;
  /** Keep the k most likely tokens. Default off. */
  topK?: number;
  /** Nucleus sampling: the smallest set with this much probability. Default off. */
  topP?: number;
  /** Keep tokens with at least this fraction of the top probability. Default off. */
  minP?: number;
  /** CTRL's repetition penalty (> 1 discourages repeats). Default off. */
  repetitionPenalty?: number;
  /** Stop a row when it emits one of these (not included in the output). Default none. */
  stopTokens?: number[];
  /** Seed of the sampler; the same seed gives the same output. Default: random. */
  seed?: number;
  /** Beam search with this many beams (1 = greedy search); sampling options other than `logitsProcessors` and `repetitionPenalty` are ignored. Default: no beam search. */
  numBeams?: number;
  /** Beam scores are divided by `length^lengthPenalty`. Default `1`. */
  lengthPenalty?: number;
  /** Decode with the key/value cache. Default `true`. */
  useCache?: boolean;
  /** Streaming: called after each step with each row's new token (`null` once a row has stopped). Not called by beam search. */
  onToken?: (tokens: Array<number | null>, step: number) => void;
  /** Id used for left padding. Default `0`. */
  padId?: number;
  /** Extra logits processors, run after the repetition penalty and before temperature and truncation. */
  logitsProcessors?: LogitsProcessor[];
};

type Checked = {
  maxNewTokens: number;
  processors: LogitsProcessor[];
  greedy: boolean;
  random: () => number;
  stop: Set<number>;
  numBeams: number | undefined;
  lengthPenalty: number;
  useCache: boolean;
  padId: number;
};

function vocabularies(model: GenerationModel): {
  input: number;
  output: number;
  maxLength: number;
} {
  return model.kind === 'decoderLm'
    ? {
        input: model.config.vocabSize,
        output: model.config.vocabSize,
        maxLength: model.config.maxLength,
      }
    : {
        input: model.config.sourceVocabSize,
        output: model.config.targetVocabSize,
        maxLength: model.config.maxLength,
      };
}

function checkOptions(
  model: GenerationModel,
  prompts: number[][],
  options: GenerateOptions,
): Checked {
  const fn = 'generate';
  if (!Array.isArray(prompts) || prompts.length === 0) {
    throw new TfjsBlocksError(
      fn,
      'prompts',
      'a non-empty array of token-id arrays',
      String(prompts),
    );
  }
  const { input, maxLength } = vocabularies(model);
  prompts.forEach((prompt, b) => {
    if (!Array.isArray(prompt) || prompt.length === 0) {
      throw new TfjsBlocksError(
        fn,
        `prompts[${b}]`,
        'a non-empty array of token ids',
        Array.isArray(prompt) ? 'an empty prompt' : String(prompt),
      );
    }
    prompt.forEach((id, i) => {
      if (!Number.isInteger(id) || id < 0 || id >= input) {
        throw new TfjsBlocksError(
          fn,
          `prompts[${b}][${i}]`,
          `a token id in [0, ${input})`,
          String(id),
        );
      }
    });
  });
  const maxNewTokens = checkInteger(fn, 'options.maxNewTokens', options.maxNewTokens, 1);
  const longest = Math.max(...prompts.map((p) => p.length));
  const needed = model.kind === 'decoderLm' ? longest + maxNewTokens : maxNewTokens;
  if (model.kind === 'encoderDecoder' && longest > maxLength) {
    throw new TfjsBlocksError(
      fn,
      'prompts',
      `sources of at most config.maxLength = ${maxLength} tokens`,
      `one of ${longest}`,
    );
  }
  if (needed > maxLength) {
    throw new TfjsBlocksError(
      fn,
      'options.maxNewTokens',
      `at most ${maxLength - (needed - maxNewTokens)} (the model's context of ${maxLength}${model.kind === 'decoderLm' ? ` minus the longest prompt, ${longest}` : ''})`,
      String(maxNewTokens),
    );
  }
  const temperature = checkNumber(fn, 'options.temperature', options.temperature ?? 1, { min: 0 });
  // Options used only later (in the loop, or spread) are checked here too, so
  // a bad one fails at the call with a TfjsBlocksError, not as a TypeError.
  const stopTokens = options.stopTokens ?? [];
  if (!Array.isArray(stopTokens)) {
    throw new TfjsBlocksError(
      fn,
      'options.stopTokens',
      'an array of token ids',
      String(stopTokens),
    );
  }
  stopTokens.forEach((id, i) => {
    checkInteger(fn, `options.stopTokens[${i}]`, id, 0);
  });
  const logitsProcessors = options.logitsProcessors ?? [];
  if (!Array.isArray(logitsProcessors) || logitsProcessors.some((p) => typeof p !== 'function')) {
    throw new TfjsBlocksError(
      fn,
      'options.logitsProcessors',
      'an array of functions',
      String(logitsProcessors),
    );
  }
  if (options.onToken !== undefined && typeof options.onToken !== 'function') {
    throw new TfjsBlocksError(fn, 'options.onToken', 'a function', String(options.onToken));
  }
  const useCache = options.useCache ?? true;
  if (typeof useCache !== 'boolean') {
    throw new TfjsBlocksError(fn, 'options.useCache', 'a boolean', String(useCache));
  }
  const processors: LogitsProcessor[] = [];
  if (options.repetitionPenalty !== undefined)
    processors.push(repetitionPenaltyProcessor(options.repetitionPenalty));
  processors.push(...logitsProcessors);
  if (temperature > 0 && temperature !== 1) processors.push(temperatureProcessor(temperature));
  if (options.topK !== undefined) processors.push(topKProcessor(options.topK));
  if (options.topP !== undefined) processors.push(topPProcessor(options.topP));
  if (options.minP !== undefined) processors.push(minPProcessor(options.minP));
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
  return {
    maxNewTokens,
    processors,
    greedy: temperature === 0,
    random: seededRandom(seed),
    stop: new Set(stopTokens),
    numBeams:
      options.numBeams === undefined
        ? undefined
        : checkInteger(fn, 'options.numBeams', options.numBeams, 1),
    lengthPenalty: checkNumber(fn, 'options.lengthPenalty', options.lengthPenalty ?? 1),
    useCache,
    padId: checkInteger(fn, 'options.padId', options.padId ?? 0, 0),
  };
}

/**
 * Runs a model step by step: `next(tokens)` feeds one new token per row and
 * returns the next logits `[rows, vocab]`; `reorder(rows)` keeps the given
 * rows (beam search). Cached and uncached decoding implement the same
 * interface, so the loop cannot tell them apart.
 */
type Decoder = {
  /** Logits after the prompt, `[rows, vocab]`. */
  first: Tensor2D;
  next(tokens: number[]): Tensor2D;
  reorder(rows: number[]): void;
  dispose(): void;
};

function lastPosition(logits: Tensor3D): Tensor2D {
  const [rows, time, vocab] = logits.shape;
  return reshape(slice(logits, [0, time - 1, 0], [rows, 1, vocab]), [rows, vocab]) as Tensor2D;
}

function leftPad(prompts: number[][], padId: number) {
  const width = Math.max(...prompts.map((p) => p.length));
  return {
    ids: prompts.map((p) => [...new Array<number>(width - p.length).fill(padId), ...p]),
    valid: prompts.map((p) => [
      ...new Array<boolean>(width - p.length).fill(false),
      ...p.map(() => true),
    ]),
  };
}

function decoderLmDecoder(
  model: Extract<GenerationModel, { kind: 'decoderLm' }>,
  prompts: number[][],
  o: Checked,
): Decoder {
  const { config, params } = model;
  let { ids, valid } = leftPad(prompts, o.padId);
  if (o.useCache) {
    let cache: KvCache = initDecoderLmCache(params, ids.length, ids[0]!.length + o.maxNewTokens);
    const advance = (tokens: number[][], newValid: boolean[][]) => {
      const { logits, cache: next } = tidy(() => {
        const r = decoderLmStep(
          config,
          params,
          tensor2d(tokens, undefined, 'int32'),
          cache,
          newValid,
        );
        return { logits: lastPosition(r.logits), cache: r.cache };
      });
      disposeKvCache(cache);
      cache = next;
      return logits;
    };
    return {
      first: advance(ids, valid),
      next: (tokens) =>
        advance(
          tokens.map((t) => [t]),
          tokens.map(() => [true]),
        ),
      reorder(rows) {
        const index = tensor1d(rows, 'int32');
        const layers = cache.layers.map((l) => ({
          key: gather(l.key, index),
          value: gather(l.value, index),
        }));
        disposeKvCache(cache);
        index.dispose();
        cache = {
          ...cache,
          layers,
          keyValid: rows.map((r) => cache.keyValid[r]!.slice()),
          realTokens: rows.map((r) => cache.realTokens[r]!),
        };
      },
      dispose: () => disposeKvCache(cache),
    };
  }
  // Without the cache: the whole sequence again at every step.
  const run = () =>
    tidy(() => {
      const positions = valid.map((row) => {
        let seen = 0;
        return row.map((ok) => (ok ? seen++ : seen));
      });
      const logits = decoderLm(config, params, tensor2d(ids, undefined, 'int32'), {
        paddingMask: tensor(valid.flat(), [valid.length, valid[0]!.length], 'bool'),
        positionIds: tensor2d(positions, undefined, 'int32'),
      });
      return lastPosition(logits);
    });
  return {
    first: run(),
    next(tokens) {
      ids = ids.map((row, b) => [...row, tokens[b]!]);
      valid = valid.map((row) => [...row, true]);
      return run();
    },
    reorder(rows) {
      ids = rows.map((r) => ids[r]!.slice());
      valid = rows.map((r) => valid[r]!.slice());
    },
    dispose() {},
  };
}

function encoderDecoderDecoder(
  model: Extract<GenerationModel, { kind: 'encoderDecoder' }>,
  sources: number[][],
  o: Checked,
): Decoder {
  const { config, params, decoderStartId } = model;
  const width = Math.max(...sources.map((s) => s.length));
  const sourceValid = sources.map((s) => [
    ...s.map(() => true),
    ...new Array<boolean>(width - s.length).fill(false),
  ]);
  const sourceIds = sources.map((s) => [
    ...s,
    ...new Array<number>(width - s.length).fill(o.padId),
  ]);
  let sourceMask = tensor(sourceValid.flat(), [sources.length, width], 'bool');
  let memory = tidy(() =>
    encode(config, params, tensor2d(sourceIds, undefined, 'int32'), { sourceMask }),
  );
  let targets = sources.map(() => [decoderStartId]);
  if (o.useCache) {
    let cache = initEncoderDecoderCache(config, params, memory, sourceValid, 1 + o.maxNewTokens);
    const advance = (tokens: number[]) => {
      const { logits, cache: next } = tidy(() => {
        const r = encoderDecoderStep(
          config,
          params,
          tensor2d(
            tokens.map((t) => [t]),
            undefined,
            'int32',
          ),
          cache,
        );
        return { logits: lastPosition(r.logits), cache: r.cache };
      });
      disposeKvCache(cache, true);
      cache = next;
      return logits;
    };
    return {
      first: advance(targets.map((t) => t[0]!)),
      next: advance,
      reorder(rows) {
        const index = tensor1d(rows, 'int32');
        const pick = (l: { key: Tensor; value: Tensor }) => ({
          key: gather(l.key, index),
          value: gather(l.value, index),
        });
        const layers = cache.layers.map(pick) as KvCache['layers'];
        const cross = cache.cross!.map(pick) as KvCache['layers'];
        disposeKvCache(cache);
        index.dispose();
        cache = {
          ...cache,
          layers,
          cross,
          keyValid: rows.map((r) => cache.keyValid[r]!.slice()),
          realTokens: rows.map((r) => cache.realTokens[r]!),
          sourceValid: rows.map((r) => cache.sourceValid![r]!.slice()),
        };
      },
      dispose() {
        disposeKvCache(cache);
        dispose([memory, sourceMask]);
      },
    };
  }
  const run = () =>
    tidy(() =>
      lastPosition(
        decode(config, params, tensor2d(targets, undefined, 'int32'), memory, { sourceMask }),
      ),
    );
  return {
    first: run(),
    next(tokens) {
      targets = targets.map((row, b) => [...row, tokens[b]!]);
      return run();
    },
    reorder(rows) {
      targets = rows.map((r) => targets[r]!.slice());
      const index = tensor1d(rows, 'int32');
      const [m, s] = [gather(memory, index) as Tensor3D, gather(sourceMask, index)];
      dispose([memory, sourceMask, index]);
      memory = m;
      sourceMask = s;
    },
    dispose: () => dispose([memory, sourceMask]),
  };
}

function makeDecoder(model: GenerationModel, prompts: number[][], o: Checked): Decoder {
  return model.kind === 'decoderLm'
    ? decoderLmDecoder(model, prompts, o)
    : encoderDecoderDecoder(model, prompts, o);
}

/**
 * Runs `processors` in order on `logits`, as `applyLogitsProcessors` does,
 * but reads the logits with `await data()` before each processor and once
 * at the end, so that the processors' and the token pickers' `dataSync`
 * find the values already on the CPU. On WebGPU a synchronous read of a
 * tensor that is only on the GPU goes through a canvas: slow, and on some
 * adapters (SwiftShader) it returns zeros and loses the device; `data()`
 * downloads asynchronously and leaves a CPU copy behind. Never disposes
 * `logits`; returns it unchanged when there are no processors, else a
 * tensor the caller owns. Disposes its intermediates, also when a processor
 * or a read throws.
 */
async function processLogits(
  logits: Tensor2D,
  processors: LogitsProcessor[],
  context: LogitsProcessorContext,
): Promise<Tensor2D> {
  let current = logits;
  try {
    for (const processor of processors) {
      await current.data();
      const next = processor(current, context);
      // A processor that breaks the contract and returns its input must not lose it.
      if (current !== logits && current !== next) dispose(current);
      current = next;
    }
    await current.data();
    return current;
  } catch (e) {
    if (current !== logits) dispose(current);
    throw e;
  }
}

async function sampleLoop(
  model: GenerationModel,
  prompts: number[][],
  o: Checked,
  onToken: GenerateOptions['onToken'],
) {
  const decoder = makeDecoder(model, prompts, o);
  const generated: number[][] = prompts.map(() => []);
  const finished = prompts.map(() => false);
  let logits: Tensor2D | undefined = decoder.first;
  try {
    for (let step = 0; step < o.maxNewTokens && logits; step++) {
      const context = {
        tokens: prompts.map((p, b) => [...(model.kind === 'decoderLm' ? p : []), ...generated[b]!]),
        step,
      };
      const processed = await processLogits(logits, o.processors, context);
      let tokens: number[];
      try {
        tokens = o.greedy ? greedyTokens(processed) : sampleTokens(processed, o.random);
      } finally {
        if (processed !== logits) processed.dispose();
      }
      logits.dispose();
      logits = undefined;
      const emitted = tokens.map((t, b) => {
        if (finished[b]) return null;
        if (o.stop.has(t)) {
          finished[b] = true;
          return null;
        }
        generated[b]!.push(t);
        return t;
      });
      onToken?.(emitted, step);
      if (finished.every(Boolean) || step === o.maxNewTokens - 1) break;
      logits = decoder.next(tokens.map((t, b) => (finished[b] ? o.padId : t)));
      // A macrotask between tokens: timers and I/O run, a streaming page paints.
      await nextTask();
    }
  } finally {
    if (logits) logits.dispose();
    decoder.dispose();
  }
  return generated;
}

type Hypothesis = { tokens: number[]; score: number };

async function beamSearch(
  model: GenerationModel,
  prompt: number[],
  o: Checked,
  beams: number,
): Promise<number[]> {
  const decoder = makeDecoder(model, new Array(beams).fill(prompt), o);
  // Only beam 0 is live at first, so the identical copies do not fill the beam.
  let live: Hypothesis[] = Array.from({ length: beams }, (_, i) => ({
    tokens: [],
    score: i === 0 ? 0 : -Infinity,
  }));
  const done: Hypothesis[] = [];
  const normalised = (h: Hypothesis) => h.score / Math.max(1, h.tokens.length) ** o.lengthPenalty;
  let logits: Tensor2D | undefined = decoder.first;
  try {
    for (let step = 0; step < o.maxNewTokens && logits; step++) {
      const processed = await processLogits(logits, o.processors, {
        tokens: live.map((h) => [...prompt, ...h.tokens]),
        step,
      });
      let logProbs: Tensor2D;
      try {
        logProbs = tidy(() => logSoftmax(processed));
      } finally {
        if (processed !== logits) processed.dispose();
      }
      let values: number[][];
      try {
        // Asynchronous, as in processLogits: no synchronous GPU readback on WebGPU.
        values = (await logProbs.array()) as number[][];
      } finally {
        logProbs.dispose();
      }
      logits.dispose();
      logits = undefined;
      const candidates: Array<{ beam: number; token: number; score: number }> = [];
      values.forEach((row, beam) => {
        row.forEach((lp, token) => {
          const score = live[beam]!.score + lp;
          if (score > -Infinity) candidates.push({ beam, token, score });
        });
      });
      candidates.sort((a, b) => b.score - a.score || a.beam - b.beam || a.token - b.token);
      const next: Array<{ beam: number; token: number; score: number }> = [];
      for (const c of candidates) {
        if (o.stop.has(c.token)) {
          done.push({ tokens: live[c.beam]!.tokens, score: c.score });
        } else {
          next.push(c);
        }
        if (next.length === beams) break;
      }
      if (done.length >= beams || next.length === 0) break;
      live = next.map((c) => ({ tokens: [...live[c.beam]!.tokens, c.token], score: c.score }));
      if (step === o.maxNewTokens - 1) break;
      decoder.reorder(next.map((c) => c.beam));
      logits = decoder.next(next.map((c) => c.token));
      await nextTask();
    }
  } finally {
    if (logits) logits.dispose();
    decoder.dispose();
  }
  const hypotheses = [...done, ...live.filter((h) => h.score > -Infinity)];
  hypotheses.sort((a, b) => normalised(b) - normalised(a));
  return hypotheses[0]!.tokens;
}

/**
 * Generates tokens from a decoder-only or encoder-decoder model: greedy
 * (`temperature: 0`), sampled (temperature, top-k, top-p, min-p, repetition
 * penalty, or your own {@link LogitsProcessor}s; seeded), or beam search
 * (`numBeams`). Prompts of different lengths are left-padded and masked.
 * With `useCache` (the default) the prompt is run once and each new token
 * reuses the cached keys and values.
 *
 * @param prompts - token ids per prompt (the source sequences for an encoder-decoder).
 * @returns the generated ids per prompt, without the prompt and the stop token.
 * @example
 * ```ts
 * const tokenizer = new ByteTokenizer();
 * const sofar: number[] = [];
 * let shown = '';
 * const [ids] = await generate({ kind: 'decoderLm', config, params }, [tokenizer.encode('Once upon')], {
 *   maxNewTokens: 50, temperature: 0.8, topP: 0.95, seed: 1,
 *   onToken: ([t]) => {
 *     if (t === null) return;
 *     sofar.push(t); // decode the whole text: one byte may be half a character
 *     const text = tokenizer.decode(sofar);
 *     process.stdout.write(text.slice(shown.length));
 *     shown = text;
 *   },
 * });
 * ```
 */
export function generate(
  model: GenerationModel,
  prompts: number[][],
  options: GenerateOptions,
): Promise<number[][]> {
  // Checked before the first await, so bad input throws at the call.
  const checked = checkOptions(model, prompts, options);
  const beams = checked.numBeams;
  if (beams !== undefined) {
    return (async () => {
      const results: number[][] = [];
      for (const prompt of prompts) results.push(await beamSearch(model, prompt, checked, beams));
      return results;
    })();
  }
  return sampleLoop(model, prompts, checked, options.onToken);
}
