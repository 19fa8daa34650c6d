import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import { it } from 'vitest';
import {
  adafactor,
  adagrad,
  adam,
  adamw,
  clipByGlobalNorm,
  cosineDecaySchedule,
  exponentialDecaySchedule,
  type GradientTransformation,
  generate,
  gpt2Config,
  initDecoderLm,
  initMultiHeadAttention,
  lamb,
  layerNorm,
  linear,
  linearSchedule,
  lion,
  memoryEfficientAttention,
  multiHeadAttention,
  rmsNorm,
  rmsprop,
  type ScaledDotProductAttentionOptions,
  scaledDotProductAttention,
  sgd,
  softmaxCrossEntropy,
  warmupCosineDecaySchedule,
} from '../../src/index';
import { treeLeaves } from '../../src/tree/leaves';
import { describeEachBackend } from '../helpers/backends';
import { expectRejected, expectRejectedAsync, runs } from './support';

/** One bad call: what it is, the call, and the argument its error must name. */
type Bad = { what: string; call: () => unknown; argument: RegExp };
const bad = (what: string, call: () => unknown, argument: RegExp): Bad => ({
  what,
  call,
  argument,
});

/** Numbers no option accepts: NaN and the infinities. */
const nonFinite = fc.constantFrom(Number.NaN, Infinity, -Infinity);
/** Numbers below zero. */
const negative = fc.oneof(fc.constantFrom(-1, -1e-7, -1e9), fc.double({ max: -1e-6, noNaN: true }));
/** Not integers. */
const fractional = fc.constantFrom(0.5, 1.5, 2.25, Number.NaN);

const z = (shape: number[], dtype: tf.DataType = 'float32') => tf.zeros(shape, dtype);
const z4 = (shape: number[], dtype: tf.DataType = 'float32') => z(shape, dtype) as tf.Tensor4D;
const disposed = (shape: number[], dtype: tf.DataType = 'float32') => {
  const t = z(shape, dtype);
  t.dispose();
  return t;
};

const attentionFns: Array<
  [
    string,
    (
      q: tf.Tensor4D,
      k: tf.Tensor4D,
      v: tf.Tensor4D,
      o?: ScaledDotProductAttentionOptions,
    ) => unknown,
  ]
> = [
  ['scaledDotProductAttention', (q, k, v, o) => scaledDotProductAttention(q, k, v, o)],
  ['memoryEfficientAttention', (q, k, v, o) => memoryEfficientAttention(q, k, v, o)],
];

/** Bad attention calls around valid sizes [b, h, t, d]. */
const attentionBad = fc
  .record({
    which: fc.constantFrom(0, 1),
    b: fc.integer({ min: 1, max: 3 }),
    h: fc.constantFrom(2, 4),
    t: fc.integer({ min: 1, max: 9 }),
    d: fc.integer({ min: 1, max: 8 }),
    rank: fc.constantFrom(1, 2, 3, 5),
    kind: fc.integer({ min: 0, max: 12 }),
    n: fc.oneof(nonFinite, negative),
    frac: fractional,
  })
  .map(({ which, b, h, t, d, rank, kind, n, frac }): Bad => {
    const [name, attend] = attentionFns[which]!;
    const ok = () => z4([b, h, t, d]);
    const wrongRank = () => z4(Array.from({ length: rank }, () => 2));
    const cases: Bad[] = [
      bad(`${name}: q of rank ${rank}`, () => attend(wrongRank(), ok(), ok()), /^q$/),
      bad(`${name}: int32 k`, () => attend(ok(), z4([b, h, t, d], 'int32'), ok()), /^k$/),
      bad(`${name}: k batch`, () => attend(ok(), z4([b + 1, h, t, d]), ok()), /^k\.shape\[0\]$/),
      bad(`${name}: k headDim`, () => attend(ok(), z4([b, h, t, d + 1]), ok()), /^k\.shape\[3\]$/),
      bad(`${name}: v time`, () => attend(ok(), ok(), z4([b, h, t + 1, d])), /^v\.shape\[2\]$/),
      bad(
        `${name}: kv heads not a divisor`,
        () => attend(ok(), z4([b, h + 1, t, d]), z4([b, h + 1, t, d])),
        /^k\.shape\[1\]$/,
      ),
      bad(
        `${name}: mask shape`,
        () => attend(ok(), ok(), ok(), { mask: z([t + 1, t + 2], 'bool') }),
        /^options\.mask$/,
      ),
      bad(
        `${name}: null mask`,
        () => attend(ok(), ok(), ok(), { mask: null as unknown as tf.Tensor }),
        /^options\.mask$/,
      ),
      bad(
        `${name}: disposed bool mask`,
        () => attend(ok(), ok(), ok(), { mask: disposed([t, t], 'bool') }),
        /^options\.mask$/,
      ),
      bad(
        `${name}: scale ${n}`,
        () => attend(ok(), ok(), ok(), { scale: Number.isFinite(n) ? Number.NaN : n }),
        /^options\.scale$/,
      ),
      bad(
        `${name}: dropoutRate ${n}`,
        () => attend(ok(), ok(), ok(), { dropoutRate: n }),
        /^options\.dropoutRate$/,
      ),
      bad(
        `${name}: seed ${frac}`,
        () => attend(ok(), ok(), ok(), { seed: frac }),
        /^options\.seed$/,
      ),
      bad(
        `${name}: chunkSize ${frac}`,
        () => attend(ok(), ok(), ok(), { chunkSize: frac }),
        /^options\.chunkSize$/,
      ),
    ];
    return cases[kind]!;
  });

