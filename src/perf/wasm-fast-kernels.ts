import {
  _FusedMatMul,
  BatchMatMul,
  broadcast_util,
  type DataId,
  getKernel,
  Identity,
  type KernelConfig,
  type KernelFunc,
  registerKernel,
  Slice,
  Sum,
  slice_util,
  type TensorInfo,
  Transpose,
  unregisterKernel,
  util,
} from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from '../errors';
import { checkOptionKeys, describeValue, optionKeys } from '../internal/checks';
import { FLOAT_SIMD_MAX_ROWS, floatSimdKernels } from './float-simd';

/*
 * Why: the wasm backend's matMul reaches XNNPACK's fast (packed, SIMD)
 * fully-connected path only for `transposeA = transposeB = false` and a
 * batch of 1 (tfjs-backend-wasm's batch_mat_mul_impl.cc); every other
 * matMul (all matMul gradients, batched attention products) runs a plain
 * loop some 10-20x slower. The replacement kernels below keep every
 * float32 matMul on the fast path: explicit transposes instead of the
 * flags, and one XNNPACK call per batch slice on zero-copy views of the
 * operands and of the output.
 */

/** The parts of tfjs-backend-wasm's `BackendWasm` these kernels use (internal, stable across 4.x). */
type WasmBackend = {
  wasm: {
    HEAPU8: Uint8Array;
    /** The module's exports; `memory` is the heap's `WebAssembly.Memory` (single-threaded builds, which export it). */
    asm?: { memory?: unknown };
    /** The heap's memory where the module imports it (the threaded build's shared memory). */
    wasmMemory?: unknown;
    cwrap: (name: string, ret: null, argTypes: string[]) => (...args: unknown[]) => void;
    tfjs: {
      registerTensor(id: number, size: number, memoryOffset: number): void;
      disposeData(id: number): void;
    };
  };
  dataIdMap: { get(dataId: DataId): { id: number; memoryOffset: number } };
  dataIdNextNumber: number;
  makeOutput(shape: number[], dtype: string): TensorInfo;
  disposeData(dataId: DataId, force?: boolean): boolean;
  incRef(dataId: DataId): void;
};

type WasmFns = {
  batchMatMul: (...args: unknown[]) => void;
  fusedMatMul: (...args: unknown[]) => void;
};

const KERNELS = [BatchMatMul, _FusedMatMul, Slice, Sum, Identity] as const;
const BACKEND = 'wasm';
let saved: Map<string, KernelConfig> | undefined;
const wasmFns = new WeakMap<object, WasmFns>();

function fnsOf(backend: WasmBackend): WasmFns {
  let fns = wasmFns.get(backend);
  if (!fns) {
    // The same C entry points (and argument lists) the stock kernels bind:
    // (aId, aShape, aRank, bId, bShape, bRank, transposeA, transposeB, …, outId).
    const operands = ['number', 'array', 'number', 'number', 'array', 'number', 'number', 'number'];
    fns = {
      batchMatMul: backend.wasm.cwrap(BatchMatMul, null, [...operands, 'number']),
      // … activation, biasId, preluActivationWeightsId, leakyreluAlpha, outId.
      fusedMatMul: backend.wasm.cwrap(_FusedMatMul, null, [
        ...operands,
        'number',
        'number',
        'number',
        'number',
        'number',
      ]),
    };
    wasmFns.set(backend, fns);
  }
  return fns;
}

const shapeBytes = (shape: number[]) => new Uint8Array(new Int32Array(shape).buffer);

/** Registers a float32 view of `size` elements at byte `offset` in the wasm tensor table; returns its id. */
function view(backend: WasmBackend, offset: number, size: number): number {
  const id = backend.dataIdNextNumber++;
  backend.wasm.tfjs.registerTensor(id, size, offset);
  return id;
}

/** `x` (seen as `[batch, rows, cols]`) transposed to `[batch, cols, rows]`, by the stock Transpose kernel. */
function transposeLast2(
  backend: WasmBackend,
  x: TensorInfo,
  batch: number,
  rows: number,
  cols: number,
): TensorInfo {
  const transpose = getKernel(Transpose, BACKEND)!.kernelFunc;
  return transpose({
    inputs: { x: { dataId: x.dataId, shape: [batch, rows, cols], dtype: x.dtype } },
    backend: backend as never,
    attrs: { perm: [0, 2, 1] },
  }) as TensorInfo;
}

