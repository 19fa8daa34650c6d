import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { expect, it } from 'vitest';
import {
  bertConfig,
  type EncoderClassifierConfig,
  type EncoderClassifierParams,
  encoderClassifier,
  encoderHiddenStates,
  initEncoderClassifier,
} from '../../src/index';
import { describeEachBackend } from '../helpers/backends';
import { expectClose } from '../helpers/close';
import { expectNoLeak } from '../helpers/leaks';
import { flattenParams } from '../helpers/params';
import { describeRejections, thrownWithoutLeak } from '../helpers/rejections';

// BERT's token types (segments), tanh pooler and headless encoder
// (encoderHiddenStates). Parity with transformers' BERT is in
// test/pretrained/bert.test.ts.

const int = (values: number[][]) => tf.tensor2d(values, undefined, 'int32');
const sizes = { vocabSize: 12, maxLength: 6, dModel: 16, numLayers: 2, numHeads: 2 };
const bert = (extra: Partial<EncoderClassifierConfig> = {}): EncoderClassifierConfig => ({
  ...bertConfig({ ...sizes, numClasses: 3, typeVocabSize: 2, pooler: 'tanh' }),
  ...extra,
});
const disposeParams = (p: EncoderClassifierParams) => tf.dispose(Object.values(flattenParams(p)));

