import { add, clone, mul, sub } from '@tensorflow/tfjs-core';
import { checkFlag, checkNumber, checkOptionKeys, optionKeys } from '../../internal/checks';
import { chain } from '../chain';
import { checkDecay, checkNonNegative, checkSchedule, pickOptions } from '../hyperparameters';
import { checkMask, maskIncludes, type ParameterMask } from '../transforms/add-decayed-weights';
import { perParameterTransform } from '../transforms/per-parameter';
import {
  clipByBlockRms,
  SCALE_BY_ADAFACTOR_KEYS,
  type ScaleByAdafactorOptions,
  scaleByAdafactor,
  scaleByParamBlockRms,
} from '../transforms/scale-by-adafactor';
import { scaleByLearningRate } from '../transforms/scale-by-learning-rate';
import { eachTensor, mapUpdatesTransform } from '../transforms/stateless';
import type { GradientTransformation } from '../types';
import type { LearningRateOption } from './recipe';

/** Options of {@link adafactor}, as optax's `adafactor`. */
export interface AdafactorOptions extends LearningRateOption, ScaleByAdafactorOptions {
  /** Scale updates by the parameter's RMS (relative step size). Default `true`. */
  multiplyByParameterScale?: boolean;
  /** Clip each update's RMS to this. Default `1.0`; `null` turns clipping off. */
  clippingThreshold?: number | null;
  /** Momentum on the updates. Default none. */
  momentum?: number;
  /** Decoupled weight decay. Default `0`. */
  weightDecay?: number;
  /** Which parameters decay. Default: all. */
  weightDecayMask?: ParameterMask;
}

const ADAFACTOR_KEYS = [
  ...SCALE_BY_ADAFACTOR_KEYS,
  ...optionKeys<Omit<AdafactorOptions, keyof ScaleByAdafactorOptions>>({
    learningRate: true,
    multiplyByParameterScale: true,
    clippingThreshold: true,
    momentum: true,
    weightDecay: true,
    weightDecayMask: true,
  }),
];

/**
 * Adafactor, in optax's composition: factored second moments, update
 * clipping, learning rate, parameter-scale, optional momentum and weight
 * decay. Default learning rate `1e-2`. See Shazeer & Stern,
 * https://arxiv.org/abs/1804.04235.
 *
 * @example
 * ```ts
 * const optimizer = adafactor({ learningRate: 1e-2 });
 * ```
 */
export function adafactor(options: AdafactorOptions = {}): GradientTransformation<unknown[]> {
  const fn = 'adafactor';
  checkOptionKeys(fn, options, ADAFACTOR_KEYS);
  // Every option is checked here, before any part is built, whichever parts the options select.
  checkSchedule(fn, 'options.learningRate', options.learningRate ?? 1e-2);
  const scaleByParameter = checkFlag(
    fn,
    'options.multiplyByParameterScale',
    options.multiplyByParameterScale,
    true,
  );
  const weightDecay = checkNonNegative(fn, 'options.weightDecay', options.weightDecay ?? 0);
  const mask = checkMask(fn, 'options.weightDecayMask', options.weightDecayMask);
  const threshold =
    options.clippingThreshold === null
      ? null
      : checkNumber(fn, 'options.clippingThreshold', options.clippingThreshold ?? 1, {
          min: 0,
          minExclusive: true,
        });
  const momentum =
    options.momentum === undefined
      ? undefined
      : checkDecay(fn, 'options.momentum', options.momentum);
  const parts: GradientTransformation<unknown>[] = [
    scaleByAdafactor(pickOptions(options, SCALE_BY_ADAFACTOR_KEYS)),
  ];
  if (threshold !== null) parts.push(clipByBlockRms(threshold));
  // optax scales by +lr here and flips the sign last; scaling by -lr now is the same product.
  parts.push(scaleByLearningRate(options.learningRate ?? 1e-2));
  if (scaleByParameter) parts.push(scaleByParamBlockRms());
  if (momentum !== undefined) parts.push(emaOfUpdates(momentum));
  if (weightDecay > 0) parts.push(subtractDecayedWeights(weightDecay, mask));
  return chain(...parts);
}

/**
 * optax's `ema(decay, debias=False)` of the updates: `m ← decay · m + (1 - decay) · u`, from 0.
 * `rate` was checked by {@link adafactor}, with every other option, before any part was built.
 */
function emaOfUpdates(rate: number): GradientTransformation<unknown> {
  return perParameterTransform<'mu'>({
    fn: 'adafactor',
    moments: ['mu'],
    rule: (u, { mu }) => {
      const mu1 = add(mul(mu, rate), mul(u, 1 - rate));
      return { update: mu1, moments: { mu: mu1 } };
    },
  });
}

/**
 * optax adds `rate · param` to the positive update before flipping the sign
 * (so the decay is not scaled by the learning rate); our updates already
 * carry the sign, so the decay is subtracted.
 */
function subtractDecayedWeights(
  rate: number,
  mask: ParameterMask | undefined,
): GradientTransformation<unknown> {
  const fn = 'adafactor';
  return mapUpdatesTransform(
    (updates, _step, params) =>
      eachTensor(updates, (u, name) => {
        const p = params![name]!;
        return mask === undefined || maskIncludes(fn, mask, name, p)
          ? sub(u, mul(p, rate))
          : clone(u);
      }),
    { name: fn, needsParams: true },
  );
}
