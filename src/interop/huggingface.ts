import { clone, concat, slice, type Tensor, tidy, transpose } from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import { formatShape } from '../internal/checks';
import type { DecoderLmConfig, DecoderLmParams } from '../models/decoder-lm';
import type { TensorMap } from '../optim/types';

/** A Hugging Face checkpoint family whose tensor names and layouts we map. */
export type HuggingFaceFamily = 'gpt2' | 'llama';

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

function setPath(root: Record<string, unknown>, path: string[], value: unknown): void {
  let node = root;
  path.slice(0, -1).forEach((key, i) => {
    const nextIsIndex = /^\d+$/.test(path[i + 1]!);
    node[key] ??= nextIsIndex ? [] : {};
    node = node[key] as Record<string, unknown>;
  });
  node[path[path.length - 1]!] = value;
}

function getPath(root: unknown, path: string[]): unknown {
  return path.reduce<unknown>(
    (node, key) => (node as Record<string, unknown> | undefined)?.[key],
    root,
  );
}

/**
 * Builds {@link DecoderLmParams} from a Hugging Face GPT-2 or Llama state
 * dict (e.g. read with `readSafetensorsFile`): GPT-2's Conv1D weights are
 * already `[in, out]` and its `c_attn` is split into q, k, v; Llama's
 * `Linear` weights are transposed. Every tensor is checked by name and shape
 * before anything is built, so a bad checkpoint loads nothing. The returned
 * tensors are new; the state dict stays the caller's.
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
): DecoderLmParams {
  const fn = 'fromHuggingFace';
  const expected = expectedShapes(family, config);
  for (const { hf } of entries(family, config)) {
    const t = stateDict[hf];
    const shape = expected[hf]!;
    if (!t)
      throw new TfjsBlocksError(
        fn,
        `stateDict["${hf}"]`,
        `a tensor of shape ${formatShape(shape)}`,
        'nothing',
      );
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new TfjsBlocksError(
        fn,
        `stateDict["${hf}"]`,
        `shape ${formatShape(shape)}`,
        `shape ${formatShape(t.shape)}`,
      );
    }
  }
  const { numHeads } = config.block;
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
    for (const block of root.blocks as Array<Record<string, Record<string, unknown>>>) {
      block.attention!.numHeads = numHeads;
      block.attention!.numKvHeads = config.block.numKvHeads ?? numHeads;
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
  const shapes: Record<string, number[]> = {};
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
  return tidy(() => {
    const out: TensorMap = {};
    for (const { hf, path, transposed } of entries(family, config)) {
      if (path[path.length - 2] === 'qkv') {
        const part = path[path.length - 1]!;
        const base = path.slice(0, -2);
        const pieces = ['query', 'key', 'value'].map(
          (n) => getPath(params, [...base, n, part]) as Tensor,
        );
        out[hf] = concat(pieces, pieces[0]!.rank - 1);
      } else {
        const t = getPath(params, path) as Tensor;
        if (!t)
          throw new TfjsBlocksError(
            'toHuggingFace',
            `params.${path.join('.')}`,
            'a tensor',
            'nothing',
          );
        out[hf] = transposed ? transpose(t) : clone(t);
      }
    }
    return out;
  });
}
