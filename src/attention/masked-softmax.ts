import {
  div,
  equal,
  exp,
  isFinite as isFiniteTensor,
  max,
  mul,
  onesLike,
  sub,
  sum,
  type Tensor,
  where,
  zerosLike,
} from '@tensorflow/tfjs-core';
import { customGradient } from '../internal/custom-gradient';

/**
 * Softmax over the last axis that tolerates `-Infinity` scores: a row whose
 * entries are all `-Infinity` (every key masked) yields zeros, and so does
 * its gradient, instead of NaN. The backward pass is the usual
 * `y * (dy - sum(dy * y))`, so no intermediate of the forward is kept.
 */
export const maskedSoftmax: (scores: Tensor) => Tensor = /* @__PURE__ */ customGradient<[Tensor]>(
  ([scores], save) => {
    const rowMax = max(scores, -1, true);
    const shift = where(isFiniteTensor(rowMax), rowMax, zerosLike(rowMax));
    const e = exp(sub(scores, shift));
    const total = sum(e, -1, true);
    const y = div(e, where(equal(total, 0), onesLike(total), total));
    save([y]);
    return {
      value: y,
      gradFunc: (dy: Tensor, saved: Tensor[]) => {
        const [out] = saved as [Tensor];
        return mul(out, sub(dy, sum(mul(dy, out), -1, true)));
      },
    };
  },
);
