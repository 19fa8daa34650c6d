import {
  cast,
  dispose,
  div,
  maximum,
  notEqual,
  slice,
  sum,
  type Tensor,
  tidy,
} from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import {
  checkInteger,
  checkNumber,
  checkOptionKeys,
  checkTensor,
  describeValue,
  formatShape,
  optionKeys,
} from '../internal/checks';
import { softmaxCrossEntropy } from '../losses/softmax-cross-entropy';
import { type DecoderLmConfig, type DecoderLmParams, decoderLm } from '../models/decoder-lm';
import { differentiallyPrivateAggregate } from '../responsible/dp-sgd';
import { perExampleGradients } from '../responsible/per-example-gradients';
import { unflattenParams } from '../tree/flatten';
import type { TensorMap } from '../tree/types';
import { type LoraAdapter, loraTensors, withLora } from './lora';

/** The label that adds no loss (PyTorch's and transformers' `ignore_index`). */
const IGNORED = -100;

/**
 * A batch for a decoder LM's masked next-token loss, in transformers'
 * layout: `labels` is `ids` with `-100` where no loss is taken (prompt
 * tokens, padding); position `t` predicts `labels[t + 1]`.
 */
export interface LmBatch {
  /** int32 `[batch, time]`, `time >= 2`. */
  ids: Tensor;
  /** int32 `[batch, time]`: the targets, `-100` where masked. */
  labels: Tensor;
}

/** Options of {@link perExampleAdapterGradients}. */
export interface AdapterGradientOptions {
  /**
   * Examples per microbatch: each row of the result is the gradient of one
   * microbatch's mean loss (TF Privacy's microbatches: fewer backward
   * passes, coarser clipping). Must divide the batch. Default 1.
   */
  microbatchSize?: number;
}

const ADAPTER_GRADIENT_KEYS = optionKeys<AdapterGradientOptions>({ microbatchSize: true });

interface Checked {
  trainable: TensorMap;
  size: number;
  microbatchSize: number;
}

function checkLmBatch(fn: string, batch: LmBatch): number {
  if (batch === null || typeof batch !== 'object') {
    throw new TfjsBlocksError(fn, 'batch', 'a record { ids, labels }', describeValue(batch));
  }
  for (const name of ['ids', 'labels'] as const) {
    const t = checkTensor(fn, `batch.${name}`, batch[name], 'an int32 tensor [batch, time]');
    if (t.dtype !== 'int32' || t.rank !== 2) {
      throw new TfjsBlocksError(
        fn,
        `batch.${name}`,
        'an int32 tensor [batch, time]',
        `${t.dtype} ${formatShape(t.shape)}`,
      );
    }
  }
  const [size, time] = batch.ids.shape as [number, number];
  if (batch.labels.shape[0] !== size || batch.labels.shape[1] !== time) {
    throw new TfjsBlocksError(
      fn,
      'batch.labels',
      `shape ${formatShape(batch.ids.shape)} (as batch.ids)`,
      formatShape(batch.labels.shape),
    );
  }
  if (size === 0)
    throw new TfjsBlocksError(fn, 'batch.ids', 'at least one example', 'batch size 0');
  if (time < 2) {
    throw new TfjsBlocksError(
      fn,
      'batch.ids.shape[1]',
      'at least 2 (a token and its next)',
      String(time),
    );
  }
  return size;
}

function checkAdapterOptions(
  fn: string,
  params: DecoderLmParams,
  adapter: LoraAdapter,
  batch: LmBatch,
  options: AdapterGradientOptions,
): Checked {
  const size = checkLmBatch(fn, batch);
  const microbatchSize = checkInteger(fn, 'options.microbatchSize', options.microbatchSize ?? 1, 1);
  if (size % microbatchSize !== 0) {
    throw new TfjsBlocksError(
      fn,
      'options.microbatchSize',
      `a divisor of the batch size ${size}`,
      String(microbatchSize),
    );
  }
  // withLora checks that the adapter fits the params (and names what does not); it makes no tensor.
  try {
    withLora(params, adapter);
  } catch (e) {
    if (!(e instanceof TfjsBlocksError)) throw e;
    throw new TfjsBlocksError(fn, e.argument, e.expected, e.actual);
  }
  return { trainable: loraTensors(adapter), size, microbatchSize };
}

