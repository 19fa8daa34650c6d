import {
  concat,
  dispose,
  gather,
  slice,
  type Tensor,
  type Tensor3D,
  type Tensor4D,
  tensor,
  tensor1d,
  tidy,
  zeros,
} from '@tensorflow/tfjs-core';
import {
  type MultiHeadAttentionParams,
  outputProjection,
  projectHeads,
} from '../attention/multi-head-attention';
import { applyRotaryEmbedding } from '../attention/rotary-embedding';
import { scaledDotProductAttention } from '../attention/scaled-dot-product-attention';
import {
  type CheckedBlockConfig,
  checkBlockConfig,
  decoderBlockLayout,
  type TransformerDecoderBlockParams,
  withAlibi,
} from '../blocks/transformer-block';
import {
  type DecoderLmConfig,
  type DecoderLmParams,
  decoderBlockConfig,
  decoderLmForward,
} from '../models/decoder-lm';
import {
  decoderForward,
  type EncoderDecoderConfig,
  type EncoderDecoderParams,
} from '../models/encoder-decoder';

/** One layer's cached keys and values, `[batch, kvHeads, maxLength, headDim]`. */
export type LayerCache = {
  /** Keys. */
  key: Tensor4D;
  /** Values. */
  value: Tensor4D;
};

/**
 * A key/value cache for incremental decoding. Tensors are preallocated to
 * `maxLength` and rewritten at a fixed shape each step, so a step's cost
 * does not grow with reallocation; the bookkeeping is plain JS.
 */
export type KvCache = {
  /** Self-attention keys and values per decoder layer. */
  layers: LayerCache[];
  /** Tokens written so far (the same for every row: rows are left-padded). */
  length: number;
  /** Capacity. */
  maxLength: number;
  /** Per row and position: whether that key is a real token (false for padding and unwritten slots). */
  keyValid: boolean[][];
  /** Per row: real tokens so far (the next learned position). */
  realTokens: number[];
  /** Encoder-decoder only: cross-attention keys and values of the encoder output, per decoder layer. */
  cross?: LayerCache[];
  /** Encoder-decoder only: which source positions are real. */
  sourceValid?: boolean[][];
};

/** Layer shapes of a decoder's attention, from its block config. */
function cacheShape(config: CheckedBlockConfig): { kvHeads: number; headDim: number } {
  return { kvHeads: config.numKvHeads, headDim: config.dModel / config.numHeads };
}

function emptyLayers(
  count: number,
  batch: number,
  maxLength: number,
  config: CheckedBlockConfig,
): LayerCache[] {
  const { kvHeads, headDim } = cacheShape(config);
  return Array.from({ length: count }, () => ({
    key: zeros([batch, kvHeads, maxLength, headDim]) as Tensor4D,
    value: zeros([batch, kvHeads, maxLength, headDim]) as Tensor4D,
  }));
}

/**
 * An empty cache for a decoder-only model. Allocated in one `tidy`, so a
 * failure part-way (a layer that does not fit) frees the layers made before.
 */
