// The input space of src/nn/ (issue 22): the shape variants each function
// documents (rank 0/1, 2, 3+ and size-1 axes), zero, negative and huge
// inputs, defaults against explicit options, and option combinations, each
// checked against a reference built from plain tf ops or by hand.
import '@tensorflow/tfjs-layers'; // registers tfjs-core's gradients in Node
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { gelu, silu } from '../../src/nn/activations';
import {
  embed,
  initEmbedding,
  initTokenAndPositionEmbedding,
  positionEmbedding,
  tiedOutputProjection,
  tokenAndPositionEmbedding,
} from '../../src/nn/embedding';
import {
  type FeedForwardActivation,
  type FeedForwardConfig,
  feedForward,
  feedForwardCore,
  initFeedForward,
} from '../../src/nn/feed-forward';
import { layerNorm } from '../../src/nn/layer-norm';
import { initLinear, type LinearParams, linear, linearConfigOf } from '../../src/nn/linear';
import {
  initMixtureOfExperts,
  type MixtureOfExpertsConfig,
  mixtureOfExperts,
} from '../../src/nn/mixture-of-experts';
import { applyNorm, initNorm, normalize } from '../../src/nn/norm';
import { initPatchEmbedding, patchEmbedding } from '../../src/nn/patch-embedding';
import { rmsNorm } from '../../src/nn/rms-norm';
import { describeEachBackend } from '../helpers/backends';
import { expectClose } from '../helpers/close';
import { expectNoLeak } from '../helpers/leaks';

const TOL = { rtol: 1e-5, atol: 1e-6 };
const values = (t: tf.Tensor) => Array.from(t.dataSync());

describe('gelu and silu: values by the definition', () => {
  // torch.nn.functional.gelu / silu in float64.
  const X = [-3, -1, -0.25, 0, 0.5, 1, 2.5];
  const EXACT = [
    -0.004049694, -0.158655254, -0.100323419, 0, 0.345731231, 0.841344746, 2.484475837,
  ];
  const TANH = [-0.003637392, -0.158808009, -0.100324649, 0, 0.34571401, 0.841191991, 2.484915734];
  const SILU = [-0.14227762, -0.268941421, -0.109455875, 0, 0.311229666, 0.731058579, 2.31035455];

  it('exact (default and explicit), tanh and silu match PyTorch on negative, zero and positive inputs', () => {
    tf.tidy(() => {
      const x = tf.tensor1d(X);
      expectClose(gelu(x), EXACT, TOL);
      expectClose(gelu(x, {}), EXACT, TOL);
      expectClose(gelu(x, { approximate: 'none' }), EXACT, TOL);
      expectClose(gelu(x, { approximate: undefined }), EXACT, TOL);
      expectClose(gelu(x, { approximate: 'tanh' }), TANH, TOL);
      expectClose(silu(x), SILU, TOL);
    });
  });

  it('keep any shape: a scalar, [n] and [2, 1, n]', () => {
    tf.tidy(() => {
      expectClose(gelu(tf.scalar(1)), 0.841344746, TOL);
      expect(gelu(tf.scalar(1)).shape).toEqual([]);
      const x3 = tf.reshape(tf.tensor1d([...X, 0]), [2, 1, 4]);
      for (const f of [(t: tf.Tensor) => gelu(t, { approximate: 'tanh' }), silu]) {
        const y = f(x3);
        expect(y.shape).toEqual([2, 1, 4]);
        expectClose(tf.reshape(y, [8]), f(tf.tensor1d([...X, 0])), TOL);
      }
    });
  });

  it('huge inputs: the identity far right, zero far left, never NaN', () => {
    tf.tidy(() => {
      const x = tf.tensor1d([-1e4, -60, 60, 1e4]);
      for (const y of [gelu(x), gelu(x, { approximate: 'tanh' }), silu(x)]) {
        const v = values(y);
        expect(v.every(Number.isFinite)).toBe(true);
        expectClose(v, [0, 0, 60, 1e4], { rtol: 1e-6, atol: 1e-6 });
      }
    });
  });
});

