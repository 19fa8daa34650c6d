import { TfjsBlocksError } from '../errors';
import { checkNumber, checkOptionKeys, describeChoice, optionKeys } from '../internal/checks';
import type { BinaryLabels, GroupLabel, SensitiveFeatures } from './fairness';
import type { FairnessConstraint } from './group-thresholds';
import { checkTwoGroups, quote, readGroups, readLabels, seededUniforms } from './mitigation-inputs';
import { solveMixtureLp } from './mixture-lp';

/**
 * A fitted classifier: `P(ŷ = 1)` (or a 0/1 decision) for each sample of `x`,
 * as numbers in [0, 1]. May be async (e.g. a model's forward pass read with `await t.data()`).
 */
export type FairPredictor<X> = (x: X) => ArrayLike<number> | Promise<ArrayLike<number>>;

/** What {@link exponentiatedGradient} passes to `fit`: the same samples, relabelled and reweighted. */
export interface WeightedSamples<X> {
  /** The training inputs, unchanged (the `x` given to {@link exponentiatedGradient}). */
  x: X;
  /** A 0/1 label per sample for this cost-sensitive problem (not the true labels). */
  labels: number[];
  /** A weight ≥ 0 per sample, summing to the number of samples. */
  weights: number[];
}

/**
 * The user's learner: trains a classifier on weighted samples (minimizing the
 * weighted error `Σ weights[i] · [ŷ_i ≠ labels[i]]`) and returns its predict
 * function. Any model fits: train `encoderClassifier` with per-example
 * losses multiplied by `weights`, a logistic regression, a threshold.
 */
export type FairFit<X> = (
  samples: WeightedSamples<X>,
) => FairPredictor<X> | Promise<FairPredictor<X>>;

/** Options of {@link exponentiatedGradient}. */
export interface ExponentiatedGradientOptions<X> {
  /** The learner called for every best response (required). */
  fit: FairFit<X>;
  /** `'demographicParity'` (default) or `'equalizedOdds'`. */
  constraint?: FairnessConstraint;
  /**
   * The allowed slack ε of each constraint `|γ| ≤ ε`, where γ is a group's
   * rate minus the overall rate (per label for equalized odds). Between two
   * groups the difference can then reach 2ε. Default 0.01.
   */
  epsilon?: number;
  /** Most iterations (best responses) T. Default 50. */
  maxIterations?: number;
  /** Initial step of the multipliers' exponentiated gradient, divided by `B = 1/ε`. Default 2. */
  eta?: number;
  /**
   * Stop when the duality gap falls below ν. Default
   * `0.5 · std(|h₀(x) − y|) / √n` from the first fit (fairlearn's).
   */
  nu?: number;
}

const EXPONENTIATED_GRADIENT_OPTION_KEYS = optionKeys<ExponentiatedGradientOptions<unknown>>({
  fit: true,
  constraint: true,
  epsilon: true,
  maxIterations: true,
  eta: true,
  nu: true,
});

/** What {@link exponentiatedGradient} returns: a randomized classifier. */
export interface ExponentiatedGradientResult<X> {
  /** The distinct classifiers fitted (only those that improved the Lagrangian are kept). */
  predictors: FairPredictor<X>[];
  /** The probability of each predictor in the randomized classifier (sum 1). */
  weights: number[];
  /** The duality gap of the returned mixture (≤ `nu` when it converged). */
  gap: number;
  /** Iterations run and calls of `fit` made. */
  iterations: number;
  fitCalls: number;
  /** The mixture's expected error on the training data. */
  trainError: number;
  /** The largest `|γ|` on the training data: constraint met when ≤ ε. */
  trainDisparity: number;
  /** `P(ŷ = 1)` of each sample: the predictors' outputs averaged with `weights`. */
  predictProba(x: X): Promise<number[]>;
  /** 0/1 predictions drawn from `predictProba` with a seeded coin per sample. */
  predict(x: X, seed: number): Promise<number[]>;
}

const FN = 'exponentiatedGradient';
/** fairlearn's constants: improvement needed to keep a new predictor, and the regret schedule. */
const PRECISION = 1e-8;
const REGRET_CHECK_START_T = 5;
const REGRET_CHECK_INCREASE_T = 1.6;
const SHRINK_REGRET = 0.8;
const SHRINK_ETA = 0.8;
const ACCURACY_MUL = 0.5;

