// decoderLm validates once: a call whose params already passed a checked run
// (same config values, same live tensors) and whose inputs have the accepted
// form runs the unchecked cores; anything else takes the checked path and
// throws the error it always threw.
import * as tf from '@tensorflow/tfjs-core';
import { expect, it, vi } from 'vitest';
import { TfjsBlocksError } from '../../src/errors';
import {
  type DecoderCache,
  type DecoderLmConfig,
  type DecoderLmParams,
  decoderLm,
  gpt2Config,
  initAttentionCache,
  initDecoderLm,
  llamaConfig,
} from '../../src/index';
import * as checks from '../../src/internal/checks';
import { uncheckedDecoderLm } from '../../src/models/decoder-lm';
import type { LinearParams } from '../../src/nn/linear';
import { treeLeaves } from '../../src/tree/leaves';
import { describeEachBackend } from '../helpers/backends';
import { expectNoLeak } from '../helpers/leaks';
import { thrownBy, thrownWithoutLeak } from '../helpers/rejections';

// Counts the per-tensor checks every checked layer runs, leaving them as they are.
vi.mock('../../src/internal/checks', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../src/internal/checks')>();
  return { ...original, checkFloatTensor: vi.fn(original.checkFloatTensor) };
});
const floatChecks = vi.mocked(checks.checkFloatTensor);

const gpt: DecoderLmConfig = gpt2Config({
  vocabSize: 11,
  maxLength: 16,
  dModel: 8,
  numLayers: 2,
  numHeads: 2,
});
const llama: DecoderLmConfig = llamaConfig({
  vocabSize: 11,
  maxLength: 16,
  dModel: 8,
  numLayers: 2,
  numHeads: 2,
  numKvHeads: 1,
  hidden: 12,
});
const windowed: DecoderLmConfig = { ...llama, block: { ...llama.block, slidingWindow: 3 } };

const ids = () =>
  tf.tensor2d(
    [
      [1, 4, 2],
      [7, 0, 3],
    ],
    undefined,
    'int32',
  );
const step = () => tf.tensor2d([[5], [6]], undefined, 'int32');

/** An empty cache of `capacity` slots for `config`'s blocks (batch 2). */
function emptyCache(config: DecoderLmConfig, capacity: number): DecoderCache {
  const attention = { dModel: 8, numHeads: 2, numKvHeads: config.block.numKvHeads ?? 2 };
  return {
    self: Array.from({ length: config.numLayers }, () =>
      initAttentionCache(attention, 2, capacity),
    ),
    index: 0,
  };
}

function disposeCache(cache: DecoderCache): void {
  tf.dispose(cache.self.flatMap((l) => [l.key, l.value]));
}

/** Logits of a checked call (fresh params record) and of the same call on validated params. */
function checkedAndUnchecked(
  params: DecoderLmParams,
  run: (p: DecoderLmParams) => tf.Tensor,
): [number[], number[]] {
  tf.dispose(run(params)); // validates params
  floatChecks.mockClear();
  const fast = run(params);
  expect(floatChecks, 'the validated call checks no tensor per layer').not.toHaveBeenCalled();
  const checked = run({ ...params }); // a new record: checked path
  expect(floatChecks).toHaveBeenCalled();
  const out: [number[], number[]] = [Array.from(checked.dataSync()), Array.from(fast.dataSync())];
  tf.dispose([fast, checked]);
  return out;
}

