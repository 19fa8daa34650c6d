import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  adam,
  adamw,
  applyIfFinite,
  applyUpdates,
  chain,
  clipByGlobalNorm,
  clipByValue,
  createOptimizer,
  emaParams,
  type GradientTransformation,
  masked,
  multiSteps,
  multiTransform,
  restoreOptimizerState,
  saveOptimizerState,
  scaleByAdam,
  scaleByLearningRate,
  scaleByTrustRatio,
  sgd,
  type TensorMap,
  TransformOptimizer,
  weightDecayMask,
} from '../../src/index';
import { describeEachBackend } from '../helpers/backends';
import { expectClose } from '../helpers/close';
import { expectNoLeak } from '../helpers/leaks';
import { describeRejections } from '../helpers/rejections';

const t = (values: number[], shape?: number[]) => tf.tensor(values, shape);

/** One update step; returns the updates and the new state (the caller disposes). */
function step<S>(
  tx: GradientTransformation<S>,
  grads: TensorMap,
  params: TensorMap,
  state = tx.init(params),
) {
  return tx.update(grads, state, params);
}

describeEachBackend('gradient transformations', () => {
  it('clipByGlobalNorm rescales all updates together, and only above the limit', () => {
    tf.tidy(() => {
      const params = { a: t([0, 0]), b: t([0]) };
      const big = step(clipByGlobalNorm(1), { a: t([3, 0]), b: t([4]) }, params).updates;
      expectClose(big.a!, [0.6, 0]);
      expectClose(big.b!, [0.8]);
      const small = step(clipByGlobalNorm(10), { a: t([3, 0]), b: t([4]) }, params).updates;
      expectClose(small.a!, [3, 0]);
    });
  });

  it('clipByValue clips each element', () => {
    tf.tidy(() => {
      const { updates } = step(clipByValue(0.5), { a: t([-2, 0.1, 3]) }, { a: t([0, 0, 0]) });
      expectClose(updates.a!, [-0.5, 0.1, 0.5]);
    });
  });

  it('scaleByLearningRate follows a schedule from step 0', () => {
    tf.tidy(() => {
      const tx = scaleByLearningRate((s) => 0.1 * (s + 1));
      const params = { a: t([0]) };
      let state = tx.init(params);
      const seen: number[] = [];
      for (let i = 0; i < 3; i++) {
        const r = tx.update({ a: t([1]) }, state, params);
        seen.push(r.updates.a!.dataSync()[0]!);
        state = r.state;
      }
      expectClose(seen, [-0.1, -0.2, -0.3]);
    });
  });

  it('masked and multiTransform route parameters to their transforms', () => {
    tf.tidy(() => {
      const params = { 'dense.kernel': t([1, 1], [1, 2]), 'dense.bias': t([1]) };
      const grads = { 'dense.kernel': t([2, 2], [1, 2]), 'dense.bias': t([2]) };
      const onlyKernel = step(
        masked(scaleByLearningRate(1), weightDecayMask),
        grads,
        params,
      ).updates;
      expectClose(onlyKernel['dense.kernel']!, [-2, -2]);
      expectClose(onlyKernel['dense.bias']!, [2]);
      const grouped = step(
        multiTransform({ fast: scaleByLearningRate(1), slow: scaleByLearningRate(0.1) }, (name) =>
          name.endsWith('bias') ? 'slow' : 'fast',
        ),
        grads,
        params,
      ).updates;
      expectClose(grouped['dense.kernel']!, [-2, -2]);
      expectClose(grouped['dense.bias']!, [-0.2]);
    });
  });

  it('weightDecayMask decays matrices but not biases, norms or embeddings', () => {
    tf.tidy(() => {
      const m = tf.zeros([2, 2]);
      expect(weightDecayMask('block.attn.query.kernel', m)).toBe(true);
      expect(weightDecayMask('block.mlp.bias', tf.zeros([2]))).toBe(false);
      expect(weightDecayMask('block.ln_1.gamma', tf.zeros([2]))).toBe(false);
      expect(weightDecayMask('token_embedding', m)).toBe(false);
      expect(weightDecayMask('final_norm.scale', m)).toBe(false);
    });
  });

  it('adamw with a mask decays only the masked-in parameters', () => {
    tf.tidy(() => {
      const params = { w: t([1, 2], [1, 2]), bias: t([3]) };
      const grads = { w: t([0.1, 0.1], [1, 2]), bias: t([0.1]) };
      const decayed = step(
        adamw({ learningRate: 0.1, weightDecay: 0.5, mask: weightDecayMask }),
        grads,
        params,
      ).updates;
      const plain = step(adam({ learningRate: 0.1 }), grads, params).updates;
      expectClose(decayed.bias!, plain.bias!);
      expectClose(decayed.w!, tf.sub(plain.w!, tf.mul(0.05, params.w)));
    });
  });

  it('chain of building blocks equals the ready optimizer', () => {
    tf.tidy(() => {
      const params = { w: t([1, -2, 3]) };
      const grads = { w: t([0.3, -0.1, 0.2]) };
      const composed = step(
        chain(scaleByAdam({ b2: 0.95 }), scaleByLearningRate(0.01)),
        grads,
        params,
      ).updates;
      const ready = step(adam({ learningRate: 0.01, b2: 0.95 }), grads, params).updates;
      expectClose(composed.w!, ready.w!, { rtol: 0, atol: 0 });
    });
  });

  it('scaleByTrustRatio scales each update to the parameter norm', () => {
    tf.tidy(() => {
      const { updates } = step(
        scaleByTrustRatio(),
        { w: t([3, 4]), z: t([1]) },
        { w: t([0, 10]), z: t([0]) },
      );
      expectClose(updates.w!, [6, 8]);
      expectClose(updates.z!, [1]); // zero parameter norm: ratio 1
    });
  });

  it('multiSteps accumulates k gradients and applies their mean once', () => {
    tf.tidy(() => {
      const tx = multiSteps(sgd({ learningRate: 1 }), 3);
      const params = { w: t([0]) };
      let state = tx.init(params);
      const out: number[] = [];
      for (const g of [1, 2, 6]) {
        const r = tx.update({ w: t([g]) }, state, params);
        out.push(r.updates.w!.dataSync()[0]!);
        state = r.state;
      }
      expectClose(out, [0, 0, -3]);
    });
  });

  it('applyIfFinite skips non-finite steps, keeps the state and counts them', () => {
    tf.tidy(() => {
      const tx = applyIfFinite(adam({ learningRate: 0.1 }));
      const params = { w: t([1, 1]) };
      const first = tx.update({ w: t([0.5, 0.5]) }, tx.init(params), params);
      const bad = tx.update({ w: t([Number.NaN, 1]) }, first.state, params);
      expectClose(bad.updates.w!, [0, 0], { atol: 0 });
      expect(bad.state.notFiniteCount).toBe(1);
      expect(bad.state.totalNotFinite).toBe(1);
      const again = tx.update({ w: t([0.5, 0.5]) }, bad.state, params);
      const reference = tx.update({ w: t([0.5, 0.5]) }, first.state, params);
      expectClose(again.updates.w!, reference.updates.w!, { atol: 0, rtol: 0 });
      expect(again.state.notFiniteCount).toBe(0);
      expect(again.state.totalNotFinite).toBe(1);
    });
  });

  it('emaParams tracks the average of the new parameters', () => {
    tf.tidy(() => {
      const tx = chain(sgd({ learningRate: 1 }), emaParams({ decay: 0.5 }));
      let params: TensorMap = { w: t([0]) };
      let state = tx.init(params);
      for (const g of [1, 1]) {
        const r = tx.update({ w: t([g]) }, state, params);
        params = applyUpdates(params, r.updates);
        state = r.state;
      }
      // params: 0 -> -1 -> -2; ema: 0 -> -0.5 -> -1.25
      const ema = (state[1] as { moments: { ema: TensorMap } }).moments.ema.w!;
      expectClose(ema, [-1.25]);
    });
  });

  it('every transform adds exactly its outputs', () => {
    const params = { w: t([1, 2, 3, 4], [2, 2]), b: t([1]) };
    const grads = { w: t([0.1, 0.2, -0.3, 0.4], [2, 2]), b: t([0.5]) };
    const transforms: GradientTransformation<unknown>[] = [
      chain(clipByGlobalNorm(1), adamw()),
      applyIfFinite(adam()),
      multiSteps(sgd({ momentum: 0.9 }), 2),
      masked(scaleByAdam(), weightDecayMask),
      chain(sgd(), emaParams({ decay: 0.9 })),
      multiTransform({ a: adam(), b: sgd() }, (n) => (n === 'w' ? 'a' : 'b')),
    ];
    for (const tx of transforms) {
      const state = tx.init(params);
      expectNoLeak(() => tx.update(grads, state, params) as unknown as tf.TensorContainer);
      tf.dispose(state as tf.TensorContainer);
    }
    tf.dispose([params, grads]);
  });
});

