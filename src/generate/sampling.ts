/** The sampling loop of `generate`: greedy or sampled decoding, all prompts as one batch. */
import type { Tensor2D } from '@tensorflow/tfjs-core';
import { nextTask } from '../internal/next-task';
import { makeDecoder } from './decoders';
import { greedyTokens, sampleTokens } from './logits-processors';
import type { CheckedOptions, GenerationModel } from './options';
import { processLogits, throwIfAborted } from './steps';

/**
 * Greedy or sampled decoding of every prompt at once: each step processes
 * the logits (processors, then the sampling warpers), picks one token per
 * row (arg-max, or drawn with `o.random`), ends rows at an end token,
 * reports the step to `onToken` (awaited) and feeds the tokens back
 * (padding for rows that have stopped). Frees the decoder and the logits
 * however it ends.
 *
 * @returns the generated ids per prompt: an EOS (`o.eos`) that ended a row
 *   is kept, a stop token is not.
 */
export async function sampleLoop(
  model: GenerationModel,
  prompts: number[][],
  o: CheckedOptions,
): Promise<number[][]> {
  const decoder = makeDecoder(model, prompts, o);
  const generated: number[][] = prompts.map(() => []);
  const finished = prompts.map(() => false);
  const processors = [...o.processors, ...o.warpers];
  // What the processors see: the prompt (never its padding), or for an
  // encoder-decoder the decoder's start token, then the generated ids.
  const start = model.kind === 'decoderLm' ? prompts : prompts.map(() => [model.decoderStartId]);
  let logits: Tensor2D | undefined = decoder.first;
  try {
    for (let step = 0; step < o.maxNewTokens && logits; step++) {
      const context = {
        tokens: start.map((p, b) => [...p, ...generated[b]!]),
        step,
      };
      const processed = await processLogits(logits, processors, context);
      let tokens: number[];
      try {
        tokens = o.greedy ? greedyTokens(processed) : sampleTokens(processed, o.random);
      } finally {
        if (processed !== logits) processed.dispose();
      }
      logits.dispose();
      logits = undefined;
      const emitted = emitTokens(tokens, finished, generated, o);
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
 * Appends each running row's token to `generated` and returns what
 * `onToken` reports: the token, or `null` for a row that had finished or
 * finishes on a stop token that is not an EOS (an EOS is kept). Marks rows
 * that stop in `finished`. Shared by the sampling and speculative loops.
 */
export function emitTokens(
  tokens: readonly number[],
  finished: boolean[],
  generated: number[][],
  o: Pick<CheckedOptions, 'stop' | 'eos'>,
): (number | null)[] {
  return tokens.map((t, b) => {
    if (finished[b]) return null;
    if (o.stop.has(t)) {
      finished[b] = true;
      if (!o.eos.has(t)) return null;
    }
    generated[b]!.push(t);
    return t;
  });
}
