import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { describe, expect, it } from 'vitest';
import { TfjsBlocksError } from '../../src/errors';
import {
  LearningRateScheduler,
  learningRateScheduler,
  ReduceLearningRateOnPlateau,
  reduceLearningRateOnPlateau,
} from '../../src/layers/learning-rate-callbacks';
import { sgd } from '../../src/optim/optimizers/sgd';
import { TransformOptimizer } from '../../src/optim/tf-optimizer';
import { exponentialDecaySchedule } from '../../src/schedules/exponential';
import { linearSchedule } from '../../src/schedules/polynomial';
import { describeRejections } from '../helpers/rejections';

interface PlateauGolden {
  plateau: {
    mode: 'min' | 'max';
    factor: number;
    patience: number;
    threshold: number;
    cooldown: number;
    minimum: number;
  };
  metrics: number[];
  lrs: number[];
}

const golden = JSON.parse(
  readFileSync(fileURLToPath(new URL('../goldens/schedules.json', import.meta.url)), 'utf8'),
) as { cases: Record<string, unknown> };

/**
 * y = w x with w = `start` and no bias, fed x = 1, y = 0 under a mean
 * absolute error: the gradient is 1 while w > 0, so plain SGD lowers w by
 * exactly the learning rate of each update and Adam by that rate (to 1e-7).
 */
function lineModel(optimizer: tf.Optimizer, start: number, loss = 'meanAbsoluteError') {
  const model = tfl.sequential({
    layers: [
      tfl.layers.dense({
        units: 1,
        useBias: false,
        inputShape: [1],
        kernelInitializer: tfl.initializers.constant({ value: start }),
      }),
    ],
  });
  model.compile({ optimizer, loss });
  return model;
}

function weight(model: tfl.LayersModel): number {
  return model.getWeights()[0]!.dataSync()[0]!;
}

/** Records the optimizer's rate (or our scale) at each epoch's end. */
function rateRecorder(read: () => number): { rates: number[]; callback: tfl.CustomCallback } {
  const rates: number[] = [];
  const callback = new tfl.CustomCallback({
    onEpochEnd: () => {
      rates.push(read());
    },
  });
  return { rates, callback };
}

/** The rate a tfjs optimizer uses: a field its types mark protected but every step reads. */
function rateOf(optimizer: tf.Optimizer): number {
  return (optimizer as unknown as { learningRate: number }).learningRate;
}

const ones = (n: number) => tf.ones([n, 1]);
const zeros = (n: number) => tf.zeros([n, 1]);

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

