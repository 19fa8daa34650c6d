import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { generate, gpt2Config, initDecoderLm } from '../../src/index';
import { nextTask } from '../../src/internal/next-task';
import { maximumOfTensors, sumTensors } from '../../src/internal/reduce';

describe('sumTensors / maximumOfTensors (kernels of few inputs, for WebGPU)', () => {
  for (const count of [1, 2, 7, 8, 15, 50]) {
    it(`reduce ${count} tensors exactly`, () => {
      tf.tidy(() => {
        const tensors = Array.from({ length: count }, (_, i) => tf.fill([2], i + 1));
        expect(Array.from(sumTensors(tensors).dataSync())).toEqual([
          (count * (count + 1)) / 2,
          (count * (count + 1)) / 2,
        ]);
        expect(Array.from(maximumOfTensors(tensors).dataSync())).toEqual([count, count]);
      });
    });
  }
});

describe('nextTask', () => {
  it('lets a macrotask scheduled before it run first (a resolved promise would not)', async () => {
    const order: string[] = [];
    setImmediate(() => order.push('host'));
    await Promise.resolve();
    order.push('microtask');
    await nextTask();
    order.push('next task');
    expect(order).toEqual(['microtask', 'host', 'next task']);
  });

  it('generate gives the host a turn between streamed tokens', async () => {
    const config = gpt2Config({
      vocabSize: 8,
      maxLength: 16,
      dModel: 8,
      numLayers: 1,
      numHeads: 2,
    });
    const params = initDecoderLm(config, 0);
    // A self-rescheduling immediate runs once per event-loop turn.
    let hostTurns = 0;
    let running = true;
    const tick = () => {
      hostTurns += 1;
      if (running) setImmediate(tick);
    };
    setImmediate(tick);
    const turnsAtToken: number[] = [];
    await generate({ kind: 'decoderLm', config, params }, [[1]], {
      maxNewTokens: 6,
      temperature: 0,
      onToken: () => turnsAtToken.push(hostTurns),
    });
    running = false;
    tf.dispose(params as unknown as tf.TensorContainer);
    expect(turnsAtToken).toHaveLength(6);
    for (let i = 1; i < 6; i++) expect(turnsAtToken[i]!).toBeGreaterThan(turnsAtToken[i - 1]!);
  });
});