describe('layerNorm and rmsNorm: defaults, ranks and scales', () => {
  it('layerNorm defaults epsilon to 1e-5 (a row of variance 1e-6, by hand)', () => {
    tf.tidy(() => {
      // Row [0, 0.002]: mean 0.001, variance 1e-6; (±0.001) / sqrt(1.1e-5).
      const x = tf.tensor2d([[0, 0.002]]);
      const expected = 0.001 / Math.sqrt(1.1e-5);
      expectClose(layerNorm(x, tf.ones([2]), tf.zeros([2])), [-expected, expected], { rtol: 1e-4 });
      expectClose(layerNorm(x, tf.ones([2]), tf.zeros([2]), {}), [-expected, expected], {
        rtol: 1e-4,
      });
      const e6 = 0.001 / Math.sqrt(2e-6);
      expectClose(layerNorm(x, tf.ones([2]), tf.zeros([2]), { epsilon: 1e-6 }), [-e6, e6], {
        rtol: 1e-4,
      });
    });
  });

  it('rmsNorm defaults epsilon to 1e-6 and unitOffset to false (by hand)', () => {
    tf.tidy(() => {
      // Row [0.001, -0.001]: mean square 1e-6; x / sqrt(2e-6) · gamma.
      const x = tf.tensor2d([[0.001, -0.001]]);
      const gamma = tf.tensor1d([2, -3]);
      const e = 0.001 / Math.sqrt(2e-6);
      const expected = [2 * e, 3 * e];
      expectClose(rmsNorm(x, gamma), expected, { rtol: 1e-4 });
      expectClose(rmsNorm(x, gamma, { unitOffset: false }), expected, { rtol: 1e-4 });
      expectClose(rmsNorm(x, gamma, { unitOffset: true }), [3 * e, 2 * e], { rtol: 1e-4 });
      const e5 = 0.001 / Math.sqrt(1.1e-5);
      expectClose(rmsNorm(x, gamma, { epsilon: 1e-5 }), [2 * e5, 3 * e5], { rtol: 1e-4 });
    });
  });

  it('rank 1 inputs are one row; a size-1 feature axis is beta (LayerNorm) or about ±gamma (RMSNorm)', () => {
    tf.tidy(() => {
      const row = [1, -2, 4, 0.5];
      const g = tf.tensor1d([1, 2, -1, 0.5]);
      const b = tf.tensor1d([0, 1, 0, -1]);
      const one = layerNorm(tf.tensor1d(row), g, b);
      expect(one.shape).toEqual([4]);
      expectClose(one, layerNorm(tf.tensor2d([row]), g, b), TOL, [4]);
      expectClose(rmsNorm(tf.tensor1d(row), g), rmsNorm(tf.tensor2d([row]), g), TOL, [4]);
      const col = tf.tensor2d([[5], [-7], [0]]);
      expectClose(layerNorm(col, tf.tensor1d([3]), tf.tensor1d([0.25])), [0.25, 0.25, 0.25]);
      expectClose(rmsNorm(col, tf.tensor1d([3]), { epsilon: 1e-12 }), [3, -3, 0], { rtol: 1e-5 });
    });
  });

  it('normalise rank 4 over the last axis only, and are scale-invariant up to 1e15', () => {
    tf.tidy(() => {
      const x = tf.randomNormal([2, 1, 3, 5], 0.5, 2, 'float32', 9);
      const g = tf.randomNormal([5], 1, 0.2, 'float32', 10);
      const b = tf.randomNormal([5], 0, 0.2, 'float32', 11);
      const flat = tf.reshape(x, [6, 5]);
      expectClose(tf.reshape(layerNorm(x, g, b), [6, 5]), layerNorm(flat, g, b), TOL);
      expectClose(tf.reshape(rmsNorm(x, g), [6, 5]), rmsNorm(flat, g), TOL);
      const huge = tf.mul(x, 1e15);
      expectClose(layerNorm(huge, g, b), layerNorm(x, g, b), { rtol: 1e-4, atol: 1e-4 });
      expectClose(rmsNorm(huge, g), rmsNorm(x, g), { rtol: 1e-4, atol: 1e-4 });
      // Negative inputs: LayerNorm flips the centred values, RMSNorm the sign.
      expectClose(rmsNorm(tf.neg(x), g), tf.neg(rmsNorm(x, g)), TOL);
      expectClose(tf.sub(layerNorm(tf.neg(x), g, b), b), tf.neg(tf.sub(layerNorm(x, g, b), b)), {
        rtol: 1e-4,
        atol: 1e-5,
      });
    });
  });
});

