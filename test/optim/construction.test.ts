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
  // eps = 0 gives 0 / 0 = NaN on a zero gradient: an exclusive minimum.
  ['adam eps 0', () => adam({ eps: 0 }), /^options\.eps$/],
  ['adamw eps 0', () => adamw({ eps: 0 }), /^options\.eps$/],
  ['lamb eps 0', () => lamb({ eps: 0 }), /^options\.eps$/],
  ['scaleByAdam eps 0', () => scaleByAdam({ eps: 0 }), /^options\.eps$/],
  ['scaleByAdamax eps 0', () => scaleByAdamax({ eps: 0 }), /^options\.eps$/],
  ['scaleByNadam eps 0', () => scaleByNadam({ eps: 0 }), /^options\.eps$/],
  ['scaleByRadam eps 0', () => scaleByRadam({ eps: 0 }), /^options\.eps$/],
  ['scaleByRms eps 0', () => scaleByRms({ eps: 0 }), /^options\.eps$/],
  ['rmsprop eps 0', () => rmsprop({ eps: 0 }), /^options\.eps$/],
  ['scaleByAdagrad eps 0', () => scaleByAdagrad({ eps: 0 }), /^options\.eps$/],
  ['scaleByAdadelta eps 0', () => scaleByAdadelta({ eps: 0 }), /^options\.eps$/],
  ['scaleByAdafactor eps 0', () => scaleByAdafactor({ eps: 0 }), /^options\.eps$/],
  ['adafactor eps 0', () => adafactor({ eps: 0 }), /^options\.eps$/],
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
  ['radam', () => radam(bad({ epsilon: 1e-8 })), 'epsilon', undefined],
  ['adagrad', () => adagrad(bad({ lrdecay: 0 })), 'lrdecay', 'lrDecay'],
  ['adadelta', () => adadelta(bad({ rh: 0.9 })), 'rh', 'rho'],
  ['rmsprop', () => rmsprop(bad({ centred: true })), 'centred', 'centered'],
  ['lion', () => lion(bad({ b3: 0.9 })), 'b3', 'b1'],
  ['lamb', () => lamb(bad({ masks: {} })), 'masks', 'mask'],
  ['sgd', () => sgd(bad({ nesterow: true })), 'nesterow', 'nesterov'],
  ['adafactor', () => adafactor(bad({ clipThreshold: 1 })), 'clipThreshold', undefined],
  ['scaleByAdam', () => scaleByAdam(bad({ learningRate: 1 })), 'learningRate', undefined],
  ['scaleByAdamax', () => scaleByAdamax(bad({ b22: 0.9 })), 'b22', 'b2'],
  ['scaleByNadam', () => scaleByNadam(bad({ eps_: 1 })), 'eps_', 'eps'],
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
      adam({ learningRate: 1e-3, b1: 0.8, b2: 0.9, eps: 1e-6, amsgrad: true, weightDecay: 0.1 }),
    ).not.toThrow();
    expect(() => adamw({ learningRate: 1e-3, weightDecay: 0.1, mask: { w: true } })).not.toThrow();
    expect(() => lamb({ b1: 0.8, eps: 1e-5, mask: () => true })).not.toThrow();
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