type Plan = {
  outShape: number[];
  batchA: number;
  batchB: number;
  m: number;
  k: number;
  n: number;
  /** For each output batch slice, the slice of `a` and of `b` it reads. */
  pairs: Array<[number, number]>;
};

/** Shapes and broadcast slice pairs of a matMul, or undefined when it is not a case handled here. */
function plan(a: TensorInfo, b: TensorInfo, transposeA: boolean, transposeB: boolean): Plan | null {
  if (a.dtype !== 'float32' || b.dtype !== 'float32') return null;
  const ra = a.shape.length;
  const rb = b.shape.length;
  if (ra < 2 || rb < 2) return null;
  const m = transposeA ? a.shape[ra - 1]! : a.shape[ra - 2]!;
  const k = transposeA ? a.shape[ra - 2]! : a.shape[ra - 1]!;
  const kb = transposeB ? b.shape[rb - 1]! : b.shape[rb - 2]!;
  const n = transposeB ? b.shape[rb - 2]! : b.shape[rb - 1]!;
  if (k !== kb || m === 0 || n === 0 || k === 0) return null;
  const outerA = a.shape.slice(0, -2);
  const outerB = b.shape.slice(0, -2);
  let outer: number[];
  try {
    outer = broadcast_util.assertAndGetBroadcastShape(outerA, outerB);
  } catch {
    return null;
  }
  const batchA = util.sizeFromShape(outerA);
  const batchB = util.sizeFromShape(outerB);
  const batchOut = util.sizeFromShape(outer);
  const pairs: Array<[number, number]> = [];
  if (batchA === batchOut && batchB === batchOut && sameShape(outerA, outerB)) {
    for (let i = 0; i < batchOut; i++) pairs.push([i, i]);
  } else {
    // General broadcasting: map each output batch index to each operand's index.
    const stridesOut = util.computeStrides(outer);
    const index = (dims: number[], coords: number[]) => {
      const offset = outer.length - dims.length;
      let flat = 0;
      for (let d = 0; d < dims.length; d++) {
        const c = dims[d] === 1 ? 0 : coords[d + offset]!;
        flat = flat * dims[d]! + c;
      }
      return flat;
    };
    for (let i = 0; i < batchOut; i++) {
      const coords: number[] = [];
      let rest = i;
      for (const s of stridesOut) {
        coords.push(Math.floor(rest / s));
        rest %= s;
      }
      coords.push(rest);
      const full = outer.length === 0 ? [] : coords.slice(0, outer.length);
      pairs.push([index(outerA, full), index(outerB, full)]);
    }
  }
  return { outShape: [...outer, m, n], batchA, batchB, m, k, n, pairs };
}

function sameShape(x: number[], y: number[]): boolean {
  return x.length === y.length && x.every((d, i) => d === y[i]);
}

/** Already on XNNPACK's fast path as it stands. */
function alreadyFast(a: TensorInfo, b: TensorInfo, transposeA: boolean, transposeB: boolean) {
  return (
    !transposeA &&
    !transposeB &&
    util.sizeFromShape(a.shape.slice(0, -2)) === 1 &&
    util.sizeFromShape(b.shape.slice(0, -2)) === 1
  );
}

/**
 * A product with a different `b` per slice and very few rows of `a` (one
 * decoding step's attention: one query per head) costs XNNPACK as much to
 * pack `b` as to multiply, and the explicit transpose copies `b` once more:
 * the stock loop, which reads `b` once in place, is faster there.
 */
function rowByRow(p: Plan): boolean {
  return p.m === 1 && p.batchB > 1;
}

/**
 * Runs the product of `plan` with both operands laid out untransposed
 * (`a` as `[batchA, m, k]`, `b` as `[batchB, k, n]`), one XNNPACK call per
 * output slice (or one call in all when `b` is shared and `a` is not
 * broadcast: `[batchA·m, k] · [k, n]`). `call(aId, aShape, bId, bShape, outId)`
 * runs one batch-1 product.
 */
