import {
  add,
  clone,
  dispose,
  mul,
  type Tensor,
  tensor2d,
  tidy,
  valueAndGrads,
} from '@tensorflow/tfjs-core';
import type { RunLedger } from '../efficiency/run-ledger';
import { TfjsBlocksError } from '../errors';
import { throwIfAborted } from '../internal/abort';
import {
  checkFlag,
  checkInteger,
  checkNumber,
  checkOptionKeys,
  describeValue,
  optionKeys,
} from '../internal/checks';
import { splitSeed } from '../internal/seed';
import { softmaxCrossEntropy } from '../losses/softmax-cross-entropy';
import {
  type DecoderLmConfig,
  type DecoderLmOptions,
  type DecoderLmParams,
  decoderLm,
} from '../models/decoder-lm';
import { isQuantizedTensor, type WithQuantizedKernels } from '../nn/quantized-weights';
import { applyUpdates } from '../optim/apply-updates';
import { valueAt } from '../optim/hyperparameters';
import { checkShapes, checkTransform, shapesOf } from '../optim/tree';
import type { GradientTransformation } from '../optim/types';
import type { Schedule } from '../schedules/schedule';
import { flattenParams, unflattenParams } from '../tree/flatten';
import type { TensorMap } from '../tree/types';
import { isTensor, joinPath, visitLeaves } from '../tree/walk';
import {
  disposeTree,
  type FineTuneCheckpoint,
  type FineTuneCheckpointStore,
  type FineTuneRecord,
} from './checkpoint-store';
import { checkExamples, IGNORED_LABEL, permutation, type SequenceExample } from './examples';
import { type LoraAdapter, withLora } from './lora';
import {
  type CheckedFineTunePrivacy,
  checkFineTunePrivacy,
  type FineTunePrivacy,
  type FineTunePrivacyReport,
  privateStepGradients,
} from './private';

/** The model `fineTune` trains: a decoder-only LM (`loadPretrained`'s result fits). */
export type FineTuneModel = {
  /** `'decoder-lm'` when given (a `PretrainedModel` carries it); other kinds are rejected. */
  kind?: 'decoder-lm';
  /** Its config. */
  config: DecoderLmConfig;
  /**
   * Its params: float32, or with quantized kernels (a QLoRA-style frozen
   * base from `quantizeParams(params, { bits, kernelsOnly: true })`, which
   * needs an `adapter`); never modified or disposed.
   */
  params: DecoderLmParams | WithQuantizedKernels<DecoderLmParams>;
};

/** The examples of {@link fineTune}: all of one length (see `packTexts`, `chatExamples`). */
export type FineTuneData = {
  /** Training examples, drawn in a seeded shuffled order, epoch after epoch. */
  train: SequenceExample[];
  /** Held-out examples for `evalEvery` and early stopping. Default none. */
  heldOut?: SequenceExample[];
};

/** What `onStep` receives after each optimizer step. */
export type FineTuneProgress = FineTuneRecord & {
  /** The steps of the run. */
  steps: number;
  /** Training tokens (counted or not) per second of this step, from the wall clock. */
  tokensPerSecond: number;
  /** Training examples consumed so far. */
  examplesSeen: number;
};

/** Early stopping on the held-out loss. */
export type EarlyStoppingOptions = {
  /** Stop after this many evaluations without improvement (integer >= 1). */
  patience: number;
  /** The least decrease of the held-out loss that counts as one. Default `0`. */
  minDelta?: number;
};

