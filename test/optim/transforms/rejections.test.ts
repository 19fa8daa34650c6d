// Every validation path of the small transforms (issue 22, mutation
// testing): each bad option is rejected under the transform's own name and
// names the option it read (the `argument` field, not just the text), the
// transforms that read the parameters refuse a call without them, and those
// that do not step without them. Everything a test checks is built inside its
// `it`, so Stryker's per-test coverage sees the construction.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  emaParams,
  type GradientTransformation,
  mapUpdatesTransform,
  scaleByAdadelta,
  scaleByAdagrad,
  scaleByAdamax,
  scaleByLearningRate,
  scaleByLion,
  scaleByNadam,
  scaleByRadam,
  scaleByRms,
  scaleByTrustRatio,
  type TensorMap,
  trace,
} from '../../../src/index';
import { expectClose } from '../../helpers/close';
import { thrownBy, thrownWithoutLeak } from '../../helpers/rejections';

type Make = (options: never) => unknown;

/** [transform, its constructor, a bad options object, the argument it must name]. */
const BAD_OPTIONS: Array<[string, Make, unknown, string]> = [
  ['scaleByAdadelta', scaleByAdadelta, { rho: 1.5 }, 'options.rho'],
  ['scaleByAdadelta', scaleByAdadelta, { rho: -0.1 }, 'options.rho'],
  ['scaleByAdadelta', scaleByAdadelta, { epsilon: 0 }, 'options.epsilon'],
  ['scaleByAdadelta', scaleByAdadelta, { epsilon: Number.NaN }, 'options.epsilon'],
  [
    'scaleByAdagrad',
    scaleByAdagrad,
    { initialAccumulatorValue: -1 },
    'options.initialAccumulatorValue',
  ],
  [
    'scaleByAdagrad',
    scaleByAdagrad,
    { initialAccumulatorValue: '0' },
    'options.initialAccumulatorValue',
  ],
  ['scaleByAdagrad', scaleByAdagrad, { epsilon: -1e-10 }, 'options.epsilon'],
  ['scaleByAdagrad', scaleByAdagrad, { lrDecay: -0.5 }, 'options.lrDecay'],
  ['scaleByAdagrad', scaleByAdagrad, { lrDecay: Number.POSITIVE_INFINITY }, 'options.lrDecay'],
  ['scaleByAdamax', scaleByAdamax, { b1: 2 }, 'options.b1'],
  ['scaleByAdamax', scaleByAdamax, { b2: -1 }, 'options.b2'],
  ['scaleByAdamax', scaleByAdamax, { b2: Number.NaN }, 'options.b2'],
  ['scaleByAdamax', scaleByAdamax, { epsilon: 0 }, 'options.epsilon'],
  ['scaleByLion', scaleByLion, { b1: -0.5 }, 'options.b1'],
  ['scaleByLion', scaleByLion, { b2: 1.01 }, 'options.b2'],
  ['scaleByLion', scaleByLion, { b2: '0.99' }, 'options.b2'],
  ['scaleByNadam', scaleByNadam, { b1: 1.1 }, 'options.b1'],
  ['scaleByNadam', scaleByNadam, { b2: -0.2 }, 'options.b2'],
  ['scaleByNadam', scaleByNadam, { epsilon: -1 }, 'options.epsilon'],
  ['scaleByNadam', scaleByNadam, { momentumDecay: -4e-3 }, 'options.momentumDecay'],
  ['scaleByNadam', scaleByNadam, { momentumDecay: Number.NaN }, 'options.momentumDecay'],
  ['scaleByRadam', scaleByRadam, { b1: -1 }, 'options.b1'],
  ['scaleByRadam', scaleByRadam, { b2: 3 }, 'options.b2'],
  ['scaleByRadam', scaleByRadam, { epsilon: 0 }, 'options.epsilon'],
  ['scaleByRms', scaleByRms, { decay: 1.5 }, 'options.decay'],
  ['scaleByRms', scaleByRms, { decay: -0.01 }, 'options.decay'],
  ['scaleByRms', scaleByRms, { epsilon: 0 }, 'options.epsilon'],
  ['scaleByRms', scaleByRms, { centered: 1 }, 'options.centered'],
  ['trace', trace, {}, 'options.decay'],
  ['trace', trace, { decay: 1.5 }, 'options.decay'],
  ['trace', trace, { decay: 0.9, dampening: -0.5 }, 'options.dampening'],
  ['trace', trace, { decay: 0.9, dampening: 2 }, 'options.dampening'],
  ['trace', trace, { decay: 0.9, nesterov: 'yes' }, 'options.nesterov'],
  ['emaParams', emaParams, { decay: 1.5 }, 'options.decay'],
  ['emaParams', emaParams, {}, 'options.decay'],
  ['scaleByLearningRate', scaleByLearningRate, -0.1, 'learningRate'],
  ['scaleByLearningRate', scaleByLearningRate, Number.NaN, 'learningRate'],
];

