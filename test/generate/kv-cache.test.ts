import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import { decoderLmStep } from '../../src/generate/decoders';
import {
  disposeKvCache,
  initDecoderLmCache,
  type KvCache,
  reorderKvCache,
  rewindKvCache,
} from '../../src/generate/kv-cache';
import {
  type CachedDecoderResult,
  type DecoderLmConfig,
  decoderLm,
  gpt2Config,
  initDecoderLm,
  llamaConfig,
} from '../../src/index';
import type { CachedDecoderLmForward } from '../../src/models/decoder-lm';
import { describeEachBackend } from '../helpers/backends';
import { expectClose } from '../helpers/close';
import { expectNoLeak } from '../helpers/leaks';
import { flattenParams } from '../helpers/params';
import { thrownWithoutLeak } from '../helpers/rejections';

/** A layer cache `[3 rows, 1 head, 2 slots, 1]` whose values name their row: row r holds r + offset. */
function layer(offset: number) {
  const rows = [0, 1, 2].map((r) => [[[r + offset], [r + offset]]]);
  return {
    key: tf.tensor4d(rows, [3, 1, 2, 1]),
    value: tf.tensor4d(
      rows.map((r) => r.map((h) => h.map(([v]) => [-v!]))),
      [3, 1, 2, 1],
    ),
  };
}

function rowValues(t: tf.Tensor): number[] {
  return (t.arraySync() as number[][][][]).map((row) => row[0]![0]![0]!);
}

function cache(withCross: boolean): KvCache {
  const c: KvCache = {
    layers: [layer(0), layer(10)],
    length: 1,
    maxLength: 2,
    keyValid: [
      [true, false],
      [false, false],
      [true, true],
    ],
    realTokens: [1, 0, 2],
  };
  if (withCross) {
    c.cross = [layer(100), layer(110)];
    c.sourceValid = [[true], [false], [true]];
  }
  return c;
}

describeEachBackend('reorderKvCache', () => {
  it('keeps the given rows in order, repeats included, in every tensor and list', () => {
    for (const withCross of [false, true]) {
      const c = cache(withCross);
      const r = reorderKvCache(c, [2, 0, 2]);
      expect(r.layers.map((l) => rowValues(l.key))).toEqual([
        [2, 0, 2],
        [12, 10, 12],
      ]);
      expect(r.layers.map((l) => rowValues(l.value))).toEqual([
        [-2, -0, -2],
        [-12, -10, -12],
      ]);
      expect(r.keyValid).toEqual([
        [true, true],
        [true, false],
        [true, true],
      ]);
      expect(r.realTokens).toEqual([2, 1, 2]);
      expect([r.length, r.maxLength]).toEqual([1, 2]);
      // A repeated row gets its own bookkeeping, not the other copy's.
      expect(r.keyValid[0]).not.toBe(r.keyValid[2]);
      if (withCross) {
        expect(r.cross!.map((l) => rowValues(l.key))).toEqual([
          [102, 100, 102],
          [112, 110, 112],
        ]);
        expect(r.sourceValid).toEqual([[true], [true], [true]]);
      } else {
        expect('cross' in r).toBe(false);
        expect('sourceValid' in r).toBe(false);
      }
      // The input cache is untouched and still the caller's.
      expect(rowValues(c.layers[0]!.key)).toEqual([0, 1, 2]);
      disposeKvCache(r);
      disposeKvCache(c);
    }
  });

  it('adds exactly the new cache tensors, and the input keeps its own', () => {
    const c = cache(true);
    expectNoLeak(() => {
      const r = reorderKvCache(c, [1, 1]);
      return [...r.layers, ...r.cross!].flatMap((l) => [l.key, l.value]);
    });
    expect(c.layers.every((l) => !l.key.isDisposed && !l.value.isDisposed)).toBe(true);
    disposeKvCache(c);
  });
});

const LLAMA: DecoderLmConfig = llamaConfig({
  vocabSize: 16,
  maxLength: 16,
  dModel: 16,
  numLayers: 2,
  numHeads: 4,
  numKvHeads: 2,
  hidden: 24,
});

/** Runs `chunks` of tokens (one row, or two with a left-padded first) through a cache; the last chunk's logits. */
function run(
  config: DecoderLmConfig,
  params: ReturnType<typeof initDecoderLm>,
  c: KvCache,
  ids: number[][],
  valid: boolean[][],
) {
  return decoderLmStep(config, params, tf.tensor2d(ids, undefined, 'int32'), c, valid);
}

