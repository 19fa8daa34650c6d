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
import {
  checkInteger,
  checkNumber,
  checkOptionKeys,
  describeValue,
  optionKeys,
} from '../internal/checks';
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
  runProcessor,
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
  /**
   * Streaming: called after each step with each row's new token (`null` once
   * a row has stopped). It may be async (the type says `void` so that any
   * function fits): if it returns a promise, the next step waits for it; if
   * it throws or its promise rejects, `generate` rejects with that error
   * (after freeing its tensors). Not called by beam search.
   */
  onToken?: (tokens: Array<number | null>, step: number) => void;
  /** Id used for left padding: a token id the model takes (for an encoder-decoder, in both vocabularies). Default `0`. */
  padId?: number;
  /** Extra logits processors, run after the repetition penalty and before temperature and truncation. */
  logitsProcessors?: LogitsProcessor[];
  /**
   * Stops generation: once it is aborted, `generate` rejects with the
   * signal's `reason` (an `AbortError` by default) before its next step,
   * after freeing its tensors. Default: none.
   */
  signal?: AbortSignal;
};

const GENERATE_OPTION_KEYS = optionKeys<GenerateOptions>({
  maxNewTokens: true,
  temperature: true,
  topK: true,
  topP: true,
  minP: true,
  repetitionPenalty: true,
  stopTokens: true,
  seed: true,
  numBeams: true,
  lengthPenalty: true,
  useCache: true,
  onToken: true,
  padId: true,
  logitsProcessors: true,
  signal: true,
});

const DECODER_LM_MODEL_KEYS = optionKeys<Extract<GenerationModel, { kind: 'decoderLm' }>>({
  kind: true,
  config: true,
  params: true,
});

const ENCODER_DECODER_MODEL_KEYS = optionKeys<Extract<GenerationModel, { kind: 'encoderDecoder' }>>(
  { kind: true, config: true, params: true, decoderStartId: true },
);

/**
 * The widest beam search `generate` runs. Each step feeds every beam through
 * the model and keeps up to `numBeams × (numBeams + stop tokens)` candidates
 * in JS, so the cost grows with the square of the width; published beam
 * search uses 1 to about 100 beams, and wider beams are known to lower the
 * quality of the output rather than raise it. 1024 leaves room for
 * exhaustive searches over short continuations (12² = 144 beams cover every
 * 2-token continuation of a 12-token vocabulary) while a typo such as `5e7`
 * fails at the call instead of ending the process with an out-of-memory abort.
 */
const MAX_BEAMS = 1024;

/** A processor with the option that put it there, for messages. */
type NamedProcessor = { name: string; run: LogitsProcessor };

type Checked = {
  maxNewTokens: number;
  processors: NamedProcessor[];
  greedy: boolean;
  random: () => number;
  stop: Set<number>;
  numBeams: number | undefined;
  lengthPenalty: number;
  useCache: boolean;
  padId: number;
  onToken: GenerateOptions['onToken'];
  signal: AbortSignal | undefined;
};

/** Checks the model record and reads the sizes generation checks ids against. */
function checkModel(
  fn: string,
  model: GenerationModel,
): { input: number; output: number; maxLength: number } {
  if (model === null || typeof model !== 'object') {
    throw new TfjsBlocksError(
      fn,
      'model',
      "a {kind: 'decoderLm' | 'encoderDecoder', config, params} record",
      describeValue(model),
    );
  }
  const kind: unknown = model.kind;
  if (kind !== 'decoderLm' && kind !== 'encoderDecoder') {
    throw new TfjsBlocksError(
      fn,
      'model.kind',
      "'decoderLm' or 'encoderDecoder'",
      describeValue(kind),
    );
  }
  checkOptionKeys(
    fn,
    model,
    kind === 'decoderLm' ? DECODER_LM_MODEL_KEYS : ENCODER_DECODER_MODEL_KEYS,
    'model',
  );
  const config: unknown = model.config;
  if (config === null || typeof config !== 'object') {
    throw new TfjsBlocksError(fn, 'model.config', 'a model config', describeValue(config));
  }
  // The model functions check the config again; these sizes are used first, here.
  const size = (name: string, value: unknown) => checkInteger(fn, `model.config.${name}`, value, 1);
  const maxLength = size('maxLength', model.config.maxLength);
  if (model.kind === 'decoderLm') {
    const vocab = size('vocabSize', model.config.vocabSize);
    return { input: vocab, output: vocab, maxLength };
  }
  const sizes = {
    input: size('sourceVocabSize', model.config.sourceVocabSize),
    output: size('targetVocabSize', model.config.targetVocabSize),
    maxLength,
  };
  checkTokenId(fn, 'model.decoderStartId', model.decoderStartId, sizes.output);
  return sizes;
}

