import type { Tensor } from '@tensorflow/tfjs-core';

/**
 * Named tensors: parameters, gradients or updates, keyed by parameter name
 * (a dotted path such as `blocks.0.attention.query.kernel` when made by
 * {@link flattenParams}). What gradient transformations, `tf.grads` and
 * `createOptimizer` work on.
 *
 * @example
 * ```ts
 * const grads: TensorMap = { 'dense.kernel': tf.ones([2, 2]) };
 * ```
 */
export type TensorMap = Record<string, Tensor>;

/**
 * A nested param record: tensors, plain numbers (hyperparameters, counts),
 * arrays and objects of them, as the `init…` functions of this library make.
 *
 * @example
 * ```ts
 * const params: ParamTree = initDecoderLm(config, 0);
 * ```
 */
export type ParamTree =
  | Tensor
  | number
  | readonly ParamTree[]
  | { readonly [key: string]: ParamTree };
