import { clone, dispose, div, Tensor, type Tensor2D, tensor2d, tidy } from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import {
  checkFloatTensor,
  checkInteger,
  checkNumber,
  checkSameShape,
  describeEntry,
  describeValue,
} from '../internal/checks';

/** What a processor sees besides the logits. */
export type LogitsProcessorContext = {
  /** Token ids so far for each row (prompt without padding, then generated tokens). */
  tokens: number[][];
  /** 0 for the first generated token. */
  step: number;
};

/**
 * Maps next-token logits `[batch, vocab]` to new logits, like transformers.js'
 * `LogitsProcessor` and Hugging Face's `LogitsWarper`: it returns a fresh
 * float32 tensor and never disposes its input. Masked-out tokens get
 * `-Infinity`, so a later softmax gives them probability exactly 0.
 *
 * Processors compose by running in order ({@link applyLogitsProcessors});
 * write your own as a plain function of the same type.
 *
 * @example
 * ```ts
 * // Forbid token 0 (say, `<pad>`) at every step.
 * const noPad: LogitsProcessor = (logits) =>
 *   tf.tidy(() => tf.where(tf.equal(tf.range(0, logits.shape[1], 1, 'int32'), 0), -Infinity, logits));
 * ```
 */
export type LogitsProcessor = (logits: Tensor2D, context: LogitsProcessorContext) => Tensor2D;

const LOGITS_LAYOUT = '[batch, vocab]';

function checkLogits(fn: string, logits: unknown): Tensor2D {
  return checkFloatTensor<Tensor2D>(fn, 'logits', logits, { rank: 2, layout: LOGITS_LAYOUT });
}

/**
 * Checks that `context.tokens` has one row of integer ids in `[0, vocab)` per
 * logits row and returns it. Index loops: `forEach` would skip a hole, which
 * then reads as `undefined` in the processor.
 */
function checkContextTokens(
  fn: string,
  context: LogitsProcessorContext | undefined,
  batch: number,
  vocab: number,
): number[][] {
  const tokens = context?.tokens;
  if (!Array.isArray(tokens) || tokens.length !== batch) {
    const actual = Array.isArray(tokens) ? `${tokens.length} rows` : describeValue(tokens);
    throw new TfjsBlocksError(fn, 'context.tokens', `one row per logits row (${batch})`, actual);
  }
  for (let r = 0; r < batch; r++) {
    const row: unknown = tokens[r];
    if (!Array.isArray(row)) {
      const actual = describeEntry(tokens, r);
      throw new TfjsBlocksError(fn, `context.tokens[${r}]`, 'an array of token ids', actual);
    }
    for (let i = 0; i < row.length; i++) {
      const id: unknown = row[i];
      if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= vocab) {
        throw new TfjsBlocksError(
          fn,
          `context.tokens[${r}][${i}]`,
          `an integer id in [0, ${vocab})`,
          describeEntry(row, i),
        );
      }
    }
  }
  return tokens;
}

/**
 * Reads the logits once and builds the output row by row in JS: the
 * sort-based rules (top-k, top-p) have no tfjs op that keeps ties and the
 * lowest-index order the same on every backend, and generation reads each
 * step's logits anyway. `rule` gets the input row and writes the output row,
 * which starts as a copy of the input.
 */
function mapRows(
  fn: string,
  logits: unknown,
  rule: (row: Float32Array, out: Float32Array, rowIndex: number) => void,
): Tensor2D {
  const x = checkLogits(fn, logits);
  const [batch, vocab] = x.shape;
  const data = x.dataSync() as Float32Array;
  const out = Float32Array.from(data);
  for (let r = 0; r < batch; r++) {
    const start = r * vocab;
    rule(data.subarray(start, start + vocab), out.subarray(start, start + vocab), r);
  }
  return tensor2d(out, [batch, vocab], 'float32');
}

/** The largest logit of a row (`-Infinity` when every token is masked; NaN is skipped). */
function rowMax(row: Float32Array): number {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i]! > max) max = row[i]!;
  return max;
}

