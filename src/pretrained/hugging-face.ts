import { type Tensor, Tensor as TensorClass, tidy } from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import {
  checkInteger,
  checkOptionKeys,
  describeValue,
  formatShape,
  optionKeys,
} from '../internal/checks';
import { emptyRecord, hasName, ownEntry } from '../internal/records';
import type { DecoderLmConfig, DecoderLmParams } from '../models/decoder-lm';
import type { TensorMap } from '../tree/types';
import type { PretrainedFamily } from './families/family';
import { PRETRAINED_FAMILIES } from './families/registry';
import { getParamPath, setParamPath } from './families/rules';

/**
 * A Hugging Face decoder family (`model_type`) whose tensor names and
 * layouts we map: the `modelTypes` of the registry's decoder families
 * (`PRETRAINED_FAMILIES`, checked by a test to be exactly these).
 */
export type HuggingFaceFamily = 'gpt2' | 'llama' | 'mistral' | 'qwen2' | 'phi3' | 'gemma';

/** The registry's decoder families' `model_type`s, the runtime truth behind {@link HuggingFaceFamily}. */
function decoderModelTypes(): string[] {
  return PRETRAINED_FAMILIES.filter((f) => f.kind === 'decoder-lm').flatMap((f) => f.modelTypes);
}

/**
 * Options of {@link fromHuggingFace}.
 *
 * @example
 * ```ts
 * // Load the first layers of a deeper checkpoint on purpose.
 * const options: FromHuggingFaceOptions = { ignoreExtraTensors: true };
 * ```
 */
export interface FromHuggingFaceOptions {
  /**
   * Load even when the state dict holds tensors the config has no place for
   * (more layers than `config.numLayers`, a head the family does not have).
   * Default `false`: such tensors are an error that lists them, since they
   * mean the config does not describe the checkpoint (a 12-layer checkpoint
   * read with a 6-layer config would load as a truncated model). Buffers
   * that are not parameters (GPT-2's causal masks `h.N.attn.bias` and
   * `h.N.attn.masked_bias`, Llama's `rotary_emb.inv_freq`, a tied
   * `lm_head.weight`) are never counted as extra.
   */
  ignoreExtraTensors?: boolean;
}

const FROM_OPTIONS = optionKeys<FromHuggingFaceOptions>({ ignoreExtraTensors: true });

/** The most names an error lists; the rest are counted. */
const LISTED_NAMES = 8;

/** `names`, quoted and listed up to {@link LISTED_NAMES}, the rest counted. */
function listNames(names: readonly string[]): string {
  const shown = names.slice(0, LISTED_NAMES).map((n) => JSON.stringify(n.slice(0, 120)));
  const more = names.length > LISTED_NAMES ? `, and ${names.length - LISTED_NAMES} more` : '';
  return `${shown.join(', ')}${more}`;
}

/** The registry's decoder family of `family`, or a typed error listing the names we take. */
function decoderFamily(fn: string, family: unknown): PretrainedFamily<DecoderLmConfig> {
  const found =
    typeof family === 'string'
      ? PRETRAINED_FAMILIES.find((f) => f.modelTypes.includes(family))
      : undefined;
  if (found?.kind !== 'decoder-lm') {
    throw new TfjsBlocksError(
      fn,
      'family',
      `one of ${decoderModelTypes()
        .map((f) => `'${f}'`)
        .join(', ')}`,
      describeValue(family),
    );
  }
  return found as PretrainedFamily<DecoderLmConfig>;
}

/**
 * The sizes the name map and the shapes read: whole numbers, heads that
 * divide the width unless `config.block.headDim` is given.
 */
function checkConfig(fn: string, config: unknown): DecoderLmConfig {
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new TfjsBlocksError(fn, 'config', 'a DecoderLmConfig', describeValue(config));
  }
  const c = config as DecoderLmConfig;
  checkInteger(fn, 'config.vocabSize', c.vocabSize, 1);
  checkInteger(fn, 'config.maxLength', c.maxLength, 1);
  checkInteger(fn, 'config.numLayers', c.numLayers, 1);
  const block = c.block as unknown;
  if (block === null || typeof block !== 'object') {
    throw new TfjsBlocksError(fn, 'config.block', 'a block config', describeValue(block));
  }
  const d = checkInteger(fn, 'config.block.dModel', c.block.dModel, 1);
  const heads = checkInteger(fn, 'config.block.numHeads', c.block.numHeads, 1);
  if (c.block.headDim !== undefined) {
    checkInteger(fn, 'config.block.headDim', c.block.headDim, 1);
  } else if (d % heads !== 0) {
    throw new TfjsBlocksError(
      fn,
      'config.block.numHeads',
      `a divisor of config.block.dModel (${d}), so that heads have a whole size, or config.block.headDim given`,
      String(heads),
    );
  }
  const kv = checkInteger(fn, 'config.block.numKvHeads', c.block.numKvHeads ?? heads, 1);
  if (heads % kv !== 0) {
    throw new TfjsBlocksError(
      fn,
      'config.block.numKvHeads',
      `a divisor of config.block.numHeads (${heads})`,
      String(kv),
    );
  }
  checkInteger(fn, 'config.block.feedForward.hidden', c.block.feedForward?.hidden, 1);
  return c;
}