describe('optimizer state saves and restores bit-identically (cpu)', () => {
  const grads = (i: number) => ({
    w: t([Math.sin(i), Math.cos(i), 0.5, -0.25], [2, 2]),
    b: t([0.1 * i]),
  });
  const optimizer = () => chain(clipByGlobalNorm(1), adamw({ learningRate: 0.05 }));

  it('createOptimizer: save after 10 steps, restore into a fresh optimizer, continue identically', () => {
    const w = tf.variable(t([1, 2, 3, 4], [2, 2]));
    const b = tf.variable(t([0]));
    const opt = createOptimizer(optimizer(), { w, b });
    for (let i = 0; i < 10; i++) tf.tidy(() => opt.step(grads(i)));
    const saved = opt.save();
    const copy = {
      tensors: Object.fromEntries(Object.entries(saved.tensors).map(([k, v]) => [k, tf.clone(v)])),
      skeleton: JSON.parse(JSON.stringify(saved.skeleton)),
      iterations: saved.iterations,
    };
    const w2 = tf.variable(tf.clone(w));
    const b2 = tf.variable(tf.clone(b));
    for (let i = 10; i < 20; i++) tf.tidy(() => opt.step(grads(i)));
    const resumed = createOptimizer(optimizer(), { w: w2, b: b2 });
    resumed.load(copy);
    expect(resumed.iterations).toBe(10);
    for (let i = 10; i < 20; i++) tf.tidy(() => resumed.step(grads(i)));
    expectClose(w2, w, { rtol: 0, atol: 0 });
    expectClose(b2, b, { rtol: 0, atol: 0 });
    tf.dispose([w, b, w2, b2, copy.tensors]);
    opt.dispose();
    resumed.dispose();
  });

  it('TransformOptimizer: getWeights / setWeights', async () => {
    const w = tf.variable(t([1, 2, 3, 4], [2, 2]), true, 'adapter_w');
    const opt = new TransformOptimizer(optimizer());
    const only = (i: number) => ({ adapter_w: grads(i).w });
    for (let i = 0; i < 5; i++) tf.tidy(() => opt.applyGradients(only(i)));
    const weights = await opt.getWeights();
    const snapshot = weights.map((x) => ({ name: x.name, tensor: tf.clone(x.tensor) }));
    const wAt5 = tf.clone(w);
    for (let i = 5; i < 10; i++) tf.tidy(() => opt.applyGradients(only(i)));
    const final = tf.clone(w);
    w.assign(wAt5);
    const restored = new TransformOptimizer(optimizer());
    await restored.setWeights(snapshot);
    expect(restored.iterations).toBe(5);
    for (let i = 5; i < 10; i++) tf.tidy(() => restored.applyGradients(only(i)));
    expectClose(w, final, { rtol: 0, atol: 0 });
    tf.dispose([w, wAt5, final, snapshot.map((s) => s.tensor)]);
    opt.dispose();
    restored.dispose();
  });

  it('saveOptimizerState / restoreOptimizerState round-trip any state', () => {
    tf.tidy(() => {
      const params = { w: t([1, 2]) };
      const tx = chain(
        applyIfFinite(adam()),
        masked(sgd({ momentum: 0.5 }), () => true),
      );
      const state = tx.update({ w: t([0.1, 0.2]) }, tx.init(params), params).state;
      const saved = saveOptimizerState(state);
      const json = JSON.parse(JSON.stringify(saved.skeleton));
      const back = restoreOptimizerState<typeof state>({ tensors: saved.tensors, skeleton: json });
      const a = tx.update({ w: t([0.3, 0.1]) }, state, params).updates.w!;
      const b = tx.update({ w: t([0.3, 0.1]) }, back, params).updates.w!;
      expectClose(a, b, { rtol: 0, atol: 0 });
    });
  });
});

