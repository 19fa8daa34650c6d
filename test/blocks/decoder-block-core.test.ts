// transformerDecoderBlockCore: the decoder block without checks (what a
// validated model runs per token) gives the checked block's values exactly.
import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import { initAttentionCache } from '../../src/attention/multi-head-attention';
import {
  type CachedDecoderBlockResult,
  checkBlockConfig,
  initTransformerDecoderBlock,
  type TransformerBlockConfig,
  transformerDecoderBlock,
  transformerDecoderBlockCore,
} from '../../src/blocks/transformer-block';
import { treeLeaves } from '../../src/tree/leaves';
import { describeEachBackend } from '../helpers/backends';
import { expectNoLeak } from '../helpers/leaks';

const values = (t: tf.Tensor) => Array.from(t.dataSync());

const configs: Array<[string, TransformerBlockConfig]> = [
  [
    'pre-norm GPT-2',
    {
      dModel: 8,
      numHeads: 2,
      norm: { kind: 'layer' },
      feedForward: { hidden: 16, kind: 'mlp', activation: 'gelu-tanh' },
    },
  ],
  [
    'post-norm, RoPE, GQA, SwiGLU',
    {
      dModel: 8,
      numHeads: 4,
      numKvHeads: 2,
      normPosition: 'post',
      rope: { base: 500 },
      norm: { kind: 'rms' },
      feedForward: { hidden: 12, kind: 'gated', activation: 'silu' },
      attentionBias: false,
    },
  ],
  [
    'parallel, ALiBi',
    {
      dModel: 8,
      numHeads: 2,
      normPosition: 'parallel',
      alibi: true,
      norm: { kind: 'layer', epsilon: 1e-6 },
      feedForward: { hidden: 16, kind: 'mlp', activation: 'relu' },
    },
  ],
];

describeEachBackend('transformerDecoderBlockCore', () => {
  for (const [name, config] of configs) {
    it(`${name}: == transformerDecoderBlock, without and with a cache, no leak`, () => {
      const params = initTransformerDecoderBlock(config, 1);
      const checked = checkBlockConfig('test', config);
      const x = tf.randomNormal([2, 3, 8], 0, 1, 'float32', 2) as tf.Tensor3D;
      const a = transformerDecoderBlock(config, params, x);
      const b = transformerDecoderBlockCore(checked, params, x, {}, undefined) as tf.Tensor3D;
      expect(values(b)).toEqual(values(a));
      tf.dispose([a, b]);
      expectNoLeak(() => transformerDecoderBlockCore(checked, params, x, {}, undefined));

      const kv = config.numKvHeads ?? config.numHeads;
      const self = initAttentionCache(
        { dModel: 8, numHeads: config.numHeads, numKvHeads: kv },
        2,
        5,
      );
      const cache = { self, index: 1 };
      const c = transformerDecoderBlock(config, params, x, { cache });
      const d = transformerDecoderBlockCore(
        checked,
        params,
        x,
        {},
        cache,
      ) as CachedDecoderBlockResult;
      expect(values(d.output)).toEqual(values(c.output));
      expect(values(d.cache.self.key)).toEqual(values(c.cache.self.key));
      tf.dispose([c.output, c.cache.self.key, c.cache.self.value]);
      tf.dispose([d.output, d.cache.self.key, d.cache.self.value]);
      expectNoLeak(
        () =>
          transformerDecoderBlockCore(checked, params, x, {}, cache) as CachedDecoderBlockResult,
      );
      tf.dispose([x, self.key, self.value, ...treeLeaves(params)]);
    });
  }
});