describe('the small transforms reject bad options by name', () => {
  it.each(BAD_OPTIONS)('%s(%j) names %s', (fn, make, options, argument) => {
    const error = thrownWithoutLeak(() => make(options as never));
    expect([error.functionName, error.argument]).toEqual([fn, argument]);
  });

  it.each([
    ['scaleByAdadelta', scaleByAdadelta],
    ['scaleByAdagrad', scaleByAdagrad],
    ['scaleByAdamax', scaleByAdamax],
    ['scaleByLion', scaleByLion],
    ['scaleByNadam', scaleByNadam],
    ['scaleByRadam', scaleByRadam],
    ['scaleByRms', scaleByRms],
    ['trace', trace],
    ['emaParams', emaParams],
  ] as Array<[string, Make]>)('%s names an unknown option and a non-object', (fn, make) => {
    const unknown = thrownBy(() => make({ bogus: 1 } as never));
    expect([unknown.functionName, unknown.argument]).toEqual([fn, 'options.bogus']);
    const notObject = thrownBy(() => make('fast' as never));
    expect([notObject.functionName, notObject.argument]).toEqual([fn, 'options']);
  });
});

/** Transforms that need no parameters, each with options away from its defaults. */
const WITHOUT_PARAMS: Array<[string, () => GradientTransformation<unknown>]> = [
  ['scaleByAdadelta', () => scaleByAdadelta({ rho: 0.5 })],
  ['scaleByAdagrad', () => scaleByAdagrad({ lrDecay: 0.5 })],
  ['scaleByAdamax', () => scaleByAdamax({ b1: 0.5 })],
  ['scaleByLion', () => scaleByLion({ b1: 0.5 })],
  ['scaleByNadam', () => scaleByNadam({ b1: 0.5 })],
  ['scaleByRadam', () => scaleByRadam({ b2: 0.5 })],
  ['scaleByRms', () => scaleByRms({ centered: true })],
  ['trace', () => trace({ decay: 0.5, nesterov: true })],
  ['scaleByLearningRate', () => scaleByLearningRate(0.5)],
];

