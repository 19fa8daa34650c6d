import {
  dispose,
  type Scalar,
  type Tensor,
  type Variable,
  variableGrads,
} from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import { applyUpdatesInPlace } from './apply-updates';
import { restoreOptimizerState, type SavedOptimizerState, saveOptimizerState } from './state-io';
import { checkSameStructure, keepState, stateTensors } from './tree';
import type { GradientTransformation, TensorMap } from './types';

/** What {@link StatefulOptimizer.save} returns: the state's tensors and skeleton, and the step count. */
export type SavedOptimizer = SavedOptimizerState & {
  /** Steps applied before saving. */
  iterations: number;
};

/** A transformation bound to variables, for hand-written training loops. */
export interface StatefulOptimizer<S = unknown> {
  /** The current optimizer state (owned by the optimizer). */
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
  /** The state as named tensors and a JSON skeleton (see {@link saveOptimizerState}). */
  save(): SavedOptimizer;
  /** Replaces the state with a saved one; continues exactly where it left off. */
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
  const names = Object.keys(variables);
  if (names.length === 0)
    throw new TfjsBlocksError(fn, 'variables', 'at least one named tf.Variable', 'none');
  let state = keepState(transform.init(variables));
  let iterations = 0;
  const params = (): TensorMap => variables;
  const byVariableName = new Map(names.map((n) => [variables[n]!.name, n]));

  const step = (grads: TensorMap) => {
    checkSameStructure('StatefulOptimizer.step', 'grads', grads, variables, 'the variables');
    const { updates, state: next } = transform.update(grads, state, params());
    applyUpdatesInPlace(variables, updates);
    dispose(Object.values(updates));
    dispose(stateTensors(state));
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
      const named: TensorMap = {};
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
      return { ...saveOptimizerState(state), iterations };
    },
    load(saved) {
      const restored = restoreOptimizerState<S>(saved);
      dispose(stateTensors(state));
      state = keepState(restored);
      iterations = saved.iterations;
    },
    dispose() {
      dispose(stateTensors(state));
    },
  };
}