describeRejections('optimizers reject bad input with a TfjsBlocksError', () => [
  [
    'gradient for an unknown parameter',
    () => {
      const w = tf.variable(tf.zeros([2]));
      createOptimizer(adamw(), { w }).step({ w: tf.zeros([2]), v: tf.zeros([2]) });
    },
    /grads.v must be one of the names in the variables \(w\); got an extra entry "v"/,
  ],
  [
    'gradient missing',
    () => {
      const w = tf.variable(tf.zeros([2]));
      createOptimizer(adamw(), { w }).step({});
    },
    /grads.w must be a tensor \(the variables have "w"\); got nothing/,
  ],
  [
    'gradient of the wrong shape',
    () => {
      const params = { w: tf.zeros([2, 3]) };
      const tx = adam();
      tx.update({ w: tf.zeros([3, 2]) }, tx.init(params), params);
    },
    /grads.w must be shape \[2, 3\] \(as in the optimizer state\); got shape \[3, 2\]/,
  ],
  [
    'applyUpdates with mismatched names',
    () => applyUpdates({ w: tf.zeros([2]) }, { x: tf.zeros([2]) }),
    /updates.w must be a tensor/,
  ],
  [
    'negative learning rate',
    () => adamw({ learningRate: -1 }),
    /adamw: options.learningRate must be a finite number in \[0, inf\); got -1/,
  ],
  [
    'negative learning rate (sgd)',
    () => sgd({ learningRate: -0.1 }),
    /sgd: options.learningRate must be a finite number in \[0, inf\); got -0.1/,
  ],
  ['beta of 1', () => adam({ b1: 1 }), /options.b1 must be a finite number in \[0, 1\); got 1/],
  [
    'negative beta',
    () => adamw({ b2: -0.1 }),
    /options.b2 must be a finite number in \[0, 1\); got -0.1/,
  ],
  [
    'schedule going negative',
    () => {
      const params = { w: tf.zeros([1]) };
      const tx = scaleByLearningRate(() => -1);
      tx.update({ w: tf.zeros([1]) }, tx.init(params), params);
    },
    /learningRate\(0\) must be a finite number >= 0; got -1/,
  ],
  [
    'clip norm of zero',
    () => clipByGlobalNorm(0),
    /maxNorm must be a finite number in \(0, inf\); got 0/,
  ],
  ['multiSteps of zero', () => multiSteps(adam(), 0), /everyK must be an integer >= 1/],
]);
