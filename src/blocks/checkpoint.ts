import { dispose, engine, type Tensor, tidy, Variable, zerosLike } from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import { checkOptionKeys, describeValue, optionKeys } from '../internal/checks';
import { customGradient } from '../internal/custom-gradient';
import { treeLeavesWithPath } from '../tree/leaves';
import { treeMap } from '../tree/map';

/**
 * Gradient checkpointing of a block (the `gradientCheckpointing` option of
 * the Transformer blocks and `decoderLm`): the block's forward keeps none of
 * its intermediates for the backward pass, which recomputes the block from
 * its saved input (Chen et al. 2016, https://arxiv.org/abs/1604.06174):
 * activation memory drops from every intermediate of every block to one
 * `[batch, time, dModel]` input per block, for about one more forward pass
 * of compute.
 *
 * `true` differentiates every float param of the block except `tf.Variable`s
 * made with `trainable: false`. With LoRA, pass `trainable` so that the frozen
 * base gets no gradient: a custom gradient returns a gradient for every
 * tensor it is given, so the checkpoint takes only the trainable tensors as
 * inputs and closes over the others.
 *
 * @example
 * ```ts
 * const lora: GradientCheckpointing = { trainable: (path) => path.includes('.lora.') };
 * ```
 */
export type GradientCheckpointing = boolean | GradientCheckpointingOptions;

/**
 * The object form of {@link GradientCheckpointing}.
 *
 * @example
 * ```ts
 * const options: GradientCheckpointingOptions = { trainable: (path) => path.endsWith('.lora.a') || path.endsWith('.lora.b') };
 * ```
 */
export type GradientCheckpointingOptions = {
  /**
   * Which params receive gradients, by dotted path (`decoderLm`:
   * `blocks.0.attention.query.lora.a`; a block: `attention.query.lora.a`).
   * A param it rejects gets no gradient at all, as a tensor the loss does
   * not depend on (`tf.grads` throws for it, `tf.variableGrads` gives null). Integer params
   * (quantized codes) and `tf.Variable`s made with `trainable: false` never
   * get one. Default: every other param.
   */
  trainable?: (path: string) => boolean;
};

const CHECKPOINTING_OPTION_KEYS = optionKeys<GradientCheckpointingOptions>({ trainable: true });

/**
 * Checks a `gradientCheckpointing` option; returns the trainable predicate,
 * or `undefined` when checkpointing is off.
 */
export function checkGradientCheckpointing(
  fn: string,
  value: unknown,
  name = 'options.gradientCheckpointing',
): ((path: string) => boolean) | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return defaultTrainable;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new TfjsBlocksError(fn, name, 'a boolean or {trainable?}', describeValue(value));
  }
  checkOptionKeys(fn, value, CHECKPOINTING_OPTION_KEYS, name);
  const { trainable } = value as GradientCheckpointingOptions;
  if (trainable === undefined) return defaultTrainable;
  if (typeof trainable !== 'function') {
    throw new TfjsBlocksError(
      fn,
      `${name}.trainable`,
      'a function (path) => boolean',
      describeValue(trainable),
    );
  }
  return trainable;
}

/**
 * {@link checkGradientCheckpointing} for a call that may carry a KV cache:
 * checkpointing is for training, so it is refused with a cache.
 */
export function checkCheckpointingWithoutCache(
  fn: string,
  value: unknown,
  hasCache: boolean,
): ((path: string) => boolean) | undefined {
  const trainable = checkGradientCheckpointing(fn, value);
  if (trainable !== undefined && hasCache) {
    throw new TfjsBlocksError(
      fn,
      'options.gradientCheckpointing',
      'false or absent with options.cache (checkpointing is for training)',
      describeValue(value),
    );
  }
  return trainable;
}

/**
 * The `gradientCheckpointing` option a model passes to one of its blocks:
 * the model's predicate, seeing model paths (`blocks.0.` + the block's path).
 */
export function blockCheckpointing(
  trainable: ((path: string) => boolean) | undefined,
  prefix: string,
): GradientCheckpointingOptions | undefined {
  if (trainable === undefined) return undefined;
  return { trainable: (path) => trainable(`${prefix}${path}`) };
}

/** Marks the default: every leaf but a non-trainable variable (decided per leaf below). */
const defaultTrainable = (_path: string) => true;

