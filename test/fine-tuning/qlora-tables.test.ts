import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  adamw,
  decoderLm,
  fineTune,
  gpt2Config,
  initDecoderLm,
  initLora,
  loraTensors,
  quantizeParams,
  type SequenceExample,
  withLora,
} from '../../src/index';
import { isQuantizedTensor } from '../../src/nn/quantized-weights';
import { expectNoLeak } from '../helpers/leaks';

// vocab 40: int4's groups of 32 rows leave a shorter last group in the token table.
const config = gpt2Config({ vocabSize: 40, maxLength: 12, dModel: 32, numHeads: 2, numLayers: 2 });
const train: SequenceExample[] = Array.from({ length: 8 }, (_, k) => {
  const ids = Array.from({ length: 8 }, (_, t) => (3 * k + t) % 40);
  return { ids, labels: ids.slice() };
});
const LORA = { r: 4, alpha: 8, targetModules: ['c_attn', 'c_fc'] };

describe('QLoRA on a base whose embedding tables are quantized too (kernelsOnly: false)', () => {
  for (const bits of [8, 4] as const) {
    it(`int${bits}: withLora runs, and fineTune lowers the held-out loss without touching the tables`, async () => {
      const params = initDecoderLm(config, 0);
      const { params: base } = quantizeParams(params, { bits, kernelsOnly: false });
      const table = base.tokenEmbedding.table;
      if (!isQuantizedTensor(table)) throw new Error('expected a quantized token table');
      const codes = Array.from(table.values);
      const model = { kind: 'decoder-lm' as const, modelType: 'gpt2', config, params: base };
      const adapter = initLora(model, LORA, 1);
      const ids = tf.tensor2d([[1, 2, 3]], undefined, 'int32');
      const adapted = withLora(base, adapter);
      expectNoLeak(() => decoderLm(config, adapted, ids));
      const before = tf.memory().numTensors;
      const result = await fineTune({
        model,
        adapter,
        data: { train, heldOut: train.slice(0, 2) },
        optimizer: adamw({ learningRate: 2e-2, weightDecay: 0 }),
        steps: 8,
        batchSize: 4,
        evalEvery: 4,
      });
      const held = result.history.filter((h) => h.heldOutLoss !== undefined);
      expect(held.at(-1)!.heldOutLoss!).toBeLessThan(held[0]!.heldOutLoss!);
      expect(Array.from(table.values)).toEqual(codes);
      expect(tf.memory().numTensors).toBe(before + Object.keys(loraTensors(result.trained)).length);
      tf.dispose(Object.values(loraTensors(result.trained)));
      tf.dispose(Object.values(loraTensors(adapter)));
      tf.dispose([ids, params as unknown as tf.TensorContainer]);
    });
  }
});
