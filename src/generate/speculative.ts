/**
 * Speculative decoding (Leviathan et al. 2023, https://arxiv.org/abs/2211.17192;
 * Chen et al. 2023, https://arxiv.org/abs/2302.01318), greedy: a small draft
 * model proposes k tokens one at a time, the target scores all of them in one
 * forward over k + 1 positions, the longest prefix both agree on is kept plus
 * the target's own next token, and both caches rewind past the rejected
 * tokens. Every emitted token is the target's arg-max given the tokens before
 * it, so the output is the target's greedy output.
 */
import { argMax, type Tensor, tensor2d, tidy } from '@tensorflow/tfjs-core';
import { nextTask } from '../internal/next-task';
import { type CachedDecoderLmForward, uncheckedDecoderLm } from '../models/decoder-lm';
import { decoderLmStep, leftPad } from './decoders';
import { disposeKvCache, initDecoderLmCache, rewindKvCache } from './kv-cache';
import type { CheckedDraft, CheckedOptions, GenerationModel } from './options';
import { emitTokens } from './sampling';
import { throwIfAborted } from './steps';

type DecoderLmModel = Extract<GenerationModel, { kind: 'decoderLm' }>;

/**
 * A decoder-only model over its own key/value cache: `run` feeds `t` tokens
 * per row and returns the arg-max after each; `rewind(k)` drops the last `k`
 * positions. Owns its cache; `dispose()` frees it.
 */
type CachedLm = {
  run(ids: number[][], valid: boolean[][]): Promise<number[][]>;
  rewind(k: number): void;
  dispose(): void;
};

function cachedLm(model: DecoderLmModel, rows: number, capacity: number): CachedLm {
  const { config, params } = model;
  let cache = initDecoderLmCache(config, params, rows, capacity);
  // The first run (the prompt) goes through the checked decoderLm; later runs
  // feed ids the loop made over the cache's own bookkeeping and skip the checks.
  let forward: CachedDecoderLmForward | undefined;
  return {
    async run(ids, valid) {
      const { picks, next } = tidy(() => {
        const x = tensor2d(ids, undefined, 'int32');
        const r = decoderLmStep(config, params, x, cache, valid, forward);
        // [rows, t]: the arg-max after each fed token.
        return { picks: argMax(r.logits, 2) as Tensor, next: r.cache };
      });
      disposeKvCache(cache);
      cache = next;
      forward ??= uncheckedDecoderLm(config, params);
      try {
        const data = await picks.data();
        const t = ids[0]!.length;
        return ids.map((_, b) => Array.from(data.subarray(b * t, (b + 1) * t)));
      } finally {
        picks.dispose();
      }
    },
    rewind(k) {
      cache = rewindKvCache(cache, k);
    },
    dispose() {
      disposeKvCache(cache);
    },
  };
}

const allValid = (ids: number[][]) => ids.map((row) => row.map(() => true));

/**
 * Greedy speculative decoding of every prompt at once (left-padded, as the
 * sampling loop). Each round accepts the fewest agreeing draft tokens over
 * the rows still running, so all rows stay at one length; a row that runs
 * ahead of that loses nothing (its next token is the target's arg-max,
 * which it agreed with). Ends rows at end tokens, reports each emitted
 * token to `onToken` (awaited) and each round to `onDraftRound`. Frees both
 * caches however it ends.
 */
export async function speculativeLoop(
  model: DecoderLmModel,
  prompts: number[][],
  o: CheckedOptions,
  draft: CheckedDraft,
): Promise<number[][]> {
  const { ids, valid } = leftPad(prompts, o.padId);
  const capacity = ids[0]!.length + o.maxNewTokens;
  const generated: number[][] = prompts.map(() => []);
  const finished = prompts.map(() => false);
  let step = 0;
  const emit = async (tokens: number[]) => {
    // Emitted first: an absent onToken must not skip the bookkeeping.
    const emitted = emitTokens(tokens, finished, generated, o);
    await o.onToken?.(emitted, step);
    step++;
  };
  const done = () => step >= o.maxNewTokens || finished.every(Boolean);
  const target = cachedLm(model, prompts.length, capacity);
  let drafter: CachedLm | undefined;
  try {
    drafter = cachedLm(draft.model, prompts.length, capacity);
    // The target's next token after the prompt; the draft reads the prompt too.
    let last = (await target.run(ids, valid)).map((row) => row[row.length - 1]!);
    await drafter.run(ids, valid);
    // Tokens the draft has not read yet, before `last`.
    let unread: number[][] = prompts.map(() => []);
    await emit(last);
    if (!done()) throwIfAborted(o.signal);
    while (!done()) {
      throwIfAborted(o.signal);
      // The target may add k + 1 tokens this round; never past maxNewTokens.
      const k = Math.min(draft.numDraftTokens, o.maxNewTokens - step - 1);
      const proposals: number[][] = prompts.map(() => []);
      let feed = unread.map((row, b) => [...row, last[b]!]);
      for (let i = 0; i < k; i++) {
        const picks = await drafter.run(feed, allValid(feed));
        feed = picks.map((row) => [row[row.length - 1]!]);
        for (let b = 0; b < feed.length; b++) proposals[b]!.push(feed[b]![0]!);
      }
      // One target forward over last, d1 … dk: its arg-max after each.
      const scored = await target.run(
        last.map((t, b) => [t, ...proposals[b]!]),
        allValid(proposals).map((row) => [true, ...row]),
      );
      let accepted = k;
      scored.forEach((row, b) => {
        if (finished[b]) return;
        let agree = 0;
        while (agree < k && proposals[b]![agree] === row[agree]) agree++;
        accepted = Math.min(accepted, agree);
      });
      if (k > 0) draft.onDraftRound?.({ proposed: k, accepted });
      // d1 … d_accepted equal the target's picks there, then the target's own next token.
      // As greedy decoding: an abort after a token stops before the next one.
      for (let i = 0; i <= accepted && !done(); i++) {
        await emit(scored.map((row) => row[i]!));
        if (!done()) throwIfAborted(o.signal);
      }
      // The target read last, d1 … dk: keep last, d1 … d_accepted.
      target.rewind(k - accepted);
      if (k === 0) {
        unread = feed;
      } else if (accepted < k) {
        // The draft read unread, last, d1 … d_{k-1}: keep through d_accepted.
        drafter.rewind(k - 1 - accepted);
        unread = prompts.map(() => []);
      } else {
        // Every draft token was accepted: the draft has not read d_k.
        unread = proposals.map((row) => [row[k - 1]!]);
      }
      last = scored.map((row) => row[accepted]!);
      // A macrotask between rounds: timers and I/O run, a streaming page paints.
      await nextTask();
    }
  } finally {
    target.dispose();
    drafter?.dispose();
  }
  return generated;
}
