import type { TensorMap } from '../tree/types';

/** What {@link GradientTransformation.update} returns. */
export type TransformResult<S> = {
  /** What to add to the parameters: the learning rate and the minus sign are already in. */
  updates: TensorMap;
  /** The transform's new state. */
  state: S;
};

/**
 * A gradient transformation, as in optax: a pair of pure functions over named
 * tensor maps. `init` makes the state for some parameters; `update` turns
 * gradients (or the updates of the previous transform in a {@link chain})
 * into updates and a new state.
 *
 * Ownership: `update` never disposes its arguments and always returns fresh
 * tensors (the state included, even where it did not change), so the caller
 * may dispose the old state, the gradients and the updates once applied.
 * Step counts and hyperparameters are plain numbers in the state.
 */
export interface GradientTransformation<S = unknown> {
  /** Creates the state for `params` (tensors the caller owns). */
  init(params: TensorMap): S;
  /** Maps gradients to updates; `params` are the current parameter values (some transforms need them). */
  update(grads: TensorMap, state: S, params?: TensorMap): TransformResult<S>;
}