const mhaBad = fc
  .record({
    b: fc.integer({ min: 1, max: 3 }),
    t: fc.integer({ min: 1, max: 9 }),
    kind: fc.integer({ min: 0, max: 5 }),
    rank: fc.constantFrom(1, 2, 4),
    n: fc.oneof(nonFinite, fractional, negative),
  })
  .map(({ b, t, kind, rank, n }): Bad => {
    const config = { dModel: 8, numHeads: 2 };
    const params = () => initMultiHeadAttention(config, 0);
    const x = () => z([b, t, 8]) as tf.Tensor3D;
    const cases: Bad[] = [
      bad(
        `x of rank ${rank}`,
        () => multiHeadAttention(config, params(), z(new Array(rank).fill(8)) as tf.Tensor3D),
        /^x$/,
      ),
      bad(
        'int32 x',
        () => multiHeadAttention(config, params(), z([b, t, 8], 'int32') as tf.Tensor3D),
        /^x$/,
      ),
      bad(
        'x width',
        () => multiHeadAttention(config, params(), z([b, t, 7]) as tf.Tensor3D),
        /^x\.shape\[-1\]$/,
      ),
      bad(
        'context batch',
        () =>
          multiHeadAttention(config, params(), x(), { context: z([b + 1, t, 8]) as tf.Tensor3D }),
        /^options\.context\.shape\[0\]$/,
      ),
      bad(
        `numHeads ${n}`,
        () => multiHeadAttention({ ...config, numHeads: n }, params(), x()),
        /^config\.numHeads$/,
      ),
      bad(
        `chunkSize ${n}`,
        () => multiHeadAttention(config, params(), x(), { chunkSize: n }),
        /^options\.chunkSize$/,
      ),
    ];
    return cases[kind]!;
  });

