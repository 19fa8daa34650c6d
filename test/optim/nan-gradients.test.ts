import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import {
  adafactor,
  adamw,
  addDecayedWeights,
  chain,
  clipByBlockRms,
  clipByGlobalNorm,
  clipByValue,
  emaParams,
  type GradientTransformation,
  lion,
  scaleByAdafactor,
  scaleByAdam,
  scaleByLion,
  scaleByParamBlockRms,
  scaleByTrustRatio,
  trace,
} from '../../src/index';
import { describeEachBackend } from '../helpers/backends';
import { READY_OPTIMIZERS } from '../helpers/optimizers';

/** Each optimizer and transform, as a factory (each test builds its own). */
const TRANSFORMS: Array<[string, () => GradientTransformation<unknown>]> = [
  ...READY_OPTIMIZERS,
  ['adafactor factored', () => adafactor({ minDimSizeToFactor: 1 })],
  ['scaleByLion', () => scaleByLion()],
  ['scaleByAdam', () => scaleByAdam()],
  ['scaleByAdafactor', () => scaleByAdafactor({ minDimSizeToFactor: 1 })],
  ['trace', () => trace({ decay: 0.9 })],
  ['clipByGlobalNorm', () => clipByGlobalNorm(1)],
  ['clipByValue', () => clipByValue(0.5)],
  ['clipByBlockRms', () => clipByBlockRms(1)],
  ['scaleByParamBlockRms', () => scaleByParamBlockRms()],
  ['scaleByTrustRatio', () => scaleByTrustRatio()],
  ['addDecayedWeights', () => addDecayedWeights(0.1)],
  ['emaParams', () => emaParams({ decay: 0.9 })],
  ['chain(clipByGlobalNorm, adamw)', () => chain(clipByGlobalNorm(1), adamw())],
] as Array<[string, () => GradientTransformation<unknown>]>;

/** Runs finite, NaN, finite gradients; returns whether [1, 0] of each update is NaN. */
function nanAt(make: () => GradientTransformation<unknown>): boolean[] {
  return tf.tidy(() => {
    const tx = make();
    const params = { w: tf.tensor2d([0.5, -1, 2, 0.25, 1, -0.5], [3, 2]) };
    const finite = { w: tf.tensor2d([0.1, -0.2, 0.3, 0.4, -0.5, 0.6], [3, 2]) };
    const withNaN = { w: tf.tensor2d([0.1, -0.2, Number.NaN, 0.4, -0.5, 0.6], [3, 2]) };
    let state = tx.init(params);
    const out: boolean[] = [];
    for (const grads of [finite, withNaN, finite]) {
      const result = tx.update(grads, state, params);
      out.push(Number.isNaN(result.updates.w!.dataSync()[2]));
      state = result.state;
    }
    return out;
  });
}

describeEachBackend('optimizers: a NaN gradient gives a NaN update, as in PyTorch', () => {
  for (const [name, make] of TRANSFORMS) {
    it(name, () => {
      const [first, atNaN] = nanAt(make);
      expect(first).toBe(false);
      expect(atNaN).toBe(true);
    });
  }

  it('lion keeps surfacing the NaN (its momentum is NaN), instead of a frozen 0 update', () => {
    expect(nanAt(() => lion())).toEqual([false, true, true]);
    expect(nanAt(() => scaleByLion())).toEqual([false, true, true]);
  });
});
