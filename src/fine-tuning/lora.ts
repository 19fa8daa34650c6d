/**
 * LoRA as a transform of params (Hu et al. 2021,
 * https://arxiv.org/abs/2106.09685): an adapter holds low-rank factors for
 * the target linears and trained copies of `modulesToSave`; `withLora` puts
 * them on the base params (`lora` fields that `affine` adds to every
 * product), so every model runs unchanged. Semantics follow PEFT's `LoraModel`.
 */
import {
  add,
  matMul,
  mul,
  randomUniform,
  type Tensor,
  type Tensor2D,
  tidy,
  zeros,
} from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import {
  checkInteger,
  checkOptionKeys,
  describeValue,
  formatShape,
  optionKeys,
} from '../internal/checks';
import { emptyRecord, ownEntry } from '../internal/records';
import { splitSeed } from '../internal/seed';
import { tidyParams } from '../internal/tidy-params';
import type { LinearParams, LoraFactors, QuantizableLinearParams } from '../nn/linear';
import {
  checkQuantizedTensor,
  dequantizeKernel,
  isQuantizedTensor,
  type QuantizedTensor,
} from '../nn/quantized-weights';
import { getParamPath } from '../pretrained/families/rules';
import { flattenParams } from '../tree/flatten';
import type { TensorMap } from '../tree/types';
import { isTensor, mapTree } from '../tree/walk';
import {
  checkLoraConfig,
  type LoraConfig,
  loraScale,
  type ResolvedLoraConfig,
} from './lora-config';
import { type LoraBase, loraModuleTable, resolveLoraTargets } from './lora-modules';

/**
 * The LoRA update of one target module: one `a`, and one `b` per linear
 * the module spans (a fused module such as GPT-2's `c_attn` spans q, k, v:
 * PEFT's `lora_B.weight` is the `b`s joined on the output axis, transposed).
 */
export type LoraModule = {
  /** Dotted paths of our `LinearParams` the module spans (`blocks.0.attention.query`), in checkpoint order. */
  paths: string[];
  /** `[inFeatures, r]`: PEFT's `lora_A.weight` transposed. Kaiming-uniform when new. */
  a: Tensor2D;
  /** One `[r, outFeatures_i]` per path: PEFT's `lora_B.weight` transposed and split by columns. Zeros when new. */
  b: Tensor2D[];
  /** `alpha / r` (or `alpha / √r` with rsLoRA). */
  scale: number;
};

/**
 * A LoRA adapter: what `initLora` makes, `withLora` applies and a PEFT
 * adapter file holds. It is a plain tree of tensors: `loraTensors(adapter)`
 * (or `flattenParams`) lists what to train and `unflattenParams(adapter,
 * values)` rebuilds it from trained values.
 */
export type LoraAdapter = {
  /** The config it was made with, defaults filled in. */
  config: ResolvedLoraConfig;
  /** Target module name (Hugging Face's, or our dotted path) → its factors. */
  modules: Record<string, LoraModule>;
  /** Saved module name → its trained full tensors, by our dotted param path. */
  modulesToSave: Record<string, TensorMap>;
};

/** One param of a saved module (a tensor, or a quantized kernel), or a typed error. */
function paramAt(
  fn: string,
  params: unknown,
  path: string,
  argument: string,
): Tensor | QuantizedTensor {
  const t = getParamPath(params, path.split('.'));
  if (isQuantizedTensor(t)) return checkQuantizedTensor(fn, `${argument}.${path}`, t);
  if (!isTensor(t)) {
    throw new TfjsBlocksError(fn, `${argument}.${path}`, 'a tensor', describeValue(t));
  }
  return t;
}

