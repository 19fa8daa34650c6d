import { TfjsBlocksError } from '../errors';
import { seededRandom } from '../generate/logits-processors';
import { checkNumber, checkOptionKeys, describeValue, optionKeys } from '../internal/checks';

/**
 * The label of a token that adds no loss (a prompt token, padding): PyTorch's
 * and our `softmaxCrossEntropy`'s default `ignoreIndex`.
 *
 * @example
 * ```ts
 * const labels = [IGNORED_LABEL, IGNORED_LABEL, 5, 9]; // only the last two tokens are trained
 * ```
 */
export const IGNORED_LABEL = -100;

/**
 * One training sequence for a causal language model, in Hugging Face's
 * layout: `labels` has the length of `ids` and is a copy of it where the
 * token is learned and {@link IGNORED_LABEL} (`-100`) where it is not; the
 * loss shifts them itself (position `t` predicts `labels[t + 1]`).
 *
 * @example
 * ```ts
 * const example: SequenceExample = { ids: [5, 6, 7, 8], labels: [-100, -100, 7, 8] };
 * ```
 */
export type SequenceExample = {
  /** Token ids, `[time]`. */
  ids: number[];
  /** Target ids, `[time]`: the id itself, or `-100` for a token that is not learned. */
  labels: number[];
};

/** Checks `examples` (non-empty, each `ids`/`labels` of the same length, integer) and returns their common length. */
export function checkExamples(fn: string, name: string, examples: unknown): number {
  if (!Array.isArray(examples) || examples.length === 0) {
    throw new TfjsBlocksError(fn, name, 'a non-empty array of examples', describeValue(examples));
  }
  let length = -1;
  for (let i = 0; i < examples.length; i++) {
    const example = examples[i] as Partial<SequenceExample> | null;
    const where = `${name}[${i}]`;
    if (example === null || typeof example !== 'object') {
      throw new TfjsBlocksError(fn, where, 'an example { ids, labels }', describeValue(example));
    }
    const { ids, labels } = example;
    if (
      !Array.isArray(ids) ||
      ids.length === 0 ||
      !ids.every((id) => Number.isInteger(id) && id >= 0)
    ) {
      throw new TfjsBlocksError(
        fn,
        `${where}.ids`,
        'a non-empty array of ids (integers >= 0)',
        describeValue(ids),
      );
    }
    if (
      !Array.isArray(labels) ||
      !labels.every((l) => Number.isInteger(l) && (l >= 0 || l === IGNORED_LABEL))
    ) {
      throw new TfjsBlocksError(
        fn,
        `${where}.labels`,
        'an array of ids or -100',
        describeValue(labels),
      );
    }
    if (labels.length !== ids.length) {
      throw new TfjsBlocksError(
        fn,
        `${where}.labels.length`,
        `ids.length = ${ids.length}`,
        String(labels.length),
      );
    }
    if (length === -1) length = ids.length;
    else if (ids.length !== length) {
      throw new TfjsBlocksError(
        fn,
        `${where}.ids.length`,
        `the length of the first example, ${length}`,
        String(ids.length),
      );
    }
  }
  return length;
}

/**
 * A seeded permutation of `0 … count - 1` (Fisher–Yates over
 * `seededRandom(seed)`): the same seed gives the same order everywhere.
 */
export function permutation(count: number, seed: number): number[] {
  const order = Array.from({ length: count }, (_, i) => i);
  const random = seededRandom(seed);
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

/**
 * The examples in a seeded random order (Fisher–Yates): the same seed gives
 * the same order on every platform. Returns a new array; the examples are
 * not copied.
 *
 * @param seed - a safe integer.
 * @example
 * ```ts
 * const shuffled = shuffleExamples([{ ids: [1, 2], labels: [1, 2] }, { ids: [3, 4], labels: [3, 4] }], 0);
 * ```
 */
export function shuffleExamples<T>(examples: readonly T[], seed: number): T[] {
  const fn = 'shuffleExamples';
  if (!Array.isArray(examples)) {
    throw new TfjsBlocksError(fn, 'examples', 'an array', describeValue(examples));
  }
  if (typeof seed !== 'number' || !Number.isSafeInteger(seed)) {
    throw new TfjsBlocksError(fn, 'seed', 'a safe integer', describeValue(seed));
  }
  return permutation(examples.length, seed).map((i) => examples[i]!);
}

/** Options of {@link splitHeldOut}. */
export interface SplitHeldOutOptions {
  /** The share of examples held out, in (0, 1). Default `0.1`. */
  fraction?: number;
  /** Shuffle seed (a safe integer). Default `0`. */
  seed?: number;
}

const SPLIT_KEYS = optionKeys<SplitHeldOutOptions>({ fraction: true, seed: true });

/**
 * Splits examples into a training and a held-out set after a seeded
 * shuffle, as `datasets`' `train_test_split(test_size, seed)` does: the
 * held-out set has `max(1, round(fraction · n))` examples and both sets
 * are non-empty.
 *
 * @returns `{ train, heldOut }`, new arrays over the same example objects.
 * @example
 * ```ts
 * const examples = [1, 2, 3, 4].map((i) => ({ ids: [i, i], labels: [i, i] }));
 * const { train, heldOut } = splitHeldOut(examples, { fraction: 0.25, seed: 1 });
 * ```
 */
export function splitHeldOut<T>(
  examples: readonly T[],
  options: SplitHeldOutOptions = {},
): {
  /** The examples to train on. */
  train: T[];
  /** The held-out examples, for evaluation. */
  heldOut: T[];
} {
  const fn = 'splitHeldOut';
  checkOptionKeys(fn, options, SPLIT_KEYS);
  if (!Array.isArray(examples) || examples.length < 2) {
    throw new TfjsBlocksError(
      fn,
      'examples',
      'an array of at least 2 examples',
      describeValue(examples),
    );
  }
  const fraction = checkNumber(fn, 'options.fraction', options.fraction ?? 0.1, {
    min: 0,
    max: 1,
    minExclusive: true,
  });
  const seed = options.seed ?? 0;
  if (typeof seed !== 'number' || !Number.isSafeInteger(seed)) {
    throw new TfjsBlocksError(fn, 'options.seed', 'a safe integer', describeValue(seed));
  }
  const n = examples.length;
  const held = Math.min(n - 1, Math.max(1, Math.round(fraction * n)));
  const shuffled = permutation(n, seed).map((i) => examples[i]!);
  return { heldOut: shuffled.slice(0, held), train: shuffled.slice(held) };
}
