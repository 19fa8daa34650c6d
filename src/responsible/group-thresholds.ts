import { TfjsBlocksError } from '../errors';
import { checkOptionKeys, describeChoice, optionKeys } from '../internal/checks';
import type { BinaryLabels, GroupLabel, SensitiveFeatures } from './fairness';
import {
  checkTwoGroups,
  quote,
  readGroups,
  readLabels,
  readScores,
  seededUniforms,
} from './mitigation-inputs';

/** A fairness constraint the mitigation methods enforce. */
export type FairnessConstraint = 'demographicParity' | 'equalizedOdds';

/** Options of {@link groupThresholds}. */
export interface GroupThresholdsOptions {
  /**
   * `'demographicParity'`: every group has the same selection rate;
   * `'equalizedOdds'`: every group has the same true and false positive
   * rates. Default `'demographicParity'`.
   */
  constraint?: FairnessConstraint;
  /** What to maximize on the training data: `'accuracy'` (default) or `'balancedAccuracy'` (the mean of the overall TPR and TNR). */
  objective?: 'accuracy' | 'balancedAccuracy';
}

const GROUP_THRESHOLDS_OPTION_KEYS = optionKeys<GroupThresholdsOptions>({
  constraint: true,
  objective: true,
});

/**
 * One part of a group's randomized rule: with `probability`, predict 1 when
 * the score is strictly greater than `threshold` (`-Infinity`: always 1,
 * `Infinity`: never).
 */
export interface ThresholdRule {
  threshold: number;
  probability: number;
}

/** What {@link groupThresholds} returns: a randomized classifier of (score, group). */
export interface GroupThresholds {
  constraint: FairnessConstraint;
  objective: 'accuracy' | 'balancedAccuracy';
  /** Each group's rule: parts whose probabilities sum to 1, thresholds descending. */
  byGroup: Map<GroupLabel, ThresholdRule[]>;
  /** The objective's expected value on the training data under the randomized rule. */
  trainObjective: number;
  /** `P(ŷ = 1)` of each sample: the sum of the probabilities of its group's parts it passes. */
  predictProba(scores: readonly number[], sensitiveFeatures: SensitiveFeatures): number[];
  /** 0/1 predictions, each drawn from {@link GroupThresholds.predictProba} with a seeded coin. */
  predict(scores: readonly number[], sensitiveFeatures: SensitiveFeatures, seed: number): number[];
}

/** A point of a group's curve: its x (rate), y (value) and the threshold index reaching it. */
interface Vertex {
  x: number;
  y: number;
  k: number;
}

/**
 * The upper concave hull of points sorted by x ascending (one point per x).
 * Points on a hull edge are kept, so that a rate one threshold reaches by
 * itself is served by that threshold rather than by mixing two.
 */
function upperHull(points: readonly Vertex[]): Vertex[] {
  const hull: Vertex[] = [];
  for (const p of points) {
    while (hull.length >= 2) {
      const a = hull[hull.length - 2]!;
      const b = hull[hull.length - 1]!;
      // Pop b when it lies strictly below the chord a→p.
      if ((b.x - a.x) * (p.y - a.y) - (b.y - a.y) * (p.x - a.x) > 0) hull.pop();
      else break;
    }
    hull.push(p);
  }
  return hull;
}

/** The hull's value at x and the two vertices (with weights) that mix to it. */
function onHull(hull: readonly Vertex[], x: number): { y: number; parts: [number, number][] } {
  let lo = 0;
  let hi = hull.length - 1;
  if (x <= hull[0]!.x) return { y: hull[0]!.y, parts: [[hull[0]!.k, 1]] };
  if (x >= hull[hi]!.x) return { y: hull[hi]!.y, parts: [[hull[hi]!.k, 1]] };
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (hull[mid]!.x <= x) lo = mid;
    else hi = mid;
  }
  const a = hull[lo]!;
  const b = hull[hi]!;
  if (x === a.x) return { y: a.y, parts: [[a.k, 1]] };
  const p = (x - a.x) / (b.x - a.x);
  return {
    y: (1 - p) * a.y + p * b.y,
    parts: [
      [a.k, 1 - p],
      [b.k, p],
    ],
  };
}