describe('LearningRateScheduler in model.fit', () => {
  const perEpoch = exponentialDecaySchedule({ initValue: 0.1, transitionSteps: 1, decayRate: 0.5 });
  const epochRates = [0.1, 0.05, 0.025, 0.0125];

  it('drives tf.train.sgd through setLearningRate, per epoch', async () => {
    const optimizer = tf.train.sgd(1);
    const model = lineModel(optimizer, 10);
    const { rates, callback } = rateRecorder(() => rateOf(optimizer));
    const [x, y] = [ones(1), zeros(1)];
    await model.fit(x, y, {
      epochs: 4,
      batchSize: 1,
      verbose: 0,
      callbacks: [learningRateScheduler(perEpoch), callback],
    });
    expect(rates).toEqual(epochRates);
    // The cached rate scalar was renewed too: w fell by each epoch's rate.
    expect(weight(model)).toBeCloseTo(10 - sum(epochRates), 5);
    tf.dispose([x, y]);
    model.dispose();
  });

  it('drives tf.train.adam through its learningRate field, per batch', async () => {
    const optimizer = tf.train.adam(1);
    const model = lineModel(optimizer, 10);
    const perBatch = linearSchedule({ initValue: 0.1, endValue: 0.01, transitionSteps: 10 });
    const [x, y] = [ones(4), zeros(4)];
    await model.fit(x, y, {
      epochs: 3,
      batchSize: 1,
      shuffle: false,
      verbose: 0,
      callbacks: [new LearningRateScheduler(perBatch, { perBatch: true })],
    });
    const used = Array.from({ length: 12 }, (_, step) => perBatch(step));
    expect(optimizer.iterations).toBe(12);
    expect(rateOf(optimizer)).toBe(perBatch(11));
    expect(weight(model)).toBeCloseTo(10 - sum(used), 4);
    tf.dispose([x, y]);
    model.dispose();
  });

  it("sets TransformOptimizer's learningRateScale, which multiplies the chain's rate", async () => {
    const optimizer = new TransformOptimizer(sgd({ learningRate: 1 }));
    const model = lineModel(optimizer, 10);
    const { rates, callback } = rateRecorder(() => optimizer.learningRateScale);
    const [x, y] = [ones(2), zeros(2)];
    await model.fit(x, y, {
      epochs: 4,
      batchSize: 1,
      verbose: 0,
      callbacks: [learningRateScheduler(perEpoch), callback],
    });
    expect(rates).toEqual(epochRates);
    expect(weight(model)).toBeCloseTo(10 - 2 * sum(epochRates), 5);
    tf.dispose([x, y]);
    model.dispose();
  });

  it('continues the step count across fit calls (per batch) and epochs (initialEpoch)', async () => {
    const optimizer = new TransformOptimizer(sgd({ learningRate: 1 }));
    const model = lineModel(optimizer, 10);
    const seen: number[] = [];
    const [x, y] = [ones(2), zeros(2)];
    const callbacks = [
      learningRateScheduler((step) => 0.01 * (step + 1), { perBatch: true }),
      new tfl.CustomCallback({ onBatchEnd: () => void seen.push(optimizer.learningRateScale) }),
    ];
    await model.fit(x, y, { epochs: 1, batchSize: 1, verbose: 0, callbacks });
    await model.fit(x, y, { epochs: 1, batchSize: 1, verbose: 0, callbacks });
    expect(seen.map((v) => Math.round(v * 100))).toEqual([1, 2, 3, 4]);
    const { rates, callback } = rateRecorder(() => optimizer.learningRateScale);
    await model.fit(x, y, {
      epochs: 3,
      initialEpoch: 2,
      verbose: 0,
      callbacks: [learningRateScheduler(perEpoch), callback],
    });
    expect(rates).toEqual([0.025]);
    tf.dispose([x, y]);
    model.dispose();
  });

  it.each([
    ['momentum', () => tf.train.momentum(1, 0.9)],
    ['rmsprop', () => tf.train.rmsprop(1)],
    ['adagrad', () => tf.train.adagrad(1)],
    ['adadelta', () => tf.train.adadelta(1)],
    ['adamax', () => tf.train.adamax(1)],
  ])('sets the rate of tf.train.%s', async (_, make) => {
    const optimizer = make();
    const model = lineModel(optimizer, 10);
    const { rates, callback } = rateRecorder(() => rateOf(optimizer));
    const [x, y] = [ones(1), zeros(1)];
    await model.fit(x, y, {
      epochs: 4,
      verbose: 0,
      callbacks: [learningRateScheduler(perEpoch), callback],
    });
    expect(rates).toEqual(epochRates);
    tf.dispose([x, y]);
    model.dispose();
  });

  it.each([
    ['sgd', () => tf.train.sgd(0.1)],
    ['adam', () => tf.train.adam(0.1)],
    ['TransformOptimizer', () => new TransformOptimizer(sgd({ learningRate: 1 }))],
  ])('leaks no tensor across a fit with tf.train.%s', async (_, make) => {
    const model = lineModel(make(), 10);
    const [x, y] = [ones(4), zeros(4)];
    const options = {
      epochs: 3,
      batchSize: 2,
      verbose: 0 as const,
      callbacks: [
        learningRateScheduler(perEpoch, { perBatch: true }),
        reduceLearningRateOnPlateau({ monitor: 'loss', patience: 0 }),
      ],
    };
    await model.fit(x, y, options);
    const before = tf.memory().numTensors;
    await model.fit(x, y, options);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, y]);
    model.dispose();
  });
});

describe('ReduceLearningRateOnPlateau', () => {
  const plateauCases = Object.entries(golden.cases).filter(([, c]) =>
    Object.hasOwn(c as object, 'plateau'),
  ) as Array<[string, PlateauGolden]>;

  it.each(plateauCases)('follows torch %s on a fixed metric sequence', async (_, c) => {
    const optimizer = tf.train.sgd(0.1);
    const model = lineModel(optimizer, 1);
    const callback = new ReduceLearningRateOnPlateau({ monitor: 'val_loss', ...c.plateau });
    callback.setModel(model);
    const rates: number[] = [];
    for (const [epoch, metric] of c.metrics.entries()) {
      await callback.onEpochEnd(epoch, { val_loss: metric });
      rates.push(rateOf(optimizer));
    }
    rates.forEach((rate, i) => {
      expect(Math.abs(rate - c.lrs[i]!)).toBeLessThanOrEqual(1e-7 * c.lrs[i]! + 1e-15);
    });
    model.dispose();
  });

  // The weight is already optimal (w = 0 for y = 0), so the loss is 0 at every epoch.
  const flatRates = (base: number, minimum: number) =>
    [1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.125, 0.125, 0.125, 0.125].map((f) =>
      Math.max(base * f, minimum),
    );

  it('halves the rate of tf.train.sgd after patience bad epochs, with cooldown and minimum', async () => {
    const optimizer = tf.train.sgd(0.1);
    const model = lineModel(optimizer, 0, 'meanSquaredError');
    const { rates, callback } = rateRecorder(() => rateOf(optimizer));
    const [x, y] = [ones(2), zeros(2)];
    const history = await model.fit(x, y, {
      epochs: 12,
      verbose: 0,
      callbacks: [
        reduceLearningRateOnPlateau({
          monitor: 'loss',
          factor: 0.5,
          patience: 1,
          cooldown: 1,
          minimum: 0.015,
        }),
        callback,
      ],
    });
    expect(history.history.loss).toEqual(Array(12).fill(0));
    expect(rates).toEqual(flatRates(0.1, 0.015));
    tf.dispose([x, y]);
    model.dispose();
  });

  it("scales TransformOptimizer's learningRateScale, and tf.train.adam's rate", async () => {
    for (const [optimizer, read] of [
      [
        new TransformOptimizer(sgd({ learningRate: 1 })),
        (o: tf.Optimizer) => (o as TransformOptimizer).learningRateScale,
      ],
      [tf.train.adam(0.1), rateOf],
    ] as const) {
      const base = read(optimizer);
      const model = lineModel(optimizer, 0, 'meanSquaredError');
      const { rates, callback } = rateRecorder(() => read(optimizer));
      const [x, y] = [ones(2), zeros(2)];
      await model.fit(x, y, {
        epochs: 12,
        validationData: [x, y],
        verbose: 0,
        callbacks: [
          reduceLearningRateOnPlateau({
            factor: 0.5,
            patience: 1,
            cooldown: 1,
            minimum: 0.15 * base,
          }),
          callback,
        ],
      });
      rates.forEach((rate, i) => {
        expect(rate).toBeCloseTo(flatRates(base, 0.15 * base)[i]!, 12);
      });
      tf.dispose([x, y]);
      model.dispose();
    }
  });

  it('rejects a fit whose logs lack the monitored value (Keras only warns)', async () => {
    const model = lineModel(tf.train.sgd(0.1), 0);
    const [x, y] = [ones(2), zeros(2)];
    const fit = model.fit(x, y, {
      epochs: 1,
      verbose: 0,
      callbacks: [reduceLearningRateOnPlateau()],
    });
    await expect(fit).rejects.toThrow(TfjsBlocksError);
    await expect(fit).rejects.toThrow(
      /ReduceLearningRateOnPlateau: options.monitor must be one of the epoch logs \(loss\); got val_loss/,
    );
    tf.dispose([x, y]);
    model.dispose();
  });
});

