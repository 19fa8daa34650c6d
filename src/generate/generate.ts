/**
 * `generate`, the public entry of text generation: checks its arguments
 * (options.ts), then runs the sampling loop (sampling.ts) or beam search
 * (beam-search.ts) over a model adapter (decoders.ts).
 */
import { beamSearch } from './beam-search';
import {
  type CheckedOptions,
  checkGenerateOptions,
  type GenerateOptions,
  type GenerationModel,
} from './options';
import { sampleLoop } from './sampling';
import { throwIfAborted } from './steps';

export type { GenerateOptions, GenerationLedger, GenerationModel } from './options';

/**
 * Generates tokens from a decoder-only or encoder-decoder model: greedy
 * (`temperature: 0`), sampled (temperature, top-k, top-p, min-p, repetition
 * penalty, or your own {@link LogitsProcessor}s; seeded), or beam search
 * (`numBeams`), with the options of Hugging Face's `generation_config.json`
 * (`eosTokenId`, `minNewTokens`, `noRepeatNgramSize`, `badWordsIds`,
 * `lengthPenalty`, `earlyStopping`, `numReturnSequences`) and its results:
 * greedy and beam search give the ids `transformers`' `generate` gives on
 * the same model, prompt by prompt (see docs/generation.md for where a
 * left-padded batch differs). Prompts of different lengths are left-padded and masked.
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
 * @returns the generated ids per prompt (`numReturnSequences` rows per
 *   prompt, prompt by prompt), without the prompt; an EOS (`eosTokenId`)
 *   that ended a row is kept, a stop token (`stopTokens`) is not.
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
  const checked = checkGenerateOptions(model, prompts, options);
  throwIfAborted(checked.signal);
  const span = checked.ledger?.start('inference');
  const results = await run(model, prompts, checked);
  span?.end(results.reduce((sum, row) => sum + row.length, 0));
  return results;
}

/** The loop `generate` runs once its options are checked. */
async function run(
  model: GenerationModel,
  prompts: number[][],
  checked: CheckedOptions,
): Promise<number[][]> {
  const beams = checked.numBeams;
  const n = checked.numReturnSequences;
  if (beams === undefined) {
    // n samples per prompt: each prompt n times in the batch, prompt by prompt.
    return sampleLoop(model, n === 1 ? prompts : prompts.flatMap((p) => Array(n).fill(p)), checked);
  }
  const results: number[][] = [];
  for (const prompt of prompts) {
    results.push(...(await beamSearch(model, prompt, checked, beams)));
    throwIfAborted(checked.signal);
  }
  return results;
}
