// Writes src/nn/quantized-simd-module.ts: the bytes (base64) of a small
// WebAssembly module with 128-bit SIMD matrix-vector kernels for int8 and
// int4 weights, assembled here by hand because no wasm toolchain (wabt,
// assemblyscript, emscripten) is a dependency of this repository.
// Run: npx tsx scripts/quantized-simd-wasm.ts
//
// The kernels work on a padded layout that src/nn/quantized-simd.ts packs
// once per QuantizedTensor, so they have no tail loops:
//
//   int8(x, w, y, blocks, width, stride)
//     rows padded to 4 · blocks, columns to colsP (a multiple of 16);
//     w: int8 [4 · blocks, stride] row-major; x: f32 [4 · blocks];
//     y: f32 [width], accumulated into (y += x · w[:, 0:width]; the caller
//     zeroes y and applies the column scales). `width` (a multiple of 16)
//     lets the caller run one column tile at a time, so y stays in L1.
//   int4(x, w, y, s, blocks, width, stride, blocksPerGroup)
//     like int8 with 4-bit codes, width and stride multiples of 32 columns;
//     each row is stride / 2 bytes in chunks of 16
//     bytes covering 32 columns: byte j's low nibble is column j, its high
//     nibble column 16 + j, as unsigned offsets by 8. Groups are padded to a
//     multiple of 4 rows (4 · blocksPerGroup), so each block of 4 rows has one
//     scale row: s: f32 [groups, stride]; y += s_g ⊙ (x_block · w_block).
//   dot8(x, s, t, w, y, blocks, stride, blocksPerGroup)
//   dot4(x, s, t, w, y, blocks, stride, blocksPerGroup)
//     the product with the transpose, y = w · xᵀ, on the same packed layouts
//     (the tied output head over a quantized [vocab, d] table: x has length
//     stride, the padded d): rows of w are dot products with x ⊙ s_g, where
//     s_g is the scale row of the row's group (int8: one group, the column
//     scales), computed into the scratch t (f32 [stride]) once per group of
//     blocksPerGroup blocks of 4 rows. y: f32 [4 · 4 · blocks], four partial
//     lanes per row, summed by the caller ((l0 + l1) + (l2 + l3)).
//
// With `shared`, the module imports its memory (env.memory, shared, up to
// 4 GiB) instead of owning it, so worker threads can instantiate it on the
// same bytes (src/node/quantized-threads.ts); otherwise it is identical.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  add,
  type Bytes,
  base64Lines,
  brIf,
  divU,
  envMemoryImport,
  eqz,
  f32Load,
  f32x4Add,
  f32x4ConvertI32x4S,
  f32x4Mul,
  f32x4Splat,
  get,
  I32,
  i8x16ShrU,
  i8x16Sub,
  i16x8ExtendHighS,
  i16x8ExtendLowS,
  i32,
  i32x4ExtendHighS,
  i32x4ExtendLowS,
  ifThen,
  loop,
  ltU,
  mul,
  name,
  SHARED_MAX_PAGES,
  section,
  set,
  shrU,
  sub,
  tee,
  uleb,
  V128,
  v128And,
  v128Const,
  v128Load,
  v128Store,
} from './wasm-encoder';

/** `acc += float(widen(h, half)) · x`, with `h` an i16x8 local. */
function accumulate(acc: number, h: number, high: boolean, x: number): Bytes {
  return [
    ...get(acc),
    ...get(h),
    ...(high ? i32x4ExtendHighS : i32x4ExtendLowS),
    ...f32x4ConvertI32x4S,
    ...get(x),
    ...f32x4Mul,
    ...f32x4Add,
    ...set(acc),
  ];
}

/** Adds the 16 signed bytes in local `v` times `x` to accumulators `accs[0..3]`, via temp `h`. */
function accumulateBytes(v: number, h: number, x: number, accs: number[]): Bytes {
  return [
    ...get(v),
    ...i16x8ExtendLowS,
    ...set(h),
    ...accumulate(accs[0]!, h, false, x),
    ...accumulate(accs[1]!, h, true, x),
    ...get(v),
    ...i16x8ExtendHighS,
    ...set(h),
    ...accumulate(accs[2]!, h, false, x),
    ...accumulate(accs[3]!, h, true, x),
  ];
}

function func(locals: [number, number][], body: Bytes): Bytes {
  const decl = [...uleb(locals.length), ...locals.flatMap(([n, t]) => [...uleb(n), t])];
  const code = [...decl, ...body, 0x0b];
  return [...uleb(code.length), ...code];
}