/** Options of {@link fineTune}. */
export interface FineTuneOptions {
  /** The pretrained model; its params are never modified. */
  model: FineTuneModel;
  /**
   * A LoRA adapter for `model.params` (`initLora`): only its tensors are
   * trained (`withLora(model.params, adapter)` inside the loss), the base
   * stays frozen. Default: none, full fine-tuning of every param.
   */
  adapter?: LoraAdapter;
  /** Training (and held-out) examples. */
  data: FineTuneData;
  /** The optimizer, e.g. `adamw({ learningRate: 2e-4, weightDecay: 0 })`. */
  optimizer: GradientTransformation;
  /**
   * A factor on the optimizer's updates per step (counting from 0), as
   * PyTorch's `LambdaLR`: with `learningRate: 1` in the optimizer it is
   * the learning rate. Default: none (factor 1).
   */
  schedule?: Schedule;
  /** Optimizer steps to reach (a resumed run continues to this step). */
  steps: number;
  /** Examples per micro-batch. Default `8`. */
  batchSize?: number;
  /**
   * Micro-batches per optimizer step (gradient accumulation): the step's
   * gradient is the mean over all their counted tokens, exactly as one batch
   * of `batchSize · accumulate` examples. Default `1`.
   */
  accumulate?: number;
  /** Evaluate the held-out loss every this many steps (and at the last). Default: never, or `10` with `earlyStopping`. */
  evalEvery?: number;
  /** Stop when the held-out loss stops improving; the best tensors are returned. Default: off. */
  earlyStopping?: EarlyStoppingOptions;
  /** Where to save checkpoints and resume from. Default: none. */
  checkpointStore?: FineTuneCheckpointStore;
  /** Save a checkpoint every this many steps (and at the end). Default `50`. */
  checkpointEvery?: number;
  /** Called after each step (awaited, so it can update a page). */
  onStep?: (progress: FineTuneProgress) => void | Promise<void>;
  /** Aborts the run: everything is freed and the promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Seed of the data order (a safe integer). Default `0`. */
  seed?: number;
  /**
   * Private fine-tuning: DP-SGD over the adapter (requires `adapter`). Each
   * example's adapter gradient is clipped to `l2NormClip`, Gaussian noise
   * `σ · l2NormClip` is added to the step's sum, and the RDP accountant's ε
   * (sampling rate `batchSize · accumulate / datasetSize`) is reported in
   * `onStep` and the result. Give `noiseMultiplier`, or `targetEpsilon` to
   * have σ chosen for `steps`. LoRA dropout is not applied. The reported
   * training and held-out losses are not privatised. Default: off.
   */
  privacy?: FineTunePrivacy;
  /**
   * A run ledger (`createRunLedger`): each optimizer step is recorded as a
   * `'training'` span of `batchSize · accumulate · sequence length` tokens
   * (its wall time and energy; held-out evaluation is not counted). Its
   * state is saved with every checkpoint and, on a resume, the saved state
   * is merged into this ledger, so pass a fresh one: the totals then equal
   * an uninterrupted run's in tokens and FLOPs (steps redone after the last
   * checkpoint are counted once). Default: none.
   */
  ledger?: RunLedger;
  /**
   * Gradient checkpointing of every block (`decoderLm`'s option): the
   * backward pass recomputes each block's activations instead of keeping
   * them, trading about one more forward pass for activation memory. With
   * an adapter only the adapter's tensors (the `lora` factors and the saved
   * modules) are checkpoint inputs, so no frozen kernel gets a gradient.
   * Not combined with `privacy` (DP-SGD takes per-example gradients its own
   * way). Default `false`.
   */
  gradientCheckpointing?: boolean;
}

const FINE_TUNE_KEYS = optionKeys<FineTuneOptions>({
  model: true,
  adapter: true,
  data: true,
  optimizer: true,
  schedule: true,
  steps: true,
  batchSize: true,
  accumulate: true,
  evalEvery: true,
  earlyStopping: true,
  checkpointStore: true,
  checkpointEvery: true,
  onStep: true,
  signal: true,
  seed: true,
  privacy: true,
  ledger: true,
  gradientCheckpointing: true,
});
const DATA_KEYS = optionKeys<FineTuneData>({ train: true, heldOut: true });
const EARLY_KEYS = optionKeys<EarlyStoppingOptions>({ patience: true, minDelta: true });

/** What {@link fineTune} returns. */
export type FineTuneResult<T> = {
  /** The trained tensors in the structure they were given (fresh tensors, the caller's to dispose). */
  trained: T;
  /** Optimizer steps taken (counting resumed ones). */
  step: number;
  /** One record per step. */
  history: FineTuneRecord[];
  /** Whether early stopping ended the run before `steps`. */
  stoppedEarly: boolean;
  /** The best held-out loss, if evaluated. */
  bestHeldOutLoss?: number;
  /** The step of the best held-out loss. */
  bestStep?: number;
  /** With the `privacy` option: ε after the steps taken, δ, σ and the sampling rate. */
  privacy?: FineTunePrivacyReport;
};

