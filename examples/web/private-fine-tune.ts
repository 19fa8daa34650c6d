// The demo's "fine-tune privately" mode, without the page: LoRA + DP-SGD on a
// second list of names that never leaves the device, with ε from the RDP
// accountant after every step. main.ts draws it; nothing here touches the DOM.
//
// Each private record is one name: `\n name \n`, padded to LENGTH. A step
// draws BATCH names, takes each one's gradient with respect to the adapter
// only (the pretrained base stays frozen), clips each to norm CLIP, adds
// Gaussian noise σ·CLIP and averages (`privateAdapterGradients`), then Adam
// moves the adapter. σ is the smallest that keeps the planned run within the
// target ε at δ (`noiseMultiplierForEpsilon`); `rdpAccountant` reports ε as it
// goes. The accountant assumes Poisson sampling at rate BATCH / N; the demo
// draws fixed-size batches uniformly, the usual approximation (as in the
// TF Privacy and Opacus tutorials).
import * as tf from '@tensorflow/tfjs-core';
import {
  adam,
  createOptimizer,
  type DecoderLmConfig,
  type DecoderLmParams,
  decoderLm,
  initLora,
  type LoraAdapter,
  loraTensors,
  noiseMultiplierForEpsilon,
  paramsToVariables,
  privateAdapterGradients,
  rdpAccountant,
  seededRandom,
  softmaxCrossEntropy,
  unflattenParams,
  withLora,
} from 'tfjs-blocks';

/** Names per DP-SGD step. */
export const PRIVATE_BATCH = 32;
/** One name and its two newlines fit (the longest male name has 13 letters). */
export const PRIVATE_LENGTH = 16;
/** Per-example gradient clip norm `C`. */
export const CLIP = 1;
/** Private names kept aside to measure the loss on (never trained on). */
export const HELD_OUT = 256;
/** The LoRA config: every linear but the output head, rank 8. */
export const LORA = { r: 8, alpha: 16, targetModules: 'all-linear' } as const;
const IGNORED = -100;

/** Settings of one private run. */
export type PrivateSettings = {
  steps: number;
  targetEpsilon: number;
  delta: number;
  learningRate: number;
  seed: number;
};

/** What one private step reports. */
export type PrivateProgress = {
  step: number;
  /** Mean masked next-token loss of the step's batch, before its update. */
  loss: number;
  /** ε after this many steps, at `delta`. */
  epsilon: number;
};

/** Figures of a private run (added to the page's `DemoResult`). */
export type PrivateRun = {
  /** Private training records N (the held-out ones excluded). */
  examples: number;
  /** Sampling rate `q = PRIVATE_BATCH / N`. */
  samplingRate: number;
  /** σ from `noiseMultiplierForEpsilon` for the planned steps. */
  noiseMultiplier: number;
  /** ε the accountant predicts for the whole planned run (≤ the target). */
  plannedEpsilon: number;
  losses: number[];
  epsilons: number[];
  /** Loss on the held-out private names before and after fine-tuning. */
  heldOutBefore: number;
  heldOutAfter: number;
};

/** Private names as padded examples: ids and labels `[n, PRIVATE_LENGTH]` (labels -100 past the name). */
export function encodeNames(
  names: readonly string[],
  id: ReadonlyMap<string, number>,
  newline: number,
): { ids: number[][]; labels: number[][] } {
  const ids: number[][] = [];
  const labels: number[][] = [];
  for (const name of names) {
    const codes = [newline, ...Array.from(name, (c) => id.get(c)!), newline];
    if (codes.length > PRIVATE_LENGTH || codes.some((c) => c === undefined)) {
      throw new Error(`private name '${name}' does not fit the model's alphabet and length`);
    }
    const pad = PRIVATE_LENGTH - codes.length;
    ids.push([...codes, ...Array<number>(pad).fill(newline)]);
    labels.push([...codes, ...Array<number>(pad).fill(IGNORED)]);
  }
  return { ids, labels };
}