/**
 * Divides the logits by `temperature`: below 1 sharpens the distribution,
 * above 1 flattens it. Temperature 0 (greedy decoding) is not a division:
 * the generation loop handles it by taking {@link greedyTokens}.
 *
 * @param temperature - a finite number > 0 (required; 1 leaves the logits unchanged).
 * @returns a {@link LogitsProcessor}; throws {@link TfjsBlocksError} for a bad temperature.
 * @example
 * ```ts
 * const cooler = temperatureProcessor(0.7);
 * const scaled = cooler(logits, { tokens: [[1, 2, 3]], step: 0 }); // logits / 0.7
 * ```
 */
export function temperatureProcessor(temperature: number): LogitsProcessor {
  const fn = 'temperatureProcessor';
  const t = checkNumber(fn, 'temperature', temperature, { min: 0, minExclusive: true });
  // Elementwise, so a tfjs op keeps the logits on the device; `tidy` frees the scalar `div` makes.
  return (logits) => {
    const x = checkLogits(fn, logits);
    return tidy(() => div(x, t));
  };
}

/**
 * Top-k filtering (Fan et al., 2018, https://arxiv.org/abs/1805.04833): keeps
 * the `k` largest logits of each row and sets the others to `-Infinity`.
 * Ties are kept together, as in Hugging Face's `TopKLogitsWarper`: every
 * token whose logit equals the k-th largest survives, so a row can keep more
 * than `k` tokens. `k` >= vocab keeps every token.
 *
 * @param k - how many tokens to keep per row: an integer >= 1 (required).
 * @returns a {@link LogitsProcessor}; throws {@link TfjsBlocksError} for a bad `k`.
 * @example
 * ```ts
 * const top40 = topKProcessor(40);
 * const filtered = top40(logits, { tokens: [[1, 2, 3]], step: 0 });
 * ```
 */
export function topKProcessor(k: number): LogitsProcessor {
  const fn = 'topKProcessor';
  const keep = checkInteger(fn, 'k', k, 1);
  return (logits) =>
    mapRows(fn, logits, (row, out) => {
      if (keep >= row.length) return;
      // Float32Array sorts numerically ascending, -Infinity first and NaN last.
      const sorted = Float32Array.from(row).sort();
      const kth = sorted[row.length - keep]!;
      for (let i = 0; i < row.length; i++) if (!(row[i]! >= kth)) out[i] = -Infinity;
    });
}

/**
 * Nucleus (top-p) filtering (Holtzman et al., 2019,
 * https://arxiv.org/abs/1904.09751): keeps the smallest set of most probable
 * tokens whose softmax mass reaches `p`, and sets the others (NaN logits
 * too) to `-Infinity`. The most probable token is always kept. Tokens are
 * taken in order of decreasing logit, the lower id first among equal logits,
 * so a tie at the edge of the nucleus keeps only as many as the mass needs.
 *
 * The mass is computed in float64 from the row's softmax; tokens whose
 * probability underflows to 0 are never needed to reach `p`, so even `p = 1`
 * drops them (as Hugging Face's `TopPLogitsWarper` does).
 *
 * @param p - the mass to keep: a finite number in (0, 1] (required).
 * @returns a {@link LogitsProcessor}; throws {@link TfjsBlocksError} for a bad `p`.
 * @example
 * ```ts
 * const nucleus = topPProcessor(0.9);
 * const filtered = nucleus(logits, { tokens: [[1, 2, 3]], step: 0 });
 * ```
 */
