import { TfjsBlocksError } from '../errors';
import { checkInteger, checkNumber, checkOptionKeys, optionKeys } from '../internal/checks';
import {
  computeDpSgdEpsilon,
  DEFAULT_RDP_ORDERS,
  type DpSgdPrivacy,
  type EpsilonAtOrder,
  rdpOfSubsampledGaussian,
  rdpToEpsilon,
} from './privacy-accountant';

/** Options of {@link noiseMultiplierForEpsilon}. */
export interface NoiseForEpsilonOptions {
  /** The ε the run may spend (> 0). */
  targetEpsilon: number;
  /** Target δ in (0, 1). */
  delta: number;
  /** Poisson sampling rate `q` in [0, 1] (batch size / dataset size; clients per round / clients). */
  samplingRate: number;
  /** Number of steps (DP-SGD steps or federated rounds), integer >= 0. */
  steps: number;
  /** Rényi orders, each > 1. Default {@link DEFAULT_RDP_ORDERS}. */
  orders?: readonly number[];
  /**
   * How close to the target the result's ε must come, relative: the search
   * stops once `ε ∈ [target · (1 - tolerance), target]`. In (0, 1); default
   * `0.001`.
   */
  tolerance?: number;
}

/** What {@link noiseMultiplierForEpsilon} returns. */
export interface NoiseForEpsilon extends DpSgdPrivacy {
  /** The noise multiplier σ: the smallest found whose ε is at most the target. */
  noiseMultiplier: number;
}

const NOISE_FOR_EPSILON_KEYS = optionKeys<NoiseForEpsilonOptions>({
  targetEpsilon: true,
  delta: true,
  samplingRate: true,
  steps: true,
  orders: true,
  tolerance: true,
});

/** Above this σ every setting we can account for is private to any ε > 0 we accept. */
const LARGEST_NOISE = 1e8;

/**
 * The smallest noise multiplier σ for which DP-SGD (or client-level DP
 * federated averaging) with sampling rate `q` over `steps` steps is
 * (`targetEpsilon`, `delta`)-DP under {@link computeDpSgdEpsilon}'s
 * accountant: the inverse of the accountant in σ. ε falls as σ grows, so a
 * bisection over σ finds it; the result's ε is never above the target and,
 * by default, within 0.1% of it (TF Privacy's
 * `compute_noise_from_budget`, Opacus's `get_noise_multiplier`).
 *
 * With `steps = 0` or `samplingRate = 0` nothing is spent and σ is 0. A
 * target so small that ε reaches it only by jumping to 0 (the accountant's
 * KL shortcut) returns the σ at the jump, whose ε is then below the
 * tolerance band.
 *
 * @returns σ, and the full accounting ({@link DpSgdPrivacy}) at that σ.
 * @throws TfjsBlocksError on a target ε that is not > 0, a δ outside (0, 1),
 *   a sampling rate outside [0, 1], a negative or fractional step count,
 *   a tolerance outside (0, 1), or a target no σ up to 1e8 reaches.
 * @example
 * ```ts
 * // 60000 examples, batches of 256, 60 epochs, ε = 3 at δ = 1e-5:
 * const { noiseMultiplier, epsilon } = noiseMultiplierForEpsilon({
 *   targetEpsilon: 3, delta: 1e-5, samplingRate: 256 / 60000, steps: 14063,
 * }); // noiseMultiplier ≈ 1.0, epsilon ≤ 3
 * ```
 */