function runSlices(
  backend: WasmBackend,
  p: Plan,
  a: DataId,
  b: DataId,
  out: DataId,
  call: (aId: number, aShape: Uint8Array, bId: number, bShape: Uint8Array, outId: number) => void,
): void {
  const aMem = backend.dataIdMap.get(a).memoryOffset;
  const bMem = backend.dataIdMap.get(b).memoryOffset;
  const outMem = backend.dataIdMap.get(out).memoryOffset;
  const { m, k, n, pairs } = p;
  const ids: number[] = [];
  try {
    const foldable = p.batchB === 1 && pairs.every(([ia], i) => ia === i);
    if (foldable) {
      const rows = pairs.length * m;
      const aId = view(backend, aMem, rows * k);
      ids.push(aId);
      const bId = view(backend, bMem, k * n);
      ids.push(bId);
      const outId = view(backend, outMem, rows * n);
      ids.push(outId);
      call(aId, shapeBytes([1, rows, k]), bId, shapeBytes([1, k, n]), outId);
      return;
    }
    const aShape = shapeBytes([1, m, k]);
    const bShape = shapeBytes([1, k, n]);
    // One view per distinct slice of b: XNNPACK caches the packed weights by tensor id.
    const bViews = new Map<number, number>();
    for (let i = 0; i < pairs.length; i++) {
      const [ia, ib] = pairs[i]!;
      const aId = view(backend, aMem + ia * m * k * 4, m * k);
      ids.push(aId);
      let bId = bViews.get(ib);
      if (bId === undefined) {
        bId = view(backend, bMem + ib * k * n * 4, k * n);
        ids.push(bId);
        bViews.set(ib, bId);
      }
      const outId = view(backend, outMem + i * m * n * 4, m * n);
      ids.push(outId);
      call(aId, aShape, bId, bShape, outId);
    }
  } finally {
    // Unregisters the views (and, through XNNPACK's disposal callbacks, the
    // operators cached on them); the memory stays the operands'.
    for (const id of ids) backend.wasm.tfjs.disposeData(id);
  }
}

/** Untransposed operands for `p`, with the temporaries to free afterwards. */
function untransposed(
  backend: WasmBackend,
  p: Plan,
  a: TensorInfo,
  b: TensorInfo,
  transposeA: boolean,
  transposeB: boolean,
): { a: DataId; b: DataId; temps: DataId[] } {
  const temps: DataId[] = [];
  let aId = a.dataId;
  let bId = b.dataId;
  if (transposeA) {
    aId = transposeLast2(backend, a, p.batchA, p.k, p.m).dataId;
    temps.push(aId);
  }
  if (transposeB) {
    bId = transposeLast2(backend, b, p.batchB, p.n, p.k).dataId;
    temps.push(bId);
  }
  return { a: aId, b: bId, temps };
}

function fastBatchMatMul(args: Parameters<KernelFunc>[0]): TensorInfo {
  const backend = args.backend as unknown as WasmBackend;
  const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
  const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
  const original = saved!.get(BatchMatMul)!.kernelFunc;
  const p = plan(a, b, transposeA, transposeB);
  if (!p) return original(args) as TensorInfo;
  const few = fewRowsProduct(backend, p, a, b, transposeA, transposeB);
  if (few) return few;
  const fast = alreadyFast(a, b, transposeA, transposeB);
  if ((fast && !packPerCall(p)) || rowByRow(p)) return original(args) as TensorInfo;
  const { batchMatMul } = fnsOf(backend);
  if (fewRowsTimesWideTransposed(p, transposeA, transposeB)) {
    return swappedProduct(backend, p, a, b, batchMatMul);
  }
  const ops = untransposed(backend, p, a, b, transposeA, transposeB);
  const out = backend.makeOutput(p.outShape, 'float32');
  try {
    runSlices(backend, p, ops.a, ops.b, out.dataId, (aId, aShape, bId, bShape, outId) =>
      batchMatMul(aId, aShape, 3, bId, bShape, 3, false, false, outId),
    );
  } finally {
    for (const t of ops.temps) backend.disposeData(t);
  }
  return out;
}

/**
 * `x · Bᵀ` with fewer rows of `x` than of a wide stored `B` `[n, k]`: the
 * tied output head (`[t, d] × [vocab, d]ᵀ`). Transposing `B` for XNNPACK
 * copies (and packs) all of it on every call, ~10× the product's own time at
 * GPT-2 small's 154 MB head, and a prefill's two 154 MB temporaries stay in
 * the wasm heap's high-water mark for good; {@link swappedProduct} reads `B`
 * in place and copies only `x` and the `[t, vocab]` result.
 */
