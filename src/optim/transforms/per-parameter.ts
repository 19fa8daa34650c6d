import { clone, type Tensor, tidy, zerosLike } from '@tensorflow/tfjs-core';
import { emptyRecord, ownEntry, recordFromEntries } from '../../internal/records';
import type { TensorMap } from '../../tree/types';
import { checkSameStructure, requireParams } from '../tree';
import type { GradientTransformation } from '../types';

/** State of a per-parameter transform: a step count, running numbers, and one tensor map per moment. */
export type MomentState<K extends string> = {
  /** Steps taken so far. */
  count: number;
  /** Scalars that evolve with the step (e.g. NAdam's momentum product). */
  numbers: Record<string, number>;
  /** Per-parameter moments, by moment name then parameter name. */
  moments: Record<K, TensorMap>;
};

/** How one parameter's update and moments follow from its gradient. */
export interface PerParameterSpec<K extends string> {
  fn: string;
  moments: readonly K[];
  /** Initial value of a moment. Default zeros. */
  initMoment?: (param: Tensor, moment: K) => Tensor;
  /** Numbers kept in the state, updated once per step before the per-parameter rule. */
  numbers?: {
    initial: Record<string, number>;
    advance: (count: number, previous: Record<string, number>) => Record<string, number>;
  };
  /** Whether the rule reads the parameter value. */
  needsParams?: boolean;
  /**
   * The rule, inside `tf.tidy`: `count` is this step's 1-based number. It
   * returns the update and every moment's new value (fresh tensors).
   */
  rule: (
    grad: Tensor,
    moments: Record<K, Tensor>,
    step: { count: number; numbers: Record<string, number> },
    param: Tensor | undefined,
  ) => { update: Tensor; moments: Record<K, Tensor> };
}

/**
 * Builds a transform that applies the same rule to each parameter, with
 * per-parameter moments: the shared plumbing of Adam, RMSprop, momentum and
 * the rest. It checks that the gradients match the state by name and shape.
 */
export function perParameterTransform<K extends string>(
  spec: PerParameterSpec<K>,
): GradientTransformation<MomentState<K>> {
  const { fn, moments } = spec;
  return {
    init(params) {
      return tidy(() => ({
        count: 0,
        numbers: { ...spec.numbers?.initial },
        moments: Object.fromEntries(
          moments.map((m) => [
            m,
            recordFromEntries(
              Object.entries(params).map(([name, p]) => [
                name,
                spec.initMoment ? spec.initMoment(p, m) : zerosLike(p),
              ]),
            ),
          ]),
        ) as Record<K, TensorMap>,
      }));
    },
    update(grads, state, params) {
      const reference = state.moments[moments[0]!];
      if (reference) checkSameStructure(fn, 'grads', grads, reference, 'the optimizer state');
      if (spec.needsParams) requireParams(fn, params, grads);
      const count = state.count + 1;
      // A rule without numbers starts with none and never gains any.
      const numbers = spec.numbers ? spec.numbers.advance(count, state.numbers) : {};
      // Parameter names may be any string (`__proto__` included): prototype-less records.
      const updates: TensorMap = emptyRecord();
      const next: Record<string, TensorMap> = Object.fromEntries(
        moments.map((m) => [m, emptyRecord<Tensor>()]),
      );
      // One tidy per parameter: intermediates of a 10M-parameter model are
      // freed as each tensor is done, not all held to the end of the step.
      for (const [name, grad] of Object.entries(grads)) {
        const out = tidy(() => {
          const current = Object.fromEntries(
            moments.map((m) => [m, ownEntry(state.moments[m], name)!]),
          ) as Record<K, Tensor>;
          const result = spec.rule(
            grad,
            current,
            { count, numbers },
            params && ownEntry(params, name),
          );
          // A rule may pass a tensor through, or return one tensor as both the
          // update and a moment; every result must still be its own handle.
          const shared =
            result.update === grad ||
            moments.some(
              (m) => result.update === result.moments[m] || result.update === current[m],
            );
          const fresh = Object.fromEntries(
            moments.map((m) => [
              m,
              result.moments[m] === current[m] ? clone(current[m]) : result.moments[m],
            ]),
          );
          return { update: shared ? clone(result.update) : result.update, moments: fresh };
        });
        updates[name] = out.update;
        for (const m of moments) next[m]![name] = out.moments[m]!;
      }
      return { updates, state: { count, numbers, moments: next as Record<K, TensorMap> } };
    },
  };
}
