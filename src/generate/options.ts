/**
 * What `generate` accepts, and the one pass that checks it: the model record,
 * the prompts and every option, turned into the {@link CheckedOptions} the
 * decoding loops read (processors in order, the sampler, stop set, bounds).
 */
import { TfjsBlocksError } from '../errors';
import {
  checkInteger,
  checkNumber,
  checkOptionKeys,
  describeEntry,
  describeValue,
  optionKeys,
} from '../internal/checks';
import type { DecoderLmConfig, DecoderLmParams } from '../models/decoder-lm';
import type { EncoderDecoderConfig, EncoderDecoderParams } from '../models/encoder-decoder';
import {
  type LogitsProcessor,
  minPProcessor,
  repetitionPenaltyProcessor,
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
export const MAX_BEAMS = 1024;

/** A processor with the option that put it there, for messages. */
export type NamedProcessor = { name: string; run: LogitsProcessor };

/** The options after {@link checkGenerateOptions}: what the decoding loops read. */
export type CheckedOptions = {
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
export function checkTokenId(fn: string, name: string, id: unknown, vocab: number): number {
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
    if (!(i in list)) throw new TfjsBlocksError(fn, entryName, expected, describeEntry(list, i));
    out.push(check(list[i], entryName));
  }
  return out;
}

/**
 * Checks `generate`'s arguments, all before any tensor is made, so a bad one
 * fails at the call with a {@link TfjsBlocksError} naming it (never as a
 * TypeError later in the loop), and builds the processor chain and sampler.
 */
export function checkGenerateOptions(
  model: GenerationModel,
  prompts: number[][],
  options: GenerateOptions,
): CheckedOptions {
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
