import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  adadelta,
  adafactor,
  adagrad,
  adam,
  adamax,
  adamw,
  addDecayedWeights,
  applyIfFinite,
  emaParams,
  lamb,
  lion,
  masked,
  multiSteps,
  multiTransform,
  nadam,
  radam,
  rmsprop,
  scaleByAdadelta,
  scaleByAdafactor,
  scaleByAdagrad,
  scaleByAdam,
  scaleByAdamax,
  scaleByLion,
  scaleByNadam,
  scaleByRadam,
  scaleByRms,
  sgd,
  type TfjsBlocksError,
  trace,
} from '../../src/index';
import { expectRejected } from '../property/support';

// biome-ignore lint/suspicious/noExplicitAny: bad options are the point of these tests.
const bad = (x: unknown) => x as any;

/**
 * Every option that can break the maths is rejected when the optimizer or
 * transform is made, naming the option, not at the first (or thousandth)
 * update: one row per validation path.
 */
const REJECTED: Array<[string, () => unknown, RegExp]> = [
  // epsilon = 0 gives 0 / 0 = NaN on a zero gradient: an exclusive minimum.
  ['adam epsilon 0', () => adam({ epsilon: 0 }), /^options\.epsilon$/],
  ['adamw epsilon 0', () => adamw({ epsilon: 0 }), /^options\.epsilon$/],
  ['lamb epsilon 0', () => lamb({ epsilon: 0 }), /^options\.epsilon$/],
  ['scaleByAdam epsilon 0', () => scaleByAdam({ epsilon: 0 }), /^options\.epsilon$/],
  ['scaleByAdamax epsilon 0', () => scaleByAdamax({ epsilon: 0 }), /^options\.epsilon$/],
  ['scaleByNadam epsilon 0', () => scaleByNadam({ epsilon: 0 }), /^options\.epsilon$/],
  ['scaleByRadam epsilon 0', () => scaleByRadam({ epsilon: 0 }), /^options\.epsilon$/],
  ['scaleByRms epsilon 0', () => scaleByRms({ epsilon: 0 }), /^options\.epsilon$/],
  ['rmsprop epsilon 0', () => rmsprop({ epsilon: 0 }), /^options\.epsilon$/],
  ['scaleByAdagrad epsilon 0', () => scaleByAdagrad({ epsilon: 0 }), /^options\.epsilon$/],
  ['scaleByAdadelta epsilon 0', () => scaleByAdadelta({ epsilon: 0 }), /^options\.epsilon$/],
  ['scaleByAdafactor epsilon 0', () => scaleByAdafactor({ epsilon: 0 }), /^options\.epsilon$/],
  ['adafactor epsilon 0', () => adafactor({ epsilon: 0 }), /^options\.epsilon$/],
  // Flags must be booleans ('yes' used to count as true).
  ['scaleByAdam amsgrad "yes"', () => scaleByAdam({ amsgrad: bad('yes') }), /^options\.amsgrad$/],
  ['scaleByRms centered 1', () => scaleByRms({ centered: bad(1) }), /^options\.centered$/],
  ['rmsprop centered 1', () => rmsprop({ centered: bad(1) }), /^options\.centered$/],
  ['trace nesterov "no"', () => trace({ decay: 0.9, nesterov: bad('no') }), /^options\.nesterov$/],
  ['sgd nesterov 1', () => sgd({ momentum: 0.9, nesterov: bad(1) }), /^options\.nesterov$/],
  [
    'scaleByAdafactor factored 0',
    () => scaleByAdafactor({ factored: bad(0) }),
    /^options\.factored$/,
  ],
  [
    'adafactor multiplyByParameterScale "no"',
    () => adafactor({ multiplyByParameterScale: bad('no') }),
    /^options\.multiplyByParameterScale$/,
  ],
  // rmsprop's momentum was only used when > 0: NaN and -1 fell through to none.
  ['rmsprop momentum -1', () => rmsprop({ momentum: -1 }), /^options\.momentum$/],
  ['rmsprop momentum NaN', () => rmsprop({ momentum: Number.NaN }), /^options\.momentum$/],
  // adafactor checks every option up front, also those of parts it builds later.
  ['adafactor momentum 1', () => adafactor({ momentum: 1 }), /^options\.momentum$/],
  [
    'adafactor clippingThreshold 0',
    () => adafactor({ clippingThreshold: 0 }),
    /^options\.clippingThreshold$/,
  ],
  [
    'adafactor weightDecayMask of numbers',
    () => adafactor({ weightDecay: 0.1, weightDecayMask: bad({ w: 1 }) }),
    /^options\.weightDecayMask\.w$/,
  ],
  ['adafactor weightDecay -1', () => adafactor({ weightDecay: -1 }), /^options\.weightDecay$/],
  // Masks are checked when made (a map's values were only read at the first update).
  ['adamw mask "all"', () => adamw({ mask: bad('all') }), /^options\.mask$/],
  ['lion mask of strings', () => lion({ mask: bad({ w: 'yes' }) }), /^options\.mask\.w$/],
  ['addDecayedWeights mask null', () => addDecayedWeights(0.1, bad(null)), /^mask$/],
  ['masked mask 3', () => masked(scaleByAdam(), bad(3)), /^mask$/],
  // Wrappers check what they wrap.
  ['masked of a non-transform', () => masked(bad({}), () => true), /^transform$/],
  ['multiSteps of a non-transform', () => multiSteps(bad(null), 2), /^transform$/],
  ['applyIfFinite of a function', () => applyIfFinite(bad(() => 0)), /^transform$/],
  ['multiTransform of null', () => multiTransform(bad(null), () => 'a'), /^transforms$/],
  [
    'multiTransform with a non-transform group',
    () => multiTransform({ a: bad(1) }, () => 'a'),
    /^transforms\.a$/,
  ],
  ['multiTransform labels 5', () => multiTransform({ a: scaleByAdam() }, bad(5)), /^labels$/],
  ['emaParams without options', () => emaParams(bad(undefined)), /^options\.decay$/],
];

