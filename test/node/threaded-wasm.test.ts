import { fileURLToPath } from 'node:url';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { TfjsBlocksError } from '../../src/errors';
import { decoderLm, gpt2Config, initDecoderLm, useBackend } from '../../src/index';
import { disposeThreadedWasm, useThreadedWasm } from '../../src/node/threaded-wasm';
import { floatSimdKernels } from '../../src/perf/float-simd';
import { disableWasmFastKernels, enableWasmFastKernels } from '../../src/perf/wasm-fast-kernels';
import { runScriptToCompletion } from '../helpers/child-process';
import { expectClose } from '../helpers/close';
import { expectNoLeak } from '../helpers/leaks';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CHILD = fileURLToPath(new URL('./threaded-wasm-child.ts', import.meta.url));

type WasmModule = {
  PThread?: { runningWorkers: unknown[]; unusedWorkers: unknown[] };
  wasmMemory?: WebAssembly.Memory;
};
const wasmModule = () => (tf.backend() as unknown as { wasm: WasmModule }).wasm;

afterAll(async () => {
  disableWasmFastKernels();
  await disposeThreadedWasm();
  await tf.setBackend('cpu');
});

const config = gpt2Config({ vocabSize: 97, maxLength: 64, dModel: 64, numLayers: 2, numHeads: 4 });

/**
 * Values of a few workloads, computed on the current backend from seeded
 * inputs: matMuls wide enough for XNNPACK to split over threads (plain,
 * transposed, batched, fused with bias and gelu), a conv2d, a GPT forward pass
 * over 24 tokens and its 1-token decode-shaped forward (the fast kernels' few-row path).
 */
function workloads(): Float32Array[] {
  return tf.tidy(() => {
    const a = tf.randomNormal([96, 300], 0, 1, 'float32', 1);
    const b = tf.randomNormal([300, 520], 0, 1, 'float32', 2);
    const bias = tf.randomNormal([520], 0, 1, 'float32', 3);
    const images = tf.randomNormal([2, 17, 19, 8], 0, 1, 'float32', 4) as tf.Tensor4D;
    const filters = tf.randomNormal([3, 3, 8, 16], 0, 1, 'float32', 5) as tf.Tensor4D;
    const params = initDecoderLm(config, 7);
    const tokens = tf.tensor2d(
      [Array.from({ length: 24 }, (_, i) => (i * 13) % 97)],
      undefined,
      'int32',
    );
    const outputs = [
      tf.matMul(a, b),
      tf.matMul(b, a, true, true),
      tf.matMul(tf.reshape(a, [3, 32, 300]), tf.stack([b, b, b])),
      tf.fused.matMul({ a, b, bias, activation: 'relu' }),
      tf.conv2d(images, filters, 1, 'same'),
      decoderLm(config, params, tokens),
      decoderLm(config, params, tf.slice(tokens, [0, 0], [1, 1])),
    ];
    return outputs.map((y) => y.dataSync() as Float32Array);
  });
}

describe('useThreadedWasm', () => {
  it('runs the wasm backend on the threaded build: same values as the single-threaded one, fast kernels included, no leak', async () => {
    await useBackend('wasm');
    const single = workloads();
    enableWasmFastKernels();
    const singleFast = workloads();
    disableWasmFastKernels();

    expect(await useThreadedWasm({ threads: 2 })).toBe(2);
    expect(tf.getBackend()).toBe('wasm');
    expect(getThreadsCount()).toBe(2);
    // One worker runs pthreadpool's second thread; the build's 7 other pre-started workers are gone.
    expect(wasmModule().PThread?.runningWorkers).toHaveLength(1);
    expect(wasmModule().PThread?.unusedWorkers).toHaveLength(0);
    const threaded = workloads();
    enableWasmFastKernels();
    // The float kernels instantiate on the shared heap (a shared-memory import).
    expect(floatSimdKernels(wasmModule().wasmMemory)).not.toBeNull();
    const threadedFast = workloads();
    for (let i = 0; i < single.length; i++) {
      expectClose(threaded[i]!, single[i]!);
      expectClose(threadedFast[i]!, singleFast[i]!);
    }
    const x = tf.randomNormal([3, 64], 0, 1, 'float32', 8);
    const w = tf.randomNormal([64, 200], 0, 1, 'float32', 9);
    expectNoLeak(() => tf.matMul(x, w));
    expectNoLeak(() => tf.matMul(w, x, true, true));
    tf.dispose([x, w]);
    disableWasmFastKernels();
  });

  it('keeps the backend and its tensors on a second call with the same threads', async () => {
    await useThreadedWasm({ threads: 2 });
    const before = tf.backend();
    const kept = tf.ones([4]);
    expect(await useThreadedWasm({ threads: 2 })).toBe(2);
    expect(tf.backend()).toBe(before);
    expect(Array.from(await kept.data())).toEqual([1, 1, 1, 1]);
    kept.dispose();
  });

  it('refuses to switch while the wasm backend holds tensors, naming it; switches once it holds none', async () => {
    await useThreadedWasm({ threads: 2 });
    const held = tf.ones([2]);
    const error = await useThreadedWasm({ threads: 1 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TfjsBlocksError);
    expect((error as TfjsBlocksError).argument).toBe('wasm backend');
    expect((error as TfjsBlocksError).actual).toContain('holding 1 tensor');
    held.dispose();
    expect(await useThreadedWasm({ threads: 1 })).toBe(1);
    expect(getThreadsCount()).toBe(1);
  });

  it('disposeThreadedWasm stops the threads and puts the stock single-threaded backend back', async () => {
    await useThreadedWasm({ threads: 2 });
    await disposeThreadedWasm();
    await disposeThreadedWasm();
    await useBackend('wasm');
    expect(wasmModule().PThread).toBeUndefined();
    expect(Array.from(await tf.add(tf.ones([2]), 1).data())).toEqual([2, 2]);
    tf.disposeVariables();
  });

  it('does not keep the process alive: a script that leaves the threads running exits', async () => {
    const output = await runScriptToCompletion(CHILD, [], ROOT);
    expect(output).toContain('product done on 2 threads: 32768 values of 256');
  });

  it('rejects bad options and a runtime without SharedArrayBuffer, naming the argument', async () => {
    const argument = async (options: unknown) => {
      const e = await useThreadedWasm(options as never).catch((err: unknown) => err);
      expect(e).toBeInstanceOf(TfjsBlocksError);
      return (e as TfjsBlocksError).argument;
    };
    expect(await argument({ threads: 0 })).toBe('options.threads');
    expect(await argument({ threads: 9 })).toBe('options.threads');
    expect(await argument({ threads: 1.5 })).toBe('options.threads');
    expect(await argument({ threads: '2' })).toBe('options.threads');
    expect(await argument({ thread: 2 })).toBe('options.thread');
    expect(await argument(3)).toBe('options');
    vi.stubGlobal('SharedArrayBuffer', undefined);
    try {
      expect(await argument({ threads: 2 })).toBe('runtime');
    } finally {
      vi.unstubAllGlobals();
    }
  });
});
