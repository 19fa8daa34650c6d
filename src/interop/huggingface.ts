import { clone, concat, slice, Tensor, tidy, transpose } from '@tensorflow/tfjs-core';
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

/** A Hugging Face checkpoint family whose tensor names and layouts we map. */
export type HuggingFaceFamily = 'gpt2' | 'llama';

const FAMILIES: readonly string[] = ['gpt2', 'llama'] satisfies HuggingFaceFamily[];

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

type Entry = {
  /** Hugging Face tensor name. */
  hf: string;
  /** Our path in the param record. */
  path: string[];
  /** Hugging Face stores it transposed (`torch.nn.Linear.weight` is `[out, in]`). */
  transposed: boolean;
};

/** The name map of one family for a config (GPT-2's Conv1D is already `[in, out]`). */
function entries(family: HuggingFaceFamily, config: DecoderLmConfig): Entry[] {
  const list: Entry[] = [];
  const add = (hf: string, path: string[], transposed = false) =>
    list.push({ hf, path, transposed });
  if (family === 'gpt2') {
    add('transformer.wte.weight', ['tokenEmbedding', 'table']);
    add('transformer.wpe.weight', ['positionEmbedding', 'table']);
    for (let i = 0; i < config.numLayers; i++) {
      const h = `transformer.h.${i}`;
      const b = ['blocks', String(i)];
      add(`${h}.ln_1.weight`, [...b, 'attentionNorm', 'gamma']);
      add(`${h}.ln_1.bias`, [...b, 'attentionNorm', 'beta']);
      // c_attn packs q, k and v side by side: split on load, joined on export.
      add(`${h}.attn.c_attn.weight`, [...b, 'attention', 'qkv', 'kernel']);
      add(`${h}.attn.c_attn.bias`, [...b, 'attention', 'qkv', 'bias']);
      add(`${h}.attn.c_proj.weight`, [...b, 'attention', 'output', 'kernel']);
      add(`${h}.attn.c_proj.bias`, [...b, 'attention', 'output', 'bias']);
      add(`${h}.ln_2.weight`, [...b, 'feedForwardNorm', 'gamma']);
      add(`${h}.ln_2.bias`, [...b, 'feedForwardNorm', 'beta']);
      add(`${h}.mlp.c_fc.weight`, [...b, 'feedForward', 'up', 'kernel']);
      add(`${h}.mlp.c_fc.bias`, [...b, 'feedForward', 'up', 'bias']);
      add(`${h}.mlp.c_proj.weight`, [...b, 'feedForward', 'down', 'kernel']);
      add(`${h}.mlp.c_proj.bias`, [...b, 'feedForward', 'down', 'bias']);
    }
    add('transformer.ln_f.weight', ['finalNorm', 'gamma']);
    add('transformer.ln_f.bias', ['finalNorm', 'beta']);
  } else {
    add('model.embed_tokens.weight', ['tokenEmbedding', 'table']);
    for (let i = 0; i < config.numLayers; i++) {
      const h = `model.layers.${i}`;
      const b = ['blocks', String(i)];
      add(`${h}.input_layernorm.weight`, [...b, 'attentionNorm', 'gamma']);
      add(`${h}.self_attn.q_proj.weight`, [...b, 'attention', 'query', 'kernel'], true);
      add(`${h}.self_attn.k_proj.weight`, [...b, 'attention', 'key', 'kernel'], true);
      add(`${h}.self_attn.v_proj.weight`, [...b, 'attention', 'value', 'kernel'], true);
      add(`${h}.self_attn.o_proj.weight`, [...b, 'attention', 'output', 'kernel'], true);
      add(`${h}.post_attention_layernorm.weight`, [...b, 'feedForwardNorm', 'gamma']);
      add(`${h}.mlp.gate_proj.weight`, [...b, 'feedForward', 'gate', 'kernel'], true);
      add(`${h}.mlp.up_proj.weight`, [...b, 'feedForward', 'up', 'kernel'], true);
      add(`${h}.mlp.down_proj.weight`, [...b, 'feedForward', 'down', 'kernel'], true);
    }
    add('model.norm.weight', ['finalNorm', 'gamma']);
    if (!config.tieEmbeddings) add('lm_head.weight', ['lmHead', 'kernel'], true);
  }
  return list;
}

/**
 * State-dict entries that hold no parameter: causal-mask and RoPE buffers
 * PyTorch saves with the weights, and the tied output head's copy.
 */