export function topPProcessor(p: number): LogitsProcessor {
  const fn = 'topPProcessor';
  const mass = checkNumber(fn, 'p', p, { min: 0, max: 1, minExclusive: true, maxInclusive: true });
  return (logits) =>
    mapRows(fn, logits, (row, out) => {
      // Sorting the values natively is ~8x faster than sorting ids with a
      // comparator (50k vocab); ids are recovered below from the cut value.
      // Ascending, with NaN last: `count` values are real.
      const sorted = Float32Array.from(row).sort();
      let count = sorted.length;
      while (count > 0 && Number.isNaN(sorted[count - 1]!)) count--;
      const max = count > 0 ? sorted[count - 1]! : -Infinity;
      if (max === -Infinity) return;
      // Weights from the largest down, summed in the same order as the running
      // mass below, so the running mass reaches exactly `total` and `p = 1`
      // stops at the last nonzero weight.
      const weights = new Float64Array(count);
      let total = 0;
      for (let j = 0; j < count; j++) {
        weights[j] = Math.exp(sorted[count - 1 - j]! - max);
        total += weights[j]!;
      }
      const target = mass * total;
      let running = 0;
      let kept = 0;
      while (kept < count) {
        running += weights[kept]!;
        kept++;
        if (running >= target) break;
      }
      // The nucleus is every logit above the cut value, plus as many tokens
      // equal to it as the mass needed, taken in id order (lower id first).
      const cut = sorted[count - kept]!;
      let ties = kept;
      for (let j = 0; j < kept; j++) if (sorted[count - 1 - j]! > cut) ties--;
      for (let i = 0; i < row.length; i++) {
        const v = row[i]!;
        if (v > cut) continue;
        if (v === cut && ties > 0) ties--;
        else out[i] = -Infinity;
      }
    });
}

/**
 * Min-p filtering (Nguyen et al., 2024, https://arxiv.org/abs/2407.01082):
 * keeps the tokens whose probability is at least `p` times the most probable
 * token's, and sets the others to `-Infinity`, as Hugging Face's
 * `MinPLogitsWarper`. The cut scales with the model's confidence: tight
 * when one token dominates, loose when many are plausible. The most probable
 * token always survives; `p = 0` keeps every token.
 *
 * @param p - the fraction of the top probability a token needs: a finite number in [0, 1] (required; 0.05 to 0.1 are common).
 * @returns a {@link LogitsProcessor}; throws {@link TfjsBlocksError} for a bad `p`.
 * @example
 * ```ts
 * const minP = minPProcessor(0.1);
 * const filtered = minP(logits, { tokens: [[1, 2, 3]], step: 0 });
 * ```
 */
export function minPProcessor(p: number): LogitsProcessor {
  const fn = 'minPProcessor';
  const ratio = checkNumber(fn, 'p', p, { min: 0, max: 1, maxInclusive: true });
  return (logits) =>
    mapRows(fn, logits, (row, out) => {
      const max = rowMax(row);
      if (max === -Infinity) return;
      // prob_i / maxProb = exp(logit_i - maxLogit): no need for the softmax's sum.
      for (let i = 0; i < row.length; i++) {
        if (!(Math.exp(row[i]! - max) >= ratio)) out[i] = -Infinity;
      }
    });
}

/**
 * The repetition penalty of CTRL (Keskar et al., 2019,
 * https://arxiv.org/abs/1909.05858) as Hugging Face applies it: for each
 * token already in the row's `context.tokens` (counted once however often it
 * occurs), a positive logit is divided by `penalty` and a negative one
 * multiplied by it, so the token becomes less likely either way. Other
 * tokens are unchanged.
 *
 * @param penalty - a finite number > 0 (required): 1 changes nothing, above 1
 *   discourages repeats (1.1 to 1.3 are common), below 1 encourages them.
 * @returns a {@link LogitsProcessor}; throws {@link TfjsBlocksError} for a bad
 *   penalty, and when called with `context.tokens` that do not have one row of
 *   integer ids in `[0, vocab)` per logits row.
 * @example
 * ```ts
 * const penalise = repetitionPenaltyProcessor(1.2);
 * // Logits [[2, -1, 0.5]] after tokens [0, 1] become [[2 / 1.2, -1 * 1.2, 0.5]].
 * const out = penalise(tf.tensor2d([[2, -1, 0.5]]), { tokens: [[0, 1]], step: 0 });
 * ```
 */
export function repetitionPenaltyProcessor(penalty: number): LogitsProcessor {
  const fn = 'repetitionPenaltyProcessor';
  const factor = checkNumber(fn, 'penalty', penalty, { min: 0, minExclusive: true });
  return (logits, context) => {
    const x = checkLogits(fn, logits);
    const tokens = checkContextTokens(fn, context, x.shape[0], x.shape[1]);
    return mapRows(fn, x, (row, out, r) => {
      // Reads the input row, so an id seen many times is penalised once, as
      // Hugging Face's gather-then-scatter does.
      for (const id of tokens[r]!) {
        const v = row[id]!;
        out[id] = v > 0 ? v / factor : v * factor;
      }
    });
  };
}

