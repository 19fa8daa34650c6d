import { Tensor, type Variable, variable } from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import { checkOptionKeys, checkTensor, describeValue, optionKeys } from '../internal/checks';
import { emptyRecord, ownEntry } from '../internal/records';
import type { TensorMap } from './types';

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

/**
 * The tensors of a nested param record by dotted path
 * (`blocks.0.attention.query.kernel`, the names PyTorch state dicts use):
 * the flat {@link TensorMap} that gradient transformations, `tf.grads` and
 * `createOptimizer` work on. Numbers and other non-tensor leaves are left out;
 * {@link unflattenParams} puts them back from the template.
 *
 * The tensors are the record's own, not copies. The map has no prototype,
 * so any key (`__proto__`, `constructor`) is an ordinary entry.
 *
 * @param params - a param record from an `init…` function (or any nesting of records and arrays).
 * @returns the tensors by dotted path.
 * @example
 * ```ts
 * const params = initDecoderLm(config, 0);
 * const variables = Object.fromEntries(
 *   Object.entries(flattenParams(params)).map(([name, t]) => [name, tf.variable(t)]),
 * );
 * const optimizer = createOptimizer(adamw({ learningRate: 1e-3 }), variables);
 * optimizer.minimize(() => loss(unflattenParams(params, variables)));
 * ```
 */
export function flattenParams(params: unknown): TensorMap {
  const flat: TensorMap = emptyRecord();
  const walk = (node: unknown, path: string): void => {
    if (node instanceof Tensor) {
      flat[path] = node;
    } else if (node !== null && typeof node === 'object') {
      for (const [key, value] of Object.entries(node)) walk(value, path ? `${path}.${key}` : key);
    }
  };
  if (params === null || typeof params !== 'object') {
    throw new TfjsBlocksError(
      'flattenParams',
      'params',
      'a tensor, or a record or array holding tensors',
      describeValue(params),
    );
  }
  walk(params, '');
  return flat;
}

/**
 * `template` with each tensor replaced by the tensor of the same dotted path
 * in `values` (see {@link flattenParams}); the rest of the template (numbers,
 * structure) is kept. Every tensor of the template must have a replacement
 * of the same shape, so a renamed or reshaped parameter fails here rather
 * than deep inside a kernel.
 *
 * @param template - the record whose structure to rebuild, e.g. the params from `init…`.
 * @param values - tensors by dotted path: updated params, variables or gradients.
 * @returns a new record of the template's structure holding `values`' tensors.
 * @example
 * ```ts
 * const grads = tf.grads((...ws) => loss(unflattenParams(params, Object.fromEntries(names.map((n, i) => [n, ws[i]])))));
 * ```
 */
export function unflattenParams<T>(template: T, values: TensorMap): T {
  const fn = 'unflattenParams';
  const walk = (node: unknown, path: string): unknown => {
    if (node instanceof Tensor) {
      // Own entries only: a path such as `constructor` is not read from Object.prototype.
      const value = ownEntry(values, path);
      if (!(value instanceof Tensor)) {
        const got = value === undefined ? 'nothing' : describeValue(value);
        throw new TfjsBlocksError(fn, `values["${path}"]`, 'a tensor', got);
      }
      if (
        value.shape.length !== node.shape.length ||
        value.shape.some((d, i) => d !== node.shape[i])
      ) {
        throw new TfjsBlocksError(
          fn,
          `values["${path}"]`,
          `shape [${node.shape.join(', ')}]`,
          `shape [${value.shape.join(', ')}]`,
        );
      }
      return value;
    }
    const child = (key: string | number) => (path ? `${path}.${key}` : `${key}`);
    if (Array.isArray(node)) return node.map((v, i) => walk(v, child(i)));
    if (node !== null && typeof node === 'object') {
      return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, walk(v, child(k))]));
    }
    return node;
  };
  return walk(template, '') as T;
}

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
