import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe } from 'vitest';

/** The backends every numeric test runs on. */
export const TEST_BACKENDS = ['cpu', 'wasm'] as const;
export type TestBackend = (typeof TEST_BACKENDS)[number];

/**
 * Declares `body` once per backend, as `describe('<title> [cpu]')` and so on;
 * the backend is switched before the suite's tests run.
 */
export function describeEachBackend(
  title: string,
  body: (backend: TestBackend) => void,
  backends: readonly TestBackend[] = TEST_BACKENDS,
): void {
  for (const backend of backends) {
    describe(`${title} [${backend}]`, () => {
      beforeAll(async () => {
        const ok = await tf.setBackend(backend);
        if (!ok || tf.getBackend() !== backend)
          throw new Error(`backend ${backend} failed to start`);
        await tf.ready();
      });
      body(backend);
    });
  }
}