/** The constraints' bookkeeping: which (event, group) cell each sample is in, and the cells' probabilities. */
interface Moments {
  /** Per sample, the index of its (event, group) cell; events are "all" or the label. */
  cell: number[];
  /** Per cell: its event, its probability P(event, group) and P(event). */
  event: number[];
  pCell: number[];
  pEvent: number[];
}

function moments(
  constraint: FairnessConstraint,
  y: readonly number[],
  groupIndex: readonly number[],
  groupCount: number,
  distinct: readonly GroupLabel[],
): Moments {
  const n = y.length;
  const events = constraint === 'demographicParity' ? 1 : 2;
  const eventOf = (i: number) => (constraint === 'demographicParity' ? 0 : y[i]!);
  const cell = y.map((_, i) => eventOf(i) * groupCount + groupIndex[i]!);
  const cellCount = new Array<number>(events * groupCount).fill(0);
  for (const c of cell) cellCount[c]!++;
  const eventCount = new Array<number>(events).fill(0);
  for (let i = 0; i < n; i++) eventCount[eventOf(i)]!++;
  cellCount.forEach((count, c) => {
    if (count === 0) {
      const e = Math.floor(c / groupCount);
      throw new TfjsBlocksError(
        FN,
        'labels',
        'a positive and a negative sample in every group (equalized odds compares their rates)',
        `group ${quote(distinct[c % groupCount])} has no ${e === 1 ? 'positive' : 'negative'}`,
      );
    }
  });
  return {
    cell,
    event: cellCount.map((_, c) => Math.floor(c / groupCount)),
    pCell: cellCount.map((c) => c / n),
    pEvent: cellCount.map((_, c) => eventCount[Math.floor(c / groupCount)]! / n),
  };
}

/** γ of predictions h: for each cell, E[h | cell] − E[h | its event]; then the vector [+γ, −γ]. */
function gammaOf(m: Moments, h: readonly number[]): number[] {
  const n = h.length;
  const cells = m.pCell.length;
  const sumCell = new Array<number>(cells).fill(0);
  for (let i = 0; i < n; i++) sumCell[m.cell[i]!]! += h[i]!;
  const sumEvent = new Map<number, number>();
  for (const [c, s] of sumCell.entries()) {
    sumEvent.set(m.event[c]!, (sumEvent.get(m.event[c]!) ?? 0) + s);
  }
  const g = sumCell.map(
    (s, c) => s / (n * m.pCell[c]!) - sumEvent.get(m.event[c]!)! / (n * m.pEvent[c]!),
  );
  return [...g, ...g.map((v) => -v)];
}

/**
 * The cost-sensitive problem the λ-player's multipliers pose (fairlearn's
 * signed weights): sample i's gain from predicting 1 is
 * `(2y−1) − n·∂(λ·γ)/∂h_i`; its label is whether the gain is positive and
 * its weight the gain's size (scaled to sum n).
 */
function reduction(m: Moments, y: readonly number[], lambda: readonly number[]) {
  const cells = m.pCell.length;
  const net = lambda.slice(0, cells).map((l, c) => l - lambda[c + cells]!);
  const perEvent = new Map<number, number>();
  for (const [c, l] of net.entries()) {
    perEvent.set(m.event[c]!, (perEvent.get(m.event[c]!) ?? 0) + l);
  }
  const adjust = net.map((l, c) => perEvent.get(m.event[c]!)! / m.pEvent[c]! - l / m.pCell[c]!);
  const signed = y.map((label, i) => 2 * label - 1 + adjust[m.cell[i]!]!);
  const labels = signed.map((s) => (s > 0 ? 1 : 0));
  const total = signed.reduce((a, s) => a + Math.abs(s), 0);
  const weights = signed.map((s) => (total === 0 ? 1 : (y.length * Math.abs(s)) / total));
  return { labels, weights };
}

