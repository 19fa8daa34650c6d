import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { initLora, type LoraAdapter, loraTensors, withLora } from '../../src/fine-tuning/lora';
import { perExampleAdapterGradients, privateAdapterGradients } from '../../src/fine-tuning/private';
import { softmaxCrossEntropy } from '../../src/losses/softmax-cross-entropy';
import { decoderLm, gpt2Config, initDecoderLm } from '../../src/models/decoder-lm';
import { flattenParams, unflattenParams } from '../../src/tree/flatten';
import { expectNoLeak } from '../helpers/leaks';
import { thrownWithoutLeak } from '../helpers/rejections';

const config = gpt2Config({ vocabSize: 17, maxLength: 8, dModel: 8, numHeads: 2, numLayers: 2 });
const base = initDecoderLm(config, 0);

/** An adapter with random (non-zero) b, so that both factors get gradients. */
function randomized(adapter: LoraAdapter, seed: number): LoraAdapter {
  const tensors = loraTensors(adapter);
  const values = Object.fromEntries(
    Object.entries(tensors).map(([name, t], i) => [
      name,
      tf.randomNormal(t.shape, 0, 0.5, 'float32', seed + i),
    ]),
  );
  return unflattenParams(adapter, values);
}

// LoRA on every query and value projection (our dotted paths), and GPT-2's
// fused c_attn (one a shared by q, k, v; one b each).
const adapter = randomized(
  initLora(base, { r: 2, alpha: 4, targetModules: '.*attention\\.(query|value)' }, 1),
  10,
);
const fused = randomized(
  initLora(
    { kind: 'decoder-lm', modelType: 'gpt2', config, params: base },
    { r: 2, alpha: 4, targetModules: ['c_attn'] },
    2,
  ),
  20,
);
const adapterPaths = Object.keys(loraTensors(adapter));
const ids = tf.tensor2d(
  [
    [1, 2, 3, 4, 5, 6],
    [7, 8, 9, 10, 11, 12],
    [3, 3, 3, 3, 3, 3],
    [16, 0, 5, 9, 2, 1],
  ],
  undefined,
  'int32',
);
const labels = tf.tensor2d(
  [
    [-100, -100, 3, 4, 5, 6],
    [-100, 8, 9, 10, 11, -100],
    [3, 3, 3, 3, 3, 3],
    [-100, -100, -100, -100, 2, 1],
  ],
  undefined,
  'int32',
);
const batch = { ids, labels };

afterAll(() => {
  tf.dispose([ids, labels]);
});

/** The gradient of the mean of the rows' own masked mean losses, by direct differentiation. */
function directGradient(rows: number[], which: LoraAdapter = adapter): Record<string, tf.Tensor> {
  return tf.tidy(() => {
    const names = Object.keys(loraTensors(which));
    const xs = names.map((n) => loraTensors(which)[n]!);
    const f = (...ws: tf.Tensor[]) => {
      const trained = unflattenParams(which, Object.fromEntries(names.map((n, i) => [n, ws[i]!])));
      const adapted = withLora(base, trained);
      const total = rows
        .map((r) => {
          const id = tf.slice(ids, [r, 0], [1, 6]);
          const logits = tf.slice(decoderLm(config, adapted, id), [0, 0, 0], [1, 5, 17]);
          const target = tf.slice(labels, [r, 1], [1, 5]);
          return softmaxCrossEntropy(logits, target, { reduction: 'mean' });
        })
        .reduce((a, b) => tf.add(a, b));
      return tf.div(total, rows.length) as tf.Scalar;
    };
    const grads = tf.grads(f)(xs);
    return Object.fromEntries(names.map((p, i) => [p, grads[i]!]));
  });
}

function globalNorms(perExample: Record<string, tf.Tensor>, rows: number): number[] {
  return tf.tidy(() => {
    const squares = Object.values(perExample)
      .map((g) => tf.sum(tf.square(tf.reshape(g, [rows, -1])), 1))
      .reduce((a, b) => tf.add(a, b));
    return Array.from(tf.sqrt(squares).dataSync());
  });
}