describe('the parameters: required by those that read them, optional for the rest', () => {
  it.each(WITHOUT_PARAMS)('%s steps without params (two steps)', (_fn, make) => {
    const tx = make();
    const params = { w: tf.tensor([1, -2], [2, 1]) };
    const grads = { w: tf.tensor([0.5, -4], [2, 1]) };
    const state = tx.init(params);
    const first = tx.update(grads, state);
    const second = tx.update(grads, first.state);
    expect(second.updates.w!.shape).toEqual([2, 1]);
    for (const v of second.updates.w!.dataSync()) expect(Number.isFinite(v)).toBe(true);
    tf.dispose([params, grads, first.updates, second.updates]);
    tf.dispose([state, first.state, second.state] as unknown as tf.TensorContainer);
  });

  it.each([
    ['emaParams', () => emaParams({ decay: 0.5 })],
    ['scaleByTrustRatio', () => scaleByTrustRatio()],
  ] as Array<[string, () => GradientTransformation<unknown>]>)(
    '%s refuses a call without params, under its own name',
    (fn, make) => {
      const tx = make();
      const params = { w: tf.tensor([1, 2]) };
      const grads = { w: tf.tensor([3, 4]) };
      const state = tx.init(params);
      const error = thrownWithoutLeak(() => tx.update(grads, state));
      expect([error.functionName, error.argument]).toEqual([fn, 'params']);
      const wrong = { v: tf.tensor([1, 2]) };
      const misfit = thrownWithoutLeak(() => tx.update(grads, state, wrong));
      expect(misfit.functionName).toBe(fn);
      tf.dispose([params, grads, wrong, state as unknown as tf.TensorContainer]);
    },
  );

  it.each(WITHOUT_PARAMS)('%s names gradients that are no tensor map', (fn, make) => {
    const tx = make();
    const params = { w: tf.tensor([1, 2]) };
    const state = tx.init(params);
    const error = thrownWithoutLeak(() => tx.update({ w: [3, 4] } as unknown as TensorMap, state));
    expect(error.functionName).toBe(fn);
    expect(error.argument.startsWith('grads')).toBe(true);
    tf.dispose([params, state as unknown as tf.TensorContainer]);
  });
});

describe('mapUpdatesTransform: options.name', () => {
  it.each([5, '', null, ['x']])('rejects name %j, naming options.name', (name) => {
    const error = thrownBy(() => mapUpdatesTransform((u) => u, { name: name as never }));
    expect([error.functionName, error.argument]).toEqual(['mapUpdatesTransform', 'options.name']);
  });

  it('without a name, its rejections are its own', () => {
    const tx = mapUpdatesTransform((u) => u);
    const error = thrownWithoutLeak(() => tx.update({ w: 1 } as unknown as TensorMap, tx.init({})));
    expect(error.functionName).toBe('mapUpdatesTransform');
  });
});

describe('scaleByRadam at rho_t = 5 exactly (the PyTorch boundary: rectified only above 5)', () => {
  it('step 6 with b2 = 0.83976857486597…, where rho_6 is 5 in float64, is plain momentum', () => {
    // Found by bisection and a scan of neighbouring doubles: rho_5 ≈ 4.31,
    // rho_6 === 5, rho_7 ≈ 5.64, with the same float64 expression as the source.
    const b2 = 0.8397685748659791;
    const b1 = 0.5;
    const rhoInf = 2 / (1 - b2) - 1;
    const rhoAt = (t: number) => rhoInf - (2 * t * b2 ** t) / (1 - b2 ** t);
    expect(rhoAt(6)).toBe(5);
    expect(rhoAt(7)).toBeGreaterThan(5);
    const tx = scaleByRadam({ b1, b2, epsilon: 1e-3 });
    const params = { w: tf.tensor([0]) };
    let state = tx.init(params);
    const gs = [1, -2, 3, 0.5, 2, -1, 4];
    let m = 0;
    let v = 0;
    for (const [k, g] of gs.entries()) {
      const t = k + 1;
      const grads = { w: tf.tensor([g]) };
      const { updates, state: next } = tx.update(grads, state);
      m = b1 * m + (1 - b1) * g;
      v = b2 * v + (1 - b2) * g * g;
      const mHat = m / (1 - b1 ** t);
      const rho = rhoAt(t);
      const rect = Math.sqrt(
        ((rho - 4) * (rho - 2) * rhoInf) / ((rhoInf - 4) * (rhoInf - 2) * rho),
      );
      const expected =
        t <= 6 ? mHat : (mHat * rect * Math.sqrt(1 - b2 ** t)) / (Math.sqrt(v) + 1e-3);
      expectClose(updates.w!, [expected], { rtol: 1e-5, atol: 1e-7 });
      tf.dispose([grads, updates, state as unknown as tf.TensorContainer]);
      state = next;
    }
    tf.dispose([params, state as unknown as tf.TensorContainer]);
  });
});
