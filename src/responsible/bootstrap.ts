import { TfjsBlocksError } from '../errors';
import { checkInteger, checkNumber, checkOptionKeys, optionKeys } from '../internal/checks';
import { splitSeed } from '../internal/seed';

/**
 * Options of a bootstrap confidence interval (the `confidenceInterval`
 * option of the fairness metrics and of {@link biasProbe}).
 */
export interface ConfidenceIntervalOptions {
  /** Bootstrap resamples, an integer >= 2. Default 1000. */
  nBoot?: number;
  /** Coverage of the interval, in (0, 1). Default 0.95. */
  level?: number;
  /** Seed of the resampling: the same seed gives the same interval. Default 0. */
  seed?: number;
}

/** A point estimate with a bootstrap percentile interval. */
export interface MetricWithInterval {
  /** The point estimate on the data as given (the value returned without the option). */
  value: number;
  /**
   * `[lo, hi]`: the `(1 − level) / 2` and `(1 + level) / 2` quantiles of the
   * resampled values (percentile bootstrap, linear interpolation between
   * order statistics as numpy's default `quantile`).
   */
  interval: [number, number];
  /** The coverage asked for. */
  level: number;
  /** Resamples drawn. */
  nBoot: number;
  /** Standard deviation of the resampled values (the bootstrap standard error). */
  standardError: number;
  /**
   * Resamples whose value was undefined (a ratio of 0/0) and were left out
   * of the interval and the standard error; 0 for differences and rates.
   */
  undefinedResamples: number;
}

export const CONFIDENCE_INTERVAL_OPTION_KEYS = optionKeys<ConfidenceIntervalOptions>({
  nBoot: true,
  level: true,
  seed: true,
});

/** The checked interval options, defaults filled in. */
export interface CheckedInterval {
  nBoot: number;
  level: number;
  seed: number;
}

/** Checks a `confidenceInterval` option and fills in its defaults. */
export function checkConfidenceInterval(
  fn: string,
  name: string,
  options: ConfidenceIntervalOptions,
): CheckedInterval {
  checkOptionKeys(fn, options, CONFIDENCE_INTERVAL_OPTION_KEYS, name);
  const nBoot = checkInteger(fn, `${name}.nBoot`, options.nBoot ?? 1000, 2);
  const level = checkNumber(fn, `${name}.level`, options.level ?? 0.95, {
    min: 0,
    max: 1,
    minExclusive: true,
  });
  const seed = checkNumber(fn, `${name}.seed`, options.seed ?? 0);
  return { nBoot, level, seed };
}

/**
 * A seeded uniform generator on [0, 1) (mulberry32, seeded through
 * `splitSeed` so nearby seeds give unrelated streams).
 */
export function seededUniform(seed: number): () => number {
  let state = splitSeed(seed, 1)[0]!;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The `q`-quantile of ascending `sorted` (numpy's default linear interpolation). */
export function quantileOfSorted(sorted: readonly number[], q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo]! + (pos - lo) * (sorted[hi]! - sorted[lo]!);
}

/** Draws `ci.nBoot` resampled statistics, each from `replicate(uniform)` with one seeded stream. */
export function drawReplicates<T>(
  ci: CheckedInterval,
  replicate: (uniform: () => number) => T,
): T[] {
  const uniform = seededUniform(ci.seed);
  const out: T[] = [];
  for (let b = 0; b < ci.nBoot; b++) out.push(replicate(uniform));
  return out;
}

/**
 * The percentile interval of resampled `values` around the point estimate
 * `value`. Undefined (NaN) resamples are counted and left out; if every one
 * is undefined there is no interval, a typed error.
 */
export function percentileInterval(
  fn: string,
  value: number,
  replicates: readonly number[],
  ci: CheckedInterval,
): MetricWithInterval {
  const values = replicates.filter((v) => !Number.isNaN(v));
  if (values.length === 0) {
    throw new TfjsBlocksError(
      fn,
      'options.confidenceInterval',
      'resamples with a defined value',
      `all ${ci.nBoot} undefined (0/0)`,
    );
  }
  values.sort((a, b) => a - b);
  const mean = values.reduce((s, v) => s + v, 0) / values.length;
  const variance = values.reduce((s, v) => s + (v - mean) ** 2, 0) / values.length;
  return {
    value,
    interval: [
      quantileOfSorted(values, (1 - ci.level) / 2),
      quantileOfSorted(values, (1 + ci.level) / 2),
    ],
    level: ci.level,
    nBoot: ci.nBoot,
    standardError: Math.sqrt(variance),
    undefinedResamples: replicates.length - values.length,
  };
}

/**
 * One stratified resample: from each stratum (a list of row indices), draws
 * as many rows as it holds, with replacement, so every stratum (every group)
 * is in every resample with its original size. Calls `visit(row)` per draw.
 */
export function resampleStrata(
  strata: readonly (readonly number[])[],
  uniform: () => number,
  visit: (row: number) => void,
): void {
  for (const rows of strata) {
    const n = rows.length;
    for (let k = 0; k < n; k++) visit(rows[Math.floor(uniform() * n)]!);
  }
}