describeEachBackend('encoder classifier: token types, pooler, hidden states', () => {
  it('adds the new parts only when the config asks, and keeps the old parts’ init', () => {
    const plain = bertConfig({ ...sizes, numClasses: 3 });
    const old = initEncoderClassifier(plain, 7);
    const full = initEncoderClassifier(bert(), 7);
    const headless = initEncoderClassifier(bert({ numClasses: 0 }), 7);
    expect(old.tokenTypeEmbedding).toBeUndefined();
    expect(old.pooler).toBeUndefined();
    expect(full.tokenTypeEmbedding?.table.shape).toEqual([2, 16]);
    expect(full.pooler?.kernel.shape).toEqual([16, 16]);
    expect(full.pooler?.bias?.shape).toEqual([16]);
    expect(headless.head).toBeUndefined();
    // splitSeed is prefix-stable: the parts every config has are the same tensors' values.
    expectClose(full.tokenEmbedding.table, old.tokenEmbedding.table, { rtol: 0, atol: 0 });
    expectClose(full.head!.kernel, old.head!.kernel, { rtol: 0, atol: 0 });
    expectClose(full.blocks[1]!.attention.query.kernel, old.blocks[1]!.attention.query.kernel, {
      rtol: 0,
      atol: 0,
    });
    expect(full.tokenTypeEmbedding!.table.arraySync()[1]).not.toEqual(
      full.tokenTypeEmbedding!.table.arraySync()[0],
    );
    [old, full, headless].forEach(disposeParams);
  });

  it('token types: absent ids mean all type 0; type 1 changes the states', () => {
    const config = bert();
    const params = initEncoderClassifier(config, 1);
    tf.tidy(() => {
      const ids = int([[1, 4, 5, 2, 7, 2]]);
      const none = encoderHiddenStates(config, params, ids);
      const zeros = encoderHiddenStates(config, params, ids, {
        tokenTypeIds: int([[0, 0, 0, 0, 0, 0]]),
      });
      const ones = encoderHiddenStates(config, params, ids, {
        tokenTypeIds: int([[0, 0, 0, 0, 1, 1]]),
      });
      expect(none.hiddenStates.shape).toEqual([1, 6, 16]);
      expect(none.pooled.shape).toEqual([1, 16]);
      expectClose(zeros.hiddenStates, none.hiddenStates, { rtol: 1e-6, atol: 1e-6 });
      const diff = tf.max(tf.abs(tf.sub(ones.hiddenStates, none.hiddenStates))).dataSync()[0]!;
      expect(diff).toBeGreaterThan(1e-3);
    });
    disposeParams(params);
  });

  it('the pooler is tanh(dense([CLS])) and the head reads the pooled state', () => {
    const config = bert();
    const params = initEncoderClassifier(config, 2);
    tf.tidy(() => {
      const ids = int([
        [1, 4, 5, 2, 0, 0],
        [1, 8, 9, 3, 6, 2],
      ]);
      const paddingMask = tf.tensor2d([
        [1, 1, 1, 1, 0, 0],
        [1, 1, 1, 1, 1, 1],
      ]);
      const tokenTypeIds = int([
        [0, 0, 1, 1, 0, 0],
        [0, 0, 0, 1, 1, 1],
      ]);
      const options = { paddingMask, tokenTypeIds };
      const { hiddenStates, pooled } = encoderHiddenStates(config, params, ids, options);
      const cls = tf.squeeze(tf.slice(hiddenStates, [0, 0, 0], [-1, 1, -1]), [1]);
      const byHand = tf.tanh(tf.add(tf.matMul(cls, params.pooler!.kernel), params.pooler!.bias!));
      expectClose(pooled, byHand, { rtol: 1e-5, atol: 1e-6 });
      const logits = encoderClassifier(config, params, ids, options);
      const head = tf.add(tf.matMul(pooled, params.head!.kernel), params.head!.bias!);
      expect(logits.shape).toEqual([2, 3]);
      expectClose(logits, head, { rtol: 1e-5, atol: 1e-6 });
    });
    disposeParams(params);
  });

  it('an encoder without a head (numClasses 0) gives hidden states, and no logits', () => {
    const config = bert({ numClasses: 0 });
    const params = initEncoderClassifier(config, 3);
    const ids = int([[1, 2, 3]]);
    const { hiddenStates, pooled } = encoderHiddenStates(config, params, ids);
    expect(hiddenStates.shape).toEqual([1, 3, 16]);
    expect(pooled.shape).toEqual([1, 16]);
    const error = thrownWithoutLeak(() => encoderClassifier(config, params, ids));
    expect(error.argument).toBe('config.numClasses');
    tf.dispose([hiddenStates, pooled, ids]);
    disposeParams(params);
  });

  it('gradients reach the token-type table and the pooler', () => {
    const config = bert();
    const params = initEncoderClassifier(config, 4);
    const ids = int([[1, 4, 5, 2]]);
    const tokenTypeIds = int([[0, 0, 1, 1]]);
    const f = (table: tf.Tensor, kernel: tf.Tensor) =>
      tf.sum(
        tf.square(
          encoderClassifier(
            config,
            {
              ...params,
              tokenTypeEmbedding: { table: table as tf.Tensor2D },
              pooler: { ...params.pooler!, kernel: kernel as tf.Tensor2D },
            },
            ids,
            { tokenTypeIds },
          ),
        ),
      );
    const [gTable, gKernel] = tf.grads(f)([
      params.tokenTypeEmbedding!.table,
      params.pooler!.kernel,
    ]);
    expect(tf.max(tf.abs(gTable!)).dataSync()[0]).toBeGreaterThan(0);
    expect(tf.max(tf.abs(gKernel!)).dataSync()[0]).toBeGreaterThan(0);
    tf.dispose([gTable!, gKernel!, ids, tokenTypeIds]);
    disposeParams(params);
  });

  it('leaves no tensor behind', () => {
    const config = bert();
    const params = initEncoderClassifier(config, 5);
    const ids = int([[1, 2, 3]]);
    const tokenTypeIds = int([[0, 1, 1]]);
    const paddingMask = tf.tensor2d([[1, 1, 0]]);
    expectNoLeak(() => encoderHiddenStates(config, params, ids, { tokenTypeIds, paddingMask }));
    expectNoLeak(() => encoderHiddenStates(config, params, ids));
    expectNoLeak(() => encoderClassifier(config, params, ids, { tokenTypeIds, paddingMask }));
    expectNoLeak(() => initEncoderClassifier(bert({ numClasses: 0 }), 1));
    expectNoLeak(() => initEncoderClassifier(config, 1));
    tf.dispose([ids, tokenTypeIds, paddingMask]);
    disposeParams(params);
  });
});

