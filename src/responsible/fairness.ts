import type { Tensor } from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import { checkOptionKeys, optionKeys } from '../internal/checks';
import {
  type CheckedInterval,
  type ConfidenceIntervalOptions,
  checkConfidenceInterval,
  drawReplicates,
  type MetricWithInterval,
  percentileInterval,
  resampleStrata,
} from './bootstrap';
import { quote, readValues } from './mitigation-inputs';

/**
 * Binary labels or predictions: `0`/`1` numbers, booleans, or a tensor of
 * any dtype whose values are 0 or 1 (rank 1, or any rank: it is read
 * flattened). `1` / `true` is the positive ("selected") outcome.
 */
export type BinaryLabels = readonly number[] | readonly boolean[] | Tensor;

/** One value of a sensitive feature: a group label. */
export type GroupLabel = string | number | boolean;

/**
 * The sensitive feature of each sample (its group), as plain values or a
 * tensor (read flattened; its numbers are the group labels).
 */
export type SensitiveFeatures = readonly GroupLabel[] | Tensor;

/** Options of the fairness metrics. */
export interface FairnessOptions {
  /**
   * The groups to report, in order. Every sample's group must be listed and
   * every listed group must have at least one sample (an empty group has no
   * rates: fairlearn drops it silently, we reject it so that a typo or a
   * filtered-away group is not missed). Default: the distinct values of
   * `sensitiveFeatures`, in order of first appearance.
   */
  groups?: readonly GroupLabel[];
  /**
   * One non-negative finite weight per sample (fairlearn's `sample_weight`):
   * the counts `count`, `tp`, `fp`, `tn`, `fn` become sums of weights and the
   * rates weighted rates, so an integer weight `k` is the same as the row
   * repeated `k` times. Every group needs a positive total weight. Default:
   * every weight 1.
   */
  sampleWeight?: readonly number[] | Tensor;
  /**
   * Asks for a bootstrap percentile interval: the metric then returns a
   * {@link MetricWithInterval} (`groupConfusionMetrics` adds `intervals`)
   * instead of a number. Resamples are stratified by group, so every
   * resample holds every group with its original size; the rates conditioned
   * on the label (TPR, FPR: equalized odds and equal opportunity) are
   * resampled within each (group, true label) cell, so a group keeps its
   * positives and negatives too. Every group needs at least 2 samples.
   * Default: no interval.
   */
  confidenceInterval?: ConfidenceIntervalOptions;
}

/** {@link FairnessOptions} that ask for an interval. */
export type FairnessOptionsWithInterval = FairnessOptions & {
  /** The bootstrap interval asked for. */
  confidenceInterval: ConfidenceIntervalOptions;
};

/** {@link FairnessOptions} that ask for no interval (the metric returns a number). */
export type FairnessOptionsWithoutInterval = FairnessOptions & {
  /** Absent: no interval. */
  confidenceInterval?: undefined;
};

/** Confusion counts and rates of one group (or of all samples). */
export interface ConfusionMetrics {
  /**
   * Samples in the group; with `sampleWeight`, the sum of their weights (as
   * are `tp`, `fp`, `tn` and `fn`).
   */
  count: number;
  /** True positives: label 1, predicted 1. */
  tp: number;
  /** False positives: label 0, predicted 1. */
  fp: number;
  /** True negatives: label 0, predicted 0. */
  tn: number;
  /** False negatives: label 1, predicted 0. */
  fn: number;
  /** `(tp + fp) / count`: the fraction predicted positive, `P(h(X)=1 | A=a)`. */
  selectionRate: number;
  /** `tp / (tp + fn)`, `P(h(X)=1 | A=a, Y=1)`; 0 when the group has no positives. */
  truePositiveRate: number;
  /** `fp / (fp + tn)`, `P(h(X)=1 | A=a, Y=0)`; 0 when the group has no negatives. */
  falsePositiveRate: number;
  /** `(tp + tn) / count`. */
  accuracy: number;
  /** `tp / (tp + fp)`; 0 when the group has no predicted positives. */
  precision: number;
}

/** The rates of {@link ConfusionMetrics} (the fields an interval is given for). */
export type RateName =
  | 'selectionRate'
  | 'truePositiveRate'
  | 'falsePositiveRate'
  | 'accuracy'
  | 'precision';

/** A bootstrap interval for each rate of one group (or of all samples). */
export type RateIntervals = Record<RateName, MetricWithInterval>;