function fewRowsTimesWideTransposed(p: Plan, transposeA: boolean, transposeB: boolean): boolean {
  return (
    transposeB && !transposeA && p.pairs.length === 1 && p.batchB === 1 && p.m <= p.n && p.n >= 256
  );
}

/**
 * `(B · xᵀ)ᵀ`: `B` `[n, k]` is XNNPACK's row-major input as stored (nothing
 * copied or packed but the `k × m` operand `xᵀ`), then the `[n, m]` result
 * is transposed back. With one row neither transpose moves data: `[1, k]`
 * is `[k, 1]`, and `[n, 1]` is `[1, n]`.
 */
function swappedProduct(
  backend: WasmBackend,
  p: Plan,
  a: TensorInfo,
  b: TensorInfo,
  batchMatMul: WasmFns['batchMatMul'],
): TensorInfo {
  const { m, k, n } = p;
  const temps: DataId[] = [];
  const ids: number[] = [];
  const offset = (dataId: DataId) => backend.dataIdMap.get(dataId).memoryOffset;
  try {
    const xT = m === 1 ? a.dataId : transposeLast2(backend, a, 1, m, k).dataId;
    if (m > 1) temps.push(xT);
    const product = backend.makeOutput(m === 1 ? p.outShape : [n, m], 'float32');
    // Freed in `finally` unless it is returned.
    temps.push(product.dataId);
    for (const [memory, size] of [
      [offset(b.dataId), n * k],
      [offset(xT), k * m],
      [offset(product.dataId), n * m],
    ] as const) {
      ids.push(view(backend, memory, size));
    }
    const [bId, xId, productId] = ids as [number, number, number];
    batchMatMul(
      bId,
      shapeBytes([1, n, k]),
      3,
      xId,
      shapeBytes([1, k, m]),
      3,
      false,
      false,
      productId,
    );
    if (m === 1) {
      temps.pop();
      return product;
    }
    const back = transposeLast2(backend, product, 1, n, m);
    return { ...back, shape: p.outShape };
  } finally {
    for (const id of ids) backend.wasm.tfjs.disposeData(id);
    for (const t of temps) backend.disposeData(t);
  }
}

/**
 * Rows of `a` from which a batch-1 product already on XNNPACK's path runs on
 * temporary views (packing `b` for this call only) rather than on the
 * tensors themselves: XNNPACK caches its operator, with a packed copy of
 * `b`, per tensor id for the tensor's lifetime, which doubles the resident
 * weights of a model. Below it (and above the float kernels' rows, where
 * the SIMD module is unavailable) packing would cost as much as the product.
 */
const PACK_PER_CALL_FROM_ROWS = 16;
let packPerCallFromRows = PACK_PER_CALL_FROM_ROWS;

function packPerCall(p: Plan): boolean {
  return p.pairs.length * p.m >= packPerCallFromRows;
}

/**
 * Sets the rows of `a` from which batch-1 products pack their weights per
 * call instead of keeping XNNPACK's packed copy (`Infinity`: never, the
 * stock behaviour); returns the previous setting. For benchmarks and tests.
 */
export function setPackPerCallFromRows(rows: number): number {
  const previous = packPerCallFromRows;
  packPerCallFromRows = rows;
  return previous;
}

/** Columns per `rows` kernel call: the m output rows of a tile (≤ 16 KB) stay in L1. */
const FLOAT_TILE = 1024;

type Epilogue = { bias?: TensorInfo; activation: string; alpha: number };

/**
 * A float32 product with at most {@link FLOAT_SIMD_MAX_ROWS} rows of `a`
 * and one `b` (decoding), by the SIMD kernels of `float-simd.ts` reading
 * both operands in place: `b` untransposed streams row by row, `b`
 * transposed (the tied head) as dot products over its rows. XNNPACK is not
 * involved, so no packed copy of `b` is made or kept. `null` where the
 * case or the engine does not fit (the caller takes the other paths).
 */