describeRejections('encoder classifier rejects bad BERT parts', () => [
  [
    'typeVocabSize 0',
    () => initEncoderClassifier(bert({ typeVocabSize: 0 }), 0),
    /config.typeVocabSize/,
  ],
  [
    'unknown pooler',
    () => initEncoderClassifier(bert({ pooler: 'relu' as 'tanh' }), 0),
    /config.pooler/,
  ],
]);

describeEachBackend(
  'encoder classifier: bad BERT inputs name their argument and leave nothing behind',
  () => {
    type Inputs = {
      params: EncoderClassifierParams;
      plainParams: EncoderClassifierParams;
      ids: tf.Tensor;
      types: Record<'zeros' | 'outOfRange' | 'short' | 'floats', tf.Tensor>;
    };
    const plain = bertConfig({ ...sizes, numClasses: 3 });
    const cases: [argument: string, name: string, call: (x: Inputs) => unknown][] = [
      [
        'config.typeVocabSize',
        'typeVocabSize 1.5',
        (x) => encoderHiddenStates(bert({ typeVocabSize: 1.5 }), x.params, x.ids),
      ],
      [
        'config.pooler',
        "pooler 'relu'",
        (x) => encoderHiddenStates(bert({ pooler: 'relu' as 'tanh' }), x.params, x.ids),
      ],
      [
        'config.numClasses',
        'numClasses -1',
        (x) => encoderHiddenStates(bert({ numClasses: -1 }), x.params, x.ids),
      ],
      [
        'options.tokenTypeIds',
        'token types without config.typeVocabSize',
        (x) => encoderClassifier(plain, x.plainParams, x.ids, { tokenTypeIds: x.types.zeros }),
      ],
      [
        'options.tokenTypeIds',
        'token type out of range',
        (x) => encoderClassifier(bert(), x.params, x.ids, { tokenTypeIds: x.types.outOfRange }),
      ],
      [
        'options.tokenTypeIds',
        'token types of the wrong shape',
        (x) => encoderHiddenStates(bert(), x.params, x.ids, { tokenTypeIds: x.types.short }),
      ],
      [
        'options.tokenTypeIds',
        'float token types',
        (x) => encoderHiddenStates(bert(), x.params, x.ids, { tokenTypeIds: x.types.floats }),
      ],
      [
        'params.tokenTypeEmbedding',
        'token-type table missing',
        (x) => encoderHiddenStates(bert(), { ...x.params, tokenTypeEmbedding: undefined }, x.ids),
      ],
      [
        'params.pooler',
        'pooler missing',
        (x) => encoderClassifier(bert(), { ...x.params, pooler: undefined }, x.ids),
      ],
      [
        'params.head',
        'head missing',
        (x) => encoderClassifier(bert(), { ...x.params, head: undefined }, x.ids),
      ],
      ['params', 'params not a record', (x) => encoderHiddenStates(bert(), null as never, x.ids)],
    ];
    for (const [argument, name, call] of cases) {
      it(`${name}: ${argument}`, () => {
        const x: Inputs = {
          params: initEncoderClassifier(bert(), 0),
          plainParams: initEncoderClassifier(plain, 0),
          ids: int([[1, 2, 3]]),
          types: {
            zeros: int([[0, 0, 0]]),
            outOfRange: int([[0, 2, 0]]),
            short: int([[0, 1]]),
            floats: tf.tensor2d([[0, 1, 0]]),
          },
        };
        const error = thrownWithoutLeak(() => call(x));
        expect(error.argument).toBe(argument);
        disposeParams(x.params);
        disposeParams(x.plainParams);
        tf.dispose([x.ids, Object.values(x.types)]);
      });
    }
  },
);