/** What {@link groupConfusionMetrics} returns. */
export interface GroupConfusionMetrics {
  /** Metrics per group, in the order of `options.groups` or of first appearance. */
  byGroup: Map<GroupLabel, ConfusionMetrics>;
  /** Metrics over all samples. */
  overall: ConfusionMetrics;
}

/** What {@link groupConfusionMetrics} returns with `options.confidenceInterval`. */
export interface GroupConfusionMetricsWithIntervals extends GroupConfusionMetrics {
  /** A bootstrap interval for every rate, per group and overall. */
  intervals: {
    /** The intervals of each group's rates, by group label. */
    byGroup: Map<GroupLabel, RateIntervals>;
    /** The intervals of the rates over all samples. */
    overall: RateIntervals;
  };
}

function readBinary(fn: string, name: string, x: unknown): boolean[] {
  return readValues(fn, name, x).map((v, i) => {
    if (v === 1 || v === true) return true;
    if (v === 0 || v === false) return false;
    throw new TfjsBlocksError(fn, `${name}[${i}]`, '0, 1, true or false', quote(v));
  });
}

function readGroups(fn: string, name: string, x: unknown): GroupLabel[] {
  return readValues(fn, name, x).map((v, i) => {
    if (typeof v === 'string' || typeof v === 'boolean') return v;
    if (typeof v === 'number' && !Number.isNaN(v)) return v;
    throw new TfjsBlocksError(fn, `${name}[${i}]`, 'a string, number or boolean', quote(v));
  });
}

function confusion(tp: number, fp: number, tn: number, fn: number): ConfusionMetrics {
  // A zero denominator gives 0, as fairlearn does: its rates come from
  // sklearn's confusion_matrix(normalize='true'), which turns 0/0 into 0, and
  // sklearn's precision defaults to 0 for no predicted positives.
  const div = (a: number, b: number) => (b === 0 ? 0 : a / b);
  const count = tp + fp + tn + fn;
  return {
    count,
    tp,
    fp,
    tn,
    fn,
    selectionRate: div(tp + fp, count),
    truePositiveRate: div(tp, tp + fn),
    falsePositiveRate: div(fp, fp + tn),
    accuracy: div(tp + tn, count),
    precision: div(tp, tp + fp),
  };
}

/** The keys of {@link FairnessOptions}. */
const FAIRNESS_OPTION_KEYS = optionKeys<FairnessOptions>({
  groups: true,
  sampleWeight: true,
  confidenceInterval: true,
});

const RATE_NAMES: readonly RateName[] = [
  'selectionRate',
  'truePositiveRate',
  'falsePositiveRate',
  'accuracy',
  'precision',
];

/** The checked samples of one metric call. */
interface Samples {
  /** The group labels, in report order. */
  labels: GroupLabel[];
  /** Each sample's group, as an index into `labels`. */
  group: Int32Array;
  /** Each sample's cell, an index into [tp, fp, tn, fn]. */
  cell: Uint8Array;
  /** Each sample's weight. */
  weight: Float64Array;
  /** Resampling strata: the rows of each group. */
  groupStrata: number[][];
  /**
   * The rows of each (group, true label) cell: the strata of the rates
   * conditioned on the label (TPR, FPR), whose denominators must keep their
   * size in every resample.
   */
  labelStrata: number[][];
}

function readWeights(fn: string, x: unknown, n: number): Float64Array {
  const values = readValues(fn, 'options.sampleWeight', x);
  if (values.length !== n) {
    throw new TfjsBlocksError(
      fn,
      'options.sampleWeight',
      `length ${n} (as yPred)`,
      `${values.length}`,
    );
  }
  const weight = new Float64Array(n);
  values.forEach((v, i) => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
      throw new TfjsBlocksError(fn, `options.sampleWeight[${i}]`, 'a finite number >= 0', quote(v));
    }
    weight[i] = v;
  });
  return weight;
}