export function noiseMultiplierForEpsilon(options: NoiseForEpsilonOptions): NoiseForEpsilon {
  const fn = 'noiseMultiplierForEpsilon';
  checkOptionKeys(fn, options, NOISE_FOR_EPSILON_KEYS);
  const target = checkNumber(fn, 'options.targetEpsilon', options?.targetEpsilon, {
    min: 0,
    minExclusive: true,
  });
  const delta = checkNumber(fn, 'options.delta', options.delta, {
    min: 0,
    max: 1,
    minExclusive: true,
  });
  const samplingRate = checkNumber(fn, 'options.samplingRate', options.samplingRate, {
    min: 0,
    max: 1,
    maxInclusive: true,
  });
  const steps = checkInteger(fn, 'options.steps', options.steps, 0);
  const tolerance = checkNumber(fn, 'options.tolerance', options.tolerance ?? 1e-3, {
    min: 0,
    max: 1,
    minExclusive: true,
  });
  const orders = options.orders ?? DEFAULT_RDP_ORDERS;
  const account = (noiseMultiplier: number): NoiseForEpsilon => ({
    ...computeDpSgdEpsilon({ steps, samplingRate, noiseMultiplier, delta, orders }),
    noiseMultiplier,
  });
  if (steps === 0 || samplingRate === 0) return account(0);
  // Bracket: ε(lo) > target >= ε(hi), by doubling from σ = 1.
  let hi = 1;
  let atHi = account(hi);
  while (atHi.epsilon > target) {
    if (hi >= LARGEST_NOISE) {
      throw new TfjsBlocksError(
        fn,
        'options.targetEpsilon',
        `an ε that a noise multiplier up to ${LARGEST_NOISE} reaches`,
        `${target} (σ = ${LARGEST_NOISE} gives ε = ${atHi.epsilon})`,
      );
    }
    hi *= 2;
    atHi = account(hi);
  }
  let lo = hi / 2;
  while (lo > 1e-6 && account(lo).epsilon <= target) {
    hi = lo;
    lo /= 2;
  }
  atHi = account(hi);
  // ε is monotone in σ: keep ε(hi) <= target while closing in from above.
  while (atHi.epsilon < target * (1 - tolerance) && hi - lo > 1e-12 * hi) {
    const mid = (lo + hi) / 2;
    const atMid = account(mid);
    if (atMid.epsilon <= target) {
      hi = mid;
      atHi = atMid;
    } else lo = mid;
  }
  return atHi;
}

/** Options of {@link stepsForEpsilon}. */
export interface StepsForEpsilonOptions {
  /** The ε the run may spend (>= 0). */
  targetEpsilon: number;
  /** Target δ in (0, 1). */
  delta: number;
  /** Poisson sampling rate `q` in [0, 1]. */
  samplingRate: number;
  /** Noise multiplier σ >= 0. */
  noiseMultiplier: number;
  /** Rényi orders, each > 1. Default {@link DEFAULT_RDP_ORDERS}. */
  orders?: readonly number[];
  /** Stop counting here (integer >= 0): the answer when even this many steps stay within budget. Default `1e9`. */
  maxSteps?: number;
}

/** What {@link stepsForEpsilon} returns. */
export interface StepsForEpsilon {
  /** The most steps whose ε is at most the target (0 when one step already exceeds it). */
  steps: number;
  /** ε after that many steps. */
  epsilon: number;
  /** The Rényi order that gives it (NaN at 0 steps). */
  order: number;
}

const STEPS_FOR_EPSILON_KEYS = optionKeys<StepsForEpsilonOptions>({
  targetEpsilon: true,
  delta: true,
  samplingRate: true,
  noiseMultiplier: true,
  orders: true,
  maxSteps: true,
});

/**
 * How many DP-SGD steps (or DP federated rounds) a privacy budget buys: the
 * largest step count whose ε under {@link computeDpSgdEpsilon}'s accountant
 * is at most `targetEpsilon`, for a fixed sampling rate and noise
 * multiplier. One step's RDP is computed once; composed RDP grows linearly
 * in the steps, so ε is monotone and a doubling-then-bisection search over
 * integers finds the exact answer.
 *
 * @throws TfjsBlocksError on a negative target ε, a δ outside (0, 1), a
 *   sampling rate outside [0, 1], a negative σ or a bad `maxSteps`.
 * @example
 * ```ts
 * const { steps, epsilon } = stepsForEpsilon({
 *   targetEpsilon: 8, delta: 1e-5, samplingRate: 0.01, noiseMultiplier: 1,
 * }); // train for `steps` steps, then stop: ε ≤ 8
 * ```
 */
