// Shared by tf-optimizer.test.ts and resume-child.ts: a small model with one of
// our Layers (its weight is `…/tokens.table`), fixed data, and how to fit it, so
// a run resumed in this process or in a child can be compared to one that went on.
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { OptimizerRecipe } from '../../src/index';
import { TokenAndPositionEmbedding } from '../../src/layers/index';

/** adamw with clipping, written as data so the saved model can rebuild it. */
export const RECIPE: OptimizerRecipe = {
  optimizer: 'adamw',
  options: { learningRate: 0.02, weightDecay: 0.1, mask: 'weightDecayMask' },
  clipByGlobalNorm: 1,
};

/** Three epochs of four batches, in a fixed order. */
export const FIT = { epochs: 3, batchSize: 2, shuffle: false, verbose: 0 } as const;

/** Token ids -> embedding -> dense logits over 6 classes. */
export function buildModel(): tfl.LayersModel {
  const ids = tfl.input({ shape: [4], dtype: 'int32' });
  const h = new TokenAndPositionEmbedding({ vocabSize: 6, maxLength: 4, dModel: 8, seed: 1 }).apply(
    ids,
  ) as tfl.SymbolicTensor;
  const logits = tfl.layers
    .dense({ units: 6, kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }) })
    .apply(h) as tfl.SymbolicTensor;
  return tfl.model({ inputs: ids, outputs: logits });
}

/** Eight sequences and their next-token one-hot targets. */
export function data(): { x: tf.Tensor; y: tf.Tensor } {
  const rows = Array.from({ length: 8 }, (_, r) =>
    [0, 1, 2, 3, 4].map((i) => (r + i * ((r % 3) + 1)) % 6),
  );
  const x = tf.tensor2d(
    rows.map((r) => r.slice(0, 4)),
    undefined,
    'int32',
  );
  const y = tf.oneHot(
    tf.tensor2d(
      rows.map((r) => r.slice(1)),
      undefined,
      'int32',
    ),
    6,
  );
  return { x, y };
}