function readSamples(
  fn: string,
  yTrue: unknown,
  yPred: unknown,
  sensitiveFeatures: unknown,
  options: FairnessOptions,
): Samples {
  checkOptionKeys(fn, options, FAIRNESS_OPTION_KEYS);
  const pred = readBinary(fn, 'yPred', yPred);
  // Demographic parity needs no labels: it then passes the predictions as
  // labels too, which only the unused rates see.
  const truth = yTrue === undefined ? pred : readBinary(fn, 'yTrue', yTrue);
  const groups = readGroups(fn, 'sensitiveFeatures', sensitiveFeatures);
  if (truth.length !== pred.length) {
    throw new TfjsBlocksError(fn, 'yTrue', `length ${pred.length} (as yPred)`, `${truth.length}`);
  }
  if (groups.length !== pred.length) {
    throw new TfjsBlocksError(
      fn,
      'sensitiveFeatures',
      `length ${pred.length} (as yPred)`,
      `${groups.length}`,
    );
  }
  if (pred.length === 0) throw new TfjsBlocksError(fn, 'yPred', 'non-empty', 'no samples');
  const n = pred.length;
  const weight =
    options.sampleWeight === undefined
      ? new Float64Array(n).fill(1)
      : readWeights(fn, options.sampleWeight, n);

  const index = new Map<GroupLabel, number>();
  if (options.groups !== undefined) {
    for (const g of readGroups(fn, 'options.groups', options.groups as unknown)) {
      if (index.has(g)) {
        throw new TfjsBlocksError(fn, 'options.groups', 'distinct values', `${quote(g)} twice`);
      }
      index.set(g, index.size);
    }
  }
  const group = new Int32Array(n);
  const cell = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    let k = index.get(groups[i]!);
    if (k === undefined) {
      if (options.groups !== undefined) {
        throw new TfjsBlocksError(
          fn,
          `sensitiveFeatures[${i}]`,
          'one of options.groups',
          quote(groups[i]),
        );
      }
      k = index.size;
      index.set(groups[i]!, k);
    }
    group[i] = k;
    // Index into [tp, fp, tn, fn].
    cell[i] = truth[i] ? (pred[i] ? 0 : 3) : pred[i] ? 1 : 2;
  }
  const labels = [...index.keys()];
  const sizes = new Array<number>(labels.length).fill(0);
  const totals = new Array<number>(labels.length).fill(0);
  for (let i = 0; i < n; i++) {
    sizes[group[i]!]!++;
    totals[group[i]!]! += weight[i]!;
  }
  labels.forEach((g, k) => {
    if (sizes[k] === 0) {
      throw new TfjsBlocksError(
        fn,
        'options.groups',
        'groups with at least one sample',
        `${quote(g)} with none`,
      );
    }
    if (totals[k] === 0) {
      throw new TfjsBlocksError(
        fn,
        'options.sampleWeight',
        'a positive total weight in every group',
        `0 for group ${quote(g)}`,
      );
    }
  });
  if (labels.length < 2) {
    throw new TfjsBlocksError(fn, 'sensitiveFeatures', 'at least two groups', `${labels.length}`);
  }
  const groupStrata: number[][] = labels.map(() => []);
  const labelStrata: number[][] = Array.from({ length: labels.length * 2 }, () => []);
  for (let i = 0; i < n; i++) {
    groupStrata[group[i]!]!.push(i);
    labelStrata[group[i]! * 2 + (truth[i] ? 1 : 0)]!.push(i);
  }
  return {
    labels,
    group,
    cell,
    weight,
    groupStrata,
    labelStrata: labelStrata.filter((rows) => rows.length > 0),
  };
}

/** The group table of the rows `visit` yields (every row once by default). */
function tally(s: Samples, visit?: (add: (row: number) => void) => void): GroupConfusionMetrics {
  const counts = new Float64Array(s.labels.length * 4);
  const add = (i: number) => {
    counts[s.group[i]! * 4 + s.cell[i]!]! += s.weight[i]!;
  };
  if (visit === undefined) for (let i = 0; i < s.group.length; i++) add(i);
  else visit(add);
  const byGroup = new Map<GroupLabel, ConfusionMetrics>();
  const total = [0, 0, 0, 0] as [number, number, number, number];
  s.labels.forEach((g, k) => {
    const c = [counts[k * 4]!, counts[k * 4 + 1]!, counts[k * 4 + 2]!, counts[k * 4 + 3]!] as [
      number,
      number,
      number,
      number,
    ];
    for (let j = 0; j < 4; j++) total[j]! += c[j]!;
    byGroup.set(g, confusion(...c));
  });
  return { byGroup, overall: confusion(...total) };
}

/** The checked interval options, or undefined when none was asked for. */
function intervalOptions(fn: string, options: FairnessOptions): CheckedInterval | undefined {
  if (options.confidenceInterval === undefined) return undefined;
  return checkConfidenceInterval(fn, 'options.confidenceInterval', options.confidenceInterval);
}

