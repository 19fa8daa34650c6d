/** Beam search for `generate` (`numBeams`), one prompt at a time. */
import { logSoftmax, type Tensor2D, tidy } from '@tensorflow/tfjs-core';
import { nextTask } from '../internal/next-task';
import { makeDecoder } from './decoders';
import type { CheckedOptions, GenerationModel } from './options';
import { processLogits, throwIfAborted } from './steps';

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

/**
 * Beam search over one prompt with `beams` beams: each step scores every
 * live beam's continuations by summed log-probability, keeps the `beams`
 * best that go on (a stop token finishes its hypothesis) and reorders the
 * decoder's rows to match. Returns the best hypothesis by score divided by
 * `length^lengthPenalty`. Frees the decoder and the logits however it ends.
 */
export async function beamSearch(
  model: GenerationModel,
  prompt: number[],
  o: CheckedOptions,
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
