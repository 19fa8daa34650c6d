import type { Optimizer, Scalar } from '@tensorflow/tfjs-core';
import { Callback } from '@tensorflow/tfjs-layers';
import { TfjsBlocksError } from '../errors';
import {
  checkFlag,
  checkInteger,
  checkNumber,
  checkOptionKeys,
  describeChoice,
  optionKeys,
} from '../internal/checks';
import { valueAt } from '../optim/hyperparameters';
import type { TransformOptimizer } from '../optim/tf-optimizer';
import type { Schedule } from '../schedules/schedule';

/**
 * Told by its `learningRateScale`: `instanceof` cannot, since tfjs'
 * `Optimizer` defines `Symbol.hasInstance` to accept any optimizer-shaped
 * object, so every tfjs optimizer would pass.
 */
function isTransformOptimizer(optimizer: Optimizer): optimizer is TransformOptimizer {
  return typeof (optimizer as { learningRateScale?: unknown }).learningRateScale === 'number';
}

/**
 * The rate the callbacks drive: `learningRateScale` of a
 * {@link TransformOptimizer} (its chain keeps its own rate inside), else the
 * `learningRate` of a tfjs optimizer.
 */
function readLearningRate(fn: string, optimizer: Optimizer): number {
  if (isTransformOptimizer(optimizer)) return optimizer.learningRateScale;
  const rate = (optimizer as { learningRate?: unknown }).learningRate;
  if (typeof rate !== 'number') {
    throw new TfjsBlocksError(
      fn,
      'model.optimizer',
      'a TransformOptimizer or a tfjs optimizer with a numeric learningRate',
      optimizer.getClassName(),
    );
  }
  return rate;
}

function writeLearningRate(fn: string, optimizer: Optimizer, rate: number): void {
  readLearningRate(fn, optimizer);
  if (isTransformOptimizer(optimizer)) {
    optimizer.learningRateScale = rate;
    return;
  }
  // The field is `protected` in tfjs' types but public at run time.
  // SGD and Momentum cache `-learningRate` in a scalar that only setLearningRate renews;
  // Adam, Adamax, RMSProp, Adagrad and Adadelta read the field at every step.
  const withSetter = optimizer as { setLearningRate?: (rate: number) => void };
  if (typeof withSetter.setLearningRate === 'function') withSetter.setLearningRate(rate);
  else (optimizer as unknown as { learningRate: number }).learningRate = rate;
}

/** Options of {@link LearningRateScheduler}. */
export interface LearningRateSchedulerOptions {
  /**
   * Update the rate before every batch, with the optimizer's update count
   * (`optimizer.iterations`) as the step, instead of before every epoch with
   * the epoch index as the step. Default `false`.
   */
  perBatch?: boolean;
}

const SCHEDULER_KEYS = optionKeys<LearningRateSchedulerOptions>({ perBatch: true });

/**
 * A `model.fit` callback that sets the optimizer's learning rate from a
 * schedule, like Keras' `LearningRateScheduler`: before each epoch to
 * `schedule(epoch)`, or with `perBatch` before each batch to
 * `schedule(optimizer.iterations)` (the number of updates so far, so step 0
 * is the first update, as for schedules given to {@link scaleByLearningRate}).
 *
 * Works with tfjs' optimizers (`tf.train.sgd`, `momentum`, `adam`, `adamax`,
 * `rmsprop`, `adagrad`, `adadelta`) and with {@link TransformOptimizer}, whose
 * `learningRateScale` it sets: the schedule then multiplies the chain's own
 * learning rate, so build the chain with `learningRate: 1` (or read the
 * schedule as a relative factor). Guide: docs/schedules.md.
 *
 * @example
 * ```ts
 * const schedule = warmupCosineDecaySchedule({ peakValue: 1e-3, warmupSteps: 100, decaySteps: 5000 });
 * model.compile({ optimizer: tf.train.adam(), loss: 'meanSquaredError' });
 * await model.fit(xs, ys, { epochs: 50, callbacks: [new LearningRateScheduler(schedule, { perBatch: true })] });
 * ```
 */
export class LearningRateScheduler extends Callback {
  private readonly schedule: Schedule;
  private readonly perBatch: boolean;

