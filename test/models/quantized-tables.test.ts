import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  bertConfig,
  type DecoderLmConfig,
  type DecoderLmParams,
  decoderLm,
  dequantizeParams,
  type EncoderClassifierParams,
  encoderClassifier,
  gpt2Config,
  initDecoderLm,
  initEncoderClassifier,
  llamaConfig,
  quantizeParams,
  quantizeWeights,
  type WithQuantizedKernels,
} from '../../src/index';
import { isQuantizedTensor } from '../../src/nn/quantized-weights';
import { describeEachBackend } from '../helpers/backends';
import { expectClose } from '../helpers/close';
import { expectNoLeak } from '../helpers/leaks';
import { thrownWithoutLeak } from '../helpers/rejections';

// vocab 61: int4's groups of 32 rows leave a shorter last group, as GPT-2's 50,257 rows do.
const gpt2 = gpt2Config({ vocabSize: 61, maxLength: 32, dModel: 64, numLayers: 2, numHeads: 4 });
const llama = llamaConfig({
  vocabSize: 64,
  maxLength: 32,
  dModel: 64,
  numLayers: 2,
  numHeads: 4,
  numKvHeads: 2,
  hidden: 96,
});

type Lm = DecoderLmParams | WithQuantizedKernels<DecoderLmParams>;

/** max |a - b| / max |b|. */
function relativeError(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(
    () => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]! / tf.max(tf.abs(b)).dataSync()[0]!,
  );
}

/** Disposes the tensors of `restored` that `dequantizeParams` made (the others are the original's). */
function disposeRestored(restored: unknown, original: unknown): void {
  const originals = new Set<tf.Tensor>();
  const collect = (node: unknown, into: (t: tf.Tensor) => void): void => {
    if (node instanceof tf.Tensor) into(node);
    else if (node !== null && typeof node === 'object' && !isQuantizedTensor(node))
      for (const v of Object.values(node)) collect(v, into);
  };
  collect(original, (t) => originals.add(t));
  collect(restored, (t) => {
    if (!originals.has(t)) t.dispose();
  });
}

