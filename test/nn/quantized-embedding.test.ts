import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  dequantizeWeights,
  embed,
  positionEmbedding,
  quantizeParams,
  quantizeWeights,
  tiedOutputProjection,
} from '../../src/index';
import { isQuantizedTensor, type QuantizedTensor } from '../../src/nn/quantized-weights';
import { describeEachBackend } from '../helpers/backends';
import { expectClose } from '../helpers/close';
import { expectWithinActivationRounding } from '../helpers/int8-activations';
import { expectNoLeak } from '../helpers/leaks';
import { thrownWithoutLeak } from '../helpers/rejections';

const config = { numEmbeddings: 61, embeddingDim: 16 };

/** A quantized `[61, 16]` table; int4's groups of 32 rows leave a shorter last group. */
function quantizedTable(bits: 8 | 4): { float: tf.Tensor2D; q: QuantizedTensor } {
  const original = tf.randomNormal([61, 16], 0, 1, 'float32', bits) as tf.Tensor2D;
  const { params } = quantizeParams({ table: original }, { bits });
  original.dispose();
  const q = (params as { table: QuantizedTensor }).table;
  return { float: dequantizeWeights(q), q };
}

describeEachBackend('embedding functions on a quantized table', () => {
  for (const bits of [8, 4] as const) {
    it(`int${bits}: embed and positionEmbedding read the rows of the dequantized table`, () => {
      const { float, q } = quantizedTable(bits);
      const ids = tf.tensor2d(
        [
          [0, 60, 33],
          [32, 31, 7],
        ],
        undefined,
        'int32',
      );
      expectClose(embed(config, { table: q }, ids), embed(config, { table: float }, ids), {
        rtol: 1e-6,
        atol: 1e-7,
      });
      expectClose(
        positionEmbedding(config, { table: q }, 5, { offset: 56 }),
        positionEmbedding(config, { table: float }, 5, { offset: 56 }),
        { rtol: 1e-6, atol: 1e-7 },
      );
      expectNoLeak(() => embed(config, { table: q }, ids));
      expectNoLeak(() => positionEmbedding(config, { table: q }, 5, { offset: 2 }));
      tf.dispose([float, ids]);
    });

    for (const rows of [1, 6]) {
      it(`int${bits}, ${rows} row(s): tiedOutputProjection and its gradient w.r.t. x equal the dequantized table's`, () => {
        const { float, q } = quantizedTable(bits);
        const x = tf.randomNormal([1, rows, 16], 0, 1, 'float32', 3);
        const weights = tf.randomNormal([1, rows, 61], 0, 1, 'float32', 4);
        const f = (table: tf.Tensor2D | QuantizedTensor) => (input: tf.Tensor) =>
          tf.sum(tf.mul(tiedOutputProjection(config, { table }, input), weights));
        const y = tiedOutputProjection(config, { table: q }, x);
        if (bits === 8 && rows <= 4) {
          // The int8 SIMD head (1-4 rows) rounds x ⊙ s to int16 first.
          const xs = x.dataSync() as Float32Array;
          expectWithinActivationRounding(y.dataSync(), q, xs, rows, true);
        } else {
          expectClose(y, tiedOutputProjection(config, { table: float }, x), {
            rtol: 1e-5,
            atol: 1e-6,
          });
        }
        y.dispose();
        expectClose(tf.grad(f(q))(x), tf.grad(f(float))(x), { rtol: 1e-5, atol: 1e-6 });
        expectNoLeak(() => tiedOutputProjection(config, { table: q }, x));
        expectNoLeak(() => tf.grad(f(q))(x));
        tf.dispose([float, x, weights]);
      });
    }
  }
});

describe('quantized tables: quantizeParams and bad input', () => {
  it('int4 quantizes a table whose rows the group size does not divide (shorter last group), not such a kernel', () => {
    const record = {
      table: tf.randomNormal([61, 16]),
      dense: { kernel: tf.randomNormal([61, 16]) },
    };
    const report = quantizeParams(record, { bits: 4, groupSize: 32 });
    expect(report.quantized).toEqual(['table']);
    const out = report.params as { table: unknown; dense: { kernel: unknown } };
    const q = out.table;
    expect(isQuantizedTensor(q) && q.groupSize === 32 && q.scales.length === 2 * 16).toBe(true);
    expect(out.dense.kernel).toBe(record.dense.kernel);
    const restored = dequantizeWeights(q as QuantizedTensor);
    // Each weight within half a step of its group's scale (max |w| / 7).
    expect(tf.max(tf.abs(tf.sub(restored, record.table))).dataSync()[0]).toBeLessThan(
      (tf.max(tf.abs(record.table)).dataSync()[0]! / 7) * 0.5 + 1e-6,
    );
    // quantizeWeights itself still asks for a divisor.
    const error = thrownWithoutLeak(() =>
      quantizeWeights(record.table, { bits: 4, groupSize: 32 }),
    );
    expect(error.argument).toBe('options.groupSize');
    tf.dispose([restored, record.table, record.dense.kernel]);
  });

  it('embed on a quantized table names an id out of range', () => {
    const { float, q } = quantizedTable(8);
    const ids = tf.tensor2d([[61]], undefined, 'int32');
    expect(thrownWithoutLeak(() => embed(config, { table: q }, ids)).argument).toBe('ids');
    tf.dispose([float, ids]);
  });

  it('tiedOutputProjection names a quantized table of the wrong width and an x of the wrong width', () => {
    const { float, q } = quantizedTable(4);
    const x = tf.zeros([2, 8]);
    const wide = { ...config, embeddingDim: 8 };
    expect(thrownWithoutLeak(() => tiedOutputProjection(wide, { table: q }, x)).argument).toBe(
      'params.table.shape[1]',
    );
    expect(thrownWithoutLeak(() => tiedOutputProjection(config, { table: q }, x)).argument).toBe(
      'x',
    );
    tf.dispose([float, x]);
  });

  it('positionEmbedding names a length past a quantized table', () => {
    const { float, q } = quantizedTable(8);
    const error = thrownWithoutLeak(() =>
      positionEmbedding(config, { table: q }, 10, { offset: 55 }),
    );
    expect(error.argument).toBe('length');
    float.dispose();
  });
});
