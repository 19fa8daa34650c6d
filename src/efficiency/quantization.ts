import { Tensor } from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import {
  checkInteger,
  checkOptionKeys,
  describeChoice,
  describeValue,
  formatShape,
  optionKeys,
} from '../internal/checks';
import { tidyParams } from '../internal/tidy-params';
import {
  checkLinearConfig,
  type LinearConfig,
  linear,
  type QuantizableLinearParams,
} from '../nn/linear';
import {
  checkQuantizedTensor,
  dequantizeWeights,
  isQuantizedTensor,
  type QuantizedTensor,
  type WithQuantizedKernels,
} from '../nn/quantized-weights';
import { isTensor, joinPath, mapTree, type TreeKey } from '../tree/walk';

/** Options of {@link quantizeWeights}. */
export type QuantizeOptions = {
  /** `8` (per-channel symmetric) or `4` (group-wise symmetric). Default `8`. */
  bits?: 8 | 4;
  /** int4 group size along the input axis; must divide it. Default `32` (or the whole axis if smaller). */
  groupSize?: number;
};

const QUANTIZE_OPTION_KEYS = optionKeys<QuantizeOptions>({ bits: true, groupSize: true });

/**
 * Quantizes a weight matrix `[in, out]`: int8 with one symmetric scale per
 * output channel (`max|w| / 127`), or int4 with one scale per group of
 * `groupSize` inputs and output channel (`max|w| / 7`). Each weight is off
 * by at most half its scale. See Dettmers et al., https://arxiv.org/abs/2208.07339,
 * and Frantar et al. (GPTQ's group-wise layout), https://arxiv.org/abs/2210.17323.
 *
 * @example
 * ```ts
 * const q = quantizeWeights(params.feedForward.up.kernel, { bits: 4, groupSize: 32 });
 * const restored = dequantizeWeights(q); // float32 [in, out]
 * ```
 */
export function quantizeWeights(weights: Tensor, options: QuantizeOptions = {}): QuantizedTensor {
  const fn = 'quantizeWeights';
  checkOptionKeys(fn, options, QUANTIZE_OPTION_KEYS);
  if (
    !(weights instanceof Tensor) ||
    weights.isDisposed ||
    weights.rank !== 2 ||
    weights.dtype !== 'float32'
  ) {
    throw new TfjsBlocksError(
      fn,
      'weights',
      'a float32 matrix [in, out]',
      weights instanceof Tensor
        ? `a ${weights.isDisposed ? 'disposed ' : ''}${weights.dtype} tensor of shape ${formatShape(weights.shape)}`
        : describeValue(weights),
    );
  }
  return quantizeFloats(fn, matrixOf(weights), options);
}

/**
 * A float32 matrix `[rows, cols]` to quantize: its shape and dtype, and its
 * values (row-major), read only if it is quantized: a tensor, or in
 * `loadPretrained` a checkpoint's decoded bytes that never become a tensor.
 *
 * @internal
 */
export type FloatMatrix = {
  shape: readonly number[];
  dtype: string;
  values(): ArrayLike<number>;
};

/** A tensor as a {@link FloatMatrix}. */
function matrixOf(t: Tensor): FloatMatrix {
  return { shape: t.shape, dtype: t.dtype, values: () => t.dataSync() };
}

/** {@link quantizeWeights} of a float32 matrix whose options are checked here (errors name `fn`). */
function quantizeFloats(
  fn: string,
  matrix: FloatMatrix,
  options: QuantizeOptions,
): QuantizedTensor {
  const bits = options.bits ?? 8;
  if (bits !== 8 && bits !== 4)
    throw new TfjsBlocksError(fn, 'options.bits', '8 or 4', describeChoice(bits));
  const rows = matrix.shape[0]!;
  const groupSize =
    bits === 8
      ? rows
      : checkInteger(fn, 'options.groupSize', options.groupSize ?? Math.min(32, rows), 1);
  if (rows % groupSize !== 0) {
    throw new TfjsBlocksError(
      fn,
      'options.groupSize',
      `a divisor of the input size ${rows}`,
      String(groupSize),
    );
  }
  return quantizeMatrix(matrix, bits, groupSize);
}

