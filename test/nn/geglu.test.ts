// GeGLU with the tanh GELU (Gemma's MLP: down(gelu_tanh(gate(x)) ⊙ up(x))) is
// the gated feed-forward with activation 'gelu-tanh'.
import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import { type FeedForwardConfig, type FeedForwardParams, feedForward } from '../../src/index';
import { describeEachBackend } from '../helpers/backends';
import { expectClose } from '../helpers/close';
import { expectNoLeak } from '../helpers/leaks';
import { thrownWithoutLeak } from '../helpers/rejections';

// From transformers 5.18: GemmaMLP(GemmaConfig(hidden_size=3, intermediate_size=4,
// hidden_activation='gelu_pytorch_tanh')) with gate_proj.weight = linspace(-1, 1, 12)
// .reshape(4, 3), up_proj.weight = linspace(0.5, -0.7, 12).reshape(4, 3),
// down_proj.weight = linspace(-0.3, 0.9, 12).reshape(3, 4); kernels here are weightᵀ.
const lin = (start: number, end: number, n: number) =>
  Array.from({ length: n }, (_, i) => start + ((end - start) * i) / (n - 1));
const torchKernel = (w: number[], out: number, inp: number) =>
  tf.transpose(tf.tensor2d(w, [out, inp])) as tf.Tensor2D;
const X = [
  [0.2, -1.0, 1.5],
  [2.0, 0.3, -0.4],
];
const Y = [
  0.003237122669816017, -0.20043149590492249, -0.4041001498699188, 0.003841359168291092,
  -0.4127134680747986, -0.8292683362960815,
];
const config: FeedForwardConfig = { dModel: 3, hidden: 4, kind: 'gated', activation: 'gelu-tanh' };

const gemmaMlp = (): FeedForwardParams => ({
  gate: { kernel: torchKernel(lin(-1, 1, 12), 4, 3) },
  up: { kernel: torchKernel(lin(0.5, -0.7, 12), 4, 3) },
  down: { kernel: torchKernel(lin(-0.3, 0.9, 12), 3, 4) },
});

describeEachBackend('GeGLU (gated, gelu-tanh) == GemmaMLP', () => {
  it('matches transformers, differs from the exact-GELU GeGLU, adds only its output', () => {
    const params = gemmaMlp();
    const x = tf.tensor2d(X);
    const y = feedForward(config, params, x);
    expectClose(y, Y, { rtol: 1e-5, atol: 1e-6 }, [2, 3]);
    const exact = feedForward({ ...config, activation: 'gelu' }, params, x);
    expect(tf.max(tf.abs(tf.sub(exact, y))).dataSync()[0]).toBeGreaterThan(1e-6);
    expectNoLeak(() => feedForward(config, params, x));
    tf.dispose([params, x, y, exact]);
  });
});

it("rejects HF's activation name: ours is 'gelu-tanh'", () => {
  const params = gemmaMlp();
  const x = tf.tensor2d(X);
  const bad = { ...config, activation: 'gelu_pytorch_tanh' } as unknown as FeedForwardConfig;
  expect(thrownWithoutLeak(() => feedForward(bad, params, x)).argument).toBe('config.activation');
  tf.dispose([params, x]);
});