describe('norm configs: initNorm, applyNorm, normalize', () => {
  it('initNorm: LayerNorm ones and zeros; RMSNorm ones only, zeros with unitOffset', () => {
    const layer = initNorm({ kind: 'layer', dModel: 3, epsilon: 1e-3 });
    expect(values(layer.gamma)).toEqual([1, 1, 1]);
    expect(values(layer.beta!)).toEqual([0, 0, 0]);
    const rms = initNorm({ kind: 'rms', dModel: 2, unitOffset: false });
    expect(Object.keys(rms)).toEqual(['gamma']);
    expect(values(rms.gamma)).toEqual([1, 1]);
    expect(values(initNorm({ kind: 'rms', dModel: 2, unitOffset: true }).gamma)).toEqual([0, 0]);
    expectNoLeak(() => initNorm({ kind: 'layer', dModel: 3 }));
    tf.dispose([layer, rms] as tf.TensorContainer);
  });

  it('applyNorm passes the epsilon and unitOffset of the config, on [batch, time, dModel]', () => {
    tf.tidy(() => {
      const x = tf.randomNormal([2, 3, 4], 0, 1, 'float32', 12);
      const gamma = tf.tensor1d([0.5, 1, -1, 2]) as tf.Tensor1D;
      const beta = tf.tensor1d([0, 1, 2, 3]) as tf.Tensor1D;
      expectClose(
        applyNorm({ kind: 'layer', dModel: 4, epsilon: 3 }, { gamma, beta }, x),
        layerNorm(x, gamma, beta, { epsilon: 3 }),
        TOL,
      );
      expectClose(
        applyNorm({ kind: 'rms', dModel: 4, epsilon: 2, unitOffset: true }, { gamma }, x),
        rmsNorm(x, gamma, { epsilon: 2, unitOffset: true }),
        TOL,
      );
      // Without epsilon: the norms' own defaults.
      expectClose(normalize({ kind: 'layer' }, { gamma, beta }, x), layerNorm(x, gamma, beta), {
        rtol: 0,
        atol: 0,
      });
      // LayerNorm's beta is used, RMSNorm ignores a beta it is given.
      expectClose(normalize({ kind: 'rms' }, { gamma, beta }, x), rmsNorm(x, gamma), {
        rtol: 0,
        atol: 0,
      });
    });
  });
});

