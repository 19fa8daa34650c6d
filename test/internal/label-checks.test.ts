// The id / label range check (src/internal/label-checks.ts): a check that passed
// is remembered per tensor data, so the same labels are read once; on WebGPU
// (simulated here on cpu) labels whose values are only on the GPU are not read.
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  embed,
  perplexity,
  softmaxCrossEntropy,
  TfjsBlocksError,
  tokenAccuracy,
} from '../../src/index';
import { hostValues } from '../../src/internal/host-values';
import { checkClassLabels } from '../../src/internal/label-checks';
import { describeEachBackend } from '../helpers/backends';

const int = (values: number[], shape?: number[]) => tf.tensor(values, shape, 'int32');

describeEachBackend('checkClassLabels remembers passed checks', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('reads the labels once for repeated losses and metrics on the same tensor', () => {
    const logits = tf.randomNormal([2, 3, 5], 0, 1, 'float32', 1);
    const labels = int([0, 4, -100, 2, 1, 3], [2, 3]);
    const reads = vi.spyOn(labels, 'dataSync');
    tf.dispose([
      softmaxCrossEntropy(logits, labels),
      softmaxCrossEntropy(logits, labels, { labelSmoothing: 0.1 }),
      perplexity(logits, labels),
      tokenAccuracy(logits, labels),
    ]);
    expect(reads).toHaveBeenCalledTimes(1);
    tf.dispose([logits, labels]);
  });

  it('reads ids once for a forward and a gradient pass of embed', () => {
    const table = tf.randomNormal([6, 4], 0, 1, 'float32', 2);
    const ids = int([5, 0, 3], [3]);
    const reads = vi.spyOn(ids, 'dataSync');
    const config = { numEmbeddings: 6, embeddingDim: 4 };
    const grad = tf.grad((t: tf.Tensor) => tf.sum(embed(config, { table: t as tf.Tensor2D }, ids)));
    tf.dispose([embed(config, { table: table as tf.Tensor2D }, ids), grad(table)]);
    expect(reads).toHaveBeenCalledTimes(1);
    tf.dispose([table, ids]);
  });

  it('answers a wider range from memory and reads again for a narrower one', () => {
    const labels = int([0, 4, 2]);
    const reads = vi.spyOn(labels, 'dataSync');
    checkClassLabels('f', 'labels', labels, [3], 5);
    checkClassLabels('f', 'labels', labels, [3], 8);
    expect(reads).toHaveBeenCalledTimes(1);
    // Another ignoreIndex is another check.
    checkClassLabels('f', 'labels', labels, [3], 5, -1);
    expect(reads).toHaveBeenCalledTimes(2);
    expect(() => checkClassLabels('f', 'labels', labels, [3], 4)).toThrow(
      /labels must be an int32 tensor of shape \[3\] with values in \[0, 4\); got 4 at flat index 1/,
    );
    expect(reads).toHaveBeenCalledTimes(3);
    labels.dispose();
  });

  it('still throws the typed error for a bad label, every time', () => {
    const logits = tf.zeros([2, 3]);
    const labels = int([0, 3]);
    for (let i = 0; i < 2; i++) {
      expect(() => softmaxCrossEntropy(logits, labels)).toThrow(TfjsBlocksError);
      expect(() => softmaxCrossEntropy(logits, labels)).toThrow(/got 3 at flat index 1/);
    }
    tf.dispose([logits, labels]);
  });

  it('checks a Variable again after assign gives it bad values', () => {
    const table = tf.randomNormal([4, 2], 0, 1, 'float32', 3) as tf.Tensor2D;
    const initial = int([0, 3]);
    const ids = tf.variable(initial, false);
    const config = { numEmbeddings: 4, embeddingDim: 2 };
    tf.dispose(embed(config, { table }, ids));
    const bad = int([1, 4]);
    ids.assign(bad);
    expect(() => embed(config, { table }, ids)).toThrow(TfjsBlocksError);
    expect(() => embed(config, { table }, ids)).toThrow(
      /ids must be an int32 tensor of shape \[2\] with values in \[0, 4\); got 4 at flat index 1/,
    );
    tf.dispose([table, ids, bad, initial]);
  });
});

describe('checkClassLabels on WebGPU (simulated on cpu)', () => {
  /**
   * Makes the cpu backend pass for 'webgpu' and gives it a webgpu-like
   * `tensorMap` whose entries hold `values` (null: the data is only on the GPU).
   */
  function asWebGpu(values: ArrayLike<number> | null | 'no tensorMap'): () => void {
    const e = tf.engine();
    const cpu = e.findBackend('cpu') as unknown as Record<string, unknown>;
    const registry = e.registry as Record<string, unknown>;
    const previous = registry.webgpu;
    registry.webgpu = cpu;
    if (values !== 'no tensorMap') cpu.tensorMap = { has: () => true, get: () => ({ values }) };
    return () => {
      if (previous === undefined) delete registry.webgpu;
      else registry.webgpu = previous;
      delete cpu.tensorMap;
    };
  }

  it('uses the CPU copy when the backend keeps one, and never calls dataSync', async () => {
    await tf.setBackend('cpu');
    const labels = int([0, 7]);
    const reads = vi.spyOn(labels, 'dataSync');
    const restore = asWebGpu(Int32Array.from([0, 7]));
    try {
      expect(Array.from(hostValues(labels)!)).toEqual([0, 7]);
      expect(() => checkClassLabels('f', 'labels', labels, [2], 5)).toThrow(
        /got 7 at flat index 1/,
      );
      expect(reads).not.toHaveBeenCalled();
    } finally {
      restore();
      vi.restoreAllMocks();
      labels.dispose();
    }
  });

  it('skips the check of GPU-only labels never checked, without reading', async () => {
    await tf.setBackend('cpu');
    const labels = int([0, 7]);
    const reads = vi.spyOn(labels, 'dataSync');
    for (const state of [null, 'no tensorMap'] as const) {
      const restore = asWebGpu(state);
      try {
        expect(hostValues(labels)).toBeUndefined();
        expect(checkClassLabels('f', 'labels', labels, [2], 5)).toBe(labels);
      } finally {
        restore();
      }
    }
    expect(reads).not.toHaveBeenCalled();
    vi.restoreAllMocks();
    labels.dispose();
  });

  it('answers GPU-only labels checked before from memory, pass or fail', async () => {
    await tf.setBackend('cpu');
    const labels = int([0, 7]);
    checkClassLabels('f', 'labels', labels, [2], 10); // read on cpu: max 7
    const reads = vi.spyOn(labels, 'dataSync');
    const restore = asWebGpu(null);
    try {
      expect(checkClassLabels('f', 'labels', labels, [2], 8)).toBe(labels);
      expect(() => checkClassLabels('f', 'labels', labels, [2], 5)).toThrow(
        /labels must be an int32 tensor of shape \[2\] with values in \[0, 5\); got a value 7/,
      );
      expect(reads).not.toHaveBeenCalled();
    } finally {
      restore();
      vi.restoreAllMocks();
      labels.dispose();
    }
  });
});