  /**
   * Makes the callback.
   *
   * @param schedule - a function `(step) => rate` returning a finite number >= 0.
   * @param options - see {@link LearningRateSchedulerOptions}.
   */
  constructor(schedule: Schedule, options: LearningRateSchedulerOptions = {}) {
    super();
    if (typeof schedule !== 'function') {
      throw new TfjsBlocksError(
        'LearningRateScheduler',
        'schedule',
        'a function (step) => number',
        typeof schedule,
      );
    }
    checkOptionKeys('LearningRateScheduler', options, SCHEDULER_KEYS);
    this.schedule = schedule;
    this.perBatch = checkFlag('LearningRateScheduler', 'options.perBatch', options.perBatch, false);
  }

  /** Sets the rate for the epoch (unless `perBatch`). */
  override async onEpochBegin(epoch: number): Promise<void> {
    if (!this.perBatch) this.apply(epoch);
  }

  /** Sets the rate for the batch's update (with `perBatch`). */
  override async onBatchBegin(): Promise<void> {
    if (this.perBatch) this.apply(this.model.optimizer.iterations);
  }

  private apply(step: number): void {
    const fn = 'LearningRateScheduler';
    writeLearningRate(fn, this.model.optimizer, valueAt(fn, 'schedule', this.schedule, step));
  }
}

/**
 * Makes a {@link LearningRateScheduler}.
 *
 * @param schedule - a function `(step) => rate` returning a finite number >= 0.
 * @param options - see {@link LearningRateSchedulerOptions}.
 * @returns the callback, for `model.fit(x, y, { callbacks: [...] })`.
 * @example
 * ```ts
 * await model.fit(xs, ys, { epochs: 30, callbacks: [learningRateScheduler(exponentialDecaySchedule({ initValue: 0.1, transitionSteps: 10, decayRate: 0.5, staircase: true }))] });
 * ```
 */
export function learningRateScheduler(
  schedule: Schedule,
  options: LearningRateSchedulerOptions = {},
): LearningRateScheduler {
  return new LearningRateScheduler(schedule, options);
}

/** Options of {@link ReduceLearningRateOnPlateau}, as PyTorch's `ReduceLROnPlateau` (relative threshold). */
export interface ReduceLearningRateOnPlateauOptions {
  /**
   * The epoch log entry to watch, e.g. `'val_loss'`, `'loss'`, `'acc'`.
   * Default `'val_loss'` (as Keras). If the entry is missing at an epoch's
   * end, the callback throws: Keras only warns and does nothing.
   */
  monitor?: string;
  /** Whether the watched quantity should fall (`'min'`) or rise (`'max'`). Default `'min'`. */
  mode?: 'min' | 'max';
  /** The factor applied to the rate on a plateau: a number in (0, 1). Default `0.1`. */
  factor?: number;
  /** How many epochs without improvement are tolerated; the next one reduces the rate: an integer >= 0. Default `10`. */
  patience?: number;
  /**
   * The relative change that counts as improvement: `value < best * (1 - threshold)`
   * in `'min'` mode, `value > best * (1 + threshold)` in `'max'` mode. Default `1e-4`.
   */
  threshold?: number;
  /** Epochs after a reduction during which no bad epoch is counted: an integer >= 0. Default `0`. */
  cooldown?: number;
  /** The rate is never reduced below this (torch's `min_lr`, Keras' `min_lr`). Default `0`. */
  minimum?: number;
}

const PLATEAU_KEYS = optionKeys<ReduceLearningRateOnPlateauOptions>({
  monitor: true,
  mode: true,
  factor: true,
  patience: true,
  threshold: true,
  cooldown: true,
  minimum: true,
});

/**
 * A `model.fit` callback that multiplies the learning rate by `factor` when
 * a watched quantity stops improving, with PyTorch's `ReduceLROnPlateau`
 * rules (`threshold_mode='rel'`): after more than `patience` epochs without
 * a relative improvement of `threshold`, the rate becomes
 * `max(rate * factor, minimum)` (skipped if that changes it by less than
 * 1e-8), then `cooldown` epochs pass before bad epochs count again. Keras
 * reduces one epoch sooner (after `patience` bad epochs).
 *
 * For a {@link TransformOptimizer} it scales `learningRateScale` (1 at the
 * start), so `minimum` is relative to the chain's own rate. The state (best
 * value, counters) lives in the instance and carries over between `fit`
 * calls; make a new one to start afresh. Guide: docs/schedules.md.
 *
 * @example
 * ```ts
 * const plateau = new ReduceLearningRateOnPlateau({ monitor: 'val_loss', factor: 0.5, patience: 3, minimum: 1e-5 });
 * await model.fit(xs, ys, { epochs: 100, validationSplit: 0.2, callbacks: [plateau] });
 * ```
 */
