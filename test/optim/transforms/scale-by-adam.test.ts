// scaleByAdam by hand and at the edges of its options (issue 22): the
// PyTorch trajectories in test/optim/parity.test.ts cover the defaults;
// these pin the first steps' bias correction, amsgrad's running maximum,
// and a rejection naming the argument for every option.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { type ScaleByAdamOptions, scaleByAdam } from '../../../src/index';
import { expectClose } from '../../helpers/close';
import { thrownWithoutLeak } from '../../helpers/rejections';

/** The updates of `steps` successive gradients through scaleByAdam(options). */
function trajectory(options: ScaleByAdamOptions, grads: number[][]): number[][] {
  const tx = scaleByAdam(options);
  const params = { w: tf.zeros([grads[0]!.length]) };
  let state = tx.init(params);
  const out: number[][] = [];
  for (const g of grads) {
    const grad = { w: tf.tensor1d(g) };
    const { updates, state: next } = tx.update(grad, state, params);
    out.push(Array.from(updates.w!.dataSync()));
    tf.dispose([grad, updates, state as unknown as tf.TensorContainer]);
    state = next;
  }
  tf.dispose([params, state as unknown as tf.TensorContainer]);
  return out;
}

/** Adam by hand, in float64: (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps). */
function adamByHand(
  { b1 = 0.9, b2 = 0.999, epsilon = 1e-8, amsgrad = false }: ScaleByAdamOptions,
  grads: number[][],
): number[][] {
  const n = grads[0]!.length;
  const m = new Array(n).fill(0);
  const v = new Array(n).fill(0);
  const vMax = new Array(n).fill(0);
  return grads.map((g, k) => {
    const t = k + 1;
    return g.map((gi, i) => {
      m[i] = b1 * m[i] + (1 - b1) * gi;
      v[i] = b2 * v[i] + (1 - b2) * gi * gi;
      vMax[i] = Math.max(vMax[i], v[i]);
      const vHat = (amsgrad ? vMax[i] : v[i]) / (1 - b2 ** t);
      return m[i] / (1 - b1 ** t) / (Math.sqrt(vHat) + epsilon);
    });
  });
}

const GRADS = [
  [0.5, -2, 0],
  [-1, 3, 1e-3],
  [0.1, -0.1, 4],
  [0, 0, -1],
];

describe('scaleByAdam by hand', () => {
  it.each([
    ['defaults', {}],
    ['b1 0.5, b2 0.75, epsilon 0.1', { b1: 0.5, b2: 0.75, epsilon: 0.1 }],
    ['amsgrad', { amsgrad: true, b2: 0.5 }],
    ['b1 0 (RMSProp with bias correction)', { b1: 0, b2: 0.9 }],
  ] as Array<[string, ScaleByAdamOptions]>)('%s', (_name, options) => {
    const ours = trajectory(options, GRADS);
    const hand = adamByHand(options, GRADS);
    for (const [k, row] of ours.entries()) expectClose(row, hand[k]!, { rtol: 1e-4, atol: 1e-6 });
  });

  it('amsgrad keeps the largest second moment: its update shrinks where plain Adam’s does not', () => {
    const grads = [[10], [0.1], [0.1]];
    const plain = trajectory({ b2: 0.5 }, grads);
    const ams = trajectory({ b2: 0.5, amsgrad: true }, grads);
    expect(Math.abs(ams[2]![0]!)).toBeLessThan(Math.abs(plain[2]![0]!));
  });
});

describe('scaleByAdam rejects bad options, naming the argument', () => {
  // biome-ignore lint/suspicious/noExplicitAny: bad options are the point of these tests.
  const bad = (x: unknown) => x as any;
  const cases: Array<[string, ScaleByAdamOptions, string]> = [
    ['b1 1', { b1: 1 }, 'options.b1'],
    ['b1 -0.1', { b1: -0.1 }, 'options.b1'],
    ['b2 1', { b2: 1 }, 'options.b2'],
    ['b2 NaN', { b2: Number.NaN }, 'options.b2'],
    ['epsilon 0', { epsilon: 0 }, 'options.epsilon'],
    ['epsilon -1e-8', { epsilon: -1e-8 }, 'options.epsilon'],
    ['amsgrad 1', bad({ amsgrad: 1 }), 'options.amsgrad'],
    ['an unknown key', bad({ beta1: 0.9 }), 'options.beta1'],
  ];
  for (const [name, options, argument] of cases) {
    it(`${name}: ${argument}`, () => {
      const error = thrownWithoutLeak(() => scaleByAdam(options));
      expect(error.argument).toBe(argument);
      expect(error.functionName).toBe('scaleByAdam');
    });
  }

  it('accepts b1 0 and b2 0 (the inclusive bounds)', () => {
    expect(() => scaleByAdam({ b1: 0, b2: 0 })).not.toThrow();
  });
});
