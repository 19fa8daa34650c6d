import { Tensor } from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import { describeValue } from '../internal/checks';
import { emptyRecord, ownEntry } from '../internal/records';
import type { TensorMap } from './types';
import { joinPath, mapTree, visitLeaves } from './walk';

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
  if (params === null || typeof params !== 'object') {
    throw new TfjsBlocksError(
      'flattenParams',
      'params',
      'a tensor, or a record or array holding tensors',
      describeValue(params),
    );
  }
  const flat: TensorMap = emptyRecord();
  visitLeaves(
    params,
    (leaf, keys) => {
      flat[joinPath(keys)] = leaf as Tensor;
    },
    { fn: 'flattenParams', argument: 'params' },
  );
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
  const replace = (leaf: unknown, keys: readonly (string | number)[]): Tensor => {
    const node = leaf as Tensor;
    const path = joinPath(keys);
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
  };
  return mapTree(template, replace, { fn, argument: 'template' }) as T;
}