/** The linear at a dotted path (its kernel float32 or quantized: a QLoRA-style base), or a typed error. */
function linearAt(
  fn: string,
  params: unknown,
  path: string,
  argument: string,
): QuantizableLinearParams {
  const linear = getParamPath(params, path.split('.')) as QuantizableLinearParams | undefined;
  const kernel = linear?.kernel;
  if (isQuantizedTensor(kernel)) {
    checkQuantizedTensor(fn, `${argument}.${path}.kernel`, kernel);
    return linear!;
  }
  if (!isTensor(kernel) || kernel.rank !== 2) {
    throw new TfjsBlocksError(
      fn,
      `${argument}.${path}.kernel`,
      'a [inFeatures, outFeatures] kernel (the adapter targets this linear)',
      describeValue(kernel),
    );
  }
  return linear!;
}

/**
 * Creates a LoRA adapter for `model`, following PEFT's `get_peft_model`:
 * the targets are `config.targetModules` matched on the model's module
 * names (see `loraModuleNames`); each gets `a` `[inFeatures, r]`
 * Kaiming-uniform (PEFT's default, `U(-1/√inFeatures, 1/√inFeatures)`) and
 * `b` zeros, so the adapted model starts equal to the base. A fused module
 * (GPT-2's `c_attn`) gets one `a` and one `b` per linear it spans.
 * `modulesToSave` are copied (new tensors) to be trained in full.
 *
 * A quantized base (`quantizeParams(params, { bits, kernelsOnly: true })`,
 * QLoRA-style) works as a float one: its quantized kernels are linears to
 * target, and a saved module's quantized kernel is copied dequantized
 * (float32, trained in full).
 *
 * Errors: a `targetModules` that matches nothing (the message lists
 * candidate names), one that matches a module that is no linear, a
 * `modulesToSave` entry that matches nothing, bad config values.
 *
 * @param model - a `PretrainedModel` (`loadPretrained`'s result: Hugging Face module names) or a params record (our dotted paths).
 * @param config - see {@link LoraConfig}.
 * @param seed - integer seed for `a`.
 * @returns a new adapter (its tensors are the caller's).
 * @example
 * ```ts
 * const config = gpt2Config({ vocabSize: 100, maxLength: 32, dModel: 32, numLayers: 2, numHeads: 4 });
 * const params = initDecoderLm(config, 0);
 * const adapter = initLora({ kind: 'decoder-lm', modelType: 'gpt2', config, params }, { r: 4, alpha: 8, targetModules: ['c_attn'] }, 0);
 * const logits = decoderLm(config, withLora(params, adapter), tf.tensor2d([[1, 2, 3]], [1, 3], 'int32'));
 * ```
 */
export function initLora(model: LoraBase, config: LoraConfig, seed: number): LoraAdapter {
  const fn = 'initLora';
  const resolved = checkLoraConfig(fn, config);
  checkInteger(fn, 'seed', seed, Number.MIN_SAFE_INTEGER);
  const table = loraModuleTable(fn, model);
  const match = resolveLoraTargets(fn, table, resolved);
  const params = table.params;
  const plan = match.targets.map((name) => {
    const paths = table.modules.get(name)!.linears;
    const kernels = paths.map((p) => linearAt(fn, params, p, 'model.params').kernel);
    const inFeatures = kernels[0]!.shape[0];
    kernels.forEach((k, i) => {
      if (k.shape[0] !== inFeatures) {
        throw new TfjsBlocksError(
          fn,
          `model.params.${paths[i]}.kernel`,
          `[${inFeatures}, outFeatures] (the fused module '${name}' shares its input)`,
          `shape ${formatShape(k.shape)}`,
        );
      }
    });
    return { name, paths, inFeatures, outs: kernels.map((k) => k.shape[1]) };
  });
  const saved = match.modulesToSave.map((name) => {
    const paths = table.modules.get(name)!.params;
    return {
      name,
      tensors: paths.map((p) => [p, paramAt(fn, params, p, 'model.params')] as const),
    };
  });
  const scale = loraScale(resolved);
  const seeds = splitSeed(seed, plan.length);
  return tidyParams(() => {
    const modules = emptyRecord<LoraModule>();
    plan.forEach(({ name, paths, inFeatures, outs }, i) => {
      const bound = 1 / Math.sqrt(inFeatures);
      const a = randomUniform(
        [inFeatures, resolved.r],
        -bound,
        bound,
        'float32',
        seeds[i],
      ) as Tensor2D;
      const b = outs.map((out) => zeros([resolved.r, out]) as Tensor2D);
      modules[name] = { paths: [...paths], a, b, scale };
    });
    const modulesToSave = emptyRecord<TensorMap>();
    for (const { name, tensors } of saved) {
      const copies: TensorMap = emptyRecord();
      // A quantized kernel is trained in full as float32: the copy is its dequantized matrix.
      for (const [path, t] of tensors)
        copies[path] = isQuantizedTensor(t) ? dequantizeKernel(t) : add(t, 0);
      modulesToSave[name] = copies;
    }
    return { config: resolved, modules, modulesToSave };
  });
}

