import { clone, concat, split, transpose } from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../../errors';
import { describeValue } from '../../internal/checks';
import { ownEntry } from '../../internal/records';
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
    unchanged: true,
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
    // Own keys only: a path step named like an inherited property
    // (`constructor`) makes a container rather than walking into the prototype.
    let next = ownEntry(node, key) as Record<string, unknown> | undefined;
    if (next === undefined) {
      next = /^\d+$/.test(path[i + 1]!) ? ([] as unknown as Record<string, unknown>) : {};
      node[key] = next;
    }
    node = next;
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

/**
 * One fact `toConfigJson` checks before writing: our config's `field` holds
 * a value the family's `config.json` can say. A config field that changes
 * the forward pass and that the family's `config.json` cannot carry becomes
 * one such fact, so a config the family cannot describe is refused instead
 * of written as a silently different model. `actual` is the field's value
 * with our defaults filled in; the fact holds when it is (`Object.is`)
 * `expected`, one of `oneOf`, or anything but `undefined` with `given`.
 */
export type WritableFact = {
  /** Our config's field, as the error names it (e.g. `'config.block.norm.kind'`). */
  field: string;
  /** Its value in the config, defaults filled in. */
  actual: unknown;
  /** Why the family needs it, for the message (e.g. `'BERT has no grouped-query attention'`). */
  why?: string;
} & ({ expected: unknown } | { oneOf: readonly unknown[] } | { given: true });

/** A value as the messages of {@link checkWritable} show what a family describes. */
function showExpected(value: unknown): string {
  if (value === undefined) return 'absent';
  return typeof value === 'string' ? `'${value}'` : String(value);
}

function holds(fact: WritableFact): boolean {
  if ('given' in fact) return fact.actual !== undefined;
  if ('oneOf' in fact) return fact.oneOf.some((v) => Object.is(v, fact.actual));
  return Object.is(fact.expected, fact.actual);
}

/**
 * Throws for the first of `facts` that does not hold: a `TfjsBlocksError`
 * from `fn` whose argument is the fact's config field, expected the value
 * `family`'s `config.json` describes (and why), actual the config's value.
 * Every family's `toConfigJson` calls it before writing anything.
 */
export function checkWritable(fn: string, family: string, facts: readonly WritableFact[]): void {
  for (const fact of facts) {
    if (holds(fact)) continue;
    const values =
      'given' in fact
        ? 'a value'
        : 'oneOf' in fact
          ? fact.oneOf.map(showExpected).join(' or ')
          : showExpected(fact.expected);
    const why = fact.why === undefined ? '' : `: ${fact.why}`;
    throw new TfjsBlocksError(
      fn,
      fact.field,
      `${values} (what a ${family} config.json describes${why})`,
      describeValue(fact.actual),
    );
  }
}

/**
 * The fact that `config.embeddingScale` is `scale` (compared in float32, as
 * transformers computes it), or absent or 1 where `scale` is undefined.
 */
export function embeddingScaleFact(config: DecoderLmConfig, scale?: number): WritableFact {
  const field = 'config.embeddingScale';
  const actual = config.embeddingScale;
  if (scale === undefined) {
    return { field, actual, oneOf: [undefined, 1], why: 'no scaling of the token embeddings' };
  }
  const same = Math.fround(actual ?? 1) === Math.fround(scale);
  return {
    field,
    actual: same ? scale : actual,
    expected: scale,
    why: 'sqrt(dModel), computed in float32',
  };
}

/** What a Llama-style family's `config.json` fixes (see {@link llamaLikeFacts}). */
export type LlamaLikeLayout = {
  /** `config.block.attentionBias`. */
  attentionBias: boolean;
  /** `config.block.attentionOutputBias` (default `attentionBias`). */
  attentionOutputBias: boolean;
  /** `config.block.feedForward.useBias`. */
  useBias: boolean;
  /** Whether the family's `config.json` can say `config.block.slidingWindow` (default false). */
  slidingWindow?: boolean;
  /** RMSNorm scaled by `1 + weight` (Gemma). Default false. */
  unitOffset?: boolean;
  /** `config.embeddingScale` the family applies (Gemma's `sqrt(dModel)`). Default none. */
  embeddingScale?: number;
};

/**
 * The facts of a RoPE/RMSNorm/gated pre-norm decoder with the biases,
 * norm offset, embedding scale and window `layout` says: what a Llama-style
 * `config.json` (llama, mistral, qwen2, phi3, gemma) can express. The sizes,
 * `numKvHeads`, `headDim`, the activation, epsilon, RoPE base and scaling
 * and `tieEmbeddings` are written, so they are not facts here.
 */
export function llamaLikeFacts(config: DecoderLmConfig, layout: LlamaLikeLayout): WritableFact[] {
  const { block } = config;
  const attentionBias = block.attentionBias ?? true;
  const facts: WritableFact[] = [
    { field: 'config.positions', actual: config.positions, expected: 'rope' },
    {
      field: 'config.block.rope',
      // Absent, true or options: on. false would leave the model without positions.
      actual: block.rope !== false,
      expected: true,
      why: "RoPE on (absent, true or its options) with positions 'rope'",
    },
    embeddingScaleFact(config, layout.embeddingScale),
    { field: 'config.block.norm.kind', actual: block.norm.kind, expected: 'rms' },
    {
      field: 'config.block.norm.unitOffset',
      actual: block.norm.kind === 'rms' ? (block.norm.unitOffset ?? false) : false,
      expected: layout.unitOffset ?? false,
      why: layout.unitOffset ? 'RMSNorm scaled by 1 + weight' : 'RMSNorm scaled by the weight',
    },
    { field: 'config.block.normPosition', actual: block.normPosition ?? 'pre', expected: 'pre' },
    { field: 'config.block.feedForward.kind', actual: block.feedForward.kind, expected: 'gated' },
    { field: 'config.block.attentionBias', actual: attentionBias, expected: layout.attentionBias },
    {
      field: 'config.block.attentionOutputBias',
      actual: block.attentionOutputBias ?? attentionBias,
      expected: layout.attentionOutputBias,
    },
    {
      field: 'config.block.feedForward.useBias',
      actual: block.feedForward.useBias ?? block.feedForward.kind === 'mlp',
      expected: layout.useBias,
    },
    { field: 'config.block.alibi', actual: block.alibi ?? false, expected: false },
  ];
  if (!layout.slidingWindow) {
    facts.push({
      field: 'config.block.slidingWindow',
      actual: block.slidingWindow,
      expected: undefined,
      why: 'no sliding window',
    });
  }
  return facts;
}
