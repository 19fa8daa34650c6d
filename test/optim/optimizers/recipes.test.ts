// The ready optimizers' option handling (issue 22): the PyTorch
// trajectories in test/optim/parity.test.ts pin each one's maths; these pin
// the recipes around it: defaults, weight decay coupled or decoupled and
// masked, Adafactor's optional parts combined, SGD's Nesterov rule, and a
// rejection naming the argument for every validation path.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  adadelta,
  adafactor,
  adagrad,
  adam,
  adamax,
  adamw,
  chain,
  clipByBlockRms,
  type GradientTransformation,
  lamb,
  lion,
  nadam,
  radam,
  rmsprop,
  scaleByAdafactor,
  scaleByLearningRate,
  scaleByParamBlockRms,
  sgd,
  weightDecayMask,
} from '../../../src/index';
import { expectClose } from '../../helpers/close';
import { thrownWithoutLeak } from '../../helpers/rejections';

// biome-ignore lint/suspicious/noExplicitAny: bad options are the point of these tests.
const bad = (x: unknown) => x as any;

/** The updates of `steps` steps of `tx` from `params` with fixed `grads` (arrays by name). */
function updatesOf(
  tx: GradientTransformation<unknown>,
  params: Record<string, [number[], number[]]>,
  grads: Record<string, number[]>,
  steps = 1,
): Record<string, number[]>[] {
  const p = Object.fromEntries(Object.entries(params).map(([k, [v, s]]) => [k, tf.tensor(v, s)]));
  const g = Object.fromEntries(
    Object.entries(grads).map(([k, v]) => [k, tf.tensor(v, p[k]!.shape)]),
  );
  let state = tx.init(p);
  const out: Record<string, number[]>[] = [];
  for (let i = 0; i < steps; i++) {
    const { updates, state: next } = tx.update(g, state, p);
    out.push(
      Object.fromEntries(Object.entries(updates).map(([k, u]) => [k, Array.from(u.dataSync())])),
    );
    tf.dispose([updates, state as tf.TensorContainer]);
    state = next;
  }
  tf.dispose([p, g, state as tf.TensorContainer]);
  return out;
}

const PARAMS: Record<string, [number[], number[]]> = {
  w: [
    [1, -2, 3, 0.5, -1, 2],
    [2, 3],
  ],
  bias: [[4, -4], [2]],
};
const GRADS = { w: [0.5, 0, -1, 2, 0.25, -0.5], bias: [1, -1] };
const NO_GRADS = { w: [0, 0, 0, 0, 0, 0], bias: [0, 0] };

