/**
 * The model adapters: a {@link Decoder} runs a decoder-only LM or an
 * encoder-decoder step by step, with or without the key/value cache, behind
 * one interface, so the sampling loop and beam search cannot tell them apart.
 */
import {
  dispose,
  gather,
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
import {
  type CachedDecoderLmForward,
  type CachedDecoderResult,
  type DecoderLmConfig,
  type DecoderLmParams,
  decoderLm,
  uncheckedDecoderLm,
} from '../models/decoder-lm';
import {
  type EncoderDecoderConfig,
  type EncoderDecoderParams,
  runDecoder,
  runEncoder,
} from '../models/encoder-decoder';
import type { WithQuantizedKernels } from '../nn/quantized-weights';
import {
  advanceKvCache,
  disposeKvCache,
  initDecoderLmCache,
  initEncoderDecoderCache,
  type KvCache,
  reorderKvCache,
} from './kv-cache';
import type { CheckedOptions, GenerationModel } from './options';

/**
 * Runs a model step by step: `next(tokens)` feeds one new token per row and
 * returns the next logits `[rows, vocab]`; `reorder(rows)` keeps the given
 * rows (beam search). Cached and uncached decoding implement the same
 * interface, so the loop cannot tell them apart. The logits it returns are
 * the caller's; `dispose()` frees everything else it holds.
 */
export type Decoder = {
  /** Logits after the prompt, `[rows, vocab]`. */
  first: Tensor2D;
  next(tokens: number[]): Tensor2D;
  reorder(rows: number[]): void;
  dispose(): void;
};

/** The decoder of `model` over `prompts` (the sources, for an encoder-decoder); runs the prompt. */
export function makeDecoder(
  model: GenerationModel,
  prompts: number[][],
  o: CheckedOptions,
): Decoder {
  return model.kind === 'decoderLm'
    ? decoderLmDecoder(model, prompts, o)
    : encoderDecoderDecoder(model, prompts, o);
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

function lastPosition(logits: Tensor3D): Tensor2D {
  const [rows, time, vocab] = logits.shape;
  return reshape(slice(logits, [0, time - 1, 0], [rows, 1, vocab]), [rows, vocab]) as Tensor2D;
}

function longestLength(rows: number[][]): number {
  return rows.reduce((most, row) => Math.max(most, row.length), 0);
}

/** Left-pads prompts with `padId` to the longest; `valid` is false on the padding. */
export function leftPad(prompts: number[][], padId: number) {
  const width = longestLength(prompts);
  return {
    ids: prompts.map((p) => [...new Array<number>(width - p.length).fill(padId), ...p]),
    valid: prompts.map((p) => [
      ...new Array<boolean>(width - p.length).fill(false),
      ...p.map(() => true),
    ]),
  };
}

/**
 * A cached model step: runs `ids` `[rows, t]` (with `newValid`, false for
 * left padding) over `cache`; returns the logits and the next cache, whose
 * self-attention tensors are new and whose cross-attention ones (if any) are
 * `cache`'s.
 */
type CachedStep = (
  cache: KvCache,
  ids: number[][],
  newValid: boolean[][],
) => { logits: Tensor3D; cache: KvCache };

/**
 * Runs `t` new tokens of a decoder-only model over its cache.
 *
 * @param ids - int32 `[batch, t]`.
 * @param newValid - per row and new token, whether it is real (false for left padding).
 * @param forward - the model's cached forward. Default: the checked `decoderLm`.
 * @param logitsToKeep - logits for the last positions only (see `DecoderLmOptions`); 0: all.
 * @returns logits `[batch, t, vocab]` (`[batch, logitsToKeep, vocab]`) and the updated cache (the old one's tensors stay the caller's to free).
 */
export function decoderLmStep(
  config: DecoderLmConfig,
  params: DecoderLmParams | WithQuantizedKernels<DecoderLmParams>,
  ids: Tensor,
  cache: KvCache,
  newValid: boolean[][],
  forward: CachedDecoderLmForward = (x, options) =>
    // With a cache decoderLm returns the logits and the cache (its second overload).
    decoderLm(config, params, x, options) as unknown as CachedDecoderResult,
  logitsToKeep = 0,
): { logits: Tensor3D; cache: KvCache } {
  const step = advanceKvCache(cache, newValid);
  // Without left padding (every token so far real, as at batch 1) the key
  // mask only repeats what attention knows from the cache index, and the
  // positions are the index's: leave both out, so a decoding step uploads
  // and combines no [batch, capacity] mask.
  const padded =
    newValid.some((row) => row.includes(false)) ||
    step.positions.some((row) => row[0] !== cache.length);
  const { logits, self } = tidy(() => {
    const cached = { self: cache.layers, index: cache.length };
    const keep = logitsToKeep > 0 ? { logitsToKeep } : {};
    const r = forward(
      ids,
      padded
        ? {
            paddingMask: boolTensor(step.mask),
            positionIds: tensor(Int32Array.from(step.positions.flat()), ids.shape, 'int32'),
            cache: cached,
            ...keep,
          }
        : { cache: cached, ...keep },
    );
    return { logits: r.logits, self: r.cache.self };
  });
  return { logits, cache: step.commit(self) };
}

/** A bool tensor `[rows, columns]` of a table of flags, filled without intermediate arrays. */
function boolTensor(rows: boolean[][]): Tensor {
  const columns = rows[0]!.length;
  const flags = new Uint8Array(rows.length * columns);
  rows.forEach((row, r) => {
    for (let c = 0; c < columns; c++) flags[r * columns + c] = row[c] ? 1 : 0;
  });
  return tensor(flags, [rows.length, columns], 'bool');
}

/**
 * Runs `t` new target tokens of an encoder-decoder over its cache (self
 * attention) and the cached encoder output (cross-attention).
 *
 * @param memory - the encoder output the cross-attention cache was made from.
 * @returns logits `[batch, t, targetVocab]` and the updated cache.
 */
export function encoderDecoderStep(
  config: EncoderDecoderConfig,
  params: EncoderDecoderParams,
  ids: Tensor,
  memory: Tensor3D,
  cache: KvCache,
): { logits: Tensor3D; cache: KvCache } {
  const [batch, t] = ids.shape as [number, number];
  const allValid = Array.from({ length: batch }, () => new Array<boolean>(t).fill(true));
  const step = advanceKvCache(cache, allValid);
  const { logits, self } = tidy(() => {
    const r = runDecoder(config, params, ids, memory, {
      sourceMask: boolTensor(cache.sourceValid!),
      cache: { self: cache.layers, cross: cache.cross!, index: cache.length },
    });
    return { logits: r.logits, self: r.cache.self };
  });
  return { logits, cache: step.commit(self) };
}

/**
 * The one cached {@link Decoder}, for every model kind: runs the prompt
 * through `step`, then one token per row at a time, swapping in each step's
 * cache and freeing the one it replaces. Owns `cache`, and through `release`
 * whatever the model adapter allocated before it (an encoder's output); on a
 * failed prefill it frees both before rethrowing.
 */
function cachedDecoder(
  cache: KvCache,
  step: CachedStep,
  prompt: { ids: number[][]; valid: boolean[][] },
  release: () => void,
): Decoder {
  const advance = (ids: number[][], newValid: boolean[][]) => {
    const { logits, cache: next } = tidy(() => {
      const r = step(cache, ids, newValid);
      return { logits: lastPosition(r.logits), cache: r.cache };
    });
    // The cross-attention keys and values carry over to the next cache.
    disposeKvCache(cache, true);
    cache = next;
    return logits;
  };
  const disposeAll = () => {
    disposeKvCache(cache);
    release();
  };
  return {
    first: orRelease(() => advance(prompt.ids, prompt.valid), disposeAll),
    next: (tokens) =>
      advance(
        tokens.map((t) => [t]),
        tokens.map(() => [true]),
      ),
    reorder(rows) {
      const next = reorderKvCache(cache, rows);
      disposeKvCache(cache);
      cache = next;
    },
    dispose: disposeAll,
  };
}

function decoderLmDecoder(
  model: Extract<GenerationModel, { kind: 'decoderLm' }>,
  prompts: number[][],
  o: CheckedOptions,
): Decoder {
  const { config, params } = model;
  let { ids, valid } = leftPad(prompts, o.padId);
  if (o.useCache) {
    const cache = initDecoderLmCache(config, params, ids.length, ids[0]!.length + o.maxNewTokens);
    // The prefill runs the checked decoderLm, which validates the model and
    // the first inputs; each later step feeds sampled ids and the cache's
    // own bookkeeping to the same model, so it skips every check.
    let forward: CachedDecoderLmForward | undefined;
    const step: CachedStep = (c, stepIds, newValid) => {
      const ids = tensor2d(stepIds, undefined, 'int32');
      // Sampling reads the last position's logits only: the head skips the rest.
      const r = decoderLmStep(config, params, ids, c, newValid, forward, 1);
      forward ??= uncheckedDecoderLm(config, params);
      return r;
    };
    return cachedDecoder(cache, step, { ids, valid }, () => {});
  }
  // Without the cache: the whole sequence again at every step.
  const run = () =>
    tidy(() => {
      const positions = valid.map((row) => {
        let seen = 0;
        return row.map((ok) => (ok ? seen++ : seen));
      });
      const logits = decoderLm(config, params, tensor2d(ids, undefined, 'int32'), {
        paddingMask: boolTensor(valid),
        positionIds: tensor2d(positions, undefined, 'int32'),
        logitsToKeep: 1,
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
  o: CheckedOptions,
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
  let sourceMask = boolTensor(sourceValid);
  let memory = orRelease(
    () =>
      tidy(() =>
        runEncoder(config, params, tensor2d(sourceIds, undefined, 'int32'), { sourceMask }),
      ),
    () => sourceMask.dispose(),
  );
  const release = () => dispose([memory, sourceMask]);
  let targets = sources.map(() => [decoderStartId]);
  if (o.useCache) {
    const cache = orRelease(
      () => initEncoderDecoderCache(config, params, memory, sourceValid, 1 + o.maxNewTokens),
      release,
    );
    // Every target token is real: the decoder starts every row at decoderStartId.
    const step: CachedStep = (c, stepIds) =>
      encoderDecoderStep(config, params, tensor2d(stepIds, undefined, 'int32'), memory, c);
    return cachedDecoder(
      cache,
      step,
      { ids: targets, valid: targets.map((row) => row.map(() => true)) },
      release,
    );
  }
  const run = () =>
    tidy(() =>
      lastPosition(
        runDecoder(config, params, tensor2d(targets, undefined, 'int32'), memory, { sourceMask }),
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
