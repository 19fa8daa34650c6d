import { TfjsBlocksError } from '../errors';
import { checkInteger, checkNumber, checkOptionKeys, optionKeys } from '../internal/checks';

/**
 * The Rényi orders the accountant tries by default: 1.1, 1.2, …, 10.9, then
 * 11, 12, …, 63, then 128, 256, 512, 1024 (Google dp_accounting's
 * `DEFAULT_RDP_ORDERS`, so our epsilons are theirs).
 *
 * @example
 * ```ts
 * const orders = [...DEFAULT_RDP_ORDERS, 2048]; // try one more order
 * computeDpSgdEpsilon({ steps: 1000, samplingRate: 0.01, noiseMultiplier: 1, delta: 1e-5, orders });
 * ```
 */
export const DEFAULT_RDP_ORDERS: readonly number[] = Object.freeze([
  ...Array.from({ length: 99 }, (_, x) => 1 + (x + 1) / 10),
  ...Array.from({ length: 53 }, (_, x) => 11 + x),
  128,
  256,
  512,
  1024,
]);

// Lanczos approximation (g = 7, 9 terms): about 1e-15 relative on Γ.
const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
  -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6,
  1.5056327351493116e-7,
];
const HALF_LOG_TWO_PI = 0.5 * Math.log(2 * Math.PI);

/** log |Γ(x)|, as scipy's `gammaln` (binomials of fractional orders need negative arguments). */
function logAbsGamma(x: number): number {
  if (x < 0.5) {
    // Reflection: Γ(x) Γ(1 - x) = π / sin(πx); +Infinity at the poles.
    return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logAbsGamma(1 - x);
  }
  const z = x - 1;
  let series = LANCZOS[0]!;
  for (let k = 1; k < LANCZOS.length; k++) series += LANCZOS[k]! / (z + k);
  const t = z + 7.5;
  return HALF_LOG_TWO_PI + (z + 0.5) * Math.log(t) - t + Math.log(series);
}

/** log |C(n, k)| for real n, k. */
function logBinomial(n: number, k: number): number {
  return logAbsGamma(n + 1) - logAbsGamma(k + 1) - logAbsGamma(n - k + 1);
}

/** log(exp(a) + exp(b)) without overflow. */
function logAdd(a: number, b: number): number {
  const lo = Math.min(a, b);
  const hi = Math.max(a, b);
  if (lo === -Infinity) return hi;
  return Math.log1p(Math.exp(lo - hi)) + hi;
}

const LOG_SQRT_PI = 0.5 * Math.log(Math.PI);

/**
 * log(erfc(x)), accurate where erfc itself underflows (x ≳ 27): the
 * fractional-order series evaluates Gaussian tails hundreds of σ out.
 */
function logErfc(x: number): number {
  if (x < 0) return Math.log(2 - Math.exp(logErfc(-x)));
  if (x < 2.5) {
    // erf(x) = 2x/√π · e^{-x²} · Σ (2x²)^n / (1·3·…·(2n+1)): positive terms, no cancellation.
    // For x < 2.5 successive terms shrink by under 12.5 / (2n + 1): at most 38 terms pass the bound.
    let term = 1;
    let sum = 1;
    for (let n = 1; term > 1e-17 * sum; n++) {
      term *= (2 * x * x) / (2 * n + 1);
      sum += term;
    }
    const erf = ((2 * x) / Math.sqrt(Math.PI)) * Math.exp(-x * x) * sum;
    return Math.log1p(-erf);
  }
  // erfc(x) = e^{-x²}/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))), evaluated from the tail.
  let fraction = x;
  for (let n = 300; n >= 1; n--) fraction = x + n / 2 / fraction;
  return -x * x - LOG_SQRT_PI - Math.log(fraction);
}

