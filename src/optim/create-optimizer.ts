import {
  clone,
  dispose,
  type Scalar,
  Tensor,
  Variable,
  variableGrads,
} from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import { checkInteger, checkOptionKeys, describeValue, optionKeys } from '../internal/checks';
import { emptyRecord } from '../internal/records';
import { treeLeaves } from '../tree/leaves';
import { treeMap } from '../tree/map';
import type { TensorMap } from '../tree/types';
import { applyUpdatesInPlace } from './apply-updates';
import { restoreOptimizerState, type SavedOptimizerState, saveOptimizerState } from './state-io';
import { checkSameStructure, keepState } from './tree';
import type { GradientTransformation } from './types';

/** What {@link StatefulOptimizer.save} returns: the state's tensors and skeleton, and the step count. */
export type SavedOptimizer = SavedOptimizerState & {
  /** Steps applied before saving. */
  iterations: number;
};

const SAVED_KEYS = optionKeys<SavedOptimizer>({ tensors: true, skeleton: true, iterations: true });

/** A transformation bound to variables, for hand-written training loops. */
export interface StatefulOptimizer<S = unknown> {
  /**
   * The current optimizer state: the optimizer's own tensors, valid until
   * the next step, `load` or `dispose` (do not dispose them; use `save()`
   * for a snapshot).
   */
  readonly state: S;
  /** Steps applied so far. */
  readonly iterations: number;
  /** Applies one step of gradients named like the variables; the gradients stay the caller's. */
  step(grads: TensorMap): void;
  /**
   * Computes the gradients of `loss` with respect to the variables, applies
   * them, and returns the loss (which the caller disposes) when `returnLoss`.
   */
  minimize(loss: () => Scalar, returnLoss?: boolean): Scalar | null;
  /**
   * A snapshot of the state as named tensors and a JSON skeleton (see
   * {@link saveOptimizerState}), with the step count. The tensors are copies
   * that the caller owns (dispose them when done): they stay valid and
   * unchanged while training goes on.
   */
  save(): SavedOptimizer;
  /**
   * Replaces the state with a saved one (copying its tensors: the caller
   * keeps `saved`); continues exactly where it left off.
   */
  load(saved: SavedOptimizer): void;
  /** Frees the state's tensors. */
  dispose(): void;
}

/**
 * Binds a {@link GradientTransformation} to named `tf.Variable`s: the state is
 * created now, and each step applies the updates in place and frees
 * everything it made.
 *
 * @example
 * ```ts
 * const w = tf.variable(tf.randomNormal([4, 1]));
 * const opt = createOptimizer(adamw({ learningRate: 1e-2 }), { w });
 * for (let i = 0; i < 100; i++) opt.minimize(() => tf.mean(tf.square(tf.sub(tf.matMul(x, w), y))));
 * ```
 */
export function createOptimizer<S>(
  transform: GradientTransformation<S>,
  variables: Record<string, Variable>,
): StatefulOptimizer<S> {
  const fn = 'createOptimizer';
  if (variables === null || typeof variables !== 'object' || Array.isArray(variables)) {
    throw new TfjsBlocksError(
      fn,
      'variables',
      'a record of named tf.Variables',
      describeValue(variables),
    );
  }
  const names = Object.keys(variables);
  if (names.length === 0)
    throw new TfjsBlocksError(fn, 'variables', 'at least one named tf.Variable', 'none');
  for (const name of names) {
    const v: unknown = variables[name];
    if (!(v instanceof Variable) || v.isDisposed) {
      const actual =
        v instanceof Tensor
          ? v.isDisposed
            ? 'a disposed variable'
            : 'a tensor that is not a tf.Variable'
          : describeValue(v);
      throw new TfjsBlocksError(fn, `variables.${name}`, 'a live tf.Variable', actual);
    }
  }
  let state = keepState(transform.init(variables));
  let iterations = 0;
  const params = (): TensorMap => variables;
  const byVariableName = new Map(names.map((n) => [variables[n]!.name, n]));

  const step = (grads: TensorMap) => {
    checkSameStructure('StatefulOptimizer.step', 'grads', grads, variables, 'the variables');
    const { updates, state: next } = transform.update(grads, state, params());
    applyUpdatesInPlace(variables, updates);
    dispose(Object.values(updates));
    dispose(treeLeaves(state));
    state = keepState(next);
    iterations += 1;
  };

  return {
    get state() {
      return state;
    },
    get iterations() {
      return iterations;
    },
    step,
    minimize(loss, returnLoss = false) {
      const { value, grads } = variableGrads(
        loss,
        names.map((n) => variables[n]!),
      );
      const named = emptyRecord<Tensor>();
      for (const [variableName, g] of Object.entries(grads))
        named[byVariableName.get(variableName)!] = g as Tensor;
      try {
        step(named);
      } finally {
        dispose(Object.values(grads));
      }
      if (returnLoss) return value;
      value.dispose();
      return null;
    },
    save() {
      const { tensors, skeleton } = saveOptimizerState(state);
      return { tensors: treeMap(tensors, (t) => clone(t)), skeleton, iterations };
    },
    load(saved) {
      checkSaved('StatefulOptimizer.load', saved);
      const restored = restoreOptimizerState<S>(saved);
      dispose(treeLeaves(state));
      state = keepState(restored);
      iterations = saved.iterations;
    },
    dispose() {
      dispose(treeLeaves(state));
    },
  };
}

/** Throws unless `saved` has the fields of {@link SavedOptimizer}, with live tensors. */
function checkSaved(fn: string, saved: unknown): asserts saved is SavedOptimizer {
  if (saved === null || typeof saved !== 'object' || Array.isArray(saved)) {
    throw new TfjsBlocksError(
      fn,
      'saved',
      'what save() returned: { tensors, skeleton, iterations }',
      describeValue(saved),
    );
  }
  checkOptionKeys(fn, saved, SAVED_KEYS, 'saved');
  const { tensors, iterations } = saved as Partial<SavedOptimizer>;
  checkInteger(fn, 'saved.iterations', iterations, 0);
  if (tensors === null || typeof tensors !== 'object' || Array.isArray(tensors)) {
    throw new TfjsBlocksError(
      fn,
      'saved.tensors',
      'a record of named tensors',
      describeValue(tensors),
    );
  }
  for (const [path, t] of Object.entries(tensors)) {
    if (t instanceof Tensor && t.isDisposed) {
      throw new TfjsBlocksError(
        fn,
        `saved.tensors["${path}"]`,
        'a live tensor',
        'a disposed tensor',
      );
    }
  }
}