/** Throws unless `id` is an integer in `[0, vocab)`. */
function checkTokenId(fn: string, name: string, id: unknown, vocab: number): number {
  if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= vocab) {
    throw new TfjsBlocksError(fn, name, `a token id in [0, ${vocab})`, describeValue(id));
  }
  return id;
}

/**
 * Throws unless `list` is an array; returns its entries, each checked by
 * `check(entry, name)`. Walks every index, so a hole (`[1, , 3]`, which
 * `forEach` and `some` skip) is named as one instead of passing as
 * `undefined`.
 */
function checkList<T>(
  fn: string,
  name: string,
  list: unknown,
  expected: string,
  check: (entry: unknown, entryName: string) => T,
): T[] {
  if (!Array.isArray(list)) throw new TfjsBlocksError(fn, name, expected, describeValue(list));
  const out: T[] = [];
  for (let i = 0; i < list.length; i++) {
    const entryName = `${name}[${i}]`;
    if (!(i in list)) {
      throw new TfjsBlocksError(fn, entryName, expected, 'a hole (an empty array slot)');
    }
    out.push(check(list[i], entryName));
  }
  return out;
}

function checkOptions(
  model: GenerationModel,
  prompts: number[][],
  options: GenerateOptions,
): Checked {
  const fn = 'generate';
  const { input, output, maxLength } = checkModel(fn, model);
  checkOptionKeys(fn, options, GENERATE_OPTION_KEYS);
  if (options === undefined) {
    throw new TfjsBlocksError(fn, 'options', 'an options object with maxNewTokens', 'undefined');
  }
  const promptsExpected = 'a non-empty array of token-id arrays';
  if (Array.isArray(prompts) && prompts.length === 0) {
    throw new TfjsBlocksError(fn, 'prompts', promptsExpected, 'an empty array');
  }
  checkList(fn, 'prompts', prompts, promptsExpected, (prompt, name) => {
    if (Array.isArray(prompt) && prompt.length === 0) {
      throw new TfjsBlocksError(fn, name, 'a non-empty array of token ids', 'an empty prompt');
    }
    return checkList(fn, name, prompt, 'an array of token ids', (id, idName) =>
      checkTokenId(fn, idName, id, input),
    );
  });
  const maxNewTokens = checkInteger(fn, 'options.maxNewTokens', options.maxNewTokens, 1);
  const longest = prompts.reduce((most, p) => Math.max(most, p.length), 0);
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
  // Stop tokens are ids the model can emit: any other could never stop a row.
  const stopTokens = checkList(
    fn,
    'options.stopTokens',
    options.stopTokens ?? [],
    'an array of token ids',
    (id, name) => checkTokenId(fn, name, id, output),
  );
  const logitsProcessors = checkList(
    fn,
    'options.logitsProcessors',
    options.logitsProcessors ?? [],
    'an array of functions',
    (p, name) => {
      if (typeof p !== 'function')
        throw new TfjsBlocksError(fn, name, 'a function', describeValue(p));
      return { name, run: p as LogitsProcessor };
    },
  );
  if (options.onToken !== undefined && typeof options.onToken !== 'function') {
    throw new TfjsBlocksError(fn, 'options.onToken', 'a function', describeValue(options.onToken));
  }
  const useCache = options.useCache ?? true;
  if (typeof useCache !== 'boolean') {
    throw new TfjsBlocksError(fn, 'options.useCache', 'a boolean', describeValue(useCache));
  }
  const signal = options.signal;
  if (
    signal !== undefined &&
    (signal === null ||
      typeof signal !== 'object' ||
      typeof (signal as { aborted?: unknown }).aborted !== 'boolean')
  ) {
    throw new TfjsBlocksError(fn, 'options.signal', 'an AbortSignal', describeValue(signal));
  }
  let numBeams: number | undefined;
  if (options.numBeams !== undefined) {
    numBeams = checkInteger(fn, 'options.numBeams', options.numBeams, 1);
    if (numBeams > MAX_BEAMS) {
      throw new TfjsBlocksError(
        fn,
        'options.numBeams',
        `an integer from 1 to at most ${MAX_BEAMS}`,
        String(numBeams),
      );
    }
  }
  // Padding goes through the embedding: of the sources, and for an
  // encoder-decoder also of the decoder (the input of a row that has stopped).
  const padId = checkTokenId(
    fn,
    'options.padId',
    options.padId ?? 0,
    model.kind === 'decoderLm' ? input : Math.min(input, output),
  );
  const processors: NamedProcessor[] = [];
  const add = (name: string, run: LogitsProcessor) => processors.push({ name, run });
  if (options.repetitionPenalty !== undefined)
    add('options.repetitionPenalty', repetitionPenaltyProcessor(options.repetitionPenalty));
  processors.push(...logitsProcessors);
  if (temperature > 0 && temperature !== 1)
    add('options.temperature', temperatureProcessor(temperature));
  if (options.topK !== undefined) add('options.topK', topKProcessor(options.topK));
  if (options.topP !== undefined) add('options.topP', topPProcessor(options.topP));
  if (options.minP !== undefined) add('options.minP', minPProcessor(options.minP));
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
  return {
    maxNewTokens,
    processors,
    greedy: temperature === 0,
    random: seededRandom(seed),
    stop: new Set(stopTokens),
    numBeams,
    lengthPenalty: checkNumber(fn, 'options.lengthPenalty', options.lengthPenalty ?? 1),
    useCache,
    padId,
    onToken: options.onToken,
    signal,
  };
}

