import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { rotaryInverseFrequencies } from '../../src/attention/rotary-embedding';
import {
  applyRotaryEmbedding,
  initMultiHeadAttention,
  multiHeadAttention,
  type RopeScaling,
} from '../../src/index';
import { expectClose } from '../helpers/close';
import { thrownWithoutLeak } from '../helpers/rejections';

describe('RoPE scaling', () => {
  it("llama3: transformers' inverse frequencies (high kept, low divided, middle smoothed)", () => {
    // head 8 (4 frequencies), base 10000: wavelengths 2π, 20π, 200π, 2000π;
    // original 16, low 1, high 4: 2π is between 16/4 and 16/1 → smoothed.
    const scaling: RopeScaling = {
      kind: 'llama3',
      factor: 8,
      lowFreqFactor: 1,
      highFreqFactor: 4,
      originalMaxLength: 16,
    };
    const got = rotaryInverseFrequencies(4, 10000, scaling);
    const s = (16 / (2 * Math.PI) - 1) / 3;
    const want = [(1 - s) / 8 + s, 0.1 / 8, 0.01 / 8, 0.001 / 8];
    for (const [i, v] of got.entries()) expect(v).toBeCloseTo(want[i]!, 12);
  });

  it('linear divides every frequency; llama3 with a tiny original length is linear', () => {
    const linear = rotaryInverseFrequencies(4, 500, { kind: 'linear', factor: 2 });
    expect(linear).toEqual(rotaryInverseFrequencies(4, 500).map((f) => f / 2));
    const x = tf.randomNormal([1, 2, 5, 8], 0, 1, 'float32', 1) as tf.Tensor4D;
    const a = applyRotaryEmbedding(x, { scaling: { kind: 'linear', factor: 3 } });
    const b = applyRotaryEmbedding(x, {
      scaling: {
        kind: 'llama3',
        factor: 3,
        lowFreqFactor: 1,
        highFreqFactor: 2,
        originalMaxLength: 1,
      },
    });
    expectClose(a, b, { rtol: 0, atol: 1e-6 });
    tf.dispose([x, a, b]);
  });

  it('leaves only its output', () => {
    const x = tf.ones([1, 1, 3, 4]) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const y = applyRotaryEmbedding(x, { scaling: { kind: 'linear', factor: 2 } });
    expect(tf.memory().numTensors).toBe(before + 1);
    tf.dispose([x, y]);
  });

  it('bad scalings name the field, in options and in a block config', () => {
    const x = tf.ones([1, 1, 3, 4]) as tf.Tensor4D;
    const bad: [unknown, string][] = [
      [{ kind: 'yarn', factor: 2 }, 'options.scaling.kind'],
      [{ kind: 'linear', factor: 0 }, 'options.scaling.factor'],
      [{ kind: 'linear', factor: 2, lowFreqFactor: 1 }, 'options.scaling.lowFreqFactor'],
      [
        { kind: 'llama3', factor: 2, lowFreqFactor: 4, highFreqFactor: 1, originalMaxLength: 8 },
        'options.scaling.highFreqFactor',
      ],
      [
        { kind: 'llama3', factor: 2, lowFreqFactor: 1, highFreqFactor: 4, originalMaxLength: 0.5 },
        'options.scaling.originalMaxLength',
      ],
      ['linear', 'options.scaling'],
    ];
    for (const [scaling, argument] of bad) {
      const e = thrownWithoutLeak(() => applyRotaryEmbedding(x, { scaling: scaling as never }));
      expect(e.argument).toBe(argument);
    }
    const config = { dModel: 4, numHeads: 1 };
    const params = initMultiHeadAttention(config, 0);
    const h = tf.ones([1, 3, 4]) as tf.Tensor3D;
    const e = thrownWithoutLeak(() =>
      multiHeadAttention(config, params, h, { rope: { scaling: { kind: 'ntk' } as never } }),
    );
    expect(e.argument).toBe('options.rope.scaling.kind');
    tf.dispose([x, h, Object.values(params).flatMap((p) => Object.values(p))]);
  });
});

describe('attention outputBias (Qwen2: q/k/v biases, none on the output)', () => {
  it('init makes no output bias, the forward rejects one, and a missing q bias is named', () => {
    const config = { dModel: 8, numHeads: 2, useBias: true, outputBias: false };
    const params = initMultiHeadAttention(config, 0);
    expect(params.query.bias).toBeDefined();
    expect(params.output.bias).toBeUndefined();
    const x = tf.ones([1, 3, 8]) as tf.Tensor3D;
    const before = tf.memory().numTensors;
    const y = multiHeadAttention(config, params, x, { causal: true });
    expect(tf.memory().numTensors).toBe(before + 1);
    const extra = tf.zeros([8]) as tf.Tensor1D;
    const withBias = { ...params, output: { ...params.output, bias: extra } };
    expect(thrownWithoutLeak(() => multiHeadAttention(config, withBias, x)).argument).toBe(
      'params.output.bias',
    );
    const noQueryBias = { ...params, query: { kernel: params.query.kernel } };
    expect(thrownWithoutLeak(() => multiHeadAttention(config, noQueryBias, x)).argument).toBe(
      'params.query.bias',
    );
    tf.dispose([x, y, extra, Object.values(params).flatMap((p) => Object.values(p))]);
  });
});