type Checked = {
  model: FineTuneModel;
  train: SequenceExample[];
  heldOut: SequenceExample[] | undefined;
  length: number;
  optimizer: GradientTransformation;
  schedule: Schedule | undefined;
  steps: number;
  batchSize: number;
  accumulate: number;
  evalEvery: number;
  patience: number;
  minDelta: number;
  store: FineTuneCheckpointStore | undefined;
  checkpointEvery: number;
  onStep: FineTuneOptions['onStep'];
  signal: AbortSignal | undefined;
  seed: number;
  privacy: CheckedFineTunePrivacy | undefined;
  ledger: RunLedger | undefined;
  gradientCheckpointing: boolean;
};

function checkOptions(fn: string, options: FineTuneOptions): Checked {
  checkOptionKeys(fn, options, FINE_TUNE_KEYS);
  const { model, data } = options;
  if (
    model === null ||
    typeof model !== 'object' ||
    typeof model.config !== 'object' ||
    model.params === null ||
    typeof model.params !== 'object'
  ) {
    throw new TfjsBlocksError(
      fn,
      'options.model',
      'a decoder LM { config, params }',
      describeValue(model),
    );
  }
  const kind = (model as { kind?: unknown }).kind;
  if (kind !== undefined && kind !== 'decoder-lm') {
    throw new TfjsBlocksError(fn, 'options.model.kind', "'decoder-lm'", describeValue(kind));
  }
  checkOptionKeys(fn, data, DATA_KEYS, 'options.data');
  const length = checkExamples(fn, 'options.data.train', data.train);
  if (length > model.config.maxLength) {
    throw new TfjsBlocksError(
      fn,
      'options.data.train[0].ids.length',
      `at most model.config.maxLength = ${model.config.maxLength}`,
      String(length),
    );
  }
  if (data.heldOut !== undefined) {
    const heldLength = checkExamples(fn, 'options.data.heldOut', data.heldOut);
    if (heldLength > model.config.maxLength) {
      throw new TfjsBlocksError(
        fn,
        'options.data.heldOut[0].ids.length',
        `at most model.config.maxLength = ${model.config.maxLength}`,
        String(heldLength),
      );
    }
  }
  checkTransform(fn, 'options.optimizer', options.optimizer);
  if (options.schedule !== undefined && typeof options.schedule !== 'function') {
    throw new TfjsBlocksError(
      fn,
      'options.schedule',
      'a schedule (step) => number',
      describeValue(options.schedule),
    );
  }
  const steps = checkInteger(fn, 'options.steps', options.steps, 1);
  const batchSize = checkInteger(fn, 'options.batchSize', options.batchSize ?? 8, 1);
  const accumulate = checkInteger(fn, 'options.accumulate', options.accumulate ?? 1, 1);
  let patience = 0;
  let minDelta = 0;
  if (options.earlyStopping !== undefined) {
    checkOptionKeys(fn, options.earlyStopping, EARLY_KEYS, 'options.earlyStopping');
    patience = checkInteger(
      fn,
      'options.earlyStopping.patience',
      options.earlyStopping.patience,
      1,
    );
    minDelta = checkNumber(
      fn,
      'options.earlyStopping.minDelta',
      options.earlyStopping.minDelta ?? 0,
      { min: 0 },
    );
  }
  const evalEvery = checkInteger(
    fn,
    'options.evalEvery',
    options.evalEvery ?? (patience > 0 ? 10 : 0),
    0,
  );
  if ((evalEvery > 0 || patience > 0) && data.heldOut === undefined) {
    throw new TfjsBlocksError(
      fn,
      'options.data.heldOut',
      'held-out examples (evalEvery or earlyStopping is set)',
      'undefined',
    );
  }
  if (patience > 0 && evalEvery === 0) {
    throw new TfjsBlocksError(fn, 'options.evalEvery', 'an integer >= 1 with earlyStopping', '0');
  }
  const store = options.checkpointStore;
  if (
    store !== undefined &&
    (store === null || typeof store.save !== 'function' || typeof store.load !== 'function')
  ) {
    throw new TfjsBlocksError(
      fn,
      'options.checkpointStore',
      'a store { save, load }',
      describeValue(store),
    );
  }
  const checkpointEvery = checkInteger(
    fn,
    'options.checkpointEvery',
    options.checkpointEvery ?? 50,
    1,
  );
  if (options.onStep !== undefined && typeof options.onStep !== 'function') {
    throw new TfjsBlocksError(fn, 'options.onStep', 'a function', describeValue(options.onStep));
  }
  const signal = options.signal;
  if (signal !== undefined && (signal === null || typeof signal.aborted !== 'boolean')) {
    throw new TfjsBlocksError(fn, 'options.signal', 'an AbortSignal', describeValue(signal));
  }
  const seed = options.seed ?? 0;
  if (typeof seed !== 'number' || !Number.isSafeInteger(seed)) {
    throw new TfjsBlocksError(fn, 'options.seed', 'a safe integer', describeValue(seed));
  }
  const ledger = options.ledger;
  if (
    ledger !== undefined &&
    (ledger === null ||
      typeof ledger !== 'object' ||
      typeof ledger.start !== 'function' ||
      typeof ledger.merge !== 'function' ||
      typeof ledger.toJSON !== 'function')
  ) {
    throw new TfjsBlocksError(
      fn,
      'options.ledger',
      'a run ledger (createRunLedger)',
      describeValue(ledger),
    );
  }
  const gradientCheckpointing = checkFlag(
    fn,
    'options.gradientCheckpointing',
    options.gradientCheckpointing,
    false,
  );
  if (gradientCheckpointing && options.privacy !== undefined) {
    throw new TfjsBlocksError(
      fn,
      'options.gradientCheckpointing',
      'false with privacy (DP-SGD takes per-example gradients its own way)',
      'true',
    );
  }
  if (options.adapter === undefined) {
    const quantized = firstQuantizedKernel(fn, model.params);
    if (quantized !== undefined) {
      throw new TfjsBlocksError(
        fn,
        `options.model.params.${quantized}`,
        'a float32 kernel (full fine-tuning trains every param; a quantized base is trained through an adapter: initLora)',
        'a QuantizedTensor',
      );
    }
  }
  return {
    ledger,
    model,
    train: data.train,
    heldOut: data.heldOut,
    length,
    optimizer: options.optimizer,
    schedule: options.schedule,
    steps,
    batchSize,
    accumulate,
    evalEvery,
    patience,
    minDelta,
    store,
    checkpointEvery,
    onStep: options.onStep,
    signal,
    seed,
    privacy:
      options.privacy === undefined
        ? undefined
        : checkFineTunePrivacy(fn, options.privacy, {
            trainSize: data.train.length,
            examplesPerStep: batchSize * accumulate,
            steps,
            hasAdapter: options.adapter !== undefined,
            seed,
          }),
    gradientCheckpointing,
  };
}

