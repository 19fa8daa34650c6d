import { Tensor } from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';

/** Formats a shape the way messages print it: `[2, 4, 16, 8]`. */
export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/**
 * The most characters of a user's value an error message quotes. Values come
 * from users and files: a message that printed a whole buffer could run to
 * millions of characters (or fail with a RangeError in `String()` itself).
 */
export const MAX_QUOTED_CHARS = 120;

/** `text`, cut to {@link MAX_QUOTED_CHARS} with a note of how much was left out. */
export function truncateForMessage(text: string, max = MAX_QUOTED_CHARS): string {
  if (text.length <= max) return text;
  return `${text.slice(0, max)}… (${text.length - max} more characters)`;
}

/**
 * Describes a value for the `actual` part of an error message, never quoting
 * more than {@link MAX_QUOTED_CHARS} of it and never stringifying a buffer.
 */
export function describeValue(x: unknown): string {
  if (x instanceof Tensor) return `a ${x.dtype} tensor of shape ${formatShape(x.shape)}`;
  if (x === null) return 'null';
  if (x === undefined) return 'undefined';
  if (Array.isArray(x)) return 'an array';
  if (ArrayBuffer.isView(x)) {
    const length = 'length' in x ? (x as unknown as ArrayLike<unknown>).length : x.byteLength;
    return `a ${x.constructor.name} of length ${length}`;
  }
  if (x instanceof ArrayBuffer) return `an ArrayBuffer of ${x.byteLength} bytes`;
  if (typeof x === 'object') return 'an object';
  if (typeof x === 'symbol') return 'a symbol';
  return `${typeof x} ${truncateForMessage(String(x))}`;
}

export interface TensorSpec {
  /** Required rank. */
  rank?: number;
  /** Allowed ranks (used when more than one is fine). */
  ranks?: readonly number[];
  /** Shape names for messages, e.g. `[batch, heads, time, headDim]`. */
  layout?: string;
}

/**
 * Checks that `x` is a float32 tensor of the required rank, with no
 * zero-sized dimension, and returns it typed.
 */
export function checkFloatTensor<T extends Tensor = Tensor>(
  fn: string,
  name: string,
  x: unknown,
  spec: TensorSpec = {},
): T {
  const ranks = spec.rank !== undefined ? [spec.rank] : spec.ranks;
  // The message is built only on failure: this check runs in every block
  // call, once per layer per decoded token.
  const expected = () => {
    const layout = spec.layout ? ` ${spec.layout}` : '';
    const rankText = ranks ? ` of rank ${ranks.join(' or ')}` : '';
    return `a float32 tensor${rankText}${layout}`;
  };
  if (!(x instanceof Tensor)) throw new TfjsBlocksError(fn, name, expected(), describeValue(x));
  if (x.isDisposed) throw new TfjsBlocksError(fn, name, expected(), 'a disposed tensor');
  if (x.dtype !== 'float32') throw new TfjsBlocksError(fn, name, expected(), describeValue(x));
  if (ranks && !ranks.includes(x.rank)) {
    throw new TfjsBlocksError(
      fn,
      name,
      expected(),
      `rank ${x.rank}, shape ${formatShape(x.shape)}`,
    );
  }
  if (x.shape.some((d: number) => d === 0)) {
    throw new TfjsBlocksError(fn, name, 'a tensor with no empty dimension', describeValue(x));
  }
  return x as T;
}

/**
 * Describes `array[index]` like {@link describeValue}, or says it is a hole
 * (`[1, , 3]`): `forEach`, `some` and `for…of` skip or read holes as
 * `undefined`, so a check over user arrays walks indices and names them.
 */
export function describeEntry(array: readonly unknown[], index: number): string {
  return index in array ? describeValue(array[index]) : 'a hole (an empty array slot)';
}

/**
 * `JSON.parse(text)`, or a typed error from `fn` naming `argument` (a file or
 * a field) with the parser's reason, and where the text came from if given.
 */