/**
 * Forbids repeating an n-gram, as Hugging Face's `NoRepeatNGramLogitsProcessor`
 * (Paulus et al., 2017, https://arxiv.org/abs/1705.04304): for each row, every
 * token that would complete an n-gram of `size` tokens already present in
 * `context.tokens` gets `-Infinity`. With `size = 1` no token may appear twice.
 * A row shorter than `size` tokens bans nothing.
 *
 * @param size - the n-gram length: an integer >= 1 (required; 2 to 4 are common).
 * @returns a {@link LogitsProcessor}; throws {@link TfjsBlocksError} for a bad
 *   `size`, and when called with `context.tokens` that do not have one row of
 *   integer ids in `[0, vocab)` per logits row.
 * @example
 * ```ts
 * const noRepeat = noRepeatNgramProcessor(2);
 * // After tokens [1, 2, 1], token 2 would repeat the bigram (1, 2): it gets -Infinity.
 * const out = noRepeat(tf.tensor2d([[0, 0, 0]]), { tokens: [[1, 2, 1]], step: 0 });
 * ```
 */
export function noRepeatNgramProcessor(size: number): LogitsProcessor {
  const fn = 'noRepeatNgramProcessor';
  const n = checkInteger(fn, 'size', size, 1);
  return (logits, context) => {
    const x = checkLogits(fn, logits);
    const tokens = checkContextTokens(fn, context, x.shape[0], x.shape[1]);
    return mapRows(fn, x, (_row, out, r) => {
      const row = tokens[r]!;
      if (row.length < n) return;
      // The last n - 1 tokens are the prefix; every earlier window of n tokens
      // that starts with it bans its last token.
      const prefix = row.length - (n - 1);
      for (let start = 0; start + n <= row.length; start++) {
        let matches = true;
        for (let j = 0; j < n - 1 && matches; j++) matches = row[start + j] === row[prefix + j];
        if (matches) out[row[start + n - 1]!] = -Infinity;
      }
    });
  };
}

/**
 * Forbids the end tokens until `minNewTokens` tokens have been generated, as
 * Hugging Face's `MinNewTokensLengthLogitsProcessor`: while `context.step <
 * minNewTokens`, the logits of `endTokens` are `-Infinity`.
 *
 * @param minNewTokens - an integer >= 0 (required; 0 changes nothing).
 * @param endTokens - the ids that end a row (`generate` passes `eosTokenId` and `stopTokens`): integers >= 0.
 * @returns a {@link LogitsProcessor}; throws {@link TfjsBlocksError} for bad arguments,
 *   and when called with an end token outside `[0, vocab)`.
 * @example
 * ```ts
 * const atLeast2 = minNewTokensProcessor(2, [0]);
 * const out = atLeast2(tf.tensor2d([[3, 1]]), { tokens: [[1]], step: 0 }); // [[-Infinity, 1]]
 * ```
 */
export function minNewTokensProcessor(minNewTokens: number, endTokens: number[]): LogitsProcessor {
  const fn = 'minNewTokensProcessor';
  const min = checkInteger(fn, 'minNewTokens', minNewTokens, 0);
  const ends = checkIdList(fn, 'endTokens', endTokens);
  return (logits, context) => {
    const x = checkLogits(fn, logits);
    checkIdsBelow(fn, 'endTokens', ends, x.shape[1]);
    const step = checkInteger(fn, 'context.step', context?.step, 0);
    return mapRows(fn, x, (_row, out) => {
      if (step < min) for (const id of ends) out[id] = -Infinity;
    });
  };
}

