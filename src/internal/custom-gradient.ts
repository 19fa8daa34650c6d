import { customGrad, type GradSaveFunc, type Tensor } from '@tensorflow/tfjs-core';

/** What a {@link customGradient} body returns: the value and its backward pass. */
export interface CustomGradientResult {
  value: Tensor;
  gradFunc: (dy: Tensor, saved: Tensor[]) => Tensor | Tensor[];
}

/**
 * `tf.customGrad` with its inputs typed as a tuple: tfjs types each argument
 * as `Tensor | GradSaveFunc`, which no body can use without casts.
 */
export function customGradient<A extends Tensor[]>(
  body: (inputs: A, save: GradSaveFunc) => CustomGradientResult,
): (...inputs: A) => Tensor {
  const wrapped = customGrad((...args: Array<Tensor | GradSaveFunc>) => {
    const save = args[args.length - 1] as GradSaveFunc;
    return body(args.slice(0, -1) as A, save);
  });
  return (...inputs: A) => wrapped(...inputs);
}
