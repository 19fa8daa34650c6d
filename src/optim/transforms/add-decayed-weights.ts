import { add, clone, mul, type Tensor } from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../../errors';
import { checkTensor, describeValue } from '../../internal/checks';
import { emptyRecord } from '../../internal/records';
import type { TensorMap } from '../../tree/types';
import { checkNonNegative } from '../hyperparameters';
import type { GradientTransformation } from '../types';
import { type CountState, mapUpdatesTransform } from './stateless';

/**
 * Which parameters a transform applies to: a map from name to boolean, or
 * a predicate over the name and the parameter.
 */
export type ParameterMask = Record<string, boolean> | ((name: string, param: Tensor) => boolean);

/**
 * Checks a {@link ParameterMask} when a transform is made (`undefined` passes:
 * no mask): a predicate, or a plain object whose every value is a boolean.
 * A map that lacks a parameter is still found at the first update, when the
 * parameters are known.
 */
export function checkMask(fn: string, name: string, mask: unknown): ParameterMask | undefined {
  if (mask === undefined || typeof mask === 'function') return mask as ParameterMask | undefined;
  const expected = 'a function (name, param) => boolean or an object of booleans by parameter name';
  if (mask === null || typeof mask !== 'object' || Array.isArray(mask)) {
    throw new TfjsBlocksError(fn, name, expected, describeValue(mask));
  }
  for (const [key, value] of Object.entries(mask)) {
    if (typeof value !== 'boolean') {
      throw new TfjsBlocksError(fn, `${name}.${key}`, 'true or false', describeValue(value));
    }
  }
  return mask as ParameterMask;
}

/** Resolves a {@link ParameterMask} for one parameter; a map must name every parameter. */
export function maskIncludes(
  fn: string,
  mask: ParameterMask,
  name: string,
  param: Tensor,
): boolean {
  if (typeof mask === 'function') return mask(name, param);
  const value = mask[name];
  if (typeof value !== 'boolean') {
    throw new TfjsBlocksError(
      fn,
      `mask.${name}`,
      'a boolean for every parameter',
      describeValue(value),
    );
  }
  return value;
}

/**
 * Adds `rate · param` to the updates: decoupled weight decay when placed
 * after the direction (AdamW, Lion, LAMB), L2 regularisation when placed
 * first (PyTorch's `weight_decay` for SGD and Adam). Parameters outside
 * `mask` pass unchanged.
 *
 * @example
 * ```ts
 * const adamwLike = chain(scaleByAdam(), addDecayedWeights(0.01, weightDecayMask), scaleByLearningRate(1e-3));
 * ```
 */
export function addDecayedWeights(
  rate: number,
  mask?: ParameterMask,
): GradientTransformation<CountState> {
  const fn = 'addDecayedWeights';
  const weightDecay = checkNonNegative(fn, 'rate', rate);
  checkMask(fn, 'mask', mask);
  return mapUpdatesTransform(
    (updates, _step, params) => {
      const out: TensorMap = emptyRecord(); // names may be `__proto__`
      for (const [name, u] of Object.entries(updates)) {
        const p = params![name]!;
        const decays = mask === undefined || maskIncludes(fn, mask, name, p);
        out[name] = decays && weightDecay > 0 ? add(u, mul(p, weightDecay)) : clone(u);
      }
      return out;
    },
    { name: fn, needsParams: true },
  );
}

/**
 * The usual weight-decay mask: decay matrices and other tensors of rank ≥ 2,
 * but not biases, norm scales or embeddings (by rank, and by names that
 * contain `bias`, `norm`, `ln`, `embed`, `gamma` or `beta`).
 *
 * @example
 * ```ts
 * const optimizer = adamw({ learningRate: 3e-4, weightDecay: 0.1, mask: weightDecayMask });
 * ```
 */
export function weightDecayMask(name: string, param: Tensor): boolean {
  if (typeof name !== 'string') {
    throw new TfjsBlocksError('weightDecayMask', 'name', 'a string', describeValue(name));
  }
  checkTensor('weightDecayMask', 'param', param);
  return param.rank >= 2 && !/bias|norm|(^|[^a-z])ln|embed|gamma|beta/i.test(name);
}
