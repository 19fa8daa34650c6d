import {
  add,
  all,
  clone,
  dispose,
  isFinite as isFiniteTensor,
  mul,
  stack,
  type Tensor,
  tidy,
  zerosLike,
} from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../../errors';
import { checkInteger, describeValue } from '../../internal/checks';
import { emptyRecord, hasName, ownEntry, recordFromEntries } from '../../internal/records';
import { treeMap } from '../../tree/map';
import type { TensorMap } from '../../tree/types';
import { checkSameStructure, checkTransform, mapTensors } from '../tree';
import type { GradientTransformation } from '../types';
import { checkMask, maskIncludes, type ParameterMask } from './add-decayed-weights';

/** State of {@link masked}. */
export type MaskedState<S> = {
  /** The parameters the inner transform sees. */
  names: string[];
  /** The inner transform's state. */
  inner: S;
};

/** State of {@link multiTransform}. */
export type MultiTransformState = {
  /** Parameter names by label. */
  groups: Record<string, string[]>;
  /** Each label's transform state. */
  inner: Record<string, unknown>;
};

/** State of {@link multiSteps}. */
export type MultiStepsState<S> = {
  /** Gradients accumulated since the last real step (0 to everyK - 1). */
  miniStep: number;
  /** Their sum, per parameter. */
  accumulated: TensorMap;
  /** The inner transform's state. */
  inner: S;
};

/**
 * Throws unless `grads` has an own entry for each of `names` (the
 * parameters a wrapped transform's state was made for), so the inner
 * transform never receives `undefined` for a missing gradient.
 */
function checkHasNames(fn: string, grads: TensorMap, names: string[], what: string): void {
  const missing = names.find((name) => !hasName(grads, name));
  if (missing !== undefined) {
    throw new TfjsBlocksError(fn, `grads.${missing}`, `a tensor (${what} of that name)`, 'nothing');
  }
}

/** The entries of `map` named in `names` (own entries only: `constructor` is never inherited). */
function pick(map: TensorMap | undefined, names: string[]): TensorMap | undefined {
  return map && recordFromEntries(names.map((n) => [n, ownEntry(map, n)!]));
}

/**
 * Applies `transform` to the parameters in `mask` only; the others' updates
 * pass through unchanged and get no state.
 *
 * @example
 * ```ts
 * const decayMatricesOnly = masked(addDecayedWeights(0.1), (name, p) => p.rank >= 2);
 * ```
 */
export function masked<S>(
  transform: GradientTransformation<S>,
  mask: ParameterMask,
): GradientTransformation<MaskedState<S>> {
  const fn = 'masked';
  checkTransform(fn, 'transform', transform);
  checkMask(fn, 'mask', mask);
  const namesOf = (params: TensorMap) =>
    Object.keys(params).filter((n) => maskIncludes(fn, mask, n, params[n]!));
  return {
    init(params) {
      const names = namesOf(params);
      return { names, inner: transform.init(pick(params, names)!) };
    },
    update(grads, state, params) {
      checkHasNames(fn, grads, state.names, 'a masked parameter');
      const inside = transform.update(
        pick(grads, state.names)!,
        state.inner,
        pick(params, state.names),
      );
      const updates = recordFromEntries(Object.entries(inside.updates));
      for (const [name, g] of Object.entries(grads))
        if (!hasName(updates, name)) updates[name] = clone(g);
      return { updates, state: { names: [...state.names], inner: inside.state } };
    },
  };
}

/**
 * Different transforms for labelled groups of parameters (optax's
 * `multi_transform`): `labels` gives each parameter a label, and
 * `transforms[label]` updates that group.
 *
 * @example
 * ```ts
 * const optimizer = multiTransform(
 *   { body: adamw({ learningRate: 1e-3 }), head: sgd({ learningRate: 1e-2 }) },
 *   (name) => (name.startsWith('head') ? 'head' : 'body'),
 * );
 * ```
 */