function knownBuffers(family: HuggingFaceFamily, config: DecoderLmConfig): Set<string> {
  const names = new Set<string>();
  for (let i = 0; i < config.numLayers; i++) {
    if (family === 'gpt2') {
      for (const prefix of ['transformer.', '']) {
        names.add(`${prefix}h.${i}.attn.bias`);
        names.add(`${prefix}h.${i}.attn.masked_bias`);
      }
    } else {
      names.add(`model.layers.${i}.self_attn.rotary_emb.inv_freq`);
    }
  }
  if (family === 'gpt2' || config.tieEmbeddings) names.add('lm_head.weight');
  return names;
}

/** `names`, quoted and listed up to {@link LISTED_NAMES}, the rest counted. */
function listNames(names: readonly string[]): string {
  const shown = names.slice(0, LISTED_NAMES).map((n) => JSON.stringify(n.slice(0, 120)));
  const more = names.length > LISTED_NAMES ? `, and ${names.length - LISTED_NAMES} more` : '';
  return `${shown.join(', ')}${more}`;
}

function checkFamily(fn: string, family: unknown): HuggingFaceFamily {
  if (typeof family !== 'string' || !FAMILIES.includes(family)) {
    throw new TfjsBlocksError(
      fn,
      'family',
      `one of ${FAMILIES.map((f) => `'${f}'`).join(', ')}`,
      describeValue(family),
    );
  }
  return family as HuggingFaceFamily;
}

