import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import {
  applyNorm,
  embed,
  initEmbedding,
  initLinear,
  initNorm,
  initPatchEmbedding,
  initTokenAndPositionEmbedding,
  linear,
  patchEmbedding,
  positionEmbedding,
  tiedOutputProjection,
  tokenAndPositionEmbedding,
} from '../../src/index';
import { describeEachBackend } from '../helpers/backends';
import { thrownWithoutLeak } from '../helpers/rejections';

// Blocks that own parameters are called (config, params, x): the forward
// takes the config its init took and checks the params against it, so a
// config and params that do not belong together fail with a typed error
// naming the field, instead of computing with the wrong sizes.

describeEachBackend('nn blocks check their params against their config', () => {
  it('linear: kernel of another shape, and a bias the config rules out', () => {
    const config = { inFeatures: 4, outFeatures: 3 };
    const params = initLinear(config, 0);
    const x = tf.zeros([2, 4]);
    const wide = thrownWithoutLeak(() => linear({ ...config, outFeatures: 5 }, params, x));
    expect(wide.functionName).toBe('linear');
    expect(wide.argument).toBe('params.kernel.shape[1]');
    const noBias = thrownWithoutLeak(() => linear({ ...config, useBias: false }, params, x));
    expect(noBias.argument).toBe('params.bias');
    const missing = thrownWithoutLeak(() => linear(config, { kernel: params.kernel }, x));
    expect(missing.argument).toBe('params.bias');
    const unknown = thrownWithoutLeak(() =>
      linear({ ...config, outFeature: 3 } as never, params, x),
    );
    expect(unknown.argument).toBe('config.outFeature');
    tf.dispose([params, x]);
  });

  it('embed, positionEmbedding and tiedOutputProjection: a table of another size', () => {
    const config = { numEmbeddings: 6, embeddingDim: 4 };
    const params = initEmbedding(config, 0);
    const ids = tf.tensor2d([[1, 2]], undefined, 'int32');
    const other = { numEmbeddings: 7, embeddingDim: 4 };
    expect(thrownWithoutLeak(() => embed(other, params, ids)).argument).toBe(
      'params.table.shape[0]',
    );
    expect(
      thrownWithoutLeak(() => positionEmbedding({ ...config, embeddingDim: 2 }, params, 2))
        .argument,
    ).toBe('params.table.shape[1]');
    const hidden = tf.zeros([1, 4]);
    expect(thrownWithoutLeak(() => tiedOutputProjection(other, params, hidden)).argument).toBe(
      'params.table.shape[0]',
    );
    // The old width names are unknown keys now.
    expect(thrownWithoutLeak(() => embed({ rows: 6, dim: 4 } as never, params, ids)).argument).toBe(
      'config.rows',
    );
    tf.dispose([params, ids, hidden]);
  });

  it('tokenAndPositionEmbedding: config.dModel against the tables', () => {
    const config = { vocabSize: 10, maxLength: 8, dModel: 4 };
    const params = initTokenAndPositionEmbedding(config, 0);
    const ids = tf.tensor2d([[1, 2, 3]], undefined, 'int32');
    expect(tokenAndPositionEmbedding(config, params, ids).shape).toEqual([1, 3, 4]);
    const e = thrownWithoutLeak(() =>
      tokenAndPositionEmbedding({ ...config, dModel: 6 }, params, ids),
    );
    expect(e.functionName).toBe('embed');
    expect(e.argument).toBe('params.table.shape[1]');
    tf.dispose([params, ids]);
  });

  it('patchEmbedding: the patch size comes from the config', () => {
    const config = { patchSize: 2, channels: 1, dModel: 3 };
    const params = initPatchEmbedding(config, 0);
    const images = tf.zeros([1, 4, 4, 1]) as tf.Tensor4D;
    expect(patchEmbedding(config, params, images).shape).toEqual([1, 4, 3]);
    const e = thrownWithoutLeak(() => patchEmbedding({ ...config, dModel: 5 }, params, images));
    expect(e.argument).toBe('params.kernel.shape[1]');
    tf.dispose([params, images]);
  });

  it('initNorm and applyNorm take the width in the config', () => {
    const config = { kind: 'layer', dModel: 4 } as const;
    const params = initNorm(config);
    expect(params.gamma.shape).toEqual([4]);
    const x = tf.zeros([2, 4]);
    expect(applyNorm(config, params, x).shape).toEqual([2, 4]);
    const wide = thrownWithoutLeak(() => applyNorm({ ...config, dModel: 5 }, params, x));
    expect(wide.functionName).toBe('applyNorm');
    expect(wide.argument).toBe('params.gamma.shape[0]');
    const noWidth = thrownWithoutLeak(() => initNorm({ kind: 'rms' } as never));
    expect(noWidth.argument).toBe('config.dModel');
    tf.dispose([params, x]);
  });
});