function fewRowsProduct(
  backend: WasmBackend,
  p: Plan,
  a: TensorInfo,
  b: TensorInfo,
  transposeA: boolean,
  transposeB: boolean,
  epilogue?: Epilogue,
): TensorInfo | null {
  const rows = p.pairs.length * p.m;
  const foldable = p.batchB === 1 && p.pairs.every(([ia], i) => ia === i);
  if (!foldable || rows > FLOAT_SIMD_MAX_ROWS || (transposeA && p.m > 1)) return null;
  const kernels = floatSimdKernels(backend.wasm.asm?.memory ?? backend.wasm.wasmMemory);
  if (kernels === null) return null;
  const { k, n } = p;
  const out = backend.makeOutput(p.outShape, 'float32');
  // Offsets after makeOutput; views of the heap made after it too (it may have grown).
  const offset = (dataId: DataId) => backend.dataIdMap.get(dataId).memoryOffset;
  const [aMem, bMem, outMem] = [offset(a.dataId), offset(b.dataId), offset(out.dataId)];
  const y = new Float32Array(backend.wasm.HEAPU8.buffer, outMem, rows * n);
  if (transposeB) {
    kernels.dots[rows - 1]!(aMem, bMem, outMem, k, n, n * 4);
  } else {
    // The kernel accumulates into y, one tile of columns at a time.
    y.fill(0);
    const rowsKernel = kernels.rows[rows - 1]!;
    for (let c0 = 0; c0 < n; c0 += FLOAT_TILE) {
      const width = Math.min(FLOAT_TILE, n - c0);
      rowsKernel(aMem, bMem + 4 * c0, outMem + 4 * c0, k, width, n * 4);
    }
  }
  if (epilogue) {
    const bias =
      epilogue.bias === undefined
        ? undefined
        : new Float32Array(backend.wasm.HEAPU8.buffer, offset(epilogue.bias.dataId), n);
    applyEpilogue(y, n, bias, epilogue.activation, epilogue.alpha);
  }
  return out;
}

/** Bias and activation of a fused product, in place, as `_FusedMatMul` defines them. */
function applyEpilogue(
  y: Float32Array,
  n: number,
  bias: Float32Array | undefined,
  activation: string,
  alpha: number,
): void {
  if (bias !== undefined) {
    for (let i = 0; i < y.length; i += n) {
      for (let j = 0; j < n; j++) y[i + j]! += bias[j]!;
    }
  }
  const f = ACTIVATIONS[activation];
  if (f === undefined) return;
  for (let i = 0; i < y.length; i++) y[i] = f(y[i]!, alpha);
}

const ACTIVATIONS: Record<string, ((v: number, alpha: number) => number) | undefined> = {
  linear: undefined,
  relu: (v) => Math.max(v, 0),
  relu6: (v) => Math.min(Math.max(v, 0), 6),
  leakyrelu: (v, alpha) => (v < 0 ? alpha * v : v),
  sigmoid: (v) => 1 / (1 + Math.exp(-v)),
  elu: (v) => (v < 0 ? Math.expm1(v) : v),
};

const FUSABLE = new Set(['linear', 'relu', 'relu6', 'leakyrelu', 'sigmoid', 'elu']);
const ACTIVATION_CODE: Record<string, number> = {
  linear: 0,
  relu: 1,
  relu6: 2,
  prelu: 3,
  leakyrelu: 4,
  sigmoid: 5,
  elu: 6,
};