describe('perExampleAdapterGradients', () => {
  it('gives each example the gradient of its own masked loss, for the LoRA factors only', () => {
    const perExample = perExampleAdapterGradients(config, base, adapter, batch);
    expect(Object.keys(perExample).sort()).toEqual([...adapterPaths].sort());
    for (let r = 0; r < 4; r++) {
      const direct = directGradient([r]);
      for (const path of adapterPaths) {
        const row = tf.squeeze(tf.slice(perExample[path]!, [r], [1]), [0]);
        const diff = tf.max(tf.abs(tf.sub(row, direct[path]!))).dataSync()[0]!;
        const scale = tf.max(tf.abs(direct[path]!)).dataSync()[0]!;
        expect(diff, `${path} example ${r}`).toBeLessThanOrEqual(1e-5 * Math.max(scale, 1e-3));
        tf.dispose([row]);
      }
      tf.dispose(Object.values(direct));
    }
    tf.dispose(Object.values(perExample));
  });

  it('microbatches hold the gradient of their mean loss', () => {
    const perExample = perExampleAdapterGradients(config, base, adapter, batch, {
      microbatchSize: 2,
    });
    const path = adapterPaths[0]!;
    expect(perExample[path]!.shape[0]).toBe(2);
    const direct = directGradient([2, 3]);
    const row = tf.squeeze(tf.slice(perExample[path]!, [1], [1]), [0]);
    const diff = tf.max(tf.abs(tf.sub(row, direct[path]!))).dataSync()[0]!;
    expect(diff).toBeLessThan(1e-6);
    tf.dispose([row, ...Object.values(direct), ...Object.values(perExample)]);
  });

  it("gives a fused module's shared a one gradient (GPT-2 c_attn)", () => {
    const perExample = perExampleAdapterGradients(config, base, fused, batch);
    const names = Object.keys(loraTensors(fused));
    expect(Object.keys(perExample).sort()).toEqual([...names].sort());
    expect(names).toContain('modules.transformer.h.0.attn.c_attn.b.2');
    for (const r of [0, 3]) {
      const direct = directGradient([r], fused);
      for (const name of names) {
        const row = tf.squeeze(tf.slice(perExample[name]!, [r], [1]), [0]);
        const diff = tf.max(tf.abs(tf.sub(row, direct[name]!))).dataSync()[0]!;
        const scale = tf.max(tf.abs(direct[name]!)).dataSync()[0]!;
        expect(diff, `${name} example ${r}`).toBeLessThanOrEqual(1e-5 * Math.max(scale, 1e-3));
        row.dispose();
      }
      tf.dispose(Object.values(direct));
    }
    tf.dispose(Object.values(perExample));
  });

  it('leaves no tensor behind', () => {
    expectNoLeak(() =>
      perExampleAdapterGradients(config, base, adapter, batch, { microbatchSize: 2 }),
    );
  });
});

describe('privateAdapterGradients', () => {
  const dp = { l2NormClip: 0.05, seed: 7, step: 3 };

  it('without noise, is the mean of the per-example gradients clipped to norm C', () => {
    const perExample = perExampleAdapterGradients(config, base, adapter, batch);
    const norms = globalNorms(perExample, 4);
    // The clip binds on some examples and not on others (else the test proves less).
    expect(norms.some((n) => n > dp.l2NormClip)).toBe(true);
    const factors = norms.map((n) => Math.min(1, dp.l2NormClip / n));
    const noiseless = privateAdapterGradients(config, base, adapter, batch, {
      ...dp,
      noiseMultiplier: 0,
    });
    for (const path of adapterPaths) {
      const expected = tf.tidy(() => {
        const g = perExample[path]!;
        const w = tf.reshape(tf.tensor1d(factors), [4, ...g.shape.slice(1).map(() => 1)]);
        return tf.div(tf.sum(tf.mul(g, w), 0), 4);
      });
      const diff = tf.max(tf.abs(tf.sub(noiseless[path]!, expected))).dataSync()[0]!;
      expect(diff, path).toBeLessThan(1e-7);
      expected.dispose();
    }
    // Each clipped example contributes at most C: the mean's norm is at most C.
    const meanNorm = globalNorms(
      Object.fromEntries(Object.entries(noiseless).map(([k, v]) => [k, tf.expandDims(v, 0)])),
      1,
    )[0]!;
    expect(meanNorm).toBeLessThanOrEqual(dp.l2NormClip * (1 + 1e-6));
    tf.dispose([...Object.values(perExample), ...Object.values(noiseless)]);
  });

  it('adds noise of standard deviation σ·C / batch to every coordinate, fresh each step', () => {
    const sigma = 3;
    const noiseless = privateAdapterGradients(config, base, adapter, batch, {
      ...dp,
      noiseMultiplier: 0,
    });
    const noisy = privateAdapterGradients(config, base, adapter, batch, {
      ...dp,
      noiseMultiplier: sigma,
    });
    const again = privateAdapterGradients(config, base, adapter, batch, {
      ...dp,
      noiseMultiplier: sigma,
    });
    const next = privateAdapterGradients(config, base, adapter, batch, {
      ...dp,
      noiseMultiplier: sigma,
      step: 4,
    });
    const noise = tf.tidy(() =>
      tf.concat(adapterPaths.map((p) => tf.reshape(tf.sub(noisy[p]!, noiseless[p]!), [-1]))),
    );
    const values = Array.from(noise.dataSync());
    const n = values.length; // 2 layers × 2 linears × (8·2 + 2·8) = 128 coordinates
    const mean = values.reduce((a, b) => a + b, 0) / n;
    const std = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1));
    const expected = (sigma * dp.l2NormClip) / 4;
    // The sample std of n normals is within 5/√(2n) ≈ 31% relative (5 standard errors); the mean within 5σ/√n.
    expect(Math.abs(std / expected - 1)).toBeLessThan(5 / Math.sqrt(2 * n));
    expect(Math.abs(mean)).toBeLessThan((5 * expected) / Math.sqrt(n));
    const path = adapterPaths[0]!;
    expect(Array.from(again[path]!.dataSync())).toEqual(Array.from(noisy[path]!.dataSync()));
    expect(Array.from(next[path]!.dataSync())).not.toEqual(Array.from(noisy[path]!.dataSync()));
    tf.dispose([noise, ...[noiseless, noisy, again, next].flatMap((m) => Object.values(m))]);
  });

  it('leaves no tensor behind', () => {
    expectNoLeak(() =>
      privateAdapterGradients(config, base, adapter, batch, { ...dp, noiseMultiplier: 1 }),
    );
  });
});

