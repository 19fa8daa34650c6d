import * as tf from '@tensorflow/tfjs-core';
import { expectClose } from './close';

/**
 * Checks the autodiff gradient of `f` (a scalar function of `inputs`)
 * against central finite differences on `samples` random coordinates of
 * each input. float32 differences are noisy, so the tolerance is loose: it
 * catches wrong gradients, while the PyTorch goldens pin the exact values.
 */
export function expectGradientsMatchFiniteDifferences(
  f: (...inputs: tf.Tensor[]) => tf.Scalar,
  inputs: tf.Tensor[],
  { eps = 1e-2, samples = 6, rtol = 2e-2, atol = 2e-3 } = {},
): void {
  const grads = tf.grads(f)(inputs);
  inputs.forEach((x, which) => {
    const base = x.dataSync().slice();
    const g = grads[which]!.dataSync();
    const picks = Array.from({ length: Math.min(samples, base.length) }, (_, i) =>
      Math.floor(((i + 0.5) / samples) * base.length),
    );
    const numeric: number[] = [];
    for (const idx of picks) {
      const evalAt = (delta: number) => {
        const shifted = base.slice();
        shifted[idx] = base[idx]! + delta;
        return tf.tidy(() => {
          const args = inputs.map((t, j) => (j === which ? tf.tensor(shifted, t.shape) : t));
          return f(...args).dataSync()[0]!;
        });
      };
      numeric.push((evalAt(eps) - evalAt(-eps)) / (2 * eps));
    }
    expectClose(
      picks.map((i) => g[i]!),
      numeric,
      { rtol, atol },
    );
  });
  tf.dispose(grads);
}
