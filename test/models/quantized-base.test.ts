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
  type WithQuantizedKernels,
} from '../../src/index';
import { isQuantizedTensor } from '../../src/nn/quantized-weights';
import { describeEachBackend } from '../helpers/backends';
import { expectClose } from '../helpers/close';
import { expectNoLeak } from '../helpers/leaks';
import { thrownWithoutLeak } from '../helpers/rejections';

const gpt2 = gpt2Config({ vocabSize: 64, maxLength: 32, dModel: 64, numLayers: 2, numHeads: 4 });
const llama = llamaConfig({
  vocabSize: 64,
  maxLength: 32,
  dModel: 64,
  numLayers: 2,
  numHeads: 4,
  numKvHeads: 2,
  hidden: 96,
});

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

describeEachBackend('a quantized frozen base runs directly in the models', () => {
  for (const [family, config] of [
    ['gpt2 (tied embeddings)', gpt2],
    ['llama (SwiGLU, GQA, untied head)', llama],
  ] as [string, DecoderLmConfig][]) {
    for (const bits of [8, 4] as const) {
      it(`${family}, int${bits}: decoderLm on the quantized kernels equals the dequantized model and stays near the float one`, () => {
        const params = initDecoderLm(config, 0);
        const report = quantizeParams(params, { bits, kernelsOnly: true });
        const q: WithQuantizedKernels<DecoderLmParams> = report.params;
        expect(report.quantized.length).toBeGreaterThan(0);
        expect(report.quantized.every((path) => path.endsWith('.kernel'))).toBe(true);
        expect(q.tokenEmbedding.table).toBe(params.tokenEmbedding.table);
        const ids = tf.tensor2d([[1, 5, 9, 13, 17, 21]], undefined, 'int32');
        const float = decoderLm(config, params, ids);
        const logits = decoderLm(config, q, ids);
        const restored = dequantizeParams(q) as DecoderLmParams;
        const dequantized = decoderLm(config, restored, ids);
        // The quantized model is exactly the model of the dequantized weights ...
        expectClose(logits, dequantized, { rtol: 1e-4, atol: 1e-5 });
        // ... whose logits are within the quantization error of the float model's
        // (random weights: int8 ~1%, int4 a few tens of %).
        const error = relativeError(logits, float);
        expect(error).toBeLessThan(bits === 8 ? 0.03 : 0.5);
        expect(error).toBeGreaterThan(0);
        expectNoLeak(() => decoderLm(config, q, ids));
        disposeRestored(restored, q);
        tf.dispose([ids, float, logits, dequantized, params as unknown as tf.TensorContainer]);
      });
    }
  }

  it('the cached forward on a quantized base equals the uncached one', () => {
    const params = initDecoderLm(llama, 1);
    const { params: q } = quantizeParams(params, { bits: 4, kernelsOnly: true });
    const ids = tf.tensor2d([[3, 1, 4, 1, 5]], undefined, 'int32');
    const full = decoderLm(llama, q, ids);
    const heads = llama.block.numKvHeads ?? llama.block.numHeads;
    const headDim = llama.block.dModel / llama.block.numHeads;
    const self = Array.from({ length: llama.numLayers }, () => ({
      key: tf.zeros([1, heads, 8, headDim]) as tf.Tensor4D,
      value: tf.zeros([1, heads, 8, headDim]) as tf.Tensor4D,
    }));
    const prefix = decoderLm(llama, q, tf.slice(ids, [0, 0], [1, 3]), {
      cache: { self, index: 0 },
    });
    const step = decoderLm(llama, q, tf.slice(ids, [0, 3], [1, 2]), {
      cache: { self: prefix.cache.self, index: 3 },
    });
    // The cached step (2 rows) runs the SIMD kernels, which round each layer's inputs to int16
    // (about 1e-5 relative per product); the full forward (5 rows) dequantizes: float inputs.
    const largest = tf.tidy(() => tf.max(tf.abs(full)).dataSync()[0]!);
    expectClose(step.logits, tf.slice(full, [0, 3, 0], [1, 2, -1]), {
      rtol: 2e-3,
      atol: 1e-3 * largest,
    });
    tf.dispose([
      ids,
      full,
      prefix.logits,
      step.logits,
      self as unknown as tf.TensorContainer,
      prefix.cache.self as unknown as tf.TensorContainer,
      step.cache.self as unknown as tf.TensorContainer,
      params as unknown as tf.TensorContainer,
    ]);
  });

  it('encoderClassifier on quantized kernels equals the dequantized model', () => {
    const config = bertConfig({
      vocabSize: 50,
      maxLength: 16,
      dModel: 32,
      numLayers: 2,
      numHeads: 4,
      numClasses: 3,
    });
    const params = initEncoderClassifier(config, 2);
    const { params: q } = quantizeParams(params, { bits: 8, kernelsOnly: true });
    const ids = tf.tensor2d([[2, 7, 1, 9]], undefined, 'int32');
    const logits = encoderClassifier(config, q, ids);
    const restored = dequantizeParams(q) as EncoderClassifierParams;
    expectClose(logits, encoderClassifier(config, restored, ids), { rtol: 1e-4, atol: 1e-5 });
    expect(relativeError(logits, encoderClassifier(config, params, ids))).toBeLessThan(0.05);
    expectNoLeak(() => encoderClassifier(config, q, ids));
    disposeRestored(restored, q);
    tf.dispose([ids, logits, params as unknown as tf.TensorContainer]);
  });

  it('QLoRA: LoRA factors on a quantized GPT get the gradients of the same model on dequantized float weights', () => {
    const params = initDecoderLm(gpt2, 3);
    const { params: q } = quantizeParams(params, { bits: 8, kernelsOnly: true });
    const restored = dequantizeParams(q) as DecoderLmParams;
    const a = tf.randomNormal([64, 4], 0, 0.1, 'float32', 4) as tf.Tensor2D;
    const b = tf.randomNormal([4, 64], 0, 0.1, 'float32', 5) as tf.Tensor2D;
    const ids = tf.tensor2d([[1, 2, 3, 4, 5]], undefined, 'int32');
    // A LoRA on every block's query projection, as withLora puts it there.
    const withLora = <P extends DecoderLmParams | WithQuantizedKernels<DecoderLmParams>>(
      p: P,
      fa: tf.Tensor,
      fb: tf.Tensor,
    ): P => ({
      ...p,
      blocks: p.blocks.map((block) => ({
        ...block,
        attention: {
          ...block.attention,
          query: {
            ...block.attention.query,
            lora: { a: fa as tf.Tensor2D, b: fb as tf.Tensor2D, scale: 0.5 },
          },
        },
      })),
    });
    const loss =
      (p: DecoderLmParams | WithQuantizedKernels<DecoderLmParams>) =>
      (fa: tf.Tensor, fb: tf.Tensor) =>
        tf.mean(tf.square(decoderLm(gpt2, withLora(p, fa, fb), ids)));
    const [da, db] = tf.grads(loss(q))([a, b]);
    const [fa, fb] = tf.grads(loss(restored))([a, b]);
    expectClose(da!, fa!, { rtol: 1e-3, atol: 1e-6 });
    expectClose(db!, fb!, { rtol: 1e-3, atol: 1e-6 });
    expectNoLeak(() => tf.grads(loss(q))([a, b]));
    disposeRestored(restored, q);
    tf.dispose([a, b, ids, da!, db!, fa!, fb!, params as unknown as tf.TensorContainer]);
  });
});

