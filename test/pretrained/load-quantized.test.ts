import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it, vi } from 'vitest';
import { paramQuantizer } from '../../src/efficiency/quantization';
import {
  type DecoderLmConfig,
  decoderLm,
  gpt2Config,
  initDecoderLm,
  llamaConfig,
  loadPretrained,
  pretrainedFiles,
  type QuantizeParamsOptions,
  quantizeParams,
} from '../../src/index';
import { isQuantizedTensor } from '../../src/nn/quantized-weights';
import { loadWeights } from '../../src/pretrained/weights';
import { memorySource } from '../helpers/pretrained-source';
import { rejectionOf } from '../helpers/rejections';
import { rawSafetensors, type ToyConfig, toyFamily } from '../helpers/toy-family';

/** A model folder in memory, written by pretrainedFiles from seeded weights. */
function folderOf(modelType: string, config: DecoderLmConfig) {
  const params = initDecoderLm(config, 3);
  try {
    const files = pretrainedFiles({ kind: 'decoder-lm', modelType, config, params });
    return memorySource(Object.fromEntries(files.map((f) => [f.name, f.bytes])));
  } finally {
    tf.dispose(params as unknown as tf.TensorContainer);
  }
}

/** Asserts two param records equal leaf for leaf: QuantizedTensors field for field, tensors value for value. */
async function expectSameParams(actual: unknown, expected: unknown, path = 'params') {
  if (expected instanceof tf.Tensor) {
    expect(actual, path).toBeInstanceOf(tf.Tensor);
    const a = actual as tf.Tensor;
    expect(a.shape, path).toEqual(expected.shape);
    expect(a.dtype, path).toBe(expected.dtype);
    expect(await a.data(), path).toEqual(await expected.data());
    return;
  }
  if (isQuantizedTensor(expected)) {
    expect(isQuantizedTensor(actual), path).toBe(true);
    expect(actual, path).toEqual(expected);
    return;
  }
  expect(typeof actual, path).toBe('object');
  expect(Array.isArray(actual), path).toBe(Array.isArray(expected));
  const e = expected as Record<string, unknown>;
  const a = actual as Record<string, unknown>;
  expect(Object.keys(a), path).toEqual(Object.keys(e));
  for (const key of Object.keys(e)) await expectSameParams(a[key], e[key], `${path}.${key}`);
}

/** The tensors of a param record (QuantizedTensors are plain data). */
function tensorsOf(node: unknown, out: tf.Tensor[] = []): tf.Tensor[] {
  if (node instanceof tf.Tensor) out.push(node);
  else if (node !== null && typeof node === 'object' && !isQuantizedTensor(node))
    for (const v of Object.values(node)) tensorsOf(v, out);
  return out;
}

const gpt2 = gpt2Config({ vocabSize: 40, maxLength: 16, dModel: 16, numLayers: 2, numHeads: 4 });
// Llama's linears are stored [out, in] and transposed on load: the path where a float tensor is made first.
const llama = llamaConfig({
  vocabSize: 40,
  maxLength: 16,
  dModel: 16,
  numLayers: 1,
  numHeads: 4,
  hidden: 24,
});
const CHOICES: QuantizeParamsOptions[] = [
  { bits: 8, kernelsOnly: false },
  { bits: 4, groupSize: 8, kernelsOnly: false },
  { bits: 8, kernelsOnly: true },
  { bits: 4, groupSize: 16, kernelsOnly: true },
  // 24 rows (llama's MLP down) are not a multiple of 16: that kernel stays float32, as in quantizeParams.
  { bits: 4, groupSize: 16 },
];