/**
 * Forbids token sequences, as Hugging Face's `NoBadWordsLogitsProcessor`: a
 * one-token sequence `[t]` sets token `t` to `-Infinity` at every step; a
 * longer one sets its last token to `-Infinity` in each row whose
 * `context.tokens` end with the sequence's other tokens.
 *
 * @param badWordsIds - the forbidden sequences (required): non-empty arrays of integer ids >= 0.
 * @returns a {@link LogitsProcessor}; throws {@link TfjsBlocksError} for a bad list,
 *   and when called with an id outside `[0, vocab)`.
 * @example
 * ```ts
 * const noBad = badWordsProcessor([[2], [0, 1]]);
 * // After tokens [1, 0]: token 2 always, and token 1 because it would complete [0, 1].
 * const out = noBad(tf.tensor2d([[1, 1, 1]]), { tokens: [[1, 0]], step: 0 });
 * ```
 */
export function badWordsProcessor(badWordsIds: number[][]): LogitsProcessor {
  const fn = 'badWordsProcessor';
  const words = checkBadWords(fn, 'badWordsIds', badWordsIds);
  return (logits, context) => {
    const x = checkLogits(fn, logits);
    words.forEach((word, i) => {
      checkIdsBelow(fn, `badWordsIds[${i}]`, word, x.shape[1]);
    });
    const tokens = checkContextTokens(fn, context, x.shape[0], x.shape[1]);
    return mapRows(fn, x, (_row, out, r) => {
      const row = tokens[r]!;
      for (const word of words) {
        const prefix = word.length - 1;
        if (prefix > row.length) continue;
        let matches = true;
        for (let j = 0; j < prefix && matches; j++) {
          matches = row[row.length - prefix + j] === word[j];
        }
        if (matches) out[word[prefix]!] = -Infinity;
      }
    });
  };
}

/** Throws unless `list` is an array of integers >= 0 (holes named); returns a copy. */
export function checkIdList(fn: string, name: string, list: unknown): number[] {
  if (!Array.isArray(list)) {
    throw new TfjsBlocksError(fn, name, 'an array of token ids', describeValue(list));
  }
  const ids: number[] = [];
  for (let i = 0; i < list.length; i++) {
    const id: unknown = list[i];
    if (!(i in list) || typeof id !== 'number' || !Number.isInteger(id) || id < 0) {
      throw new TfjsBlocksError(fn, `${name}[${i}]`, 'a token id >= 0', describeEntry(list, i));
    }
    ids.push(id);
  }
  return ids;
}

/** Throws unless `list` is a non-empty array of non-empty id arrays; returns a copy. */
export function checkBadWords(fn: string, name: string, list: unknown): number[][] {
  const expected = 'a non-empty array of non-empty token-id arrays';
  if (!Array.isArray(list) || list.length === 0) {
    throw new TfjsBlocksError(
      fn,
      name,
      expected,
      Array.isArray(list) ? 'an empty array' : describeValue(list),
    );
  }
  const words: number[][] = [];
  for (let i = 0; i < list.length; i++) {
    const word: unknown = list[i];
    if (!(i in list) || !Array.isArray(word) || word.length === 0) {
      const actual = Array.isArray(word) ? 'an empty array' : describeEntry(list, i);
      throw new TfjsBlocksError(fn, `${name}[${i}]`, 'a non-empty array of token ids', actual);
    }
    words.push(checkIdList(fn, `${name}[${i}]`, word));
  }
  return words;
}

function checkIdsBelow(fn: string, name: string, ids: number[], vocab: number): void {
  ids.forEach((id, i) => {
    if (id >= vocab) {
      throw new TfjsBlocksError(fn, `${name}[${i}]`, `a token id in [0, ${vocab})`, String(id));
    }
  });
}

/**
 * Runs `processors` in order on `logits` and returns the result as a fresh
 * tensor, disposing every intermediate (never `logits` itself). Order
 * matters: temperature before top-p changes which tokens the nucleus holds.
 * With no processors it returns a copy of `logits`. The sort-based
 * processors (top-k, top-p, min-p, repetition penalty) read their input with
 * `dataSync`; on WebGPU, where that can mean a synchronous GPU readback,
 * `generate` instead runs them one at a time after `await data()`.
 *
 * @param logits - next-token logits, float32 `[batch, vocab]`.
 * @param processors - applied first to last.
 * @param context - what each processor sees besides the logits.
 * @returns float32 `[batch, vocab]`.
 * @example
 * ```ts
 * const processors = [repetitionPenaltyProcessor(1.1), temperatureProcessor(0.8), topPProcessor(0.95)];
 * const processed = applyLogitsProcessors(logits, processors, { tokens, step });
 * const next = sampleTokens(processed, seededRandom(42));
 * processed.dispose();
 * ```
 */