/**
 * Each example's masked next-token cross-entropy `[batch]`: the mean over
 * its counted targets (0 for an example with none), so that example `i`'s
 * loss depends on example `i` only.
 */
function perExampleLmLoss(logits: Tensor, labels: Tensor): Tensor {
  const [size, time] = labels.shape as [number, number];
  const vocab = logits.shape[2]!;
  const predicted = slice(logits, [0, 0, 0], [size, time - 1, vocab]);
  const targets = slice(labels, [0, 1], [size, time - 1]);
  const losses = softmaxCrossEntropy(predicted, targets, {
    reduction: 'none',
    ignoreIndex: IGNORED,
  });
  const counts = sum(cast(notEqual(targets, IGNORED), 'float32'), 1);
  return div(sum(losses, 1), maximum(counts, 1));
}

/**
 * Per-example (or per-microbatch) gradients of a decoder LM's masked
 * next-token loss with respect to the adapter's tensors only
 * (`loraTensors(adapter)`: the LoRA factors and any `modulesToSave`), the
 * base staying frozen (no gradient is taken for it). A factor shared by the
 * parts of a fused module (GPT-2's `c_attn`) is one tensor with one
 * gradient. The input DP-SGD clips (see {@link privateAdapterGradients}).
 * LoRA dropout is not applied (the forward is `withLora(params, adapter)`).
 *
 * Each example's loss is its mean cross-entropy over its counted targets
 * (labels `-100` are skipped; position `t` predicts `labels[t + 1]`). tfjs
 * has no `vmap`, so this runs one backward pass per microbatch
 * (`perExampleGradients`); a larger `microbatchSize` trades clipping
 * granularity for speed.
 *
 * @param config - the model's {@link DecoderLmConfig}.
 * @param params - the base model's params (frozen).
 * @param adapter - the LoRA adapter (`initLora`, `loadAdapter`) to train.
 * @param batch - ids and labels, int32 `[batch, time]`.
 * @returns per `loraTensors(adapter)` name (`modules.<module>.a`,
 *   `modules.<module>.b.0`, …), the gradients `[batch / microbatchSize, ...shape]`. New tensors.
 * @throws TfjsBlocksError on a bad batch, an adapter that does not fit the
 *   params, or a microbatch size that does not divide the batch.
 * @example
 * ```ts
 * const ids = tf.tensor2d([[1, 2, 3, 4], [5, 6, 7, 8]], undefined, 'int32');
 * const labels = tf.tensor2d([[-100, 2, 3, 4], [-100, -100, 7, 8]], undefined, 'int32');
 * const perExample = perExampleAdapterGradients(config, params, adapter, { ids, labels });
 * // perExample['modules.blocks.0.attention.query.a']: [2, dModel, rank]
 * ```
 */
export function perExampleAdapterGradients(
  config: DecoderLmConfig,
  params: DecoderLmParams,
  adapter: LoraAdapter,
  batch: LmBatch,
  options: AdapterGradientOptions = {},
): TensorMap {
  const fn = 'perExampleAdapterGradients';
  checkOptionKeys(fn, options, ADAPTER_GRADIENT_KEYS);
  const checked = checkAdapterOptions(fn, params, adapter, batch, options);
  return adapterGradients(config, params, adapter, batch, checked);
}

function adapterGradients(
  config: DecoderLmConfig,
  params: DecoderLmParams,
  adapter: LoraAdapter,
  batch: LmBatch,
  { trainable, microbatchSize }: Checked,
): TensorMap {
  const loss = (p: TensorMap, b: TensorMap): Tensor => {
    const adapted = withLora(params, unflattenParams(adapter, p));
    return perExampleLmLoss(decoderLm(config, adapted, b.ids!), b.labels!);
  };
  return perExampleGradients(
    loss,
    trainable,
    { ids: batch.ids, labels: batch.labels },
    { microbatchSize },
  );
}