/**
 * {@link quantizeWeights} of a checked float32 matrix. An int4 `groupSize`
 * need not divide the rows: the last group is then shorter (an embedding
 * table of 50,257 rows, whose count has no small divisor).
 */
function quantizeMatrix(matrix: FloatMatrix, bits: 8 | 4, groupSize: number): QuantizedTensor {
  const [rows, cols] = matrix.shape as [number, number];
  const w = matrix.values();
  if (bits === 8) {
    const scales = new Float32Array(cols);
    for (let c = 0; c < cols; c++) {
      let m = 0;
      for (let r = 0; r < rows; r++) m = Math.max(m, Math.abs(w[r * cols + c]!));
      scales[c] = m / 127;
    }
    const values = new Int8Array(rows * cols);
    for (let i = 0; i < values.length; i++) {
      const s = scales[i % cols]!;
      values[i] = s === 0 ? 0 : Math.max(-127, Math.min(127, Math.round(w[i]! / s)));
    }
    return { format: 'int8', shape: [rows, cols], values, scales, groupSize: rows };
  }
  const groups = Math.ceil(rows / groupSize);
  const scales = new Float32Array(groups * cols);
  for (let g = 0; g < groups; g++) {
    const end = Math.min(rows, (g + 1) * groupSize);
    for (let c = 0; c < cols; c++) {
      let m = 0;
      for (let r = g * groupSize; r < end; r++) m = Math.max(m, Math.abs(w[r * cols + c]!));
      scales[g * cols + c] = m / 7;
    }
  }
  const values = new Uint8Array(Math.ceil((rows * cols) / 2));
  for (let i = 0; i < rows * cols; i++) {
    const s = scales[Math.floor(Math.floor(i / cols) / groupSize) * cols + (i % cols)]!;
    const q = s === 0 ? 0 : Math.max(-8, Math.min(7, Math.round(w[i]! / s)));
    const nibble = q + 8;
    values[i >> 1] =
      i % 2 === 0 ? (values[i >> 1]! & 0xf0) | nibble : (values[i >> 1]! & 0x0f) | (nibble << 4);
  }
  return { format: 'int4', shape: [rows, cols], values, scales, groupSize };
}

/**
 * Bytes a quantized matrix occupies (values and scales).
 *
 * @example
 * ```ts
 * const saved = kernel.size * 4 - quantizedBytes(quantizeWeights(kernel, { bits: 4 }));
 * ```
 */
export function quantizedBytes(q: QuantizedTensor): number {
  return q.values.byteLength + q.scales.byteLength;
}

/** Parameters of {@link quantizedLinear}: a quantized kernel and a float bias. */
export type QuantizedLinearParams = {
  /** `[inFeatures, outFeatures]`, quantized. */
  kernel: QuantizedTensor;
  /** `[outFeatures]`. */
  bias?: Tensor;
};

/**
 * Inference with a weight-only quantized linear layer: the kernel is
 * dequantized for the product and freed after it, so only the quantized
 * form stays in memory between calls.
 *
 * @param x - `[..., inFeatures]`.
 * @returns `[..., outFeatures]`.
 * @example
 * ```ts
 * const config = { inFeatures: 16, outFeatures: 32 };
 * const params = initLinear(config, 0);
 * const q = { kernel: quantizeWeights(params.kernel), bias: params.bias };
 * const y = quantizedLinear(config, q, tf.randomNormal([2, 16]));
 * ```
 */
export function quantizedLinear(
  config: LinearConfig,
  params: QuantizedLinearParams,
  x: Tensor,
): Tensor {
  checkLinearConfig('quantizedLinear', config);
  checkQuantizedTensor('quantizedLinear', 'params.kernel', params?.kernel);
  // linear runs a quantized kernel itself (dequantized per product, then freed).
  return linear(config, params as QuantizableLinearParams, x);
}

/** A param record with matrices quantized: what {@link quantizeParams} returns. */
export type QuantizedParams = unknown;