export function parseJson(fn: string, argument: string, text: string, where?: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    const place = where === undefined ? '' : ` in '${where}'`;
    throw new TfjsBlocksError(
      fn,
      argument,
      'valid JSON',
      `unparseable text (${truncateForMessage((e as Error).message)})${place}`,
    );
  }
}

/**
 * Throws unless `x` is a live tensor (of any dtype), and returns it typed:
 * a disposed tensor fails here, by name, rather than as tfjs's "Tensor is
 * disposed" deep inside a kernel.
 */
export function checkTensor(fn: string, name: string, x: unknown, expected = 'a tensor'): Tensor {
  if (!(x instanceof Tensor)) throw new TfjsBlocksError(fn, name, expected, describeValue(x));
  if (x.isDisposed) throw new TfjsBlocksError(fn, name, expected, 'a disposed tensor');
  return x;
}

/** Throws unless `actual` equals `expected` (a dimension that must match another). */
export function checkDim(
  fn: string,
  name: string,
  actual: number,
  expected: number,
  what: string,
): void {
  if (actual !== expected) {
    throw new TfjsBlocksError(fn, name, `${what} = ${expected}`, String(actual));
  }
}

/**
 * Throws unless `shape` broadcasts to `target` under NumPy rules without
 * growing: each of its trailing dims equals the target's or is 1, and its
 * rank is at most the target's.
 */
export function checkBroadcastsTo(
  fn: string,
  name: string,
  shape: readonly number[],
  target: readonly number[],
  layout: string,
): void {
  const expected = `broadcastable to ${formatShape(target)} ${layout}`;
  if (shape.length > target.length) {
    throw new TfjsBlocksError(
      fn,
      name,
      expected,
      `rank ${shape.length}, shape ${formatShape(shape)}`,
    );
  }
  const offset = target.length - shape.length;
  shape.forEach((d, i) => {
    if (d !== 1 && d !== target[offset + i]) {
      throw new TfjsBlocksError(fn, name, expected, `shape ${formatShape(shape)}`);
    }
  });
}

/** Throws unless `value` is an integer >= `min`. */
export function checkInteger(fn: string, name: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new TfjsBlocksError(fn, name, `an integer >= ${min}`, describeValue(value));
  }
  return value;
}

/** Throws unless `value` is a finite number in `[min, max)` (or `[min, max]` if `maxInclusive`). */
export function checkNumber(
  fn: string,
  name: string,
  value: unknown,
  range: { min?: number; max?: number; minExclusive?: boolean; maxInclusive?: boolean } = {},
): number {
  const { min = -Infinity, max = Infinity, minExclusive = false, maxInclusive = false } = range;
  // Built only on failure (hot paths check their epsilon on every call).
  const expected = () => {
    const lo = Number.isFinite(min) ? `${minExclusive ? '(' : '['}${min}` : '(-inf';
    const hi = Number.isFinite(max) ? `${max}${maxInclusive ? ']' : ')'}` : 'inf)';
    return `a finite number in ${lo}, ${hi}`;
  };
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new TfjsBlocksError(fn, name, expected(), describeValue(value));
  }
  const aboveMin = minExclusive ? value > min : value >= min;
  const belowMax = maxInclusive ? value <= max : value < max;
  if (!aboveMin || !belowMax) throw new TfjsBlocksError(fn, name, expected(), String(value));
  return value;
}

/** Throws unless `x` is a float32 tensor with exactly the shape of `reference`. */
export function checkSameShape(
  fn: string,
  name: string,
  x: unknown,
  referenceName: string,
  reference: Tensor,
): Tensor {
  const t = checkFloatTensor<Tensor>(fn, name, x);
  if (
    t.rank !== reference.rank ||
    t.shape.some((d: number, i: number) => d !== reference.shape[i])
  ) {
    throw new TfjsBlocksError(
      fn,
      name,
      `the shape of ${referenceName} ${formatShape(reference.shape)}`,
      `shape ${formatShape(t.shape)}`,
    );
  }
  return t;
}

/**
 * The size of the leading (batch) axis that every tensor of `tensors` shares,
 * for maps of named tensors that make one batch. The tensors must already be
 * checked to be live and of rank >= 1; the first one that differs is named
 * in the error, next to the first tensor of the map (`name` prefixes both).
 */
