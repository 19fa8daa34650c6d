// The rolling key/value cache (issue 18, Mistral): with config.block.slidingWindow,
// generate allocates `window` slots (not maxLength), writes position p at slot
// p mod window, and decodes exactly as the uncached forward, past the window,
// in greedy and beam search, with memory that stays flat.
import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import { decoderLmStep } from '../../src/generate/decoders';
import { disposeKvCache, initDecoderLmCache, type KvCache } from '../../src/generate/kv-cache';
import {
  type DecoderLmConfig,
  decoderLm,
  generate,
  initDecoderLm,
  llamaConfig,
} from '../../src/index';
import { describeEachBackend } from '../helpers/backends';
import { expectClose } from '../helpers/close';

const WINDOW = 4;
const MAX_LENGTH = 40;
const BASE = llamaConfig({
  vocabSize: 32,
  maxLength: MAX_LENGTH,
  dModel: 16,
  numLayers: 2,
  numHeads: 4,
  numKvHeads: 2,
  hidden: 32,
});
const CONFIG: DecoderLmConfig = { ...BASE, block: { ...BASE.block, slidingWindow: WINDOW } };
const PROMPTS = [
  [3, 9, 1, 4, 1, 5, 9],
  [2, 6, 5, 3, 5],
];

describeEachBackend('a rolling key/value cache', () => {
  it(`allocates ${WINDOW} slots and decodes past the window like the full forward`, () => {
    const params = initDecoderLm(CONFIG, 1);
    const ids = [
      [3, 9, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9],
      [0, 0, 2, 7, 1, 8, 2, 8, 1, 8, 2, 8, 4, 5],
    ];
    // Row 1 is left-padded by two.
    const valid = ids.map((row, b) => row.map((_, t) => b === 0 || t >= 2));
    let cache: KvCache = initDecoderLmCache(CONFIG, params, 2, MAX_LENGTH);
    expect(cache.maxLength).toBe(WINDOW);
    expect(cache.layers[0]!.key.shape).toEqual([2, 2, WINDOW, 4]);
    const cacheBytes = () => cache.layers.reduce((n, l) => n + l.key.size + l.value.size, 0) * 4;
    const bytes = cacheBytes();
    try {
      tf.tidy(() => {
        const positions = valid.map((row) => {
          let seen = 0;
          return row.map((ok) => (ok ? seen++ : seen));
        });
        const full = decoderLm(CONFIG, params, tf.tensor2d(ids, undefined, 'int32'), {
          paddingMask: tf.tensor(valid.flat(), [2, ids[0]!.length], 'bool'),
          positionIds: tf.tensor2d(positions, undefined, 'int32'),
        });
        // A prefill longer than the window, then one token at a time.
        const chunks: Array<[number, number]> = [[0, 6]];
        for (let t = 6; t < ids[0]!.length; t++) chunks.push([t, t + 1]);
        for (const [start, end] of chunks) {
          const step = decoderLmStep(
            CONFIG,
            params,
            tf.tensor2d(
              ids.map((row) => row.slice(start, end)),
              undefined,
              'int32',
            ),
            cache,
            valid.map((row) => row.slice(start, end)),
          );
          disposeKvCache(cache);
          cache = step.cache;
          for (const layer of cache.layers) {
            tf.keep(layer.key);
            tf.keep(layer.value);
          }
          expect(cacheBytes()).toBe(bytes);
          // Padding queries see no key (their logits are not used): compare real rows.
          const expected = tf.slice(full, [0, start, 0], [-1, end - start, -1]);
          const rows = end - start === 6 ? [0] : [0, 1];
          for (const r of rows) {
            expectClose(
              tf.slice(step.logits, [r, 0, 0], [1, -1, -1]),
              tf.slice(expected, [r, 0, 0], [1, -1, -1]),
              { rtol: 1e-4, atol: 1e-5 },
            );
          }
        }
      });
    } finally {
      disposeKvCache(cache);
      tf.dispose(params as unknown as tf.TensorContainer);
    }
  });

  it('greedy generate with the rolling cache == without a cache, and leaves nothing behind', async () => {
    const params = initDecoderLm(CONFIG, 2);
    const before = tf.memory().numTensors;
    const cached = await generate({ kind: 'decoderLm', config: CONFIG, params }, PROMPTS, {
      maxNewTokens: 12,
      temperature: 0,
    });
    expect(tf.memory().numTensors).toBe(before);
    const uncached = await generate({ kind: 'decoderLm', config: CONFIG, params }, PROMPTS, {
      maxNewTokens: 12,
      temperature: 0,
      useCache: false,
    });
    expect(cached).toEqual(uncached);
    expect(cached.map((row) => row.length)).toEqual([12, 12]);
    // The window matters: the same weights without it decode differently.
    const unwindowed = await generate({ kind: 'decoderLm', config: BASE, params }, PROMPTS, {
      maxNewTokens: 12,
      temperature: 0,
    });
    expect(unwindowed).not.toEqual(cached);
    tf.dispose(params as unknown as tf.TensorContainer);
  });

  it('memory during generate is flat past the window and smaller than a maxLength cache', async () => {
    const params = initDecoderLm(CONFIG, 3);
    const bytesPerStep = async (config: DecoderLmConfig) => {
      const bytes: number[] = [];
      await generate({ kind: 'decoderLm', config, params }, PROMPTS, {
        maxNewTokens: 20,
        temperature: 0,
        onToken: () => {
          bytes.push(tf.memory().numBytes);
        },
      });
      return bytes;
    };
    const rolling = await bytesPerStep(CONFIG);
    expect(rolling.length).toBe(20);
    expect(new Set(rolling).size).toBe(1);
    const full = await bytesPerStep(BASE);
    // layers × (key, value) × rows × kvHeads × (slots saved) × headDim × 4 bytes.
    const saved = 2 * 2 * 2 * 2 * (PROMPTS[0]!.length + 20 - WINDOW) * 4 * 4;
    expect(full[0]! - rolling[0]!).toBe(saved);
    tf.dispose(params as unknown as tf.TensorContainer);
  });

  it('beam search reorders a rolling cache: the same beams as without a cache', async () => {
    const params = initDecoderLm(CONFIG, 4);
    const before = tf.memory().numTensors;
    const options = { maxNewTokens: 10, numBeams: 3 };
    const cached = await generate({ kind: 'decoderLm', config: CONFIG, params }, PROMPTS, options);
    expect(tf.memory().numTensors).toBe(before);
    const uncached = await generate({ kind: 'decoderLm', config: CONFIG, params }, PROMPTS, {
      ...options,
      useCache: false,
    });
    expect(cached).toEqual(uncached);
    tf.dispose(params as unknown as tf.TensorContainer);
  });

  it('a sequence shorter than the window gets a cache of its own length', () => {
    const params = initDecoderLm(CONFIG, 5);
    const cache = initDecoderLmCache(CONFIG, params, 1, 3);
    expect(cache.maxLength).toBe(3);
    expect(cache.slidingWindow).toBe(WINDOW);
    disposeKvCache(cache);
    tf.dispose(params as unknown as tf.TensorContainer);
  });
});