/** The dotted path of the first quantized kernel of `params`, if any. */
function firstQuantizedKernel(fn: string, params: unknown): string | undefined {
  let found: string | undefined;
  visitLeaves(
    params,
    (leaf, keys) => {
      if (found === undefined && isQuantizedTensor(leaf)) found = joinPath(keys);
    },
    {
      fn,
      argument: 'options.model.params',
      isLeaf: (node) => isTensor(node) || isQuantizedTensor(node),
    },
  );
  return found;
}

/**
 * The examples at stream positions `[start, start + count)`: the stream is
 * epoch after epoch of `examples`, each in its own seeded order, so any
 * position is found without replaying the run (and a resumed run draws the
 * same batches).
 */
export function examplesAt<T>(
  examples: readonly T[],
  seed: number,
  start: number,
  count: number,
): T[] {
  const n = examples.length;
  const batch: T[] = [];
  let epoch = -1;
  let order: number[] = [];
  for (let p = start; p < start + count; p++) {
    const e = Math.floor(p / n);
    if (e !== epoch) {
      epoch = e;
      order = permutation(n, splitSeed(seed + e, 1)[0]!);
    }
    batch.push(examples[order[p % n]!]!);
  }
  return batch;
}

/** Next-token targets on the host: `labels` shifted left by one, the last position ignored. */
function shiftedTargets(batch: readonly SequenceExample[]): {
  targets: number[][];
  counted: number;
} {
  let counted = 0;
  const targets = batch.map(({ labels }) => {
    const row = [...labels.slice(1), IGNORED_LABEL];
    for (const t of row) if (t !== IGNORED_LABEL) counted++;
    return row;
  });
  return { targets, counted };
}