describe('weight decay in the recipes', () => {
  it('adamw decays by lr · weightDecay · param after the direction (default 1e-2), masked by name', () => {
    // Zero gradients: Adam's direction is 0, so the update is the decay alone.
    const [plain] = updatesOf(adamw({ learningRate: 0.1 }), PARAMS, NO_GRADS);
    expectClose(
      plain!.w!,
      PARAMS.w![0].map((p) => -0.1 * 1e-2 * p),
    );
    const [masked] = updatesOf(
      adamw({ learningRate: 0.1, weightDecay: 0.5, mask: weightDecayMask }),
      PARAMS,
      NO_GRADS,
    );
    expectClose(
      masked!.w!,
      PARAMS.w![0].map((p) => -0.05 * p),
    );
    expectClose(masked!.bias!, [0, 0], { rtol: 0, atol: 0 });
  });

  it('lion decays by default (1e-3) and lamb does not; lamb scales the decayed update by the trust ratio', () => {
    const [lionStep] = updatesOf(lion({ learningRate: 1 }), PARAMS, NO_GRADS);
    expectClose(lionStep!.bias!, [-4e-3, 4e-3]);
    const [lambStep] = updatesOf(lamb({ learningRate: 1 }), PARAMS, NO_GRADS);
    expectClose(lambStep!.bias!, [0, 0], { rtol: 0, atol: 0 });
    // Decay only: the update is lr · wd · p, rescaled to ‖p‖ (the trust ratio): -p.
    const [lambDecay] = updatesOf(lamb({ learningRate: 1, weightDecay: 0.1 }), PARAMS, NO_GRADS);
    expectClose(lambDecay!.bias!, [-4, 4], { rtol: 1e-4 });
  });

  it('L2 decay (adam, sgd, the adaptive ones) enters the gradient before the direction', () => {
    // With decay, sgd's update is -lr · (g + wd · p).
    const [sgdStep] = updatesOf(sgd({ learningRate: 0.5, weightDecay: 0.25 }), PARAMS, GRADS);
    expectClose(sgdStep!.bias!, [-0.5 * (1 + 1), -0.5 * (-1 - 1)]);
    // Adam's first step is about -lr · sign(g + wd · p): wd 1 flips the sign of a small gradient.
    const [adamStep] = updatesOf(adam({ learningRate: 1, weightDecay: 1 }), PARAMS, GRADS);
    expectClose(adamStep!.w!, [-1, 1, -1, -1, 1, -1], { rtol: 1e-4 });
    for (const [name, make] of [
      ['adamax', () => adamax({ learningRate: 1, weightDecay: 1 })],
      ['nadam', () => nadam({ learningRate: 1, weightDecay: 1 })],
      ['radam', () => radam({ learningRate: 1, weightDecay: 1 })],
      ['adagrad', () => adagrad({ learningRate: 1, weightDecay: 1 })],
      ['rmsprop', () => rmsprop({ learningRate: 1, weightDecay: 1 })],
      ['adadelta', () => adadelta({ learningRate: 1, weightDecay: 1 })],
    ] as Array<[string, () => GradientTransformation<unknown>]>) {
      const [step] = updatesOf(make(), PARAMS, NO_GRADS);
      // Zero gradients: the direction comes from wd · p alone, against the parameter's sign.
      expect(step!.bias!.map(Math.sign), name).toEqual([-1, 1]);
      const [none] = updatesOf(makeWithout(name), PARAMS, NO_GRADS);
      expect(none!.bias!.map(Math.abs), name).toEqual([0, 0]);
    }
  });
});

/** The same optimizer without weight decay. */
function makeWithout(name: string): GradientTransformation<unknown> {
  const options = { learningRate: 1 };
  const makers: Record<string, () => GradientTransformation<unknown>> = {
    adamax: () => adamax(options),
    nadam: () => nadam(options),
    radam: () => radam(options),
    adagrad: () => adagrad(options),
    rmsprop: () => rmsprop(options),
    adadelta: () => adadelta(options),
  };
  return makers[name]!();
}

describe('sgd', () => {
  it('plain, with momentum, and Nesterov', () => {
    const steps = (tx: GradientTransformation<unknown>) =>
      updatesOf(tx, PARAMS, GRADS, 2).map((u) => u.bias![0]!);
    expectClose(steps(sgd({ learningRate: 1 })), [-1, -1]);
    expectClose(steps(sgd({ learningRate: 1, momentum: 0.5 })), [-1, -1.5]);
    expectClose(steps(sgd({ learningRate: 1, momentum: 0.5, dampening: 0.5 })), [-1, -1]);
    expectClose(steps(sgd({ learningRate: 1, momentum: 0.5, nesterov: true })), [-1.5, -1.75]);
  });

  it('rejects Nesterov without momentum or with dampening, naming options.nesterov', () => {
    for (const options of [
      { nesterov: true },
      { nesterov: true, momentum: 0 },
      { nesterov: true, momentum: 0.9, dampening: 0.1 },
    ]) {
      const error = thrownWithoutLeak(() => sgd(options));
      expect([error.functionName, error.argument]).toEqual(['sgd', 'options.nesterov']);
    }
    expect(() => sgd({ nesterov: false, momentum: 0, dampening: 0.5 })).not.toThrow();
  });

  it('rejects bad momentum, dampening and weight decay', () => {
    for (const [options, argument] of [
      [{ momentum: -0.1 }, 'options.momentum'],
      [{ momentum: 1 }, 'options.momentum'],
      [{ dampening: Number.NaN }, 'options.dampening'],
      [{ dampening: 1 }, 'options.dampening'],
      [{ weightDecay: -1 }, 'options.weightDecay'],
      [{ learningRate: bad('0.1') }, 'options.learningRate'],
    ] as Array<[object, string]>) {
      expect(thrownWithoutLeak(() => sgd(options)).argument).toBe(argument);
    }
  });

  it('plain sgd names a gradient that does not fit the parameters, and runs without them', () => {
    const tx = sgd({ learningRate: 1 });
    const params = { w: tf.zeros([2]) };
    const state = tx.init(params);
    const wrong = { w: tf.zeros([3]) };
    const error = thrownWithoutLeak(() => tx.update(wrong, state, params));
    expect([error.functionName, error.argument]).toEqual(['sgd', 'grads.w']);
    const grads = { w: tf.ones([2]) };
    const { updates } = tx.update(grads, state);
    expectClose(updates.w!, [-1, -1]);
    tf.dispose([params, wrong, grads, updates]);
  });
});

