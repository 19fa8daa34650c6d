import {
  reshape,
  type Tensor,
  type Tensor3D,
  type Tensor4D,
  tidy,
  transpose,
} from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import {
  checkDim,
  checkFloatTensor,
  checkInteger,
  checkOptionKeys,
  describeValue,
  optionKeys,
} from '../internal/checks';
import { splitSeed } from '../internal/seed';
import { tidyParams } from '../internal/tidy-params';
import { affine, initLinear, type LinearParams, linear, linearConfigOf } from '../nn/linear';
import { ATTENTION_OPTION_KEYS, type AttentionOptions } from './attention-setup';
import {
  applyRotaryEmbedding,
  ROTARY_OPTION_KEYS,
  type RotaryEmbeddingOptions,
} from './rotary-embedding';
import { scaledDotProductAttention } from './scaled-dot-product-attention';

/** Configuration of {@link initMultiHeadAttention}. */
export interface MultiHeadAttentionConfig {
  /** Width of the input and output. */
  dModel: number;
  /** Number of query heads; must divide `dModel` unless `headDim` is given. */
  numHeads: number;
  /** Number of key/value heads (GQA; 1 = MQA). Must divide `numHeads`. Default `numHeads`. */
  numKvHeads?: number;
  /** Per-head width. Default `dModel / numHeads`. */
  headDim?: number;
  /** Width of the cross-attention `context`. Default `dModel`. */
  contextDim?: number;
  /** Biases on the four projections. Default `true` (as `torch.nn.MultiheadAttention`). */
  useBias?: boolean;
}

/**
 * Parameters of {@link multiHeadAttention}: four projections (tensors only;
 * the head counts that say how to split them are in the
 * {@link MultiHeadAttentionConfig}). Kernels are `[in, out]`, the transpose
 * of PyTorch's `Linear.weight`.
 */
export type MultiHeadAttentionParams = {
  /** `[dModel, numHeads · headDim]`. */
  query: LinearParams;
  /** `[contextDim, numKvHeads · headDim]`. */
  key: LinearParams;
  /** `[contextDim, numKvHeads · headDim]`. */
  value: LinearParams;
  /** `[numHeads · headDim, dModel]`. */
  output: LinearParams;
};

/** Options of {@link multiHeadAttention}. */
export interface MultiHeadAttentionOptions extends AttentionOptions {
  /**
   * Keys and values come from this `[batch, tk, contextDim]` sequence
   * (cross-attention). Default: `x` itself (self-attention).
   */
  context?: Tensor3D;
  /** Rotate queries and keys with RoPE (`true` for the defaults). Default `false`. */
  rope?: boolean | RotaryEmbeddingOptions;
  /** Use the memory-efficient chunked path with this block size. Default: off. */
  chunkSize?: number;
}

const CONFIG_KEYS = optionKeys<MultiHeadAttentionConfig>({
  dModel: true,
  numHeads: true,
  numKvHeads: true,
  headDim: true,
  contextDim: true,
  useBias: true,
});

const OPTION_KEYS = [
  ...ATTENTION_OPTION_KEYS,
  ...optionKeys<Omit<MultiHeadAttentionOptions, keyof AttentionOptions>>({
    context: true,
    rope: true,
    chunkSize: true,
  }),
];

/**
 * Throws unless `rope` is a boolean or a plain {@link RotaryEmbeddingOptions}
 * record (the nested option record of attention options and block configs).
 */
export function checkRopeOption(fn: string, name: string, rope: unknown): void {
  if (rope === undefined || typeof rope === 'boolean') return;
  if (rope === null || typeof rope !== 'object' || Array.isArray(rope)) {
    throw new TfjsBlocksError(fn, name, 'a boolean or {offset?, base?}', describeValue(rope));
  }
  checkOptionKeys(fn, rope, ROTARY_OPTION_KEYS, name);
}

/**
 * Creates {@link MultiHeadAttentionParams}: Glorot-uniform kernels and zero
 * biases, reproducible from `seed`.
 *
 * @example
 * ```ts
 * const params = initMultiHeadAttention({ dModel: 64, numHeads: 8, numKvHeads: 2 }, 42);
 * ```
 */
