// The models and the tfjs-blocks training step of bench/training.ts, shared
// with bench/limits.ts (which profiles the same step): one construction, so
// the profiled step is the benchmarked one.
import * as tf from '@tensorflow/tfjs-core';
import {
  adamw,
  createOptimizer,
  type DecoderLmConfig,
  type DecoderLmParams,
  decoderLm,
  flattenParams,
  gpt2Config,
  initDecoderLm,
  modelCost,
  softmaxCrossEntropy,
  unflattenParams,
} from 'tfjs-blocks';

export type Sizes = {
  name: string;
  vocab: number;
  d: number;
  heads: number;
  layers: number;
  seq: number;
  batch: number;
};
export const TINY: Sizes = {
  name: 'tiny-GPT',
  vocab: 64,
  d: 128,
  heads: 4,
  layers: 2,
  seq: 128,
  batch: 8,
};
export const LARGE: Sizes = {
  name: 'larger',
  vocab: 64,
  d: 256,
  heads: 4,
  layers: 4,
  seq: 256,
  batch: 4,
};
/** Issue 20's training row: GPT-2-style d 256 / 4 layers / vocab 512, batch 8 × 128. */
export const ISSUE20: Sizes = {
  name: 'issue-20',
  vocab: 512,
  d: 256,
  heads: 4,
  layers: 4,
  seq: 128,
  batch: 8,
};
export const describeSizes = (s: Sizes) =>
  `vocab ${s.vocab}, d ${s.d}, ${s.heads} heads, ${s.layers} layers, seq ${s.seq}, batch ${s.batch}`;
export const configOf = (s: Sizes): DecoderLmConfig =>
  gpt2Config({
    vocabSize: s.vocab,
    maxLength: s.seq,
    dModel: s.d,
    numLayers: s.layers,
    numHeads: s.heads,
  });
export const trainingFlopsPerToken = (s: Sizes) =>
  modelCost(configOf(s), { context: s.seq }).flopsPerToken.training;

/** Seeded token batches, the same for every variant. */
export function batchOf(s: Sizes, seed: number): { ids: tf.Tensor2D; targets: tf.Tensor2D } {
  let a = seed >>> 0;
  const next = () => {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    return a % s.vocab;
  };
  const rows = () => Array.from({ length: s.batch }, () => Array.from({ length: s.seq }, next));
  return {
    ids: tf.tensor2d(rows(), [s.batch, s.seq], 'int32'),
    targets: tf.tensor2d(rows(), [s.batch, s.seq], 'int32'),
  };
}

/** The tfjs-blocks training loop's state for one config: variables, AdamW, a fixed batch. */
export type OursTraining = {
  /** The trained variables, by parameter path. */
  variables: Record<string, tf.Variable>;
  /** The forward pass and the loss (a scalar the caller disposes). */
  loss: () => tf.Scalar;
  optimizer: ReturnType<typeof createOptimizer>;
  /** One training step (`optimizer.minimize`); returns the loss. */
  step: () => number;
  dispose: () => void;
};

/** This library: decoderLm + softmaxCrossEntropy + createOptimizer(adamw). */
export function createOursTraining(s: Sizes): OursTraining {
  const config = configOf(s);
  const template = initDecoderLm(config, 0);
  const variables = Object.fromEntries(
    Object.entries(flattenParams(template)).map(([n, t]) => [n, tf.variable(t, true, `ours.${n}`)]),
  );
  tf.dispose(Object.values(flattenParams(template)));
  const optimizer = createOptimizer(adamw({ learningRate: 1e-3, weightDecay: 0.01 }), variables);
  const { ids, targets } = batchOf(s, 1);
  const loss = () =>
    softmaxCrossEntropy(
      decoderLm(config, unflattenParams(template, variables) as DecoderLmParams, ids),
      targets,
    ) as tf.Scalar;
  return {
    variables,
    loss,
    optimizer,
    step: () => {
      const value = optimizer.minimize(loss, true)!;
      const v = value.dataSync()[0]!;
      value.dispose();
      return v;
    },
    dispose: () => {
      optimizer.dispose();
      tf.dispose([...Object.values(variables), ids, targets]);
    },
  };
}
