import { clone, concat, split, transpose } from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../../errors';
import type { DecoderLmConfig } from '../../models/decoder-lm';
import type { FeedForwardActivation } from '../../nn/feed-forward';
import type { ConfigJsonReader } from '../config-json';
import type { TensorRule } from './family';

/**
 * Building blocks of the families' {@link TensorRule}s and `config.json`
 * readers: the three tensor layouts Hugging Face checkpoints use (as ours, a
 * `torch.nn.Linear` weight, a fused tensor) and the fields several families
 * share. Not public.
 */

/** A tensor stored as ours is (embeddings, norms, biases, GPT-2's Conv1D `[in, out]`). */
export function copyRule(name: string, shape: number[], path: string[]): TensorRule {
  return {
    name,
    shape,
    paths: [path],
    load: (t) => [clone(t)],
    save: ([t]) => clone(t!),
  };
}

/** A `torch.nn.Linear.weight`, `[out, in]`, to our `[in, out]` kernel and back. */
export function linearRule(name: string, shape: [number, number], path: string[]): TensorRule {
  return {
    name,
    shape,
    paths: [path],
    load: (t) => [transpose(t)],
    save: ([t]) => transpose(t!),
  };
}

/**
 * A fused tensor (GPT-2's `c_attn`, Phi-3's `qkv_proj` and `gate_up_proj`)
 * split along `axis` into `sizes`, one part per path, each transposed when
 * the checkpoint holds `torch.nn.Linear` weights; joined back on save.
 */
export function fusedRule(
  name: string,
  shape: number[],
  paths: string[][],
  sizes: number[],
  axis: number,
  transposed: boolean,
): TensorRule {
  return {
    name,
    shape,
    paths,
    load: (t) => split(t, sizes, axis).map((part) => (transposed ? transpose(part) : part)),
    save: (parts) =>
      concat(
        parts.map((p) => (transposed ? transpose(p) : p)),
        axis,
      ),
  };
}

/** `['blocks', '<i>', ...rest]`: the path of layer `i`'s parameter. */
export function blockPath(i: number, ...rest: string[]): string[] {
  return ['blocks', String(i), ...rest];
}

/** Hugging Face's activation names (`hidden_act`, `activation_function`) that we implement. */
export const HF_ACTIVATIONS: Readonly<Record<string, FeedForwardActivation>> = {
  gelu: 'gelu',
  gelu_new: 'gelu-tanh',
  gelu_pytorch_tanh: 'gelu-tanh',
  relu: 'relu',
  silu: 'silu',
  swish: 'silu',
};

/** Reads an activation field, naming the field and value when we lack it. */
export function readActivation(
  read: ConfigJsonReader,
  field: string,
  fallback: string,
): FeedForwardActivation {
  const name = read.string(field, Object.keys(HF_ACTIVATIONS), fallback);
  return HF_ACTIVATIONS[name]!;
}

/** Hugging Face's name of one of our activations, for `toConfigJson`. */
export function hfActivation(activation: FeedForwardActivation): string {
  return { gelu: 'gelu', 'gelu-tanh': 'gelu_new', relu: 'relu', silu: 'silu' }[activation];
}

/**
 * Per-head width of a decoder config: `config.block.headDim` when given
 * (Gemma, or a Llama-style `head_dim` ≠ `hidden_size / num_attention_heads`),
 * else `dModel / numHeads`, checked to be whole. The attention tensor shapes
 * of every family derive from it.
 */
export function headDimOf(fn: string, config: DecoderLmConfig): number {
  const { dModel, numHeads, headDim } = config.block;
  if (headDim !== undefined) return headDim;
  if (dModel % numHeads !== 0) {
    throw new TfjsBlocksError(
      fn,
      'config.block.numHeads',
      `a divisor of config.block.dModel (${dModel}), so that heads have a whole size, or config.block.headDim given`,
      String(numHeads),
    );
  }
  return dModel / numHeads;
}

