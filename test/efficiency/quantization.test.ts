import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import {
  type DecoderLmParams,
  decoderLm,
  dequantizeParams,
  dequantizeWeights,
  gpt2Config,
  initDecoderLm,
  linear,
  quantizedBytes,
  quantizedLinear,
  quantizeParams,
  quantizeWeights,
} from '../../src/index';
import { describeEachBackend } from '../helpers/backends';
import { expectClose } from '../helpers/close';
import { expectNoLeak } from '../helpers/leaks';
import { describeRejections, thrownWithoutLeak } from '../helpers/rejections';

describeEachBackend('quantization', () => {
  for (const bits of [8, 4] as const) {
    it(`int${bits}: every weight is within half a scale step, and memory shrinks`, () => {
      tf.tidy(() => {
        const w = tf.randomNormal([64, 24], 0, 0.5, 'float32', bits);
        const q = quantizeWeights(w, { bits, groupSize: 16 });
        const restored = dequantizeWeights(q).dataSync();
        const original = w.dataSync();
        for (let i = 0; i < original.length; i++) {
          const col = i % 24;
          const scale =
            bits === 8 ? q.scales[col]! : q.scales[Math.floor(Math.floor(i / 24) / 16) * 24 + col]!;
          expect(Math.abs(restored[i]! - original[i]!)).toBeLessThanOrEqual(scale / 2 + 1e-7);
        }
        const ratio = (64 * 24 * 4) / quantizedBytes(q);
        expect(ratio).toBeGreaterThan(bits === 8 ? 3.5 : 5);
      });
    });
  }

  it('int4 packing is exact for every level -8 … 7', () => {
    tf.tidy(() => {
      const levels = Array.from({ length: 16 }, (_, i) => i - 8);
      // One column whose max |w| is 8·s... scale = max/7, so use values that are multiples of the scale.
      const w = tf.tensor2d(
        levels.map((l) => [(l * 7) / 8]),
        [16, 1],
      );
      const q = quantizeWeights(w, { bits: 4, groupSize: 16 });
      const back = dequantizeWeights(q).dataSync();
      levels.forEach((l, i) => {
        const level = Math.max(-8, Math.min(7, Math.round((l * 7) / 8 / q.scales[0]!)));
        expect(back[i]).toBeCloseTo(level * q.scales[0]!, 6);
      });
    });
  });

  it('quantizedLinear equals linear with the dequantized kernel, and leaves no tensor behind', () => {
    const w = tf.randomNormal([32, 8], 0, 0.3, 'float32', 3);
    const bias = tf.randomNormal([8], 0, 0.1, 'float32', 4);
    const x = tf.randomNormal([2, 5, 32], 0, 1, 'float32', 5);
    const q = quantizeWeights(w);
    const config = { inFeatures: 32, outFeatures: 8 };
    tf.tidy(() =>
      expectClose(
        quantizedLinear(config, { kernel: q, bias }, x),
        linear(config, { kernel: dequantizeWeights(q), bias: bias as tf.Tensor1D }, x),
        { rtol: 1e-6 },
      ),
    );
    expectNoLeak(() => quantizedLinear(config, { kernel: q, bias }, x));
    tf.dispose([w, bias, x]);
  });

  it('a quantized GPT keeps its logits close (int8 closer than int4) at a quarter to an eighth of the memory', () => {
    const config = gpt2Config({
      vocabSize: 64,
      maxLength: 32,
      dModel: 64,
      numLayers: 2,
      numHeads: 4,
    });
    const params = initDecoderLm(config, 0);
    const ids = tf.tensor2d([[1, 5, 9, 13, 17, 21]], undefined, 'int32');
    const reference = decoderLm(config, params, ids);
    const errors: number[] = [];
    for (const bits of [8, 4] as const) {
      const report = quantizeParams(params, { bits });
      expect(report.quantized).toContain('tokenEmbedding.table');
      expect(report.quantizedBytes).toBeLessThan(report.originalBytes / (bits === 8 ? 3 : 5));
      const restored = dequantizeParams(report.params) as DecoderLmParams;
      const logits = decoderLm(config, restored, ids);
      errors.push(
        tf.tidy(
          () =>
            tf.max(tf.abs(tf.sub(logits, reference))).dataSync()[0]! /
            tf.max(tf.abs(reference)).dataSync()[0]!,
        ),
      );
      const fresh = new Set(report.quantized);
      tf.dispose([logits]);
      // Free only the matrices dequantizeParams made.
      const walk = (node: unknown, path: string): void => {
        if (node instanceof tf.Tensor) {
          if (fresh.has(path)) node.dispose();
        } else if (node !== null && typeof node === 'object') {
          for (const [k, v] of Object.entries(node)) walk(v, path ? `${path}.${k}` : k);
        }
      };
      walk(restored, '');
    }
    expect(errors[0]!).toBeLessThan(0.02);
    // Random (untrained) weights: int4 moves the logits by ~30% of their range, int8 by ~1%.
    expect(errors[1]!).toBeLessThan(0.5);
    expect(errors[0]!).toBeLessThan(errors[1]!);
    tf.dispose([reference, ids, params as unknown as tf.TensorContainer]);
  });
});

describeRejections('quantization rejects bad input with a TfjsBlocksError', () => [
  [
    '3 bits',
    () => quantizeWeights(tf.zeros([4, 4]), { bits: 3 as 8 }),
    /options.bits must be 8 or 4; got 3/,
  ],
  [
    'a vector',
    () => quantizeWeights(tf.zeros([4])),
    /weights must be a float32 matrix \[in, out\]; got a float32 tensor of shape \[4\]/,
  ],
  [
    'group size not dividing',
    () => quantizeWeights(tf.zeros([10, 4]), { bits: 4, groupSize: 4 }),
    /options.groupSize must be a divisor of the input size 10; got 4/,
  ],
]);

it('quantizeParams and dequantizeParams reject a record that contains itself with a typed error', () => {
  const w = tf.zeros([4, 4]);
  const loop: Record<string, unknown> = { w };
  loop.blocks = [loop];
  expect(thrownWithoutLeak(() => quantizeParams(loop)).argument).toBe('params.blocks.0');
  expect(thrownWithoutLeak(() => dequantizeParams(loop)).argument).toBe('params.blocks.0');
  w.dispose();
});