/** Throws unless `adapter` has the shape of a {@link LoraAdapter}; returns its module entries. */
function checkAdapter(fn: string, adapter: unknown): LoraAdapter {
  const a = adapter as LoraAdapter;
  if (
    a === null ||
    typeof a !== 'object' ||
    a.modules === null ||
    typeof a.modules !== 'object' ||
    a.modulesToSave === null ||
    typeof a.modulesToSave !== 'object'
  ) {
    throw new TfjsBlocksError(
      fn,
      'adapter',
      'a LoraAdapter ({ config, modules, modulesToSave }, from initLora)',
      describeValue(adapter),
    );
  }
  for (const [name, m] of Object.entries(a.modules)) {
    const at = `adapter.modules["${name}"]`;
    if (
      m === null ||
      typeof m !== 'object' ||
      !Array.isArray(m.paths) ||
      !Array.isArray(m.b) ||
      m.b.length !== m.paths.length ||
      m.paths.length === 0
    ) {
      throw new TfjsBlocksError(fn, at, '{ paths, a, b } with one b per path', describeValue(m));
    }
    if (!isTensor(m.a) || m.a.rank !== 2 || m.a.isDisposed) {
      throw new TfjsBlocksError(fn, `${at}.a`, 'a live [inFeatures, r] tensor', describeValue(m.a));
    }
    m.b.forEach((b, i) => {
      if (!isTensor(b) || b.rank !== 2 || b.isDisposed || b.shape[0] !== m.a.shape[1]) {
        throw new TfjsBlocksError(
          fn,
          `${at}.b[${i}]`,
          `a live [${m.a.shape[1]}, outFeatures] tensor (r of a)`,
          describeValue(b),
        );
      }
    });
    if (typeof m.scale !== 'number' || !Number.isFinite(m.scale)) {
      throw new TfjsBlocksError(fn, `${at}.scale`, 'a finite number', describeValue(m.scale));
    }
  }
  return a;
}

/** Throws unless the adapter's factors fit the linears of `params` (the base the adapter was made for). */
function checkFits(fn: string, params: unknown, adapter: LoraAdapter, allowLora: boolean): void {
  for (const [name, m] of Object.entries(adapter.modules)) {
    m.paths.forEach((path, i) => {
      const linear = linearAt(fn, params, path, 'params');
      const [inFeatures, outFeatures] = linear.kernel.shape;
      const b = m.b[i]!;
      if (m.a.shape[0] !== inFeatures || b.shape[1] !== outFeatures) {
        throw new TfjsBlocksError(
          fn,
          `adapter.modules["${name}"]`,
          `factors for params.${path}.kernel ${formatShape(linear.kernel.shape)} (a [${inFeatures}, r], b [r, ${outFeatures}])`,
          `a ${formatShape(m.a.shape)}, b ${formatShape(b.shape)} (an adapter made for another base)`,
        );
      }
      if (!allowLora && linear.lora !== undefined) {
        throw new TfjsBlocksError(
          fn,
          `params.${path}.lora`,
          'absent (a linear without a LoRA update; apply one adapter to the base params)',
          'present',
        );
      }
    });
  }
  for (const [name, tensors] of Object.entries(adapter.modulesToSave)) {
    for (const [path, t] of Object.entries(tensors)) {
      const base = paramAt(fn, params, path, 'params');
      if (!isTensor(t) || t.isDisposed || formatShape(t.shape) !== formatShape(base.shape)) {
        throw new TfjsBlocksError(
          fn,
          `adapter.modulesToSave["${name}"]["${path}"]`,
          `a live tensor of params.${path}'s shape ${formatShape(base.shape)}`,
          isTensor(t) ? `shape ${formatShape(t.shape)}` : describeValue(t),
        );
      }
    }
  }
}