export function applyLogitsProcessors(
  logits: Tensor2D,
  processors: LogitsProcessor[],
  context: LogitsProcessorContext,
): Tensor2D {
  const fn = 'applyLogitsProcessors';
  const x = checkLogits(fn, logits);
  if (!Array.isArray(processors)) {
    throw new TfjsBlocksError(fn, 'processors', 'an array of functions', describeValue(processors));
  }
  // An index loop: `some` and for-of would not name a hole.
  for (let i = 0; i < processors.length; i++) {
    if (typeof processors[i] !== 'function') {
      const actual = describeEntry(processors, i);
      throw new TfjsBlocksError(fn, `processors[${i}]`, 'a function', actual);
    }
  }
  let current = x;
  try {
    processors.forEach((processor, i) => {
      current = runProcessor(fn, `processors[${i}]`, processor, current, context, x);
    });
  } catch (e) {
    // The intermediate of the processors that ran is ours; the input stays the caller's.
    if (current !== x) dispose(current);
    throw e;
  }
  return current === x ? clone(x) : current;
}

/**
 * One link of a processor chain: `processor(current, context)`, which must
 * be a float32 tensor of the shape of `logits` (the chain's input), else a
 * {@link TfjsBlocksError} names the processor as `name`. Disposes `current`
 * once replaced, unless it is `logits` (the caller's); a processor that
 * returns its input keeps it. On a throw, `current` is left to the caller
 * and a wrong result is freed. Internal: {@link applyLogitsProcessors} and
 * `generate` run their chains through it.
 */
export function runProcessor(
  fn: string,
  name: string,
  processor: LogitsProcessor,
  current: Tensor2D,
  context: LogitsProcessorContext,
  logits: Tensor2D,
): Tensor2D {
  const next: unknown = processor(current, context);
  if (next === current) return current;
  if (typeof (next as PromiseLike<unknown> | null)?.then === 'function') {
    // An async processor: its tensor would come too late and be lost, and its
    // rejection go unhandled. Free whatever it resolves to; name it.
    (next as PromiseLike<unknown>).then(
      (value) => dispose(value as Tensor),
      () => undefined,
    );
    throw new TfjsBlocksError(fn, name, 'a synchronous function returning a tensor', 'a promise');
  }
  try {
    checkSameShape(fn, name, next, 'the logits', logits);
  } catch (e) {
    // A fresh tensor of the wrong kind is ours to free, as any result would be.
    if (next instanceof Tensor && next !== logits) dispose(next);
    throw e;
  }
  if (current !== logits) dispose(current);
  return next as Tensor2D;
}

/**
 * Greedy decoding: the arg-max token of each row, the lowest id among equal
 * maxima (NaN logits are never chosen).
 *
 * @param logits - float32 `[batch, vocab]`; read with `dataSync` (on WebGPU,
 *   `await logits.data()` first: a synchronous read of a GPU-only tensor there
 *   goes through a canvas, slow and on some adapters device-losing).
 * @returns one token id per row; throws {@link TfjsBlocksError} for a row
 *   where every logit is `-Infinity` or NaN.
 * @example
 * ```ts
 * greedyTokens(tf.tensor2d([[0.1, 2, 2], [5, -1, 0]])); // [1, 0]
 * ```
 */
export function greedyTokens(logits: Tensor2D): number[] {
  const fn = 'greedyTokens';
  const x = checkLogits(fn, logits);
  const [batch, vocab] = x.shape;
  const data = x.dataSync();
  const ids: number[] = [];
  for (let r = 0; r < batch; r++) {
    let best = -1;
    let bestValue = -Infinity;
    for (let i = 0; i < vocab; i++) {
      const v = data[r * vocab + i]!;
      if (v > bestValue) {
        best = i;
        bestValue = v;
      }
    }
    if (best < 0) {
      throw new TfjsBlocksError(fn, 'logits', 'a row with a logit above -Infinity', `row ${r}`);
    }
    ids.push(best);
  }
  return ids;
}