export function initMultiHeadAttention(
  config: MultiHeadAttentionConfig,
  seed: number,
): MultiHeadAttentionParams {
  const { dModel, numHeads, numKvHeads, headDim, contextDim, useBias } =
    checkMultiHeadAttentionConfig('initMultiHeadAttention', config);
  const [sq, sk, sv, so] = splitSeed(seed, 4) as [number, number, number, number];
  return tidyParams(() => ({
    query: initLinear({ inFeatures: dModel, outFeatures: numHeads * headDim, useBias }, sq),
    key: initLinear({ inFeatures: contextDim, outFeatures: numKvHeads * headDim, useBias }, sk),
    value: initLinear({ inFeatures: contextDim, outFeatures: numKvHeads * headDim, useBias }, sv),
    output: initLinear({ inFeatures: numHeads * headDim, outFeatures: dModel, useBias }, so),
  }));
}

/**
 * Throws unless `config` is a complete, consistent
 * {@link MultiHeadAttentionConfig}; returns it with its defaults filled in.
 */
export function checkMultiHeadAttentionConfig(
  fn: string,
  config: MultiHeadAttentionConfig,
): Required<MultiHeadAttentionConfig> {
  checkOptionKeys(fn, config, CONFIG_KEYS, 'config');
  const dModel = checkInteger(fn, 'config.dModel', config?.dModel, 1);
  const numHeads = checkInteger(fn, 'config.numHeads', config.numHeads, 1);
  const numKvHeads = checkInteger(fn, 'config.numKvHeads', config.numKvHeads ?? numHeads, 1);
  if (numHeads % numKvHeads !== 0) {
    throw new TfjsBlocksError(
      fn,
      'config.numKvHeads',
      `a divisor of numHeads (${numHeads})`,
      String(numKvHeads),
    );
  }
  if (config.headDim === undefined && dModel % numHeads !== 0) {
    throw new TfjsBlocksError(
      fn,
      'config.numHeads',
      `a divisor of dModel (${dModel}), or config.headDim given`,
      String(numHeads),
    );
  }
  const headDim = checkInteger(fn, 'config.headDim', config.headDim ?? dModel / numHeads, 1);
  const contextDim = checkInteger(fn, 'config.contextDim', config.contextDim ?? dModel, 1);
  const useBias = config.useBias ?? true;
  return { dModel, numHeads, numKvHeads, headDim, contextDim, useBias };
}

/**
 * Multi-head attention over plain params: project `x` to queries and
 * `context` (or `x`) to keys and values, split heads, optionally rotate
 * with RoPE, attend with {@link scaledDotProductAttention}, merge heads and
 * project back. With the same weights it matches
 * `torch.nn.MultiheadAttention(batch_first=True)` (whose boolean masks mean
 * the opposite: `true` = blocked there, `true` = may attend here).
 * `config` is the one {@link initMultiHeadAttention} took; the params must
 * have its shapes.
 *
 * @param x - `[batch, time, dModel]`.
 * @returns `[batch, time, dModel]`.
 * @example
 * ```ts
 * const config = { dModel: 64, numHeads: 8 };
 * const params = initMultiHeadAttention(config, 0);
 * const y = multiHeadAttention(config, params, tf.randomNormal([2, 10, 64]), { causal: true, rope: true });
 * ```
 */