/**
 * Checks that a bootstrap can vary every group: a group of one sample would
 * be the same in every resample (a zero-width interval that hides the
 * uncertainty), so it is rejected.
 */
function checkResamplable(fn: string, s: Samples): void {
  const sizes = new Array<number>(s.labels.length).fill(0);
  for (const g of s.group) sizes[g]!++;
  s.labels.forEach((g, k) => {
    if (sizes[k]! < 2) {
      throw new TfjsBlocksError(
        fn,
        'sensitiveFeatures',
        'at least 2 samples in every group for a bootstrap interval',
        `group ${quote(g)} with ${sizes[k]}`,
      );
    }
  });
}

/** Resampled group tables within `strata`: same seed, same tables. */
function resampledTables(
  s: Samples,
  ci: CheckedInterval,
  strata: readonly (readonly number[])[],
): GroupConfusionMetrics[] {
  return drawReplicates(ci, (uniform) => tally(s, (add) => resampleStrata(strata, uniform, add)));
}

/** The rates conditioned on the true label, resampled within (group, label) cells. */
const LABEL_CONDITIONED: ReadonlySet<RateName> = new Set(['truePositiveRate', 'falsePositiveRate']);

/**
 * A metric read from the group table, with or without its interval. A ratio
 * that is 0/0 on the data has no interval: `undefinedRatio` names what to fix.
 */
function metric(
  fn: string,
  yTrue: unknown,
  yPred: unknown,
  sensitiveFeatures: unknown,
  options: FairnessOptions,
  statistic: (table: GroupConfusionMetrics) => number,
  undefinedRatio?: (table: GroupConfusionMetrics) => string,
): number | MetricWithInterval {
  // TPR and FPR metrics (the ones given labels) resample within (group, label) cells.
  const s = readSamples(fn, yTrue, yPred, sensitiveFeatures, options);
  const ci = intervalOptions(fn, options);
  const table = tally(s);
  const value = statistic(table);
  if (ci === undefined) return value;
  if (Number.isNaN(value)) {
    const argument = undefinedRatio?.(table) ?? 'yPred';
    throw new TfjsBlocksError(
      fn,
      argument,
      'data on which the ratio is defined, for an interval',
      'a largest group rate of 0 (the ratio is 0/0)',
    );
  }
  checkResamplable(fn, s);
  const strata = yTrue === undefined ? s.groupStrata : s.labelStrata;
  return percentileInterval(fn, value, resampledTables(s, ci, strata).map(statistic), ci);
}

/** The argument to blame when a TPR or FPR ratio is 0/0: no positives (negatives) at all is the labels' doing. */
function blameRate(key: 'truePositiveRate' | 'falsePositiveRate') {
  return (table: GroupConfusionMetrics): string => {
    const o = table.overall;
    const denominator = key === 'truePositiveRate' ? o.tp + o.fn : o.fp + o.tn;
    return denominator === 0 ? 'yTrue' : 'yPred';
  };
}

function rates(result: GroupConfusionMetrics, key: keyof ConfusionMetrics): number[] {
  return [...result.byGroup.values()].map((m) => m[key]);
}

function difference(values: number[]): number {
  return Math.max(...values) - Math.min(...values);
}

/** min/max; 0/0 is NaN (fairlearn divides with numpy and gets NaN there too). */
function ratio(values: number[]): number {
  const max = Math.max(...values);
  const min = Math.min(...values);
  return max === 0 ? Number.NaN : min / max;
}

/** max − min selection rate. */
const dpDifference = (t: GroupConfusionMetrics) => difference(rates(t, 'selectionRate'));
/** min / max selection rate. */
const dpRatio = (t: GroupConfusionMetrics) => ratio(rates(t, 'selectionRate'));
/** The larger of the TPR and FPR differences. */
const eoDifference = (t: GroupConfusionMetrics) =>
  Math.max(difference(rates(t, 'truePositiveRate')), difference(rates(t, 'falsePositiveRate')));