/** A copy of `params`' records and arrays (the tensors and quantized kernels are the same), for setting paths on. */
function copyStructure<P>(fn: string, params: P): P {
  return mapTree(params, (leaf) => leaf, {
    fn,
    argument: 'params',
    isLeaf: (node) => isTensor(node) || isQuantizedTensor(node),
  }) as P;
}

/** Sets a dotted path of a copied record (every container on the way is the copy's own). */
function setAt(root: unknown, path: string, value: unknown): void {
  const keys = path.split('.');
  const parent = getParamPath(root, keys.slice(0, -1)) as Record<string, unknown>;
  parent[keys[keys.length - 1]!] = value;
}

/** Options of {@link withLora}. */
export interface WithLoraOptions {
  /**
   * Training with `config.dropout > 0`: an integer seed for PEFT's dropout on
   * the input of `a` (pass a new seed each step). Default: no dropout (inference).
   */
  dropoutSeed?: number;
}

const WITH_LORA_OPTIONS = optionKeys<WithLoraOptions>({ dropoutSeed: true });

/**
 * The base params with an adapter on them, for the usual forward
 * (`decoderLm`, `encoderClassifier`, `generate`, any block): each target
 * linear gets a `lora` field (`x·kernel + bias + scale·(x·a)·b`), each
 * saved module's tensors are the adapter's trained copies. No tensor is
 * made: the result shares the base's and the adapter's tensors, so
 * gradients taken through it w.r.t. the adapter's tensors train the adapter
 * while the base stays frozen. Several adapters on one base: call it once
 * per adapter, the base is unchanged.
 *
 * Errors: an adapter whose factors do not fit the base's linears (made for
 * another model), a target that already has a `lora` field, bad options.
 *
 * @param params - the base params the adapter was made for.
 * @param adapter - from `initLora` (or a PEFT adapter file).
 * @param options - `dropoutSeed` (see {@link WithLoraOptions}).
 * @returns a new params record of the same type.
 * @example
 * ```ts
 * const config = gpt2Config({ vocabSize: 100, maxLength: 32, dModel: 32, numLayers: 2, numHeads: 4 });
 * const params = initDecoderLm(config, 0);
 * const adapter = initLora(params, { r: 4, targetModules: '.*attention\\.(query|value)' }, 0);
 * const adapted = withLora(params, adapter); // same tensors, lora fields on 4 linears
 * ```
 */
export function withLora<P>(params: P, adapter: LoraAdapter, options?: WithLoraOptions): P {
  const fn = 'withLora';
  checkOptionKeys(fn, options, WITH_LORA_OPTIONS);
  const dropoutSeed =
    options?.dropoutSeed === undefined
      ? undefined
      : checkInteger(fn, 'options.dropoutSeed', options.dropoutSeed, Number.MIN_SAFE_INTEGER);
  if (params === null || typeof params !== 'object') {
    throw new TfjsBlocksError(fn, 'params', 'a params record', describeValue(params));
  }
  const checked = checkAdapter(fn, adapter);
  checkFits(fn, params, checked, false);
  const rate = checked.config?.dropout ?? 0;
  const names = Object.keys(checked.modules);
  const seeds = dropoutSeed !== undefined && rate > 0 ? splitSeed(dropoutSeed, names.length) : [];
  const out = copyStructure(fn, params);
  names.forEach((name, i) => {
    const m = checked.modules[name]!;
    m.paths.forEach((path, j) => {
      const linear = getParamPath(out, path.split('.')) as LinearParams;
      const lora: LoraFactors = { a: m.a, b: m.b[j]!, scale: m.scale };
      // The parts of a fused module share one mask: PEFT drops the module's input once.
      if (seeds.length > 0) lora.dropout = { rate, seed: seeds[i]! };
      setAt(out, path, { ...linear, lora });
    });
  });
  for (const tensors of Object.values(checked.modulesToSave)) {
    for (const [path, t] of Object.entries(tensors)) setAt(out, path, t);
  }
  return out;
}