export function stepsForEpsilon(options: StepsForEpsilonOptions): StepsForEpsilon {
  const fn = 'stepsForEpsilon';
  checkOptionKeys(fn, options, STEPS_FOR_EPSILON_KEYS);
  const target = checkNumber(fn, 'options.targetEpsilon', options?.targetEpsilon, { min: 0 });
  const delta = checkNumber(fn, 'options.delta', options.delta, {
    min: 0,
    max: 1,
    minExclusive: true,
  });
  const samplingRate = checkNumber(fn, 'options.samplingRate', options.samplingRate, {
    min: 0,
    max: 1,
    maxInclusive: true,
  });
  const noiseMultiplier = checkNumber(fn, 'options.noiseMultiplier', options.noiseMultiplier, {
    min: 0,
  });
  const maxSteps = checkInteger(fn, 'options.maxSteps', options.maxSteps ?? 1e9, 0);
  const orders = options.orders ?? DEFAULT_RDP_ORDERS;
  const oneStep = rdpOfSubsampledGaussian({ samplingRate, noiseMultiplier, orders });
  const at = (steps: number): StepsForEpsilon => {
    if (steps === 0) return { steps, epsilon: 0, order: Number.NaN };
    const composed = oneStep.map((r) => (r === 0 ? 0 : steps * r));
    return { steps, ...rdpToEpsilon(orders, composed, delta) };
  };
  const within = (steps: number) => at(steps).epsilon <= target;
  if (within(maxSteps)) return at(maxSteps);
  // Invariant: within(lo), !within(hi).
  let lo = 0;
  let hi = 1;
  while (hi < maxSteps && within(hi)) {
    lo = hi;
    hi = Math.min(2 * hi, maxSteps);
  }
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (within(mid)) lo = mid;
    else hi = mid;
  }
  return at(lo);
}

/** Options of {@link rdpAccountant}. */
export interface RdpAccountantOptions {
  /** Poisson sampling rate `q` in [0, 1] (batch / dataset size; clients per round / clients). */
  samplingRate: number;
  /** Noise multiplier σ >= 0. */
  noiseMultiplier: number;
  /** Target δ in (0, 1). */
  delta: number;
  /** Rényi orders, each > 1. Default {@link DEFAULT_RDP_ORDERS}. */
  orders?: readonly number[];
}

/** What {@link rdpAccountant} returns: ε after any number of steps, for progress reports. */
export interface RdpAccountant {
  /** (ε, order) after `steps` steps (integer >= 0): the same numbers as {@link computeDpSgdEpsilon}. */
  epsilon(steps: number): EpsilonAtOrder;
}

const RDP_ACCOUNTANT_KEYS = optionKeys<RdpAccountantOptions>({
  samplingRate: true,
  noiseMultiplier: true,
  delta: true,
  orders: true,
});

/**
 * An RDP accountant for a training run with a fixed sampling rate and
 * noise multiplier (DP-SGD steps, DP federated rounds) that reports ε as
 * training goes: one step's RDP is computed once, so `epsilon(steps)` costs
 * only the conversion (microseconds), cheap enough for every `onStep`.
 * Equal to {@link computeDpSgdEpsilon} for the same settings.
 *
 * @throws TfjsBlocksError on a sampling rate outside [0, 1], a negative σ,
 *   a δ outside (0, 1) or bad orders; `epsilon` on a bad step count.
 * @example
 * ```ts
 * const accountant = rdpAccountant({ samplingRate: 0.01, noiseMultiplier: 1.1, delta: 1e-5 });
 * for (let step = 1; step <= 3; step++) console.log(step, accountant.epsilon(step).epsilon);
 * ```
 */
export function rdpAccountant(options: RdpAccountantOptions): RdpAccountant {
  const fn = 'rdpAccountant';
  checkOptionKeys(fn, options, RDP_ACCOUNTANT_KEYS);
  const samplingRate = checkNumber(fn, 'options.samplingRate', options?.samplingRate, {
    min: 0,
    max: 1,
    maxInclusive: true,
  });
  const noiseMultiplier = checkNumber(fn, 'options.noiseMultiplier', options.noiseMultiplier, {
    min: 0,
  });
  const delta = checkNumber(fn, 'options.delta', options.delta, {
    min: 0,
    max: 1,
    minExclusive: true,
  });
  const orders = options.orders ?? DEFAULT_RDP_ORDERS;
  const oneStep = rdpOfSubsampledGaussian({ samplingRate, noiseMultiplier, orders });
  return {
    epsilon(steps: number): EpsilonAtOrder {
      const n = checkInteger('rdpAccountant.epsilon', 'steps', steps, 0);
      // 0 × Infinity is NaN: zero steps cost nothing whatever the mechanism.
      return rdpToEpsilon(
        orders,
        oneStep.map((r) => (n === 0 ? 0 : n * r)),
        delta,
      );
    },
  };
}
