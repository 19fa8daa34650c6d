import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { type BackendName, TfjsBlocksError, useBackend } from '../../src/index';

describe('useBackend', () => {
  afterAll(async () => {
    await tf.setBackend('cpu');
  });

  it('starts cpu and wasm by name', async () => {
    expect(await useBackend('wasm')).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(await useBackend('cpu')).toBe('cpu');
  });

  it('says what to install when a backend package is missing (tfjs-node cannot install here)', async () => {
    await expect(useBackend('tensorflow')).rejects.toThrow(TfjsBlocksError);
    await expect(useBackend('tensorflow')).rejects.toThrow(/npm install @tensorflow\/tfjs-node\)/);
    await expect(useBackend('tensorflow-gpu')).rejects.toThrow(
      /npm install @tensorflow\/tfjs-node-gpu\)/,
    );
  });

  it('rejects unknown names', async () => {
    await expect(useBackend('metal' as BackendName)).rejects.toThrow(
      /name must be 'cpu', 'wasm', 'webgl', 'webgpu', 'tensorflow', 'tensorflow-gpu'; got metal/,
    );
  });
});
