import { TfjsBlocksError } from '../errors';
import { describeValue } from '../internal/checks';
import { ownEntry } from '../internal/records';

/**
 * Reads the fields of a parsed Hugging Face `config.json` (or
 * `generation_config.json`): each read checks the value's type and range
 * and, when it is wrong, throws a `TfjsBlocksError` whose argument names the
 * file and field (`config.json: rope_scaling.factor`), so a bad folder
 * says where it is bad. Families read through this, never `json.x` directly.
 */
export type ConfigJsonReader = {
  /** The file's name in messages, e.g. `config.json`. */
  readonly file: string;
  /** Whether the field is present and not `null` (HF writes `null` for "unset"). */
  has(field: string): boolean;
  /** A whole number `>= min` (default 0), or `fallback` when absent. */
  integer(field: string, fallback?: number, min?: number): number;
  /** A finite number (`> 0` unless `allowNonPositive`), or `fallback` when absent. */
  number(field: string, fallback?: number, allowNonPositive?: boolean): number;
  /** A boolean, or `fallback` when absent. */
  boolean(field: string, fallback?: boolean): boolean;
  /** A string from `choices` (any string when `choices` is omitted), or `fallback` when absent. */
  string<S extends string>(field: string, choices?: readonly S[], fallback?: S): S;
  /** A whole number or a non-empty list of them (e.g. `eos_token_id`), or `fallback`. */
  integers(field: string, fallback?: number[]): number[];
  /** A non-empty list of non-empty lists of whole numbers >= 0 (e.g. `bad_words_ids`), or `fallback`. */
  integerLists(field: string, fallback?: number[][]): number[][];
  /** A nested object read the same way (`rope_scaling`), or `undefined` when absent. */
  object(field: string): ConfigJsonReader | undefined;
  /** Throws: the field holds a value we do not implement (`expected` says what we do). */
  unsupported(field: string, expected: string): never;
};

/**
 * A {@link ConfigJsonReader} over `json`, reporting errors as `fn`.
 *
 * @example
 * ```ts
 * const read = configJsonReader('loadPretrained', { hidden_size: 768, rms_norm_eps: 1e-6 });
 * read.integer('hidden_size', undefined, 1); // 768
 * read.number('rms_norm_eps', 1e-6); // 1e-6
 * ```
 */
export function configJsonReader(
  fn: string,
  json: unknown,
  file = 'config.json',
  prefix = '',
): ConfigJsonReader {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new TfjsBlocksError(
      fn,
      prefix === '' ? file : `${file}: ${prefix.slice(0, -1)}`,
      'a JSON object',
      describeValue(json),
    );
  }
  const record = json as Record<string, unknown>;
  const where = (field: string) => `${file}: ${prefix}${field}`;
  const get = (field: string) => {
    const value = ownEntry(record, field);
    return value === null ? undefined : value;
  };
  const missing = (field: string, expected: string): never => {
    throw new TfjsBlocksError(fn, where(field), expected, 'nothing');
  };
  const reader: ConfigJsonReader = {
    file,
    has: (field) => get(field) !== undefined,
    integer(field, fallback, min = 0) {
      const value = get(field);
      const expected = `a whole number >= ${min}`;
      if (value === undefined) return fallback ?? missing(field, expected);
      if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
        throw new TfjsBlocksError(fn, where(field), expected, describeValue(value));
      }
      return value;
    },
    number(field, fallback, allowNonPositive = false) {
      const value = get(field);
      const expected = allowNonPositive ? 'a finite number' : 'a finite number > 0';
      if (value === undefined) return fallback ?? missing(field, expected);
      if (
        typeof value !== 'number' ||
        !Number.isFinite(value) ||
        (!allowNonPositive && value <= 0)
      ) {
        throw new TfjsBlocksError(fn, where(field), expected, describeValue(value));
      }
      return value;
    },
    boolean(field, fallback) {
      const value = get(field);
      if (value === undefined) return fallback ?? missing(field, 'true or false');
      if (typeof value !== 'boolean') {
        throw new TfjsBlocksError(fn, where(field), 'true or false', describeValue(value));
      }
      return value;
    },
    string<S extends string>(field: string, choices?: readonly S[], fallback?: S): S {
      const value = get(field);
      const expected = choices
        ? `one of ${choices.map((c) => JSON.stringify(c)).join(', ')}`
        : 'a string';
      if (value === undefined) return fallback ?? missing(field, expected);
      if (typeof value !== 'string' || (choices && !choices.includes(value as S))) {
        throw new TfjsBlocksError(fn, where(field), expected, describeValue(value));
      }
      return value as S;
    },
    integers(field, fallback) {
      const value = get(field);
      const expected = 'a whole number >= 0 or a non-empty list of them';
      if (value === undefined) return fallback ?? missing(field, expected);
      const list = Array.isArray(value) ? value : [value];
      if (
        list.length === 0 ||
        list.some((v) => typeof v !== 'number' || !Number.isInteger(v) || v < 0)
      ) {
        throw new TfjsBlocksError(fn, where(field), expected, describeValue(value));
      }
      return list as number[];
    },
    integerLists(field, fallback) {
      const value = get(field);
      const expected = 'a non-empty list of non-empty lists of whole numbers >= 0';
      if (value === undefined) return fallback ?? missing(field, expected);
      const isId = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 0;
      if (
        !Array.isArray(value) ||
        value.length === 0 ||
        value.some((list) => !Array.isArray(list) || list.length === 0 || !list.every(isId))
      ) {
        throw new TfjsBlocksError(fn, where(field), expected, describeValue(value));
      }
      return value.map((list: number[]) => [...list]);
    },
    object(field) {
      const value = get(field);
      if (value === undefined) return undefined;
      return configJsonReader(fn, value, file, `${prefix}${field}.`);
    },
    unsupported(field, expected) {
      throw new TfjsBlocksError(fn, where(field), expected, describeValue(get(field)));
    },
  };
  return reader;
}
