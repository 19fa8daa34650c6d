import { div, greater, mean, onesLike, sum, type Tensor, where } from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import { describeValue } from '../internal/checks';

/** How per-element losses become the result: their mean (default), their sum, or unchanged. */
export type Reduction = 'mean' | 'sum' | 'none';

/** The `reduction` option every loss takes. */
export interface ReductionOption {
  /** `'mean'` (default), `'sum'` or `'none'` (per-element losses). */
  reduction?: Reduction;
}

/** Validates a reduction name. */
export function checkReduction<R extends string = Reduction>(
  fn: string,
  value: unknown,
  allowed: readonly R[] = ['mean', 'sum', 'none'] as unknown as R[],
): R {
  const reduction = (value ?? 'mean') as R;
  if (!allowed.includes(reduction)) {
    throw new TfjsBlocksError(
      fn,
      'options.reduction',
      allowed.map((r) => `'${r}'`).join(', '),
      describeValue(value),
    );
  }
  return reduction;
}

/** Applies a reduction to per-element losses (inside the caller's tidy). */
export function reduce(losses: Tensor, reduction: Reduction): Tensor {
  if (reduction === 'none') return losses;
  return reduction === 'sum' ? sum(losses) : mean(losses);
}

/**
 * `total / count`, or 0 when `count` is 0 (every target ignored): never NaN,
 * and a zero gradient in that case.
 */
export function safeDivide(total: Tensor, count: Tensor): Tensor {
  return div(total, where(greater(count, 0), count, onesLike(count)));
}