/** log A_α for integer α (Mironov, Talwar, Zhang 2019, Sec. 3.2): a finite binomial sum. */
function logAInteger(q: number, sigma: number, alpha: number): number {
  let logA = -Infinity;
  const logQ = Math.log(q);
  const log1mq = Math.log1p(-q);
  for (let i = 0; i <= alpha; i++) {
    const logCoefficient = logBinomial(alpha, i) + i * logQ + (alpha - i) * log1mq;
    logA = logAdd(logA, logCoefficient + (i * i - i) / (2 * sigma * sigma));
  }
  return logA;
}

/**
 * log A_α for fractional α (Mironov, Talwar, Zhang 2019, Sec. 3.3): two
 * series, for the integrals below and above z0, summed until both terms
 * decrease and are e^30 below the total (as dp_accounting does). Returns
 * +Infinity if 1000 terms do not converge, which drops the order.
 */
function logAFractional(q: number, sigma: number, alpha: number): number {
  let logA0 = -Infinity;
  let logA1 = -Infinity;
  const z0 = sigma * sigma * Math.log(1 / q - 1) + 0.5;
  const logQ = Math.log(q);
  const log1mq = Math.log1p(-q);
  const twoSigma2 = 2 * sigma * sigma;
  let last0 = -Infinity;
  let last1 = -Infinity;
  for (let i = 0; i < 1000; i++) {
    const logCoefficient = logBinomial(alpha, i);
    const j = alpha - i;
    const logT0 = logCoefficient + i * logQ + j * log1mq;
    const logT1 = logCoefficient + j * logQ + i * log1mq;
    const logE0 = Math.log(0.5) + logErfc((i - z0) / (Math.SQRT2 * sigma));
    const logE1 = Math.log(0.5) + logErfc((z0 - j) / (Math.SQRT2 * sigma));
    const logS0 = logT0 + (i * i - i) / twoSigma2 + logE0;
    const logS1 = logT1 + (j * j - j) / twoSigma2 + logE1;
    logA0 = logAdd(logA0, logS0);
    logA1 = logAdd(logA1, logS1);
    const total = logAdd(logA0, logA1);
    if (logS0 < last0 && logS1 < last1 && Math.max(logS0, logS1) < total - 30) return total;
    last0 = logS0;
    last1 = logS1;
  }
  return Infinity;
}

/** Throws unless `orders` is a non-empty array of numbers > 1; `name` is how errors name it. */
function checkOrders(fn: string, orders: unknown, name = 'options.orders'): readonly number[] {
  if (!Array.isArray(orders) || orders.length === 0) {
    throw new TfjsBlocksError(fn, name, 'a non-empty array of numbers > 1', `${orders}`);
  }
  // An index loop, not forEach: a hole (`[2, , 8]`) is read as undefined and rejected.
  for (let i = 0; i < orders.length; i++) {
    checkNumber(fn, `${name}[${i}]`, orders[i], { min: 1, minExclusive: true });
  }
  return orders as number[];
}

/** Options of {@link rdpOfSubsampledGaussian}. */
export interface SubsampledGaussianOptions {
  /** Poisson sampling rate `q` in [0, 1]: each example is in a step's batch with probability `q`. */
  samplingRate: number;
  /** Noise standard deviation over the clipping norm (`σ`), >= 0. */
  noiseMultiplier: number;
  /** Rényi orders, each > 1. Default {@link DEFAULT_RDP_ORDERS}. */
  orders?: readonly number[];
}

/**
 * The Rényi-DP of ONE step of the Poisson-subsampled Gaussian mechanism (one
 * DP-SGD step), at each order: `log(A_α) / (α - 1)`, with `A_α` from
 * Mironov, Talwar and Zhang 2019 (https://arxiv.org/abs/1908.10530), in log
 * space, as Google's dp_accounting `RdpAccountant` computes it (a finite
 * binomial sum at integer orders, two convergent series at fractional ones).
 * RDP composes by addition: `steps` steps have `steps ×` these values.
 *
 * `q = 0` gives 0; `q = 1` is the plain Gaussian mechanism, `α / (2σ²)`;
 * `σ = 0` gives +Infinity.
 *
 * @returns one RDP value per order, in the orders' order.
 * @throws TfjsBlocksError on a sampling rate outside [0, 1], a negative
 *   noise multiplier, or an order that is not > 1.
 * @example
 * ```ts
 * const rdp = rdpOfSubsampledGaussian({ samplingRate: 0.01, noiseMultiplier: 1, orders: [2, 8, 32] });
 * ```
 */
