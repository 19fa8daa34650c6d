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
import type { WithQuantizedKernels } from '../nn/quantized-weights';
import {
  badWordsProcessor,
  checkBadWords,
  type LogitsProcessor,
  minNewTokensProcessor,
  minPProcessor,
  noRepeatNgramProcessor,
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
      /** Its params (the linears' kernels may be quantized: `quantizeParams(…, { kernelsOnly: true })`). */
      params: DecoderLmParams | WithQuantizedKernels<DecoderLmParams>;
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
  /**
   * CTRL's repetition penalty (> 1 discourages repeats), as Hugging Face's
   * `repetition_penalty`: it counts the prompt's ids (never its left padding)
   * and the generated ones (for an encoder-decoder, the decoder's: the start
   * token and the generated ones). Default off.
   */
  repetitionPenalty?: number;
  /** Stop a row when it emits one of these (not included in the output). Default none. */
  stopTokens?: number[];
  /**
   * End-of-sequence id(s), Hugging Face's `eos_token_id`: a row ends when it
   * emits one and, unlike {@link GenerateOptions.stopTokens}, the EOS is kept
   * at the end of its output (as `transformers` returns it). Both end rows
   * alike in every other way (beam search counts the end token in a
   * hypothesis' length, `minNewTokens` holds both back). Default none.
   */
  eosTokenId?: number | number[];
  /** Ban any token that would repeat an n-gram of this many tokens (prompt included); `0` is off. Default off. */
  noRepeatNgramSize?: number;
  /** Hold the end tokens (`eosTokenId`, `stopTokens`) back until this many tokens are generated. Default `0`. */
  minNewTokens?: number;
  /**
   * Token sequences never to generate (Hugging Face's `bad_words_ids`): `[t]`
   * bans `t`; a longer sequence bans its last token after the others. A
   * one-token sequence that is an end token is dropped, as in `transformers`.
   * Default none.
   */
  badWordsIds?: number[][];
  /** Seed of the sampler; the same seed gives the same output. Default: random. */
  seed?: number;
  /** Beam search with this many beams (1 = greedy search); the sampling options (`temperature`, `topK`, `topP`, `minP`, `seed`) are ignored, as in `transformers` without `do_sample`. Default: no beam search. */
  numBeams?: number;
  /**
   * Beam search: a finished hypothesis' score (summed log-probabilities) is
   * divided by `length^lengthPenalty`, the length counting the end token;
   * above 0 favours longer outputs. Default `1`.
   */
  lengthPenalty?: number;
  /**
   * Beam search's stopping rule, as Hugging Face's `early_stopping`: `true`
   * stops a prompt once `numBeams` hypotheses are finished; `false` (the
   * default) also stops once the best live beam, divided by its current
   * length to the `lengthPenalty`, cannot beat the worst finished one;
   * `'never'` does the same with the most favourable length
   * (`maxNewTokens` when `lengthPenalty > 0`). Default `false`.
   */
  earlyStopping?: boolean | 'never';
  /**
   * Outputs per prompt: the best n hypotheses of beam search (n <=
   * `numBeams`), or n samples (not with greedy decoding). The result has
   * `prompts.length * n` rows, prompt by prompt. Default `1`.
   */
  numReturnSequences?: number;
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
  /**
   * A run ledger (`createRunLedger` of the efficiency folder): each call is
   * recorded as one `'inference'` span of the tokens generated (the sum of
   * the returned rows' lengths; prompt tokens are not counted), with its wall
   * time and energy. Nothing is recorded when the call rejects. Default: none.
   */
  ledger?: GenerationLedger;
};

/**
 * What `generate`'s `ledger` option needs: a `RunLedger` (`createRunLedger`)
 * fits; any object with this `start` does.
 *
 * @example
 * ```ts
 * const ledger: GenerationLedger = createRunLedger({ flopsPerToken: 1e6 });
 * ```
 */