/**
 * Reads `head_dim` (absent or `null`: `hidden_size / num_attention_heads`,
 * which must then be whole). Returns the per-head width for
 * `config.block.headDim` only where it differs from `hidden_size /
 * num_attention_heads`, so a config whose heads split the width evenly stays
 * without the field.
 */
export function readHeadDim(
  read: ConfigJsonReader,
  dModel: number,
  numHeads: number,
): number | undefined {
  const even = dModel % numHeads === 0 ? dModel / numHeads : undefined;
  if (!read.has('head_dim')) {
    if (even === undefined) {
      read.unsupported(
        'num_attention_heads',
        `a divisor of hidden_size (${dModel}), or a head_dim given`,
      );
    }
    return undefined;
  }
  const headDim = read.integer('head_dim', undefined, 1);
  return headDim === even ? undefined : headDim;
}

/** Sets `value` at `path` in `root`, making records (arrays under numeric keys) on the way. */
export function setParamPath(root: Record<string, unknown>, path: string[], value: unknown): void {
  let node = root;
  path.slice(0, -1).forEach((key, i) => {
    const nextIsIndex = /^\d+$/.test(path[i + 1]!);
    node[key] ??= nextIsIndex ? [] : {};
    node = node[key] as Record<string, unknown>;
  });
  node[path[path.length - 1]!] = value;
}

/** The value at `path`, through own keys only; `undefined` where a step is missing. */
export function getParamPath(root: unknown, path: string[]): unknown {
  return path.reduce<unknown>(
    (node, key) =>
      node !== null && typeof node === 'object' && Object.hasOwn(node, key)
        ? (node as Record<string, unknown>)[key]
        : undefined,
    root,
  );
}

/** The bias flags a family's checkpoint layout fixes. */
export type BiasLayout = {
  /** `config.block.attentionBias`. */
  attentionBias: boolean;
  /** `config.block.attentionOutputBias` (default `attentionBias`). */
  attentionOutputBias: boolean;
  /** `config.block.feedForward.useBias`. */
  useBias: boolean;
  /** Whether the family's `config.json` can say `config.block.slidingWindow` (default false). */
  slidingWindow?: boolean;
};

/**
 * Throws unless `config` is a RoPE/RMSNorm/gated decoder with the biases
 * `layout` says: what a Llama-style family's `config.json` can express.
 * `toConfigJson` calls it so a config the family cannot describe is never
 * written as a silently different model.
 */
export function checkExpressible(
  family: string,
  config: DecoderLmConfig,
  layout: BiasLayout,
): void {
  const fn = 'toConfigJson';
  const { block } = config;
  const attentionBias = block.attentionBias ?? true;
  const facts: [string, unknown, unknown][] = [
    ['config.positions', config.positions, 'rope'],
    ['config.block.norm.kind', block.norm.kind, 'rms'],
    ['config.block.normPosition', block.normPosition ?? 'pre', 'pre'],
    ['config.block.feedForward.kind', block.feedForward.kind, 'gated'],
    ['config.block.attentionBias', attentionBias, layout.attentionBias],
    [
      'config.block.attentionOutputBias',
      block.attentionOutputBias ?? attentionBias,
      layout.attentionOutputBias,
    ],
    [
      'config.block.feedForward.useBias',
      block.feedForward.useBias ?? block.feedForward.kind === 'mlp',
      layout.useBias,
    ],
    ['config.block.alibi', block.alibi ?? false, false],
  ];
  if (!layout.slidingWindow)
    facts.push(['config.block.slidingWindow', block.slidingWindow, undefined]);
  for (const [field, actual, expected] of facts) {
    if (actual !== expected) {
      throw new TfjsBlocksError(
        fn,
        field,
        `${JSON.stringify(expected) ?? 'absent'} (what a ${family} config.json describes)`,
        JSON.stringify(actual) ?? String(actual),
      );
    }
  }
}