const normBad = fc
  .record({
    f: fc.integer({ min: 1, max: 8 }),
    kind: fc.integer({ min: 0, max: 9 }),
    n: fc.oneof(nonFinite, negative, fc.constant(0)),
  })
  .map(({ f, kind, n }): Bad => {
    const g = () => tf.ones([f]);
    const cases: Bad[] = [
      bad('layerNorm: scalar x', () => layerNorm(tf.scalar(1), g(), g()), /^x$/),
      bad('rmsNorm: scalar x', () => rmsNorm(tf.scalar(1), g()), /^x$/),
      bad('layerNorm: int32 x', () => layerNorm(z([2, f], 'int32'), g(), g()), /^x$/),
      bad(
        'layerNorm: gamma length',
        () => layerNorm(z([2, f]), tf.ones([f + 1]), g()),
        /^gamma\.shape\[0\]$/,
      ),
      bad('rmsNorm: gamma rank 2', () => rmsNorm(z([2, f]), tf.ones([1, f])), /^gamma$/),
      bad('layerNorm: beta int32', () => layerNorm(z([2, f]), g(), z([f], 'int32')), /^beta$/),
      bad(
        `layerNorm: epsilon ${n}`,
        () => layerNorm(z([2, f]), g(), g(), { epsilon: n }),
        /^options\.epsilon$/,
      ),
      bad(
        `rmsNorm: epsilon ${n}`,
        () => rmsNorm(z([2, f]), g(), { epsilon: n }),
        /^options\.epsilon$/,
      ),
      bad(
        'linear: x width',
        () =>
          linear(
            { inFeatures: f, outFeatures: 3, useBias: false },
            { kernel: z([f, 3]) as tf.Tensor2D },
            z([2, f + 1]),
          ),
        /^x\.shape\[-1\]$/,
      ),
      bad(
        'linear: null params',
        () => linear({ inFeatures: f, outFeatures: 3 }, null as never, z([2, f])),
        /^params\.kernel$/,
      ),
    ];
    return cases[kind]!;
  });

/** Constructors of the optimizers with one bad option. */
const constructorBad = fc
  .record({ kind: fc.integer({ min: 0, max: 11 }), n: fc.oneof(nonFinite, negative) })
  .map(({ kind, n }): Bad => {
    const above = Number.isNaN(n) ? n : 1 + Math.abs(n);
    const cases: Bad[] = [
      bad(`sgd learningRate ${n}`, () => sgd({ learningRate: n }), /^options\.learningRate$/),
      bad(`sgd momentum ${n}`, () => sgd({ momentum: n }), /^options\.momentum$/),
      bad(`sgd dampening ${n}`, () => sgd({ momentum: 0.9, dampening: n }), /^options\.dampening$/),
      bad(`adam b1 ${above}`, () => adam({ b1: above }), /^options\.b1$/),
      bad(`adam b2 ${n}`, () => adam({ b2: n }), /^options\.b2$/),
      bad(`adam epsilon ${n}`, () => adam({ epsilon: n }), /^options\.epsilon$/),
      bad(`adamw weightDecay ${n}`, () => adamw({ weightDecay: n }), /^options\.weightDecay$/),
      bad(`lion learningRate ${n}`, () => lion({ learningRate: n }), /^options\.learningRate$/),
      bad(`lamb weightDecay ${n}`, () => lamb({ weightDecay: n }), /^options\.weightDecay$/),
      bad(
        `rmsprop learningRate ${n}`,
        () => rmsprop({ learningRate: n }),
        /^options\.learningRate$/,
      ),
      bad(
        `adagrad learningRate ${n}`,
        () => adagrad({ learningRate: n }),
        /^options\.learningRate$/,
      ),
      bad(`clipByGlobalNorm ${n}`, () => clipByGlobalNorm(n), /^maxNorm$/),
    ];
    return cases[kind]!;
  });

const optimizers: Array<[string, () => GradientTransformation<unknown>]> = [
  ['sgd', () => sgd()],
  ['sgd momentum', () => sgd({ momentum: 0.9 })],
  ['adam', () => adam()],
  ['adamw', () => adamw()],
  ['lion', () => lion()],
  ['lamb', () => lamb()],
  ['rmsprop', () => rmsprop()],
  ['adagrad', () => adagrad()],
  ['adafactor', () => adafactor()],
];

