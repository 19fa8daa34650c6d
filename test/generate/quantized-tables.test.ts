import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import {
  type DecoderLmParams,
  dequantizeParams,
  generate,
  gpt2Config,
  initDecoderLm,
  quantizeParams,
} from '../../src/index';
import { isQuantizedTensor } from '../../src/nn/quantized-weights';
import { describeEachBackend } from '../helpers/backends';

// vocab 45: int4's groups of 32 rows leave a shorter last group in the token table.
const config = gpt2Config({ vocabSize: 45, maxLength: 32, dModel: 32, numLayers: 2, numHeads: 4 });

describeEachBackend('generate on quantized embedding tables (kernelsOnly: false)', () => {
  for (const bits of [8, 4] as const) {
    it(`gpt2, int${bits}: cached greedy decoding equals the dequantized model's, leaving no tensor behind`, async () => {
      const params = initDecoderLm(config, 7);
      const { params: q } = quantizeParams(params, { bits, kernelsOnly: false });
      expect(isQuantizedTensor(q.tokenEmbedding.table)).toBe(true);
      expect(isQuantizedTensor(q.positionEmbedding!.table)).toBe(true);
      const restored = dequantizeParams(q) as DecoderLmParams;
      const prompts = [
        [1, 2, 3],
        [4, 44],
      ];
      const before = tf.memory().numTensors;
      const greedy = await generate({ kind: 'decoderLm', config, params: q }, prompts, {
        maxNewTokens: 6,
        temperature: 0,
      });
      expect(tf.memory().numTensors).toBe(before);
      const reference = await generate({ kind: 'decoderLm', config, params: restored }, prompts, {
        maxNewTokens: 6,
        temperature: 0,
      });
      expect(greedy).toEqual(reference);
      tf.dispose([
        params as unknown as tf.TensorContainer,
        restored as unknown as tf.TensorContainer,
      ]);
    });
  }
});