export function multiHeadAttention(
  config: MultiHeadAttentionConfig,
  params: MultiHeadAttentionParams,
  x: Tensor3D,
  options: MultiHeadAttentionOptions = {},
): Tensor3D {
  const fn = 'multiHeadAttention';
  checkOptionKeys(fn, options, OPTION_KEYS);
  checkRopeOption(fn, 'options.rope', options.rope);
  const { dModel, numHeads, numKvHeads, headDim, contextDim, useBias } =
    checkMultiHeadAttentionConfig(fn, config);
  const input = checkFloatTensor<Tensor3D>(fn, 'x', x, {
    rank: 3,
    layout: '[batch, time, dModel]',
  });
  const context =
    options.context === undefined
      ? input
      : checkFloatTensor<Tensor3D>(fn, 'options.context', options.context, {
          rank: 3,
          layout: '[batch, tk, contextDim]',
        });
  checkDim(fn, 'options.context.shape[0]', context.shape[0], input.shape[0], 'x.shape[0] (batch)');
  checkDim(fn, 'x.shape[-1]', input.shape[2], dModel, 'config.dModel');
  checkDim(fn, 'options.context.shape[2]', context.shape[2], contextDim, 'config.contextDim');
  const shapes = {
    query: [dModel, numHeads * headDim, 'config.dModel', 'numHeads · headDim'],
    key: [contextDim, numKvHeads * headDim, 'config.contextDim', 'numKvHeads · headDim'],
    value: [contextDim, numKvHeads * headDim, 'config.contextDim', 'numKvHeads · headDim'],
    output: [numHeads * headDim, dModel, 'numHeads · headDim', 'config.dModel'],
  } as const;
  for (const [name, [rows, cols, rowsWhat, colsWhat]] of Object.entries(shapes)) {
    const projection = params?.[name as keyof MultiHeadAttentionParams];
    const kernel = checkFloatTensor(fn, `params.${name}.kernel`, projection?.kernel, {
      rank: 2,
      layout: '[in, out]',
    });
    checkDim(fn, `params.${name}.kernel.shape[0]`, kernel.shape[0]!, rows, rowsWhat);
    checkDim(fn, `params.${name}.kernel.shape[1]`, kernel.shape[1]!, cols, colsWhat);
    if (useBias) {
      const bias = checkFloatTensor(fn, `params.${name}.bias`, projection?.bias, {
        rank: 1,
        layout: '[out] (config.useBias is not false)',
      });
      checkDim(fn, `params.${name}.bias.shape[0]`, bias.shape[0]!, cols, colsWhat);
    } else if (projection?.bias !== undefined) {
      throw new TfjsBlocksError(
        fn,
        `params.${name}.bias`,
        'absent (config.useBias is false)',
        describeValue(projection.bias),
      );
    }
  }
  const { context: _context, rope, ...attentionOptions } = options;
  return tidy(() => {
    const heads = { numHeads, numKvHeads, headDim };
    const q = projectHeads(params.query, input, numHeads, headDim, true);
    const k = projectHeads(params.key, context, numKvHeads, headDim, true);
    const v = projectHeads(params.value, context, numKvHeads, headDim, true);
    const ropeOptions = rope ? (rope === true ? {} : rope) : undefined;
    const [qr, kr] = ropeOptions
      ? [applyRotaryEmbedding(q, ropeOptions), applyRotaryEmbedding(k, ropeOptions)]
      : [q, k];
    return outputProjection(
      params,
      scaledDotProductAttention(qr, kr, v, attentionOptions),
      heads,
      true,
    );
  });
}

/**
 * `x · kernel + bias`, split into heads: `[B, T, heads·D]` → `[B, heads, T, D]`.
 * The projection is checked (as {@link linear} checks) unless `checked` says
 * its caller did that against its config already.
 */
export function projectHeads(
  projection: LinearParams,
  x: Tensor,
  heads: number,
  headDim: number,
  checked = false,
): Tensor4D {
  const [batch, time] = x.shape as [number, number];
  const projected = checked
    ? affine(projection, x)
    : linear(linearConfigOf(projection), projection, x);
  return transpose(reshape(projected, [batch, time, heads, headDim]), [0, 2, 1, 3]) as Tensor4D;
}

/** Merges heads `[B, heads, T, D]` → `[B, T, heads·D]` and applies the output projection. */
export function outputProjection(
  params: MultiHeadAttentionParams,
  attended: Tensor4D,
  heads: { numHeads: number; headDim: number },
  checked = false,
): Tensor3D {
  const [batch, , time] = attended.shape;
  const merged = reshape(transpose(attended, [0, 2, 1, 3]), [
    batch,
    time,
    heads.numHeads * heads.headDim,
  ]);
  return (
    checked
      ? affine(params.output, merged)
      : linear(linearConfigOf(params.output), params.output, merged)
  ) as Tensor3D;
}
