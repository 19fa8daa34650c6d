import { TfjsBlocksError } from '../errors';
import { checkOptionKeys, optionKeys } from '../internal/checks';
import type { BinaryLabels, GroupLabel, SensitiveFeatures } from './fairness';
import {
  checkTwoGroups,
  quote,
  readGroups,
  readLabels,
  readSampleWeights,
} from './mitigation-inputs';

/** Options of {@link reweighing}. */
export interface ReweighingOptions {
  /**
   * Weights the samples already carry (finite, ≥ 0, not all zero); the
   * probabilities are weighted by them and each returned weight includes its
   * sample's weight. Default: all 1.
   */
  sampleWeight?: readonly number[];
}

const REWEIGHING_OPTION_KEYS = optionKeys<ReweighingOptions>({ sampleWeight: true });

/** What {@link reweighing} returns. */
export interface Reweighing {
  /** One weight per sample, in sample order: `sampleWeight[i] · P(A=a)·P(Y=y) / P(A=a, Y=y)`. */
  weights: number[];
  /**
   * The factor `P(A=a)·P(Y=y) / P(A=a, Y=y)` of each group's negative
   * (`y = 0`) and positive (`y = 1`) samples, groups in order of first appearance.
   */
  byGroup: Map<GroupLabel, { negative: number; positive: number }>;
}

/**
 * Reweighing (Kamiran & Calders 2012, "Data preprocessing techniques for
 * classification without discrimination"): one weight per sample,
 * `w = P(A=a)·P(Y=y) / P(A=a, Y=y)` for a sample of group `a` and label `y`,
 * so that under the weights the label is independent of the group
 * (`P_w(Y=1 | A=a) = P(Y=1)` for every group) while each group keeps its
 * total weight. Train on the weighted samples: multiply the per-example
 * losses by the weights (e.g. a loss with `reduction: 'none'`, then
 * `tf.sum(tf.mul(losses, w)) / sum(w)`), or pass them as a `fit` function's
 * sample weights.
 *
 * Labels that are all positive (or all negative) are already independent
 * of the group: every weight is 1 (times `sampleWeight`). A group that lacks
 * one label value the others have cannot be made independent by weighting
 * and is rejected with a typed error naming `labels`; so is a group of one
 * sample unless all labels are equal (one sample has only one label). Merge
 * such groups, or drop them, before reweighing.
 *
 * @param labels - the 0/1 labels (numbers, booleans or a tensor), length n.
 * @param sensitiveFeatures - each sample's group, length n; at least two groups.
 * @param options - {@link ReweighingOptions}.
 * @returns {@link Reweighing}: the weights and the factor per (group, label).
 * @throws TfjsBlocksError on labels other than 0/1, mismatched lengths, fewer
 *   than two groups, negative/NaN/all-zero `sampleWeight`, or a group missing a label value.
 * @see https://doi.org/10.1007/s10115-011-0463-8
 * @example
 * ```ts
 * // group a: 3 positives of 4; group b: 1 positive of 4. P(Y=1) = 1/2.
 * const { weights } = reweighing([1, 1, 1, 0, 1, 0, 0, 0], ['a', 'a', 'a', 'a', 'b', 'b', 'b', 'b']);
 * // a's positives (1/2·1/2)/(3/8) = 2/3, a's negative 2; b's positive 2, b's negatives 2/3
 * weights; // [2/3, 2/3, 2/3, 2, 2, 2/3, 2/3, 2/3]
 * ```
 */
export function reweighing(
  labels: BinaryLabels,
  sensitiveFeatures: SensitiveFeatures,
  options: ReweighingOptions = {},
): Reweighing {
  const fn = 'reweighing';
  checkOptionKeys(fn, options, REWEIGHING_OPTION_KEYS);
  const y = readLabels(fn, 'labels', labels);
  const { groups, distinct } = readGroups(fn, 'sensitiveFeatures', sensitiveFeatures, y.length);
  checkTwoGroups(fn, 'sensitiveFeatures', distinct);
  const sw = readSampleWeights(fn, 'options.sampleWeight', options.sampleWeight, y.length);

  // Weighted counts per (group, label) and per label.
  const cell = new Map<GroupLabel, [number, number]>(distinct.map((g) => [g, [0, 0]]));
  const byLabel = [0, 0];
  let total = 0;
  for (let i = 0; i < y.length; i++) {
    cell.get(groups[i]!)![y[i]!]! += sw[i]!;
    byLabel[y[i]!]! += sw[i]!;
    total += sw[i]!;
  }
  const byGroup = new Map<GroupLabel, { negative: number; positive: number }>();
  for (const [g, [neg, pos]] of cell) {
    for (const [label, count] of [
      [0, neg],
      [1, pos],
    ] as const) {
      if (count === 0 && byLabel[label]! > 0) {
        throw new TfjsBlocksError(
          fn,
          'labels',
          `label ${label} in every group (weights cannot make a group without it independent)`,
          `group ${quote(g)} has none (of weight > 0)`,
        );
      }
    }
    // P(a)·P(y)/P(a,y) = n_a·n_y / (n·n_ay); a label nobody has gets factor 1 (unused).
    const factor = (label: 0 | 1, count: number) =>
      count === 0 ? 1 : ((neg + pos) * byLabel[label]!) / (total * count);
    byGroup.set(g, { negative: factor(0, neg), positive: factor(1, pos) });
  }
  const weights = y.map((label, i) => {
    const f = byGroup.get(groups[i]!)!;
    return sw[i]! * (label === 1 ? f.positive : f.negative);
  });
  return { weights, byGroup };
}
