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
import { quantizedSimdProduct, quantizedSimdProductTransposed } from './quantized-simd';

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
 * holding a `kernel: Tensor2D`), and each embedding table (a record holding
 * a `table: Tensor2D`), allowed to be a {@link QuantizedTensor}: what
 * `decoderLm`, `encoderClassifier` and `generate` accept, and what `quantizeParams(params, { kernelsOnly: true })` and
 * `quantizeParams(params, { kernelsOnly: false })` return.
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
    : P extends {
          /** A linear's float32 kernel. */
          kernel: Tensor2D;
        }
      ? {
          [K in keyof P]: K extends 'kernel'
            ? Tensor2D | QuantizedTensor
            : WithQuantizedKernels<P[K]>;
        }
      : P extends {
            /** An embedding's float32 table `[rows, dim]`. */
            table: Tensor2D;
          }
        ? {
            [K in keyof P]: K extends 'table'
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
  const out = scratchFor(q.shape[0] * q.shape[1]);
  dequantizeInto(q, out);
  return tensor(out, q.shape, 'float32') as Tensor2D;
}

/** A buffer of `size` floats for a new tensor's values: the shared scratch on wasm, else a fresh one. */
function scratchFor(size: number): Float32Array {
  if (getBackend() !== 'wasm') return new Float32Array(size);
  if (scratch === undefined || scratch.length < size) scratch = new Float32Array(size);
  return scratch.length === size ? scratch : scratch.subarray(0, size);
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

/** Fills `out` with the weights of `q` transposed (`[out, in]`), in tiles that stay in cache. */
function dequantizeTransposedInto(q: QuantizedTensor, out: Float32Array): void {
  const [rows, cols] = q.shape;
  const { scales, groupSize } = q;
  const tile = 64;
  const int8 = q.format === 'int8';
  for (let r0 = 0; r0 < rows; r0 += tile) {
    const r1 = Math.min(rows, r0 + tile);
    for (let c0 = 0; c0 < cols; c0 += tile) {
      const c1 = Math.min(cols, c0 + tile);
      for (let c = c0; c < c1; c++) {
        const o = c * rows;
        if (int8) {
          const values = q.values as Int8Array;
          const s = scales[c]!;
          for (let r = r0, i = r0 * cols + c; r < r1; r++, i += cols) out[o + r] = values[i]! * s;
        } else {
          for (let r = r0, i = r0 * cols + c; r < r1; r++, i += cols) {
            const byte = q.values[i >> 1]!;
            const nibble = (i & 1) === 0 ? byte & 0x0f : byte >> 4;
            out[o + r] = (nibble - 8) * scales[((r / groupSize) | 0) * cols + c]!;
          }
        }
      }
    }
  }
}

/** The float32 tensor `[out, in]` (the transpose) of `q`, unchecked. */
function dequantizeKernelTransposed(q: QuantizedTensor): Tensor2D {
  const [rows, cols] = q.shape;
  const out = scratchFor(rows * cols);
  dequantizeTransposedInto(q, out);
  return tensor(out, [cols, rows], 'float32') as Tensor2D;
}

/**
 * `y = x · W` `[n, out]` from the quantized values, without a float kernel:
 * for a few rows (decoding) on the cpu and wasm backends, where reading `x`
 * is a copy and a fresh float kernel would cost more to pack than to use.
 */
function fusedProduct(q: QuantizedTensor, xs: Float32Array, n: number): Float32Array {
  const [rows, cols] = q.shape;
  const y = new Float32Array(n * cols);
  for (let m = 0; m < n; m++) {
    const row = y.subarray(m * cols, (m + 1) * cols);
    const x = xs.subarray(m * rows, (m + 1) * rows);
    if (q.format === 'int8') fusedRowInt8(q, x, row);
    else fusedRowInt4(q, x, row);
  }
  return y;
}

/** `y += x · values`, then `y *= scales`: four input rows per pass, so `y` is loaded and stored a quarter as often. */
function fusedRowInt8(q: QuantizedTensor, x: Float32Array, y: Float32Array): void {
  const [rows, cols] = q.shape;
  const values = q.values as Int8Array;
  let r = 0;
  for (; r + 4 <= rows; r += 4) {
    const x0 = x[r]!;
    const x1 = x[r + 1]!;
    const x2 = x[r + 2]!;
    const x3 = x[r + 3]!;
    const i0 = r * cols;
    const i1 = i0 + cols;
    const i2 = i1 + cols;
    const i3 = i2 + cols;
    for (let c = 0; c < cols; c++) {
      y[c] =
        y[c]! +
        x0 * values[i0 + c]! +
        x1 * values[i1 + c]! +
        x2 * values[i2 + c]! +
        x3 * values[i3 + c]!;
    }
  }
  for (; r < rows; r++) {
    const xr = x[r]!;
    const i = r * cols;
    for (let c = 0; c < cols; c++) y[c] = y[c]! + xr * values[i + c]!;
  }
  for (let c = 0; c < cols; c++) y[c] = y[c]! * q.scales[c]!;
}

/** `y += x · W` for int4: two columns per byte (even widths), the group's scales per row. */
function fusedRowInt4(q: QuantizedTensor, x: Float32Array, y: Float32Array): void {
  const [rows, cols] = q.shape;
  const { scales, groupSize } = q;
  const values = q.values as Uint8Array;
  const half = cols / 2;
  if (cols % 2 === 1) {
    // Odd widths: rows straddle bytes, so each element picks its nibble.
    for (let r = 0, i = 0; r < rows; r++) {
      const xr = x[r]!;
      const s = ((r / groupSize) | 0) * cols;
      for (let c = 0; c < cols; c++, i++) {
        const byte = values[i >> 1]!;
        const nibble = (i & 1) === 0 ? byte & 0x0f : byte >> 4;
        y[c] = y[c]! + xr * scales[s + c]! * (nibble - 8);
      }
    }
    return;
  }
  let r = 0;
  // Four rows of one group share their scales: y[c] += scale[c] · Σ x_r · w_rc.
  if (groupSize % 4 === 0) {
    for (; r + 4 <= rows; r += 4) {
      const x0 = x[r]!;
      const x1 = x[r + 1]!;
      const x2 = x[r + 2]!;
      const x3 = x[r + 3]!;
      const s = ((r / groupSize) | 0) * cols;
      const b0 = r * half;
      const b1 = b0 + half;
      const b2 = b1 + half;
      const b3 = b2 + half;
      for (let j = 0, c = 0; j < half; j++, c += 2) {
        const v0 = values[b0 + j]!;
        const v1 = values[b1 + j]!;
        const v2 = values[b2 + j]!;
        const v3 = values[b3 + j]!;
        const low =
          x0 * ((v0 & 0x0f) - 8) +
          x1 * ((v1 & 0x0f) - 8) +
          x2 * ((v2 & 0x0f) - 8) +
          x3 * ((v3 & 0x0f) - 8);
        const high =
          x0 * ((v0 >> 4) - 8) + x1 * ((v1 >> 4) - 8) + x2 * ((v2 >> 4) - 8) + x3 * ((v3 >> 4) - 8);
        y[c] = y[c]! + scales[s + c]! * low;
        y[c + 1] = y[c + 1]! + scales[s + c + 1]! * high;
      }
    }
  }
  for (let i = r * cols; r < rows; r++) {
    const xr = x[r]!;
    const s = ((r / groupSize) | 0) * cols;
    for (let c = 0; c < cols; c += 2, i += 2) {
      const byte = values[i >> 1]!;
      y[c] = y[c]! + xr * scales[s + c]! * ((byte & 0x0f) - 8);
      y[c + 1] = y[c + 1]! + xr * scales[s + c + 1]! * ((byte >> 4) - 8);
    }
  }
}

/** `dx = dy · Wᵀ` `[n, in]` from the quantized values (the backward of {@link fusedProduct}). */
function fusedProductTransposed(q: QuantizedTensor, dys: Float32Array, n: number): Float32Array {
  const [rows, cols] = q.shape;
  const { scales, groupSize } = q;
  const dx = new Float32Array(n * rows);
  const scaled = new Float32Array(cols);
  for (let m = 0; m < n; m++) {
    const o = m * cols;
    if (q.format === 'int8') {
      const values = q.values as Int8Array;
      for (let c = 0; c < cols; c++) scaled[c] = dys[o + c]! * scales[c]!;
      for (let r = 0, i = 0; r < rows; r++) {
        let sum = 0;
        for (let c = 0; c < cols; c++, i++) sum += scaled[c]! * values[i]!;
        dx[m * rows + r] = sum;
      }
    } else {
      const values = q.values as Uint8Array;
      for (let r = 0, i = 0; r < rows && cols % 2 === 1; r++) {
        // Odd widths: rows straddle bytes, so each element picks its nibble.
        const s = ((r / groupSize) | 0) * cols;
        let sum = 0;
        for (let c = 0; c < cols; c++, i++) {
          const byte = values[i >> 1]!;
          const nibble = (i & 1) === 0 ? byte & 0x0f : byte >> 4;
          sum += dys[o + c]! * scales[s + c]! * (nibble - 8);
        }
        dx[m * rows + r] = sum;
      }
      for (let r = 0, i = 0; r < rows && cols % 2 === 0; r++) {
        const s = ((r / groupSize) | 0) * cols;
        let sum = 0;
        for (let c = 0; c < cols; c += 2, i += 2) {
          const byte = values[i >> 1]!;
          sum +=
            dys[o + c]! * scales[s + c]! * ((byte & 0x0f) - 8) +
            dys[o + c + 1]! * scales[s + c + 1]! * ((byte >> 4) - 8);
        }
        dx[m * rows + r] = sum;
      }
    }
  }
  return dx;
}

/** Rows up to which the fused JS product beats dequantizing (cpu and wasm). */
const FUSED_MAX_ROWS = 4;

/** How {@link quantizedMatMul} runs a product of `n` rows on the current backend. */
function productPlan(n: number): 'fused' | 'transposed' | 'dequantized' {
  const backend = getBackend();
  const host = backend === 'wasm' || backend === 'cpu';
  if (host && n <= FUSED_MAX_ROWS) return 'fused';
  // wasm's XNNPACK packs (and caches) the right operand: a fresh kernel there
  // costs more to pack than to multiply, so the kernel goes on the left.
  return backend === 'wasm' ? 'transposed' : 'dequantized';
}

/**
 * `x · dequantize(q)` for a 2-D `x`: the float kernel, when one is made, is
 * freed right after the product and made again in the backward pass (for
 * `dx = dy · kernelᵀ`), so between calls, and between a forward and its
 * backward, only the quantized form is resident. No gradient is computed for
 * the kernel: it is frozen (a QLoRA base).
 *
 * How, by backend: on cpu and wasm a product of up to 4 rows (decoding)
 * reads the int8/int4 values directly: with WebAssembly SIMD kernels
 * (`quantized-simd.ts`, codes packed once per QuantizedTensor into the
 * kernel module's memory) where the engine has them — split over worker
 * threads for large kernels after `enableQuantizedThreads()` (tfjs-blocks/node);
 * they round each row of `x` to int16 codes first (`sx = max|x| / 32767`,
 * so each output within `(sx / 2) · Σ_r |W[r, c]|` of the float product) —
 * else in JS loops (float inputs); on wasm, longer inputs put the
 * dequantized kernel on XNNPACK's left operand (`(kernelᵀ · xᵀ)ᵀ`), which it
 * does not repack; elsewhere (webgl, webgpu) the kernel is dequantized and
 * uploaded for an ordinary product.
 */
export function quantizedMatMul(x: Tensor2D, q: QuantizedTensor): Tensor2D {
  return orientedQuantizedMatMul(x, q, false);
}

/**
 * `x · dequantize(q)ᵀ` `[n, rows]` for a 2-D `x` `[n, cols]`: the tied
 * output head over a quantized `[vocab, dModel]` token table. For a few rows
 * (decoding, cpu and wasm) each output is a dot product of `x` pre-scaled by
 * the column scales with one row of integer codes, so no float table is
 * made: with the WebAssembly SIMD kernels (`quantized-simd.ts`; int8 rounds
 * `x ⊙ scales` to int16 codes first, within `max|x ⊙ scales| / 65534` per
 * term) where the engine has them, else in JS loops (float inputs); for more
 * rows the table is dequantized inside the custom gradient and
 * freed after the product (and again in the backward pass). The gradient
 * w.r.t. `x` is `dy · dequantize(q)`; none is computed for the table (frozen).
 */
export function quantizedMatMulTransposed(x: Tensor2D, q: QuantizedTensor): Tensor2D {
  return orientedQuantizedMatMul(x, q, true);
}

/**
 * `x · W` or (`transposed`) `x · Wᵀ`, `W = dequantize(q)`: each orientation's
 * gradient w.r.t. `x` is the other orientation's product with `dy`, so one
 * custom gradient serves both (none is computed for the frozen `q`).
 */
function orientedQuantizedMatMul(x: Tensor2D, q: QuantizedTensor, transposed: boolean): Tensor2D {
  const product = customGradient<[Tensor2D]>(([input]) => ({
    value: orientedProduct(q, input, transposed, true),
    // The backward's few-row products stay on the JS loops (sums in float64),
    // so the gradient stays as close to the float kernel's as before the SIMD forward.
    gradFunc: (dy) => orientedProduct(q, dy as Tensor2D, !transposed, false),
  }));
  return product(x) as Tensor2D;
}

/** One product of {@link orientedQuantizedMatMul}, by the backend's plan for its row count. */
function orientedProduct(
  q: QuantizedTensor,
  x: Tensor2D,
  transposed: boolean,
  simd: boolean,
): Tensor {
  const n = x.shape[0];
  const [rows, cols] = q.shape;
  const plan = productPlan(n);
  if (plan === 'fused') {
    const xs = x.dataSync() as Float32Array;
    const y = transposed
      ? ((simd ? quantizedSimdProductTransposed(q, xs, n) : null) ??
        fusedProductTransposed(q, xs, n))
      : ((simd ? quantizedSimdProduct(q, xs, n) : null) ?? fusedProduct(q, xs, n));
    return tensor(y, [n, transposed ? rows : cols]);
  }
  if (plan === 'transposed') {
    // (W · xᵀ)ᵀ or (Wᵀ · xᵀ)ᵀ: a fresh row-major matrix on XNNPACK's left operand, which it does not repack.
    const left = transposed ? dequantizeKernel(q) : dequantizeKernelTransposed(q);
    return transpose(matMul(left, transpose(x)));
  }
  // An untransposed right operand keeps wasm on its fast 2-D path.
  return matMul(x, transposed ? dequantizeKernelTransposed(q) : dequantizeKernel(q));
}

/**
 * Rows `ids` of `dequantize(q)` as a float32 `[ids.length, cols]` array,
 * read from the codes and scales directly (an embedding lookup in a
 * quantized table: only the gathered rows are dequantized). `ids` must be in
 * `[0, rows)`.
 */
export function dequantizeRows(q: QuantizedTensor, ids: ArrayLike<number>): Float32Array {
  const cols = q.shape[1];
  const { scales, groupSize } = q;
  const out = new Float32Array(ids.length * cols);
  for (let m = 0; m < ids.length; m++) {
    const r = ids[m]!;
    const o = m * cols;
    const base = r * cols;
    if (q.format === 'int8') {
      const values = q.values as Int8Array;
      for (let c = 0; c < cols; c++) out[o + c] = values[base + c]! * scales[c]!;
    } else {
      const values = q.values as Uint8Array;
      const s = ((r / groupSize) | 0) * cols;
      for (let c = 0, i = base; c < cols; c++, i++) {
        const byte = values[i >> 1]!;
        out[o + c] = (((i & 1) === 0 ? byte & 0x0f : byte >> 4) - 8) * scales[s + c]!;
      }
    }
  }
  return out;
}
