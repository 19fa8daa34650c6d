import { checkFlag, checkOptionKeys, optionKeys } from '../../internal/checks';
import { checkDecay, pickOptions } from '../hyperparameters';
import type { ParameterMask } from '../transforms/add-decayed-weights';
import {
  SCALE_BY_ADADELTA_KEYS,
  type ScaleByAdadeltaOptions,
  scaleByAdadelta,
} from '../transforms/scale-by-adadelta';
import {
  SCALE_BY_ADAGRAD_KEYS,
  type ScaleByAdagradOptions,
  scaleByAdagrad,
} from '../transforms/scale-by-adagrad';
import { scaleByAdam } from '../transforms/scale-by-adam';
import {
  SCALE_BY_ADAMAX_KEYS,
  type ScaleByAdamaxOptions,
  scaleByAdamax,
} from '../transforms/scale-by-adamax';
import {
  SCALE_BY_LION_KEYS,
  type ScaleByLionOptions,
  scaleByLion,
} from '../transforms/scale-by-lion';
import {
  SCALE_BY_NADAM_KEYS,
  type ScaleByNadamOptions,
  scaleByNadam,
} from '../transforms/scale-by-nadam';
import {
  SCALE_BY_RADAM_KEYS,
  type ScaleByRadamOptions,
  scaleByRadam,
} from '../transforms/scale-by-radam';
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

/** The option names of an L2 optimizer whose direction takes `directionKeys`. */
function l2OptionKeys(directionKeys: readonly string[]): readonly string[] {
  return [
    ...directionKeys,
    ...optionKeys<LearningRateOption & L2Option>({ learningRate: true, weightDecay: true }),
  ];
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
  checkOptionKeys('adamax', options, l2OptionKeys(SCALE_BY_ADAMAX_KEYS));
  return l2Recipe(
    'adamax',
    options.weightDecay,
    [scaleByAdamax(pickOptions(options, SCALE_BY_ADAMAX_KEYS))],
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
  checkOptionKeys('nadam', options, l2OptionKeys(SCALE_BY_NADAM_KEYS));
  return l2Recipe(
    'nadam',
    options.weightDecay,
    [scaleByNadam(pickOptions(options, SCALE_BY_NADAM_KEYS))],
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
  checkOptionKeys('radam', options, l2OptionKeys(SCALE_BY_RADAM_KEYS));
  return l2Recipe(
    'radam',
    options.weightDecay,
    [scaleByRadam(pickOptions(options, SCALE_BY_RADAM_KEYS))],
    options.learningRate ?? 1e-3,
  );
}

/**
 * Adagrad, as `torch.optim.Adagrad` (`lrDecay`, `initialAccumulatorValue`, `epsilon`). Default learning rate `1e-2`.
 *
 * @example
 * ```ts
 * const optimizer = adagrad({ learningRate: 0.1 });
 * ```
 */
export function adagrad(options: LearningRateOption & ScaleByAdagradOptions & L2Option = {}) {
  checkOptionKeys('adagrad', options, l2OptionKeys(SCALE_BY_ADAGRAD_KEYS));
  return l2Recipe(
    'adagrad',
    options.weightDecay,
    [scaleByAdagrad(pickOptions(options, SCALE_BY_ADAGRAD_KEYS))],
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
  checkOptionKeys('adadelta', options, l2OptionKeys(SCALE_BY_ADADELTA_KEYS));
  return l2Recipe(
    'adadelta',
    options.weightDecay,
    [scaleByAdadelta(pickOptions(options, SCALE_BY_ADADELTA_KEYS))],
    options.learningRate ?? 1.0,
  );
}

/** Options of {@link rmsprop}, as `torch.optim.RMSprop`'s. */
export interface RmspropOptions extends LearningRateOption, L2Option {
  /** Decay of the mean square. Default `0.99`. */
  alpha?: number;
  /** Added to the root mean square. Default `1e-8`. */
  epsilon?: number;
  /** Centred variant. Default `false`. */
  centered?: boolean;
  /** Momentum on the scaled gradient. Default `0`. */
  momentum?: number;
}

const RMSPROP_KEYS = optionKeys<RmspropOptions>({
  learningRate: true,
  weightDecay: true,
  alpha: true,
  epsilon: true,
  centered: true,
  momentum: true,
});

/**
 * RMSprop, as `torch.optim.RMSprop` (centred, momentum). Default learning rate `1e-2`.
 *
 * @example
 * ```ts
 * const optimizer = rmsprop({ learningRate: 1e-3, centered: true, momentum: 0.9 });
 * ```
 */
export function rmsprop(options: RmspropOptions = {}) {
  const fn = 'rmsprop';
  checkOptionKeys(fn, options, RMSPROP_KEYS);
  // Checked here: with momentum 0 no trace is built to check it (NaN and
  // negative momenta used to fall through to no momentum).
  const momentum = checkDecay(fn, 'options.momentum', options.momentum ?? 0);
  const centered = checkFlag(fn, 'options.centered', options.centered, false);
  // Checked here, under its own name: scaleByRms calls it options.decay.
  const alpha = checkDecay(fn, 'options.alpha', options.alpha ?? 0.99);
  const direction: GradientTransformation<unknown>[] = [
    scaleByRms({
      decay: alpha,
      epsilon: options.epsilon,
      centered,
    }),
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

const DECOUPLED_KEYS = optionKeys<DecoupledDecayOptions>({
  learningRate: true,
  weightDecay: true,
  mask: true,
});

const LAMB_KEYS = [
  ...DECOUPLED_KEYS,
  ...optionKeys<{ b1?: number; b2?: number; epsilon?: number }>({
    b1: true,
    b2: true,
    epsilon: true,
  }),
];

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
  checkOptionKeys('lion', options, [...DECOUPLED_KEYS, ...SCALE_BY_LION_KEYS]);
  return decoupledRecipe(
    'lion',
    options,
    { learningRate: 1e-4, weightDecay: 1e-3 },
    scaleByLion(pickOptions(options, SCALE_BY_LION_KEYS)),
  );
}

/**
 * LAMB: Adam's direction plus decoupled decay, scaled per parameter by the
 * trust ratio, as optax's `lamb` (`epsilon` 1e-6). Default learning rate `1e-3`.
 * See You et al., https://arxiv.org/abs/1904.00962.
 *
 * @example
 * ```ts
 * const optimizer = lamb({ learningRate: 1e-3, weightDecay: 0.01 });
 * ```
 */
export function lamb(
  options: DecoupledDecayOptions & { b1?: number; b2?: number; epsilon?: number } = {},
) {
  checkOptionKeys('lamb', options, LAMB_KEYS);
  const direction = scaleByAdam({
    b1: options.b1,
    b2: options.b2,
    epsilon: options.epsilon ?? 1e-6,
  });
  return decoupledRecipe('lamb', options, { learningRate: 1e-3, weightDecay: 0 }, direction, [
    scaleByTrustRatio(),
  ]);
}