/** The smaller of the TPR and FPR ratios; NaN when either is 0/0. */
const eoRatio = (t: GroupConfusionMetrics) => {
  const tpr = ratio(rates(t, 'truePositiveRate'));
  const fpr = ratio(rates(t, 'falsePositiveRate'));
  return Number.isNaN(tpr) || Number.isNaN(fpr) ? Number.NaN : Math.min(tpr, fpr);
};
/** max − min TPR. */
const eopDifference = (t: GroupConfusionMetrics) => difference(rates(t, 'truePositiveRate'));
/** min / max TPR. */
const eopRatio = (t: GroupConfusionMetrics) => ratio(rates(t, 'truePositiveRate'));
/** Blames the rate whose ratio is 0/0 (TPR first). */
const blameEqualizedOdds = (t: GroupConfusionMetrics) =>
  Number.isNaN(ratio(rates(t, 'truePositiveRate')))
    ? blameRate('truePositiveRate')(t)
    : blameRate('falsePositiveRate')(t);

/**
 * Per-group confusion counts and rates of binary predictions, plus the same
 * over all samples: the table every fairness metric here is read from (as
 * fairlearn's `MetricFrame` with `selection_rate`, `true_positive_rate`,
 * `false_positive_rate`, `accuracy_score` and `precision_score`).
 *
 * A rate whose denominator is zero is 0 (fairlearn's and sklearn's
 * convention, without their warning): a group with no positives has TPR 0,
 * one with no negatives FPR 0, one with no predicted positives precision 0.
 *
 * @param yTrue - the true labels, 0/1 or booleans, length n.
 * @param yPred - the predicted labels, 0/1 or booleans, length n.
 * @param sensitiveFeatures - each sample's group, length n; at least two groups.
 * @param options - {@link FairnessOptions}.
 * With `options.sampleWeight` the counts are sums of weights and the rates
 * weighted rates. With `options.confidenceInterval` the result also holds
 * `intervals`: a {@link MetricWithInterval} for each rate, per group and
 * overall (resamples stratified by group; TPR and FPR by group and true label).
 *
 * @returns per-group and overall {@link ConfusionMetrics} (and `intervals`
 *   when asked for: {@link GroupConfusionMetricsWithIntervals}).
 * @throws TfjsBlocksError on mismatched lengths, labels other than 0/1, an
 *   empty listed group, a sample outside the listed groups, fewer than two
 *   groups, a negative or non-finite weight, a group of total weight 0, or
 *   (with an interval) a group of one sample.
 * @example
 * ```ts
 * const { byGroup, overall } = groupConfusionMetrics(
 *   [1, 0, 1, 1, 0, 0],
 *   [1, 0, 0, 1, 1, 0],
 *   ['a', 'a', 'a', 'b', 'b', 'b'],
 * );
 * byGroup.get('a')?.truePositiveRate; // 0.5
 * overall.accuracy; // 4 / 6
 *
 * // Weighted, with a 90% bootstrap interval for every rate:
 * const withCi = groupConfusionMetrics([1, 0, 1, 1, 0, 0], [1, 0, 0, 1, 1, 0], ['a', 'a', 'a', 'b', 'b', 'b'], {
 *   sampleWeight: [1, 2, 1, 1, 1, 3],
 *   confidenceInterval: { nBoot: 200, level: 0.9, seed: 1 },
 * });
 * withCi.intervals.byGroup.get('a')?.selectionRate.interval; // [lo, hi]
 * ```
 */
export function groupConfusionMetrics(
  yTrue: BinaryLabels,
  yPred: BinaryLabels,
  sensitiveFeatures: SensitiveFeatures,
  options: FairnessOptionsWithInterval,
): GroupConfusionMetricsWithIntervals;
export function groupConfusionMetrics(
  yTrue: BinaryLabels,
  yPred: BinaryLabels,
  sensitiveFeatures: SensitiveFeatures,
  options?: FairnessOptionsWithoutInterval,
): GroupConfusionMetrics;
export function groupConfusionMetrics(
  yTrue: BinaryLabels,
  yPred: BinaryLabels,
  sensitiveFeatures: SensitiveFeatures,
  options?: FairnessOptions,
): GroupConfusionMetrics | GroupConfusionMetricsWithIntervals;
export function groupConfusionMetrics(
  yTrue: BinaryLabels,
  yPred: BinaryLabels,
  sensitiveFeatures: SensitiveFeatures,
  options: FairnessOptions = {},
): GroupConfusionMetrics | GroupConfusionMetricsWithIntervals {
  const fn = 'groupConfusionMetrics';
  const s = readSamples(fn, yTrue, yPred, sensitiveFeatures, options);
  const ci = intervalOptions(fn, options);
  const table = tally(s);
  if (ci === undefined) return table;
  checkResamplable(fn, s);
  const byGroupTables = resampledTables(s, ci, s.groupStrata);
  const byLabelTables = resampledTables(s, ci, s.labelStrata);
  const rateIntervals = (
    point: ConfusionMetrics,
    pick: (t: GroupConfusionMetrics) => ConfusionMetrics,
  ) => {
    const out = {} as RateIntervals;
    for (const rate of RATE_NAMES) {
      const tables = LABEL_CONDITIONED.has(rate) ? byLabelTables : byGroupTables;
      out[rate] = percentileInterval(
        fn,
        point[rate],
        tables.map((t) => pick(t)[rate]),
        ci,
      );
    }
    return out;
  };
  const byGroup = new Map<GroupLabel, RateIntervals>();
  for (const [g, m] of table.byGroup)
    byGroup.set(
      g,
      rateIntervals(m, (t) => t.byGroup.get(g)!),
    );
  return {
    ...table,
    intervals: { byGroup, overall: rateIntervals(table.overall, (t) => t.overall) },
  };
}