/**
 * The tensors to train of an adapter, by name (`modules.<module>.a`,
 * `modules.<module>.b.0`, `modulesToSave.<module>.<param path>`): what
 * `tf.grads`, `tf.variable` or an optimizer gets. The adapter's own
 * tensors, not copies; `unflattenParams(adapter, trained)` rebuilds an
 * adapter from values of these names.
 *
 * @example
 * ```ts
 * const params = { query: initLinear({ inFeatures: 8, outFeatures: 8 }, 0) };
 * const adapter = initLora(params, { r: 2, targetModules: ['query'] }, 1);
 * const names = Object.keys(loraTensors(adapter)); // ['modules.query.a', 'modules.query.b.0']
 * ```
 */
export function loraTensors(adapter: LoraAdapter): TensorMap {
  const checked = checkAdapter('loraTensors', adapter);
  return flattenParams({ modules: checked.modules, modulesToSave: checked.modulesToSave });
}

/**
 * Base params with an adapter merged into them, from {@link mergeLora}:
 * run `params` as any params; {@link unmergeLora} takes the whole record back.
 */
export type MergedLora<P> = {
  /**
   * The base with each target kernel replaced by `kernel + scale·a·b` (new
   * tensors: the only ones `mergeLora` makes) and each saved module's
   * tensors by the adapter's; every other tensor is the base's own.
   */
  params: P;
  /**
   * The base's own tensors that the saved modules replaced, by dotted path:
   * what unmerging puts back (a quantized kernel of a saved module stays quantized here).
   */
  originals: Record<string, Tensor | QuantizedTensor>;
};

/**
 * Merges an adapter into the base (PEFT's `merge_and_unload`): the target
 * kernels become `kernel + scale·a·b` (new tensors), the saved modules
 * take the adapter's trained tensors; the forward then costs what the
 * base's does. The base's replaced saved tensors are kept in `originals`,
 * so {@link unmergeLora} restores them exactly. Merged and unmerged
 * forwards agree within float rounding (1e-5 relative in the tests).
 *
 * On a quantized base (QLoRA) a target's quantized kernel is dequantized
 * and merged: its merged kernel is float32 (as PEFT merges into the
 * dequantized weight), so the merged model runs at float speed without the
 * quantized memory saving for those linears; re-quantize with
 * `quantizeParams` if wanted (that rounds the update too). The untargeted
 * kernels stay quantized, and the base record is unchanged.
 *
 * @param params - the base params (without `lora` fields on the targets).
 * @returns `{ params, originals }`; the only new tensors are the merged
 * target kernels (`merged.params.<path>.kernel` for each adapter path):
 * dispose those when done, never the shared ones.
 * @example
 * ```ts
 * const params = { query: initLinear({ inFeatures: 8, outFeatures: 8 }, 0) };
 * const adapter = initLora(params, { r: 2, targetModules: ['query'] }, 1);
 * const merged = mergeLora(params, adapter);
 * const y = linear({ inFeatures: 8, outFeatures: 8 }, merged.params.query, tf.ones([1, 8]));
 * ```
 */