describe('linear and its LoRA update', () => {
  it('any leading shape: [in], [n, in], [2, 3, in], [2, 1, 2, in]', () => {
    tf.tidy(() => {
      const config = { inFeatures: 3, outFeatures: 2 };
      const p = initLinear(config, 4);
      const bias = tf.tensor1d([0.5, -1]) as tf.Tensor1D;
      const ref = (x: tf.Tensor) => tf.add(tf.matMul(tf.reshape(x, [-1, 3]), p.kernel), bias);
      for (const shape of [[3], [4, 3], [2, 3, 3], [2, 1, 2, 3]]) {
        const x = tf.randomNormal(shape, 0, 1, 'float32', shape.length);
        const y = linear(config, { kernel: p.kernel, bias }, x);
        expect(y.shape).toEqual([...shape.slice(0, -1), 2]);
        expectClose(tf.reshape(y, [-1, 2]), ref(x), TOL);
      }
      const noBias = linear({ ...config, useBias: false }, { kernel: p.kernel }, tf.ones([3]));
      expectClose(noBias, tf.sum(p.kernel, 0), TOL);
    });
  });

  it('x · kernel + bias + scale · (x · a) · b, for scale 1 and not, on [batch, time, in]', () => {
    tf.tidy(() => {
      const config = { inFeatures: 4, outFeatures: 3 };
      const p = initLinear(config, 1);
      const bias = tf.tensor1d([1, 2, 3]) as tf.Tensor1D;
      const a = tf.randomNormal([4, 2], 0, 1, 'float32', 2) as tf.Tensor2D;
      const b = tf.randomNormal([2, 3], 0, 1, 'float32', 3) as tf.Tensor2D;
      const x = tf.randomNormal([2, 5, 4], 0, 1, 'float32', 4);
      const flat = tf.reshape(x, [10, 4]) as tf.Tensor2D;
      for (const scale of [1, 2.5, -0.5]) {
        const y = linear(config, { kernel: p.kernel, bias, lora: { a, b, scale } }, x);
        const expected = tf.add(
          tf.add(tf.matMul(flat, p.kernel), bias),
          tf.mul(tf.matMul(tf.matMul(flat, a), b), scale),
        );
        expect(y.shape).toEqual([2, 5, 3]);
        expectClose(tf.reshape(y, [10, 3]), expected, { rtol: 1e-5, atol: 1e-5 });
      }
    });
  });

  it("LoRA dropout masks a's input with the seed's mask (inverted), never the base product", () => {
    tf.tidy(() => {
      const config = { inFeatures: 6, outFeatures: 2, useBias: false };
      const { kernel } = initLinear(config, 5);
      const a = tf.randomNormal([6, 3], 0, 1, 'float32', 6) as tf.Tensor2D;
      const b = tf.randomNormal([3, 2], 0, 1, 'float32', 7) as tf.Tensor2D;
      const x = tf.randomNormal([4, 6], 0, 1, 'float32', 8) as tf.Tensor2D;
      const dropout = { rate: 0.5, seed: 3 };
      const y = linear(config, { kernel, lora: { a, b, scale: 2, dropout } }, x);
      const dropped = tf.dropout(x, 0.5, undefined, 3);
      const expected = tf.add(
        tf.matMul(x, kernel),
        tf.mul(tf.matMul(tf.matMul(dropped as tf.Tensor2D, a), b), 2),
      );
      expectClose(y, expected, { rtol: 1e-5, atol: 1e-5 });
      const plain = linear(config, { kernel, lora: { a, b, scale: 2 } }, x);
      expect(tf.max(tf.abs(tf.sub(plain, y))).dataSync()[0]).toBeGreaterThan(1e-3);
      // Rate 0 keeps every input.
      const zero = linear(
        config,
        { kernel, lora: { a, b, scale: 2, dropout: { rate: 0, seed: 3 } } },
        x,
      );
      expectClose(zero, plain, { rtol: 1e-6, atol: 1e-6 });
    });
  });

  it('initLinear: Glorot-uniform within ±sqrt(6 / (in + out)), reaching near it, seeded; bias zeros by default', () => {
    const config = { inFeatures: 20, outFeatures: 30 };
    const p = initLinear(config, 9);
    const limit = Math.sqrt(6 / 50);
    const k = values(p.kernel);
    expect(Math.max(...k.map(Math.abs))).toBeLessThanOrEqual(limit);
    expect(Math.max(...k)).toBeGreaterThan(0.95 * limit);
    expect(Math.min(...k)).toBeLessThan(-0.95 * limit);
    expect(p.kernel.shape).toEqual([20, 30]);
    expect(values(p.bias!)).toEqual(new Array(30).fill(0));
    const explicit = initLinear({ ...config, useBias: true }, 9);
    expect(values(explicit.kernel)).toEqual(k);
    const other = initLinear(config, 10);
    expect(values(other.kernel)).not.toEqual(k);
    const none = initLinear({ ...config, useBias: false }, 9);
    expect(Object.keys(none)).toEqual(['kernel']);
    tf.dispose([p, explicit, other, none] as tf.TensorContainer);
  });

  it('linearConfigOf reads the sizes and the bias from the params, a placeholder for a bad kernel', () => {
    tf.tidy(() => {
      const p = initLinear({ inFeatures: 3, outFeatures: 5 }, 0);
      expect(linearConfigOf(p)).toEqual({ inFeatures: 3, outFeatures: 5, useBias: true });
      expect(linearConfigOf({ kernel: p.kernel })).toEqual({
        inFeatures: 3,
        outFeatures: 5,
        useBias: false,
      });
      const placeholder = { inFeatures: 1, outFeatures: 1, useBias: false };
      expect(linearConfigOf({ kernel: tf.zeros([2, 3, 4]) } as unknown as LinearParams)).toEqual(
        placeholder,
      );
      expect(linearConfigOf({} as LinearParams)).toEqual(placeholder);
      expect(linearConfigOf(undefined as unknown as LinearParams)).toEqual(placeholder);
    });
  });
});

