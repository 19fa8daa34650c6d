import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { expectClose, type Tolerance } from './close';

/** A tensor as the reference scripts write it. */
export interface EncodedTensor {
  shape: number[];
  dtype?: 'bool' | 'int32';
  /** Numbers; non-finite values are written as the strings 'Infinity', '-Infinity', 'NaN'. */
  data: Array<number | boolean | string>;
}

/** The numbers of an encoded tensor, with 'Infinity' and friends decoded. */
export function values(e: EncodedTensor): number[] {
  return e.data.map((v) => (typeof v === 'string' ? Number(v) : Number(v)));
}

/** Reads `test/goldens/<name>.json` (written by `test/reference/<name>.py`). */
export function loadGoldens<T = Record<string, unknown>>(name: string): T {
  const path = fileURLToPath(new URL(`../goldens/${name}.json`, import.meta.url));
  return JSON.parse(readFileSync(path, 'utf8')).cases as T;
}

/** Builds the tensor a golden encodes (float32, or bool). */
export function decode<T extends tf.Tensor = tf.Tensor>(e: EncodedTensor): T {
  if (e.dtype === 'bool') return tf.tensor(e.data as boolean[], e.shape, 'bool') as T;
  return tf.tensor(values(e), e.shape, e.dtype ?? 'float32') as T;
}

/** A golden case with inputs, an output, and gradients of `sum(output * cotangent)`. */
export interface GradientGolden {
  inputs: Record<string, EncodedTensor>;
  output: EncodedTensor;
  cotangent: EncodedTensor;
  grads: Record<string, EncodedTensor>;
}

/**
 * Compares with a golden tensor at relative tolerance `rtol`, where an
 * element's error is measured against `max(|expected_i|, max_j |expected_j|)`
 * (plus `atol`): entries that are mathematically zero, such as the gradient
 * of a key bias, which softmax ignores, are held to the tensor's scale
 * instead of to 0.
 */
export function expectCloseToGolden(
  actual: tf.Tensor,
  golden: EncodedTensor,
  tolerance: Tolerance,
): void {
  const { rtol = 1e-5, atol = 1e-6 } = tolerance;
  const scale = Math.max(0, ...values(golden).filter(Number.isFinite).map(Math.abs));
  expectClose(actual, decode(golden), { rtol, atol: Math.max(atol, rtol * scale) });
}

/**
 * Feeds a golden's inputs to `f`, then checks the output and the gradients
 * of `sum(f(...) * cotangent)` with respect to every input in
 * `golden.grads` (plus any `extra` differentiable tensors and their golden
 * gradients), each with {@link expectCloseToGolden}. Runs inside `tf.tidy`.
 */
export function expectMatchesGolden(
  golden: GradientGolden,
  f: (inputs: Record<string, tf.Tensor>, extra: tf.Tensor[]) => tf.Tensor,
  tolerance: Tolerance,
  extra: Array<{ tensor: EncodedTensor; grad: EncodedTensor; tolerance?: Tolerance }> = [],
): void {
  tf.tidy(() => {
    const inputs = Object.fromEntries(
      Object.entries(golden.inputs).map(([name, e]) => [name, decode(e)]),
    );
    const extraTensors = extra.map((e) => decode(e.tensor));
    expectCloseToGolden(f(inputs, extraTensors), golden.output, tolerance);
    const names = Object.keys(golden.grads);
    const cotangent = decode(golden.cotangent);
    const grads = tf.grads((...xs: tf.Tensor[]) => {
      const replaced = { ...inputs };
      names.forEach((name, i) => {
        replaced[name] = xs[i]!;
      });
      return tf.sum(tf.mul(f(replaced, xs.slice(names.length)), cotangent));
    })([...names.map((name) => inputs[name]!), ...extraTensors]);
    names.forEach((name, i) => {
      expectCloseToGolden(grads[i]!, golden.grads[name]!, tolerance);
    });
    extra.forEach((e, i) => {
      expectCloseToGolden(grads[names.length + i]!, e.grad, e.tolerance ?? tolerance);
    });
  });
}