function fastFusedMatMul(args: Parameters<KernelFunc>[0]): TensorInfo {
  const backend = args.backend as unknown as WasmBackend;
  const { a, b, bias, preluActivationWeights } = args.inputs as {
    a: TensorInfo;
    b: TensorInfo;
    bias?: TensorInfo;
    preluActivationWeights?: TensorInfo;
  };
  const attrs = args.attrs as {
    transposeA: boolean;
    transposeB: boolean;
    activation: string;
    leakyreluAlpha?: number;
  };
  const { transposeA, transposeB, activation } = attrs;
  const original = saved!.get(_FusedMatMul)!.kernelFunc;
  const p = plan(a, b, transposeA, transposeB);
  const simple =
    p !== null &&
    preluActivationWeights == null &&
    FUSABLE.has(activation) &&
    (bias == null || (bias.shape.length === 1 && bias.shape[0] === p.n));
  if (!simple) return original(args) as TensorInfo;
  const few = fewRowsProduct(backend, p, a, b, transposeA, transposeB, {
    bias,
    activation,
    alpha: attrs.leakyreluAlpha ?? 0,
  });
  if (few) return few;
  if (alreadyFast(a, b, transposeA, transposeB) && !packPerCall(p)) {
    return original(args) as TensorInfo;
  }
  const { fusedMatMul } = fnsOf(backend);
  const biasId = bias == null ? 0 : backend.dataIdMap.get(bias.dataId).id;
  const ops = untransposed(backend, p, a, b, transposeA, transposeB);
  const out = backend.makeOutput(p.outShape, 'float32');
  try {
    runSlices(backend, p, ops.a, ops.b, out.dataId, (aId, aShape, bId, bShape, outId) =>
      fusedMatMul(
        aId,
        aShape,
        3,
        bId,
        bShape,
        3,
        false,
        false,
        ACTIVATION_CODE[activation],
        biasId,
        0,
        attrs.leakyreluAlpha ?? 0,
        outId,
      ),
    );
  } finally {
    for (const t of ops.temps) backend.disposeData(t);
  }
  return out;
}

/**
 * Slice by block copies inside the wasm heap. The stock kernel copies the
 * whole input out of the heap (`readSync`) and then copies row by row, which
 * makes reading the first `t` steps of a key/value cache cost O(capacity)
 * plus a JS call per row.
 */
function fastSlice(args: Parameters<KernelFunc>[0]): TensorInfo {
  const backend = args.backend as unknown as WasmBackend;
  const { x } = args.inputs as { x: TensorInfo };
  const { begin, size } = args.attrs as { begin: number | number[]; size?: number | number[] };
  if (x.dtype === 'string') return saved!.get(Slice)!.kernelFunc(args) as TensorInfo;
  const [b, s] = slice_util.parseSliceParams(x as never, begin, size) as [number[], number[]];
  const out = backend.makeOutput(s, x.dtype);
  const total = util.sizeFromShape(s);
  if (total === 0) return out;
  const shape = x.shape;
  const bytes = util.bytesPerElement(x.dtype);
  // Trailing axes taken whole merge into one contiguous block per outer index.
  let d = shape.length - 1;
  let inner = 1;
  while (d >= 0 && b[d] === 0 && s[d] === shape[d]) {
    inner *= shape[d]!;
    d--;
  }
  const heap = backend.wasm.HEAPU8; // read after makeOutput: malloc may grow the heap
  const xMem = backend.dataIdMap.get(x.dataId).memoryOffset;
  const outMem = backend.dataIdMap.get(out.dataId).memoryOffset;
  if (d < 0) {
    heap.copyWithin(outMem, xMem, xMem + total * bytes);
    return out;
  }
  const strides = [...util.computeStrides(shape), 1];
  const blockBytes = s[d]! * inner * bytes;
  const base = b[d]! * strides[d]!;
  const outer = s.slice(0, d);
  const count = util.sizeFromShape(outer);
  const index = new Array<number>(d).fill(0);
  for (let o = 0; o < count; o++) {
    let src = base;
    for (let i = 0; i < d; i++) src += (b[i]! + index[i]!) * strides[i]!;
    const from = xMem + src * bytes;
    heap.copyWithin(outMem + o * blockBytes, from, from + blockBytes);
    for (let i = d - 1; i >= 0; i--) {
      if (++index[i]! < outer[i]!) break;
      index[i] = 0;
    }
  }
  return out;
}

/**
 * A float32 sum over leading axes (`[rows, ...rest]` summed over the rows:
 * every bias, LayerNorm and broadcast gradient) as one pass down the rows
 * in the heap, accumulated in float64. The stock kernel transposes the
 * reduced axes innermost first and runs 5-10x slower on such shapes; other
 * reductions go to it.
 */