describe('feedForward: every kind × activation × bias against plain tf ops', () => {
  const ACT: Record<FeedForwardActivation, (x: tf.Tensor) => tf.Tensor> = {
    gelu: (x) => tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1)),
    'gelu-tanh': (x) =>
      tf.mul(
        tf.mul(x, 0.5),
        tf.add(
          tf.tanh(tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3))))),
          1,
        ),
      ),
    relu: (x) => tf.relu(x),
    silu: (x) => tf.mul(x, tf.sigmoid(x)),
  };
  const lin = (p: LinearParams, x: tf.Tensor) =>
    p.bias
      ? tf.add(tf.matMul(x as tf.Tensor2D, p.kernel), p.bias)
      : tf.matMul(x as tf.Tensor2D, p.kernel);

  for (const kind of ['mlp', 'gated'] as const) {
    for (const useBias of [undefined, true, false]) {
      it(`${kind}, useBias ${useBias}: each activation, on [n, dModel] and [2, 2, dModel]`, () => {
        tf.tidy(() => {
          for (const activation of Object.keys(ACT) as FeedForwardActivation[]) {
            const config: FeedForwardConfig = { dModel: 3, hidden: 5, kind, activation, useBias };
            const p = initFeedForward(config, 3);
            const hasBias = useBias ?? kind === 'mlp';
            expect(p.up.bias !== undefined).toBe(hasBias);
            expect(p.down.bias !== undefined).toBe(hasBias);
            expect(p.gate !== undefined).toBe(kind === 'gated');
            if (hasBias) {
              // Non-zero biases, so they must be applied to count.
              p.up.bias = tf.fill([5], 0.3) as tf.Tensor1D;
              p.down.bias = tf.fill([3], -0.2) as tf.Tensor1D;
              if (p.gate) p.gate.bias = tf.fill([5], 0.1) as tf.Tensor1D;
            }
            const x = tf.randomNormal([4, 3], 0, 2, 'float32', 1);
            const act = ACT[activation];
            const h =
              kind === 'gated' ? tf.mul(act(lin(p.gate!, x)), lin(p.up, x)) : act(lin(p.up, x));
            const expected = lin(p.down, h);
            expectClose(feedForward(config, p, x), expected, { rtol: 1e-4, atol: 1e-5 });
            expectClose(feedForwardCore(config, p, x), expected, { rtol: 1e-4, atol: 1e-5 });
            const x3 = tf.reshape(x, [2, 2, 3]);
            expect(feedForward(config, p, x3).shape).toEqual([2, 2, 3]);
            expectClose(
              feedForward(config, p, x3),
              expected,
              { rtol: 1e-4, atol: 1e-5 },
              [2, 2, 3],
            );
          }
        });
      });
    }
  }

  it('initFeedForward draws up, gate and down from different seeds, reproducibly', () => {
    tf.tidy(() => {
      const config: FeedForwardConfig = { dModel: 4, hidden: 4, kind: 'gated', activation: 'silu' };
      const p = initFeedForward(config, 7);
      const q = initFeedForward(config, 7);
      expect(values(q.up.kernel)).toEqual(values(p.up.kernel));
      expect(values(q.gate!.kernel)).toEqual(values(p.gate!.kernel));
      expect(values(p.gate!.kernel)).not.toEqual(values(p.up.kernel));
      expect(values(p.down.kernel)).not.toEqual(values(p.up.kernel));
      expect(values(p.down.kernel)).not.toEqual(values(p.gate!.kernel));
      const limit = Math.sqrt(6 / 8);
      for (const k of [p.up.kernel, p.gate!.kernel, p.down.kernel]) {
        expect(Math.max(...values(k).map(Math.abs))).toBeLessThanOrEqual(limit);
      }
    });
  });
});