export function mergeLora<P>(params: P, adapter: LoraAdapter): MergedLora<P> {
  const fn = 'mergeLora';
  if (params === null || typeof params !== 'object') {
    throw new TfjsBlocksError(fn, 'params', 'a params record', describeValue(params));
  }
  const checked = checkAdapter(fn, adapter);
  checkFits(fn, params, checked, false);
  return shiftKernels(fn, params, checked, 1);
}

/**
 * Takes a merged adapter back out (PEFT's `unmerge_adapter`): the target
 * kernels become `kernel − scale·a·b` (new tensors, equal to the base's
 * within float rounding) and the saved modules get the base's original
 * tensors back from `merged.originals` (the very tensors, not copies).
 * Kernels merged from a quantized base come back as float32 (the
 * dequantized base's values within rounding); the quantized base itself is
 * unchanged by merging, so keep it to go back.
 *
 * @param merged - what {@link mergeLora} returned for this adapter.
 * @returns params like the base's; the new tensors are the target kernels.
 * @example
 * ```ts
 * const params = { query: initLinear({ inFeatures: 8, outFeatures: 8 }, 0) };
 * const adapter = initLora(params, { r: 2, targetModules: ['query'] }, 1);
 * const merged = mergeLora(params, adapter);
 * const base = unmergeLora(merged, adapter); // base.query.kernel ≈ params.query.kernel
 * ```
 */
export function unmergeLora<P>(merged: MergedLora<P>, adapter: LoraAdapter): P {
  const fn = 'unmergeLora';
  if (
    merged === null ||
    typeof merged !== 'object' ||
    merged.params === null ||
    typeof merged.params !== 'object'
  ) {
    throw new TfjsBlocksError(
      fn,
      'merged',
      'a MergedLora ({ params, originals }, from mergeLora)',
      describeValue(merged),
    );
  }
  const checked = checkAdapter(fn, adapter);
  checkFits(fn, merged.params, checked, false);
  for (const tensors of Object.values(checked.modulesToSave)) {
    for (const path of Object.keys(tensors)) {
      const original = ownEntry(merged.originals ?? {}, path);
      if (!isQuantizedTensor(original) && (!isTensor(original) || original.isDisposed)) {
        throw new TfjsBlocksError(
          fn,
          `merged.originals["${path}"]`,
          'the live base tensor the saved module replaced',
          describeValue(original),
        );
      }
    }
  }
  const { params } = shiftKernels(fn, merged.params, checked, -1);
  for (const tensors of Object.values(checked.modulesToSave)) {
    for (const path of Object.keys(tensors)) setAt(params, path, merged.originals[path]);
  }
  return params;
}

/** `params` with each target kernel shifted by `sign·scale·a·b` and the saved modules swapped in. */
function shiftKernels<P>(fn: string, params: P, adapter: LoraAdapter, sign: 1 | -1): MergedLora<P> {
  const out = copyStructure(fn, params);
  const originals: Record<string, Tensor | QuantizedTensor> = emptyRecord();
  for (const tensors of Object.values(adapter.modulesToSave)) {
    for (const [path, t] of Object.entries(tensors)) {
      originals[path] = getParamPath(params, path.split('.')) as Tensor | QuantizedTensor;
      setAt(out, path, t);
    }
  }
  const kernels = tidy(() =>
    Object.values(adapter.modules).flatMap((m) =>
      m.paths.map((path, j) => {
        const { kernel } = getParamPath(params, path.split('.')) as QuantizableLinearParams;
        // A quantized kernel is dequantized: the merged kernel is float32 (PEFT merges into the dequantized weight too).
        const base = isQuantizedTensor(kernel) ? dequantizeKernel(kernel) : kernel;
        return add(base, mul(matMul(m.a, m.b[j]!), sign * m.scale));
      }),
    ),
  );
  let k = 0;
  for (const m of Object.values(adapter.modules)) {
    for (const path of m.paths) {
      const linear = getParamPath(out, path.split('.')) as LinearParams;
      setAt(out, path, { ...linear, kernel: kernels[k++] });
    }
  }
  return { params: out, originals };
}