/**
 * Options of {@link quantizeParams}: those of {@link quantizeWeights}, and
 * which matrices to quantize.
 */
export type QuantizeParamsOptions = QuantizeOptions & {
  /**
   * Quantize only the linears' kernels (rank-2 leaves named `kernel`), keep
   * embedding tables float32: the params then run as they are in
   * `decoderLm`, `generate` and `encoderClassifier` (a QLoRA-style frozen
   * base). Default `false`: every rank-2 matrix, embeddings included; a
   * decoder's quantized token and position tables (leaves named `table`)
   * run directly in `decoderLm`, `generate`, `withLora` and `fineTune` too
   * (rows gathered from the codes; the tied output head reads the quantized
   * table), which makes the resident model ~4× (int8) / ~7× (int4) smaller.
   * With 4 bits, a table whose rows `groupSize` does not divide (GPT-2's
   * 50,257) gets a shorter last group; other matrices that it does not
   * divide stay float32.
   */
  kernelsOnly?: boolean;
};

const QUANTIZE_PARAMS_OPTION_KEYS = optionKeys<QuantizeParamsOptions>({
  bits: true,
  groupSize: true,
  kernelsOnly: true,
});

/** What {@link quantizeParams} reports. */
export type QuantizationReport<P = QuantizedParams> = {
  /** The record with every float32 matrix (rank 2) replaced by a {@link QuantizedTensor}. */
  params: P;
  /** float32 bytes of all tensors before. */
  originalBytes: number;
  /** Bytes after: quantized matrices plus the untouched tensors. */
  quantizedBytes: number;
  /** Names (dotted paths) of the matrices that were quantized. */
  quantized: string[];
};

/**
 * Quantizes every weight matrix of a param record (embeddings and kernels:
 * rank-2 float32 tensors whose rows split into groups), or with
 * `kernelsOnly` only the linears' kernels; vectors such as biases and norm
 * scales stay float32. Reports the memory saved.
 *
 * With `kernelsOnly: true` the result is typed `WithQuantizedKernels<P>`
 * and runs directly in `decoderLm`, `generate` and `encoderClassifier`
 * (each product dequantizes its kernel and frees it after). With an explicit
 * `kernelsOnly: false` it is typed `WithQuantizedKernels<P>` as well, and a
 * decoder's quantized token and position tables run in `decoderLm`,
 * `generate`, `withLora` and `fineTune` too (only gathered rows are
 * dequantized; the tied head reads the codes): GPT-2 small shrinks ~4×
 * (int8) / ~6.4× (int4) instead of 2.05× / 2.36×.
 *
 * @example
 * ```ts
 * const { params: q, originalBytes, quantizedBytes } = quantizeParams(initDecoderLm(config, 0), { bits: 4 });
 * const restored = dequantizeParams(q); // a float record to run the model with
 * const { params: base } = quantizeParams(initDecoderLm(config, 0), { bits: 8, kernelsOnly: true });
 * const logits = decoderLm(config, base, tf.tensor2d([[1, 2, 3]], undefined, 'int32'));
 * ```
 */
export function quantizeParams<P>(
  params: P,
  options: QuantizeParamsOptions & { kernelsOnly: true },
): QuantizationReport<WithQuantizedKernels<P>>;
export function quantizeParams<P>(
  params: P,
  options: QuantizeParamsOptions & { kernelsOnly: false },
): QuantizationReport<WithQuantizedKernels<P>>;
export function quantizeParams(
  params: unknown,
  options?: QuantizeParamsOptions,
): QuantizationReport;
export function quantizeParams(
  params: unknown,
  options: QuantizeParamsOptions = {},
): QuantizationReport {
  checkQuantizeParamsOptions('quantizeParams', options);
  let originalBytes = 0;
  let after = 0;
  const quantized: string[] = [];
  const quantizeLeaf = paramQuantizer(options);
  const quantize = (leaf: unknown, keys: readonly TreeKey[]): unknown => {
    const node = leaf as Tensor;
    originalBytes += node.size * 4;
    const q = quantizeLeaf(node, keys[keys.length - 1]);
    if (q !== undefined) {
      after += quantizedBytes(q);
      quantized.push(joinPath(keys));
      return q;
    }
    after += node.size * 4;
    return node;
  };
  const out = mapTree(params, quantize, { fn: 'quantizeParams', argument: 'params' });
  return { params: out, originalBytes, quantizedBytes: after, quantized };
}