/** Calls the user's `fit` and predictor, turning a throw or a bad output into a typed error naming `options.fit`. */
async function fitAndPredict<X>(
  learner: FairFit<X>,
  samples: WeightedSamples<X>,
): Promise<{ predictor: FairPredictor<X>; h: number[] }> {
  const first = samples.labels[0]!;
  if (samples.labels.every((l) => l === first)) {
    // One label everywhere: the constant classifier is the exact best
    // response (fairlearn's DummyClassifier), and fit never sees one class.
    const n = samples.labels.length;
    const predictor: FairPredictor<X> = (x) => {
      const len = lengthOf(x, n);
      return new Array<number>(len).fill(first);
    };
    return { predictor, h: new Array<number>(n).fill(first) };
  }
  let predictor: FairPredictor<X>;
  let out: ArrayLike<number>;
  try {
    predictor = await learner(samples);
    if (typeof predictor !== 'function') {
      throw new TfjsBlocksError(
        FN,
        'options.fit',
        'to return a predict function',
        quote(predictor),
      );
    }
    out = await predictor(samples.x);
  } catch (e) {
    if (e instanceof TfjsBlocksError && e.functionName === FN) throw e;
    const error = new TfjsBlocksError(
      FN,
      'options.fit',
      'a learner that fits and predicts without throwing',
      `it threw: ${e instanceof Error ? e.message : String(e)}`,
    );
    Object.defineProperty(error, 'cause', { value: e, configurable: true, writable: true });
    throw error;
  }
  return { predictor, h: checkPredictions(out, samples.labels.length) };
}

/** The number of samples in `x` when it has a length (array or tensor-like), else `fallback`. */
function lengthOf(x: unknown, fallback: number): number {
  if (x !== null && typeof x === 'object') {
    if ('shape' in x && Array.isArray(x.shape) && typeof x.shape[0] === 'number') return x.shape[0];
    if ('length' in x && typeof x.length === 'number') return x.length;
  }
  return fallback;
}

function checkPredictions(out: unknown, n: number | undefined): number[] {
  if (
    out === null ||
    typeof out !== 'object' ||
    typeof (out as ArrayLike<number>).length !== 'number'
  ) {
    throw new TfjsBlocksError(
      FN,
      'options.fit',
      'a predictor returning numbers in [0, 1]',
      quote(out),
    );
  }
  const h = Array.from(out as ArrayLike<number>);
  if (n !== undefined && h.length !== n) {
    throw new TfjsBlocksError(
      FN,
      'options.fit',
      `a predictor returning one value per sample (${n})`,
      `${h.length} values`,
    );
  }
  h.forEach((v, i) => {
    if (!(typeof v === 'number' && v >= 0 && v <= 1)) {
      throw new TfjsBlocksError(
        FN,
        'options.fit',
        'a predictor returning numbers in [0, 1]',
        `${quote(v)} at sample ${i}`,
      );
    }
  });
  return h;
}

