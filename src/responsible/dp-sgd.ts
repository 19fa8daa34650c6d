import {
  add,
  div,
  matMul,
  maximum,
  randomNormal,
  reshape,
  scalar,
  sqrt,
  square,
  sum,
  Tensor,
  type Tensor2D,
  tidy,
} from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import {
  checkInteger,
  checkNumber,
  checkOptionKeys,
  describeValue,
  formatShape,
  optionKeys,
  sharedLeadingDim,
} from '../internal/checks';
import { hasName, ownEntry } from '../internal/records';
import { sumTensors } from '../internal/reduce';
import { splitSeed } from '../internal/seed';
import { chain } from '../optim/chain';
import { checkSchedule } from '../optim/hyperparameters';
import { scaleByLearningRate } from '../optim/transforms/scale-by-learning-rate';
import type { CountState } from '../optim/transforms/stateless';
import { trace } from '../optim/transforms/trace';
import type { GradientTransformation } from '../optim/types';
import type { Schedule } from '../schedules/schedule';
import type { TensorMap } from '../tree/types';

/** Options of {@link differentiallyPrivateAggregate}. */
export interface DifferentiallyPrivateAggregateOptions {
  /** Each example's gradient is scaled to global L2 norm <= this (`C`, > 0). */
  l2NormClip: number;
  /** Noise standard deviation over `l2NormClip` (`σ`, >= 0; 0 adds no noise and gives no privacy). */
  noiseMultiplier: number;
  /** Integer seed: the same seed gives the same noise at each step; each step draws fresh noise. */
  seed: number;
}

/** Checks the per-example gradients (and the params, if given); returns the batch size. */
function checkPerExample(fn: string, grads: TensorMap, params: TensorMap | undefined): number {
  if (grads === null || typeof grads !== 'object' || Object.keys(grads).length === 0) {
    throw new TfjsBlocksError(
      fn,
      'grads',
      'a non-empty map of per-example gradients [batch, ...param.shape]',
      describeValue(grads),
    );
  }
  for (const [name, g] of Object.entries(grads)) {
    if (!(g instanceof Tensor) || g.isDisposed || g.dtype !== 'float32' || g.rank < 1) {
      const got = g instanceof Tensor && g.isDisposed ? 'a disposed tensor' : describeValue(g);
      throw new TfjsBlocksError(
        fn,
        `grads.${name}`,
        'a float32 tensor [batch, ...param.shape]',
        got,
      );
    }
    if (params !== undefined) {
      // Own entries only: a gradient named `toString` has no inherited parameter.
      const p = ownEntry(params, name);
      const shape = g.shape.slice(1);
      if (!(p instanceof Tensor)) {
        throw new TfjsBlocksError(
          fn,
          `grads.${name}`,
          'named like a parameter',
          `no parameter "${name}" (params have ${Object.keys(params).join(', ')})`,
        );
      }
      if (p.rank !== shape.length || p.shape.some((d, i) => d !== shape[i])) {
        throw new TfjsBlocksError(
          fn,
          `grads.${name}`,
          `shape [batch, ${p.shape.join(', ')}] (params.${name} is ${formatShape(p.shape)})`,
          `shape ${formatShape(g.shape)}`,
        );
      }
    }
  }
  const batch = sharedLeadingDim(fn, 'grads', grads);
  if (params !== undefined) {
    const absent = Object.keys(params).find((n) => !hasName(grads, n));
    if (absent !== undefined) {
      throw new TfjsBlocksError(
        fn,
        `grads.${absent}`,
        `a per-example gradient for params.${absent}`,
        'nothing',
      );
    }
  }
  if (batch === 0) throw new TfjsBlocksError(fn, 'grads', 'at least one example', 'batch size 0');
  return batch;
}

/**
 * The DP-SGD gradient aggregation, as optax's
 * `differentially_private_aggregate` (Abadi et al. 2016,
 * https://arxiv.org/abs/1607.00133): from per-example gradients
 * `[batch, ...param.shape]` (see {@link perExampleGradients}), it scales each
 * example's gradient so that its global L2 norm over all parameters is at
 * most `C = l2NormClip`, sums over the batch, adds Gaussian noise of
 * standard deviation `σ·C` (`σ = noiseMultiplier`) to every coordinate, and
 * divides by the batch size:
 * `(Σ_i g_i · min(1, C / ‖g_i‖) + N(0, σ²C²)) / batch`.
 * The updates have the parameters' shapes, so any transform can follow it
 * in a {@link chain} (see {@link dpSgd}).
 *
 * The noise is drawn from `seed` and the step count kept in the state, so a
 * run is reproducible, a restored state continues the same noise sequence,
 * and each step's noise is fresh. The privacy of the whole training run is
 * what {@link computeDpSgdEpsilon} computes for its steps, sampling rate and
 * `σ`; dividing by the actual batch size follows optax (with Poisson
 * sampling the expected batch size is the textbook choice).
 *
 * @throws TfjsBlocksError when made with `l2NormClip <= 0`,
 *   `noiseMultiplier < 0` or a non-integer seed; on update, for gradients
 *   that are not float32 `[batch, ...]` with one batch size, or (when
 *   `params` are passed) that are not named and shaped like the params.
 * @example
 * ```ts
 * const dp = differentiallyPrivateAggregate({ l2NormClip: 1, noiseMultiplier: 1.1, seed: 0 });
 * const optimizer = chain(dp, scaleByAdam(), scaleByLearningRate(1e-3));
 * const perExample = perExampleGradientsOfLinearLayers(loss, params, batch);
 * const { updates, state: next } = optimizer.update(perExample, state, params);
 * ```
 */