/**
 * The summed masked next-token cross-entropy of `batch`, divided by
 * `denominator` (a JS number): the step's mean once the micro-batches are
 * added.
 */
function batchLoss(
  model: FineTuneModel,
  params: DecoderLmParams | WithQuantizedKernels<DecoderLmParams>,
  batch: readonly SequenceExample[],
  targets: number[][],
  denominator: number,
  options: DecoderLmOptions = {},
): Tensor {
  const ids = tensor2d(
    batch.map((e) => e.ids),
    undefined,
    'int32',
  );
  const labels = tensor2d(targets, undefined, 'int32');
  const logits = decoderLm(model.config, params, ids, options);
  const total = softmaxCrossEntropy(logits, labels, { reduction: 'sum' });
  return mul(total, 1 / Math.max(denominator, 1));
}

/** The held-out loss: masked next-token cross-entropy, the mean over all counted tokens. */
async function heldOutLoss(
  c: Checked,
  paramsOf: () => LmParams,
  examples: SequenceExample[],
): Promise<number> {
  const { counted } = shiftedTargets(examples);
  let total = 0;
  for (let start = 0; start < examples.length; start += c.batchSize) {
    const batch = examples.slice(start, start + c.batchSize);
    const { targets } = shiftedTargets(batch);
    const loss = tidy(() => batchLoss(c.model, paramsOf(), batch, targets, counted));
    try {
      total += (await loss.data())[0]!;
    } finally {
      loss.dispose();
    }
  }
  return total;
}

/**
 * Fine-tunes a pretrained decoder LM: the training loop users do not have
 * to write. Each optimizer step draws `accumulate` micro-batches of
 * `batchSize` examples from a seeded shuffled stream, adds their gradients
 * of the masked next-token cross-entropy (labels `-100` are ignored; the
 * mean is over all the step's counted tokens, so accumulation equals one
 * big batch), applies `optimizer` (scaled by `schedule(step)` if given),
 * evaluates the held-out loss every `evalEvery` steps with optional early
 * stopping, reports progress through `onStep`, and saves resumable
 * checkpoints (tensors, optimizer state, step) to `checkpointStore`: a
 * run that finds a checkpoint there continues from it and reaches the same
 * tensors, bit for bit, as a run never interrupted.
 *
 * Without an adapter every tensor of `model.params` is trained (full
 * fine-tuning); gradients are taken only with respect to the trained
 * tensors. `model.params` is never modified or disposed. A base whose
 * kernels are quantized (QLoRA: `quantizeParams(params, { bits,
 * kernelsOnly: true })`) trains through an adapter only; with
 * `gradientCheckpointing` only the adapter's tensors are recomputed with
 * gradients.
 *
 * Memory: the tensor count stays flat across steps; on return only
 * `trained` remains, and on a throw or an abort nothing does.
 *
 * @returns the trained tensors (fresh) and the history.
 * @throws TfjsBlocksError on bad options (before any tensor is made); an
 *   abort rejects with the signal's reason.
 * @example
 * ```ts
 * const config = gpt2Config({ vocabSize: 258, maxLength: 32, dModel: 32, numHeads: 2, numLayers: 2 });
 * const model = { config, params: initDecoderLm(config, 0) };
 * const tokenizer = new ByteTokenizer({ specialTokens: ['<eos>'] });
 * const train = packTexts(tokenizer, ['some text to learn', 'and more'], { sequenceLength: 8, eosId: 256 });
 * const { trained, history } = await fineTune({
 *   model,
 *   data: { train },
 *   optimizer: adamw({ learningRate: 1e-3 }),
 *   steps: 3,
 *   batchSize: 2,
 *   onStep: ({ step, loss }) => console.log(step, loss),
 * });
 * ```
 */
