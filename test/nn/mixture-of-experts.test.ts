import '@tensorflow/tfjs-layers'; // registers tfjs-core's gradients in Node
import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import {
  initMixtureOfExperts,
  type MixtureOfExpertsConfig,
  type MixtureOfExpertsParams,
  mixtureOfExperts,
} from '../../src/nn/mixture-of-experts';
import { describeEachBackend } from '../helpers/backends';
import { expectClose } from '../helpers/close';
import { expectGradientsMatchFiniteDifferences } from '../helpers/gradcheck';
import { expectNoLeak } from '../helpers/leaks';
import { describeRejections } from '../helpers/rejections';

const mlp: MixtureOfExpertsConfig = {
  dModel: 4,
  hidden: 6,
  numExperts: 4,
  topK: 2,
  kind: 'mlp',
  activation: 'relu',
};
const gated: MixtureOfExpertsConfig = { ...mlp, kind: 'gated', activation: 'silu', topK: 3 };

type Matrix = number[][];
const rowsOf = (t: tf.Tensor): Matrix => t.arraySync() as Matrix;
const vecTimesMat = (v: number[], m: Matrix) =>
  m[0]!.map((_, j) => v.reduce((s, vi, i) => s + vi * m[i]![j]!, 0));
const addVec = (a: number[], b: number[] | undefined) => (b ? a.map((v, i) => v + b[i]!) : a);
const JS_ACT = {
  relu: (v: number) => Math.max(v, 0),
  silu: (v: number) => v / (1 + Math.exp(-v)),
} as Record<string, (v: number) => number>;

/** The layer, token by token in plain JS: route, pick top-k, renormalise, sum the picked experts. */
function reference(config: MixtureOfExpertsConfig, params: MixtureOfExpertsParams, x: Matrix) {
  const act = JS_ACT[config.activation]!;
  const router = rowsOf(params.router.kernel);
  const expert = (p: { kernel: tf.Tensor; bias?: tf.Tensor }, e: number) => ({
    kernel: (p.kernel.arraySync() as number[][][])[e]!,
    bias: p.bias ? (p.bias.arraySync() as Matrix)[e] : undefined,
  });
  const E = config.numExperts;
  const probsAll: Matrix = [];
  const picksAll: number[][] = [];
  const output = x.map((token) => {
    const logits = vecTimesMat(token, router);
    const m = Math.max(...logits);
    const ex = logits.map((l) => Math.exp(l - m));
    const probs = ex.map((v) => v / ex.reduce((a, b) => a + b, 0));
    const order = [...probs.keys()].sort((a, b) => probs[b]! - probs[a]! || a - b);
    const picks = order.slice(0, config.topK);
    const total = picks.reduce((s, e) => s + probs[e]!, 0);
    probsAll.push(probs);
    picksAll.push(picks);
    let y = new Array(config.dModel).fill(0) as number[];
    for (const e of picks) {
      const up = expert(params.up, e);
      const down = expert(params.down, e);
      const u = addVec(vecTimesMat(token, up.kernel), up.bias);
      let h = u.map(act);
      if (config.kind === 'gated') {
        const g = expert(params.gate!, e);
        h = addVec(vecTimesMat(token, g.kernel), g.bias).map((v, i) => act(v) * u[i]!);
      }
      const out = addVec(vecTimesMat(h, down.kernel), down.bias);
      const w = probs[e]! / total;
      y = y.map((v, i) => v + w * out[i]!);
    }
    return y;
  });
  // Switch aux loss: E · Σ_e (share of routing slots to e) · (mean probability of e).
  let aux = 0;
  for (let e = 0; e < E; e++) {
    const f = picksAll.filter((p) => p.includes(e)).length / (x.length * config.topK);
    const P = probsAll.reduce((s, p) => s + p[e]!, 0) / x.length;
    aux += f * P;
  }
  return { output, aux: E * aux };
}