/**
 * Draws one token per row from `softmax(logits)` by inverse CDF: a uniform
 * `u = random() * total` against the running sum of `exp(logit - max)`, in
 * float64 in JS. A token with logit `-Infinity` has weight exactly 0 and is
 * never drawn, so masks from the processors hold. Rows are drawn in order,
 * one `random()` call each, so a seeded generator repeats exactly.
 *
 * @param logits - float32 `[batch, vocab]`; read with `dataSync` (on WebGPU,
 *   `await logits.data()` first: a synchronous read of a GPU-only tensor there
 *   goes through a canvas, slow and on some adapters device-losing).
 * @param random - a uniform generator on [0, 1), e.g. {@link seededRandom} or `Math.random`.
 * @returns one token id per row; throws {@link TfjsBlocksError} for a row with
 *   NaN or `+Infinity`, a row where every logit is `-Infinity`, or a `random()`
 *   value outside [0, 1).
 * @example
 * ```ts
 * const random = seededRandom(42);
 * const next = sampleTokens(tf.tensor2d([[0, 0, -Infinity]]), random); // [0] or [1], never [2]
 * ```
 */
export function sampleTokens(logits: Tensor2D, random: () => number): number[] {
  const fn = 'sampleTokens';
  const x = checkLogits(fn, logits);
  if (typeof random !== 'function') {
    throw new TfjsBlocksError(
      fn,
      'random',
      'a function returning numbers in [0, 1)',
      describeValue(random),
    );
  }
  const [batch, vocab] = x.shape;
  const data = x.dataSync() as Float32Array;
  const weights = new Float64Array(vocab);
  const ids: number[] = [];
  for (let r = 0; r < batch; r++) {
    const row = data.subarray(r * vocab, (r + 1) * vocab);
    for (let i = 0; i < vocab; i++) {
      const v = row[i]!;
      if (Number.isNaN(v) || v === Infinity) {
        throw new TfjsBlocksError(fn, 'logits', 'finite or -Infinity values', `${v} in row ${r}`);
      }
    }
    const max = rowMax(row);
    if (max === -Infinity) {
      throw new TfjsBlocksError(
        fn,
        'logits',
        'a row with a finite logit',
        `row ${r} all -Infinity`,
      );
    }
    let total = 0;
    let last = 0;
    for (let i = 0; i < vocab; i++) {
      weights[i] = Math.exp(row[i]! - max);
      total += weights[i]!;
      if (weights[i]! > 0) last = i;
    }
    const u = checkNumber(fn, 'random()', random(), { min: 0, max: 1 }) * total;
    // `running > u` can only become true on a token of positive weight; `last`
    // catches `u` rounding up to `total`, and is itself a positive-weight token.
    let chosen = last;
    let running = 0;
    for (let i = 0; i < vocab; i++) {
      running += weights[i]!;
      if (running > u) {
        chosen = i;
        break;
      }
    }
    ids.push(chosen);
  }
  return ids;
}

/**
 * A deterministic uniform generator on [0, 1) (mulberry32, 32-bit state,
 * period 2^32): the same seed gives the same stream, so seeded sampling
 * repeats exactly on every backend and platform. Fine for sampling tokens,
 * not for cryptography.
 *
 * @param seed - a safe integer (required); seeds that differ only above bit 32 still give different streams.
 * @returns a function returning the next number of the stream.
 * @example
 * ```ts
 * const a = seededRandom(7);
 * const b = seededRandom(7);
 * a() === b(); // true
 * ```
 */
export function seededRandom(seed: number): () => number {
  const fn = 'seededRandom';
  if (typeof seed !== 'number' || !Number.isSafeInteger(seed)) {
    throw new TfjsBlocksError(fn, 'seed', 'a safe integer', describeValue(seed));
  }
  // Fold the high bits into the 32-bit state so seeds like 1 and 2 ** 32 + 1 differ.
  const high = Math.floor(seed / 2 ** 32);
  let state = ((seed >>> 0) ^ Math.imul(high >>> 0, 0x9e3779b9)) >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return ((z ^ (z >>> 14)) >>> 0) / 2 ** 32;
  };
}