describe('embeddings', () => {
  it('initEmbedding: N(0, 0.02²) by default, std as given; token and position tables 0.02 and 0.01', () => {
    tf.tidy(() => {
      const sd = (t: tf.Tensor) => Math.sqrt(tf.moments(t).variance.dataSync()[0]!);
      const table = initEmbedding({ numEmbeddings: 200, embeddingDim: 50 }, 1).table;
      expect(table.shape).toEqual([200, 50]);
      expect(sd(table)).toBeGreaterThan(0.019);
      expect(sd(table)).toBeLessThan(0.021);
      expect(Math.abs(tf.mean(table).dataSync()[0]!)).toBeLessThan(0.002);
      const wide = initEmbedding({ numEmbeddings: 200, embeddingDim: 50, std: 0.5 }, 1).table;
      expectClose(wide, tf.mul(table, 25), { rtol: 1e-5, atol: 1e-6 });
      const tp = initTokenAndPositionEmbedding({ vocabSize: 200, maxLength: 100, dModel: 50 }, 2);
      expect(tp.tokens.table.shape).toEqual([200, 50]);
      expect(tp.positions.table.shape).toEqual([100, 50]);
      expect(sd(tp.tokens.table)).toBeGreaterThan(0.019);
      expect(sd(tp.tokens.table)).toBeLessThan(0.021);
      expect(sd(tp.positions.table)).toBeGreaterThan(0.0095);
      expect(sd(tp.positions.table)).toBeLessThan(0.0105);
    });
  });

  it('embed: ids of rank 0, 1, 2 and 3 gather rows, the output [...ids, dim]', () => {
    tf.tidy(() => {
      const config = { numEmbeddings: 5, embeddingDim: 3 };
      const { table } = initEmbedding(config, 3);
      const rows = table.arraySync();
      for (const ids of [
        tf.scalar(4, 'int32'),
        tf.tensor1d([0, 4, 4], 'int32'),
        tf.tensor2d([[1], [2]], undefined, 'int32'),
        tf.tensor3d([[[3, 0]], [[1, 1]]], undefined, 'int32'),
      ]) {
        const y = embed(config, { table }, ids);
        expect(y.shape).toEqual([...ids.shape, 3]);
        const flat = Array.from(ids.dataSync());
        expectClose(
          y,
          flat.flatMap((i) => rows[i]!),
          { rtol: 0, atol: 0 },
        );
      }
    });
  });

  it('positionEmbedding: rows offset … offset + length - 1, offset 0 by default', () => {
    tf.tidy(() => {
      const config = { numEmbeddings: 6, embeddingDim: 2 };
      const table = tf.reshape(tf.range(0, 12, 1, 'float32'), [6, 2]) as tf.Tensor2D;
      expect(values(positionEmbedding(config, { table }, 2))).toEqual([0, 1, 2, 3]);
      expect(values(positionEmbedding(config, { table }, 2, {}))).toEqual([0, 1, 2, 3]);
      expect(values(positionEmbedding(config, { table }, 3, { offset: 3 }))).toEqual([
        6, 7, 8, 9, 10, 11,
      ]);
      expect(values(positionEmbedding(config, { table }, 6))).toEqual(values(table));
    });
  });

  it('tiedOutputProjection: x · tableᵀ for x of rank 1, 2 and 3', () => {
    tf.tidy(() => {
      const config = { numEmbeddings: 5, embeddingDim: 3 };
      const { table } = initEmbedding(config, 4);
      for (const shape of [[3], [2, 3], [2, 2, 3]]) {
        const x = tf.randomNormal(shape, 0, 1, 'float32', 5);
        const y = tiedOutputProjection(config, { table }, x);
        expect(y.shape).toEqual([...shape.slice(0, -1), 5]);
        expectClose(
          tf.reshape(y, [-1, 5]),
          tf.matMul(tf.reshape(x, [-1, 3]) as tf.Tensor2D, table, false, true),
          TOL,
        );
      }
    });
  });

  it('tokenAndPositionEmbedding adds the positions from the offset to every row of the batch', () => {
    tf.tidy(() => {
      const config = { vocabSize: 7, maxLength: 6, dModel: 3 };
      const p = initTokenAndPositionEmbedding(config, 8);
      const ids = tf.tensor2d(
        [
          [1, 6],
          [0, 1],
        ],
        undefined,
        'int32',
      );
      const t = { numEmbeddings: 7, embeddingDim: 3 };
      const pos = { numEmbeddings: 6, embeddingDim: 3 };
      for (const offset of [0, 4]) {
        const expected = tf.add(
          embed(t, p.tokens, ids),
          positionEmbedding(pos, p.positions, 2, { offset }),
        );
        const y = tokenAndPositionEmbedding(config, p, ids, { offset });
        expect(y.shape).toEqual([2, 2, 3]);
        expectClose(y, expected, { rtol: 0, atol: 0 });
      }
      expectClose(
        tokenAndPositionEmbedding(config, p, ids),
        tokenAndPositionEmbedding(config, p, ids, { offset: 0 }),
        { rtol: 0, atol: 0 },
      );
    });
  });
});

describeEachBackend('embed: the gradient scatter-adds repeated ids', () => {
  it('d table = Σ of dy over the positions of each id; rows never looked up get 0', () => {
    tf.tidy(() => {
      const config = { numEmbeddings: 4, embeddingDim: 2 };
      const { table } = initEmbedding(config, 0);
      const ids = tf.tensor2d(
        [
          [2, 0, 2],
          [2, 3, 0],
        ],
        undefined,
        'int32',
      );
      const w = tf.tensor3d([
        [
          [1, 2],
          [3, 4],
          [5, 6],
        ],
        [
          [7, 8],
          [9, 10],
          [11, 12],
        ],
      ]);
      const g = tf.grad((t: tf.Tensor) =>
        tf.sum(tf.mul(embed(config, { table: t as tf.Tensor2D }, ids), w)),
      )(table);
      // id 0: rows (0,1) and (1,2); id 2: (0,0), (0,2), (1,0); id 3: (1,1).
      expectClose(
        g,
        [3 + 11, 4 + 12, 0, 0, 1 + 5 + 7, 2 + 6 + 8, 9, 10],
        { rtol: 0, atol: 1e-6 },
        [4, 2],
      );
    });
  });
});

