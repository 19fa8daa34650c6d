/**
 * Records keyed by names that come from users and files (parameter names,
 * safetensors tensor names, Hugging Face keys). Such a name may be any
 * string, `__proto__`, `constructor` and `toString` included, as Python
 * writes them happily. A `{}` record gets them wrong three ways: assigning
 * `record['__proto__']` replaces its prototype instead of adding an entry,
 * `name in record` finds inherited `constructor` or `toString`, and
 * `record[name]` reads them. These helpers make records with no prototype
 * and look names up among own keys only.
 */

/**
 * An empty record with no prototype: every string, `__proto__` included, is
 * an ordinary key of it and nothing is inherited.
 *
 * @example
 * ```ts
 * const tensors = emptyRecord<Tensor>();
 * tensors['__proto__'] = t; // an entry, not a new prototype
 * ```
 */
export function emptyRecord<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

/**
 * A prototype-less record of `entries` (what `Object.fromEntries` makes,
 * without `Object.prototype` behind it).
 *
 * @example
 * ```ts
 * const shapes = recordFromEntries(names.map((n) => [n, [2, 3]]));
 * ```
 */
export function recordFromEntries<T>(entries: Iterable<readonly [string, T]>): Record<string, T> {
  const out = emptyRecord<T>();
  for (const [key, value] of entries) out[key] = value;
  return out;
}

/**
 * Whether `record` has its own entry `name` (never an inherited one such as
 * `toString`). Safe on records with or without a prototype.
 *
 * @example
 * ```ts
 * hasName({ w: t }, 'toString'); // false
 * ```
 */
export function hasName(record: object, name: string): boolean {
  return Object.hasOwn(record, name);
}

/**
 * `record[name]` when it is an own entry, else `undefined`: `constructor` is
 * not read from `Object.prototype`.
 *
 * @example
 * ```ts
 * ownEntry(grads, 'constructor'); // undefined unless grads has such a gradient
 * ```
 */
export function ownEntry<T>(record: Readonly<Record<string, T>>, name: string): T | undefined {
  return Object.hasOwn(record, name) ? record[name] : undefined;
}

/** Marks where a nested record's values start and end in {@link recordSnapshot}. */
const NESTED = Symbol('nested');
const END = Symbol('end');

/**
 * A config record's own keys and values, nested records (a block's
 * `feedForward`, `norm`, `rope`) expanded, as a flat list that
 * {@link sameSnapshot} compares with `Object.is`: whether a config object
 * was changed in place since it was last validated or derived from.
 */
export function recordSnapshot(record: object, into: unknown[] = [], depth = 0): unknown[] {
  for (const key of Object.keys(record)) {
    const value = (record as Record<string, unknown>)[key];
    into.push(key);
    if (depth < 3 && value !== null && typeof value === 'object' && !Array.isArray(value)) {
      into.push(NESTED);
      recordSnapshot(value, into, depth + 1);
      into.push(END);
    } else {
      into.push(value);
    }
  }
  return into;
}

/** Whether two {@link recordSnapshot}s are equal. */
export function sameSnapshot(a: readonly unknown[], b: readonly unknown[]): boolean {
  return a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
}
