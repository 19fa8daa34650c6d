/**
 * Weight-only quantized matrices (int8 per column, int4 group-wise) and
 * their dequantization: the core that `affine` uses when a linear's kernel
 * is quantized (a QLoRA-style frozen base), and that `efficiency/`'s
 * `quantizeWeights` / `quantizeParams` produce.
 */
import {
  getBackend,
  matMul,
  type Tensor,
  type Tensor2D,
  tensor,
  transpose,
} from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import { checkFloatTensor, checkInteger, describeValue, formatShape } from '../internal/checks';
import { customGradient } from '../internal/custom-gradient';

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

/**
 * `P` (a param record type) with the kernel of each linear (each record
 * holding a `kernel: Tensor2D`) allowed to be a {@link QuantizedTensor}:
 * what `decoderLm`, `encoderClassifier` and `generate` accept, and what
 * `quantizeParams(params, { kernelsOnly: true })` returns.
 *
 * @example
 * ```ts
 * const { params: q } = quantizeParams(initDecoderLm(config, 0), { bits: 4, kernelsOnly: true });
 * const base: WithQuantizedKernels<DecoderLmParams> = q;
 * ```
 */
export type WithQuantizedKernels<P> = P extends Tensor
  ? P
  : P extends readonly (infer E)[]
    ? WithQuantizedKernels<E>[]
    : P extends { kernel: Tensor2D }
      ? {
          [K in keyof P]: K extends 'kernel'
            ? Tensor2D | QuantizedTensor
            : WithQuantizedKernels<P[K]>;
        }
      : P extends object
        ? { [K in keyof P]: WithQuantizedKernels<P[K]> }
        : P;

/** Whether `node` has the fields of a {@link QuantizedTensor} (its arrays are not checked). */
export function isQuantizedTensor(node: unknown): node is QuantizedTensor {
  return (
    node !== null &&
    typeof node === 'object' &&
    'format' in node &&
    'scales' in node &&
    'values' in node
  );
}

/** Throws unless `q` is a {@link QuantizedTensor} whose arrays match its shape. */
export function checkQuantizedTensor(fn: string, name: string, q: unknown): QuantizedTensor {
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
  const arrayType = format === 'int8' ? Int8Array : Uint8Array;
  if (!(values instanceof arrayType) || values.length !== valueCount) {
    throw new TfjsBlocksError(
      fn,
      `${name}.values`,
      `an ${arrayType.name} of ${valueCount} values for shape ${formatShape(shape)}`,
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
  return q as QuantizedTensor;
}

/**
 * Checks a linear's kernel, float32 `[in, out]` or a {@link QuantizedTensor},
 * and returns its shape: the one kernel check of `linear` and attention.
 */
export function checkKernel(
  fn: string,
  name: string,
  kernel: unknown,
  layout: string,
): readonly [number, number] {
  if (isQuantizedTensor(kernel)) return checkQuantizedTensor(fn, name, kernel).shape;
  const k = checkFloatTensor<Tensor2D>(fn, name, kernel, { rank: 2, layout });
  return k.shape;
}

/**
 * Fills `out` (row-major `[in, out]`) with the weights of `q`: row by row
 * with the column (or group) scales, and int4 two columns per byte, so the
 * inner loops have no division or modulo.
 */
function dequantizeInto(q: QuantizedTensor, out: Float32Array): void {
  const [rows, cols] = q.shape;
  const { scales } = q;
  if (q.format === 'int8') {
    const values = q.values as Int8Array;
    for (let r = 0, i = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++, i++) out[i] = values[i]! * scales[c]!;
    }
    return;
  }
  const values = q.values as Uint8Array;
  const group = q.groupSize;
  if (cols % 2 === 0) {
    // Each row starts on a byte: low nibble = even column, high nibble = odd column.
    for (let r = 0, i = 0; r < rows; r++) {
      const s = ((r / group) | 0) * cols;
      for (let c = 0; c < cols; c += 2, i += 2) {
        const byte = values[i >> 1]!;
        out[i] = ((byte & 0x0f) - 8) * scales[s + c]!;
        out[i + 1] = ((byte >> 4) - 8) * scales[s + c + 1]!;
      }
    }
    return;
  }
  // Odd widths: rows straddle bytes, so read the nibble of each element.
  for (let r = 0, i = 0; r < rows; r++) {
    const s = ((r / group) | 0) * cols;
    for (let c = 0; c < cols; c++, i++) {
      const byte = values[i >> 1]!;
      out[i] = (((i & 1) === 0 ? byte & 0x0f : byte >> 4) - 8) * scales[s + c]!;
    }
  }
}

/** A scratch buffer for the wasm backend, which copies a new tensor's values into its heap. */
let scratch: Float32Array | undefined;

/**
 * The float32 tensor `[in, out]` of `q`, unchecked (for `affine`, after the
 * checks). On wasm the values are built in one reused buffer (the backend
 * copies them into its heap); other backends keep the array they are given,
 * so they get a fresh one.
 */
export function dequantizeKernel(q: QuantizedTensor): Tensor2D {
  const size = q.shape[0] * q.shape[1];
  let out: Float32Array;
  if (getBackend() === 'wasm') {
    if (scratch === undefined || scratch.length < size) scratch = new Float32Array(size);
    out = scratch.length === size ? scratch : scratch.subarray(0, size);
  } else {
    out = new Float32Array(size);
  }
  dequantizeInto(q, out);
  return tensor(out, q.shape, 'float32') as Tensor2D;
}

/**
 * Restores a float32 matrix from `quantizeWeights`' output.
 *
 * @returns `[in, out]` float32.
 * @example
 * ```ts
 * const w = dequantizeWeights(quantizeWeights(kernel));
 * ```
 */
export function dequantizeWeights(q: QuantizedTensor): Tensor2D {
  checkQuantizedTensor('dequantizeWeights', 'q', q);
  return dequantizeKernel(q);
}

/**
 * `x · dequantize(q)` for a 2-D `x`: the dequantized kernel is freed right
 * after the product and made again in the backward pass (for `dx = dy ·
 * kernelᵀ`), so between calls, and between a forward and its backward, only
 * the quantized form is resident. No gradient is computed for the kernel:
 * it is frozen (a QLoRA base).
 */
export function quantizedMatMul(x: Tensor2D, q: QuantizedTensor): Tensor2D {
  const product = customGradient<[Tensor2D]>(([input]) => ({
    value: matMul(input, dequantizeKernel(q)),
    // dy [n, out] · kernelᵀ [out, in]: an explicit transpose keeps wasm on its fast 2-D path.
    gradFunc: (dy) => matMul(dy as Tensor2D, transpose(dequantizeKernel(q))),
  }));
  return product(x) as Tensor2D;
}