function isTrainable(trainable: (path: string) => boolean, path: string, leaf: Tensor): boolean {
  // Integer leaves (a quantized base's int8 codes, held as int32) have no gradient.
  if (leaf.dtype !== 'float32') return false;
  if (leaf instanceof Variable && !leaf.trainable) return false;
  return trainable(path) === true;
}

/**
 * Runs `body(params, inputs, aux)` as one checkpointed op: the forward runs
 * without recording its intermediates, and the backward pass recomputes
 * `body` from saved copies of its inputs and takes the gradients of the
 * recomputation. Gradients flow to `inputs` (e.g. `x`, an encoder
 * `context`) and to the params `trainable` accepts; the other params and
 * `aux` (masks) are closed over. Everything is saved (tfjs clones share
 * their data), because `tf.grads` disposes what its function made, a mask
 * or a param built inside the loss included, before the backward pass runs.
 *
 * `body` must be deterministic (a fixed dropout seed): the recomputation
 * must give the forward's values.
 */
export function checkpoint<P>(
  params: P,
  inputs: Tensor[],
  aux: Tensor[],
  trainable: (path: string) => boolean,
  body: (params: P, inputs: Tensor[], aux: Tensor[]) => Tensor,
): Tensor {
  const leaves = treeLeavesWithPath(params);
  // The predicate runs before any tensor exists, so a throw leaves nothing.
  const trained = leaves
    .map(([path, leaf], i) => (isTrainable(trainable, path, leaf) ? i : -1))
    .filter((i) => i >= 0);
  const slot = new Map(leaves.map(([path], i) => [path, i]));
  const rebuild = (values: Tensor[]) => treeMap(params, (_, path) => values[slot.get(path)!]!) as P;
  const nIn = inputs.length;
  const nAux = aux.length;
  const run = customGradient<Tensor[]>((given, save) => {
    const ins = given.slice(0, nIn);
    const value = body(params, ins, aux);
    save([...ins, ...aux, ...leaves.map(([, leaf]) => leaf)]);
    return {
      value,
      gradFunc: (dy: Tensor, saved: Tensor[]) =>
        tidy(() => {
          const savedIns = saved.slice(0, nIn);
          const savedAux = saved.slice(nIn, nIn + nAux);
          const savedLeaves = saved.slice(nIn + nAux);
          const xs = [...savedIns, ...trained.map((i) => savedLeaves[i]!)];
          const grads = recomputedGradients(
            () => body(rebuild(savedLeaves), savedIns, savedAux),
            xs,
            dy,
          );
          return grads.map((g, i) => g ?? zerosLike(xs[i]!));
        }),
    };
  });
  return run(...inputs, ...trained.map((i) => leaves[i]![1]));
}

/**
 * `tf.grads` of a recomputation inside a backward pass. tfjs keeps one
 * tape: a gradient taken while the outer backward pass runs starts a new
 * one and clears it when done, and the outer pass would then find no tape
 * to free. The outer tape is put back afterwards.
 */
function recomputedGradients(f: () => Tensor, xs: Tensor[], dy: Tensor): Array<Tensor | null> {
  const state = engine().state;
  const outerTape = state.activeTape;
  try {
    const { value, grads } = engine().gradients(f, xs, dy, true);
    dispose(value);
    return grads;
  } finally {
    state.activeTape = outerTape;
  }
}

/** The tensors of a block's options that a checkpoint must carry. */
type BlockTensors = { mask?: Tensor; context?: Tensor; contextMask?: Tensor; seed?: number };

/**
 * A block call under {@link checkpoint}: `x` and `options.context` receive
 * gradients, the masks are carried along, and the dropout seed is fixed
 * first, so that the recomputation draws the forward's masks.
 */
export function checkpointBlock<P, O extends BlockTensors>(
  params: P,
  x: Tensor,
  options: O,
  trainable: (path: string) => boolean,
  run: (params: P, x: Tensor, options: O) => Tensor,
): Tensor {
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
  const { context } = options;
  const carried = (['mask', 'contextMask'] as const).filter((k) => options[k] !== undefined);
  return checkpoint(
    params,
    context === undefined ? [x] : [x, context],
    carried.map((k) => options[k]!),
    trainable,
    (p, [input, ctx], aux) => {
      const replaced: BlockTensors = { seed };
      if (ctx !== undefined) replaced.context = ctx;
      carried.forEach((k, i) => {
        replaced[k] = aux[i];
      });
      return run(p, input!, { ...options, ...replaced, gradientCheckpointing: false });
    },
  );
}
