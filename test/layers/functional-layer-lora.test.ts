// The `lora` option every FunctionalLayer takes: frozen layer weights, the
// adapter's as the only trainable ones, model.fit trains only them, and the
// option serializes with the layer.
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { describe, expect, it } from 'vitest';
import { MultiHeadAttention, TransformerDecoderBlock } from '../../src/layers/index';
import { roundTrip } from '../helpers/layers';
import { thrownWithoutLeak } from '../helpers/rejections';

const blockArgs = {
  numHeads: 4,
  norm: { kind: 'rms' as const },
  feedForward: { hidden: 24, kind: 'gated' as const, activation: 'silu' as const },
};

describe('FunctionalLayer lora option', () => {
  it('freezes the layer weights; the adapter weights are the only trainable ones', () => {
    const plain = new MultiHeadAttention({ numHeads: 2, seed: 3 });
    const adapted = new MultiHeadAttention({
      numHeads: 2,
      seed: 3,
      lora: { config: { r: 2, targetModules: ['query', 'value'] }, seed: 1 },
    });
    const x = tf.randomNormal([2, 5, 8], 0, 1, 'float32', 4);
    const y0 = plain.apply(x) as tf.Tensor;
    const y1 = adapted.apply(x) as tf.Tensor;
    // b starts at zero: the adapted layer equals the plain one.
    expect(tf.max(tf.abs(tf.sub(y0, y1))).dataSync()[0]).toBe(0);
    expect(adapted.trainableWeights.map((w) => w.originalName.split('/').pop())).toEqual([
      'lora.modules.query.a',
      'lora.modules.query.b.0',
      'lora.modules.value.a',
      'lora.modules.value.b.0',
    ]);
    expect(adapted.nonTrainableWeights.length).toBe(plain.trainableWeights.length);
    tf.dispose([x, y0, y1]);
    plain.dispose();
    adapted.dispose();
  });

  it('model.fit moves only the adapter, and the option round-trips', async () => {
    const input = tfl.input({ shape: [6, 16] });
    const block = new TransformerDecoderBlock({
      ...blockArgs,
      seed: 2,
      lora: { config: { r: 4, alpha: 8, targetModules: 'all-linear' }, seed: 5 },
    });
    const h = tfl.layers.add().apply([input, block.apply(input) as tfl.SymbolicTensor]);
    const model = tfl.model({
      inputs: input,
      outputs: tfl.layers
        .dense({ units: 1, trainable: false })
        .apply(h as tfl.SymbolicTensor) as tfl.SymbolicTensor,
    });
    model.compile({ optimizer: tf.train.adam(1e-2), loss: 'meanSquaredError' });
    const x = tf.randomNormal([32, 6, 16], 0, 1, 'float32', 11);
    const y = tf.sum(tf.slice(x, [0, 0, 0], [-1, -1, 2]), -1, true);
    const frozen = block.nonTrainableWeights.map((w) => tf.clone(w.read()));
    const loraBefore = block.trainableWeights.map((w) => tf.clone(w.read()));
    const history = await model.fit(x, y, { epochs: 15, batchSize: 8, verbose: 0 });
    const losses = history.history.loss as number[];
    expect(losses[losses.length - 1]!).toBeLessThan(losses[0]!);
    const same = (a: tf.Tensor, b: tf.Tensor) =>
      tf.tidy(() => tf.all(tf.equal(a, b)).dataSync()[0] === 1);
    expect(block.nonTrainableWeights.every((w, i) => same(w.read(), frozen[i]!))).toBe(true);
    expect(block.trainableWeights.some((w, i) => !same(w.read(), loraBefore[i]!))).toBe(true);
    expect(block.getConfig().lora).toEqual({
      config: { r: 4, alpha: 8, targetModules: 'all-linear' },
      seed: 5,
    });
    const loaded = await roundTrip(model);
    const a = loaded.predict(x) as tf.Tensor;
    const b = model.predict(x) as tf.Tensor;
    expect(tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]).toBe(0);
    tf.dispose([x, y, a, b, ...frozen, ...loraBefore]);
    model.dispose();
    loaded.dispose();
  });

  it('rejects bad lora args, naming them', () => {
    const bad = (lora: unknown) =>
      thrownWithoutLeak(() => new MultiHeadAttention({ numHeads: 2, lora } as never)).argument;
    expect(bad({ config: { r: 0, targetModules: ['query'] } })).toBe('args.lora.config.r');
    expect(bad({ config: { targetModules: ['query'], dropout: 0.1 } })).toBe(
      'args.lora.config.dropout',
    );
    expect(bad({ config: { targetModules: ['query'] }, seed: 0.5 })).toBe('args.lora.seed');
    expect(bad({ config: { targetModules: ['query'] }, rank: 2 })).toBe('args.lora.rank');
    // A target the layer does not have fails at build, with nothing left behind.
    const layer = new MultiHeadAttention({
      numHeads: 2,
      lora: { config: { targetModules: ['c_attn'] } },
    });
    const x = tf.ones([1, 3, 8]);
    expect(thrownWithoutLeak(() => layer.apply(x)).argument).toBe('config.targetModules');
    x.dispose();
  });
});