/**
 * Demographic parity difference: the largest minus the smallest group
 * selection rate, `max_a P(h(X)=1 | A=a) − min_a P(h(X)=1 | A=a)`. 0 means
 * every group is selected equally often. (fairlearn's
 * `demographic_parity_difference` with `method='between_groups'`; labels are
 * not needed.)
 *
 * @param yPred - the predicted labels, 0/1 or booleans.
 * @param sensitiveFeatures - each sample's group; at least two groups.
 * @param options - {@link FairnessOptions}.
 * @returns a number in [0, 1]; with `options.confidenceInterval`, a
 *   {@link MetricWithInterval}.
 * @example
 * ```ts
 * demographicParityDifference([1, 1, 0, 1, 0, 0], ['a', 'a', 'a', 'b', 'b', 'b']); // 2/3 − 1/3
 * // With a 95% bootstrap interval (resamples stratified by group):
 * const { value, interval } = demographicParityDifference(
 *   [1, 1, 0, 1, 0, 0],
 *   ['a', 'a', 'a', 'b', 'b', 'b'],
 *   { confidenceInterval: { nBoot: 500, seed: 7 } },
 * );
 * ```
 */
export function demographicParityDifference(
  yPred: BinaryLabels,
  sensitiveFeatures: SensitiveFeatures,
  options: FairnessOptionsWithInterval,
): MetricWithInterval;
export function demographicParityDifference(
  yPred: BinaryLabels,
  sensitiveFeatures: SensitiveFeatures,
  options?: FairnessOptionsWithoutInterval,
): number;
export function demographicParityDifference(
  yPred: BinaryLabels,
  sensitiveFeatures: SensitiveFeatures,
  options?: FairnessOptions,
): number | MetricWithInterval;
export function demographicParityDifference(
  yPred: BinaryLabels,
  sensitiveFeatures: SensitiveFeatures,
  options: FairnessOptions = {},
): number | MetricWithInterval {
  return metric(
    'demographicParityDifference',
    undefined,
    yPred,
    sensitiveFeatures,
    options,
    dpDifference,
  );
}

/**
 * Demographic parity ratio: the smallest over the largest group selection
 * rate. 1 means every group is selected equally often (the "four-fifths
 * rule" asks for at least 0.8). NaN when no group is ever selected (0/0, as
 * in fairlearn).
 *
 * @param yPred - the predicted labels, 0/1 or booleans.
 * @param sensitiveFeatures - each sample's group; at least two groups.
 * @param options - {@link FairnessOptions}.
 * @returns a number in [0, 1], or NaN; with `options.confidenceInterval`, a
 *   {@link MetricWithInterval} (a ratio that is 0/0 on the data is then a
 *   typed error, never a NaN report).
 * @example
 * ```ts
 * demographicParityRatio([1, 1, 0, 1, 0, 0], ['a', 'a', 'a', 'b', 'b', 'b']); // (1/3) / (2/3) = 0.5
 * ```
 */
export function demographicParityRatio(
  yPred: BinaryLabels,
  sensitiveFeatures: SensitiveFeatures,
  options: FairnessOptionsWithInterval,
): MetricWithInterval;
export function demographicParityRatio(
  yPred: BinaryLabels,
  sensitiveFeatures: SensitiveFeatures,
  options?: FairnessOptionsWithoutInterval,
): number;
export function demographicParityRatio(
  yPred: BinaryLabels,
  sensitiveFeatures: SensitiveFeatures,
  options?: FairnessOptions,
): number | MetricWithInterval;
export function demographicParityRatio(
  yPred: BinaryLabels,
  sensitiveFeatures: SensitiveFeatures,
  options: FairnessOptions = {},
): number | MetricWithInterval {
  return metric('demographicParityRatio', undefined, yPred, sensitiveFeatures, options, dpRatio);
}