describeEachBackend('rewindKvCache', () => {
  it('drops the last k positions: decoding on is the same as never having read them', () => {
    for (const window of [undefined, 12]) {
      const config: DecoderLmConfig =
        window === undefined
          ? LLAMA
          : { ...LLAMA, block: { ...LLAMA.block, slidingWindow: window } };
      const params = initDecoderLm(config, 3);
      // Two rows, the second left-padded by one.
      const prompt = [
        [5, 1, 7],
        [0, 2, 9],
      ];
      const promptValid = [
        [true, true, true],
        [false, true, true],
      ];
      const fresh = initDecoderLmCache(config, params, 2, 12);
      const a = run(config, params, fresh, prompt, promptValid);
      // Read three tokens, then drop them and read two others instead.
      const b = run(
        config,
        params,
        a.cache,
        [
          [3, 3, 3],
          [4, 4, 4],
        ],
        [
          [true, true, true],
          [true, true, true],
        ],
      );
      const rewound = rewindKvCache(b.cache, 3);
      expect(rewound.length).toBe(3);
      expect(rewound.realTokens).toEqual([3, 2]);
      expect(rewound.keyValid).toEqual(a.cache.keyValid);
      // The tensors are shared, not copied.
      expect(rewound.layers[0]!.key).toBe(b.cache.layers[0]!.key);
      const c = run(
        config,
        params,
        rewound,
        [
          [8, 6],
          [1, 2],
        ],
        [
          [true, true],
          [true, true],
        ],
      );
      const direct = run(
        config,
        params,
        a.cache,
        [
          [8, 6],
          [1, 2],
        ],
        [
          [true, true],
          [true, true],
        ],
      );
      expectClose(c.logits, direct.logits);
      expect(c.cache.realTokens).toEqual(direct.cache.realTokens);
      for (const t of [a, b, c, direct]) {
        t.logits.dispose();
        disposeKvCache(t.cache);
      }
      disposeKvCache(fresh);
      tf.dispose(Object.values(flattenParams(params)));
    }
  });

  it('adds no tensor, and rejects a bad k or a rolling cache that has wrapped', () => {
    const c = cache(false);
    expectNoLeak(() => {
      rewindKvCache(c, 1);
      return [];
    });
    expect(thrownWithoutLeak(() => rewindKvCache(c, 2)).argument).toBe('k');
    expect(thrownWithoutLeak(() => rewindKvCache(c, -1)).argument).toBe('k');
    expect(thrownWithoutLeak(() => rewindKvCache(c, 0.5)).argument).toBe('k');
    const wrapped: KvCache = { ...c, length: 3, slidingWindow: 2 };
    expect(thrownWithoutLeak(() => rewindKvCache(wrapped, 1)).argument).toBe('k');
    expect(rewindKvCache(wrapped, 0).length).toBe(3);
    expect(rewindKvCache({ ...c, slidingWindow: 2 }, 1).length).toBe(0);
    disposeKvCache(c);
  });
});

describeEachBackend('decoderLmStep padding', () => {
  it('leaves the key mask and positions out without left padding, with the same logits as passing them', () => {
    const config = gpt2Config({
      vocabSize: 16,
      maxLength: 16,
      dModel: 16,
      numLayers: 2,
      numHeads: 4,
    });
    const params = initDecoderLm(config, 3);
    const seen: Array<{ mask: boolean; positions: boolean }> = [];
    const forward: CachedDecoderLmForward = (x, options) => {
      seen.push({
        mask: options.paddingMask !== undefined,
        positions: options.positionIds !== undefined,
      });
      return decoderLm(config, params, x, options) as unknown as CachedDecoderResult;
    };
    const inputs: tf.Tensor[] = [];
    const ids = (rows: number[][]) => {
      inputs.push(tf.tensor2d(rows, undefined, 'int32'));
      return inputs[inputs.length - 1]!;
    };
    expectNoLeak(() => {
      // One unpadded row: a 3-token prefill, then one token.
      const empty = initDecoderLmCache(config, params, 1, 8);
      const first = decoderLmStep(
        config,
        params,
        ids([[3, 5, 7]]),
        empty,
        [[true, true, true]],
        forward,
      );
      const second = decoderLmStep(config, params, ids([[9]]), first.cache, [[true]], forward);
      expect(seen).toEqual([
        { mask: false, positions: false },
        { mask: false, positions: false },
      ]);
      // The second step with the key mask and positions passed: the same logits.
      const explicit = decoderLm(config, params, ids([[9]]), {
        paddingMask:
          inputs[inputs.push(tf.tensor2d([[1, 1, 1, 1, 0, 0, 0, 0]], undefined, 'bool')) - 1],
        positionIds: ids([[3]]),
        cache: { self: first.cache.layers, index: first.cache.length },
      }) as unknown as CachedDecoderResult;
      expectClose(second.logits, explicit.logits);
      tf.dispose([first.logits, second.logits, explicit.logits]);
      for (const c of [empty, first.cache, second.cache]) disposeKvCache(c);
      disposeKvCache({ ...first.cache, layers: explicit.cache.self });
      // A left-padded row needs both, on every step.
      seen.length = 0;
      const start = initDecoderLmCache(config, params, 2, 8);
      const padded = decoderLmStep(
        config,
        params,
        ids([
          [0, 3],
          [4, 5],
        ]),
        start,
        [
          [false, true],
          [true, true],
        ],
        forward,
      );
      const next = decoderLmStep(
        config,
        params,
        ids([[6], [7]]),
        padded.cache,
        [[true], [true]],
        forward,
      );
      expect(seen).toEqual([
        { mask: true, positions: true },
        { mask: true, positions: true },
      ]);
      tf.dispose([padded.logits, next.logits]);
      for (const c of [start, padded.cache, next.cache]) disposeKvCache(c);
      tf.dispose(inputs);
    });
  });
});