describeEachBackend('decoderLm on quantized embedding tables (kernelsOnly: false)', () => {
  for (const [family, config] of [
    ['gpt2 (tied head, learned positions)', gpt2],
    ['llama (untied head)', llama],
  ] as [string, DecoderLmConfig][]) {
    for (const bits of [8, 4] as const) {
      it(`${family}, int${bits}: logits equal the model on the dequantized params, for many rows and for one`, () => {
        const params = initDecoderLm(config, 0);
        const report = quantizeParams(params, { bits, kernelsOnly: false });
        const q: WithQuantizedKernels<DecoderLmParams> = report.params;
        expect(isQuantizedTensor(q.tokenEmbedding.table)).toBe(true);
        expect(report.quantized).toContain('tokenEmbedding.table');
        if (config === gpt2) expect(report.quantized).toContain('positionEmbedding.table');
        const restored = dequantizeParams(q) as DecoderLmParams;
        // 2 x 5 rows (the dequantized product) and 1 row (the fused one of decoding).
        for (const ids of [
          tf.tensor2d(
            [
              [1, 5, 9, 13, 60],
              [0, 2, 4, 6, 8],
            ].map((row) => row.map((id) => id % config.vocabSize)),
            undefined,
            'int32',
          ),
          tf.tensor2d([[config.vocabSize - 1]], undefined, 'int32'),
        ]) {
          const logits = decoderLm(config, q, ids);
          const expected = decoderLm(config, restored, ids);
          expect(relativeError(logits, expected)).toBeLessThan(1e-4);
          // Twice: the second call takes the validated (unchecked) path.
          const again = decoderLm(config, q, ids);
          expect(relativeError(again, expected)).toBeLessThan(1e-4);
          expectNoLeak(() => decoderLm(config, q, ids));
          tf.dispose([ids, logits, again, expected]);
        }
        disposeRestored(restored, q);
        tf.dispose(params as unknown as tf.TensorContainer);
      });
    }
  }

  it('the cached forward on quantized tables equals the uncached one', () => {
    const params = initDecoderLm(gpt2, 1);
    const { params: q } = quantizeParams(params, { bits: 4, kernelsOnly: false });
    const ids = tf.tensor2d([[3, 1, 4, 1, 5, 9]], undefined, 'int32');
    const full = decoderLm(gpt2, q, ids);
    const headDim = gpt2.block.dModel / gpt2.block.numHeads;
    const self = Array.from({ length: gpt2.numLayers }, () => ({
      key: tf.zeros([1, gpt2.block.numHeads, 8, headDim]) as tf.Tensor4D,
      value: tf.zeros([1, gpt2.block.numHeads, 8, headDim]) as tf.Tensor4D,
    }));
    const prefix = decoderLm(gpt2, q, tf.slice(ids, [0, 0], [1, 3]), {
      cache: { self, index: 0 },
    });
    const step = decoderLm(gpt2, q, tf.slice(ids, [0, 3], [1, 1]), {
      cache: { self: prefix.cache.self, index: 3 },
    });
    const step2 = decoderLm(gpt2, q, tf.slice(ids, [0, 4], [1, 2]), {
      cache: { self: step.cache.self, index: 4 },
    });
    // The cached steps (1-2 rows) run the SIMD kernels, which round each layer's inputs to int16
    // (about 1e-5 relative per product); the full forward (6 rows) dequantizes: float inputs.
    const largest = tf.tidy(() => tf.max(tf.abs(full)).dataSync()[0]!);
    const tolerance = { rtol: 2e-3, atol: 1e-3 * largest };
    expectClose(step.logits, tf.slice(full, [0, 3, 0], [1, 1, -1]), tolerance);
    expectClose(step2.logits, tf.slice(full, [0, 4, 0], [1, 2, -1]), tolerance);
    tf.dispose([
      ids,
      full,
      prefix.logits,
      step.logits,
      step2.logits,
      self as unknown as tf.TensorContainer,
      prefix.cache.self as unknown as tf.TensorContainer,
      step.cache.self as unknown as tf.TensorContainer,
      step2.cache.self as unknown as tf.TensorContainer,
      params as unknown as tf.TensorContainer,
    ]);
  });

  it('encoderClassifier on quantized token, token-type and position tables equals the dequantized model', () => {
    const config = bertConfig({
      vocabSize: 50,
      maxLength: 16,
      dModel: 32,
      numLayers: 2,
      numHeads: 4,
      numClasses: 3,
    });
    const params = initEncoderClassifier(config, 2);
    const report = quantizeParams(params, { bits: 8, kernelsOnly: false });
    expect(report.quantized).toContain('tokenEmbedding.table');
    const q = report.params;
    const restored = dequantizeParams(q) as EncoderClassifierParams;
    const ids = tf.tensor2d([[2, 7, 1, 49]], undefined, 'int32');
    const logits = encoderClassifier(config, q, ids);
    expectClose(logits, encoderClassifier(config, restored, ids), { rtol: 1e-4, atol: 1e-5 });
    expectNoLeak(() => encoderClassifier(config, q, ids));
    disposeRestored(restored, q);
    tf.dispose([ids, logits, params as unknown as tf.TensorContainer]);
  });

  for (const bits of [8, 4] as const) {
    it(`QLoRA, int${bits}: LoRA gradients through a quantized tied head and token table equal those on the dequantized params`, () => {
      const params = initDecoderLm(gpt2, 3);
      const { params: q } = quantizeParams(params, { bits, kernelsOnly: false });
      const restored = dequantizeParams(q) as DecoderLmParams;
      const a = tf.randomNormal([64, 4], 0, 0.1, 'float32', 4) as tf.Tensor2D;
      const b = tf.randomNormal([4, 64], 0, 0.1, 'float32', 5) as tf.Tensor2D;
      const withLora = <P extends Lm>(p: P, fa: tf.Tensor, fb: tf.Tensor): P => ({
        ...p,
        blocks: p.blocks.map((block) => ({
          ...block,
          attention: {
            ...block.attention,
            value: {
              ...block.attention.value,
              lora: { a: fa as tf.Tensor2D, b: fb as tf.Tensor2D, scale: 0.5 },
            },
          },
        })),
      });
      // 5 rows: the dequantized backward; 1 row: the fused one.
      for (const row of [[1, 2, 3, 4, 5], [7]]) {
        const ids = tf.tensor2d([row], undefined, 'int32');
        const loss = (p: Lm) => (fa: tf.Tensor, fb: tf.Tensor) =>
          tf.mean(tf.square(decoderLm(gpt2, withLora(p, fa, fb), ids)));
        const [da, db] = tf.grads(loss(q))([a, b]);
        const [fa, fb] = tf.grads(loss(restored))([a, b]);
        expect(tf.max(tf.abs(da!)).dataSync()[0]).toBeGreaterThan(0);
        expectClose(da!, fa!, { rtol: 1e-3, atol: 1e-6 });
        expectClose(db!, fb!, { rtol: 1e-3, atol: 1e-6 });
        expectNoLeak(() => tf.grads(loss(q))([a, b]));
        tf.dispose([ids, da!, db!, fa!, fb!]);
      }
      disposeRestored(restored, q);
      tf.dispose([a, b, params as unknown as tf.TensorContainer]);
    });
  }
});

describe('quantized embedding tables: bad input', () => {
  it('decoderLm names a quantized token table of the wrong vocabulary size', () => {
    const params = initDecoderLm(gpt2, 0);
    const { params: q } = quantizeParams(params, { bits: 8, kernelsOnly: false });
    const other = tf.zeros([gpt2.vocabSize + 1, gpt2.block.dModel]);
    const wrong = { ...q, tokenEmbedding: { table: quantizeWeights(other) } };
    const ids = tf.tensor2d([[1, 2]], undefined, 'int32');
    const error = thrownWithoutLeak(() => decoderLm(gpt2, wrong, ids));
    expect(error.argument).toBe('params.table.shape[0]');
    tf.dispose([ids, other, params as unknown as tf.TensorContainer]);
  });

  it('decoderLm names a quantized position table whose codes do not fit its shape', () => {
    const params = initDecoderLm(gpt2, 0);
    const { params: q } = quantizeParams(params, { bits: 8, kernelsOnly: false });
    const table = q.positionEmbedding!.table;
    if (!isQuantizedTensor(table)) throw new Error('expected a quantized table');
    const wrong = {
      ...q,
      positionEmbedding: { table: { ...table, values: table.values.subarray(1) } },
    };
    const ids = tf.tensor2d([[1, 2]], undefined, 'int32');
    const error = thrownWithoutLeak(() => decoderLm(gpt2, wrong, ids));
    expect(error.argument).toBe('params.table.values');
    tf.dispose([ids, params as unknown as tf.TensorContainer]);
  });
});