describe('patchEmbedding == conv2d with the reshaped kernel', () => {
  for (const [batch, height, width, channels, patchSize] of [
    [2, 4, 6, 3, 2],
    [1, 3, 3, 2, 1],
    [1, 4, 4, 1, 4],
  ] as const) {
    it(`[${batch}, ${height}, ${width}, ${channels}] in patches of ${patchSize}`, () => {
      tf.tidy(() => {
        const config = { patchSize, channels, dModel: 5 };
        const p = initPatchEmbedding(config, 1);
        const bias = tf.randomNormal([5], 0, 1, 'float32', 2) as tf.Tensor1D;
        const images = tf.randomNormal(
          [batch, height, width, channels],
          0,
          1,
          'float32',
          3,
        ) as tf.Tensor4D;
        const y = patchEmbedding(config, { kernel: p.kernel, bias }, images);
        const patches = (height / patchSize) * (width / patchSize);
        expect(y.shape).toEqual([batch, patches, 5]);
        const filter = tf.reshape(p.kernel, [patchSize, patchSize, channels, 5]) as tf.Tensor4D;
        const conv = tf.add(tf.conv2d(images, filter, patchSize, 'valid'), bias);
        expectClose(y, tf.reshape(conv, [batch, patches, 5]), { rtol: 1e-5, atol: 1e-5 });
        expect(p.kernel.shape).toEqual([patchSize * patchSize * channels, 5]);
        expect(values(p.bias)).toEqual([0, 0, 0, 0, 0]);
      });
    });
  }
});

describe('mixtureOfExperts: shapes and defaults', () => {
  const config: MixtureOfExpertsConfig = {
    dModel: 3,
    hidden: 4,
    numExperts: 3,
    topK: 1,
    kind: 'mlp',
    activation: 'relu',
  };

  it('a rank-1 token, and top-1 renormalised is exactly the chosen expert', () => {
    tf.tidy(() => {
      const p = initMixtureOfExperts(config, 2);
      const token = tf.tensor1d([0.5, -1, 2]);
      const { output, auxLoss } = mixtureOfExperts(config, p, token);
      expect(output.shape).toEqual([3]);
      const probs = tf.softmax(
        tf.matMul(tf.reshape(token, [1, 3]) as tf.Tensor2D, p.router.kernel),
      );
      const e = tf.argMax(probs, -1).dataSync()[0]!;
      const slice = (k: tf.Tensor3D, b: tf.Tensor2D | undefined) => ({
        kernel: tf.squeeze(tf.slice(k, [e, 0, 0], [1, -1, -1]), [0]) as tf.Tensor2D,
        bias: b ? (tf.squeeze(tf.slice(b, [e, 0], [1, -1]), [0]) as tf.Tensor1D) : undefined,
      });
      const up = slice(p.up.kernel, p.up.bias);
      const down = slice(p.down.kernel, p.down.bias);
      const x = tf.reshape(token, [1, 3]) as tf.Tensor2D;
      const expected = tf.add(
        tf.matMul(tf.relu(tf.add(tf.matMul(x, up.kernel), up.bias!)) as tf.Tensor2D, down.kernel),
        down.bias!,
      );
      expectClose(output, expected, { rtol: 1e-5, atol: 1e-6 }, [3]);
      expectClose(mixtureOfExperts({ ...config, normalizeTopK: true }, p, token).output, output, {
        rtol: 0,
        atol: 0,
      });
      // One token, one slot: f = 1 for its expert, so aux = numExperts · P(e).
      expectClose(auxLoss, 3 * tf.max(probs).dataSync()[0]!, { rtol: 1e-5 });
    });
  });

  it('biases by kind unless given; the router has none; gate differs from up; Glorot bounds', () => {
    tf.tidy(() => {
      const mlp = initMixtureOfExperts(config, 3);
      expect(mlp.up.bias?.shape).toEqual([3, 4]);
      expect(mlp.down.bias?.shape).toEqual([3, 3]);
      expect(mlp.router.bias).toBeUndefined();
      expect(mlp.router.kernel.shape).toEqual([3, 3]);
      expect(mlp.gate).toBeUndefined();
      const gated = initMixtureOfExperts({ ...config, kind: 'gated' }, 3);
      expect(gated.up.bias).toBeUndefined();
      expect(gated.gate!.kernel.shape).toEqual([3, 3, 4]);
      expect(values(gated.gate!.kernel)).not.toEqual(values(gated.up.kernel));
      const withBias = initMixtureOfExperts({ ...config, kind: 'gated', useBias: true }, 3);
      expect(withBias.gate!.bias?.shape).toEqual([3, 4]);
      expect(values(withBias.gate!.bias!)).toEqual(new Array(12).fill(0));
      const without = initMixtureOfExperts({ ...config, useBias: false }, 3);
      expect(without.up.bias).toBeUndefined();
      expect(without.down.bias).toBeUndefined();
      const limit = Math.sqrt(6 / 7);
      const up = values(mlp.up.kernel);
      expect(Math.max(...up.map(Math.abs))).toBeLessThanOrEqual(limit);
      // A mixture without biases runs (no bias added to the down projection).
      const x = tf.randomNormal([2, 3], 0, 1, 'float32', 4);
      const out = mixtureOfExperts({ ...config, useBias: false }, without, x).output;
      expect(out.shape).toEqual([2, 3]);
      expect(values(out).every(Number.isFinite)).toBe(true);
    });
  });
});

