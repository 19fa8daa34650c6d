import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, describe, expect, it } from 'vitest';
import { TfjsBlocksError } from '../../src/errors';
import { quantizeWeights } from '../../src/index';
import { quantizedSimdProduct, quantizedSimdProductTransposed } from '../../src/nn/quantized-simd';
import { quantizedMatMul, quantizedMatMulTransposed } from '../../src/nn/quantized-weights';
import { disableQuantizedThreads, enableQuantizedThreads } from '../../src/node/quantized-threads';
import { describeEachBackend } from '../helpers/backends';
import { runScriptToCompletion } from '../helpers/child-process';
import { expectNoLeak } from '../helpers/leaks';
import { seededQuantized, simdProductsOf, varyingInputs } from '../helpers/quantized-fixtures';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CHILD = fileURLToPath(new URL('./quantized-threads-child.ts', import.meta.url));

afterEach(async () => {
  await disableQuantizedThreads();
});

// Odd widths, rows not a multiple of 4, int4 groups of 3 / 6 rows and a shorter last group,
// and products wider than one 4,096-column tile.
const CASES = [
  { rows: 130, cols: 97, bits: 8 },
  { rows: 7, cols: 5, bits: 8 },
  { rows: 50, cols: 4136, bits: 8 },
  { rows: 48, cols: 70, bits: 4, groupSize: 6 },
  { rows: 65, cols: 33, bits: 4, groupSize: 3 },
  { rows: 4136, cols: 40, bits: 4, groupSize: 32 },
] as const;

describe('enableQuantizedThreads: products split over worker threads', () => {
  it('gives the same values, bit for bit, as one thread: x · W and x · Wᵀ, int8 and int4, 1 to 4 rows', async () => {
    const products = simdProductsOf(CASES);
    const single = products();
    expect(await enableQuantizedThreads({ threads: 2, minBytes: 0 })).toBe(2);
    const split = products();
    // Three threads: uneven ranges, some of one block of rows or 32 columns.
    expect(await enableQuantizedThreads({ threads: 3, minBytes: 0 })).toBe(3);
    const three = products();
    for (let i = 0; i < single.length; i++) {
      expect(split[i]).toEqual(single[i]);
      expect(three[i]).toEqual(single[i]);
    }
  });

  it('keeps products under minBytes on one thread, with the same values', async () => {
    const q = seededQuantized(64, 48, 8);
    const x = varyingInputs(2, 64, 1);
    const single = quantizedSimdProduct(q, x, 2);
    await enableQuantizedThreads({ threads: 2, minBytes: 1 << 30 });
    expect(quantizedSimdProduct(q, x, 2)).toEqual(single);
  });

  it('threads: 1 changes nothing and reports one thread', async () => {
    expect(await enableQuantizedThreads({ threads: 1 })).toBe(1);
    const q = seededQuantized(16, 16, 8);
    expect(quantizedSimdProduct(q, varyingInputs(1, 16, 0), 1)).not.toBeNull();
  });

  it('disableQuantizedThreads stops the workers; products then run on one thread, same values; a second disable is a no-op', async () => {
    const q = seededQuantized(200, 300, 4, 8);
    const x = varyingInputs(1, 300, 2);
    await enableQuantizedThreads({ threads: 2, minBytes: 0 });
    const split = quantizedSimdProductTransposed(q, x, 1);
    await disableQuantizedThreads();
    expect(quantizedSimdProductTransposed(q, x, 1)).toEqual(split);
    await disableQuantizedThreads();
  });

  it('products run (on one thread) while the workers start, and concurrent calls queue', async () => {
    const q = seededQuantized(300, 200, 8);
    const x = varyingInputs(1, 300, 4);
    const single = quantizedSimdProduct(q, x, 1);
    const starting = enableQuantizedThreads({ threads: 2, minBytes: 0 });
    // The workers are not ready yet: installed only once they are, so this does not wait for them.
    expect(quantizedSimdProduct(q, x, 1)).toEqual(single);
    const [two, three] = await Promise.all([
      starting,
      enableQuantizedThreads({ threads: 3, minBytes: 0 }),
    ]);
    expect([two, three]).toEqual([2, 3]);
    expect(quantizedSimdProduct(q, x, 1)).toEqual(single);
  });

  it('does not keep the process alive: a script that leaves them running exits', async () => {
    const output = await runScriptToCompletion(CHILD, [], ROOT);
    expect(output).toContain('product done on 2 threads: 96 values');
  });

  it('rejects bad options, naming the argument', async () => {
    const argument = async (options: unknown) => {
      try {
        await enableQuantizedThreads(options as never);
      } catch (e) {
        expect(e).toBeInstanceOf(TfjsBlocksError);
        return (e as TfjsBlocksError).argument;
      }
      return 'no error';
    };
    expect(await argument({ threads: 0 })).toBe('options.threads');
    expect(await argument({ threads: 1.5 })).toBe('options.threads');
    expect(await argument({ minBytes: -1 })).toBe('options.minBytes');
    expect(await argument({ workers: 2 })).toBe('options.workers');
    expect(await argument(3)).toBe('options');
  });
});

describeEachBackend('quantizedMatMul and the tied head with threads', () => {
  it('equal the one-thread results and leak no tensor', async () => {
    const kernel = tf.randomNormal([96, 4136], 0, 0.3, 'float32', 4) as tf.Tensor2D;
    const q8 = quantizeWeights(kernel, { bits: 8 });
    const q4 = quantizeWeights(kernel, { bits: 4, groupSize: 32 });
    const x = tf.randomNormal([2, 96], 0, 1, 'float32', 5) as tf.Tensor2D;
    const h = tf.randomNormal([2, 4136], 0, 1, 'float32', 6) as tf.Tensor2D;
    const run = () =>
      [q8, q4].flatMap((q) => {
        const [a, b] = [quantizedMatMul(x, q), quantizedMatMulTransposed(h, q)];
        const values = [a.dataSync(), b.dataSync()];
        tf.dispose([a, b]);
        return values;
      });
    const single = run();
    await enableQuantizedThreads({ threads: 2, minBytes: 0 });
    expect(run()).toEqual(single);
    for (const q of [q8, q4]) {
      expectNoLeak(() => quantizedMatMul(x, q));
      expectNoLeak(() => quantizedMatMulTransposed(h, q));
    }
    tf.dispose([kernel, x, h]);
  });
});
