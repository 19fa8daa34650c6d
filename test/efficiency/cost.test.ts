import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  countParameters,
  energyEstimate,
  gpt2Config,
  initDecoderLm,
  llamaConfig,
  modelCost,
} from '../../src/index';
import { describeRejections } from '../helpers/rejections';

const gpt2Small = gpt2Config({
  vocabSize: 50257,
  maxLength: 1024,
  dModel: 768,
  numLayers: 12,
  numHeads: 12,
});

describe('modelCost', () => {
  it('counts GPT-2 small exactly: 124,439,808 parameters, by hand', () => {
    const { parameters } = modelCost(gpt2Small);
    // Per block: attention 4·768² + 4·768 biases; MLP 2·768·3072 + 3072 + 768; two LayerNorms 4·768.
    const block = 4 * 768 * 768 + 4 * 768 + 2 * 768 * 3072 + 3072 + 768 + 4 * 768;
    expect(block).toBe(7_087_872);
    expect(parameters.total).toBe(12 * block + 50257 * 768 + 1024 * 768 + 2 * 768);
    expect(parameters.total).toBe(124_439_808);
    expect(parameters.head).toBe(0); // tied
    // Kaplan's N = 2 · d · layers · (2 · dAttn + dFF) = 12 · layers · d² for dFF = 4d.
    expect(parameters.nonEmbedding).toBe(2 * 768 * 12 * (2 * 768 + 3072));
    expect(parameters.nonEmbedding).toBe(84_934_656);
  });

  it('FLOPs: forward = 2N + 2·d·vocab + 4·layers·context·dAttn, training = 3 × forward ≈ 6N plus attention', () => {
    const { flopsPerToken, parameters } = modelCost(gpt2Small, { context: 1024 });
    const n = parameters.nonEmbedding;
    expect(flopsPerToken.dense).toBe(2 * n + 2 * 768 * 50257);
    expect(flopsPerToken.attention).toBe(4 * 12 * 1024 * 768);
    expect(flopsPerToken.training).toBe(3 * flopsPerToken.forward);
    // Kaplan et al.: C ≈ 6N + 6 · 2 · layers · context · dAttn (QKᵀ and p·v), plus the de-embedding.
    const kaplan = 6 * n + 12 * 12 * 1024 * 768;
    expect(flopsPerToken.training - 6 * 768 * 50257).toBe(kaplan);
  });

  it('memory: KV cache and parameters; GQA shrinks the cache by heads / kvHeads', () => {
    const { memory } = modelCost(gpt2Small, { context: 1024, batch: 2 });
    expect(memory.kvCacheBytesPerToken).toBe(2 * 12 * 768 * 4);
    expect(memory.kvCacheBytes).toBe(2 * 12 * 768 * 4 * 1024 * 2);
    expect(memory.parameterBytes).toBe(124_439_808 * 4);
    expect(memory.trainingActivationBytes).toBeGreaterThan(memory.kvCacheBytes);
    const mha = modelCost(
      llamaConfig({
        vocabSize: 100,
        maxLength: 64,
        dModel: 64,
        numLayers: 2,
        numHeads: 8,
        hidden: 172,
      }),
    );
    const gqa = modelCost(
      llamaConfig({
        vocabSize: 100,
        maxLength: 64,
        dModel: 64,
        numLayers: 2,
        numHeads: 8,
        numKvHeads: 2,
        hidden: 172,
      }),
    );
    expect(mha.memory.kvCacheBytesPerToken / gqa.memory.kvCacheBytesPerToken).toBe(4);
  });

  it('matches the parameters of built models (GPT-2 and Llama styles)', () => {
    for (const config of [
      gpt2Config({ vocabSize: 30, maxLength: 16, dModel: 16, numLayers: 2, numHeads: 4 }),
      llamaConfig({
        vocabSize: 30,
        maxLength: 16,
        dModel: 16,
        numLayers: 2,
        numHeads: 4,
        numKvHeads: 2,
        hidden: 24,
      }),
      {
        ...llamaConfig({
          vocabSize: 30,
          maxLength: 16,
          dModel: 16,
          numLayers: 1,
          numHeads: 4,
          hidden: 24,
        }),
        positions: 'alibi' as const,
      },
    ]) {
      const params = initDecoderLm(config, 0);
      expect(countParameters(params)).toBe(modelCost(config).parameters.total);
      tf.dispose(params as unknown as tf.TensorContainer);
    }
  });
});

describe('energyEstimate', () => {
  it('from a measured step time: 0.5 s for 1,000 tokens at 300 W, PUE 1.1, 400 g/kWh', () => {
    const e = energyEstimate(
      { stepSeconds: 0.5, tokensPerStep: 1000 },
      { watts: 300, powerUsageEffectiveness: 1.1, gridGramsPerKwh: 400 },
    );
    expect(e.secondsPer1000Tokens).toBeCloseTo(0.5, 12);
    expect(e.joulesPer1000Tokens).toBeCloseTo(165, 9);
    expect(e.kwhPer1000Tokens).toBeCloseTo(165 / 3.6e6, 15);
    expect(e.co2GramsPer1000Tokens).toBeCloseTo((165 / 3.6e6) * 400, 15);
  });

  it('from peak FLOP/s and utilization', () => {
    const e = energyEstimate(
      { flopsPerToken: 1e9, peakFlops: 1e12, utilization: 0.5 },
      { watts: 100 },
    );
    expect(e.secondsPer1000Tokens).toBeCloseTo(2, 12); // 1e12 FLOPs at 5e11 FLOP/s
    expect(e.joulesPer1000Tokens).toBeCloseTo(200, 9);
  });
});

describeRejections('cost accounting rejects bad input with a TfjsBlocksError', () => [
  [
    'zero watts',
    () => energyEstimate({ stepSeconds: 1, tokensPerStep: 1 }, { watts: 0 }),
    /options.watts must be a finite number in \(0, inf\); got 0/,
  ],
  [
    'utilization above 1',
    () => energyEstimate({ flopsPerToken: 1, peakFlops: 1, utilization: 2 }, { watts: 1 }),
    /source.utilization must be a finite number in \(0, 1\]; got 2/,
  ],
  [
    'PUE below 1',
    () =>
      energyEstimate(
        { stepSeconds: 1, tokensPerStep: 1 },
        { watts: 1, powerUsageEffectiveness: 0.5 },
      ),
    /options.powerUsageEffectiveness must be a finite number in \[1, inf\); got 0.5/,
  ],
  [
    'context of 0',
    () => modelCost(gpt2Small, { context: 0 }),
    /options.context must be an integer >= 1; got number 0/,
  ],
]);