describeEachBackend('embed: the gradient without a ScatterNd kernel', (backend) => {
  it('falls back to UnsortedSegmentSum where the backend has it, else a one-hot matMul: the same gradient', async () => {
    const config = { numEmbeddings: 5, embeddingDim: 2 };
    const { table } = initEmbedding(config, 1);
    const ids = tf.tensor2d([[4, 0, 4, 1]], undefined, 'int32');
    const w = tf.randomNormal([1, 4, 2], 0, 1, 'float32', 2);
    const grad = () =>
      tf.grad((t: tf.Tensor) => tf.sum(tf.mul(embed(config, { table: t as tf.Tensor2D }, ids), w)))(
        table,
      );
    const kernels = async () =>
      (await tf.profile(grad)).kernels.map((k) => k.name).filter((k) => k !== '');
    const expected = grad();
    expect(await kernels()).toContain('ScatterNd');
    const removed: tf.KernelConfig[] = [];
    try {
      for (const name of ['ScatterNd', 'UnsortedSegmentSum']) {
        const kernel = tf.getKernel(name, backend);
        if (kernel) {
          tf.unregisterKernel(name, backend);
          removed.push(kernel);
        }
        const ran = await kernels();
        expect(ran).not.toContain('ScatterNd');
        const segmentSum = name === 'ScatterNd' && tf.getKernel('UnsortedSegmentSum', backend);
        expect(ran.includes('UnsortedSegmentSum')).toBe(Boolean(segmentSum));
        expect(ran.includes('OneHot')).toBe(!segmentSum);
        const g = grad();
        expectClose(g, expected, { rtol: 1e-6, atol: 1e-6 });
        g.dispose();
      }
    } finally {
      for (const kernel of removed) tf.registerKernel(kernel);
    }
    tf.dispose([table, ids, w, expected]);
  });
});

describe('mixtureOfExperts: each activation, gated and not', () => {
  const ACT: Record<FeedForwardActivation, (x: tf.Tensor) => tf.Tensor> = {
    gelu: (x) => tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1)),
    'gelu-tanh': (x) =>
      tf.mul(
        x,
        tf.sigmoid(tf.mul(2 * Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3))))),
      ),
    relu: (x) => tf.relu(x),
    silu: (x) => tf.mul(x, tf.sigmoid(x)),
  };
  for (const kind of ['mlp', 'gated'] as const) {
    it(`${kind}: with one expert the layer is that expert's ${kind}, for every activation`, () => {
      tf.tidy(() => {
        for (const activation of Object.keys(ACT) as FeedForwardActivation[]) {
          const config: MixtureOfExpertsConfig = {
            dModel: 3,
            hidden: 4,
            numExperts: 1,
            topK: 1,
            kind,
            activation,
          };
          const p = initMixtureOfExperts(config, 5);
          const x = tf.randomNormal([2, 3], 0, 2, 'float32', 6) as tf.Tensor2D;
          const at = (k: tf.Tensor3D) => tf.squeeze(k, [0]) as tf.Tensor2D;
          const bias = (b?: tf.Tensor2D) => (b ? tf.squeeze(b, [0]) : tf.zeros([1]));
          const up = tf.add(tf.matMul(x, at(p.up.kernel)), bias(p.up.bias));
          const act = ACT[activation];
          const h =
            kind === 'gated'
              ? tf.mul(act(tf.add(tf.matMul(x, at(p.gate!.kernel)), bias(p.gate!.bias))), up)
              : act(up);
          const expected = tf.add(
            tf.matMul(h as tf.Tensor2D, at(p.down.kernel)),
            bias(p.down.bias),
          );
          const { output, auxLoss } = mixtureOfExperts(config, p, x);
          expectClose(output, expected, { rtol: 1e-4, atol: 1e-5 });
          expectClose(auxLoss, 1, { rtol: 1e-6 });
          expectNoLeak(() => mixtureOfExperts(config, p, x));
        }
      });
    });
  }
});