/** One group's thresholds (descending: +∞, then score values, then −∞) and the counts they select. */
interface GroupCurve {
  thresholds: number[];
  tp: number[];
  fp: number[];
  positives: number;
  negatives: number;
}

function groupCurve(scores: readonly number[], labels: readonly number[]): GroupCurve {
  const order = scores.map((_, i) => i).sort((i, j) => scores[j]! - scores[i]!);
  const thresholds = [Number.POSITIVE_INFINITY];
  const tp = [0];
  const fp = [0];
  let t = 0;
  let f = 0;
  for (let r = 0; r < order.length; r++) {
    const i = order[r]!;
    if (labels[i] === 1) t++;
    else f++;
    const next = order[r + 1];
    // A threshold between distinct values: "score > next value" selects the top so far.
    if (next === undefined || scores[next]! < scores[i]!) {
      thresholds.push(next === undefined ? Number.NEGATIVE_INFINITY : scores[next]!);
      tp.push(t);
      fp.push(f);
    }
  }
  return { thresholds, tp, fp, positives: t, negatives: f };
}

/** Adds parts into a rule, merging equal thresholds and dropping zero probabilities. */
function toRule(parts: readonly [number, number][]): ThresholdRule[] {
  const byThreshold = new Map<number, number>();
  for (const [threshold, p] of parts) {
    if (p > 0) byThreshold.set(threshold, (byThreshold.get(threshold) ?? 0) + p);
  }
  return [...byThreshold]
    .sort((a, b) => b[0] - a[0])
    .map(([threshold, probability]) => ({ threshold, probability }));
}

function ruleProba(rule: readonly ThresholdRule[], score: number): number {
  let p = 0;
  for (const part of rule) if (score > part.threshold) p += part.probability;
  return Math.min(1, p);
}

/**
 * Group-specific thresholds (Hardt, Price & Srebro 2016, "Equality of
 * Opportunity in Supervised Learning"; fairlearn's `ThresholdOptimizer`):
 * post-processing that turns any model's scores into decisions whose
 * selection rates (demographic parity) or true and false positive rates
 * (equalized odds) are equal across groups, maximizing accuracy or balanced
 * accuracy on the given data. The scores can be anything monotone in "more
 * likely positive": a probability, a logit, `encoderClassifier`'s logit of
 * the positive class minus the negative one, a decoder's log-likelihood.
 *
 * The solution is exact over all randomized threshold rules (not a grid):
 * - demographic parity: each group's best (selection rate, objective) pairs
 *   form the upper concave hull of its thresholds' points; the sum over
 *   groups is concave and piecewise linear in the common rate, so its
 *   maximum is at one of the hulls' vertices. A group between two of its
 *   vertices mixes two adjacent hull thresholds.
 * - equalized odds: the common (FPR, TPR) lies under every group's ROC
 *   convex hull; the objective is linear in it, so the best point is at a
 *   hull vertex or where two hulls cross. Each group mixes two hull
 *   thresholds and, where its hull is above the common TPR, the constant
 *   rule "predict 1 with probability FPR" (fairlearn's `p_ignore`).
 * On the training data the constraint then holds exactly in expectation.
 *
 * Documented behaviour: a group of one sample is fine for demographic
 * parity; equalized odds needs each group to have a positive and a negative
 * sample, balanced accuracy needs both labels overall (typed errors
 * otherwise). Labels all positive with `'accuracy'` and demographic parity
 * select everyone.
 *
 * @param scores - one finite score per sample (higher: more likely positive), length n.
 * @param labels - the 0/1 labels, length n.
 * @param sensitiveFeatures - each sample's group, length n; at least two groups.
 * @param options - {@link GroupThresholdsOptions}.
 * @returns {@link GroupThresholds}, with `predict(scores, groups, seed)`.
 * @throws TfjsBlocksError on non-finite scores, labels other than 0/1,
 *   mismatched lengths, fewer than two groups, or a group/label set the
 *   constraint cannot be defined on.
 * @see https://arxiv.org/abs/1610.02413
 * @example
 * ```ts
 * const scores = [0.9, 0.8, 0.3, 0.2, 0.6, 0.4, 0.35, 0.1];
 * const labels = [1, 1, 0, 0, 1, 0, 1, 0];
 * const groups = ['a', 'a', 'a', 'a', 'b', 'b', 'b', 'b'];
 * const rule = groupThresholds(scores, labels, groups, { constraint: 'equalizedOdds' });
 * const decisions = rule.predict(scores, groups, 0); // 0/1 per sample
 * rule.byGroup.get('a'); // e.g. [{ threshold: 0.3, probability: 1 }]
 * ```
 */