/** int8(x, w, y, blocks, width, stride). */
function int8Kernel(): Bytes {
  const [x, w, y, blocks, width, stride] = [0, 1, 2, 3, 4, 5];
  const [w1, w2, w3, p, q] = [6, 7, 8, 9, 10];
  const xs = [11, 12, 13, 14];
  const accs = [15, 16, 17, 18];
  const [v, h] = [19, 20];
  const rows = [w, w1, w2, w3];
  const body: Bytes = [
    ...loop([
      // Row pointers and the four x values of this block, splatted.
      ...get(w),
      ...get(stride),
      ...add,
      ...tee(w1),
      ...get(stride),
      ...add,
      ...tee(w2),
      ...get(stride),
      ...add,
      ...set(w3),
      ...xs.flatMap((xl, k) => [...get(x), ...f32Load(4 * k), ...f32x4Splat, ...set(xl)]),
      ...i32(0),
      ...set(p),
      ...get(y),
      ...set(q),
      ...loop([
        ...accs.flatMap((a, j) => [...get(q), ...v128Load(16 * j), ...set(a)]),
        ...rows.flatMap((row, k) => [
          ...get(row),
          ...get(p),
          ...add,
          ...v128Load(0),
          ...set(v),
          ...accumulateBytes(v, h, xs[k]!, accs),
        ]),
        ...accs.flatMap((a, j) => [...get(q), ...get(a), ...v128Store(16 * j)]),
        ...get(q),
        ...i32(64),
        ...add,
        ...set(q),
        ...get(p),
        ...i32(16),
        ...add,
        ...tee(p),
        ...get(width),
        ...ltU,
        ...brIf(0),
      ]),
      ...get(x),
      ...i32(16),
      ...add,
      ...set(x),
      ...get(w3),
      ...get(stride),
      ...add,
      ...set(w),
      ...get(blocks),
      ...i32(-1),
      ...add,
      ...tee(blocks),
      ...brIf(0),
    ]),
  ];
  return func(
    [
      [5, I32],
      [10, V128],
    ],
    body,
  );
}

/** int4(x, w, y, s, blocks, width, stride, blocksPerGroup). */
function int4Kernel(): Bytes {
  const [x, w, y, s, blocks, width, stride, perGroup] = [0, 1, 2, 3, 4, 5, 6, 7];
  const [w1, w2, w3, p, q, sp, rowBytes, b, end] = [8, 9, 10, 11, 12, 13, 14, 15, 16];
  const xs = [17, 18, 19, 20];
  const ts = [21, 22, 23, 24, 25, 26, 27, 28];
  const [v, h, half, mask, eight] = [29, 30, 31, 32, 33];
  const rows = [w, w1, w2, w3];
  const zero = Array<number>(16).fill(0);
  const body: Bytes = [
    ...v128Const(Array<number>(16).fill(0x0f)),
    ...set(mask),
    ...v128Const(Array<number>(16).fill(8)),
    ...set(eight),
    ...get(stride),
    ...i32(1),
    ...shrU,
    ...set(rowBytes),
    ...get(width),
    ...i32(1),
    ...shrU,
    ...set(end),
    ...i32(0),
    ...set(b),
    ...loop([
      ...get(w),
      ...get(rowBytes),
      ...add,
      ...tee(w1),
      ...get(rowBytes),
      ...add,
      ...tee(w2),
      ...get(rowBytes),
      ...add,
      ...set(w3),
      ...xs.flatMap((xl, k) => [...get(x), ...f32Load(4 * k), ...f32x4Splat, ...set(xl)]),
      // This block's scale row: s + (b / blocksPerGroup) · stride · 4.
      ...get(s),
      ...get(b),
      ...get(perGroup),
      ...divU,
      ...get(stride),
      ...mul,
      ...i32(4),
      ...mul,
      ...add,
      ...set(sp),
      ...i32(0),
      ...set(p),
      ...get(y),
      ...set(q),
      ...loop([
        ...ts.flatMap((t) => [...v128Const(zero), ...set(t)]),
        ...rows.flatMap((row, k) => [
          ...get(row),
          ...get(p),
          ...add,
          ...v128Load(0),
          ...set(v),
          // Low nibbles: columns 0..15 of the chunk.
          ...get(v),
          ...get(mask),
          ...v128And,
          ...get(eight),
          ...i8x16Sub,
          ...set(half),
          ...accumulateBytes(half, h, xs[k]!, ts.slice(0, 4)),
          // High nibbles: columns 16..31.
          ...get(v),
          ...i32(4),
          ...i8x16ShrU,
          ...get(eight),
          ...i8x16Sub,
          ...set(half),
          ...accumulateBytes(half, h, xs[k]!, ts.slice(4, 8)),
        ]),
        // y += scales ⊙ partial sums.
        ...ts.flatMap((t, j) => [
          ...get(q),
          ...get(q),
          ...v128Load(16 * j),
          ...get(t),
          ...get(sp),
          ...v128Load(16 * j),
          ...f32x4Mul,
          ...f32x4Add,
          ...v128Store(16 * j),
        ]),
        ...get(q),
        ...i32(128),
        ...add,
        ...set(q),
        ...get(sp),
        ...i32(128),
        ...add,
        ...set(sp),
        ...get(p),
        ...i32(16),
        ...add,
        ...tee(p),
        ...get(end),
        ...ltU,
        ...brIf(0),
      ]),
      ...get(x),
      ...i32(16),
      ...add,
      ...set(x),
      ...get(w3),
      ...get(rowBytes),
      ...add,
      ...set(w),
      ...get(b),
      ...i32(1),
      ...add,
      ...tee(b),
      ...get(blocks),
      ...ltU,
      ...brIf(0),
    ]),
  ];
  return func(
    [
      [9, I32],
      [17, V128],
    ],
    body,
  );
}