/**
 * Checks {@link quantizeParams}' options (`name`: the argument that holds
 * them), the keys and `kernelsOnly`; `bits` and `groupSize` are checked by
 * the first matrix quantized, as {@link quantizeWeights} checks them.
 *
 * @internal Also `loadPretrained`'s `quantize` option.
 */
export function checkQuantizeParamsOptions(
  fn: string,
  options: QuantizeParamsOptions,
  name = 'options',
): void {
  checkOptionKeys(fn, options, QUANTIZE_PARAMS_OPTION_KEYS, name);
  if (options.kernelsOnly !== undefined && typeof options.kernelsOnly !== 'boolean') {
    throw new TfjsBlocksError(
      fn,
      `${name}.kernelsOnly`,
      'a boolean',
      describeValue(options.kernelsOnly),
    );
  }
}

/**
 * {@link quantizeParams}' choice for one leaf, named `lastKey` in its record:
 * the matrix quantized, or `undefined` to keep it float32. One choice for
 * `quantizeParams` and for `loadPretrained({ quantize })`, which quantizes
 * each matrix as it is read (a checkpoint's decoded bytes, as a
 * {@link FloatMatrix}) and so gives the same params.
 *
 * @internal
 */
export function paramQuantizer(
  options: QuantizeParamsOptions,
): (leaf: Tensor | FloatMatrix, lastKey: TreeKey | undefined) => QuantizedTensor | undefined {
  const { kernelsOnly = false, ...weightOptions } = options;
  const groupOk = (rows: number) =>
    options.bits !== 4 || rows % (options.groupSize ?? Math.min(32, rows)) === 0;
  return (leaf, lastKey) => {
    const wanted = !kernelsOnly || lastKey === 'kernel';
    const table = lastKey === 'table';
    if (
      !wanted ||
      leaf.shape.length !== 2 ||
      leaf.dtype !== 'float32' ||
      !(table || groupOk(leaf.shape[0]!))
    ) {
      return undefined;
    }
    const matrix = leaf instanceof Tensor ? matrixOf(leaf) : leaf;
    if (table && options.bits === 4) return quantizeTable(matrix, options.groupSize);
    // A tensor goes through quantizeWeights' own checks (a disposed one is named there).
    return leaf instanceof Tensor
      ? quantizeWeights(leaf, weightOptions)
      : quantizeFloats('quantizeWeights', matrix, weightOptions);
  };
}

/** An embedding table in int4: groups of `groupSize` rows (default 32, or all rows if fewer), the last one possibly shorter. */
function quantizeTable(table: FloatMatrix, groupSize: number | undefined): QuantizedTensor {
  const rows = table.shape[0]!;
  const group = checkInteger(
    'quantizeParams',
    'options.groupSize',
    groupSize ?? Math.min(32, rows),
    1,
  );
  return quantizeMatrix(table, 4, Math.min(group, rows));
}

/**
 * Rebuilds a float param record from {@link quantizeParams}' output (new
 * tensors for the quantized matrices; the others are the same tensors).
 *
 * @example
 * ```ts
 * const logits = decoderLm(config, dequantizeParams(quantizeParams(params).params) as DecoderLmParams, ids);
 * ```
 */
export function dequantizeParams(params: QuantizedParams): unknown {
  // A bad entry deep in the record must not leave the matrices dequantized before it.
  return tidyParams(() =>
    mapTree(params, (leaf) => (isQuantizedTensor(leaf) ? dequantizeWeights(leaf) : leaf), {
      fn: 'dequantizeParams',
      argument: 'params',
      // Quantized matrices are leaves, not records to walk into; tensors are kept as they are.
      isLeaf: (node) => isQuantizedTensor(node) || isTensor(node),
    }),
  );
}