/** Unknown option keys are rejected with the closest known name, per optimizer and transform. */
const UNKNOWN_KEYS: Array<[string, () => unknown, string, string | undefined]> = [
  ['adam', () => adam(bad({ learningrate: 1e-3 })), 'learningrate', 'learningRate'],
  ['adamw', () => adamw(bad({ weight_decay: 0.1 })), 'weight_decay', 'weightDecay'],
  ['adamax', () => adamax(bad({ beta1: 0.9 })), 'beta1', undefined],
  ['nadam', () => nadam(bad({ momentumDecy: 0.1 })), 'momentumDecy', 'momentumDecay'],
  ['radam', () => radam(bad({ eps: 1e-8 })), 'eps', 'epsilon'],
  ['adagrad', () => adagrad(bad({ lrdecay: 0 })), 'lrdecay', 'lrDecay'],
  ['adadelta', () => adadelta(bad({ rh: 0.9 })), 'rh', 'rho'],
  ['rmsprop', () => rmsprop(bad({ centred: true })), 'centred', 'centered'],
  ['lion', () => lion(bad({ b3: 0.9 })), 'b3', 'b1'],
  ['lamb', () => lamb(bad({ masks: {} })), 'masks', 'mask'],
  ['sgd', () => sgd(bad({ nesterow: true })), 'nesterow', 'nesterov'],
  ['adafactor', () => adafactor(bad({ clipThreshold: 1 })), 'clipThreshold', undefined],
  ['scaleByAdam', () => scaleByAdam(bad({ learningRate: 1 })), 'learningRate', undefined],
  ['scaleByAdamax', () => scaleByAdamax(bad({ b22: 0.9 })), 'b22', 'b2'],
  ['scaleByNadam', () => scaleByNadam(bad({ epsilon_: 1 })), 'epsilon_', 'epsilon'],
  ['scaleByRadam', () => scaleByRadam(bad({ b: 1 })), 'b', 'b1'],
  ['scaleByRms', () => scaleByRms(bad({ alpha: 0.9 })), 'alpha', undefined],
  [
    'scaleByAdagrad',
    () => scaleByAdagrad(bad({ initialAccumulator: 0 })),
    'initialAccumulator',
    undefined,
  ],
  ['scaleByAdadelta', () => scaleByAdadelta(bad({ rhoo: 0.9 })), 'rhoo', 'rho'],
  ['scaleByAdafactor', () => scaleByAdafactor(bad({ factor: true })), 'factor', undefined],
  ['scaleByLion', () => scaleByLion(bad({ beta2: 0.99 })), 'beta2', undefined],
  ['trace', () => trace(bad({ decay: 0.9, nestrov: true })), 'nestrov', 'nesterov'],
  ['emaParams', () => emaParams(bad({ decay: 0.9, decays: 0.9 })), 'decays', 'decay'],
];

describe('optimizers and transforms validate every option when made', () => {
  for (const [name, call, argument] of REJECTED) {
    it(name, () => expectRejected(call, argument));
  }
});

describe('optimizers and transforms reject unknown option keys', () => {
  for (const [name, call, key, suggestion] of UNKNOWN_KEYS) {
    it(name, () => {
      expectRejected(call, new RegExp(`^options\\.${key}$`));
      try {
        call();
      } catch (e) {
        const hint = (e as TfjsBlocksError).expected;
        if (suggestion) expect(hint).toContain(`'${suggestion}'`);
      }
    });
  }

  it('options spelled right still pass through the optimizers to their transforms', () => {
    expect(() =>
      adam({
        learningRate: 1e-3,
        b1: 0.8,
        b2: 0.9,
        epsilon: 1e-6,
        amsgrad: true,
        weightDecay: 0.1,
      }),
    ).not.toThrow();
    expect(() => adamw({ learningRate: 1e-3, weightDecay: 0.1, mask: { w: true } })).not.toThrow();
    expect(() => lamb({ b1: 0.8, epsilon: 1e-5, mask: () => true })).not.toThrow();
    expect(() => lion({ b1: 0.8, b2: 0.9, weightDecay: 0.1 })).not.toThrow();
    expect(() =>
      rmsprop({ alpha: 0.9, centered: true, momentum: 0.5, weightDecay: 0 }),
    ).not.toThrow();
    expect(() =>
      adafactor({ decayRate: 0.7, factored: false, momentum: 0.9, weightDecay: 0.1 }),
    ).not.toThrow();
  });
});

describe('scaleByAdafactor decayOffset', () => {
  it('steps up to the offset decay as the first step (the decay was (1 - offset) ** -0.8: NaN)', () => {
    tf.tidy(() => {
      const params = { w: tf.ones([2, 3]) };
      const grads = { w: tf.fill([2, 3], 0.5) };
      const withOffset = scaleByAdafactor({ decayOffset: 3 });
      const plain = scaleByAdafactor();
      let s1 = withOffset.init(params);
      const s2 = plain.init(params);
      const first = plain.update(grads, s2, params).updates.w!;
      for (let step = 0; step < 4; step++) {
        const result = withOffset.update(grads, s1, params);
        expect(Array.from(result.updates.w!.dataSync())).toEqual(Array.from(first.dataSync()));
        s1 = result.state;
      }
    });
  });
});