describeRejections('callbacks reject bad options when made', () => [
  [
    'a schedule that is not a function',
    () => learningRateScheduler(0.1 as never),
    /LearningRateScheduler: schedule must be a function \(step\) => number; got number/,
  ],
  [
    'factor 1',
    () => reduceLearningRateOnPlateau({ factor: 1 }),
    /ReduceLearningRateOnPlateau: options.factor must be a finite number in \(0, 1\); got 1/,
  ],
  [
    'negative patience',
    () => reduceLearningRateOnPlateau({ patience: -1 }),
    /options.patience must be an integer >= 0; got number -1/,
  ],
  [
    'fractional cooldown',
    () => reduceLearningRateOnPlateau({ cooldown: 0.5 }),
    /options.cooldown must be an integer >= 0; got number 0.5/,
  ],
  [
    'unknown mode',
    () => reduceLearningRateOnPlateau({ mode: 'auto' as never }),
    /options.mode must be 'min' or 'max'; got auto/,
  ],
  [
    'NaN minimum',
    () => reduceLearningRateOnPlateau({ minimum: Number.NaN }),
    /options.minimum must be a finite number in \[0, inf\); got number NaN/,
  ],
]);

describe('LearningRateScheduler rejects a schedule value that is not a rate', () => {
  it('names the step', async () => {
    const model = lineModel(tf.train.sgd(0.1), 1);
    const [x, y] = [ones(1), zeros(1)];
    const fit = model.fit(x, y, {
      epochs: 1,
      verbose: 0,
      callbacks: [learningRateScheduler(() => -1)],
    });
    await expect(fit).rejects.toThrow(
      /LearningRateScheduler: schedule\(0\) must be a finite number >= 0; got -1/,
    );
    tf.dispose([x, y]);
    model.dispose();
  });
});

describe('ReduceLearningRateOnPlateau names the option it rejects', () => {
  // biome-ignore lint/suspicious/noExplicitAny: bad options are the point of this test.
  const bad = (x: unknown) => x as any;
  const cases: Array<[string, () => unknown, string]> = [
    ['an empty monitor', () => new ReduceLearningRateOnPlateau({ monitor: '' }), 'options.monitor'],
    [
      'a numeric monitor',
      () => new ReduceLearningRateOnPlateau(bad({ monitor: 3 })),
      'options.monitor',
    ],
    ['mode "up"', () => new ReduceLearningRateOnPlateau(bad({ mode: 'up' })), 'options.mode'],
    ['factor 0', () => new ReduceLearningRateOnPlateau({ factor: 0 }), 'options.factor'],
    ['factor 1', () => new ReduceLearningRateOnPlateau({ factor: 1 }), 'options.factor'],
    ['patience -1', () => new ReduceLearningRateOnPlateau({ patience: -1 }), 'options.patience'],
    ['threshold -1', () => new ReduceLearningRateOnPlateau({ threshold: -1 }), 'options.threshold'],
    ['cooldown 0.5', () => new ReduceLearningRateOnPlateau({ cooldown: 0.5 }), 'options.cooldown'],
    ['minimum -1', () => new ReduceLearningRateOnPlateau({ minimum: -1 }), 'options.minimum'],
  ];
  for (const [name, call, argument] of cases) {
    it(`${name}: ${argument}`, () => {
      let error: unknown;
      try {
        call();
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(TfjsBlocksError);
      expect((error as TfjsBlocksError).argument).toBe(argument);
    });
  }
});