export function sharedLeadingDim(
  fn: string,
  name: string,
  tensors: Record<string, Tensor>,
): number {
  let size = -1;
  let first = '';
  for (const [key, t] of Object.entries(tensors)) {
    if (size < 0) {
      size = t.shape[0]!;
      first = key;
    } else if (t.shape[0] !== size) {
      throw new TfjsBlocksError(
        fn,
        `${name}.${key}.shape[0]`,
        `the batch size ${size} (as ${name}.${first})`,
        String(t.shape[0]),
      );
    }
  }
  return size;
}

/**
 * The option names of an options type `T`, as a list checked by the compiler
 * to be complete and exact: pass every key of `T` mapped to `true`
 * (`optionKeys<GenerateOptions>({ maxNewTokens: true, … })`). Used with
 * {@link checkOptionKeys}, it keeps the runtime list in step with the type.
 */
export function optionKeys<T extends object>(
  keys: { readonly [K in keyof Required<T>]: true },
): readonly string[] {
  return Object.freeze(Object.keys(keys));
}

/**
 * Throws unless `options` is `undefined` or a plain object whose own keys are
 * all in `known`. A typo such as `maxNewToken` would otherwise run silently
 * with the default; the error names the closest known option.
 *
 * @param name - how the options object is named in messages, `options` by default.
 */
export function checkOptionKeys(
  fn: string,
  options: unknown,
  known: readonly string[],
  name = 'options',
): void {
  if (options === undefined) return;
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new TfjsBlocksError(fn, name, 'an options object', describeValue(options));
  }
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue;
    const suggestion = renamedOption(key, known) ?? closestName(key, known);
    const hint = suggestion === undefined ? '' : ` (did you mean '${suggestion}'?)`;
    throw new TfjsBlocksError(
      fn,
      `${name}.${truncateForMessage(key, 60)}`,
      `one of the known options${hint}`,
      'an unknown option',
    );
  }
}

/**
 * Option names renamed before the first release, old → new (one name per
 * idea across the library): an old name is answered with its new one, which
 * edit distance alone would not find (`eps` is 4 edits from `epsilon`), and
 * a saved optimizer recipe with an old name still loads.
 */
export const RENAMED_OPTIONS: Readonly<Record<string, string>> = { eps: 'epsilon' };

/** The new name of a renamed option, when the function knows it. */
function renamedOption(name: string, known: readonly string[]): string | undefined {
  if (!Object.hasOwn(RENAMED_OPTIONS, name)) return undefined;
  const renamed = RENAMED_OPTIONS[name]!;
  return known.includes(renamed) ? renamed : undefined;
}

/** The entry of `candidates` nearest to `name` by edit distance, if any is near enough. */
function closestName(name: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(name.length / 3)) + 1;
  const lower = name.toLowerCase();
  for (const candidate of candidates) {
    const d = editDistance(lower, candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

/** Levenshtein distance (insertions, deletions, substitutions), two rows of memory. */
function editDistance(a: string, b: string): number {
  if (a.length > 64 || b.length > 64) return Math.max(a.length, b.length);
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length]!;
}

/**
 * Describes a value given where one of a few names or numbers belongs
 * (`'cos'`, `'min'`, `8`): a string is quoted bare, cut to
 * {@link MAX_QUOTED_CHARS}; a number or boolean as it is; anything else goes
 * through {@link describeValue}, which never prints a buffer or an array.
 */
export function describeChoice(x: unknown): string {
  if (typeof x === 'string') return truncateForMessage(x);
  if (typeof x === 'number' || typeof x === 'boolean') return String(x);
  return describeValue(x);
}

/**
 * Checks a boolean option: `undefined` gives `fallback`; anything but `true`
 * or `false` (`'yes'`, `1`) is a typed error naming `name`, never taken as true.
 * Shared by the optimizers, the losses and the Layer callbacks.
 */
export function checkFlag(fn: string, name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') {
    throw new TfjsBlocksError(fn, name, 'true or false', describeValue(value));
  }
  return value;
}
