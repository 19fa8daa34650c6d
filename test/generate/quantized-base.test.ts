import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import {
  type DecoderLmParams,
  dequantizeParams,
  generate,
  gpt2Config,
  initDecoderLm,
  llamaConfig,
  quantizeParams,
} from '../../src/index';
import { describeEachBackend } from '../helpers/backends';

const configs = {
  gpt2: gpt2Config({ vocabSize: 48, maxLength: 32, dModel: 32, numLayers: 2, numHeads: 4 }),
  llama: llamaConfig({
    vocabSize: 48,
    maxLength: 32,
    dModel: 32,
    numLayers: 2,
    numHeads: 4,
    numKvHeads: 2,
    hidden: 64,
  }),
};

describeEachBackend('generate on a quantized base', () => {
  for (const [family, config] of Object.entries(configs)) {
    for (const bits of [8, 4] as const) {
      it(`${family}, int${bits}: greedy and beam search run on the quantized params (KV cache) and match the dequantized model, leaving no tensor behind`, async () => {
        const params = initDecoderLm(config, 7);
        const { params: q } = quantizeParams(params, { bits, kernelsOnly: true });
        const restored = dequantizeParams(q) as DecoderLmParams;
        const prompts = [
          [1, 2, 3],
          [4, 5],
        ];
        const before = tf.memory().numTensors;
        const greedy = await generate({ kind: 'decoderLm', config, params: q }, prompts, {
          maxNewTokens: 6,
          temperature: 0,
        });
        const beams = await generate({ kind: 'decoderLm', config, params: q }, [[1, 2, 3]], {
          maxNewTokens: 4,
          numBeams: 2,
        });
        expect(tf.memory().numTensors).toBe(before);
        expect(greedy.map((row) => row.length)).toEqual([6, 6]);
        expect(beams[0]!.length).toBe(4);
        const reference = await generate({ kind: 'decoderLm', config, params: restored }, prompts, {
          maxNewTokens: 6,
          temperature: 0,
        });
        expect(greedy).toEqual(reference);
        tf.dispose([
          params as unknown as tf.TensorContainer,
          ...restored.blocks.flatMap((b) =>
            [b.attention.query, b.attention.key, b.attention.value, b.attention.output].map(
              (p) => p.kernel,
            ),
          ),
          ...restored.blocks.flatMap((b) =>
            [b.feedForward.up, b.feedForward.down, b.feedForward.gate]
              .filter((p) => p !== undefined)
              .map((p) => p.kernel),
          ),
          ...(restored.lmHead ? [restored.lmHead.kernel] : []),
        ]);
      });
    }
  }
});