export class ReduceLearningRateOnPlateau extends Callback {
  private readonly monitor: string;
  private readonly mode: 'min' | 'max';
  private readonly factor: number;
  private readonly patience: number;
  private readonly threshold: number;
  private readonly cooldown: number;
  private readonly minimum: number;
  private best: number;
  private badEpochs = 0;
  private cooldownLeft = 0;

  /**
   * Makes the callback; options are checked here.
   *
   * @param options - see {@link ReduceLearningRateOnPlateauOptions}.
   */
  constructor(options: ReduceLearningRateOnPlateauOptions = {}) {
    super();
    const fn = 'ReduceLearningRateOnPlateau';
    checkOptionKeys(fn, options, PLATEAU_KEYS);
    this.monitor = options.monitor ?? 'val_loss';
    if (typeof this.monitor !== 'string' || this.monitor === '') {
      throw new TfjsBlocksError(
        fn,
        'options.monitor',
        'a log name such as val_loss',
        describeChoice(this.monitor),
      );
    }
    this.mode = options.mode ?? 'min';
    if (this.mode !== 'min' && this.mode !== 'max') {
      throw new TfjsBlocksError(fn, 'options.mode', "'min' or 'max'", describeChoice(this.mode));
    }
    this.factor = checkNumber(fn, 'options.factor', options.factor ?? 0.1, {
      min: 0,
      max: 1,
      minExclusive: true,
    });
    this.patience = checkInteger(fn, 'options.patience', options.patience ?? 10, 0);
    this.threshold = checkNumber(fn, 'options.threshold', options.threshold ?? 1e-4, { min: 0 });
    this.cooldown = checkInteger(fn, 'options.cooldown', options.cooldown ?? 0, 0);
    this.minimum = checkNumber(fn, 'options.minimum', options.minimum ?? 0, { min: 0 });
    this.best = this.mode === 'min' ? Infinity : -Infinity;
  }

  /** Compares the epoch's watched value with the best so far and reduces the rate on a plateau. */
  override async onEpochEnd(_epoch: number, logs?: Record<string, number | Scalar>): Promise<void> {
    const fn = 'ReduceLearningRateOnPlateau';
    const current = await resolveLog(logs, this.monitor);
    if (current === undefined) {
      throw new TfjsBlocksError(
        fn,
        'options.monitor',
        `one of the epoch logs (${Object.keys(logs ?? {}).join(', ') || 'none'})`,
        this.monitor,
      );
    }
    if (this.improves(current)) {
      this.best = current;
      this.badEpochs = 0;
    } else {
      this.badEpochs++;
    }
    if (this.cooldownLeft > 0) {
      this.cooldownLeft--;
      this.badEpochs = 0;
    }
    if (this.badEpochs > this.patience) {
      const optimizer = this.model.optimizer;
      const rate = readLearningRate(fn, optimizer);
      const reduced = Math.max(rate * this.factor, this.minimum);
      // torch's eps: a reduction too small to matter (at the minimum) is skipped.
      if (rate - reduced > 1e-8) writeLearningRate(fn, optimizer, reduced);
      this.cooldownLeft = this.cooldown;
      this.badEpochs = 0;
    }
  }

  private improves(value: number): boolean {
    return this.mode === 'min'
      ? value < this.best * (1 - this.threshold)
      : value > this.best * (1 + this.threshold);
  }
}

/**
 * Makes a {@link ReduceLearningRateOnPlateau}.
 *
 * @param options - see {@link ReduceLearningRateOnPlateauOptions}.
 * @returns the callback, for `model.fit(x, y, { callbacks: [...] })`.
 * @example
 * ```ts
 * await model.fit(xs, ys, { epochs: 100, callbacks: [reduceLearningRateOnPlateau({ monitor: 'loss', patience: 5 })] });
 * ```
 */
export function reduceLearningRateOnPlateau(
  options: ReduceLearningRateOnPlateauOptions = {},
): ReduceLearningRateOnPlateau {
  return new ReduceLearningRateOnPlateau(options);
}

/**
 * Reads one epoch log entry as a number. tfjs may hand scalars over as
 * tensors; like its own EarlyStopping, this replaces them in place with
 * their value and frees them, so later callbacks see the number.
 */
async function resolveLog(
  logs: Record<string, number | Scalar> | undefined,
  key: string,
): Promise<number | undefined> {
  if (!logs) return undefined;
  const value = logs[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'number') return value;
  const resolved = (await value.data())[0]!;
  value.dispose();
  logs[key] = resolved;
  return resolved;
}
