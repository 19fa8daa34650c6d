// Shared by the dataset examples (spam-classifier, g2p, vit-shapes):
// shuffling, trainable copies of our params objects, a training
// loop with our optimizer, and the "better than the trivial baseline" check.
import * as tf from '@tensorflow/tfjs-core';
import {
  adamw,
  chain,
  clipByGlobalNorm,
  createOptimizer,
  flattenParams,
  paramsToVariables,
  type Schedule,
  type StatefulOptimizer,
  warmupCosineDecaySchedule,
  weightDecayMask,
} from 'tfjs-blocks';
import { fail } from './cli';

/** Fisher-Yates, in place, with the given random stream. */
export function shuffle<X>(xs: X[], random: () => number): X[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}

/**
 * The model's params as `tf.Variable`s (the record to run the model with, and
 * the variables by path for {@link createOptimizer}); frees the initial tensors.
 */
export function makeTrainable<P>(init: P): { params: P; variables: Record<string, tf.Variable> } {
  const trainable = paramsToVariables(init);
  tf.dispose(Object.values(flattenParams(init)));
  return trainable;
}

/** Options of {@link train}. */
export type TrainOptions = {
  /** Optimizer steps. */
  steps: number;
  /** Peak learning rate of the warmup-cosine schedule. */
  learningRate: number;
  /** Warmup steps (default: a tenth of `steps`). */
  warmupSteps?: number;
  /** Decoupled weight decay on matrices only (not on norms, biases, embeddings). Default 0.01. */
  weightDecay?: number;
  /** The loss of one batch; `step` counts from 0. Called inside a gradient tape. */
  loss: (step: number) => tf.Scalar;
  /** Called every `logEvery` steps with the batch loss. */
  log?: (step: number, loss: number) => void;
  /** Default: about ten lines per run. */
  logEvery?: number;
};

/**
 * AdamW with a warmup-cosine schedule and global-norm clipping at 1 — the
 * usual small-transformer recipe — over `steps` batches.
 */
export function train(variables: Record<string, tf.Variable>, options: TrainOptions): void {
  const { steps, learningRate } = options;
  const schedule: Schedule = warmupCosineDecaySchedule({
    peakValue: learningRate,
    warmupSteps: options.warmupSteps ?? Math.max(1, Math.ceil(steps / 10)),
    decaySteps: Math.max(steps, 2),
    endValue: learningRate / 20,
  });
  const optimizer: StatefulOptimizer = createOptimizer(
    chain(
      clipByGlobalNorm(1),
      adamw({
        learningRate: schedule,
        weightDecay: options.weightDecay ?? 0.01,
        mask: weightDecayMask,
      }),
    ),
    variables,
  );
  const logEvery = options.logEvery ?? Math.max(1, Math.ceil(steps / 10));
  try {
    for (let step = 0; step < steps; step++) {
      const loss = optimizer.minimize(() => options.loss(step), true)!;
      if (step % logEvery === 0 || step === steps - 1) options.log?.(step, loss.dataSync()[0]!);
      loss.dispose();
    }
  } finally {
    optimizer.dispose();
  }
}

/** Seconds since `start` (from `performance.now()`), one decimal. */
export const secondsSince = (start: number): string =>
  ((performance.now() - start) / 1000).toFixed(1);

/** CPU time of this process so far (user + system, all threads), one decimal: compare with wall time on a busy machine. */
export const cpuSeconds = (): string => {
  const { user, system } = process.cpuUsage();
  return ((user + system) / 1e6).toFixed(1);
};

/** `0.8731` → `87.3%`. */
export const percent = (x: number): string => `${(100 * x).toFixed(1)}%`;

/**
 * The example's verdict: the process exits with status 1 (after a line that
 * says so, no stack trace) unless the measured value beats the trivial
 * baseline by more than `margin`.
 */
export function requireBetterThan(
  what: string,
  measured: number,
  baseline: number,
  baselineName: string,
  margin: number,
): void {
  if (!(measured > baseline + margin)) {
    fail(
      `${what} ${percent(measured)} does not beat the ${baselineName} baseline ${percent(baseline)} ` +
        `by more than --margin ${percent(margin)}: train longer (--steps) or lower --margin`,
    );
    return;
  }
  console.log(
    `OK: ${what} ${percent(measured)} beats the ${baselineName} baseline ${percent(baseline)} by more than ${percent(margin)}`,
  );
}
