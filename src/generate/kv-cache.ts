/**
 * The bookkeeping of cached decoding: allocate the per-layer key/value
 * caches, advance them (which keys are real, learned positions, the key
 * mask), reorder them for beam search, dispose them. The attention over the
 * cache is the models' own forward (`decoderLm` / `runDecoder` with
 * `cache`), the same code as training.
 */
import { dispose, gather, type Tensor3D, tensor1d, tidy } from '@tensorflow/tfjs-core';
import {
  type AttentionCache,
  contextAttentionCache,
  initAttentionCache,
} from '../attention/multi-head-attention';
import { blockAttentionConfig, checkBlockConfig } from '../blocks/transformer-block';
import { TfjsBlocksError } from '../errors';
import { checkInteger } from '../internal/checks';
import {
  type DecoderLmConfig,
  type DecoderLmParams,
  decoderBlockConfig,
} from '../models/decoder-lm';
import type { EncoderDecoderConfig, EncoderDecoderParams } from '../models/encoder-decoder';
import type { WithQuantizedKernels } from '../nn/quantized-weights';

/** One layer's cached keys and values, `[batch, kvHeads, maxLength, headDim]`. */
export type LayerCache = AttentionCache;

/**
 * A key/value cache for incremental decoding. Tensors are preallocated to
 * `maxLength` and rewritten at a fixed shape each step, so a step's cost
 * does not grow with reallocation; the bookkeeping is plain JS. With a
 * sliding window (`slidingWindow`), `maxLength` is the window (or the
 * sequence, if shorter) and the cache is a rolling buffer: position `p` is
 * in slot `p mod maxLength`, so its memory stays bounded however long the
 * generation runs.
 */
export type KvCache = {
  /** Self-attention keys and values per decoder layer. */
  layers: LayerCache[];
  /** Tokens written so far (the same for every row: rows are left-padded). */
  length: number;
  /** Capacity: the slots per row. */
  maxLength: number;
  /** Per row and slot: whether that key is a real token (false for padding and unwritten slots). */
  keyValid: boolean[][];
  /** The model's sliding window, when it has one: the cache rolls (see above). */
  slidingWindow?: number;
  /** Per row: real tokens so far (the next learned position). */
  realTokens: number[];
  /** Encoder-decoder only: cross-attention keys and values of the encoder output, per decoder layer. */
  cross?: LayerCache[];
  /** Encoder-decoder only: which source positions are real. */
  sourceValid?: boolean[][];
};

/**
 * An empty cache for a decoder-only model, for sequences of up to
 * `maxLength` tokens: `maxLength` slots, or with a sliding window `w` a
 * rolling cache of `min(w, maxLength)` slots. Allocated in one `tidy`, so a
 * failure part-way (a layer that does not fit) frees the layers made before.
 */
export function initDecoderLmCache(
  config: DecoderLmConfig,
  params: DecoderLmParams | WithQuantizedKernels<DecoderLmParams>,
  batch: number,
  maxLength: number,
): KvCache {
  const block = checkBlockConfig('generate', decoderBlockConfig(config));
  const attention = blockAttentionConfig(block);
  const window = block.slidingWindow;
  const capacity = window === undefined ? maxLength : Math.min(window, maxLength);
  return tidy(() => ({
    layers: params.blocks.map(() => initAttentionCache(attention, batch, capacity)),
    length: 0,
    maxLength: capacity,
    keyValid: Array.from({ length: batch }, () => new Array<boolean>(capacity).fill(false)),
    realTokens: new Array<number>(batch).fill(0),
    ...(window === undefined ? {} : { slidingWindow: window }),
  }));
}

/**
 * An empty decoder cache with the cross-attention keys and values of
 * `memory` computed once. Allocated in one `tidy`: if the self-attention
 * layers fail, the cross-attention keys already made are freed.
 */
export function initEncoderDecoderCache(
  config: EncoderDecoderConfig,
  params: EncoderDecoderParams,
  memory: Tensor3D,
  sourceValid: boolean[][],
  maxLength: number,
): KvCache {
  const attention = blockAttentionConfig(checkBlockConfig('generate', config.block));
  const batch = memory.shape[0];
  return tidy(() => ({
    cross: params.decoder.map((block) =>
      contextAttentionCache(attention, block.crossAttention!, memory),
    ),
    layers: params.decoder.map(() => initAttentionCache(attention, batch, maxLength)),
    length: 0,
    maxLength,
    keyValid: Array.from({ length: batch }, () => new Array<boolean>(maxLength).fill(false)),
    realTokens: new Array<number>(batch).fill(0),
    sourceValid,
  }));
}

/** Frees a cache's tensors (the cross-attention ones too unless `keepCross`). */
export function disposeKvCache(cache: KvCache, keepCross = false): void {
  dispose(cache.layers.flatMap((l) => [l.key, l.value]));
  if (cache.cross && !keepCross) dispose(cache.cross.flatMap((l) => [l.key, l.value]));
}