/** `f32x4(widen(h, half)) · x` on the stack, with `h` an i16x8 local. */
function product(h: number, high: boolean, x: number): Bytes {
  return [
    ...get(h),
    ...(high ? i32x4ExtendHighS : i32x4ExtendLowS),
    ...f32x4ConvertI32x4S,
    ...get(x),
    ...f32x4Mul,
  ];
}

/** `acc += ` the 16 signed bytes in local `v` times `xs[0..3]` (lane-wise), via temp `h`: one accumulate at a time, so few registers stay live. */
function dotBytes(v: number, h: number, xs: number[], acc: number): Bytes {
  return [
    ...get(v),
    ...i16x8ExtendLowS,
    ...set(h),
    ...get(acc),
    ...product(h, false, xs[0]!),
    ...f32x4Add,
    ...product(h, true, xs[1]!),
    ...f32x4Add,
    ...get(v),
    ...i16x8ExtendHighS,
    ...set(h),
    ...product(h, false, xs[2]!),
    ...f32x4Add,
    ...product(h, true, xs[3]!),
    ...f32x4Add,
    ...set(acc),
  ];
}

/**
 * dot8 / dot4(x, s, t, w, y, blocks, stride, blocksPerGroup): `y = w · (x ⊙ s_g)`,
 * the product with the transpose (rows of w are contiguous along x), four rows
 * of w per block; each row leaves 4 float lanes in y (16 bytes) whose sum,
 * `(l0 + l1) + (l2 + l3)`, the caller takes. At the start of each group of
 * `blocksPerGroup` blocks, `t = x ⊙ s` (then `s` moves on one row of `stride`
 * floats), so the codes meet pre-scaled inputs.
 */
function dotKernel(int4: boolean): Bytes {
  const [x, s, t, w, y, blocks, stride, perGroup] = [0, 1, 2, 3, 4, 5, 6, 7];
  const [w1, w2, w3, p, c, k, rowBytes] = [8, 9, 10, 11, 12, 13, 14];
  const accs = [15, 16, 17, 18];
  const xv = [19, 20, 21, 22, 23, 24, 25, 26];
  const [v, h, half, mask, eight] = [27, 28, 29, 30, 31];
  const rows = [w, w1, w2, w3];
  const zero = Array<number>(16).fill(0);
  const chunk: Bytes = int4
    ? [
        ...xv.flatMap((xl, j) => [...get(c), ...v128Load(16 * j), ...set(xl)]),
        ...rows.flatMap((row, r) => [
          ...get(row),
          ...get(p),
          ...add,
          ...v128Load(0),
          ...set(v),
          // Low nibbles: columns 0..15 of the chunk; high nibbles: 16..31.
          ...get(v),
          ...get(mask),
          ...v128And,
          ...get(eight),
          ...i8x16Sub,
          ...set(half),
          ...dotBytes(half, h, xv.slice(0, 4), accs[r]!),
          ...get(v),
          ...i32(4),
          ...i8x16ShrU,
          ...get(eight),
          ...i8x16Sub,
          ...set(half),
          ...dotBytes(half, h, xv.slice(4, 8), accs[r]!),
        ]),
        ...get(c),
        ...i32(128),
        ...add,
        ...set(c),
      ]
    : [
        ...xv.slice(0, 4).flatMap((xl, j) => [...get(c), ...v128Load(16 * j), ...set(xl)]),
        ...rows.flatMap((row, r) => [
          ...get(row),
          ...get(p),
          ...add,
          ...v128Load(0),
          ...set(v),
          ...dotBytes(v, h, xv.slice(0, 4), accs[r]!),
        ]),
        ...get(c),
        ...i32(64),
        ...add,
        ...set(c),
      ];
  const body: Bytes = [
    ...v128Const(Array<number>(16).fill(0x0f)),
    ...set(mask),
    ...v128Const(Array<number>(16).fill(8)),
    ...set(eight),
    ...get(stride),
    ...(int4 ? [...i32(1), ...shrU] : []),
    ...set(rowBytes),
    ...i32(0),
    ...set(k),
    ...loop([
      // A new group: t = x ⊙ s, and s moves to the next group's scales.
      ...get(k),
      ...eqz,
      ...ifThen([
        ...i32(0),
        ...set(c),
        ...loop([
          ...get(t),
          ...get(c),
          ...add,
          ...get(x),
          ...get(c),
          ...add,
          ...v128Load(0),
          ...get(s),
          ...get(c),
          ...add,
          ...v128Load(0),
          ...f32x4Mul,
          ...v128Store(0),
          ...get(c),
          ...i32(16),
          ...add,
          ...tee(c),
          ...get(stride),
          ...i32(4),
          ...mul,
          ...ltU,
          ...brIf(0),
        ]),
        ...get(s),
        ...get(stride),
        ...i32(4),
        ...mul,
        ...add,
        ...set(s),
        ...get(perGroup),
        ...set(k),
      ]),
      ...get(k),
      ...i32(1),
      ...sub,
      ...set(k),
      ...get(w),
      ...get(rowBytes),
      ...add,
      ...tee(w1),
      ...get(rowBytes),
      ...add,
      ...tee(w2),
      ...get(rowBytes),
      ...add,
      ...set(w3),
      ...accs.flatMap((a) => [...v128Const(zero), ...set(a)]),
      ...i32(0),
      ...set(p),
      ...get(t),
      ...set(c),
      ...loop([
        ...chunk,
        ...get(p),
        ...i32(16),
        ...add,
        ...tee(p),
        ...get(rowBytes),
        ...ltU,
        ...brIf(0),
      ]),
      // Each row's accumulator: its four lanes are summed by the caller (the module stays under 4 KB).
      ...accs.flatMap((a, r) => [...get(y), ...get(a), ...v128Store(16 * r)]),
      ...get(y),
      ...i32(64),
      ...add,
      ...set(y),
      ...get(w3),
      ...get(rowBytes),
      ...add,
      ...set(w),
      ...get(blocks),
      ...i32(-1),
      ...add,
      ...tee(blocks),
      ...brIf(0),
    ]),
  ];
  return func(
    [
      [7, I32],
      [17, V128],
    ],
    body,
  );
}