export function differentiallyPrivateAggregate(
  options: DifferentiallyPrivateAggregateOptions,
): GradientTransformation<CountState> {
  const fn = 'differentiallyPrivateAggregate';
  checkOptionKeys(fn, options, AGGREGATE_OPTION_KEYS);
  return privateAggregate(fn, options);
}

const AGGREGATE_OPTION_KEYS = optionKeys<DifferentiallyPrivateAggregateOptions>({
  l2NormClip: true,
  noiseMultiplier: true,
  seed: true,
});

/** {@link differentiallyPrivateAggregate} for options whose keys the caller has checked. */
function privateAggregate(
  fn: string,
  options: DifferentiallyPrivateAggregateOptions,
): GradientTransformation<CountState> {
  const clip = checkNumber(fn, 'options.l2NormClip', options?.l2NormClip, {
    min: 0,
    minExclusive: true,
  });
  const noiseMultiplier = checkNumber(fn, 'options.noiseMultiplier', options.noiseMultiplier, {
    min: 0,
  });
  const seed = checkInteger(fn, 'options.seed', options.seed, -(2 ** 31));
  const std = noiseMultiplier * clip;
  return {
    init: () => ({ count: 0 }),
    update(grads, state, params) {
      const batch = checkPerExample(fn, grads, params);
      const names = Object.keys(grads);
      // One seed per (step, tensor): splitSeed of a step-mixed seed, so steps never share noise.
      const noiseSeeds = splitSeed(
        (seed ^ Math.imul(state.count + 1, 0x27d4eb2d)) >>> 0,
        names.length,
      );
      const updates = tidy(() => {
        const flat = names.map((n) => reshape(grads[n]!, [batch, -1]) as Tensor2D);
        const squares = flat.map((g) => sum(square(g), 1));
        const norms = sqrt(sumTensors(squares));
        // C / max(‖g_i‖, C) = min(1, C / ‖g_i‖), as a [1, batch] row for one matMul per tensor.
        const factors = reshape(div(scalar(clip), maximum(norms, clip)), [1, batch]) as Tensor2D;
        const out: TensorMap = {};
        names.forEach((n, i) => {
          const shape = grads[n]!.shape.slice(1);
          let total = reshape(matMul(factors, flat[i]!), shape);
          if (std > 0) total = add(total, randomNormal(shape, 0, std, 'float32', noiseSeeds[i]!));
          out[n] = div(total, batch);
        });
        return out;
      });
      return { updates, state: { count: state.count + 1 } };
    },
  };
}

/** Options of {@link dpSgd}. */
export interface DpSgdOptions extends DifferentiallyPrivateAggregateOptions {
  /** A number >= 0 or a schedule `(step) => number`. */
  learningRate: number | Schedule;
  /** Heavy-ball momentum factor in [0, 1). Default none (plain SGD). */
  momentum?: number;
  /** Nesterov momentum (with `momentum`). Default `false`. */
  nesterov?: boolean;
}

const DP_SGD_OPTION_KEYS = [
  ...AGGREGATE_OPTION_KEYS,
  ...optionKeys<Omit<DpSgdOptions, keyof DifferentiallyPrivateAggregateOptions>>({
    learningRate: true,
    momentum: true,
    nesterov: true,
  }),
];

/**
 * DP-SGD, as optax's `dpsgd`: {@link differentiallyPrivateAggregate}, then
 * optional momentum ({@link trace}), then `-learningRate`. Its `update`
 * takes PER-EXAMPLE gradients `[batch, ...param.shape]` (from
 * {@link perExampleGradients} or {@link perExampleGradientsOfLinearLayers})
 * and returns updates shaped like the params. Momentum and the learning rate
 * act on already-privatised gradients, so they cost no privacy.
 *
 * @example
 * ```ts
 * const optimizer = dpSgd({ learningRate: 0.1, l2NormClip: 1, noiseMultiplier: 1.1, seed: 0, momentum: 0.9 });
 * let state = optimizer.init(params);
 * const perExample = perExampleGradientsOfLinearLayers(loss, params, batch);
 * const { updates, state: next } = optimizer.update(perExample, state, params);
 * const newParams = applyUpdates(params, updates);
 * ```
 */
export function dpSgd(options: DpSgdOptions): GradientTransformation<unknown[]> {
  const fn = 'dpSgd';
  checkOptionKeys(fn, options, DP_SGD_OPTION_KEYS);
  checkSchedule(fn, 'options.learningRate', options?.learningRate);
  const aggregate = privateAggregate(fn, options) as GradientTransformation<unknown>;
  const momentum =
    options.momentum === undefined
      ? []
      : [
          trace({
            decay: checkNumber(fn, 'options.momentum', options.momentum, { min: 0, max: 1 }),
            nesterov: options.nesterov ?? false,
          }) as GradientTransformation<unknown>,
        ];
  return chain(
    aggregate,
    ...momentum,
    scaleByLearningRate(options.learningRate) as GradientTransformation<unknown>,
  );
}