describe('a quantized base: bad input', () => {
  it('quantizeParams names options.kernelsOnly when it is not a boolean', () => {
    const params = { dense: { kernel: tf.zeros([4, 4]) } };
    const error = thrownWithoutLeak(() => quantizeParams(params, { kernelsOnly: 'yes' as never }));
    expect(error.argument).toBe('options.kernelsOnly');
    tf.dispose(params.dense.kernel);
  });

  it('decoderLm names a quantized embedding table that is not a matrix of codes', () => {
    const params = initDecoderLm(gpt2, 0);
    const { params: all } = quantizeParams(params, { bits: 8 });
    const wrong = {
      ...(all as DecoderLmParams),
      tokenEmbedding: {
        table: { format: 'int8', values: new Int8Array(1), scales: new Float32Array(1) },
      },
    };
    const ids = tf.tensor2d([[1, 2]], undefined, 'int32');
    const error = thrownWithoutLeak(() => decoderLm(gpt2, wrong as never, ids));
    expect(error.argument).toBe('params.table.shape');
    tf.dispose([ids, params as unknown as tf.TensorContainer]);
  });

  it('decoderLm names a quantized kernel whose shape does not fit the config', () => {
    const params = initDecoderLm(gpt2, 0);
    const { params: q } = quantizeParams(params, { bits: 8, kernelsOnly: true });
    const other = quantizeParams(initDecoderLm({ ...gpt2, block: { ...gpt2.block } }, 1), {
      bits: 8,
      kernelsOnly: true,
    }).params;
    const wrong = {
      ...q,
      blocks: [
        {
          ...q.blocks[0]!,
          attention: {
            ...q.blocks[0]!.attention,
            value: {
              ...q.blocks[0]!.attention.value,
              kernel: other.blocks[0]!.feedForward.up.kernel,
            },
          },
        },
        q.blocks[1]!,
      ],
    };
    const ids = tf.tensor2d([[1, 2]], undefined, 'int32');
    const error = thrownWithoutLeak(() => decoderLm(gpt2, wrong, ids));
    expect(error.argument).toBe('params.value.kernel.shape[1]');
    tf.dispose([
      ids,
      params as unknown as tf.TensorContainer,
      other as unknown as tf.TensorContainer,
    ]);
  });
});