/** Options of {@link privateAdapterGradients}. */
export interface PrivateAdapterGradientOptions extends AdapterGradientOptions {
  /** Each example's (microbatch's) gradient is scaled to global L2 norm <= this (`C`, > 0). */
  l2NormClip: number;
  /** Noise standard deviation over `l2NormClip` (`σ`, >= 0); pick it with `noiseMultiplierForEpsilon`. */
  noiseMultiplier: number;
  /** Integer seed of the noise; with `step`, the same pair gives the same noise. */
  seed: number;
  /** The training step (integer >= 0): each step draws fresh noise. */
  step: number;
}

const PRIVATE_ADAPTER_KEYS = [
  ...ADAPTER_GRADIENT_KEYS,
  ...optionKeys<Omit<PrivateAdapterGradientOptions, keyof AdapterGradientOptions>>({
    l2NormClip: true,
    noiseMultiplier: true,
    seed: true,
    step: true,
  }),
];

/**
 * One DP-SGD gradient of a LoRA adapter (Abadi et al. 2016,
 * https://arxiv.org/abs/1607.00133, over the adapter as in Yu et al. 2022,
 * https://arxiv.org/abs/2110.06500): the per-example gradients of the
 * masked next-token loss w.r.t. the adapter ({@link perExampleAdapterGradients}),
 * each clipped to global L2 norm `C`, summed, plus Gaussian noise
 * `N(0, σ²C²)` on every coordinate, divided by the number of rows
 * (`differentiallyPrivateAggregate`):
 * `(Σ_i g_i · min(1, C / ‖g_i‖) + N(0, σ²C²)) / rows`.
 * Feed the result to any optimizer; momentum and Adam act on privatised
 * gradients and cost no privacy. The run's ε is the accountant's
 * (`computeDpSgdEpsilon` or `rdpAccountant`) for its steps, sampling rate
 * `batch / dataset size` and σ. Only the examples are protected; the base
 * model, the hyperparameters and the dataset size are public.
 *
 * @param batch - ids and labels, int32 `[batch, time]`.
 * @returns the privatised mean gradient per `loraTensors(adapter)` name,
 *   shaped like the tensors (`unflattenParams(adapter, …)` gives an adapter-shaped tree). New tensors.
 * @throws TfjsBlocksError as {@link perExampleAdapterGradients}, and on
 *   `l2NormClip <= 0`, `noiseMultiplier < 0`, a non-integer seed or step.
 * @example
 * ```ts
 * const grads = privateAdapterGradients(config, params, adapter, { ids, labels }, {
 *   l2NormClip: 1, noiseMultiplier: 1.1, seed: 0, step,
 * });
 * ```
 */
export function privateAdapterGradients(
  config: DecoderLmConfig,
  params: DecoderLmParams,
  adapter: LoraAdapter,
  batch: LmBatch,
  options: PrivateAdapterGradientOptions,
): TensorMap {
  const fn = 'privateAdapterGradients';
  checkOptionKeys(fn, options, PRIVATE_ADAPTER_KEYS);
  const l2NormClip = checkNumber(fn, 'options.l2NormClip', options?.l2NormClip, {
    min: 0,
    minExclusive: true,
  });
  const noiseMultiplier = checkNumber(fn, 'options.noiseMultiplier', options.noiseMultiplier, {
    min: 0,
  });
  const seed = checkInteger(fn, 'options.seed', options.seed, -(2 ** 31));
  const step = checkInteger(fn, 'options.step', options.step, 0);
  const checked = checkAdapterOptions(fn, params, adapter, batch, options);
  const aggregate = differentiallyPrivateAggregate({ l2NormClip, noiseMultiplier, seed });
  const perExample = adapterGradients(config, params, adapter, batch, checked);
  try {
    return tidy(() => aggregate.update(perExample, { count: step }).updates);
  } finally {
    dispose(Object.values(perExample));
  }
}
