import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  cosineEmbeddingLoss,
  ctcLoss,
  distillationLoss,
  focalLoss,
  huberLoss,
  infoNceLoss,
  klDivergence,
  meanAbsoluteError,
  meanSquaredError,
  perplexity,
  sigmoidBinaryCrossEntropy,
  softmaxCrossEntropy,
  type TfjsBlocksError,
  tokenAccuracy,
  tripletMarginLoss,
} from '../../src/index';
import { expectRejected } from '../property/support';

// biome-ignore lint/suspicious/noExplicitAny: bad options are the point of these tests.
const bad = (x: unknown) => x as any;
const int = (values: number[], shape?: number[]) => tf.tensor(values, shape, 'int32');

/** Per loss: a call with one misspelt option, the key, and the name it should suggest. */
const UNKNOWN_KEYS: Array<[string, () => unknown, string, string | undefined]> = [
  [
    'softmaxCrossEntropy',
    () => softmaxCrossEntropy(tf.zeros([2, 3]), int([0, 1]), bad({ label_smoothing: 0.1 })),
    'label_smoothing',
    'labelSmoothing',
  ],
  [
    'sigmoidBinaryCrossEntropy',
    () =>
      sigmoidBinaryCrossEntropy(tf.zeros([2]), tf.zeros([2]), bad({ posWeights: tf.ones([2]) })),
    'posWeights',
    'posWeight',
  ],
  ['focalLoss', () => focalLoss(tf.zeros([2]), tf.zeros([2]), bad({ gama: 2 })), 'gama', 'gamma'],
  [
    'klDivergence',
    () => klDivergence(tf.zeros([2]), tf.zeros([2]), bad({ log_target: true })),
    'log_target',
    'logTarget',
  ],
  [
    'distillationLoss',
    () => distillationLoss(tf.zeros([2, 3]), tf.zeros([2, 3]), bad({ temprature: 2 })),
    'temprature',
    'temperature',
  ],
  [
    'ctcLoss',
    () =>
      ctcLoss(tf.zeros([5, 1, 4]) as tf.Tensor3D, int([1, 2], [1, 2]), [5], [2], bad({ blanc: 0 })),
    'blanc',
    'blank',
  ],
  [
    'cosineEmbeddingLoss',
    () => cosineEmbeddingLoss(tf.zeros([2, 3]), tf.zeros([2, 3]), tf.ones([2]), bad({ margn: 0 })),
    'margn',
    'margin',
  ],
  [
    'tripletMarginLoss',
    () =>
      tripletMarginLoss(tf.zeros([2, 3]), tf.zeros([2, 3]), tf.zeros([2, 3]), bad({ swp: true })),
    'swp',
    'swap',
  ],
  [
    'tripletMarginLoss eps (renamed epsilon)',
    () => tripletMarginLoss(tf.zeros([2, 3]), tf.zeros([2, 3]), tf.zeros([2, 3]), bad({ eps: 0 })),
    'eps',
    'epsilon',
  ],
  [
    'infoNceLoss',
    () => infoNceLoss(tf.ones([2, 3]), tf.ones([2, 3]), bad({ normalise: true })),
    'normalise',
    'normalize',
  ],
  [
    'meanSquaredError',
    () => meanSquaredError(tf.zeros([2]), tf.zeros([2]), bad({ reduce: 'sum' })),
    'reduce',
    undefined,
  ],
  [
    'meanAbsoluteError',
    () => meanAbsoluteError(tf.zeros([2]), tf.zeros([2]), bad({ reductions: 'sum' })),
    'reductions',
    'reduction',
  ],
  ['huberLoss', () => huberLoss(tf.zeros([2]), tf.zeros([2]), bad({ delt: 1 })), 'delt', 'delta'],
  [
    'tokenAccuracy',
    () => tokenAccuracy(tf.zeros([2, 3]), int([0, 1]), bad({ ignore_index: -100 })),
    'ignore_index',
    'ignoreIndex',
  ],
  [
    'perplexity',
    () => perplexity(tf.zeros([2, 3]), int([0, 1]), bad({ ignoreIdx: -100 })),
    'ignoreIdx',
    'ignoreIndex',
  ],
];

/** Flags must be booleans: 'no' used to count as true (and 0 as false for `swap`). */
const FLAGS: Array<[string, () => unknown, RegExp]> = [
  [
    'klDivergence logTarget "no"',
    () => klDivergence(tf.zeros([2]), tf.zeros([2]), bad({ logTarget: 'no' })),
    /^options\.logTarget$/,
  ],
  [
    'ctcLoss zeroInfinity 1',
    () =>
      ctcLoss(
        tf.zeros([5, 1, 4]) as tf.Tensor3D,
        int([1, 2], [1, 2]),
        [5],
        [2],
        bad({ zeroInfinity: 1 }),
      ),
    /^options\.zeroInfinity$/,
  ],
  [
    'tripletMarginLoss swap "yes"',
    () =>
      tripletMarginLoss(tf.zeros([2, 3]), tf.zeros([2, 3]), tf.zeros([2, 3]), bad({ swap: 'yes' })),
    /^options\.swap$/,
  ],
  [
    'infoNceLoss symmetric 0',
    () => infoNceLoss(tf.ones([2, 3]), tf.ones([2, 3]), bad({ symmetric: 0 })),
    /^options\.symmetric$/,
  ],
  [
    'infoNceLoss normalize "false"',
    () => infoNceLoss(tf.ones([2, 3]), tf.ones([2, 3]), bad({ normalize: 'false' })),
    /^options\.normalize$/,
  ],
  [
    'tripletMarginLoss epsilon -1',
    () => tripletMarginLoss(tf.zeros([2, 3]), tf.zeros([2, 3]), tf.zeros([2, 3]), { epsilon: -1 }),
    /^options\.epsilon$/,
  ],
  [
    'softmaxCrossEntropy options null',
    () => softmaxCrossEntropy(tf.zeros([2, 3]), int([0, 1]), bad(null)),
    /^options$/,
  ],
];

describe('losses reject unknown option keys, naming the closest known one', () => {
  for (const [name, call, key, suggestion] of UNKNOWN_KEYS) {
    it(name, () => {
      tf.tidy(() => {
        expectRejected(call, new RegExp(`^options\\.${key}$`));
        try {
          call();
        } catch (e) {
          const hint = (e as TfjsBlocksError).expected;
          if (suggestion) expect(hint).toContain(`'${suggestion}'`);
          else expect(hint).not.toContain('did you mean');
        }
      });
    });
  }
});

describe('losses check their flags', () => {
  for (const [name, call, argument] of FLAGS) {
    it(name, () => tf.tidy(() => expectRejected(call, argument)));
  }
});