/** The sizes the name map and the shapes read: whole numbers, heads that divide the width. */
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
  if (d % heads !== 0) {
    throw new TfjsBlocksError(
      fn,
      'config.block.numHeads',
      `a divisor of config.block.dModel (${d}), so that heads have a whole size`,
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

function setPath(root: Record<string, unknown>, path: string[], value: unknown): void {
  let node = root;
  path.slice(0, -1).forEach((key, i) => {
    const nextIsIndex = /^\d+$/.test(path[i + 1]!);
    node[key] ??= nextIsIndex ? [] : {};
    node = node[key] as Record<string, unknown>;
  });
  node[path[path.length - 1]!] = value;
}

/** The value at `path`, through own keys only; `undefined` where a step is missing. */
function getPath(root: unknown, path: string[]): unknown {
  return path.reduce<unknown>(
    (node, key) =>
      node !== null && typeof node === 'object'
        ? ownEntry(node as Record<string, unknown>, key)
        : undefined,
    root,
  );
}

/**
 * Builds {@link DecoderLmParams} from a Hugging Face GPT-2 or Llama state
 * dict (e.g. read with `readSafetensorsFile`): GPT-2's Conv1D weights are
 * already `[in, out]` and its `c_attn` is split into q, k, v; Llama's
 * `Linear` weights are transposed. Every tensor is checked by name, shape
 * and dtype (float32) before anything is built, and tensors the config has
 * no place for are an error unless `options.ignoreExtraTensors` (see
 * {@link FromHuggingFaceOptions}), so a bad checkpoint loads nothing. The
 * returned tensors are new; the state dict stays the caller's.
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
  checkFamily(fn, family);
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
  const expected = expectedShapes(family, config);
  for (const { hf } of entries(family, config)) {
    const t = ownEntry(stateDict, hf);
    const shape = expected[hf]!;
    if (t === undefined)
      throw new TfjsBlocksError(
        fn,
        `stateDict["${hf}"]`,
        `a tensor of shape ${formatShape(shape)}`,
        'nothing',
      );
    if (!(t instanceof Tensor) || t.isDisposed || t.dtype !== 'float32') {
      const got = t instanceof Tensor && t.isDisposed ? 'a disposed tensor' : describeValue(t);
      throw new TfjsBlocksError(
        fn,
        `stateDict["${hf}"]`,
        `a float32 tensor of shape ${formatShape(shape)}`,
        got,
      );
    }
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new TfjsBlocksError(
        fn,
        `stateDict["${hf}"]`,
        `shape ${formatShape(shape)}`,
        `shape ${formatShape(t.shape)}`,
      );
    }
  }
  if (!options?.ignoreExtraTensors) {
    const buffers = knownBuffers(family, config);
    const extra = Object.keys(stateDict).filter((n) => !hasName(expected, n) && !buffers.has(n));
    if (extra.length > 0) {
      throw new TfjsBlocksError(
        fn,
        'stateDict',
        `only tensors a ${config.numLayers}-layer ${family} config maps (pass options.ignoreExtraTensors to load anyway)`,
        `${extra.length} more: ${listNames(extra)}`,
      );
    }
  }
  const d = config.block.dModel;
  return tidy(() => {
    const root: Record<string, unknown> = {};
    for (const { hf, path, transposed } of entries(family, config)) {
      const t = stateDict[hf]!;
      if (path[path.length - 2] === 'qkv') {
        const part = path[path.length - 1]!;
        const [q, k, v] = splitLast(t, d);
        setPath(root, [...path.slice(0, -2), 'query', part], q);
        setPath(root, [...path.slice(0, -2), 'key', part], k);
        setPath(root, [...path.slice(0, -2), 'value', part], v);
      } else {
        setPath(root, path, transposed ? transpose(t) : clone(t));
      }
    }
    return root as unknown as DecoderLmParams;
  });
}

function splitLast(t: Tensor, width: number): [Tensor, Tensor, Tensor] {
  const parts = [0, 1, 2].map((i) =>
    t.rank === 1 ? slice(t, [i * width], [width]) : slice(t, [0, i * width], [-1, width]),
  );
  return parts as [Tensor, Tensor, Tensor];
}

function expectedShapes(
  family: HuggingFaceFamily,
  config: DecoderLmConfig,
): Record<string, number[]> {
  const d = config.block.dModel;
  const heads = config.block.numHeads;
  const headDim = d / heads;
  const kv = (config.block.numKvHeads ?? heads) * headDim;
  const hidden = config.block.feedForward.hidden;
  const shapes = emptyRecord<number[]>();
  for (const { hf } of entries(family, config)) {
    const name = hf.split('.').slice(-2).join('.');
    const table: Record<string, number[]> = {
      'wte.weight': [config.vocabSize, d],
      'wpe.weight': [config.maxLength, d],
      'c_attn.weight': [d, 3 * d],
      'c_attn.bias': [3 * d],
      'c_proj.weight': hf.includes('.mlp.') ? [hidden, d] : [d, d],
      'c_proj.bias': [d],
      'c_fc.weight': [d, hidden],
      'c_fc.bias': [hidden],
      'embed_tokens.weight': [config.vocabSize, d],
      'q_proj.weight': [d, d],
      'k_proj.weight': [kv, d],
      'v_proj.weight': [kv, d],
      'o_proj.weight': [d, d],
      'gate_proj.weight': [hidden, d],
      'up_proj.weight': [hidden, d],
      'down_proj.weight': [d, hidden],
      'lm_head.weight': [config.vocabSize, d],
    };
    shapes[hf] = table[name] ?? [d]; // norms (weight, bias) are [d]
  }
  return shapes;
}

/**
 * Exports {@link DecoderLmParams} under Hugging Face's names and layouts
 * (the inverse of {@link fromHuggingFace}), ready for `writeSafetensorsFile`
 * and `transformers`' `from_pretrained` (with a matching `config.json`).
 * Every parameter the config maps must be a live tensor of `params`; a
 * missing one is named before any tensor is made.
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
  checkFamily(fn, family);
  checkConfig(fn, config);
  if (params === null || typeof params !== 'object') {
    throw new TfjsBlocksError(fn, 'params', 'DecoderLmParams', describeValue(params));
  }
  // Every source tensor, found before any is made.
  const sources = entries(family, config).map(({ hf, path, transposed }) => {
    const qkv = path[path.length - 2] === 'qkv';
    const base = path.slice(0, -2);
    const part = path[path.length - 1]!;
    const paths = qkv ? ['query', 'key', 'value'].map((n) => [...base, n, part]) : [path];
    const tensors = paths.map((p) => {
      const t = getPath(params, p);
      if (!(t instanceof Tensor) || t.isDisposed) {
        const got =
          t === undefined
            ? 'nothing'
            : t instanceof Tensor
              ? 'a disposed tensor'
              : describeValue(t);
        throw new TfjsBlocksError(fn, `params.${p.join('.')}`, 'a tensor', got);
      }
      return t;
    });
    return { hf, qkv, transposed, tensors };
  });
  return tidy(() => {
    const out = emptyRecord<Tensor>();
    for (const { hf, qkv, transposed, tensors } of sources) {
      const t = tensors[0]!;
      if (qkv) out[hf] = concat(tensors, t.rank - 1);
      else out[hf] = transposed ? transpose(t) : clone(t);
    }
    return out;
  });
}