/** Throws the signal's reason (an `AbortError` if it has none) once it is aborted. */
function throwIfAborted(signal: AbortSignal | undefined): void {
  if (!signal?.aborted) return;
  const reason: unknown = signal.reason;
  if (reason !== undefined) throw reason;
  const error = new Error('generate: aborted');
  error.name = 'AbortError';
  throw error;
}

/** `make()`; if it throws, `release()` first: a decoder frees what it allocated when its prefill fails. */
function orRelease<T>(make: () => T, release: () => void): T {
  try {
    return make();
  } catch (e) {
    release();
    throw e;
  }
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

function longestLength(rows: number[][]): number {
  return rows.reduce((most, row) => Math.max(most, row.length), 0);
}

function leftPad(prompts: number[][], padId: number) {
  const width = longestLength(prompts);
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
      first: orRelease(
        () => advance(ids, valid),
        () => disposeKvCache(cache),
      ),
      next: (tokens) =>
        advance(
          tokens.map((t) => [t]),
          tokens.map(() => [true]),
        ),
      reorder(rows) {
        const layers = tidy(() => {
          const index = tensor1d(rows, 'int32');
          return cache.layers.map((l) => ({
            key: gather(l.key, index),
            value: gather(l.value, index),
          }));
        });
        disposeKvCache(cache);
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
  const width = longestLength(sources);
  const sourceValid = sources.map((s) => [
    ...s.map(() => true),
    ...new Array<boolean>(width - s.length).fill(false),
  ]);
  const sourceIds = sources.map((s) => [
    ...s,
    ...new Array<number>(width - s.length).fill(o.padId),
  ]);
  let sourceMask = tensor(sourceValid.flat(), [sources.length, width], 'bool');
  let memory = orRelease(
    () =>
      tidy(() => encode(config, params, tensor2d(sourceIds, undefined, 'int32'), { sourceMask })),
    () => sourceMask.dispose(),
  );
  const release = () => dispose([memory, sourceMask]);
  let targets = sources.map(() => [decoderStartId]);
  if (o.useCache) {
    let cache = orRelease(
      () => initEncoderDecoderCache(config, params, memory, sourceValid, 1 + o.maxNewTokens),
      release,
    );
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
      first: orRelease(
        () => advance(targets.map((t) => t[0]!)),
        () => {
          disposeKvCache(cache);
          release();
        },
      ),
      next: advance,
      reorder(rows) {
        const { layers, cross } = tidy(() => {
          const index = tensor1d(rows, 'int32');
          const pick = (l: { key: Tensor; value: Tensor }) => ({
            key: gather(l.key, index),
            value: gather(l.value, index),
          });
          return {
            layers: cache.layers.map(pick) as KvCache['layers'],
            cross: cache.cross!.map(pick) as KvCache['layers'],
          };
        });
        disposeKvCache(cache);
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
        release();
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
    first: orRelease(run, release),
    next(tokens) {
      targets = targets.map((row, b) => [...row, tokens[b]!]);
      return run();
    },
    reorder(rows) {
      targets = rows.map((r) => targets[r]!.slice());
      const [m, s] = tidy(() => {
        const index = tensor1d(rows, 'int32');
        return [gather(memory, index) as Tensor3D, gather(sourceMask, index)];
      });
      release();
      memory = m;
      sourceMask = s;
    },
    dispose: release,
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
 * tensor the caller owns. Each processor must return a float32 tensor of
 * the logits' shape (a {@link TfjsBlocksError} names it otherwise).
 * Disposes its intermediates, also when a processor or a read throws.
 */
async function processLogits(
  logits: Tensor2D,
  processors: NamedProcessor[],
  context: LogitsProcessorContext,
): Promise<Tensor2D> {
  let current = logits;
  try {
    for (const { name, run } of processors) {
      await current.data();
      current = runProcessor('generate', name, run, current, context, logits);
    }
    await current.data();
    return current;
  } catch (e) {
    if (current !== logits) dispose(current);
    throw e;
  }
}

async function sampleLoop(model: GenerationModel, prompts: number[][], o: Checked) {
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
      // Awaited: an async onToken paces the loop, and its rejection rejects generate.
      await o.onToken?.(emitted, step);
      if (finished.every(Boolean) || step === o.maxNewTokens - 1) break;
      throwIfAborted(o.signal);
      logits = decoder.next(tokens.map((t, b) => (finished[b] ? o.padId : t)));
      // A macrotask between tokens: timers and I/O run, a streaming page paints.
      await nextTask();
      throwIfAborted(o.signal);
    }
  } finally {
    if (logits) logits.dispose();
    decoder.dispose();
  }
  return generated;
}

/**
 * The ids of the `count` highest `scores` above `-Infinity` (all of them if
 * fewer), the lower id first among equal scores at the cut, in id order.
 */
function bestTokens(scores: Float64Array, count: number): number[] {
  const valid: number[] = [];
  for (let i = 0; i < scores.length; i++) if (scores[i]! > -Infinity) valid.push(i);
  if (valid.length <= count) return valid;
  // Ascending; the cut is the count-th largest score.
  const sorted = Float64Array.from(valid, (i) => scores[i]!).sort();
  const cut = sorted[valid.length - count]!;
  let ties = count;
  for (let j = valid.length - count; j < valid.length; j++) if (sorted[j]! > cut) ties--;
  const best: number[] = [];
  for (const i of valid) {
    const s = scores[i]!;
    if (s > cut) best.push(i);
    else if (s === cut && ties > 0) {
      best.push(i);
      ties--;
    }
  }
  return best;
}

type Hypothesis = { tokens: number[]; score: number };

async function beamSearch(
  model: GenerationModel,
  prompt: number[],
  o: Checked,
  beams: number,
): Promise<number[]> {
  // The prompt runs once, as one row; the first reorder copies it to the beams.
  const decoder = makeDecoder(model, [prompt], o);
  let live: Hypothesis[] = [{ tokens: [], score: 0 }];
  const done: Hypothesis[] = [];
  const normalised = (h: Hypothesis) => h.score / Math.max(1, h.tokens.length) ** o.lengthPenalty;
  // Of each row, the loop below can take at most `beams` tokens that go on and
  // every stop token: no other candidate of that row can be reached.
  const perRow = beams + o.stop.size;
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
      let values: Float32Array;
      try {
        // Asynchronous, as in processLogits: no synchronous GPU readback on WebGPU.
        values = (await logProbs.data()) as Float32Array;
      } finally {
        logProbs.dispose();
      }
      const vocab = logits.shape[1];
      logits.dispose();
      logits = undefined;
      const candidates: Array<{ beam: number; token: number; score: number }> = [];
      const scores = new Float64Array(vocab);
      live.forEach((h, beam) => {
        for (let token = 0; token < vocab; token++) {
          scores[token] = h.score + values[beam * vocab + token]!;
        }
        for (const token of bestTokens(scores, perRow)) {
          candidates.push({ beam, token, score: scores[token]! });
        }
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
      throwIfAborted(o.signal);
      decoder.reorder(next.map((c) => c.beam));
      logits = decoder.next(next.map((c) => c.token));
      await nextTask();
      throwIfAborted(o.signal);
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
 * Never throws at the call: invalid input (including an unknown option key)
 * rejects the promise with a {@link TfjsBlocksError}; an error of a
 * processor, of `onToken` or of the model, or an aborted `signal`, rejects
 * it with that error. Whichever way it ends, it leaves no tensor behind but
 * none: it allocates no output tensors.
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
export async function generate(
  model: GenerationModel,
  prompts: number[][],
  options: GenerateOptions,
): Promise<number[][]> {
  // An async function: a bad argument rejects the promise rather than throwing at the call.
  const checked = checkOptions(model, prompts, options);
  throwIfAborted(checked.signal);
  const beams = checked.numBeams;
  if (beams === undefined) return sampleLoop(model, prompts, checked);
  const results: number[][] = [];
  for (const prompt of prompts) {
    results.push(await beamSearch(model, prompt, checked, beams));
    throwIfAborted(checked.signal);
  }
  return results;
}
