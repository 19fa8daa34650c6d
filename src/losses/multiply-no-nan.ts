import { equal, mul, type Tensor, where, zerosLike } from '@tensorflow/tfjs-core';
import { customGradient } from '../internal/custom-gradient';

/**
 * `x · y`, but 0 wherever `y` is 0, even where `x` is ±Infinity or NaN
 * (TensorFlow's `multiply_no_nan`). Losses weight log-probabilities by
 * targets, masks or class weights; a masked class has log-probability
 * `-Infinity` and weight 0, and a plain product would give `0 · -Infinity =
 * NaN`. The gradients are `dy · y` for `x` (0 where `y` is 0) and `dy · x`
 * for `y` (0 where `y` is 0). `x` and `y` must have the same shape; a custom
 * gradient, since tfjs has none for the comparison that picks the zeros.
 */
export const multiplyNoNan = customGradient<[Tensor, Tensor]>(([x, y], save) => {
  const zero = equal(y, 0);
  save([x, y, zero]);
  return {
    value: where(zero, zerosLike(x), mul(x, y)),
    gradFunc: (dy, [xs, ys, mask]) => [mul(dy, ys!), where(mask!, zerosLike(dy), mul(dy, xs!))],
  };
});