/**
 * Builds {@link DecoderLmParams} from a Hugging Face state dict (e.g. read
 * with `readSafetensorsFile`) of any decoder family of the registry
 * (`gpt2`, `llama`, `mistral`, `qwen2`, `phi3`, `gemma`): each tensor goes through its family's
 * `TensorRule` (GPT-2's Conv1D weights are already `[in, out]` and its
 * `c_attn` is split into q, k, v; `torch.nn.Linear` weights are transposed).
 * Every tensor is checked by name, shape and dtype (float32) before anything
 * is built, and tensors the config has no place for are an error unless
 * `options.ignoreExtraTensors` (see {@link FromHuggingFaceOptions}), so a bad
 * checkpoint loads nothing. The returned tensors are new; the state dict
 * stays the caller's.
 *
 * @example
 * ```ts
 * // readSafetensorsFile is in tfjs-blocks/node; it gives the file's tensors and its metadata.
 * const config = gpt2Config({ vocabSize: 50257, maxLength: 1024, dModel: 768, numLayers: 12, numHeads: 12 });
 * const { tensors } = await readSafetensorsFile('model.safetensors');
 * const params = fromHuggingFace('gpt2', config, tensors);
 * tf.dispose(Object.values(tensors)); // params holds new tensors
 * ```
 */
export function fromHuggingFace(
  family: HuggingFaceFamily,
  config: DecoderLmConfig,
  stateDict: TensorMap,
  options?: FromHuggingFaceOptions,
): DecoderLmParams {
  const fn = 'fromHuggingFace';
  const rulesOf = decoderFamily(fn, family);
  checkConfig(fn, config);
  if (stateDict === null || typeof stateDict !== 'object' || Array.isArray(stateDict)) {
    throw new TfjsBlocksError(
      fn,
      'stateDict',
      'a record of named tensors',
      describeValue(stateDict),
    );
  }
  checkOptionKeys(fn, options, FROM_OPTIONS);
  const rules = rulesOf.tensors(config);
  for (const { name, shape } of rules) {
    const t = ownEntry(stateDict, name);
    if (t === undefined)
      throw new TfjsBlocksError(
        fn,
        `stateDict["${name}"]`,
        `a tensor of shape ${formatShape(shape)}`,
        'nothing',
      );
    if (!(t instanceof TensorClass) || t.isDisposed || t.dtype !== 'float32') {
      const got = t instanceof TensorClass && t.isDisposed ? 'a disposed tensor' : describeValue(t);
      throw new TfjsBlocksError(
        fn,
        `stateDict["${name}"]`,
        `a float32 tensor of shape ${formatShape(shape)}`,
        got,
      );
    }
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new TfjsBlocksError(
        fn,
        `stateDict["${name}"]`,
        `shape ${formatShape(shape)}`,
        `shape ${formatShape(t.shape)}`,
      );
    }
  }
  if (!options?.ignoreExtraTensors) {
    const known = emptyRecord<true>();
    for (const { name } of rules) known[name] = true;
    const extra = Object.keys(stateDict).filter(
      (n) => !hasName(known, n) && !rulesOf.isBuffer(n, config),
    );
    if (extra.length > 0) {
      throw new TfjsBlocksError(
        fn,
        'stateDict',
        `only tensors a ${config.numLayers}-layer ${family} config maps (pass options.ignoreExtraTensors to load anyway)`,
        `${extra.length} more: ${listNames(extra)}`,
      );
    }
  }
  return tidy(() => {
    const root: Record<string, unknown> = {};
    for (const rule of rules) {
      const parts = rule.load(stateDict[rule.name]!);
      rule.paths.forEach((path, i) => {
        setParamPath(root, path, parts[i]);
      });
    }
    return root as unknown as DecoderLmParams;
  });
}

/**
 * Exports {@link DecoderLmParams} under Hugging Face's names and layouts
 * (the inverse of {@link fromHuggingFace}, through the same family rules),
 * ready for `writeSafetensorsFile` and `transformers`' `from_pretrained`
 * (with the family's `toConfigJson` as `config.json`). Every parameter the
 * config maps must be a live tensor of `params`; a missing one is named
 * before any tensor is made.
 *
 * @example
 * ```ts
 * await writeSafetensorsFile('model.safetensors', toHuggingFace('llama', config, params));
 * ```
 */
export function toHuggingFace(
  family: HuggingFaceFamily,
  config: DecoderLmConfig,
  params: DecoderLmParams,
): TensorMap {
  const fn = 'toHuggingFace';
  const rulesOf = decoderFamily(fn, family);
  checkConfig(fn, config);
  // Tensors under a family's names are only meaningful for a config that
  // family describes: refuse the rest as savePretrained does.
  rulesOf.toConfigJson(config);
  if (params === null || typeof params !== 'object') {
    throw new TfjsBlocksError(fn, 'params', 'DecoderLmParams', describeValue(params));
  }
  // Every source tensor, found before any is made.
  const sources = rulesOf.tensors(config).map((rule) => {
    const tensors = rule.paths.map((p) => {
      const t = getParamPath(params, p);
      if (!(t instanceof TensorClass) || t.isDisposed) {
        const got =
          t === undefined
            ? 'nothing'
            : t instanceof TensorClass
              ? 'a disposed tensor'
              : describeValue(t);
        throw new TfjsBlocksError(fn, `params.${p.join('.')}`, 'a tensor', got);
      }
      return t as Tensor;
    });
    return { rule, tensors };
  });
  return tidy(() => {
    const out = emptyRecord<Tensor>();
    for (const { rule, tensors } of sources) out[rule.name] = rule.save(tensors);
    return out;
  });
}
