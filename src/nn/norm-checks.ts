import type { Tensor } from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import { checkDim, checkFloatTensor, checkNumber } from '../internal/checks';

/** Validates `(x, scale/shift..., epsilon)` for norms over the last axis; returns epsilon. */
export function checkLastAxisNorm(
  fn: string,
  x: unknown,
  affine: Record<string, unknown>,
  epsilon: unknown,
): number {
  const input = checkFloatTensor<Tensor>(fn, 'x', x);
  if (input.rank < 1) {
    throw new TfjsBlocksError(fn, 'x', 'a float32 tensor of rank >= 1 [..., features]', 'a scalar');
  }
  const features = input.shape[input.rank - 1]!;
  for (const [name, t] of Object.entries(affine)) {
    const p = checkFloatTensor(fn, name, t, { rank: 1, layout: '[features]' });
    checkDim(fn, `${name}.shape[0]`, p.shape[0]!, features, "x's last dimension");
  }
  return checkNumber(fn, 'options.epsilon', epsilon, { min: 0, minExclusive: true });
}
