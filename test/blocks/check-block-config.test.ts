// checkBlockConfig validates each config object once (issue 17, item 8): a
// model runs every layer with the same config, forward pass after forward
// pass. A config edited in place is validated again; a bad one always throws.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it, vi } from 'vitest';
import { checkBlockConfig } from '../../src/blocks/transformer-block';
import {
  bertConfig,
  encoderClassifier,
  initEncoderClassifier,
  initTransformerEncoderBlock,
  type TransformerBlockConfig,
  transformerEncoderBlock,
} from '../../src/index';
import { TransformerEncoderBlock } from '../../src/layers/index';
import * as norm from '../../src/nn/norm';
import { thrownBy, thrownWithoutLeak } from '../helpers/rejections';

// Counts validations: every one checks the config's norm record once.
vi.mock('../../src/nn/norm', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../src/nn/norm')>();
  return { ...original, checkNormConfig: vi.fn(original.checkNormConfig) };
});
const validations = () => vi.mocked(norm.checkNormConfig).mock.calls.length;

const makeConfig = (): TransformerBlockConfig => ({
  dModel: 8,
  numHeads: 2,
  norm: { kind: 'layer' },
  feedForward: { hidden: 16, kind: 'mlp', activation: 'gelu' },
});

describe('checkBlockConfig', () => {
  it('returns the same frozen checked config for a config it has seen pass', () => {
    const config = makeConfig();
    const checked = checkBlockConfig('f', config);
    expect(checkBlockConfig('g', config)).toBe(checked);
    expect(Object.isFrozen(checked)).toBe(true);
    expect(checked.numKvHeads).toBe(2);
  });

  it('validates a block config once across forward passes', () => {
    const config = makeConfig();
    const params = initTransformerEncoderBlock(config, 0);
    const x = tf.zeros([1, 3, 8]) as tf.Tensor3D;
    const before = validations();
    for (let i = 0; i < 3; i++) transformerEncoderBlock(config, params, x).dispose();
    expect(validations() - before).toBe(0); // init validated it already
    tf.dispose([x, params as never]);
  });

  it('validates a model’s block config once, not per layer and forward pass', () => {
    const config = bertConfig({
      vocabSize: 10,
      maxLength: 8,
      dModel: 8,
      numLayers: 3,
      numHeads: 2,
      numClasses: 2,
    });
    const params = initEncoderClassifier(config, 0);
    const ids = tf.tensor2d([[1, 2, 3]], undefined, 'int32');
    encoderClassifier(config, params, ids).dispose();
    const before = validations();
    for (let i = 0; i < 3; i++) encoderClassifier(config, params, ids).dispose();
    expect(validations() - before).toBe(0);
    tf.dispose([ids, params as never]);
  });

  it('validates a Layer’s block config on its first call only', () => {
    const layer = new TransformerEncoderBlock({
      numHeads: 2,
      norm: { kind: 'layer' },
      feedForward: { hidden: 16, kind: 'mlp', activation: 'gelu' },
    });
    const x = tf.zeros([1, 3, 8]);
    (layer.apply(x) as tf.Tensor).dispose();
    const before = validations();
    for (let i = 0; i < 3; i++) (layer.apply(x) as tf.Tensor).dispose();
    expect(validations() - before).toBe(0);
    layer.dispose();
    x.dispose();
  });

  it('throws the same typed error for a bad config on every call', () => {
    const config = { ...makeConfig(), numHeads: 3 };
    for (let i = 0; i < 2; i++) {
      const error = thrownBy(() => checkBlockConfig('f', config));
      expect(error.argument).toBe('config.numHeads');
      expect(error.functionName).toBe('f');
    }
  });

  it('cuts a long normPosition in its message', () => {
    const config = { ...makeConfig(), normPosition: 'x'.repeat(100_000) as never };
    const error = thrownBy(() => checkBlockConfig('f', config));
    expect(error.argument).toBe('config.normPosition');
    expect(error.message.length).toBeLessThan(300);
  });

  it('validates again a config edited in place after it passed, nested records included', () => {
    const config = makeConfig();
    const params = initTransformerEncoderBlock(config, 0);
    const x = tf.zeros([1, 3, 8]) as tf.Tensor3D;
    transformerEncoderBlock(config, params, x).dispose();
    config.numHeads = 3;
    const top = thrownWithoutLeak(() => transformerEncoderBlock(config, params, x));
    expect(top.argument).toBe('config.numHeads');
    config.numHeads = 2;
    transformerEncoderBlock(config, params, x).dispose();
    (config.feedForward as { kind: string }).kind = 'gelu-mlp';
    const nested = thrownWithoutLeak(() => transformerEncoderBlock(config, params, x));
    expect(nested.argument).toBe('config.feedForward.kind');
    (config.norm as { typo?: number }).typo = 1;
    (config.feedForward as { kind: string }).kind = 'mlp';
    const key = thrownWithoutLeak(() => transformerEncoderBlock(config, params, x));
    expect(key.argument).toBe('config.norm.typo');
    tf.dispose([x, params as never]);
  });
});
