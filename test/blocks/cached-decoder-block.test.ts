// transformerDecoderBlock, decoderLm and runDecoder with a cache (issue 17,
// item 3): the cached forward is the training forward plus a cache.
import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import {
  type AttentionCache,
  contextAttentionCache,
  type DecoderCache,
  decoderLm,
  type EncoderDecoderConfig,
  initAttentionCache,
  initDecoderLm,
  initEncoderDecoder,
  initTransformerDecoderBlock,
  llamaConfig,
  runDecoder,
  runEncoder,
  type TransformerBlockConfig,
  transformerDecoderBlock,
} from '../../src/index';
import { describeEachBackend } from '../helpers/backends';
import { expectClose } from '../helpers/close';
import { expectNoLeak } from '../helpers/leaks';
import { thrownWithoutLeak } from '../helpers/rejections';

const TOL = { rtol: 1e-4, atol: 1e-5 };
const CHUNKS = [2, 1, 2];
const TIME = 5;

const block = (extra: Partial<TransformerBlockConfig>): TransformerBlockConfig => ({
  dModel: 16,
  numHeads: 4,
  numKvHeads: 2,
  norm: { kind: 'rms' },
  feedForward: { hidden: 32, kind: 'gated', activation: 'silu' },
  ...extra,
});

const emptyCaches = (config: TransformerBlockConfig, layers: number, batch: number) =>
  Array.from({ length: layers }, () =>
    initAttentionCache({ dModel: 16, numHeads: 4, numKvHeads: config.numKvHeads }, batch, TIME),
  );

describeEachBackend('cached decoder blocks and models', () => {
  for (const [name, config] of [
    ['GQA + RoPE', block({ rope: true })],
    ['GQA + ALiBi', block({ alibi: true })],
    ['post-norm, MHA', block({ normPosition: 'post', numKvHeads: 4 })],
  ] as const) {
    it(`transformerDecoderBlock (${name}): cached steps == the whole sequence`, () => {
      const params = initTransformerDecoderBlock(config, 1);
      const x = tf.randomNormal([2, TIME, 16], 0, 1, 'float32', 4) as tf.Tensor3D;
      const { full, cached } = tf.tidy(() => {
        const full = transformerDecoderBlock(config, params, x);
        let self: AttentionCache = emptyCaches(config, 1, 2)[0]!;
        let index = 0;
        const parts: tf.Tensor[] = [];
        for (const t of CHUNKS) {
          const chunk = tf.slice(x, [0, index, 0], [-1, t, -1]) as tf.Tensor3D;
          const r = transformerDecoderBlock(config, params, chunk, { cache: { self, index } });
          parts.push(r.output);
          self = r.cache.self;
          index += t;
        }
        return { full, cached: tf.concat(parts, 1) };
      });
      expectClose(cached, full, TOL);
      tf.dispose([params, x, full, cached]);
    });
  }

  it('decoderLm with a cache: prefix then single tokens == the whole sequence; adds only its outputs', () => {
    const config = llamaConfig({
      vocabSize: 11,
      maxLength: 8,
      dModel: 16,
      numLayers: 2,
      numHeads: 4,
      numKvHeads: 2,
      hidden: 24,
    });
    const params = initDecoderLm(config, 0);
    const ids = [[3, 1, 4, 1, 5]];
    const full = decoderLm(config, params, tf.tensor2d(ids, undefined, 'int32'));
    let cache: DecoderCache = { self: emptyCaches(config.block, 2, 1), index: 0 };
    const parts: tf.Tensor[] = [];
    for (const t of CHUNKS) {
      const chunk = tf.tensor2d([ids[0]!.slice(cache.index, cache.index + t)], undefined, 'int32');
      // The cached forward adds exactly its outputs: the logits and the new caches.
      expectNoLeak(() => decoderLm(config, params, chunk, { cache }));
      const step = decoderLm(config, params, chunk, { cache });
      chunk.dispose();
      tf.dispose(cache.self.flatMap((l) => [l.key, l.value]));
      parts.push(step.logits);
      cache = { self: step.cache.self, index: cache.index + t };
    }
    const cached = tf.concat(parts, 1);
    expectClose(cached, full, TOL);
    tf.dispose([params, full, cached, ...parts]);
    tf.dispose([...cache.self.flatMap((l) => [l.key, l.value])]);
  });

  it('runDecoder with self and cross caches == the whole target', () => {
    const config: EncoderDecoderConfig = {
      sourceVocabSize: 9,
      targetVocabSize: 10,
      maxLength: 8,
      numEncoderLayers: 1,
      numDecoderLayers: 2,
      block: block({ numKvHeads: 4, norm: { kind: 'layer' } }),
    };
    const params = initEncoderDecoder(config, 2);
    const source = tf.tensor2d([[1, 2, 3]], undefined, 'int32');
    const target = [[0, 4, 5, 6, 7]];
    const memory = runEncoder(config, params, source);
    const full = runDecoder(config, params, tf.tensor2d(target, undefined, 'int32'), memory);
    // The cross-attention keys and values of the memory, projected once per layer.
    const cross = params.decoder.map((b) =>
      contextAttentionCache({ dModel: 16, numHeads: 4 }, b.crossAttention!, memory),
    );
    let cache: DecoderCache = { self: emptyCaches(config.block, 2, 1), cross, index: 0 };
    const parts: tf.Tensor[] = [];
    for (const t of CHUNKS) {
      const chunk = tf.tensor2d(
        [target[0]!.slice(cache.index, cache.index + t)],
        undefined,
        'int32',
      );
      const step = runDecoder(config, params, chunk, memory, { cache });
      chunk.dispose();
      tf.dispose(cache.self.flatMap((l) => [l.key, l.value]));
      parts.push(step.logits);
      cache = { ...cache, self: step.cache.self, index: cache.index + t };
    }
    const cached = tf.concat(parts, 1);
    expectClose(cached, full, TOL);
    tf.dispose([params, source, memory, full, cached, ...parts]);
    tf.dispose([...cache.self, ...cross].flatMap((l) => [l.key, l.value]));
  });

  it('rejects a bad cache with a typed error naming the argument', () => {
    const config = block({ rope: true });
    const params = initTransformerDecoderBlock(config, 0);
    const [self] = emptyCaches(config, 1, 1);
    const x = tf.randomNormal([1, 2, 16]) as tf.Tensor3D;
    const blockArgument = (cache: unknown) =>
      thrownWithoutLeak(() => transformerDecoderBlock(config, params, x, { cache } as never))
        .argument;
    expect(blockArgument({ self, index: -1 })).toBe('options.cache.index');
    expect(blockArgument({ self, index: 4 })).toBe('options.cacheUpdateIndex');
    expect(blockArgument({ self: 1, index: 0 })).toBe('options.cache.self');
    expect(blockArgument({ self, index: 0, extra: 1 })).toMatch(/options\.cache/);
    expect(blockArgument([])).toBe('options.cache');
    const lm = llamaConfig({
      vocabSize: 11,
      maxLength: 8,
      dModel: 16,
      numLayers: 2,
      numHeads: 4,
      numKvHeads: 2,
      hidden: 24,
    });
    const lmParams = initDecoderLm(lm, 0);
    const ids = tf.tensor2d([[1]], undefined, 'int32');
    expect(
      thrownWithoutLeak(() => decoderLm(lm, lmParams, ids, { cache: { self: [self!], index: 0 } }))
        .argument,
    ).toBe('options.cache.self');
    tf.dispose([params, self!.key, self!.value, x, lmParams, ids]);
  });
});
