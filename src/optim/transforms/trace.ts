import { add, clone, mul } from '@tensorflow/tfjs-core';
import { checkFlag, checkOptionKeys, optionKeys } from '../../internal/checks';
import { checkDecay } from '../hyperparameters';
import type { GradientTransformation } from '../types';
import { type MomentState, perParameterTransform } from './per-parameter';

/** Options of {@link trace}. */
export interface TraceOptions {
  /** Momentum factor. */
  decay: number;
  /** Dampening of the gradient's contribution after the first step. Default `0`. */
  dampening?: number;
  /** Nesterov momentum: the update is `g + decay · buffer`. Default `false`. */
  nesterov?: boolean;
}

/** The option names of {@link TraceOptions}, for `checkOptionKeys`. */
export const TRACE_KEYS = optionKeys<TraceOptions>({
  decay: true,
  dampening: true,
  nesterov: true,
});

/**
 * Momentum, as `torch.optim.SGD` keeps it: the buffer starts at the first
 * gradient, then `b ← decay · b + (1 - dampening) · g`; the update is `b`,
 * or `g + decay · b` with Nesterov.
 *
 * @example
 * ```ts
 * const sgdMomentum = chain(trace({ decay: 0.9, nesterov: true }), scaleByLearningRate(0.1));
 * ```
 */
export function trace(options: TraceOptions): GradientTransformation<MomentState<'buffer'>> {
  const fn = 'trace';
  checkOptionKeys(fn, options, TRACE_KEYS);
  const decay = checkDecay(fn, 'options.decay', options.decay);
  const dampening = checkDecay(fn, 'options.dampening', options.dampening ?? 0);
  const nesterov = checkFlag(fn, 'options.nesterov', options.nesterov, false);
  return perParameterTransform<'buffer'>({
    fn,
    moments: ['buffer'],
    rule(g, { buffer }, { count }) {
      const buffer1 = count === 1 ? clone(g) : add(mul(buffer, decay), mul(g, 1 - dampening));
      return {
        update: nesterov ? add(g, mul(buffer1, decay)) : buffer1,
        moments: { buffer: buffer1 },
      };
    },
  });
}
