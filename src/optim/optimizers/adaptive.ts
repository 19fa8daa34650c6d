import type { ParameterMask } from '../transforms/add-decayed-weights';
import { type ScaleByAdadeltaOptions, scaleByAdadelta } from '../transforms/scale-by-adadelta';
import { type ScaleByAdagradOptions, scaleByAdagrad } from '../transforms/scale-by-adagrad';
import { scaleByAdam } from '../transforms/scale-by-adam';
import { type ScaleByAdamaxOptions, scaleByAdamax } from '../transforms/scale-by-adamax';
import { type ScaleByLionOptions, scaleByLion } from '../transforms/scale-by-lion';
import { type ScaleByNadamOptions, scaleByNadam } from '../transforms/scale-by-nadam';
import { type ScaleByRadamOptions, scaleByRadam } from '../transforms/scale-by-radam';
import { scaleByRms } from '../transforms/scale-by-rms';
import { scaleByTrustRatio } from '../transforms/scale-by-trust-ratio';
import { trace } from '../transforms/trace';
import type { GradientTransformation } from '../types';
import { decoupledRecipe, type LearningRateOption, l2Recipe } from './recipe';

/** L2 weight decay option shared by PyTorch's adaptive optimizers. */
export interface L2Option {
  /** L2 penalty added to the gradient. Default `0`. */
  weightDecay?: number;
}

/**
 * Adamax (Adam with the infinity norm), as `torch.optim.Adamax`. Default learning rate `2e-3`.
 *
 * @example
 * ```ts
 * const optimizer = adamax({ learningRate: 2e-3 });
 * ```
 */
export function adamax(options: LearningRateOption & ScaleByAdamaxOptions & L2Option = {}) {
  return l2Recipe(
    'adamax',
    options.weightDecay,
    [scaleByAdamax(options)],
    options.learningRate ?? 2e-3,
  );
}

/**
 * NAdam (Adam with Nesterov momentum), as `torch.optim.NAdam`. Default learning rate `2e-3`.
 *
 * @example
 * ```ts
 * const optimizer = nadam({ learningRate: 2e-3 });
 * ```
 */
export function nadam(options: LearningRateOption & ScaleByNadamOptions & L2Option = {}) {
  return l2Recipe(
    'nadam',
    options.weightDecay,
    [scaleByNadam(options)],
    options.learningRate ?? 2e-3,
  );
}

/**
 * Rectified Adam, as `torch.optim.RAdam`. Default learning rate `1e-3`.
 *
 * @example
 * ```ts
 * const optimizer = radam({ learningRate: 1e-3 });
 * ```
 */
export function radam(options: LearningRateOption & ScaleByRadamOptions & L2Option = {}) {
  return l2Recipe(
    'radam',
    options.weightDecay,
    [scaleByRadam(options)],
    options.learningRate ?? 1e-3,
  );
}

/**
 * Adagrad, as `torch.optim.Adagrad` (`lrDecay`, `initialAccumulatorValue`, `eps`). Default learning rate `1e-2`.
 *
 * @example
 * ```ts
 * const optimizer = adagrad({ learningRate: 0.1 });
 * ```
 */
export function adagrad(options: LearningRateOption & ScaleByAdagradOptions & L2Option = {}) {
  return l2Recipe(
    'adagrad',
    options.weightDecay,
    [scaleByAdagrad(options)],
    options.learningRate ?? 1e-2,
  );
}

/**
 * Adadelta, as `torch.optim.Adadelta`. Default learning rate `1.0`.
 *
 * @example
 * ```ts
 * const optimizer = adadelta({ rho: 0.95 });
 * ```
 */
export function adadelta(options: LearningRateOption & ScaleByAdadeltaOptions & L2Option = {}) {
  return l2Recipe(
    'adadelta',
    options.weightDecay,
    [scaleByAdadelta(options)],
    options.learningRate ?? 1.0,
  );
}

/** Options of {@link rmsprop}, as `torch.optim.RMSprop`'s. */
export interface RmspropOptions extends LearningRateOption, L2Option {
  /** Decay of the mean square. Default `0.99`. */
  alpha?: number;
  /** Added to the root mean square. Default `1e-8`. */
  eps?: number;
  /** Centred variant. Default `false`. */
  centered?: boolean;
  /** Momentum on the scaled gradient. Default `0`. */
  momentum?: number;
}

/**
 * RMSprop, as `torch.optim.RMSprop` (centred, momentum). Default learning rate `1e-2`.
 *
 * @example
 * ```ts
 * const optimizer = rmsprop({ learningRate: 1e-3, centered: true, momentum: 0.9 });
 * ```
 */
export function rmsprop(options: RmspropOptions = {}) {
  const momentum = options.momentum ?? 0;
  const direction: GradientTransformation<unknown>[] = [
    scaleByRms({ decay: options.alpha ?? 0.99, eps: options.eps, centered: options.centered }),
  ];
  if (momentum > 0) direction.push(trace({ decay: momentum }));
  return l2Recipe('rmsprop', options.weightDecay, direction, options.learningRate ?? 1e-2);
}

/** Options of {@link lion} and {@link lamb}: decoupled decay with an optional mask. */
export interface DecoupledDecayOptions extends LearningRateOption {
  /** Decoupled weight decay. Default `1e-3` for Lion, `0` for LAMB. */
  weightDecay?: number;
  /** Which parameters decay. Default: all. */
  mask?: ParameterMask;
}

/**
 * Lion: `chain(scaleByLion, addDecayedWeights, scaleByLearningRate)`, as in
 * the paper and optax. Default learning rate `1e-4` (use 3–10× less than
 * AdamW's). See Chen et al., https://arxiv.org/abs/2302.06675.
 *
 * @example
 * ```ts
 * const optimizer = lion({ learningRate: 1e-4, weightDecay: 0.1 });
 * ```
 */
export function lion(options: DecoupledDecayOptions & ScaleByLionOptions = {}) {
  return decoupledRecipe(
    'lion',
    options,
    { learningRate: 1e-4, weightDecay: 1e-3 },
    scaleByLion(options),
  );
}

/**
 * LAMB: Adam's direction plus decoupled decay, scaled per parameter by the
 * trust ratio, as optax's `lamb` (`eps` 1e-6). Default learning rate `1e-3`.
 * See You et al., https://arxiv.org/abs/1904.00962.
 *
 * @example
 * ```ts
 * const optimizer = lamb({ learningRate: 1e-3, weightDecay: 0.01 });
 * ```
 */
export function lamb(
  options: DecoupledDecayOptions & { b1?: number; b2?: number; eps?: number } = {},
) {
  const direction = scaleByAdam({ b1: options.b1, b2: options.b2, eps: options.eps ?? 1e-6 });
  return decoupledRecipe('lamb', options, { learningRate: 1e-3, weightDecay: 0 }, direction, [
    scaleByTrustRatio(),
  ]);
}