/**
 * The exponentiated-gradient reduction (Agarwal, Beygelzimer, Dudík,
 * Langford & Wallach 2018, "A Reductions Approach to Fair Classification";
 * fairlearn's `ExponentiatedGradient`): in-processing that trains a
 * randomized classifier minimizing the error subject to demographic parity
 * or equalized odds, from repeated weighted fits of any learner.
 *
 * The fair problem `min_Q err(Q) s.t. γ(Q) ≤ ε` is solved as the saddle
 * point of the Lagrangian `L(Q, λ) = err(Q) + λ·(γ(Q) − ε)`, `‖λ‖₁ ≤ B = 1/ε`,
 * as a game: the λ-player runs exponentiated gradient on the constraint
 * violations (`θ += η (γ(h_t) − ε)`, `λ = B·exp θ / (1 + Σ exp θ)`); the
 * Q-player best-responds with `fit` on relabelled, reweighted samples
 * (a cost-sensitive classification). Each iteration keeps the better of the
 * averaged play and the best mixture of the predictors so far (a small
 * linear program, as fairlearn does); it stops when the duality gap is below
 * ν or after `maxIterations`. The answer has error within `2·gap` of the best
 * fair mixture and violation at most `ε + (1 + 2·gap)/B`.
 *
 * `fit` may be called more than once per iteration (the gap needs best
 * responses to λ̂ and its multiples, as in fairlearn); when every relabelled
 * sample has one label, a constant predictor stands in and `fit` is not
 * called. Memory: this function makes no tensor; what `fit` and the
 * predictors make is theirs to free.
 *
 * @param x - the training inputs, passed to `fit` and the predictors as they are (an array, a tensor…).
 * @param labels - the 0/1 labels, length n.
 * @param sensitiveFeatures - each sample's group, length n; at least two groups.
 * @param options - {@link ExponentiatedGradientOptions}; `fit` is required.
 * @returns {@link ExponentiatedGradientResult}: the mixture, `predict(x, seed)` and `predictProba(x)`.
 * @throws TfjsBlocksError, synchronously, on bad labels, groups or options
 *   or a group without positives or negatives under equalized odds (before
 *   any `fit`); the promise rejects with one when `fit` or a predictor throws
 *   or returns a bad output (argument `options.fit`, the original error as `cause`).
 * @see https://arxiv.org/abs/1803.02453
 * @example
 * ```ts
 * // 1-D scores; the learner fits the best weighted threshold per group.
 * const x = [0.1, 0.4, 0.6, 0.9, 0.2, 0.3, 0.7, 0.8];
 * const labels = [0, 0, 1, 1, 0, 1, 1, 1];
 * const groups = ['a', 'a', 'a', 'a', 'b', 'b', 'b', 'b'];
 * const fit = ({ x, labels, weights }: { x: number[]; labels: number[]; weights: number[] }) => {
 *   let best = { t: Infinity, cost: Infinity };
 *   for (const t of [Infinity, ...x]) {
 *     const cost = x.reduce((c, v, i) => c + (Number(v >= t) !== labels[i] ? weights[i]! : 0), 0);
 *     if (cost < best.cost) best = { t, cost };
 *   }
 *   return (xs: number[]) => xs.map((v) => Number(v >= best.t));
 * };
 * const fair = await exponentiatedGradient(x, labels, groups, { fit, epsilon: 0.05 });
 * const decisions = await fair.predict(x, 0);
 * ```
 */
export function exponentiatedGradient<X>(
  x: X,
  labels: BinaryLabels,
  sensitiveFeatures: SensitiveFeatures,
  options: ExponentiatedGradientOptions<X>,
): Promise<ExponentiatedGradientResult<X>> {
  if (options === null || typeof options !== 'object') {
    throw new TfjsBlocksError(FN, 'options', 'an object with a fit function', quote(options));
  }
  checkOptionKeys(FN, options, EXPONENTIATED_GRADIENT_OPTION_KEYS);
  const learner = options.fit;
  if (typeof learner !== 'function') {
    throw new TfjsBlocksError(FN, 'options.fit', 'a function', quote(learner));
  }
  const constraint = options.constraint ?? 'demographicParity';
  if (constraint !== 'demographicParity' && constraint !== 'equalizedOdds') {
    throw new TfjsBlocksError(
      FN,
      'options.constraint',
      "'demographicParity' or 'equalizedOdds'",
      describeChoice(constraint),
    );
  }
  const epsilon = checkNumber(FN, 'options.epsilon', options.epsilon ?? 0.01, {
    min: 0,
    minExclusive: true,
    max: 1,
    maxInclusive: true,
  });
  const maxIterations = options.maxIterations ?? 50;
  if (!Number.isInteger(maxIterations) || maxIterations < 1) {
    throw new TfjsBlocksError(FN, 'options.maxIterations', 'an integer ≥ 1', quote(maxIterations));
  }
  const etaMul = checkNumber(FN, 'options.eta', options.eta ?? 2, { min: 0, minExclusive: true });
  const nu =
    options.nu === undefined
      ? undefined
      : checkNumber(FN, 'options.nu', options.nu, { min: 0, minExclusive: true });
  const y = readLabels(FN, 'labels', labels);
  const { groups, distinct } = readGroups(FN, 'sensitiveFeatures', sensitiveFeatures, y.length);
  checkTwoGroups(FN, 'sensitiveFeatures', distinct);
  const groupIndex = groups.map((g) => distinct.indexOf(g));
  const m = moments(constraint, y, groupIndex, distinct.length, distinct);
  // Arguments are checked above, synchronously (a bad option throws before
  // any fit runs); the game itself is asynchronous.
  return play(x, y, m, { learner, epsilon, maxIterations, etaMul, nu });
}