describe('loadPretrained({ quantize })', () => {
  for (const [modelType, config] of [
    ['gpt2', gpt2],
    ['llama', llama],
  ] as const) {
    it(`${modelType}: the params of load-then-quantizeParams, bit for bit, and only the float leaves as tensors`, async () => {
      const source = folderOf(modelType, config);
      for (const quantize of CHOICES) {
        const float = await loadPretrained(source);
        const reference = quantizeParams(float.params, quantize).params;
        const before = tf.memory().numTensors;
        const loaded = await loadPretrained(source, { quantize });
        if (loaded.kind !== 'decoder-lm') throw new Error('not a decoder');
        const kept = tensorsOf(loaded.params);
        // Every quantized matrix's float tensor was freed; the float leaves stay.
        expect(tf.memory().numTensors - before, JSON.stringify(quantize)).toBe(kept.length);
        expect(kept.length).toBe(tensorsOf(reference).length);
        expect(kept.length).toBeLessThan(tensorsOf(float.params).length);
        await expectSameParams(loaded.params, reference);
        const ids = tf.tensor2d([[1, 2, 3]], undefined, 'int32');
        const [a, b] = [
          decoderLm(config, loaded.params, ids),
          decoderLm(config, reference as typeof loaded.params, ids),
        ];
        expect(await a.data()).toEqual(await b.data());
        tf.dispose([ids, a, b, ...kept, ...tensorsOf(float.params)]);
      }
    });
  }

  it('a matrix kept as stored never becomes a float tensor; a converted one does, then is freed', async () => {
    // A token table far larger than any other tensor, so that its size identifies it.
    const wide = { vocabSize: 2000, maxLength: 16, dModel: 16, numLayers: 2, numHeads: 4 };
    for (const [modelType, config, expected] of [
      // GPT-2's table is copied as stored: read straight from its bytes.
      ['gpt2', gpt2Config(wide), 0],
      // Llama's table too; its untied head [16, 2000] is transposed: decoded, then its copy.
      ['llama', llamaConfig({ ...wide, hidden: 24 }), 2],
    ] as const) {
      const source = folderOf(modelType, config);
      const backend = tf.backend();
      const write = vi.spyOn(backend, 'write');
      try {
        const before = tf.memory().numTensors;
        const loaded = await loadPretrained(source, { quantize: { bits: 8 } });
        const large = write.mock.calls.filter(
          ([values]) => (values as ArrayLike<number>).length >= 2000 * 16,
        );
        expect(large.length, modelType).toBe(expected);
        expect(tf.memory().numTensors - before).toBe(tensorsOf(loaded.params).length);
        tf.dispose(tensorsOf(loaded.params));
      } finally {
        write.mockRestore();
      }
    }
  });

  it('quantizes float16 and bfloat16 matrices from their widened values', async () => {
    const c: ToyConfig = { rows: 2, cols: 2, layers: 0 };
    const halves = new Uint16Array([0x3c00, 0xc000, 0x3800, 0x4200]); // 1, -2, 0.5, 3 in F16
    const brains = new Uint16Array([0x3f80, 0xc000, 0x3f00, 0x4040]); // the same in BF16
    for (const [dtype, bits] of [
      ['F16', halves],
      ['BF16', brains],
    ] as const) {
      const files = {
        'model.safetensors': rawSafetensors([
          { name: 'embed.weight', dtype, shape: [2, 2], data: new Uint8Array(bits.buffer) },
        ]),
      };
      const load = (quantize?: QuantizeParamsOptions) =>
        loadWeights<ToyConfig, { tokenEmbedding: { table: unknown } }>(
          'f',
          memorySource(files),
          {
            ...toyFamily,
            tensors: (cc) => toyFamily.tensors(cc).map((r) => ({ ...r, unchanged: true })),
          },
          c,
          quantize === undefined ? {} : { quantize: paramQuantizer(quantize) },
        );
      const float = await load();
      const before = tf.memory().numTensors;
      const quantized = await load({ bits: 8 });
      // Read straight from the bytes: no tensor was made.
      expect(tf.memory().numTensors).toBe(before);
      expect(quantized.tokenEmbedding.table).toEqual(
        (quantizeParams(float, { bits: 8 }).params as typeof float).tokenEmbedding.table,
      );
      expect(quantized.tokenEmbedding.table).toMatchObject({
        // Column scales 1/127 and 3/127.
        values: new Int8Array([127, -85, 64, 127]),
      });
      tf.dispose(float.tokenEmbedding.table as tf.Tensor);
    }
  });

  it('rejects a bad quantize option before reading any weight, leaving no tensor', async () => {
    const source = folderOf('gpt2', gpt2);
    const cases: [unknown, string][] = [
      [8, 'options.quantize'],
      [{ bitz: 8 }, 'options.quantize.bitz'],
      [{ bits: 5 }, 'options.quantize.bits'],
      [{ bits: 4, groupSize: 0 }, 'options.quantize.groupSize'],
      [{ bits: 4, groupSize: 2.5 }, 'options.quantize.groupSize'],
      [{ kernelsOnly: 'yes' }, 'options.quantize.kernelsOnly'],
    ];
    for (const [quantize, argument] of cases) {
      const requests = source.requests.length;
      const before = tf.memory().numTensors;
      const error = await rejectionOf(
        loadPretrained(source, { quantize: quantize as QuantizeParamsOptions }),
      );
      expect(error.argument).toBe(argument);
      expect(tf.memory().numTensors).toBe(before);
      expect(source.requests.length, 'nothing fetched').toBe(requests);
    }
  });

  it('an abort mid-load frees the float tensors made so far', async () => {
    const source = folderOf('llama', llama);
    const controller = new AbortController();
    const before = tf.memory().numTensors;
    let seen = 0;
    await expect(
      loadPretrained(source, {
        quantize: { bits: 8 },
        signal: controller.signal,
        onProgress: () => {
          if (++seen === 6) controller.abort(new Error('stop'));
        },
      }),
    ).rejects.toThrow('stop');
    expect(seen).toBeGreaterThanOrEqual(6);
    expect(tf.memory().numTensors).toBe(before);
  });
});
