import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import {
  adamw,
  bertConfig,
  type EncoderDecoderConfig,
  encoderClassifier,
  encoderDecoder,
  initEncoderClassifier,
  initEncoderDecoder,
  softmaxCrossEntropy,
} from '../../src/index';
import { describeEachBackend } from '../helpers/backends';
import { expectClose } from '../helpers/close';
import { expectNoLeak } from '../helpers/leaks';
import { flattenParams, trainParams } from '../helpers/params';
import { describeRejections } from '../helpers/rejections';

const int = (values: number[][]) => tf.tensor2d(values, undefined, 'int32');
const seq2seq: EncoderDecoderConfig = {
  sourceVocabSize: 6,
  targetVocabSize: 7,
  maxLength: 8,
  numEncoderLayers: 1,
  numDecoderLayers: 1,
  block: {
    dModel: 16,
    numHeads: 2,
    norm: { kind: 'layer' },
    feedForward: { hidden: 32, kind: 'mlp', activation: 'gelu' },
  },
};

describeEachBackend('encoder classifier and encoder-decoder', () => {
  for (const pooling of ['cls', 'mean'] as const) {
    it(`encoder classifier (${pooling} pooling) ignores padded tokens`, () => {
      tf.tidy(() => {
        const config = bertConfig({
          vocabSize: 10,
          maxLength: 6,
          dModel: 16,
          numLayers: 2,
          numHeads: 2,
          numClasses: 3,
          pooling,
        });
        const params = initEncoderClassifier(config, 0);
        const mask = tf.tensor2d([
          [1, 1, 1, 1, 0, 0],
          [1, 1, 1, 1, 1, 1],
        ]);
        const a = encoderClassifier(
          config,
          params,
          int([
            [1, 2, 3, 4, 0, 0],
            [5, 6, 7, 8, 9, 1],
          ]),
          { paddingMask: mask },
        );
        const b = encoderClassifier(
          config,
          params,
          int([
            [1, 2, 3, 4, 9, 7],
            [5, 6, 7, 8, 9, 1],
          ]),
          { paddingMask: mask },
        );
        expect(a.shape).toEqual([2, 3]);
        expectClose(a, b, { rtol: 1e-5, atol: 1e-6 });
      });
    });
  }

  it('encoder classifier learns whether token 3 occurs', () => {
    const config = bertConfig({
      vocabSize: 6,
      maxLength: 5,
      dModel: 16,
      numLayers: 1,
      numHeads: 2,
      numClasses: 2,
      pooling: 'mean',
    });
    const rows = [
      [1, 2, 3, 4, 5],
      [1, 2, 4, 5, 1],
      [3, 1, 1, 2, 2],
      [5, 4, 2, 1, 2],
      [2, 2, 3, 2, 2],
      [4, 4, 5, 5, 1],
    ];
    const ids = int(rows);
    const labels = tf.tensor1d(
      rows.map((r) => (r.includes(3) ? 1 : 0)),
      'int32',
    );
    const before = tf.memory().numTensors;
    const initial = initEncoderClassifier(config, 1);
    const { params, first, last } = trainParams(
      initial,
      (p) => softmaxCrossEntropy(encoderClassifier(config, p, ids), labels) as tf.Scalar,
      adamw({ learningRate: 1e-2, weightDecay: 0 }),
      60,
    );
    expect(last).toBeLessThan(first * 0.3);
    tf.dispose([Object.values(flattenParams(params)), Object.values(flattenParams(initial))]);
    // 60 training steps leave nothing behind.
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([ids, labels]);
  });

  it('encoder-decoder learns to copy its source (teacher forcing)', () => {
    const source = int([
      [1, 2, 3, 4],
      [4, 3, 2, 1],
      [5, 1, 5, 2],
    ]);
    // Target vocabulary: source tokens + 1, with 0 as the start token.
    const decoderInput = int([
      [0, 2, 3, 4],
      [0, 5, 4, 3],
      [0, 6, 2, 6],
    ]);
    const target = int([
      [2, 3, 4, 5],
      [5, 4, 3, 2],
      [6, 2, 6, 3],
    ]);
    const initial = initEncoderDecoder(seq2seq, 2);
    const { params, first, last } = trainParams(
      initial,
      (p) =>
        softmaxCrossEntropy(encoderDecoder(seq2seq, p, source, decoderInput), target) as tf.Scalar,
      adamw({ learningRate: 2e-2, weightDecay: 0 }),
      60,
    );
    expect(last).toBeLessThan(first * 0.2);
    tf.dispose([
      source,
      decoderInput,
      target,
      Object.values(flattenParams(params)),
      Object.values(flattenParams(initial)),
    ]);
  });

  it('leaves no tensor behind', () => {
    const config = bertConfig({
      vocabSize: 10,
      maxLength: 6,
      dModel: 16,
      numLayers: 1,
      numHeads: 2,
      numClasses: 3,
    });
    const params = initEncoderClassifier(config, 0);
    const ids = int([[1, 2, 3]]);
    const mask = tf.tensor2d([[1, 1, 0]]);
    expectNoLeak(() => encoderClassifier(config, params, ids, { paddingMask: mask }));
    const s2s = initEncoderDecoder(seq2seq, 0);
    expectNoLeak(() => encoderDecoder(seq2seq, s2s, ids, ids, { sourceMask: mask }));
    expectNoLeak(() => initEncoderDecoder(seq2seq, 1));
    tf.dispose([
      Object.values(flattenParams(params)),
      Object.values(flattenParams(s2s)),
      ids,
      mask,
    ]);
  });
});

describeRejections('models reject bad input with a TfjsBlocksError', () => [
  [
    'unknown pooling',
    () =>
      initEncoderClassifier(
        {
          ...bertConfig({
            vocabSize: 4,
            maxLength: 4,
            dModel: 8,
            numLayers: 1,
            numHeads: 2,
            numClasses: 2,
          }),
          pooling: 'max' as 'cls',
        },
        0,
      ),
    /config.pooling must be 'cls' or 'mean'; got max/,
  ],
  [
    'padding mask of the wrong shape',
    () => {
      const config = bertConfig({
        vocabSize: 4,
        maxLength: 4,
        dModel: 8,
        numLayers: 1,
        numHeads: 2,
        numClasses: 2,
      });
      encoderClassifier(config, initEncoderClassifier(config, 0), int([[1, 2]]), {
        paddingMask: tf.ones([1, 3]),
      });
    },
    /options.paddingMask must be \[batch, time\] = \[1, 2\]; got shape \[1, 3\]/,
  ],
  [
    'source longer than maxLength',
    () =>
      encoderDecoder(
        seq2seq,
        initEncoderDecoder(seq2seq, 0),
        int([[1, 1, 1, 1, 1, 1, 1, 1, 1]]),
        int([[0]]),
      ),
    /sourceIds.shape\[1\] must be at most config.maxLength = 8; got 9/,
  ],
  [
    'zero decoder layers',
    () => initEncoderDecoder({ ...seq2seq, numDecoderLayers: 0 }, 0),
    /config.numDecoderLayers must be an integer >= 1/,
  ],
]);