describeEachBackend('mixtureOfExperts', () => {
  for (const config of [mlp, gated]) {
    it(`${config.kind}: output and aux loss equal a per-token JS reference`, () => {
      tf.tidy(() => {
        const params = initMixtureOfExperts(config, 1);
        if (params.up.bias) {
          // Non-zero biases, so the reference checks they are applied per expert.
          params.up.bias = tf.randomNormal(params.up.bias.shape, 0, 0.5, 'float32', 3);
          params.down.bias = tf.randomNormal(params.down.bias!.shape, 0, 0.5, 'float32', 4);
        }
        const x = tf.randomNormal([2, 3, 4], 0, 1, 'float32', 2);
        const { output, auxLoss } = mixtureOfExperts(config, params, x);
        const expected = reference(config, params, rowsOf(tf.reshape(x, [6, 4])));
        expect(output.shape).toEqual([2, 3, 4]);
        expectClose(tf.reshape(output, [6, 4]), expected.output.flat(), { rtol: 1e-4, atol: 1e-5 });
        expectClose(auxLoss, expected.aux, { rtol: 1e-5 });
        expect(auxLoss.shape).toEqual([]);
      });
    });
  }

  it('with topK = numExperts and a uniform router it is the mean of the experts, aux loss 1', () => {
    tf.tidy(() => {
      const config = { ...mlp, topK: 4 };
      const params = initMixtureOfExperts(config, 5);
      params.router.kernel = tf.zeros([4, 4]);
      const x = tf.randomNormal([5, 4], 0, 1, 'float32', 6);
      const { output, auxLoss } = mixtureOfExperts(config, params, x);
      const experts = [0, 1, 2, 3].map((e) => {
        const up = tf.squeeze(tf.slice(params.up.kernel, [e, 0, 0], [1, 4, 6]), [0]) as tf.Tensor2D;
        const down = tf.squeeze(tf.slice(params.down.kernel, [e, 0, 0], [1, 6, 4]), [0]);
        return tf.matMul(tf.relu(tf.matMul(x as tf.Tensor2D, up)), down as tf.Tensor2D);
      });
      expectClose(output, tf.div(tf.addN(experts), 4), { rtol: 1e-5, atol: 1e-6 });
      expectClose(auxLoss, 1, { rtol: 1e-6 });
    });
  });

  it('without renormalisation (Switch) the kept probabilities weight the experts', () => {
    tf.tidy(() => {
      const config = { ...mlp, topK: 1 };
      const params = initMixtureOfExperts(config, 7);
      const x = tf.randomNormal([3, 4], 0, 1, 'float32', 8);
      const normalized = mixtureOfExperts(config, params, x).output;
      const raw = mixtureOfExperts({ ...config, normalizeTopK: false }, params, x).output;
      // Biases are zero, so the top-1 output scales exactly by the kept probability.
      const pTop = tf.max(tf.softmax(tf.matMul(x as tf.Tensor2D, params.router.kernel)), -1, true);
      expectClose(raw, tf.mul(normalized, pTop), { rtol: 1e-5, atol: 1e-6 });
    });
  });

  it('gradients w.r.t. x, the router and an expert kernel match finite differences', () => {
    tf.tidy(() => {
      for (const config of [mlp, { ...gated, activation: 'gelu' as const }]) {
        const params = initMixtureOfExperts(config, 11);
        const x = tf.randomNormal([3, 4], 0, 1, 'float32', 12);
        const w = tf.randomNormal([3, 4], 0, 1, 'float32', 13);
        expectGradientsMatchFiniteDifferences(
          (xi, router, up) => {
            const { output, auxLoss } = mixtureOfExperts(
              config,
              {
                ...params,
                router: { kernel: router as tf.Tensor2D },
                up: { kernel: up as tf.Tensor3D, bias: params.up.bias },
              },
              xi!,
            );
            return tf.add(tf.sum(tf.mul(output, w)), auxLoss) as tf.Scalar;
          },
          [x, params.router.kernel, params.up.kernel],
          { eps: 1e-3, samples: 8, rtol: 3e-2, atol: 3e-3 },
        );
      }
    });
  });

  it('the router gets a gradient from the aux loss alone', () => {
    tf.tidy(() => {
      const params = initMixtureOfExperts(mlp, 14);
      const x = tf.randomNormal([8, 4], 0, 1, 'float32', 15);
      const g = tf.grad(
        (r) =>
          mixtureOfExperts(mlp, { ...params, router: { kernel: r as tf.Tensor2D } }, x).auxLoss,
      )(params.router.kernel);
      expect(tf.max(tf.abs(g)).dataSync()[0]).toBeGreaterThan(1e-4);
    });
  });

  it('leaves no tensor behind (forward and gradient)', () => {
    const params = initMixtureOfExperts(gated, 16);
    const x = tf.randomNormal([2, 3, 4], 0, 1, 'float32', 17);
    expectNoLeak(() => mixtureOfExperts(gated, params, x));
    expectNoLeak(() =>
      tf.grads((a, r) => {
        const { output, auxLoss } = mixtureOfExperts(
          gated,
          { ...params, router: { kernel: r as tf.Tensor2D } },
          a!,
        );
        return tf.add(tf.sum(output), auxLoss) as tf.Scalar;
      })([x, params.router.kernel]),
    );
    expectNoLeak(() => initMixtureOfExperts(mlp, 1));
    tf.dispose([x, params] as tf.TensorContainer);
  });
});

describeRejections('mixtureOfExperts rejects bad configs and inputs with a TfjsBlocksError', () => [
  [
    'topK > numExperts',
    () => initMixtureOfExperts({ ...mlp, topK: 5 }, 0),
    /config.topK must be at most numExperts \(4\); got 5/,
  ],
  [
    'topK 0',
    () => initMixtureOfExperts({ ...mlp, topK: 0 }, 0),
    /config.topK must be an integer >= 1; got number 0/,
  ],
  [
    'fractional numExperts',
    () => initMixtureOfExperts({ ...mlp, numExperts: 2.5 }, 0),
    /config.numExperts must be an integer >= 1; got number 2.5/,
  ],
  [
    'unknown kind',
    () => initMixtureOfExperts({ ...mlp, kind: 'moe' as never }, 0),
    /config.kind must be 'mlp' or 'gated'; got moe/,
  ],
  [
    'x of the wrong width',
    () => tf.tidy(() => mixtureOfExperts(mlp, initMixtureOfExperts(mlp, 0), tf.zeros([2, 5]))),
    /x.shape\[-1\] must be config.dModel = 4; got 5/,
  ],
  [
    'params of another config',
    () =>
      tf.tidy(() =>
        mixtureOfExperts(gated, initMixtureOfExperts({ ...gated, hidden: 8 }, 0), tf.zeros([2, 4])),
      ),
    /params.up.kernel must be of shape \[4, 4, 6\]; got \[4, 4, 8\]/,
  ],
]);