/**
 * Equalized odds difference: the larger of the true-positive-rate difference
 * and the false-positive-rate difference across groups (fairlearn's
 * `equalized_odds_difference` with its default `agg='worst_case'`). 0 means
 * every group has the same TPR and FPR.
 *
 * @param yTrue - the true labels, 0/1 or booleans.
 * @param yPred - the predicted labels, 0/1 or booleans.
 * @param sensitiveFeatures - each sample's group; at least two groups.
 * @param options - {@link FairnessOptions}.
 * @returns a number in [0, 1]; with `options.confidenceInterval`, a
 *   {@link MetricWithInterval}.
 * @example
 * ```ts
 * // a: TPR 1, FPR 1/2; b: TPR 1/2, FPR 0 -> max(1/2, 1/2)
 * const groups = ['a', 'a', 'a', 'a', 'b', 'b', 'b', 'b'];
 * equalizedOddsDifference([1, 1, 0, 0, 1, 1, 0, 0], [1, 1, 1, 0, 1, 0, 0, 0], groups); // 0.5
 * ```
 */
export function equalizedOddsDifference(
  yTrue: BinaryLabels,
  yPred: BinaryLabels,
  sensitiveFeatures: SensitiveFeatures,
  options: FairnessOptionsWithInterval,
): MetricWithInterval;
export function equalizedOddsDifference(
  yTrue: BinaryLabels,
  yPred: BinaryLabels,
  sensitiveFeatures: SensitiveFeatures,
  options?: FairnessOptionsWithoutInterval,
): number;
export function equalizedOddsDifference(
  yTrue: BinaryLabels,
  yPred: BinaryLabels,
  sensitiveFeatures: SensitiveFeatures,
  options?: FairnessOptions,
): number | MetricWithInterval;
export function equalizedOddsDifference(
  yTrue: BinaryLabels,
  yPred: BinaryLabels,
  sensitiveFeatures: SensitiveFeatures,
  options: FairnessOptions = {},
): number | MetricWithInterval {
  return metric('equalizedOddsDifference', yTrue, yPred, sensitiveFeatures, options, eoDifference);
}

/**
 * Equalized odds ratio: the smaller of the TPR ratio and the FPR ratio
 * (min over max across groups; fairlearn's `equalized_odds_ratio`,
 * `agg='worst_case'`). NaN when either ratio is 0/0, e.g. when no group has
 * a false positive. (fairlearn takes Python's `min` of the two, whose answer
 * with a NaN depends on their order; NaN either way is the honest answer.)
 *
 * @param yTrue - the true labels, 0/1 or booleans.
 * @param yPred - the predicted labels, 0/1 or booleans.
 * @param sensitiveFeatures - each sample's group; at least two groups.
 * @param options - {@link FairnessOptions}.
 * @returns a number in [0, 1], or NaN; with `options.confidenceInterval`, a
 *   {@link MetricWithInterval} (a ratio that is 0/0 on the data is then a
 *   typed error, never a NaN report).
 * @example
 * ```ts
 * // a: TPR 1, FPR 1/2; b: TPR 1/2, FPR 1/4 (4 negatives) -> min(1/2, 1/2)
 * const yTrue = [1, 1, 0, 0, 1, 1, 0, 0, 0, 0];
 * const yPred = [1, 1, 1, 0, 1, 0, 1, 0, 0, 0];
 * equalizedOddsRatio(yTrue, yPred, ['a', 'a', 'a', 'a', 'b', 'b', 'b', 'b', 'b', 'b']); // 0.5
 * ```
 */
export function equalizedOddsRatio(
  yTrue: BinaryLabels,
  yPred: BinaryLabels,
  sensitiveFeatures: SensitiveFeatures,
  options: FairnessOptionsWithInterval,
): MetricWithInterval;
export function equalizedOddsRatio(
  yTrue: BinaryLabels,
  yPred: BinaryLabels,
  sensitiveFeatures: SensitiveFeatures,
  options?: FairnessOptionsWithoutInterval,
): number;
export function equalizedOddsRatio(
  yTrue: BinaryLabels,
  yPred: BinaryLabels,
  sensitiveFeatures: SensitiveFeatures,
  options?: FairnessOptions,
): number | MetricWithInterval;
export function equalizedOddsRatio(
  yTrue: BinaryLabels,
  yPred: BinaryLabels,
  sensitiveFeatures: SensitiveFeatures,
  options: FairnessOptions = {},
): number | MetricWithInterval {
  return metric(
    'equalizedOddsRatio',
    yTrue,
    yPred,
    sensitiveFeatures,
    options,
    eoRatio,
    blameEqualizedOdds,
  );
}

