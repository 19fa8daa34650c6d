// decoderLm's logitsToKeep: the head runs over the last positions only
// (generation's prefill needs one), with the same values as slicing the
// full logits, and bad counts name the option.
import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import {
  type CachedDecoderResult,
  type DecoderLmConfig,
  decoderLm,
  gpt2Config,
  initAttentionCache,
  initDecoderLm,
  llamaConfig,
} from '../../src/index';
import { uncheckedDecoderLm } from '../../src/models/decoder-lm';
import { describeEachBackend } from '../helpers/backends';
import { expectClose } from '../helpers/close';
import { expectNoLeak } from '../helpers/leaks';
import { thrownWithoutLeak } from '../helpers/rejections';

const configs: Array<[string, DecoderLmConfig]> = [
  [
    'gpt2 (learned positions, tied head)',
    gpt2Config({ vocabSize: 13, maxLength: 16, dModel: 8, numLayers: 2, numHeads: 2 }),
  ],
  [
    'llama (RoPE, untied head)',
    {
      ...llamaConfig({
        vocabSize: 13,
        maxLength: 16,
        dModel: 8,
        numLayers: 2,
        numHeads: 2,
        numKvHeads: 1,
        hidden: 12,
      }),
      tieEmbeddings: false,
    },
  ],
];

describeEachBackend('decoderLm logitsToKeep', () => {
  for (const [name, config] of configs) {
    it(`keeps the last k positions' logits, equal to the full logits' (${name})`, () => {
      const params = initDecoderLm(config, 1);
      const ids = tf.tensor2d(
        [
          [1, 4, 2, 7, 3],
          [5, 0, 9, 2, 8],
        ],
        undefined,
        'int32',
      );
      const mask = tf.tensor2d(
        [
          [1, 1, 1, 1, 1],
          [0, 0, 1, 1, 1],
        ],
        undefined,
        'bool',
      );
      const full = decoderLm(config, params, ids, { paddingMask: mask });
      for (const k of [1, 3, 5]) {
        const tail = tf.slice(full, [0, 5 - k, 0], [-1, k, -1]);
        expectNoLeak(() => {
          const kept = decoderLm(config, params, ids, { paddingMask: mask, logitsToKeep: k });
          expect(kept.shape).toEqual([2, k, 13]);
          expectClose(kept, tail);
          return kept;
        });
        tail.dispose();
      }
      // 0 keeps all.
      const all = decoderLm(config, params, ids, { paddingMask: mask, logitsToKeep: 0 });
      expectClose(all, full);
      tf.dispose([ids, mask, full, all]);
    });
  }

  it('keeps the last position with a cache, on the checked and the unchecked path', () => {
    const [, config] = configs[0]!;
    const params = initDecoderLm(config, 2);
    const ids = tf.tensor2d([[1, 4, 2]], undefined, 'int32');
    const cache = () => ({
      self: Array.from({ length: 2 }, () => initAttentionCache({ dModel: 8, numHeads: 2 }, 1, 4)),
      index: 0,
    });
    const free = (r: CachedDecoderResult, c: ReturnType<typeof cache>) =>
      tf.dispose([
        r.logits,
        ...r.cache.self.flatMap((l) => [l.key, l.value]),
        ...c.self.flatMap((l) => [l.key, l.value]),
      ]);
    const c1 = cache();
    const full = decoderLm(config, params, ids, { cache: c1 }) as unknown as CachedDecoderResult;
    const last = tf.slice(full.logits, [0, 2, 0], [-1, 1, -1]);
    const c2 = cache();
    const checked = decoderLm(config, params, ids, {
      cache: c2,
      logitsToKeep: 1,
    }) as unknown as CachedDecoderResult;
    const c3 = cache();
    const unchecked = uncheckedDecoderLm(config, params)(ids, { cache: c3, logitsToKeep: 1 });
    expect(checked.logits.shape).toEqual([1, 1, 13]);
    expectClose(checked.logits, last);
    expectClose(unchecked.logits, last);
    // The caches are written for every position all the same.
    expectClose(checked.cache.self[1]!.key, full.cache.self[1]!.key);
    free(full, c1);
    free(checked, c2);
    free(unchecked, c3);
    tf.dispose([ids, last]);
  });

  it('rejects a count that is not an integer in [0, time], naming options.logitsToKeep', () => {
    const [, config] = configs[0]!;
    const params = initDecoderLm(config, 3);
    const ids = tf.tensor2d([[1, 4, 2]], undefined, 'int32');
    for (const bad of [-1, 1.5, 4, Number.NaN, '1' as unknown as number]) {
      const error = thrownWithoutLeak(() => decoderLm(config, params, ids, { logitsToKeep: bad }));
      expect(error.argument).toBe('options.logitsToKeep');
    }
    tf.dispose(ids);
  });
});