/** update() with gradients that do not fit the parameters: another shape, a missing or an extra name. */
const updateBad = fc
  .record({
    which: fc.integer({ min: 0, max: optimizers.length - 1 }),
    rows: fc.integer({ min: 1, max: 3 }),
    cols: fc.integer({ min: 1, max: 3 }),
    kind: fc.integer({ min: 0, max: 2 }),
  })
  .map(({ which, rows, cols, kind }): Bad => {
    const [name, make] = optimizers[which]!;
    const grads = [
      { w: z([rows, cols + 1]), b: z([cols]) },
      { w: () => z([rows, cols]) },
      { w: z([rows, cols]), b: z([cols]), extra: z([1]) },
    ][kind]!;
    const argument = [/^grads\.w$/, /^grads\.b$/, /^grads\.extra$/][kind]!;
    return bad(
      `${name}: update with ${['a misshapen', 'a missing', 'an extra'][kind]} gradient`,
      () => {
        const optimizer = make();
        const params = { w: z([rows, cols]), b: z([cols]) };
        const state = optimizer.init(params);
        try {
          const g = kind === 1 ? { w: z([rows, cols]) } : (grads as Record<string, tf.Tensor>);
          return optimizer.update(g, state, params);
        } finally {
          tf.dispose(treeLeaves(state));
        }
      },
      argument,
    );
  });

const scheduleBad = fc
  .record({
    kind: fc.integer({ min: 0, max: 6 }),
    n: nonFinite,
    frac: fc.oneof(fractional, fc.constantFrom(0, -1)),
    step: fc.oneof(nonFinite, negative),
  })
  .map(({ kind, n, frac, step }): Bad => {
    const cases: Bad[] = [
      bad(
        `linearSchedule initValue ${n}`,
        () => linearSchedule({ initValue: n, endValue: 0, transitionSteps: 10 }),
        /^options\.initValue$/,
      ),
      bad(
        `linearSchedule transitionSteps ${frac}`,
        () => linearSchedule({ initValue: 1, endValue: 0, transitionSteps: frac }),
        /^options\.transitionSteps$/,
      ),
      bad(
        `cosineDecaySchedule decaySteps ${frac}`,
        () => cosineDecaySchedule({ initValue: 1, decaySteps: frac }),
        /^options\.decaySteps$/,
      ),
      bad(
        `cosineDecaySchedule alpha ${n}`,
        () => cosineDecaySchedule({ initValue: 1, decaySteps: 5, alpha: n }),
        /^options\.alpha$/,
      ),
      bad(
        `exponentialDecaySchedule decayRate ${n}`,
        () =>
          exponentialDecaySchedule({
            initValue: 1,
            transitionSteps: 5,
            decayRate: Number.isNaN(n) ? n : -Math.abs(n),
          }),
        /^options\.decayRate$/,
      ),
      bad(
        `warmupCosineDecaySchedule warmupSteps ${frac}`,
        () =>
          warmupCosineDecaySchedule({
            peakValue: 1,
            warmupSteps: frac === 0 ? -1 : frac, // 0 is a valid warmup
            decaySteps: 10,
          }),
        /^options\.warmupSteps$/,
      ),
      bad(
        `a schedule at step ${step}`,
        () => cosineDecaySchedule({ initValue: 1, decaySteps: 5 })(step),
        /^step$/,
      ),
    ];
    return cases[kind]!;
  });

const lossBad = fc
  .record({
    rows: fc.integer({ min: 1, max: 4 }),
    classes: fc.integer({ min: 2, max: 5 }),
    kind: fc.integer({ min: 0, max: 7 }),
    n: nonFinite,
  })
  .map(({ rows, classes, kind, n }): Bad => {
    const logits = () => z([rows, classes]);
    const labels = () => z([rows], 'int32');
    const cases: Bad[] = [
      bad(
        'labels of another shape',
        () => softmaxCrossEntropy(logits(), z([rows + 1], 'int32')),
        /^labels$/,
      ),
      bad(
        'probability labels of another shape',
        () => softmaxCrossEntropy(logits(), z([rows, classes + 1])),
        /^labels$/,
      ),
      bad(
        'a label out of range',
        () => softmaxCrossEntropy(logits(), tf.fill([rows], classes, 'int32')),
        /^labels$/,
      ),
      bad(
        'disposed labels',
        () => softmaxCrossEntropy(logits(), disposed([rows], 'int32')),
        /^labels$/,
      ),
      bad(
        'int32 logits',
        () => softmaxCrossEntropy(z([rows, classes], 'int32'), labels()),
        /^logits$/,
      ),
      bad(
        `labelSmoothing ${n}`,
        () => softmaxCrossEntropy(logits(), labels(), { labelSmoothing: n }),
        /^options\.labelSmoothing$/,
      ),
      bad(
        'weights of another length',
        () => softmaxCrossEntropy(logits(), labels(), { weights: tf.ones([classes + 1]) }),
        /^options\.weights\.shape\[0\]$/,
      ),
      bad(
        'an unknown reduction',
        () => softmaxCrossEntropy(logits(), labels(), { reduction: 'avg' as never }),
        /^options\.reduction$/,
      ),
    ];
    return cases[kind]!;
  });

