import { Tensor, type Tensor2D, tensor, tidy } from '@tensorflow/tfjs-core';
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
import { checkLinearConfig, type LinearConfig, linear } from '../nn/linear';
import { isTensor, joinPath, mapTree, type TreeKey } from '../tree/walk';

/**
 * A weight matrix `[in, out]` stored in 8 or 4 bits: symmetric integers and
 * float32 scales, kept as JS typed arrays so the memory saving is real
 * (tfjs has no int8 or int4 tensors).
 */
export type QuantizedTensor = {
  /** `'int8'`: one scale per output column; `'int4'`: one scale per group of `groupSize` input rows and column. */
  format: 'int8' | 'int4';
  /** The original shape `[in, out]`. */
  shape: [number, number];
  /** int8: one value per weight; int4: two weights per byte (low nibble first), as unsigned offsets by 8. */
  values: Int8Array | Uint8Array;
  /** int8: `[out]`; int4: `[in / groupSize, out]`, row-major. */
  scales: Float32Array;
  /** Input rows per int4 scale (int8: the whole column). */
  groupSize: number;
};

/** Options of {@link quantizeWeights}. */
export type QuantizeOptions = {
  /** `8` (per-channel symmetric) or `4` (group-wise symmetric). Default `8`. */
  bits?: 8 | 4;
  /** int4 group size along the input axis; must divide it. Default `32` (or the whole axis if smaller). */
  groupSize?: number;
};

const QUANTIZE_OPTION_KEYS = optionKeys<QuantizeOptions>({ bits: true, groupSize: true });

/** Throws unless `q` is a {@link QuantizedTensor} whose arrays match its shape. */
function checkQuantized(fn: string, name: string, q: unknown): void {
  const expected = 'a QuantizedTensor (from quantizeWeights)';
  if (q === null || typeof q !== 'object') {
    throw new TfjsBlocksError(fn, name, expected, describeValue(q));
  }
  const { format, shape, values, scales, groupSize } = q as Partial<QuantizedTensor>;
  if (format !== 'int8' && format !== 'int4') {
    throw new TfjsBlocksError(fn, `${name}.format`, "'int8' or 'int4'", describeValue(format));
  }
  if (!Array.isArray(shape) || shape.length !== 2) {
    throw new TfjsBlocksError(fn, `${name}.shape`, '[in, out]', describeValue(shape));
  }
  const rows = checkInteger(fn, `${name}.shape[0]`, shape[0], 1);
  const cols = checkInteger(fn, `${name}.shape[1]`, shape[1], 1);
  const group = checkInteger(fn, `${name}.groupSize`, groupSize, 1);
  const valueCount = format === 'int8' ? rows * cols : Math.ceil((rows * cols) / 2);
  const scaleCount = format === 'int8' ? cols : Math.ceil(rows / group) * cols;
  if (!ArrayBuffer.isView(values) || (values as Uint8Array).length !== valueCount) {
    throw new TfjsBlocksError(
      fn,
      `${name}.values`,
      `${valueCount} values for shape ${formatShape(shape)}`,
      describeValue(values),
    );
  }
  if (!(scales instanceof Float32Array) || scales.length !== scaleCount) {
    throw new TfjsBlocksError(
      fn,
      `${name}.scales`,
      `a Float32Array of ${scaleCount} scales`,
      describeValue(scales),
    );
  }
}

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
  const bits = options.bits ?? 8;
  if (bits !== 8 && bits !== 4)
    throw new TfjsBlocksError(fn, 'options.bits', '8 or 4', describeChoice(bits));
  const [rows, cols] = weights.shape as [number, number];
  const w = weights.dataSync();
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
  const groupSize = checkInteger(
    fn,
    'options.groupSize',
    options.groupSize ?? Math.min(32, rows),
    1,
  );
  if (rows % groupSize !== 0) {
    throw new TfjsBlocksError(
      fn,
      'options.groupSize',
      `a divisor of the input size ${rows}`,
      String(groupSize),
    );
  }
  const groups = rows / groupSize;
  const scales = new Float32Array(groups * cols);
  for (let g = 0; g < groups; g++) {
    for (let c = 0; c < cols; c++) {
      let m = 0;
      for (let r = g * groupSize; r < (g + 1) * groupSize; r++)
        m = Math.max(m, Math.abs(w[r * cols + c]!));
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
 * Restores a float32 matrix from {@link quantizeWeights}' output.
 *
 * @example
 * ```ts
 * const w = dequantizeWeights(quantizeWeights(kernel));
 * ```
 */
export function dequantizeWeights(q: QuantizedTensor): Tensor2D {
  checkQuantized('dequantizeWeights', 'q', q);
  const [rows, cols] = q.shape;
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < rows * cols; i++) {
    if (q.format === 'int8') {
      out[i] = (q.values as Int8Array)[i]! * q.scales[i % cols]!;
    } else {
      const byte = q.values[i >> 1]!;
      const nibble = i % 2 === 0 ? byte & 0x0f : byte >> 4;
      out[i] =
        (nibble - 8) *
        q.scales[Math.floor(Math.floor(i / cols) / q.groupSize) * cols + (i % cols)]!;
    }
  }
  return tensor(out, [rows, cols]) as Tensor2D;
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
  return tidy(() =>
    linear(config, { kernel: dequantizeWeights(params?.kernel), bias: params.bias as never }, x),
  );
}

/** A param record with matrices quantized: what {@link quantizeParams} returns. */
export type QuantizedParams = unknown;

/** What {@link quantizeParams} reports. */
export type QuantizationReport = {
  /** The record with every float32 matrix (rank 2) replaced by a {@link QuantizedTensor}. */
  params: QuantizedParams;
  /** float32 bytes of all tensors before. */
  originalBytes: number;
  /** Bytes after: quantized matrices plus the untouched tensors. */
  quantizedBytes: number;
  /** Names (dotted paths) of the matrices that were quantized. */
  quantized: string[];
};

/**
 * Quantizes every weight matrix of a param record (embeddings and kernels:
 * rank-2 float32 tensors whose rows split into groups); vectors such as
 * biases and norm scales stay float32. Reports the memory saved.
 *
 * @example
 * ```ts
 * const { params: q, originalBytes, quantizedBytes } = quantizeParams(initDecoderLm(config, 0), { bits: 4 });
 * const restored = dequantizeParams(q); // a float record to run the model with
 * ```
 */
export function quantizeParams(params: unknown, options: QuantizeOptions = {}): QuantizationReport {
  checkOptionKeys('quantizeParams', options, QUANTIZE_OPTION_KEYS);
  let originalBytes = 0;
  let after = 0;
  const quantized: string[] = [];
  const groupOk = (rows: number) =>
    options.bits !== 4 || rows % (options.groupSize ?? Math.min(32, rows)) === 0;
  const quantize = (leaf: unknown, keys: readonly TreeKey[]): unknown => {
    const node = leaf as Tensor;
    originalBytes += node.size * 4;
    if (node.rank === 2 && node.dtype === 'float32' && groupOk(node.shape[0]!)) {
      const q = quantizeWeights(node, options);
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

function isQuantized(node: unknown): node is QuantizedTensor {
  return (
    node !== null &&
    typeof node === 'object' &&
    'format' in node &&
    'scales' in node &&
    'values' in node
  );
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
    mapTree(params, (leaf) => (isQuantized(leaf) ? dequantizeWeights(leaf) : leaf), {
      fn: 'dequantizeParams',
      argument: 'params',
      // Quantized matrices are leaves, not records to walk into; tensors are kept as they are.
      isLeaf: (node) => isQuantized(node) || isTensor(node),
    }),
  );
}