function fastSum(args: Parameters<KernelFunc>[0]): TensorInfo {
  const backend = args.backend as unknown as WasmBackend;
  const { x } = args.inputs as { x: TensorInfo };
  const { axis, keepDims } = args.attrs as { axis: number | number[]; keepDims: boolean };
  const shape = x.shape;
  const axes = [...new Set(util.parseAxisParam(axis, shape))].sort((i, j) => i - j);
  const lead = axes.length;
  const leading = lead > 0 && lead < shape.length && axes.every((a, i) => a === i);
  if (x.dtype !== 'float32' || !leading) return saved!.get(Sum)!.kernelFunc(args) as TensorInfo;
  const rows = util.sizeFromShape(shape.slice(0, lead));
  const cols = util.sizeFromShape(shape.slice(lead));
  const outShape = keepDims
    ? [...new Array<number>(lead).fill(1), ...shape.slice(lead)]
    : shape.slice(lead);
  const out = backend.makeOutput(outShape, 'float32');
  if (cols === 0) return out;
  // Views made after makeOutput: malloc may grow (and so replace) the heap.
  const buffer = backend.wasm.HEAPU8.buffer;
  const xs = new Float32Array(buffer, backend.dataIdMap.get(x.dataId).memoryOffset, rows * cols);
  const acc = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    const offset = r * cols;
    for (let c = 0; c < cols; c++) acc[c]! += xs[offset + c]!;
  }
  new Float32Array(buffer, backend.dataIdMap.get(out.dataId).memoryOffset, cols).set(acc);
  return out;
}

/**
 * A copy that shares the input's memory, counted by reference as the wasm
 * backend's own `Reshape` does (tensor data is immutable). tfjs clones every
 * tensor a kernel saves for its gradient through `Identity`, which the stock
 * kernel copies: some 260 copies per training step of a small GPT.
 */