describeEachBackend('property: invalid inputs throw TfjsBlocksError naming the argument', () => {
  const groups: Array<[string, fc.Arbitrary<Bad>, number]> = [
    ['scaledDotProductAttention / memoryEfficientAttention', attentionBad, 80],
    ['multiHeadAttention', mhaBad, 40],
    ['layerNorm / rmsNorm / linear', normBad, 60],
    ['optimizer constructors', constructorBad, 60],
    ['optimizer update with gradients that do not fit', updateBad, 40],
    ['schedule constructors and steps', scheduleBad, 50],
    ['softmaxCrossEntropy', lossBad, 50],
  ];
  for (const [title, arbitrary, numRuns] of groups) {
    it(`${title} (${numRuns} runs)`, () => {
      fc.assert(
        fc.property(arbitrary, ({ what, call, argument }) => {
          try {
            tf.tidy(() => expectRejected(call, argument));
          } catch (e) {
            throw new Error(`${what}: ${(e as Error).message}`);
          }
        }),
        runs(numRuns),
      );
    });
  }

  it('generate options (40 runs)', async () => {
    const config = gpt2Config({ vocabSize: 6, maxLength: 8, dModel: 4, numLayers: 1, numHeads: 2 });
    const model = { kind: 'decoderLm' as const, config, params: initDecoderLm(config, 0) };
    const badOptions = fc
      .record({
        kind: fc.integer({ min: 0, max: 11 }),
        n: fc.oneof(nonFinite, negative, fractional),
      })
      .map(({ kind, n }): [string, Record<string, unknown>, RegExp, number[][]?] => {
        const cases: Array<[string, Record<string, unknown>, RegExp, number[][]?]> = [
          [`maxNewTokens ${n}`, { maxNewTokens: n }, /^options\.maxNewTokens$/],
          ['maxNewTokens past the context', { maxNewTokens: 8 }, /^options\.maxNewTokens$/],
          [
            `temperature ${n}`,
            { temperature: Number.isInteger(n) ? -1 : n },
            /^options\.temperature$/,
          ],
          [`numBeams ${n}`, { numBeams: n }, /^options\.numBeams$/],
          [`topK ${n}`, { topK: n }, /^k$/],
          [`topP ${n}`, { topP: n }, /^p$/],
          [`stopTokens [${n}]`, { stopTokens: [n] }, /^options\.stopTokens\[0\]$/],
          ['stopTokens not an array', { stopTokens: 3 }, /^options\.stopTokens$/],
          ['onToken not a function', { onToken: 'print' }, /^options\.onToken$/],
          [
            'logitsProcessors not an array',
            { logitsProcessors: () => undefined },
            /^options\.logitsProcessors$/,
          ],
          ['useCache not a boolean', { useCache: 'no' }, /^options\.useCache$/],
          [`a prompt token ${n}`, {}, /^prompts\[0\]\[1\]$/, [[1, n]]],
        ];
        return cases[kind]!;
      });
    try {
      await fc.assert(
        fc.asyncProperty(badOptions, async ([what, options, argument, prompts]) => {
          try {
            await expectRejectedAsync(
              () => generate(model, prompts ?? [[1, 2]], { maxNewTokens: 2, ...options } as never),
              argument,
            );
          } catch (e) {
            throw new Error(`${what}: ${(e as Error).message}`);
          }
        }),
        runs(40),
      );
    } finally {
      tf.dispose(model.params as unknown as tf.TensorContainer);
    }
  });
});