describe('adafactor combines its optional parts as optax does', () => {
  const reference = (parts: GradientTransformation<unknown>[]) => chain(...parts);

  it.each([
    [
      'defaults',
      {},
      () => [
        scaleByAdafactor(),
        clipByBlockRms(1),
        scaleByLearningRate(1e-2),
        scaleByParamBlockRms(),
      ],
    ],
    [
      'no clipping, no parameter scale',
      { clippingThreshold: null, multiplyByParameterScale: false, learningRate: 0.5 },
      () => [scaleByAdafactor(), scaleByLearningRate(0.5)],
    ],
    [
      'clipping at 0.1, factored from 2',
      { clippingThreshold: 0.1, minDimSizeToFactor: 2, multiplyByParameterScale: false },
      () => [
        scaleByAdafactor({ minDimSizeToFactor: 2 }),
        clipByBlockRms(0.1),
        scaleByLearningRate(1e-2),
      ],
    ],
  ] as Array<[string, object, () => GradientTransformation<unknown>[]]>)(
    '%s',
    (_n, options, parts) => {
      const ours = updatesOf(adafactor(options), PARAMS, GRADS, 3);
      const theirs = updatesOf(reference(parts()), PARAMS, GRADS, 3);
      for (const [k, u] of ours.entries()) {
        expectClose(u.w!, theirs[k]!.w!, { rtol: 1e-6, atol: 0 });
        expectClose(u.bias!, theirs[k]!.bias!, { rtol: 1e-6, atol: 0 });
      }
    },
  );

  it('momentum is an EMA of the updates from zero (no debiasing)', () => {
    const options = { clippingThreshold: null, multiplyByParameterScale: false, learningRate: 1 };
    const plain = updatesOf(adafactor(options), PARAMS, GRADS, 2);
    const ema = updatesOf(adafactor({ ...options, momentum: 0.75 }), PARAMS, GRADS, 2);
    expectClose(
      ema[0]!.w!,
      plain[0]!.w!.map((u) => 0.25 * u),
    );
    expectClose(
      ema[1]!.w!,
      plain[1]!.w!.map((u, i) => 0.75 * 0.25 * plain[0]!.w![i]! + 0.25 * u),
    );
    const zero = updatesOf(adafactor({ ...options, momentum: 0 }), PARAMS, GRADS, 1);
    expectClose(zero[0]!.w!, plain[0]!.w!);
  });

  it('weight decay is subtracted unscaled by the learning rate, on the masked parameters', () => {
    const options = { clippingThreshold: null, multiplyByParameterScale: false, learningRate: 1 };
    const [plain] = updatesOf(adafactor(options), PARAMS, GRADS);
    const [decayed] = updatesOf(
      adafactor({ ...options, weightDecay: 0.5, weightDecayMask: { w: true, bias: false } }),
      PARAMS,
      GRADS,
    );
    expectClose(
      decayed!.w!,
      plain!.w!.map((u, i) => u - 0.5 * PARAMS.w![0][i]!),
    );
    expectClose(decayed!.bias!, plain!.bias!, { rtol: 0, atol: 0 });
    const [all] = updatesOf(adafactor({ ...options, weightDecay: 0.5 }), PARAMS, GRADS);
    expectClose(
      all!.bias!,
      plain!.bias!.map((u, i) => u - 0.5 * PARAMS.bias![0][i]!),
    );
    const [fn] = updatesOf(
      adafactor({ ...options, weightDecay: 0.5, weightDecayMask: (_n, p) => p.rank === 1 }),
      PARAMS,
      GRADS,
    );
    expectClose(fn!.w!, plain!.w!, { rtol: 0, atol: 0 });
  });

  it('rejects each option, naming it', () => {
    for (const [options, argument] of [
      [{ learningRate: -1 }, 'options.learningRate'],
      [{ clippingThreshold: -1 }, 'options.clippingThreshold'],
      [{ clippingThreshold: bad('1') }, 'options.clippingThreshold'],
      [{ momentum: -0.5 }, 'options.momentum'],
      [{ momentum: Number.NaN }, 'options.momentum'],
      [{ weightDecay: Number.NaN }, 'options.weightDecay'],
      [{ weightDecayMask: bad(3) }, 'options.weightDecayMask'],
      [{ multiplyByParameterScale: bad(1) }, 'options.multiplyByParameterScale'],
    ] as Array<[object, string]>) {
      const error = thrownWithoutLeak(() => adafactor(options));
      expect([error.functionName, error.argument]).toEqual(['adafactor', argument]);
    }
  });
});