/**
 * The cache of the given rows, in that order: beam search keeps the beams
 * that go on, a row repeated when several continue it. Its key/value
 * tensors (self- and cross-attention) are new, gathered in one `tidy`, so a
 * failure frees what it made; `cache`'s tensors stay the caller's to free.
 *
 * @param rows - row indices of `cache`, one per row of the result.
 * @example
 * ```ts
 * // Three beams: the first two continue beam 1, the third continues beam 0.
 * const next = reorderKvCache(cache, [1, 1, 0]);
 * disposeKvCache(cache);
 * cache = next;
 * ```
 */
export function reorderKvCache(cache: KvCache, rows: number[]): KvCache {
  const { layers, cross } = tidy(() => {
    const index = tensor1d(rows, 'int32');
    const pick = (l: LayerCache): LayerCache => ({
      key: gather(l.key, index),
      value: gather(l.value, index),
    });
    return { layers: cache.layers.map(pick), cross: cache.cross?.map(pick) ?? [] };
  });
  // A row repeated from one beam gets its own copies of the JS bookkeeping.
  const reordered: KvCache = {
    ...cache,
    layers,
    keyValid: rows.map((r) => cache.keyValid[r]!.slice()),
    realTokens: rows.map((r) => cache.realTokens[r]!),
  };
  if (cache.cross) reordered.cross = cross;
  if (cache.sourceValid) reordered.sourceValid = rows.map((r) => cache.sourceValid![r]!.slice());
  return reordered;
}

/**
 * Bookkeeping for `t` new tokens (plain JS): which keys become valid, the
 * key mask the model gets (`mask`), the learned positions of the new
 * tokens, and `commit(layers)`, the cache after the step with the model's
 * new self-attention tensors. Attention hides unwritten and future keys
 * itself; `keyValid` only says which written keys are real tokens (false
 * for left padding). `mask` is `keyValid` after the write, `[batch,
 * capacity]`; for a rolling cache it is the slots before the write followed
 * by the new tokens, `[batch, capacity + t]` (what attention over a rolling
 * cache reads: see `CachedAttentionOptions`).
 *
 * @param newValid - per row and new token, whether it is real.
 */
export function advanceKvCache(cache: KvCache, newValid: boolean[][]) {
  const t = newValid[0]!.length;
  const rolling = cache.slidingWindow !== undefined;
  const capacity = cache.maxLength;
  const wraps = rolling && capacity >= cache.slidingWindow!;
  if (!wraps && cache.length + t > capacity) {
    throw new Error(`cache overflow: ${cache.length} + ${t} > ${capacity}`);
  }
  // A slot takes the newest of the new tokens at a position ≡ slot (mod capacity).
  const keyValid = cache.keyValid.map((row, b) => {
    const next = row.slice();
    for (let i = Math.max(0, t - capacity); i < t; i++) {
      next[(cache.length + i) % capacity] = newValid[b]![i]!;
    }
    return next;
  });
  const mask = rolling ? cache.keyValid.map((row, b) => [...row, ...newValid[b]!]) : keyValid;
  const realTokens = cache.realTokens.slice();
  const positions: number[][] = newValid.map((row, b) =>
    row.map((valid) => {
      const p = realTokens[b]!;
      if (valid) realTokens[b] = p + 1;
      return p;
    }),
  );
  const commit = (layers: LayerCache[]): KvCache => ({
    ...cache,
    layers,
    length: cache.length + t,
    keyValid,
    realTokens,
  });
  return { keyValid, mask, positions, commit };
}

/**
 * The cache without its last `k` positions, as if they had never been
 * written (speculative decoding drops the draft tokens the target rejected).
 * A cheap index move: the preallocated tensors are shared with `cache`, not
 * copied (attention hides keys at or after `length`, and the next write
 * overwrites them), so free only one of the two records. A rolling
 * (sliding-window) cache can rewind only while nothing has wrapped: once a
 * position past its capacity was written, the key it overwrote is gone, and
 * the rewind throws a {@link TfjsBlocksError} naming `k`.
 *
 * @param k - positions to drop, an integer in `[0, cache.length]`.
 * @example
 * ```ts
 * // The target scored 5 draft tokens and kept 2: drop the other 3.
 * cache = rewindKvCache(cache, 3);
 * ```
 */
export function rewindKvCache(cache: KvCache, k: number): KvCache {
  const fn = 'rewindKvCache';
  checkInteger(fn, 'k', k, 0);
  if (k > cache.length) {
    throw new TfjsBlocksError(fn, 'k', `at most the cached length, ${cache.length}`, String(k));
  }
  const capacity = cache.maxLength;
  if (k > 0 && cache.slidingWindow !== undefined && cache.length > capacity) {
    throw new TfjsBlocksError(
      fn,
      'k',
      `0 for a rolling cache that has wrapped (${cache.length} positions written in ${capacity} slots: the overwritten keys are gone)`,
      String(k),
    );
  }
  const length = cache.length - k;
  const keyValid = cache.keyValid.map((row) => row.slice());
  const realTokens = cache.realTokens.slice();
  for (let b = 0; b < keyValid.length; b++) {
    for (let p = length; p < cache.length; p++) {
      const slot = p % capacity;
      if (keyValid[b]![slot]) realTokens[b]! -= 1;
      keyValid[b]![slot] = false;
    }
  }
  return { ...cache, length, keyValid, realTokens };
}
