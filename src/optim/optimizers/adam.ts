import { checkOptionKeys, optionKeys } from '../../internal/checks';
import { pickOptions } from '../hyperparameters';
import type { ParameterMask } from '../transforms/add-decayed-weights';
import {
  SCALE_BY_ADAM_KEYS,
  type ScaleByAdamOptions,
  scaleByAdam,
} from '../transforms/scale-by-adam';
import type { GradientTransformation } from '../types';
import { decoupledRecipe, type LearningRateOption, l2Recipe } from './recipe';

/** Options of {@link adam}, as `torch.optim.Adam`'s. */
export interface AdamOptions extends LearningRateOption, ScaleByAdamOptions {
  /** L2 penalty added to the gradient (coupled). Default `0`. */
  weightDecay?: number;
}

const ADAM_KEYS_RECORD = {
  learningRate: true,
  b1: true,
  b2: true,
  epsilon: true,
  amsgrad: true,
  weightDecay: true,
} as const;
const ADAM_KEYS = optionKeys<AdamOptions>(ADAM_KEYS_RECORD);

/**
 * Adam with PyTorch's semantics (AMSGrad, L2 `weightDecay`). Default
 * learning rate `1e-3`. For decoupled decay use {@link adamw}.
 *
 * @example
 * ```ts
 * const optimizer = adam({ learningRate: 1e-3, amsgrad: true });
 * ```
 */
export function adam(options: AdamOptions = {}): GradientTransformation<unknown[]> {
  checkOptionKeys('adam', options, ADAM_KEYS);
  return l2Recipe(
    'adam',
    options.weightDecay,
    [scaleByAdam(pickOptions(options, SCALE_BY_ADAM_KEYS))],
    options.learningRate ?? 1e-3,
  );
}

/** Options of {@link adamw}, as `torch.optim.AdamW`'s. */
export interface AdamwOptions extends LearningRateOption, ScaleByAdamOptions {
  /** Decoupled weight decay: `param ← param - lr · weightDecay · param`. Default `1e-2`. */
  weightDecay?: number;
  /** Which parameters decay (e.g. {@link weightDecayMask}). Default: all. */
  mask?: ParameterMask;
}

const ADAMW_KEYS = optionKeys<AdamwOptions>({ ...ADAM_KEYS_RECORD, mask: true });

/**
 * AdamW (decoupled weight decay), as `torch.optim.AdamW`:
 * `chain(scaleByAdam, addDecayedWeights, scaleByLearningRate)`. Default
 * learning rate `1e-3`. See Loshchilov & Hutter, https://arxiv.org/abs/1711.05101.
 *
 * @example
 * ```ts
 * const optimizer = chain(clipByGlobalNorm(1), adamw({ learningRate: 3e-4, weightDecay: 0.1, mask: weightDecayMask }));
 * ```
 */
export function adamw(options: AdamwOptions = {}): GradientTransformation<unknown[]> {
  checkOptionKeys('adamw', options, ADAMW_KEYS);
  return decoupledRecipe(
    'adamw',
    options,
    { learningRate: 1e-3, weightDecay: 1e-2 },
    scaleByAdam(pickOptions(options, SCALE_BY_ADAM_KEYS)),
  );
}
