import { add, clone, mul } from '@tensorflow/tfjs-core';
import { checkOptionKeys, optionKeys } from '../../internal/checks';
import { checkDecay } from '../hyperparameters';
import type { GradientTransformation } from '../types';
import { type MomentState, perParameterTransform } from './per-parameter';

/** The option names of {@link emaParams}. */
const EMA_PARAMS_KEYS = optionKeys<{ decay: number }>({ decay: true });

/**
 * Tracks an exponential moving average of the parameters,
 * `ema ← decay · ema + (1 - decay) · (param + update)`, starting from the
 * initial parameters, and passes the updates through unchanged. Put it
 * last in a {@link chain} so that `param + update` is the new parameter;
 * read the average from the state's `moments.ema`.
 *
 * @example
 * ```ts
 * const optimizer = chain(adamw({ learningRate: 1e-3 }), emaParams({ decay: 0.999 }));
 * ```
 */
export function emaParams(options: { decay: number }): GradientTransformation<MomentState<'ema'>> {
  const fn = 'emaParams';
  checkOptionKeys(fn, options, EMA_PARAMS_KEYS);
  const decay = checkDecay(fn, 'options.decay', options?.decay);
  return perParameterTransform<'ema'>({
    fn,
    moments: ['ema'],
    initMoment: (p) => clone(p),
    needsParams: true,
    rule(u, { ema }, _step, p) {
      return { update: u, moments: { ema: add(mul(ema, decay), mul(add(p!, u), 1 - decay)) } };
    },
  });
}
