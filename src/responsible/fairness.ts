import { Tensor } from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import { checkOptionKeys, describeValue, optionKeys, truncateForMessage } from '../internal/checks';

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
}

/** Confusion counts and rates of one group (or of all samples). */
export interface ConfusionMetrics {
  /** Samples in the group. */
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

/** What {@link groupConfusionMetrics} returns. */
export interface GroupConfusionMetrics {
  /** Metrics per group, in the order of `options.groups` or of first appearance. */
  byGroup: Map<GroupLabel, ConfusionMetrics>;
  /** Metrics over all samples. */
  overall: ConfusionMetrics;
}

/**
 * One sample's value or a group label as a message quotes it (`"a"`, `2`,
 * `true`, a string cut short); anything else through the shared
 * {@link describeValue}, which never prints a buffer.
 */
function quoteSample(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(truncateForMessage(v));
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return describeValue(v);
}

function readValues(fn: string, name: string, x: unknown): readonly unknown[] {
  if (x instanceof Tensor) {
    if (x.isDisposed)
      throw new TfjsBlocksError(fn, name, 'an array or tensor', 'a disposed tensor');
    // A metric's answer is a handful of JS numbers, so the values are read
    // once here; dataSync creates no tensor, so nothing can leak.
    return Array.from(x.dataSync() as ArrayLike<unknown>);
  }
  if (Array.isArray(x)) return x;
  throw new TfjsBlocksError(fn, name, 'an array or tensor', describeValue(x));
}

function readBinary(fn: string, name: string, x: unknown): boolean[] {
  return readValues(fn, name, x).map((v, i) => {
    if (v === 1 || v === true) return true;
    if (v === 0 || v === false) return false;
    throw new TfjsBlocksError(fn, `${name}[${i}]`, '0, 1, true or false', quoteSample(v));
  });
}

function readGroups(fn: string, name: string, x: unknown): GroupLabel[] {
  return readValues(fn, name, x).map((v, i) => {
    if (typeof v === 'string' || typeof v === 'boolean') return v;
    if (typeof v === 'number' && !Number.isNaN(v)) return v;
    throw new TfjsBlocksError(fn, `${name}[${i}]`, 'a string, number or boolean', quoteSample(v));
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

/**
 * The keys of {@link FairnessOptions}. A `sampleWeight` (fairlearn's) is not
 * supported yet, so it is rejected rather than silently ignored.
 */
const FAIRNESS_OPTION_KEYS = optionKeys<FairnessOptions>({ groups: true });

function computeGroups(
  fn: string,
  yTrue: unknown,
  yPred: unknown,
  sensitiveFeatures: unknown,
  options: FairnessOptions,
): GroupConfusionMetrics {
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

  const counts = new Map<GroupLabel, [number, number, number, number]>();
  if (options.groups !== undefined) {
    for (const g of readGroups(fn, 'options.groups', options.groups as unknown)) {
      if (counts.has(g)) {
        throw new TfjsBlocksError(
          fn,
          'options.groups',
          'distinct values',
          `${quoteSample(g)} twice`,
        );
      }
      counts.set(g, [0, 0, 0, 0]);
    }
  }
  const total: [number, number, number, number] = [0, 0, 0, 0];
  for (let i = 0; i < pred.length; i++) {
    let c = counts.get(groups[i]!);
    if (c === undefined) {
      if (options.groups !== undefined) {
        throw new TfjsBlocksError(
          fn,
          `sensitiveFeatures[${i}]`,
          'one of options.groups',
          quoteSample(groups[i]),
        );
      }
      c = [0, 0, 0, 0];
      counts.set(groups[i]!, c);
    }
    // Index into [tp, fp, tn, fn].
    const k = truth[i] ? (pred[i] ? 0 : 3) : pred[i] ? 1 : 2;
    c[k]!++;
    total[k]++;
  }
  for (const [g, c] of counts) {
    if (c[0] + c[1] + c[2] + c[3] === 0) {
      throw new TfjsBlocksError(
        fn,
        'options.groups',
        'groups with at least one sample',
        `${quoteSample(g)} with none`,
      );
    }
  }
  if (counts.size < 2) {
    throw new TfjsBlocksError(fn, 'sensitiveFeatures', 'at least two groups', `${counts.size}`);
  }
  const byGroup = new Map<GroupLabel, ConfusionMetrics>();
  for (const [g, c] of counts) byGroup.set(g, confusion(...c));
  return { byGroup, overall: confusion(...total) };
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
 * @returns per-group and overall {@link ConfusionMetrics}.
 * @throws TfjsBlocksError on mismatched lengths, labels other than 0/1, an
 *   empty listed group, a sample outside the listed groups, or fewer than two groups.
 * @example
 * ```ts
 * const { byGroup, overall } = groupConfusionMetrics(
 *   [1, 0, 1, 1, 0, 0],
 *   [1, 0, 0, 1, 1, 0],
 *   ['a', 'a', 'a', 'b', 'b', 'b'],
 * );
 * byGroup.get('a')?.truePositiveRate; // 0.5
 * overall.accuracy; // 4 / 6
 * ```
 */
export function groupConfusionMetrics(
  yTrue: BinaryLabels,
  yPred: BinaryLabels,
  sensitiveFeatures: SensitiveFeatures,
  options: FairnessOptions = {},
): GroupConfusionMetrics {
  return computeGroups('groupConfusionMetrics', yTrue, yPred, sensitiveFeatures, options);
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
 * @returns a number in [0, 1].
 * @example
 * ```ts
 * demographicParityDifference([1, 1, 0, 1, 0, 0], ['a', 'a', 'a', 'b', 'b', 'b']); // 2/3 − 1/3
 * ```
 */
export function demographicParityDifference(
  yPred: BinaryLabels,
  sensitiveFeatures: SensitiveFeatures,
  options: FairnessOptions = {},
): number {
  const r = computeGroups(
    'demographicParityDifference',
    undefined,
    yPred,
    sensitiveFeatures,
    options,
  );
  return difference(rates(r, 'selectionRate'));
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
 * @returns a number in [0, 1], or NaN.
 * @example
 * ```ts
 * demographicParityRatio([1, 1, 0, 1, 0, 0], ['a', 'a', 'a', 'b', 'b', 'b']); // (1/3) / (2/3) = 0.5
 * ```
 */
export function demographicParityRatio(
  yPred: BinaryLabels,
  sensitiveFeatures: SensitiveFeatures,
  options: FairnessOptions = {},
): number {
  const r = computeGroups('demographicParityRatio', undefined, yPred, sensitiveFeatures, options);
  return ratio(rates(r, 'selectionRate'));
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
 * @returns a number in [0, 1].
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
  options: FairnessOptions = {},
): number {
  const r = computeGroups('equalizedOddsDifference', yTrue, yPred, sensitiveFeatures, options);
  return Math.max(
    difference(rates(r, 'truePositiveRate')),
    difference(rates(r, 'falsePositiveRate')),
  );
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
 * @returns a number in [0, 1], or NaN.
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
  options: FairnessOptions = {},
): number {
  const r = computeGroups('equalizedOddsRatio', yTrue, yPred, sensitiveFeatures, options);
  const tpr = ratio(rates(r, 'truePositiveRate'));
  const fpr = ratio(rates(r, 'falsePositiveRate'));
  return Number.isNaN(tpr) || Number.isNaN(fpr) ? Number.NaN : Math.min(tpr, fpr);
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
 * @returns a number in [0, 1].
 * @example
 * ```ts
 * equalOpportunityDifference([1, 1, 1, 1], [1, 0, 1, 1], ['a', 'a', 'b', 'b']); // 1 − 0.5
 * ```
 */
export function equalOpportunityDifference(
  yTrue: BinaryLabels,
  yPred: BinaryLabels,
  sensitiveFeatures: SensitiveFeatures,
  options: FairnessOptions = {},
): number {
  const r = computeGroups('equalOpportunityDifference', yTrue, yPred, sensitiveFeatures, options);
  return difference(rates(r, 'truePositiveRate'));
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
 * @returns a number in [0, 1], or NaN.
 * @example
 * ```ts
 * equalOpportunityRatio([1, 1, 1, 1], [1, 0, 1, 1], ['a', 'a', 'b', 'b']); // 0.5
 * ```
 */
export function equalOpportunityRatio(
  yTrue: BinaryLabels,
  yPred: BinaryLabels,
  sensitiveFeatures: SensitiveFeatures,
  options: FairnessOptions = {},
): number {
  const r = computeGroups('equalOpportunityRatio', yTrue, yPred, sensitiveFeatures, options);
  return ratio(rates(r, 'truePositiveRate'));
}