describe('adapter gradients reject bad input, naming the argument', () => {
  const good = { l2NormClip: 1, noiseMultiplier: 1, seed: 0, step: 0 };
  const floatIds = tf.zeros([4, 6]);
  const shortIds = tf.zeros([4, 1], 'int32');
  const otherLabels = tf.zeros([4, 5], 'int32');
  const otherConfig = gpt2Config({
    vocabSize: 17,
    maxLength: 8,
    dModel: 4,
    numHeads: 2,
    numLayers: 2,
  });
  const other = initDecoderLm(otherConfig, 0);
  afterAll(() =>
    tf.dispose([floatIds, shortIds, otherLabels, ...Object.values(flattenParams(other))]),
  );
  const cases: Array<[string, () => unknown, string]> = [
    [
      'an adapter made for another model',
      () => perExampleAdapterGradients(config, other, adapter, batch),
      'adapter.modules["blocks.0.attention.query"]',
    ],
    [
      'a microbatch that does not divide the batch',
      () => perExampleAdapterGradients(config, base, adapter, batch, { microbatchSize: 3 }),
      'options.microbatchSize',
    ],
    [
      'float ids',
      () => perExampleAdapterGradients(config, base, adapter, { ids: floatIds, labels }),
      'batch.ids',
    ],
    [
      'one token per row',
      () => perExampleAdapterGradients(config, base, adapter, { ids: shortIds, labels: shortIds }),
      'batch.ids.shape[1]',
    ],
    [
      'labels of another shape',
      () => perExampleAdapterGradients(config, base, adapter, { ids, labels: otherLabels }),
      'batch.labels',
    ],
    [
      'an unknown option',
      () => perExampleAdapterGradients(config, base, adapter, batch, { microbatch: 2 } as never),
      'options.microbatch',
    ],
    [
      'clip 0',
      () => privateAdapterGradients(config, base, adapter, batch, { ...good, l2NormClip: 0 }),
      'options.l2NormClip',
    ],
    [
      'negative noise',
      () => privateAdapterGradients(config, base, adapter, batch, { ...good, noiseMultiplier: -1 }),
      'options.noiseMultiplier',
    ],
    [
      'a fractional step',
      () => privateAdapterGradients(config, base, adapter, batch, { ...good, step: 1.5 }),
      'options.step',
    ],
    [
      'private: an adapter made for another model',
      () => privateAdapterGradients(config, other, adapter, batch, good),
      'adapter.modules["blocks.0.attention.query"]',
    ],
  ];
  for (const [name, call, argument] of cases) {
    it(name, () => {
      const error = thrownWithoutLeak(call);
      expect(error.argument).toBe(argument);
      expect(error.functionName).toMatch(/^(perExample|private)AdapterGradients$/);
    });
  }
});