/**
 * The module's bytes: the functions `int8`, `int4`, `dot8`, `dot4` and a
 * memory exported as `memory`. By default the module owns its memory (1 page
 * to start); `shared` makes it import `env.memory` instead, a shared memory of
 * up to {@link SHARED_MAX_PAGES} pages (the threads feature), so that worker
 * threads can run the same kernels on the same bytes.
 */
export function quantizedSimdModule(shared = false): Uint8Array {
  const funcType = (n: number): Bytes => [0x60, ...uleb(n), ...Array<number>(n).fill(I32), 0];
  const bytes = [
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, [2, ...funcType(6), ...funcType(8)]),
    ...(shared ? envMemoryImport(1, true) : []),
    ...section(3, [4, 0, 1, 1, 1]),
    ...(shared ? [] : section(5, [1, 0x00, 1])),
    ...section(7, [
      5,
      ...name('memory'),
      2,
      0,
      ...name('int8'),
      0,
      0,
      ...name('int4'),
      0,
      1,
      ...name('dot8'),
      0,
      2,
      ...name('dot4'),
      0,
      3,
    ]),
    ...section(10, [4, ...int8Kernel(), ...int4Kernel(), ...dotKernel(false), ...dotKernel(true)]),
  ];
  return Uint8Array.from(bytes);
}

/** The TS module that carries the bytes. */
export function quantizedSimdSource(): string {
  return [
    '// Generated by scripts/quantized-simd-wasm.ts (npx tsx scripts/quantized-simd-wasm.ts): do not edit.',
    '// The WebAssembly SIMD matrix-vector kernels for int8/int4 weights, as base64 (no file read at run time).',
    '',
    '/** The bytes of the int8/int4 SIMD kernel module (it owns its memory), base64. */',
    'export const quantizedSimdWasm =',
    `${base64Lines(quantizedSimdModule())};`,
    '',
    '/** The same kernels importing a shared `env.memory` (for worker threads), base64. */',
    'export const quantizedSimdSharedWasm =',
    `${base64Lines(quantizedSimdModule(true))};`,
    '',
    `/** Pages the shared memory may grow to. */`,
    `export const QUANTIZED_SIMD_SHARED_MAX_PAGES = ${SHARED_MAX_PAGES};`,
    '',
  ].join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const target = fileURLToPath(new URL('../src/nn/quantized-simd-module.ts', import.meta.url));
  writeFileSync(target, quantizedSimdSource());
  console.log(
    `wrote ${target} (${quantizedSimdModule().length} and ${quantizedSimdModule(true).length} bytes of wasm)`,
  );
}