export function rdpOfSubsampledGaussian(options: SubsampledGaussianOptions): number[] {
  const fn = 'rdpOfSubsampledGaussian';
  checkOptionKeys(fn, options, SUBSAMPLED_GAUSSIAN_KEYS);
  return subsampledGaussianRdp(fn, options);
}

const SUBSAMPLED_GAUSSIAN_KEYS = optionKeys<SubsampledGaussianOptions>({
  samplingRate: true,
  noiseMultiplier: true,
  orders: true,
});

function subsampledGaussianRdp(fn: string, options: SubsampledGaussianOptions): number[] {
  const q = checkNumber(fn, 'options.samplingRate', options?.samplingRate, {
    min: 0,
    max: 1,
    maxInclusive: true,
  });
  const sigma = checkNumber(fn, 'options.noiseMultiplier', options.noiseMultiplier, { min: 0 });
  const orders = checkOrders(fn, options.orders ?? DEFAULT_RDP_ORDERS);
  return orders.map((alpha) => {
    if (q === 0) return 0;
    if (sigma === 0) return Infinity;
    if (q === 1) return alpha / (2 * sigma * sigma);
    const logA = Number.isInteger(alpha)
      ? logAInteger(q, sigma, alpha)
      : logAFractional(q, sigma, alpha);
    return logA / (alpha - 1);
  });
}

/** An (ε, δ) guarantee and the Rényi order that gave it. */
export interface EpsilonAtOrder {
  /** The smallest ε over the orders (>= 0; +Infinity when no order gives a bound). */
  epsilon: number;
  /** The order that attains it (the first one on ties; NaN when ε is +Infinity). */
  order: number;
}

/** How {@link rdpToEpsilon} turns RDP into (ε, δ). */
export type RdpConversion = 'improved' | 'classic';

/**
 * Converts an RDP curve (RDP at each order, already composed over steps) to
 * the smallest ε for `delta`.
 *
 * - `'improved'` (default): `ε = rdp + log(1 - 1/α) - log(δ·α) / (α - 1)`
 *   (Canonne, Kamath, Steinke 2020, https://arxiv.org/abs/2004.00010 Prop.
 *   12; Balle et al. 2020), ε = 0 where the KL bound already gives δ
 *   (`δ² + expm1(-rdp) > 0`), and no bound at orders <= 1.01 — exactly
 *   dp_accounting's `compute_epsilon`.
 * - `'classic'`: `ε = rdp - log(δ) / (α - 1)` (Mironov 2017, Prop. 3), what
 *   TF Privacy and the DP-SGD papers before 2020 report; never smaller.
 *
 * @param orders - the Rényi orders, each > 1.
 * @param rdp - RDP at each order (same length), >= 0 or +Infinity.
 * @param delta - target δ in (0, 1).
 * @example
 * ```ts
 * const rdp = rdpOfSubsampledGaussian({ samplingRate: 0.01, noiseMultiplier: 1 }).map((r) => 1000 * r);
 * const { epsilon, order } = rdpToEpsilon(DEFAULT_RDP_ORDERS, rdp, 1e-5);
 * ```
 */
