/**
 * Beam search for `generate` (`numBeams`), one prompt at a time, with the
 * rules of Hugging Face `transformers` (`GenerationMixin._beam_search`), so
 * that the same model and options give the same ids.
 */
import { logSoftmax, type Tensor2D, tidy } from '@tensorflow/tfjs-core';
import { nextTask } from '../internal/next-task';
import { makeDecoder } from './decoders';
import type { CheckedOptions, GenerationModel } from './options';
import { processLogits, throwIfAborted } from './steps';

/** A beam or a finished hypothesis: its generated tokens and summed log-probability. */
type Hypothesis = { tokens: number[]; score: number };
/** A finished hypothesis with its length-penalised score, which ranks the finished ones. */
type Finished = Hypothesis & { ranked: number };
type Candidate = { beam: number; token: number; score: number };

/**
 * The `count` best continuations of the live beams by summed score (float32,
 * as `transformers` adds them), best first; among equal scores the lower
 * beam, then the lower token, first. Continuations at `-Infinity` (masked by
 * a processor) are never taken.
 */
function topCandidates(
  values: Float32Array,
  live: Hypothesis[],
  vocab: number,
  count: number,
): Candidate[] {
  const all: Candidate[] = [];
  live.forEach((h, beam) => {
    for (let token = 0; token < vocab; token++) {
      const score = Math.fround(h.score + values[beam * vocab + token]!);
      if (score > -Infinity) all.push({ beam, token, score });
    }
  });
  all.sort((a, b) => b.score - a.score || a.beam - b.beam || a.token - b.token);
  return all.slice(0, count);
}

/**
 * Beam search over one prompt with `beams` beams, step by step as
 * `transformers` does it:
 *
 * 1. Log-softmax each live beam's logits, run the processors on those
 *    log-probabilities (not renormalised after) and add the beam's score.
 * 2. Keep the `max(2, 1 + end tokens) × beams` best continuations over all
 *    beams. The best `beams` of them that do not end go on as the live beams.
 * 3. Of the best `beams` continuations, those that end (an end token, or the
 *    last step) are finished hypotheses, ranked by score divided by
 *    `length^lengthPenalty` where the length counts the end token; the best
 *    `beams` finished ones are kept. None are added once the search is done.
 * 4. Stop when no beam goes on, or (`earlyStopping: true`) `beams`
 *    hypotheses are finished, or (`false` / `'never'`) the slots are full and
 *    the best live beam, at its current length (`'never'` with
 *    `lengthPenalty > 0`: at `maxNewTokens`), cannot beat the worst finished.
 *
 * Returns the best `o.numReturnSequences` finished hypotheses (live beams
 * fill in only if too few finished), each with its EOS (`o.eos`) kept and a
 * stop token dropped. Frees the decoder and the logits however it ends.
 */
export async function beamSearch(
  model: GenerationModel,
  prompt: number[],
  o: CheckedOptions,
  beams: number,
): Promise<number[][]> {
  // The prompt runs once, as one row; the first reorder copies it to the beams.
  const decoder = makeDecoder(model, [prompt], o);
  // What the processors see before the generated ids (see sampling.ts).
  const start = model.kind === 'decoderLm' ? prompt : [model.decoderStartId];
  const keep = Math.max(2, 1 + o.stop.size) * beams;
  const penalised = (score: number, length: number) =>
    Math.fround(score / Math.fround(length ** o.lengthPenalty));
  let live: Hypothesis[] = [{ tokens: [], score: 0 }];
  let finished: Finished[] = [];
  let logits: Tensor2D | undefined = decoder.first;
  try {
    for (let step = 0; step < o.maxNewTokens && logits; step++) {
      let logProbs: Tensor2D;
      try {
        logProbs = tidy(() => logSoftmax(logits!));
      } finally {
        logits.dispose();
        logits = undefined;
      }
      let values: Float32Array;
      try {
        const processed = await processLogits(logProbs, o.processors, {
          tokens: live.map((h) => [...start, ...h.tokens]),
          step,
        });
        try {
          // Asynchronous, as in processLogits: no synchronous GPU readback on WebGPU.
          values = (await processed.data()) as Float32Array;
        } finally {
          if (processed !== logProbs) processed.dispose();
        }
      } finally {
        logProbs.dispose();
      }
      const vocab = values.length / live.length;
      const last = step === o.maxNewTokens - 1;
      const candidates = topCandidates(values, live, vocab, keep);
      const ends = (c: Candidate) => last || o.stop.has(c.token);
      // Only the best `beams` continuations can finish; the rest are spares
      // that keep `beams` beams going when the best ones end.
      const done = candidates.slice(0, beams).filter(ends);
      if (done.length > 0) {
        const length = step + 1;
        finished = [
          ...finished,
          ...done.map((c) => {
            const tokens = [...live[c.beam]!.tokens, c.token];
            return { tokens, score: c.score, ranked: penalised(c.score, length) };
          }),
        ]
          .sort((a, b) => b.ranked - a.ranked)
          .slice(0, beams);
      }
      const next = candidates.filter((c) => !ends(c)).slice(0, beams);
      live = next.map((c) => ({ tokens: [...live[c.beam]!.tokens, c.token], score: c.score }));
      if (next.length === 0 || (o.earlyStopping === true && finished.length === beams)) break;
      if (finished.length === beams) {
        // transformers' heuristic: can the best live beam still beat the worst finished one?
        const length =
          o.earlyStopping === 'never' && o.lengthPenalty > 0 ? o.maxNewTokens : step + 1;
        const best = penalised(live[0]!.score, length);
        if (!(best > finished[beams - 1]!.ranked)) break;
      }
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
  const ranked: Hypothesis[] = [
    ...finished,
    ...live
      .map((h) => ({ ...h, ranked: penalised(h.score, Math.max(1, h.tokens.length)) }))
      .sort((a, b) => b.ranked - a.ranked),
  ];
  return ranked.slice(0, o.numReturnSequences).map(({ tokens }) => {
    const end = tokens[tokens.length - 1];
    return end !== undefined && o.stop.has(end) && !o.eos.has(end) ? tokens.slice(0, -1) : tokens;
  });
}