export type GenerationLedger = {
  /** Starts an inference span; `end(tokens)` records it. */
  start(kind: 'inference'): { end(tokens: number): unknown };
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
  eosTokenId: true,
  noRepeatNgramSize: true,
  minNewTokens: true,
  badWordsIds: true,
  earlyStopping: true,
  numReturnSequences: true,
  ledger: true,
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
 * the model and ranks its `numBeams × vocab` continuations in JS, keeping
 * `max(2, 1 + end tokens) × numBeams`, so the cost grows with the width; published beam
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
  /** Hugging Face's logits processors (penalties, bans, then `logitsProcessors`): every loop runs them. */
  processors: NamedProcessor[];
  /** The sampling warpers (temperature, top-k, top-p, min-p): the sampling loop only. */
  warpers: NamedProcessor[];
  greedy: boolean;
  random: () => number;
  /** Every id that ends a row: `eosTokenId` and `stopTokens`. */
  stop: Set<number>;
  /** The ids of `stop` kept in the output (`eosTokenId`). */
  eos: Set<number>;
  numBeams: number | undefined;
  lengthPenalty: number;
  earlyStopping: boolean | 'never';
  numReturnSequences: number;
  useCache: boolean;
  padId: number;
  onToken: GenerateOptions['onToken'];
  signal: AbortSignal | undefined;
  ledger: GenerationLedger | undefined;
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
  const ledger = options.ledger;
  if (
    ledger !== undefined &&
    (ledger === null || typeof ledger !== 'object' || typeof ledger.start !== 'function')
  ) {
    throw new TfjsBlocksError(
      fn,
      'options.ledger',
      'a run ledger (createRunLedger)',
      describeValue(ledger),
    );
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
  const eosTokenId = options.eosTokenId;
  const eos = checkList(
    fn,
    'options.eosTokenId',
    typeof eosTokenId === 'number' ? [eosTokenId] : (eosTokenId ?? []),
    'a token id or an array of them',
    (id, name) =>
      checkTokenId(fn, typeof eosTokenId === 'number' ? 'options.eosTokenId' : name, id, output),
  );
  const ends = [...new Set([...eos, ...stopTokens])];
  const noRepeatNgramSize = checkInteger(
    fn,
    'options.noRepeatNgramSize',
    options.noRepeatNgramSize ?? 0,
    0,
  );
  const minNewTokens = checkInteger(fn, 'options.minNewTokens', options.minNewTokens ?? 0, 0);
  const badWords =
    options.badWordsIds === undefined
      ? []
      : checkBadWords(fn, 'options.badWordsIds', options.badWordsIds).filter((word, i) => {
          word.forEach((id, j) => {
            checkTokenId(fn, `options.badWordsIds[${i}][${j}]`, id, output);
          });
          // As transformers: a one-token bad word that ends rows is not banned.
          return !(word.length === 1 && ends.includes(word[0]!));
        });
  const earlyStopping = options.earlyStopping ?? false;
  if (earlyStopping !== true && earlyStopping !== false && earlyStopping !== 'never') {
    throw new TfjsBlocksError(
      fn,
      'options.earlyStopping',
      "true, false or 'never'",
      describeValue(earlyStopping),
    );
  }
  const numReturnSequences = checkInteger(
    fn,
    'options.numReturnSequences',
    options.numReturnSequences ?? 1,
    1,
  );
  if (numBeams !== undefined && numReturnSequences > numBeams) {
    throw new TfjsBlocksError(
      fn,
      'options.numReturnSequences',
      `at most numBeams (${numBeams})`,
      String(numReturnSequences),
    );
  }
  if (numBeams === undefined && temperature === 0 && numReturnSequences > 1) {
    throw new TfjsBlocksError(
      fn,
      'options.numReturnSequences',
      '1 with greedy decoding (sample with temperature > 0, or use numBeams)',
      String(numReturnSequences),
    );
  }
  // Hugging Face's order: penalties and bans, the user's processors, then the
  // sampling warpers (which beam search, like transformers without
  // do_sample, does not run).
  const processors: NamedProcessor[] = [];
  const add = (name: string, run: LogitsProcessor) => processors.push({ name, run });
  if (options.repetitionPenalty !== undefined)
    add('options.repetitionPenalty', repetitionPenaltyProcessor(options.repetitionPenalty));
  if (noRepeatNgramSize > 0)
    add('options.noRepeatNgramSize', noRepeatNgramProcessor(noRepeatNgramSize));
  if (badWords.length > 0) add('options.badWordsIds', badWordsProcessor(badWords));
  if (minNewTokens > 0 && ends.length > 0)
    add('options.minNewTokens', minNewTokensProcessor(minNewTokens, ends));
  processors.push(...logitsProcessors);
  const warpers: NamedProcessor[] = [];
  const warp = (name: string, run: LogitsProcessor) => warpers.push({ name, run });
  if (temperature > 0 && temperature !== 1)
    warp('options.temperature', temperatureProcessor(temperature));
  if (options.topK !== undefined) warp('options.topK', topKProcessor(options.topK));
  if (options.topP !== undefined) warp('options.topP', topPProcessor(options.topP));
  if (options.minP !== undefined) warp('options.minP', minPProcessor(options.minP));
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
  return {
    maxNewTokens,
    processors,
    warpers,
    greedy: temperature === 0,
    random: seededRandom(seed),
    stop: new Set(ends),
    eos: new Set(eos),
    numBeams,
    lengthPenalty: checkNumber(fn, 'options.lengthPenalty', options.lengthPenalty ?? 1),
    earlyStopping,
    numReturnSequences,
    useCache,
    padId,
    onToken: options.onToken,
    signal,
    ledger,
  };
}