/** The checked arguments of {@link exponentiatedGradient}. */
interface GameSettings<X> {
  learner: FairFit<X>;
  epsilon: number;
  maxIterations: number;
  etaMul: number;
  nu: number | undefined;
}

/** The game between the λ-player (exponentiated gradient) and the Q-player (`fit`). */
async function play<X>(
  x: X,
  y: readonly number[],
  m: Moments,
  settings: GameSettings<X>,
): Promise<ExponentiatedGradientResult<X>> {
  const { learner, epsilon, maxIterations, etaMul } = settings;
  let nu = settings.nu;
  const n = y.length;
  const K = 2 * m.pCell.length;
  const B = 1 / epsilon;

  // The predictors kept, with their training error and γ.
  const predictors: FairPredictor<X>[] = [];
  const errors: number[] = [];
  const gammas: number[][] = [];
  const trainPredictions: number[][] = [];
  let fitCalls = 0;
  const errorOf = (h: readonly number[]) =>
    h.reduce((s, v, i) => s + (y[i] === 1 ? 1 - v : v), 0) / n;
  const value = (err: number, gamma: readonly number[], lambda: readonly number[]) =>
    err + gamma.reduce((s, g, k) => s + lambda[k]! * (g - epsilon), 0);

  /** The best response to λ: fit, keep the predictor if it beats every kept one on L(·, λ). */
  async function bestH(lambda: readonly number[]): Promise<number> {
    const { labels: redY, weights: redW } = reduction(m, y, lambda);
    const { predictor, h } = await fitAndPredict(learner, { x, labels: redY, weights: redW });
    fitCalls++;
    const err = errorOf(h);
    const gamma = gammaOf(m, h);
    let best = -1;
    let bestValue = Number.POSITIVE_INFINITY;
    errors.forEach((e, j) => {
      const v = value(e, gammas[j]!, lambda);
      if (v < bestValue) [best, bestValue] = [j, v];
    });
    if (value(err, gamma, lambda) < bestValue - PRECISION) {
      predictors.push(predictor);
      trainPredictions.push(h);
      errors.push(err);
      gammas.push(gamma);
      return predictors.length - 1;
    }
    return best;
  }

  const mix = (q: readonly number[], of: readonly number[][] | readonly number[]) =>
    typeof of[0] === 'number'
      ? (of as number[]).reduce((s, e, j) => s + (q[j] ?? 0) * e, 0)
      : new Array<number>(K)
          .fill(0)
          .map((_, k) => (of as number[][]).reduce((s, g, j) => s + (q[j] ?? 0) * g[k]!, 0));

  /** fairlearn's projection: only one of λ₊, λ₋ of a cell is positive. */
  const project = (lambda: readonly number[]) => {
    const half = K / 2;
    const out = [...lambda];
    for (let c = 0; c < half; c++) {
      const d = lambda[c]! - lambda[c + half]!;
      out[c] = Math.max(d, 0);
      out[c + half] = Math.max(-d, 0);
    }
    return out;
  };

  /** The duality gap of mixture q against multipliers λ̂ (fairlearn's eval_gap). */
  async function gapOf(q: readonly number[], lambdaHat: readonly number[], tolerance: number) {
    const err = mix(q, errors) as number;
    const gamma = mix(q, gammas) as number[];
    const L = value(err, gamma, project(lambdaHat));
    const worst = Math.max(...gamma.map((g) => g - epsilon));
    const high = worst <= 0 ? err : err + B * worst;
    let low = L;
    for (const mul of [1, 2, 5, 10]) {
      const j = await bestH(lambdaHat.map((l) => mul * l));
      low = Math.min(low, value(errors[j]!, gammas[j]!, project(lambdaHat)));
      if (Math.max(L - low, high - L) > tolerance + PRECISION) break;
    }
    return Math.max(L - low, high - L);
  }

  let theta = new Array<number>(K).fill(0);
  const lambdaSum = new Array<number>(K).fill(0);
  const count: number[] = [];
  const gapsEg: number[] = [];
  const results: { gap: number; q: number[] }[] = [];
  let eta = 0;
  let lastRegretChecked = REGRET_CHECK_START_T;
  let lastGap = Number.POSITIVE_INFINITY;
  let lpCache: { hs: number; gap: number; q: number[] } | undefined;
  let t = 0;
  for (; t < maxIterations; t++) {
    const expTheta = theta.map(Math.exp);
    const denom = 1 + expTheta.reduce((a, b) => a + b, 0);
    const lambda = expTheta.map((e) => (B * e) / denom);
    lambda.forEach((l, k) => {
      lambdaSum[k]! += l;
    });
    const lambdaHat = lambdaSum.map((s) => s / (t + 1));

    const j = await bestH(lambda);
    if (t === 0) {
      if (nu === undefined) {
        const r = y.map((label, i) => Math.abs(trainPredictions[j]![i]! - label));
        nu = (ACCURACY_MUL * std(r)) / Math.sqrt(n);
      }
      eta = etaMul / B;
    }
    count[j] = (count[j] ?? 0) + 1;
    const total = t + 1;
    const qEg = predictors.map((_, k) => (count[k] ?? 0) / total);
    const gapEg = await gapOf(qEg, lambdaHat, nu!);
    gapsEg.push(gapEg);

    let best = { gap: gapEg, q: qEg };
    if (t > 0) {
      if (lpCache === undefined || lpCache.hs !== predictors.length) {
        const lp = solveMixtureLp(errors, gammas, epsilon, B);
        lpCache = { hs: predictors.length, q: lp.q, gap: await gapOf(lp.q, lp.lambda, nu!) };
      }
      if (lpCache.gap <= gapEg) best = { gap: lpCache.gap, q: lpCache.q };
    }
    results.push(best);
    if (best.gap < nu!) {
      t++;
      break;
    }
    if (t >= lastRegretChecked * REGRET_CHECK_INCREASE_T) {
      const bestGap = Math.min(...gapsEg);
      if (bestGap > lastGap * SHRINK_REGRET) eta *= SHRINK_ETA;
      lastRegretChecked = t;
      lastGap = bestGap;
    }
    const gamma = gammas[j]!;
    theta = theta.map((th, k) => th + eta * (gamma[k]! - epsilon));
  }

  // The last of the results whose gap is within PRECISION of the smallest.
  const minGap = Math.min(...results.map((r) => r.gap));
  let chosen = results[0]!;
  for (const r of results) if (r.gap <= minGap + PRECISION) chosen = r;
  const weights = predictors.map((_, k) => chosen.q[k] ?? 0);
  const used = predictors.flatMap((p, k) => (weights[k]! > 0 ? [[p, weights[k]!] as const] : []));

  const predictProba = async (input: X): Promise<number[]> => {
    let out: number[] | undefined;
    for (const [p, w] of used) {
      let h: number[];
      try {
        h = checkPredictions(await p(input), out?.length);
      } catch (e) {
        if (e instanceof TfjsBlocksError) throw e;
        const error = new TfjsBlocksError(
          FN,
          'options.fit',
          'predictors that predict without throwing',
          `one threw: ${e instanceof Error ? e.message : String(e)}`,
        );
        Object.defineProperty(error, 'cause', { value: e, configurable: true, writable: true });
        throw error;
      }
      out = out === undefined ? h.map((v) => w * v) : out.map((v, i) => v + w * h[i]!);
    }
    return (out ?? []).map((v) => Math.min(1, Math.max(0, v)));
  };
  const trainError = mix(weights, errors) as number;
  const trainGamma = mix(weights, gammas) as number[];
  return {
    predictors,
    weights,
    gap: chosen.gap,
    iterations: t,
    fitCalls,
    trainError,
    trainDisparity: Math.max(...trainGamma.map(Math.abs)),
    predictProba,
    predict: async (input, seed) => {
      const p = await predictProba(input);
      const u = seededUniforms(`${FN}.predict`, 'seed', seed, p.length);
      return p.map((pi, i) => (u[i]! < pi ? 1 : 0));
    },
  };
}

function std(values: readonly number[]): number {
  const n = values.length;
  if (n < 2) return 0;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  return Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / (n - 1));
}