export function rdpToEpsilon(
  orders: readonly number[],
  rdp: readonly number[],
  delta: number,
  conversion: RdpConversion = 'improved',
): EpsilonAtOrder {
  const fn = 'rdpToEpsilon';
  checkOrders(fn, orders, 'orders');
  if (!Array.isArray(rdp) || rdp.length !== orders.length) {
    throw new TfjsBlocksError(
      fn,
      'rdp',
      `an array of length ${orders.length} (one per order)`,
      Array.isArray(rdp) ? `length ${rdp.length}` : String(rdp),
    );
  }
  for (let i = 0; i < rdp.length; i++) {
    const r: unknown = rdp[i];
    if (typeof r !== 'number' || Number.isNaN(r) || r < 0) {
      throw new TfjsBlocksError(fn, `rdp[${i}]`, 'a number >= 0 or Infinity', String(r));
    }
  }
  checkNumber(fn, 'delta', delta, { min: 0, max: 1, minExclusive: true });
  if (conversion !== 'improved' && conversion !== 'classic') {
    throw new TfjsBlocksError(fn, 'conversion', "'improved' or 'classic'", String(conversion));
  }
  return convert(orders, rdp, delta, conversion);
}

function convert(
  orders: readonly number[],
  rdp: readonly number[],
  delta: number,
  conversion: RdpConversion,
): EpsilonAtOrder {
  let best = Infinity;
  let order = Number.NaN;
  orders.forEach((alpha, i) => {
    const r = rdp[i]!;
    let epsilon: number;
    if (conversion === 'classic') epsilon = r - Math.log(delta) / (alpha - 1);
    else if (delta * delta + Math.expm1(-r) > 0) epsilon = 0;
    else if (alpha > 1.01) {
      epsilon = r + Math.log1p(-1 / alpha) - Math.log(delta * alpha) / (alpha - 1);
    } else epsilon = Infinity;
    if (epsilon < best) {
      best = epsilon;
      order = alpha;
    }
  });
  return { epsilon: Math.max(0, best), order };
}

/** Options of {@link computeDpSgdEpsilon}. */
export interface DpSgdPrivacyOptions extends SubsampledGaussianOptions {
  /** Number of DP-SGD steps (integer >= 0). */
  steps: number;
  /** Target δ in (0, 1); below 1 / dataset size is the usual choice. */
  delta: number;
}

/** What {@link computeDpSgdEpsilon} returns. */
export interface DpSgdPrivacy extends EpsilonAtOrder {
  /** ε with the classic conversion `rdp - log(δ)/(α - 1)` (as TF Privacy reported before 2020). */
  classicEpsilon: number;
  /** The order of {@link DpSgdPrivacy.classicEpsilon}. */
  classicOrder: number;
  /** The composed RDP (steps × one step's) at each order. */
  rdp: number[];
  /** The orders used. */
  orders: readonly number[];
}

const DP_SGD_PRIVACY_KEYS = [
  ...SUBSAMPLED_GAUSSIAN_KEYS,
  ...optionKeys<Omit<DpSgdPrivacyOptions, keyof SubsampledGaussianOptions>>({
    steps: true,
    delta: true,
  }),
];

/**
 * The (ε, δ) of DP-SGD: `steps` steps of the Poisson-subsampled Gaussian
 * mechanism with sampling rate `q` and noise multiplier `σ`, accounted with
 * RDP ({@link rdpOfSubsampledGaussian}), composed by addition and converted
 * with {@link rdpToEpsilon} (improved conversion; the classic one is also
 * returned). Agrees with Google dp_accounting's `RdpAccountant` on
 * `PoissonSampledDpEvent(q, GaussianDpEvent(σ))` composed `steps` times.
 *
 * The guarantee assumes Poisson sampling (each example joins each batch
 * independently with probability `q`) and add-or-remove-one neighbours;
 * fixed-size shuffled batches are commonly accounted this way too, but that
 * is an approximation.
 *
 * @example
 * ```ts
 * // TF Privacy's MNIST tutorial: 60000 examples, batches of 256, σ = 1.1, 60 epochs.
 * const { epsilon, order } = computeDpSgdEpsilon({
 *   steps: 14063, samplingRate: 256 / 60000, noiseMultiplier: 1.1, delta: 1e-5,
 * }); // epsilon ≈ 2.60 at order 8.1 (classicEpsilon ≈ 3.01)
 * ```
 */