function sharedIdentity(args: Parameters<KernelFunc>[0]): TensorInfo {
  const backend = args.backend as unknown as WasmBackend;
  const { x } = args.inputs as { x: TensorInfo };
  if (x.dtype === 'string') return saved!.get(Identity)!.kernelFunc(args) as TensorInfo;
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

/** Options of {@link enableWasmFastKernels}. */
export type WasmFastKernelsOptions = {
  /**
   * How products of 16 rows or more that run on XNNPACK (prefill, training)
   * hold their packed weights. `'per-call'` (default): packed for each call
   * on temporary views and freed after it, so a model's weights are resident
   * once (GPT-2 small after decoding and a prefill: 1.7× the weight bytes in
   * RSS instead of 2.8×); a 256-token GPT-2 small prefill costs 1.1–1.3×
   * the time. `'cached'`: XNNPACK keeps a packed copy per weight tensor for
   * the tensor's lifetime (tfjs's behaviour: faster prefill, twice the
   * resident weights once any such product has run).
   */
  packedWeights?: 'per-call' | 'cached';
};

const WASM_FAST_KERNELS_OPTION_KEYS = optionKeys<WasmFastKernelsOptions>({ packedWeights: true });

/**
 * Opt-in faster kernels for the **wasm** backend: replaces its
 * `BatchMatMul`, `_FusedMatMul`, `Slice`, `Sum` and `Identity` kernels.
 *
 * - matMul: tfjs-backend-wasm 4.x uses XNNPACK only for an untransposed
 *   product with a batch of 1; transposed products (every matMul gradient)
 *   and batched ones (attention) run a scalar loop 10-20x slower. The
 *   replacements transpose explicitly and run one XNNPACK product per batch
 *   slice on views of the operands (no copies), folding
 *   `[batch, m, k] · [k, n]` into one product. Batch broadcasting is
 *   supported, and fused products add their bias correctly off the fast
 *   path (the stock kernels get both wrong for some shapes). Other dtypes,
 *   empty shapes and PReLU-fused products go to the stock kernels. Results
 *   equal the stock kernels' within float32 rounding (sums are taken in a
 *   different order). Batched products with one row per slice (a
 *   decoding step's attention) stay on the stock kernel, which reads the
 *   keys in place: packing them for XNNPACK costs as much as the product.
 * - few-row float32 products (decoding): up to 4 rows of `a` times one `b`
 *   run on WebAssembly SIMD kernels of this library that read the backend's
 *   heap in place (`b` as stored, or transposed: the tied output head), so
 *   no packed copy of a weight is made or kept; where WebAssembly SIMD is
 *   missing, XNNPACK as before. Products of 16 rows or more that XNNPACK
 *   runs pack their weights per call on temporary views instead of keeping
 *   a packed copy per weight tensor for its lifetime (which doubled a
 *   model's resident weights).
 * - slice: block copies inside the wasm heap instead of copying the whole
 *   input out to JavaScript and back row by row (what made cached decoding
 *   slow down with the context).
 * - sum over leading axes (bias, LayerNorm and broadcast gradients): one
 *   pass down the rows, accumulated in float64, where the stock kernel
 *   transposes first; other reductions and dtypes go to the stock kernel.
 * - identity (`tf.clone`, and every tensor saved for a gradient): shares
 *   the input's memory by reference count instead of copying it.
 *
 * **This changes global tfjs state**: the kernel registry is shared by
 * every user of tfjs in the process (and by other copies of this library).
 * Call {@link disableWasmFastKernels} to put the stock kernels back. It
 * relies on internals of tfjs-backend-wasm 4.x (its tensor table, heap and
 * C entry points) and has no effect on other backends.
 *
 * @param options `packedWeights` (default `'per-call'`); applied on every
 *   call, also when the kernels are already in place.
 * @returns `true` if the kernels were replaced now, `false` if they already were.
 * @throws TfjsBlocksError when the wasm backend's kernels are not registered
 *   (import `@tensorflow/tfjs-backend-wasm` first), or for a bad option.
 * @example
 * ```ts
 * import '@tensorflow/tfjs-backend-wasm';
 * import { disableWasmFastKernels, enableWasmFastKernels, useBackend } from 'tfjs-blocks';
 * await useBackend('wasm');
 * enableWasmFastKernels(); // training steps run ~3x faster
 * enableWasmFastKernels({ packedWeights: 'cached' }); // faster prefill, more memory
 * // ...
 * disableWasmFastKernels();
 * ```
 */
export function enableWasmFastKernels(options?: WasmFastKernelsOptions): boolean {
  checkOptionKeys('enableWasmFastKernels', options, WASM_FAST_KERNELS_OPTION_KEYS);
  const packing = options?.packedWeights ?? 'per-call';
  if (packing !== 'per-call' && packing !== 'cached') {
    throw new TfjsBlocksError(
      'enableWasmFastKernels',
      'options.packedWeights',
      "'per-call' or 'cached'",
      describeValue(packing),
    );
  }
  packPerCallFromRows = packing === 'cached' ? Number.POSITIVE_INFINITY : PACK_PER_CALL_FROM_ROWS;
  if (saved) return false;
  const originals = new Map<string, KernelConfig>();
  for (const name of KERNELS) {
    const config = getKernel(name, BACKEND);
    if (!config) {
      throw new TfjsBlocksError(
        'enableWasmFastKernels',
        'the wasm backend',
        "registered (import '@tensorflow/tfjs-backend-wasm' before calling)",
        `no '${name}' kernel for 'wasm'`,
      );
    }
    originals.set(name, config);
  }
  saved = originals;
  const replacements: Record<string, KernelFunc> = {
    [BatchMatMul]: fastBatchMatMul as KernelFunc,
    [_FusedMatMul]: fastFusedMatMul as KernelFunc,
    [Slice]: fastSlice as KernelFunc,
    [Sum]: fastSum as KernelFunc,
    [Identity]: sharedIdentity as KernelFunc,
  };
  for (const name of KERNELS) {
    const original = originals.get(name)!;
    unregisterKernel(name, BACKEND);
    registerKernel({ ...original, kernelFunc: replacements[name]! });
  }
  return true;
}

/**
 * Puts back the wasm backend's stock `BatchMatMul`, `_FusedMatMul`, `Slice`,
 * `Sum` and `Identity` kernels replaced by {@link enableWasmFastKernels}.
 *
 * @returns `true` if they were restored now, `false` if they were not replaced.
 * @example
 * ```ts
 * disableWasmFastKernels();
 * ```
 */
export function disableWasmFastKernels(): boolean {
  if (!saved) return false;
  for (const name of KERNELS) {
    if (getKernel(name, BACKEND)) unregisterKernel(name, BACKEND);
    registerKernel(saved.get(name)!);
  }
  saved = undefined;
  packPerCallFromRows = PACK_PER_CALL_FROM_ROWS;
  return true;
}

/**
 * Whether {@link enableWasmFastKernels}'s kernels are in place.
 *
 * @example
 * ```ts
 * if (!isWasmFastKernelsEnabled()) enableWasmFastKernels();
 * ```
 */
export function isWasmFastKernelsEnabled(): boolean {
  return saved !== undefined;
}
