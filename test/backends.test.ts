import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { type BackendName, TfjsBlocksError, useBackend } from '../src/index';
import { startScript } from './helpers/child-process';

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

  it('leaves Node to report a later uncaught error, without the wasm module’s minified source', async () => {
    const run = startScript('test/fixtures/backends/throw-after-wasm.ts', [], process.cwd());
    expect(await run.exit).toBe(1);
    expect(run.output()).toMatch(/Error: the user’s own error/);
    expect(run.output()).not.toMatch(/WasmBackendModule/);
    expect(run.output().length).toBeLessThan(5_000);
  }, 60_000);
});
