import { type Variable, variable } from '@tensorflow/tfjs-core';
import { checkOptionKeys, checkTensor, optionKeys } from '../internal/checks';
import { emptyRecord } from '../internal/records';
import { flattenParams, unflattenParams } from '../tree/flatten';

/**
 * Options of {@link paramsToVariables}.
 *
 * @example
 * ```ts
 * const options: ParamsToVariablesOptions = { trainable: false, namePrefix: 'teacher' };
 * ```
 */
export interface ParamsToVariablesOptions {
  /** Whether the variables take gradients. Default `true`. */
  trainable?: boolean;
  /**
   * Prefix of the tfjs variable names (`<prefix>/<dotted path>`); they must be
   * unique among live variables. Default: tfjs picks unique names.
   */
  namePrefix?: string;
}

const PARAMS_TO_VARIABLES_OPTIONS = optionKeys<ParamsToVariablesOptions>({
  trainable: true,
  namePrefix: true,
});

/** What {@link paramsToVariables} returns. */
export interface TrainableParams<T> {
  /** The param record over the variables: what the model functions take. */
  params: T;
  /** The same variables by dotted path: what the optimizers take. */
  variables: Record<string, Variable>;
}

/**
 * A `tf.Variable` for every tensor of a param record: the record to run the
 * model with (same structure, variables in place of tensors) and the
 * variables by dotted path, for {@link createOptimizer} or `TransformOptimizer`.
 * The variables are copies; the original tensors stay the caller's (dispose
 * them when no longer needed).
 *
 * @param params - a param record from an `init…` function.
 * @param options - `trainable`, `namePrefix`.
 * @returns `params` (the record over variables) and `variables` (by dotted path).
 * @example
 * ```ts
 * const init = initDecoderLm(config, 0);
 * const { params, variables } = paramsToVariables(init);
 * tf.dispose(Object.values(flattenParams(init)));
 * const optimizer = createOptimizer(adamw({ learningRate: 3e-4 }), variables);
 * optimizer.minimize(() => softmaxCrossEntropy(decoderLm(config, params, ids), targets));
 * ```
 */
export function paramsToVariables<T>(
  params: T,
  options: ParamsToVariablesOptions = {},
): TrainableParams<T> {
  checkOptionKeys('paramsToVariables', options, PARAMS_TO_VARIABLES_OPTIONS);
  const trainable = options.trainable ?? true;
  const variables: Record<string, Variable> = emptyRecord();
  const flat = flattenParams(params);
  for (const [path, t] of Object.entries(flat))
    checkTensor('paramsToVariables', `params.${path}`, t);
  for (const [path, tensor] of Object.entries(flat)) {
    variables[path] = variable(
      tensor,
      trainable,
      options.namePrefix === undefined ? undefined : `${options.namePrefix}/${path}`,
    );
  }
  return { params: unflattenParams(params, variables), variables };
}