export function multiTransform(
  transforms: Record<string, GradientTransformation<unknown>>,
  labels: Record<string, string> | ((name: string, param: Tensor) => string),
): GradientTransformation<MultiTransformState> {
  const fn = 'multiTransform';
  if (transforms === null || typeof transforms !== 'object' || Array.isArray(transforms)) {
    throw new TfjsBlocksError(
      fn,
      'transforms',
      'an object of transforms by label',
      describeValue(transforms),
    );
  }
  for (const [label, t] of Object.entries(transforms)) checkTransform(fn, `transforms.${label}`, t);
  if (
    typeof labels !== 'function' &&
    (labels === null || typeof labels !== 'object' || Array.isArray(labels))
  ) {
    throw new TfjsBlocksError(
      fn,
      'labels',
      'a function (name, param) => label or an object of labels by parameter name',
      describeValue(labels),
    );
  }
  const labelOf = (name: string, p: Tensor) => {
    const label = typeof labels === 'function' ? labels(name, p) : ownEntry(labels, name);
    if (typeof label !== 'string' || !hasName(transforms, label)) {
      throw new TfjsBlocksError(
        fn,
        `labels.${name}`,
        `one of ${Object.keys(transforms).join(', ')}`,
        describeValue(label),
      );
    }
    return label;
  };
  return {
    init(params) {
      const groups: Record<string, string[]> = Object.fromEntries(
        Object.keys(transforms).map((l) => [l, []]),
      );
      for (const [name, p] of Object.entries(params)) groups[labelOf(name, p)]!.push(name);
      const inner = Object.fromEntries(
        Object.entries(transforms).map(([label, t]) => [
          label,
          t.init(pick(params, groups[label]!)!),
        ]),
      );
      return { groups, inner };
    },
    update(grads, state, params) {
      const known = Object.values(state.groups).flat();
      checkHasNames(fn, grads, known, 'a labelled parameter');
      checkSameStructure(fn, 'grads', grads, pick(grads, known) ?? {}, 'the labelled parameters');
      const updates = emptyRecord<Tensor>();
      const inner = emptyRecord<unknown>();
      for (const [label, t] of Object.entries(transforms)) {
        const names = state.groups[label]!;
        const result = t.update(pick(grads, names)!, state.inner[label], pick(params, names));
        for (const [name, u] of Object.entries(result.updates)) updates[name] = u;
        inner[label] = result.state;
      }
      const groups = Object.fromEntries(Object.entries(state.groups).map(([l, n]) => [l, [...n]]));
      return { updates, state: { groups, inner } };
    },
  };
}

/**
 * Gradient accumulation: for `everyK - 1` steps the updates are zero while
 * gradients are summed; on the k-th step `transform` gets their mean.
 * Equivalent to a k-times larger batch for losses that average over it.
 *
 * @example
 * ```ts
 * const optimizer = multiSteps(adamw({ learningRate: 1e-3 }), 4);
 * ```
 */
export function multiSteps<S>(
  transform: GradientTransformation<S>,
  everyK: number,
): GradientTransformation<MultiStepsState<S>> {
  const fn = 'multiSteps';
  checkTransform(fn, 'transform', transform);
  const k = checkInteger(fn, 'everyK', everyK, 1);
  return {
    init: (params) => ({
      miniStep: 0,
      accumulated: tidy(() => mapTensors(params, (p) => zerosLike(p))),
      inner: transform.init(params),
    }),
    update(grads, state, params) {
      checkSameStructure(fn, 'grads', grads, state.accumulated, 'the optimizer state');
      const accumulated = tidy(() =>
        mapTensors(state.accumulated, (a, _n, g) => add(a, g!), grads),
      );
      const miniStep = state.miniStep + 1;
      if (miniStep < k) {
        const updates = tidy(() => mapTensors(grads, (g) => zerosLike(g)));
        return {
          updates,
          state: { miniStep, accumulated, inner: treeMap(state.inner, (t) => clone(t)) },
        };
      }
      const mean = tidy(() => mapTensors(accumulated, (a) => mul(a, 1 / k)));
      dispose(Object.values(accumulated));
      const result = transform.update(mean, state.inner, params);
      dispose(Object.values(mean));
      const zeros = tidy(() => mapTensors(grads, (g) => zerosLike(g)));
      return {
        updates: result.updates,
        state: { miniStep: 0, accumulated: zeros, inner: result.state },
      };
    },
  };
}

/** State of {@link applyIfFinite}. */
export type ApplyIfFiniteState<S> = {
  /** The wrapped transform's state. */
  inner: S;
  /** Skipped steps in a row (reset by a finite step). */
  notFiniteCount: number;
  /** Skipped steps in all. */
  totalNotFinite: number;
  /** Whether the last step was applied. */
  lastFinite: boolean;
};

/**
 * Skips a step whose gradients hold NaN or ±Infinity: the updates are zero,
 * the wrapped state stays as it was, and the skip is counted. Reading the
 * check costs one small host sync per step.
 *
 * @example
 * ```ts
 * const optimizer = applyIfFinite(adamw({ learningRate: 1e-3 }));
 * ```
 */
export function applyIfFinite<S>(
  transform: GradientTransformation<S>,
): GradientTransformation<ApplyIfFiniteState<S>> {
  checkTransform('applyIfFinite', 'transform', transform);
  return {
    init: (params) => ({
      inner: transform.init(params),
      notFiniteCount: 0,
      totalNotFinite: 0,
      lastFinite: true,
    }),
    update(grads, state, params) {
      const tensors = Object.values(grads);
      const finite =
        tensors.length === 0 ||
        tidy(() => all(stack(tensors.map((g) => all(isFiniteTensor(g))))).dataSync()[0] === 1);
      if (!finite) {
        return {
          updates: tidy(() => mapTensors(grads, (g) => zerosLike(g))),
          state: {
            inner: treeMap(state.inner, (t) => clone(t)),
            notFiniteCount: state.notFiniteCount + 1,
            totalNotFinite: state.totalNotFinite + 1,
            lastFinite: false,
          },
        };
      }
      const result = transform.update(grads, state.inner, params);
      return {
        updates: result.updates,
        state: {
          inner: result.state,
          notFiniteCount: 0,
          totalNotFinite: state.totalNotFinite,
          lastFinite: true,
        },
      };
    },
  };
}