export function fineTune(
  options: FineTuneOptions & { adapter: LoraAdapter },
): Promise<FineTuneResult<LoraAdapter>>;
export function fineTune(
  options: FineTuneOptions & { adapter?: undefined },
): Promise<FineTuneResult<DecoderLmParams>>;
export function fineTune(
  options: FineTuneOptions,
): Promise<FineTuneResult<LoraAdapter | DecoderLmParams>>;
export async function fineTune(
  options: FineTuneOptions,
): Promise<FineTuneResult<LoraAdapter | DecoderLmParams>> {
  const fn = 'fineTune';
  const c = checkOptions(fn, options);
  const { adapter } = options;
  if (adapter === undefined) {
    // checkOptions rejected quantized kernels: every param is a float32 tensor to train.
    const params = c.model.params as DecoderLmParams;
    const lossOptions: DecoderLmOptions = c.gradientCheckpointing
      ? { gradientCheckpointing: true }
      : {};
    return train(fn, c, params, 'options.model.params', lossOptions, (trainable) => trainable);
  }
  const base = c.model.params;
  // Checks that the adapter fits the base (a typed error from withLora otherwise); makes no tensor.
  withLora(base, adapter);
  const lossOptions = adapterLossOptions(c.gradientCheckpointing, adapter);
  return train(fn, c, adapter, 'options.adapter', lossOptions, (t, seed) =>
    withLora(base, t, seed === undefined ? {} : { dropoutSeed: seed }),
  );
}

/** The params `fineTune` runs: float32, or a quantized base with an adapter on it. */
type LmParams = DecoderLmParams | WithQuantizedKernels<DecoderLmParams>;

/**
 * `decoderLm`'s options for the training loss with an adapter: with
 * checkpointing, only the adapter's tensors (the `lora` factors `withLora`
 * puts on the targets, and the saved modules' tensors at their param paths)
 * are checkpoint inputs, so the frozen base gets no gradient. Internal
 * (exported for its test).
 */
export function adapterLossOptions(checkpointing: boolean, adapter: LoraAdapter): DecoderLmOptions {
  if (!checkpointing) return {};
  const saved = new Set(Object.values(adapter.modulesToSave).flatMap((t) => Object.keys(t)));
  const trainable = (path: string) =>
    path.endsWith('.lora.a') || path.endsWith('.lora.b') || saved.has(path);
  return { gradientCheckpointing: { trainable } };
}

/**
 * The gradients of one optimizer step with respect to the trained tensors,
 * summed over its `accumulate` micro-batches (each loss already divided by
 * the step's counted tokens, so the sum is the step's mean), and the loss.
 * Frees everything but its outputs, also when it throws.
 */
function stepGradients<T>(
  c: Checked,
  template: T,
  current: TensorMap,
  combine: (trainable: T, dropoutSeed?: number) => LmParams,
  examples: readonly SequenceExample[],
  dropoutSeeds: readonly number[],
  lossOptions: DecoderLmOptions,
): { grads: TensorMap; loss: Tensor } {
  const names = Object.keys(current);
  const { counted } = shiftedTargets(examples);
  return tidy(() => {
    let grads: TensorMap | undefined;
    let total: Tensor | undefined;
    for (let j = 0; j < c.accumulate; j++) {
      const batch = examples.slice(j * c.batchSize, (j + 1) * c.batchSize);
      const { targets } = shiftedTargets(batch);
      const loss = (...xs: Tensor[]) => {
        const map: TensorMap = Object.fromEntries(names.map((n, i) => [n, xs[i]!]));
        const params = combine(unflattenParams(template, map), dropoutSeeds[j]);
        return batchLoss(c.model, params, batch, targets, counted, lossOptions);
      };
      // Each micro-batch in its own tidy: its activations are freed before the next one runs.
      const micro = tidy(() => {
        const { value, grads: g } = valueAndGrads(loss)(names.map((n) => current[n]!));
        const summed: TensorMap = {};
        names.forEach((n, i) => {
          summed[n] = grads === undefined ? g[i]! : add(grads[n]!, g[i]!);
        });
        return { value: total === undefined ? value : add(total, value), summed };
      });
      if (grads !== undefined) dispose(Object.values(grads));
      total?.dispose();
      grads = micro.summed;
      total = micro.value;
    }
    return { grads: grads!, loss: total! };
  });
}