export function computeDpSgdEpsilon(options: DpSgdPrivacyOptions): DpSgdPrivacy {
  const fn = 'computeDpSgdEpsilon';
  checkOptionKeys(fn, options, DP_SGD_PRIVACY_KEYS);
  const steps = checkInteger(fn, 'options.steps', options?.steps, 0);
  const delta = checkNumber(fn, 'options.delta', options.delta, {
    min: 0,
    max: 1,
    minExclusive: true,
  });
  const orders = options.orders ?? DEFAULT_RDP_ORDERS;
  // 0 × Infinity is NaN: zero steps cost nothing whatever the mechanism.
  const rdp = subsampledGaussianRdp(fn, options).map((r) => (steps === 0 ? 0 : steps * r));
  const improved = convert(orders, rdp, delta, 'improved');
  const classic = convert(orders, rdp, delta, 'classic');
  return {
    ...improved,
    classicEpsilon: classic.epsilon,
    classicOrder: classic.order,
    rdp,
    orders,
  };
}

/** Options of {@link computeDpSgdEpsilonForEpochs}. */
export interface DpSgdEpochsOptions {
  /** Number of training examples N (integer >= 1). */
  datasetSize: number;
  /** Expected batch size B (integer in [1, N]); the sampling rate is B / N. */
  batchSize: number;
  /** Epochs (> 0; fractional allowed): steps = ceil(epochs · N / B), as TF Privacy counts them. */
  epochs: number;
  /** Noise multiplier σ >= 0. */
  noiseMultiplier: number;
  /** Target δ in (0, 1). */
  delta: number;
  /** Rényi orders. Default {@link DEFAULT_RDP_ORDERS}. */
  orders?: readonly number[];
}

/** What {@link computeDpSgdEpsilonForEpochs} returns: the privacy, and the settings it was computed for. */
export interface DpSgdEpochsPrivacy extends DpSgdPrivacy {
  /** Optimizer steps: `ceil(epochs · datasetSize / batchSize)`. */
  steps: number;
  /** Poisson sampling rate: `batchSize / datasetSize`. */
  samplingRate: number;
}

const DP_SGD_EPOCHS_KEYS = optionKeys<DpSgdEpochsOptions>({
  datasetSize: true,
  batchSize: true,
  epochs: true,
  noiseMultiplier: true,
  delta: true,
  orders: true,
});

/**
 * {@link computeDpSgdEpsilon} from training settings: sampling rate `B / N`
 * and `ceil(epochs · N / B)` steps (TF Privacy's `compute_dp_sgd_privacy`
 * convention). The result also carries the `steps` and `samplingRate` used.
 *
 * @example
 * ```ts
 * const { epsilon, steps } = computeDpSgdEpsilonForEpochs({
 *   datasetSize: 60000, batchSize: 256, epochs: 60, noiseMultiplier: 1.1, delta: 1e-5,
 * }); // steps 14063, epsilon ≈ 2.60
 * ```
 */
export function computeDpSgdEpsilonForEpochs(options: DpSgdEpochsOptions): DpSgdEpochsPrivacy {
  const fn = 'computeDpSgdEpsilonForEpochs';
  checkOptionKeys(fn, options, DP_SGD_EPOCHS_KEYS);
  const datasetSize = checkInteger(fn, 'options.datasetSize', options?.datasetSize, 1);
  const batchSize = checkInteger(fn, 'options.batchSize', options.batchSize, 1);
  if (batchSize > datasetSize) {
    throw new TfjsBlocksError(
      fn,
      'options.batchSize',
      `at most options.datasetSize = ${datasetSize}`,
      String(batchSize),
    );
  }
  const epochs = checkNumber(fn, 'options.epochs', options.epochs, { min: 0, minExclusive: true });
  const samplingRate = batchSize / datasetSize;
  const steps = Math.ceil((epochs * datasetSize) / batchSize);
  const result = computeDpSgdEpsilon({
    steps,
    samplingRate,
    noiseMultiplier: options.noiseMultiplier,
    delta: options.delta,
    orders: options.orders, // undefined: computeDpSgdEpsilon's default
  });
  return { ...result, steps, samplingRate };
}