describe('the recipes reject bad learning rates and weight decay, naming them', () => {
  const makers: Array<[string, (o: never) => unknown]> = [
    ['adam', adam],
    ['adamw', adamw],
    ['adamax', adamax],
    ['nadam', nadam],
    ['radam', radam],
    ['adagrad', adagrad],
    ['adadelta', adadelta],
    ['rmsprop', rmsprop],
    ['lion', lion],
    ['lamb', lamb],
  ];
  it.each(makers)('%s', (name, make) => {
    for (const [options, argument] of [
      [{ learningRate: -1 }, 'options.learningRate'],
      [{ learningRate: Number.POSITIVE_INFINITY }, 'options.learningRate'],
      [{ weightDecay: -0.1 }, 'options.weightDecay'],
      [{ weightDecay: Number.NaN }, 'options.weightDecay'],
    ] as Array<[object, string]>) {
      const error = thrownWithoutLeak(() => make(options as never));
      expect([error.functionName, error.argument]).toEqual([name, argument]);
    }
    // A schedule is accepted, and 0 is an allowed rate and decay.
    expect(() => make({ learningRate: () => 0.1, weightDecay: 0 } as never)).not.toThrow();
    expect(() => make({ learningRate: 0 } as never)).not.toThrow();
  });

  it('the decoupled recipes check their mask; rmsprop its alpha', () => {
    for (const [make, name] of [
      [adamw, 'adamw'],
      [lion, 'lion'],
      [lamb, 'lamb'],
    ] as Array<[(o: never) => unknown, string]>) {
      const error = thrownWithoutLeak(() => make({ mask: bad(5) } as never));
      expect([error.functionName, error.argument]).toEqual([name, 'options.mask']);
    }
    // rmsprop names its own option (it used to report scaleByRms's options.decay).
    for (const alpha of [1, -0.5, Number.NaN]) {
      const error = thrownWithoutLeak(() => rmsprop({ alpha }));
      expect([error.functionName, error.argument]).toEqual(['rmsprop', 'options.alpha']);
    }
  });
});