/**
 * The loop over trainable tensors `template` (all params, or an adapter);
 * `combine` turns the trainable tree into the model's params inside the
 * loss.
 */
async function train<T>(
  fn: string,
  c: Checked,
  template: T,
  argument: string,
  lossOptions: DecoderLmOptions,
  combine: (trainable: T, dropoutSeed?: number) => LmParams,
): Promise<FineTuneResult<T>> {
  const initial = flattenParams(template);
  for (const [name, t] of Object.entries(initial)) {
    if (t.isDisposed)
      throw new TfjsBlocksError(fn, `${argument}.${name}`, 'a live tensor', 'a disposed tensor');
  }
  throwIfAborted('fineTune', c.signal);
  const names = Object.keys(initial);
  const shapes = shapesOf(initial);
  // `current` holds the caller's tensors until the first update; `owned` says whether to free it.
  let current: TensorMap = initial;
  let owned = false;
  let state: unknown;
  let best: TensorMap | undefined;
  let step = 0;
  // Training examples consumed: the position in the seeded stream of batches.
  let position = 0;
  let history: FineTuneRecord[] = [];
  let bestHeldOutLoss: number | undefined;
  let bestStep: number | undefined;
  let evalsWithoutImprovement = 0;
  let stoppedEarly = false;
  const release = () => {
    if (owned) dispose(Object.values(current));
    disposeTree(state);
    if (best !== undefined) dispose(Object.values(best));
  };
  try {
    const resumed = c.store === undefined ? undefined : await c.store.load();
    if (resumed !== undefined) {
      current = resumed.trainable;
      owned = true;
      state = resumed.optimizerState;
      best = resumed.best;
      checkShapes(fn, 'checkpoint.trainable', current, shapes, 'the trained tensors');
      if (best !== undefined)
        checkShapes(fn, 'checkpoint.best', best, shapes, 'the trained tensors');
      if (Object.keys(current).length !== names.length) {
        throw new TfjsBlocksError(
          fn,
          'checkpoint.trainable',
          `the ${names.length} trained tensors`,
          `${Object.keys(current).length} tensors`,
        );
      }
      step = resumed.step;
      const m = resumed.metadata;
      history = m.history;
      bestHeldOutLoss = m.bestHeldOutLoss;
      bestStep = m.bestStep;
      evalsWithoutImprovement = m.evalsWithoutImprovement;
      position = m.examplesSeen;
      if (m.ledger !== undefined) c.ledger?.merge(m.ledger);
      // A run that stopped early stays stopped when started again.
      stoppedEarly = c.patience > 0 && evalsWithoutImprovement >= c.patience;
    } else {
      state = c.optimizer.init(initial);
    }
    throwIfAborted('fineTune', c.signal);
    const perStep = c.batchSize * c.accumulate;
    const save = async () => {
      if (c.store === undefined) return;
      const checkpoint: FineTuneCheckpoint = {
        step,
        trainable: current,
        optimizerState: state,
        metadata: {
          history,
          evalsWithoutImprovement,
          examplesSeen: position,
          ...(c.ledger === undefined ? {} : { ledger: c.ledger.toJSON() }),
          ...(bestHeldOutLoss === undefined ? {} : { bestHeldOutLoss, bestStep }),
        },
        ...(best === undefined ? {} : { best }),
      };
      await c.store.save(checkpoint);
    };
    while (step < c.steps && !stoppedEarly) {
      const started = performance.now();
      const span = c.ledger?.start('training');
      const examples = examplesAt(c.train, c.seed, position, perStep);
      // One dropout seed per micro-batch, from the run's seed and the micro-batch's index (resumable).
      const dropoutSeeds = splitSeed(c.seed + 0x5f3759df * (step + 1), c.accumulate);
      let grads: TensorMap | undefined;
      let lossSum: Tensor | undefined;
      try {
        if (c.privacy !== undefined) {
          // DP-SGD: clipped per-example gradients of the adapter plus noise; the loss is only reported.
          const adapterNow = unflattenParams(template, current) as unknown as LoraAdapter;
          grads = privateStepGradients(
            c.model.config,
            // A quantized base runs there as here: its forward is decoderLm on withLora(params, adapter).
            c.model.params as DecoderLmParams,
            adapterNow,
            examples,
            c.privacy,
            step,
          );
          const { targets, counted } = shiftedTargets(examples);
          lossSum = tidy(() =>
            batchLoss(
              c.model,
              combine(unflattenParams(template, current)),
              examples,
              targets,
              counted,
            ),
          );
        } else {
          ({ grads, loss: lossSum } = stepGradients(
            c,
            template,
            current,
            combine,
            examples,
            dropoutSeeds,
            lossOptions,
          ));
        }
        const factor =
          c.schedule === undefined ? 1 : valueAt(fn, 'options.schedule', c.schedule, step);
        const result = c.optimizer.update(grads, state, current);
        let next: TensorMap;
        try {
          next = tidy(() => {
            const updates =
              factor === 1
                ? result.updates
                : Object.fromEntries(names.map((n) => [n, mul(result.updates[n]!, factor)]));
            return applyUpdates(current, updates);
          });
        } catch (e) {
          dispose(Object.values(result.updates));
          disposeTree(result.state);
          throw e;
        }
        dispose(Object.values(result.updates));
        disposeTree(state);
        state = result.state;
        if (owned) dispose(Object.values(current));
        current = next;
        owned = true;
        step++;
        position += perStep;
        const loss = (await lossSum!.data())[0]!;
        span?.end(perStep * c.length);
        const record: FineTuneRecord = { step, loss, learningRate: factor };
        if (c.privacy !== undefined) record.epsilon = c.privacy.accountant.epsilon(step).epsilon;
        if (c.evalEvery > 0 && (step % c.evalEvery === 0 || step === c.steps)) {
          const trained = current;
          const paramsOf = () => combine(unflattenParams(template, trained));
          const held = await heldOutLoss(c, paramsOf, c.heldOut!);
          record.heldOutLoss = held;
          if (bestHeldOutLoss === undefined || held < bestHeldOutLoss - c.minDelta) {
            bestHeldOutLoss = held;
            bestStep = step;
            evalsWithoutImprovement = 0;
            if (c.patience > 0) {
              if (best !== undefined) dispose(Object.values(best));
              best = undefined;
              best = tidy(() => Object.fromEntries(names.map((n) => [n, clone(current[n]!)])));
            }
          } else {
            evalsWithoutImprovement++;
            if (c.patience > 0 && evalsWithoutImprovement >= c.patience) stoppedEarly = true;
          }
        }
        history = [...history, record];
        const seconds = (performance.now() - started) / 1000;
        if (c.onStep !== undefined) {
          await c.onStep({
            ...record,
            steps: c.steps,
            tokensPerSecond: (perStep * c.length) / Math.max(seconds, 1e-9),
            examplesSeen: position,
          });
        }
        if (step % c.checkpointEvery === 0 || step === c.steps || stoppedEarly) await save();
        await new Promise<void>((resolve) => setTimeout(resolve, 0));
        throwIfAborted('fineTune', c.signal);
      } finally {
        if (grads !== undefined) dispose(Object.values(grads));
        if (lossSum !== undefined) lossSum.dispose();
      }
    }
    let out: TensorMap;
    if (best !== undefined) {
      out = best;
      best = undefined;
    } else if (owned) {
      out = current;
      owned = false;
    } else {
      out = tidy(() => Object.fromEntries(names.map((n) => [n, clone(current[n]!)])));
    }
    return {
      trained: unflattenParams(template, out),
      step,
      history,
      stoppedEarly,
      ...(bestHeldOutLoss === undefined ? {} : { bestHeldOutLoss, bestStep }),
      ...(c.privacy === undefined
        ? {}
        : {
            privacy: {
              epsilon: c.privacy.accountant.epsilon(step).epsilon,
              delta: c.privacy.delta,
              noiseMultiplier: c.privacy.noiseMultiplier,
              samplingRate: c.privacy.samplingRate,
            },
          }),
    };
  } finally {
    release();
  }
}