/** Mean masked next-token loss of `params` (with or without an adapter) on some examples. */
function lmLoss(
  config: DecoderLmConfig,
  params: DecoderLmParams,
  rows: { ids: number[][]; labels: number[][] },
): number {
  const n = rows.ids.length;
  const value = tf.tidy(() => {
    const ids = tf.tensor2d(rows.ids, [n, PRIVATE_LENGTH], 'int32');
    const labels = tf.tensor2d(rows.labels, [n, PRIVATE_LENGTH], 'int32');
    const logits = decoderLm(config, params, ids); // [n, T, vocab]
    const predicted = tf.slice(logits, [0, 0, 0], [n, PRIVATE_LENGTH - 1, -1]);
    const targets = tf.slice(labels, [0, 1], [n, PRIVATE_LENGTH - 1]);
    return softmaxCrossEntropy(predicted, targets, { ignoreIndex: IGNORED });
  });
  const out = value.dataSync()[0]!;
  value.dispose();
  return out;
}

/**
 * Fine-tunes `params` (frozen) with a LoRA adapter under DP-SGD on the
 * private names; `onStep` is awaited after every step (the page repaints
 * there). Returns the trained adapter (the caller disposes it with
 * `tf.dispose(Object.values(loraTensors(adapter)))`) and the run's figures.
 */
export async function privateFineTune(
  config: DecoderLmConfig,
  params: DecoderLmParams,
  names: readonly string[],
  encode: (names: readonly string[]) => { ids: number[][]; labels: number[][] },
  settings: PrivateSettings,
  onStep: (progress: PrivateProgress, run: PrivateRun) => void | Promise<void>,
): Promise<{ adapter: LoraAdapter; run: PrivateRun }> {
  // A seeded shuffle, then held-out names apart from the training ones.
  const random = seededRandom(settings.seed);
  const order = names.map((name) => ({ name, key: random() }));
  order.sort((a, b) => a.key - b.key);
  const heldOut = encode(order.slice(0, HELD_OUT).map((o) => o.name));
  const train = encode(order.slice(HELD_OUT).map((o) => o.name));
  const examples = train.ids.length;
  const samplingRate = PRIVATE_BATCH / examples;

  const { noiseMultiplier, epsilon: plannedEpsilon } = noiseMultiplierForEpsilon({
    targetEpsilon: settings.targetEpsilon,
    delta: settings.delta,
    samplingRate,
    steps: settings.steps,
  });
  const accountant = rdpAccountant({ samplingRate, noiseMultiplier, delta: settings.delta });

  // The adapter's tensors become the only variables; the base stays plain tensors.
  const initial = initLora(params, LORA, settings.seed);
  const { params: trainable, variables } = paramsToVariables(loraTensors(initial), {
    namePrefix: 'private-lora',
  });
  tf.dispose(Object.values(loraTensors(initial)));
  const adapter = unflattenParams(initial, trainable) as LoraAdapter;
  const optimizer = createOptimizer(adam({ learningRate: settings.learningRate }), variables);

  const run: PrivateRun = {
    examples,
    samplingRate,
    noiseMultiplier,
    plannedEpsilon,
    losses: [],
    epsilons: [],
    heldOutBefore: lmLoss(config, params, heldOut),
    heldOutAfter: Number.NaN,
  };
  try {
    for (let step = 0; step < settings.steps; step++) {
      // BATCH distinct names, drawn uniformly.
      const picked = new Set<number>();
      while (picked.size < PRIVATE_BATCH) picked.add(Math.floor(random() * examples));
      const rows = {
        ids: [...picked].map((i) => train.ids[i]!),
        labels: [...picked].map((i) => train.labels[i]!),
      };
      const loss = lmLoss(config, withLora(params, adapter), rows);
      const ids = tf.tensor2d(rows.ids, [PRIVATE_BATCH, PRIVATE_LENGTH], 'int32');
      const labels = tf.tensor2d(rows.labels, [PRIVATE_BATCH, PRIVATE_LENGTH], 'int32');
      const grads = privateAdapterGradients(
        config,
        params,
        adapter,
        { ids, labels },
        { l2NormClip: CLIP, noiseMultiplier, seed: settings.seed, step },
      );
      optimizer.step(grads);
      tf.dispose([ids, labels, ...Object.values(grads)]);
      const progress = { step: step + 1, loss, epsilon: accountant.epsilon(step + 1).epsilon };
      run.losses.push(progress.loss);
      run.epsilons.push(progress.epsilon);
      await onStep(progress, run);
    }
  } catch (e) {
    optimizer.dispose();
    tf.dispose(Object.values(variables));
    throw e;
  }
  optimizer.dispose();
  run.heldOutAfter = lmLoss(config, withLora(params, adapter), heldOut);
  return { adapter, run };
}