describeEachBackend('decoderLm: validated once', () => {
  for (const [name, config] of [
    ['gpt2', gpt],
    ['llama (GQA, RoPE, RMSNorm, SwiGLU, untied)', llama],
  ] as const) {
    it(`${name}: the unchecked forward gives the checked logits exactly`, () => {
      const params = initDecoderLm(config, 1);
      const [checked, fast] = checkedAndUnchecked(params, (p) => decoderLm(config, p, ids()));
      expect(fast).toEqual(checked);
      const mask = tf.tensor2d([
        [true, true, true],
        [false, true, true],
      ]);
      const positions = tf.tensor2d(
        [
          [0, 1, 2],
          [0, 0, 1],
        ],
        undefined,
        'int32',
      );
      const [c2, f2] = checkedAndUnchecked(params, (p) =>
        decoderLm(config, p, ids(), { paddingMask: mask, positionIds: positions }),
      );
      expect(f2).toEqual(c2);
      tf.dispose([mask, positions]);
      disposeParams(params);
    });

    it(`${name}: cached steps on validated params give the checked logits and cache`, () => {
      const x = step();
      const params = initDecoderLm(config, 2);
      const cache = emptyCache(config, 8);
      const prefill = decoderLm(config, params, ids(), { cache });
      const mask = tf.tensor2d([
        [true, true, true, true, false, false, false, false],
        [true, true, true, true, false, false, false, false],
      ]);
      const next = { ...prefill.cache, index: 3 };
      floatChecks.mockClear();
      const fast = decoderLm(config, params, x, { cache: next, paddingMask: mask });
      expect(floatChecks).not.toHaveBeenCalled();
      const checked = decoderLm(config, { ...params }, x, { cache: next, paddingMask: mask });
      expect(fast.logits.arraySync()).toEqual(checked.logits.arraySync());
      expect(fast.cache.self[1]!.key.arraySync()).toEqual(checked.cache.self[1]!.key.arraySync());
      expectNoLeak(() => decoderLm(config, params, x, { cache: next, paddingMask: mask }));
      for (const r of [prefill, fast, checked]) {
        tf.dispose(r.logits);
        disposeCache(r.cache);
      }
      tf.dispose(mask);
      disposeCache(cache);
      disposeParams(params);
      x.dispose();
    });
  }

  it('a rolling (sliding-window) cache: unchecked == checked', () => {
    const params = initDecoderLm(windowed, 3);
    const cache = emptyCache(windowed, 3);
    const mask = tf.ones([2, 6], 'bool');
    const run = (p: DecoderLmParams) => decoderLm(windowed, p, ids(), { cache, paddingMask: mask });
    const first = run(params);
    floatChecks.mockClear();
    const fast = run(params);
    expect(floatChecks).not.toHaveBeenCalled();
    const checked = run({ ...params });
    expect(fast.logits.arraySync()).toEqual(checked.logits.arraySync());
    for (const r of [first, fast, checked]) {
      tf.dispose(r.logits);
      disposeCache(r.cache);
    }
    tf.dispose(mask);
    disposeCache(cache);
    disposeParams(params);
  });

  it('LoRA factors on the projections apply on the unchecked path', () => {
    const params = initDecoderLm(gpt, 4);
    const lora = (p: LinearParams, seed: number): LinearParams => ({
      ...p,
      lora: {
        a: tf.randomNormal([p.kernel.shape[0], 2], 0, 1, 'float32', seed) as tf.Tensor2D,
        b: tf.randomNormal([2, p.kernel.shape[1]], 0, 1, 'float32', seed + 1) as tf.Tensor2D,
        scale: 0.5,
      },
    });
    const block = params.blocks[0]!;
    const adapted: DecoderLmParams = {
      ...params,
      blocks: [
        {
          ...block,
          attention: { ...block.attention, value: lora(block.attention.value, 1) },
          feedForward: { ...block.feedForward, up: lora(block.feedForward.up, 3) },
        },
        params.blocks[1]!,
      ],
    };
    const base = decoderLm(gpt, params, ids());
    const [checked, fast] = checkedAndUnchecked(adapted, (p) => decoderLm(gpt, p, ids()));
    expect(fast).toEqual(checked);
    expect(fast).not.toEqual(Array.from(base.dataSync()));
    tf.dispose(base);
    const factors = adapted.blocks[0]!;
    tf.dispose([
      factors.attention.value.lora!.a,
      factors.attention.value.lora!.b,
      factors.feedForward.up.lora!.a,
      factors.feedForward.up.lora!.b,
    ]);
    disposeParams(params);
  });

  it('validated params changed in place, disposed, or run with a changed config are checked again', () => {
    const x = ids();
    const params = initDecoderLm(gpt, 5);
    tf.dispose(decoderLm(gpt, params, x));
    const attention = params.blocks[1]!.attention;
    const kernel = attention.query.kernel;
    attention.query.kernel = tf.zeros([8, 6]) as tf.Tensor2D;
    const e = thrownWithoutLeak(() => decoderLm(gpt, params, x));
    expect(e).toBeInstanceOf(TfjsBlocksError);
    expect(e.argument).toBe('params.query.kernel.shape[1]');
    expect(e.functionName).toBe('multiHeadAttention');
    attention.query.kernel.dispose();
    attention.query.kernel = kernel;
    tf.dispose(decoderLm(gpt, params, x));

    const config = { ...gpt, block: { ...gpt.block } };
    tf.dispose(decoderLm(config, params, x));
    config.block.numHeads = 3; // no longer divides dModel
    expect(thrownWithoutLeak(() => decoderLm(config, params, x)).argument).toBe(
      'config.block.numHeads',
    );

    const table = params.tokenEmbedding.table;
    params.tokenEmbedding.table = tf.clone(table);
    tf.dispose(decoderLm(gpt, params, x));
    params.tokenEmbedding.table.dispose();
    const disposed = thrownWithoutLeak(() => decoderLm(gpt, params, x));
    expect(disposed.functionName).toBe('embed');
    expect(disposed.argument).toBe('params.table');
    params.tokenEmbedding.table = table;
    disposeParams(params);
    x.dispose();
  });

  it('per-call inputs of another form take the checked path and its error', () => {
    const x = ids();
    const params = initDecoderLm(gpt, 6);
    const fresh = () => ({ ...params });
    tf.dispose(decoderLm(gpt, params, x));
    const badIds = tf.tensor2d([[1, 11]], undefined, 'int32');
    const wideMask = tf.ones([2, 4], 'bool');
    const farPositions = tf.tensor2d(
      [
        [0, 1, 16],
        [0, 1, 2],
      ],
      undefined,
      'int32',
    );
    const cache = emptyCache(gpt, 4);
    const wrongHeads: DecoderCache = {
      self: [cache.self[0]!, { key: tf.zeros([2, 3, 4, 4]), value: tf.zeros([2, 3, 4, 4]) }],
      index: 0,
    };
    const calls: Array<[string, (p: DecoderLmParams) => unknown]> = [
      ['ids out of range', (p) => decoderLm(gpt, p, badIds)],
      ['a padding mask of another width', (p) => decoderLm(gpt, p, x, { paddingMask: wideMask })],
      ['positions past the table', (p) => decoderLm(gpt, p, x, { positionIds: farPositions })],
      ['a cache of another head count', (p) => decoderLm(gpt, p, x, { cache: wrongHeads })],
      ['a cache overflow', (p) => decoderLm(gpt, p, x, { cache: { ...cache, index: 2 } })],
    ];
    for (const [what, call] of calls) {
      tf.dispose(decoderLm(gpt, params, x)); // validated again
      const expected = thrownBy(() => call(fresh()));
      const actual = thrownWithoutLeak(() => call(params));
      expect([what, actual.functionName, actual.argument, actual.message]).toEqual([
        what,
        expected.functionName,
        expected.argument,
        expected.message,
      ]);
    }
    tf.dispose([
      badIds,
      wideMask,
      farPositions,
      wrongHeads.self[1]!.key,
      wrongHeads.self[1]!.value,
    ]);
    disposeCache(cache);
    disposeParams(params);
    x.dispose();
  });
});