export function groupThresholds(
  scores: readonly number[],
  labels: BinaryLabels,
  sensitiveFeatures: SensitiveFeatures,
  options: GroupThresholdsOptions = {},
): GroupThresholds {
  const fn = 'groupThresholds';
  checkOptionKeys(fn, options, GROUP_THRESHOLDS_OPTION_KEYS);
  const constraint = options.constraint ?? 'demographicParity';
  if (constraint !== 'demographicParity' && constraint !== 'equalizedOdds') {
    throw new TfjsBlocksError(
      fn,
      'options.constraint',
      "'demographicParity' or 'equalizedOdds'",
      describeChoice(constraint),
    );
  }
  const objective = options.objective ?? 'accuracy';
  if (objective !== 'accuracy' && objective !== 'balancedAccuracy') {
    throw new TfjsBlocksError(
      fn,
      'options.objective',
      "'accuracy' or 'balancedAccuracy'",
      describeChoice(objective),
    );
  }
  const y = readLabels(fn, 'labels', labels);
  const s = readScores(fn, 'scores', scores, y.length);
  const { groups, distinct } = readGroups(fn, 'sensitiveFeatures', sensitiveFeatures, y.length);
  checkTwoGroups(fn, 'sensitiveFeatures', distinct);

  const n = y.length;
  const P = y.reduce((a, b) => a + b, 0);
  const N = n - P;
  if (objective === 'balancedAccuracy' && (P === 0 || N === 0)) {
    throw new TfjsBlocksError(
      fn,
      'labels',
      'both labels (balanced accuracy needs positives and negatives)',
      P === 0 ? 'no positive' : 'no negative',
    );
  }
  // objective = base + alpha·TP − beta·FP over all samples.
  const [alpha, beta, base] =
    objective === 'accuracy' ? [1 / n, 1 / n, N / n] : [1 / (2 * P), 1 / (2 * N), 0.5];

  const curves = distinct.map((g) => {
    const idx = groups.flatMap((h, i) => (h === g ? [i] : []));
    return groupCurve(
      idx.map((i) => s[i]!),
      idx.map((i) => y[i]!),
    );
  });
  if (constraint === 'equalizedOdds') {
    curves.forEach((c, gi) => {
      if (c.positives === 0 || c.negatives === 0) {
        throw new TfjsBlocksError(
          fn,
          'labels',
          'a positive and a negative sample in every group (equalized odds compares their rates)',
          `group ${quote(distinct[gi])} has no ${c.positives === 0 ? 'positive' : 'negative'}`,
        );
      }
    });
  }

  const rules: ThresholdRule[][] = [];
  let best = Number.NEGATIVE_INFINITY;
  if (constraint === 'demographicParity') {
    // x: the group's selection rate; y: its share of alpha·TP − beta·FP.
    const hulls = curves.map((c) => {
      const size = c.positives + c.negatives;
      return upperHull(
        c.tp.map((tp, k) => ({ x: (tp + c.fp[k]!) / size, y: alpha * tp - beta * c.fp[k]!, k })),
      );
    });
    const candidates = [...new Set(hulls.flatMap((h) => h.map((v) => v.x)))].sort((a, b) => a - b);
    let bestRate = 0;
    for (const r of candidates) {
      const value = hulls.reduce((sum, h) => sum + onHull(h, r).y, 0);
      if (value > best) [best, bestRate] = [value, r];
    }
    hulls.forEach((h, gi) => {
      const t = curves[gi]!.thresholds;
      rules.push(toRule(onHull(h, bestRate).parts.map(([k, p]) => [t[k]!, p])));
    });
  } else {
    // ROC hulls: x = FPR, y = TPR; one point per FPR (the highest TPR).
    const hulls = curves.map((c) => {
      const points: Vertex[] = [];
      c.tp.forEach((tp, k) => {
        const v = { x: c.fp[k]! / c.negatives, y: tp / c.positives, k };
        if (points.length > 0 && points[points.length - 1]!.x === v.x) points.pop();
        points.push(v);
      });
      return upperHull(points);
    });
    const common = (x: number) => Math.min(...hulls.map((h) => onHull(h, x).y));
    const xs = [...new Set(hulls.flatMap((h) => h.map((v) => v.x)))].sort((a, b) => a - b);
    const candidates = [...xs];
    // Where two hulls cross between consecutive vertices, the minimum has a kink too.
    for (let j = 0; j + 1 < xs.length; j++) {
      const [a, b] = [xs[j]!, xs[j + 1]!];
      const ya = hulls.map((h) => onHull(h, a).y);
      const yb = hulls.map((h) => onHull(h, b).y);
      for (let g = 0; g < hulls.length; g++) {
        for (let h = g + 1; h < hulls.length; h++) {
          const da = ya[g]! - ya[h]!;
          const db = yb[g]! - yb[h]!;
          if (da * db < 0) candidates.push(a + ((b - a) * da) / (da - db));
        }
      }
    }
    let bestX = 0;
    let bestY = 0;
    for (const x of candidates) {
      const tpr = common(x);
      const value = alpha * tpr * P - beta * x * N;
      if (value > best) [best, bestX, bestY] = [value, x, tpr];
    }
    hulls.forEach((h, gi) => {
      const t = curves[gi]!.thresholds;
      const { y: top, parts } = onHull(h, bestX);
      // Mix the hull point with "predict 1 with probability FPR" (on the diagonal).
      const q = top > bestY ? (top - bestY) / (top - bestX) : 0;
      rules.push(
        toRule([
          ...parts.map(([k, p]): [number, number] => [t[k]!, (1 - q) * p]),
          [Number.NEGATIVE_INFINITY, q * bestX],
          [Number.POSITIVE_INFINITY, q * (1 - bestX)],
        ]),
      );
    });
  }

  const byGroup = new Map<GroupLabel, ThresholdRule[]>(distinct.map((g, gi) => [g, rules[gi]!]));
  const predictProba = (
    newScores: readonly number[],
    newGroups: SensitiveFeatures,
    name = 'predictProba',
  ): number[] => {
    const fnp = `groupThresholds.${name}`;
    const sc = readScores(fnp, 'scores', newScores);
    const gs = readGroups(fnp, 'sensitiveFeatures', newGroups, sc.length).groups;
    return sc.map((score, i) => {
      const rule = byGroup.get(gs[i]!);
      if (rule === undefined) {
        throw new TfjsBlocksError(
          fnp,
          `sensitiveFeatures[${i}]`,
          'a group seen when fitting',
          quote(gs[i]),
        );
      }
      return ruleProba(rule, score);
    });
  };
  return {
    constraint,
    objective,
    byGroup,
    trainObjective: base + best,
    predictProba: (sc, gs) => predictProba(sc, gs),
    predict: (sc, gs, seed) => {
      const p = predictProba(sc, gs, 'predict');
      const u = seededUniforms('groupThresholds.predict', 'seed', seed, p.length);
      return p.map((pi, i) => (u[i]! < pi ? 1 : 0));
    },
  };
}