export function initDecoderLmCache(
  config: DecoderLmConfig,
  params: DecoderLmParams,
  batch: number,
  maxLength: number,
): KvCache {
  const checked = checkBlockConfig('generate', decoderBlockConfig(config));
  return tidy(() => ({
    layers: emptyLayers(params.blocks.length, batch, maxLength, checked),
    length: 0,
    maxLength,
    keyValid: Array.from({ length: batch }, () => new Array<boolean>(maxLength).fill(false)),
    realTokens: new Array<number>(batch).fill(0),
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
  const checked = checkBlockConfig('generate', config.block);
  const batch = memory.shape[0];
  return tidy(() => ({
    cross: params.decoder.map((block) => ({
      key: projectHeads(
        block.crossAttention!.key,
        memory,
        checked.numKvHeads,
        checked.dModel / checked.numHeads,
      ),
      value: projectHeads(
        block.crossAttention!.value,
        memory,
        checked.numKvHeads,
        checked.dModel / checked.numHeads,
      ),
    })),
    layers: emptyLayers(params.decoder.length, batch, maxLength, checked),
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

/** `cache` with `update` written at time `start` (fixed shape: two slices and a concat). */
function writeAt(cache: Tensor4D, update: Tensor4D, start: number): Tensor4D {
  const [, , capacity] = cache.shape;
  const t = update.shape[2];
  const parts: Tensor4D[] = [];
  if (start > 0) parts.push(slice(cache, [0, 0, 0, 0], [-1, -1, start, -1]));
  parts.push(update);
  if (start + t < capacity)
    parts.push(slice(cache, [0, 0, start + t, 0], [-1, -1, capacity - start - t, -1]));
  return parts.length === 1 ? update : (concat(parts, 2) as Tensor4D);
}

/** Self-attention of `t` new tokens over the cache, writing their keys and values into it. */
function cachedSelfAttention(
  config: CheckedBlockConfig,
  params: MultiHeadAttentionParams,
  h: Tensor,
  layer: LayerCache,
  length: number,
  mask: Tensor,
): { output: Tensor3D; layer: LayerCache } {
  const { numHeads, numKvHeads } = config;
  const headDim = config.dModel / numHeads;
  let q = projectHeads(params.query, h, numHeads, headDim);
  let k = projectHeads(params.key, h, numKvHeads, headDim);
  const v = projectHeads(params.value, h, numKvHeads, headDim);
  if (config.rope) {
    // RoPE encodes relative positions, so one offset serves every (left-padded) row.
    const rope = { ...(config.rope === true ? {} : config.rope), offset: length };
    q = applyRotaryEmbedding(q, rope);
    k = applyRotaryEmbedding(k, rope);
  }
  const next = { key: writeAt(layer.key, k, length), value: writeAt(layer.value, v, length) };
  const t = h.shape[1]!;
  // ALiBi: the new queries sit at positions length … length + t - 1.
  const fullMask = config.alibi
    ? withAlibi(mask, numHeads, t, length + t, layer.key.shape[2])
    : mask;
  const attended = scaledDotProductAttention(q, next.key, next.value, { mask: fullMask });
  return { output: outputProjection(params, attended, { numHeads, headDim }), layer: next };
}

function crossAttention(
  config: CheckedBlockConfig,
  params: MultiHeadAttentionParams,
  h: Tensor,
  cross: LayerCache,
  mask: Tensor,
): Tensor3D {
  const { numHeads } = config;
  const headDim = config.dModel / numHeads;
  const q = projectHeads(params.query, h, numHeads, headDim);
  const attended = scaledDotProductAttention(q, cross.key, cross.value, { mask });
  return outputProjection(params, attended, { numHeads, headDim });
}

/**
 * Bookkeeping for `t` new tokens: which keys become valid, the learned
 * positions of the new tokens, and the attention mask `[batch, 1, t,
 * maxLength]` (real keys up to each query's own position).
 */
function advance(cache: KvCache, newValid: boolean[][]) {
  const t = newValid[0]!.length;
  if (cache.length + t > cache.maxLength) {
    throw new Error(`cache overflow: ${cache.length} + ${t} > ${cache.maxLength}`);
  }
  const keyValid = cache.keyValid.map((row, b) => {
    const next = row.slice();
    for (let i = 0; i < t; i++) next[cache.length + i] = newValid[b]![i]!;
    return next;
  });
  const realTokens = cache.realTokens.slice();
  const positions: number[][] = newValid.map((row, b) =>
    row.map((valid) => {
      const p = realTokens[b]!;
      if (valid) realTokens[b] = p + 1;
      return p;
    }),
  );
  const maskValues: boolean[] = [];
  keyValid.forEach((row) => {
    for (let i = 0; i < t; i++) {
      for (let j = 0; j < cache.maxLength; j++) maskValues.push(row[j]! && j <= cache.length + i);
    }
  });
  return { keyValid, realTokens, positions, t, maskValues };
}

/**
 * One cached step of any decoder: the bookkeeping, the masks, and each
 * block's self-attention over its cache; `forward` runs the model with the
 * `runBlock` it is given (and may add cross-attention through `cross`).
 */
function cachedStep(
  cache: KvCache,
  newValid: boolean[][],
  checked: CheckedBlockConfig,
  forward: (
    positionIds: Tensor,
    runBlock: (
      i: number,
      block: TransformerDecoderBlockParams,
      x: Tensor,
      cross: (h: Tensor) => Tensor,
    ) => Tensor,
  ) => Tensor3D,
): { logits: Tensor3D; cache: KvCache } {
  const batch = newValid.length;
  const step = advance(cache, newValid);
  const { logits, layers } = tidy(() => {
    const layers: LayerCache[] = [];
    const mask = tensor(step.maskValues, [batch, 1, step.t, cache.maxLength], 'bool');
    const positionIds = tensor(step.positions.flat(), [batch, step.t], 'int32');
    const logits = forward(positionIds, (i, block, x, cross) =>
      decoderBlockLayout(checked, block, x, (d) => d, {
        self: (h) => {
          const r = cachedSelfAttention(
            checked,
            block.attention,
            h,
            cache.layers[i]!,
            cache.length,
            mask,
          );
          layers[i] = r.layer;
          return r.output;
        },
        cross,
      }),
    );
    // The new cache tensors are returned with the logits, so tidy keeps them.
    return { logits, layers };
  });
  const next = {
    ...cache,
    layers,
    length: cache.length + step.t,
    keyValid: step.keyValid,
    realTokens: step.realTokens,
  };
  return { logits, cache: next };
}

/**
 * Runs `t` new tokens of a decoder-only model over its cache.
 *
 * @param ids - int32 `[batch, t]`.
 * @param newValid - per row and new token, whether it is real (false for left padding).
 * @returns logits `[batch, t, vocab]` and the updated cache (the old one's tensors stay the caller's to free).
 */
export function decoderLmStep(
  config: DecoderLmConfig,
  params: DecoderLmParams,
  ids: Tensor,
  cache: KvCache,
  newValid: boolean[][],
): { logits: Tensor3D; cache: KvCache } {
  const checked = checkBlockConfig('generate', decoderBlockConfig(config));
  const noCross = () => {
    throw new Error('decoder-only blocks have no cross-attention');
  };
  return cachedStep(cache, newValid, checked, (positionIds, runBlock) =>
    decoderLmForward(config, params, ids, { positionIds }, (i, block, x) =>
      runBlock(i, block, x, noCross),
    ),
  );
}

/**
 * Runs `t` new target tokens of an encoder-decoder over its cache (self
 * attention) and the cached encoder output (cross-attention).
 *
 * @returns logits `[batch, t, targetVocab]` and the updated cache.
 */
export function encoderDecoderStep(
  config: EncoderDecoderConfig,
  params: EncoderDecoderParams,
  ids: Tensor,
  cache: KvCache,
): { logits: Tensor3D; cache: KvCache } {
  const [batch, t] = ids.shape as [number, number];
  const checked = checkBlockConfig('generate', config.block);
  const sourceTime = cache.sourceValid![0]!.length;
  const allValid = Array.from({ length: batch }, () => new Array<boolean>(t).fill(true));
  return cachedStep(cache, allValid, checked, (_positions, runBlock) => {
    const crossMask = tensor(cache.sourceValid!.flat(), [batch, 1, 1, sourceTime], 'bool');
    return decoderForward(config, params, ids, cache.length, (i, block, x) =>
      runBlock(i, block, x, (h) =>
        crossAttention(checked, block.crossAttention!, h, cache.cross![i]!, crossMask),
      ),
    );
  });
}