describeEachBackend('uncheckedDecoderLm', () => {
  it('== decoderLm with a cache, and leaves only its outputs', () => {
    const x = ids();
    const params = initDecoderLm(llama, 7);
    const cache = emptyCache(llama, 6);
    const forward = uncheckedDecoderLm(llama, params);
    const checked = decoderLm(llama, params, x, { cache });
    floatChecks.mockClear();
    const fast = forward(x, { cache });
    expect(floatChecks).not.toHaveBeenCalled();
    expect(fast.logits.arraySync()).toEqual(checked.logits.arraySync());
    expect(fast.cache.self[0]!.value.arraySync()).toEqual(checked.cache.self[0]!.value.arraySync());
    expectNoLeak(() => forward(x, { cache }));
    for (const r of [checked, fast]) {
      tf.dispose(r.logits);
      disposeCache(r.cache);
    }
    disposeCache(cache);
    disposeParams(params);
    x.dispose();
  });

  it('checks the block config once, when it is made', () => {
    const params = initDecoderLm(gpt, 8);
    const bad = { ...gpt, block: { ...gpt.block, numHeads: 3 } };
    const e = thrownBy(() => uncheckedDecoderLm(bad, params));
    expect(e.argument).toBe('config.block.numHeads');
    disposeParams(params);
  });
});

function disposeParams(params: DecoderLmParams): void {
  tf.dispose(treeLeaves(params));
}