/**
 * Equal opportunity difference: the largest minus the smallest group true
 * positive rate, `max_a P(h(X)=1 | A=a, Y=1) − min_a …` (fairlearn's
 * `equal_opportunity_difference`). A group with no positives counts with
 * TPR 0.
 *
 * @param yTrue - the true labels, 0/1 or booleans.
 * @param yPred - the predicted labels, 0/1 or booleans.
 * @param sensitiveFeatures - each sample's group; at least two groups.
 * @param options - {@link FairnessOptions}.
 * @returns a number in [0, 1]; with `options.confidenceInterval`, a
 *   {@link MetricWithInterval}.
 * @example
 * ```ts
 * equalOpportunityDifference([1, 1, 1, 1], [1, 0, 1, 1], ['a', 'a', 'b', 'b']); // 1 − 0.5
 * ```
 */
export function equalOpportunityDifference(
  yTrue: BinaryLabels,
  yPred: BinaryLabels,
  sensitiveFeatures: SensitiveFeatures,
  options: FairnessOptionsWithInterval,
): MetricWithInterval;
export function equalOpportunityDifference(
  yTrue: BinaryLabels,
  yPred: BinaryLabels,
  sensitiveFeatures: SensitiveFeatures,
  options?: FairnessOptionsWithoutInterval,
): number;
export function equalOpportunityDifference(
  yTrue: BinaryLabels,
  yPred: BinaryLabels,
  sensitiveFeatures: SensitiveFeatures,
  options?: FairnessOptions,
): number | MetricWithInterval;
export function equalOpportunityDifference(
  yTrue: BinaryLabels,
  yPred: BinaryLabels,
  sensitiveFeatures: SensitiveFeatures,
  options: FairnessOptions = {},
): number | MetricWithInterval {
  return metric(
    'equalOpportunityDifference',
    yTrue,
    yPred,
    sensitiveFeatures,
    options,
    eopDifference,
  );
}

/**
 * Equal opportunity ratio: the smallest over the largest group true positive
 * rate (fairlearn's `equal_opportunity_ratio`); NaN when every group's TPR
 * is 0.
 *
 * @param yTrue - the true labels, 0/1 or booleans.
 * @param yPred - the predicted labels, 0/1 or booleans.
 * @param sensitiveFeatures - each sample's group; at least two groups.
 * @param options - {@link FairnessOptions}.
 * @returns a number in [0, 1], or NaN; with `options.confidenceInterval`, a
 *   {@link MetricWithInterval} (a ratio that is 0/0 on the data is then a
 *   typed error, never a NaN report).
 * @example
 * ```ts
 * equalOpportunityRatio([1, 1, 1, 1], [1, 0, 1, 1], ['a', 'a', 'b', 'b']); // 0.5
 * ```
 */
export function equalOpportunityRatio(
  yTrue: BinaryLabels,
  yPred: BinaryLabels,
  sensitiveFeatures: SensitiveFeatures,
  options: FairnessOptionsWithInterval,
): MetricWithInterval;
export function equalOpportunityRatio(
  yTrue: BinaryLabels,
  yPred: BinaryLabels,
  sensitiveFeatures: SensitiveFeatures,
  options?: FairnessOptionsWithoutInterval,
): number;
export function equalOpportunityRatio(
  yTrue: BinaryLabels,
  yPred: BinaryLabels,
  sensitiveFeatures: SensitiveFeatures,
  options?: FairnessOptions,
): number | MetricWithInterval;
export function equalOpportunityRatio(
  yTrue: BinaryLabels,
  yPred: BinaryLabels,
  sensitiveFeatures: SensitiveFeatures,
  options: FairnessOptions = {},
): number | MetricWithInterval {
  return metric(
    'equalOpportunityRatio',
    yTrue,
    yPred,
    sensitiveFeatures,
    options,
    eopRatio,
    blameRate('truePositiveRate'),
  );
}
