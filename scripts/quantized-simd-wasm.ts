// Writes src/nn/quantized-simd-module.ts: the bytes (base64) of a small
// WebAssembly module with 128-bit SIMD matrix-vector kernels for int8 and
// int4 weights, assembled here by hand because no wasm toolchain (wabt,
// assemblyscript, emscripten) is a dependency of this repository.
// Run: npx tsx scripts/quantized-simd-wasm.ts
//
// The kernels work on a padded layout that src/nn/quantized-simd.ts packs
// once per QuantizedTensor, so they have no tail loops:
//
//   int8(a, w, y, pairs, panels)
//     int16 activations a [2 · pairs] (the caller quantizes each input row,
//     a = round(x / sx)) times int8 codes in panels of 32 output columns,
//     each panel a run of 2 · pairs rows interleaved in pairs; y: f32
//     [32 · panels], accumulated into. Both products of an int8 tensor use
//     it: x · W on W's panels, x · Wᵀ (the tied head) on Wᵀ's, with the
//     column scales folded into the activations.
//   int4(a, w, y, s, groups, pairsPerGroup, panels)
//     like int8 with 4-bit codes (two per byte, unsigned offsets by 8), the
//     rows in int4 groups padded to even; after each group its i32 sums are
//     scaled by the group's column scales (s: per panel, per group, 32
//     floats) and added into y.
//   dot4(x, s, t, w, y, blocks, stride, blocksPerGroup)
//     the product with the transpose, y = w · xᵀ, for int4 (the tied output
//     head over a quantized [vocab, d] table, float inputs: x has
//     length stride, the padded d): rows of w are dot products with x ⊙ s_g,
//     where s_g is the scale row of the row's group, computed into the
//     scratch t (f32 [stride]) once per group of
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
  envMemoryImport,
  eqz,
  f32x4Add,
  f32x4ConvertI32x4S,
  f32x4Mul,
  get,
  I32,
  i8x16ShrU,
  i8x16Sub,
  i16x8ExtendHighS,
  i16x8ExtendLowS,
  i32,
  i32Load,
  i32x4Add,
  i32x4DotI16x8S,
  i32x4ExtendHighS,
  i32x4ExtendLowS,
  i32x4Splat,
  ifThen,
  loop,
  ltU,
  mul,
  name,
  SHARED_MAX_PAGES,
  section,
  select,
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

function func(locals: [number, number][], body: Bytes): Bytes {
  const decl = [...uleb(locals.length), ...locals.flatMap(([n, t]) => [...uleb(n), t])];
  const code = [...decl, ...body, 0x0b];
  return [...uleb(code.length), ...code];
}

/**
 * Pairs of input rows per i32 sum in `int8`: each i32 lane adds 2 products
 * per pair, |code| ≤ 128 and |a| ≤ 32767 (src/nn/quantized-simd.ts's
 * `ACTIVATION_MAX`), so 256 pairs
 * reach at most 512 · 128 · 32767 = 2,147,418,112 < 2^31 − 1; the sums go to
 * the float32 `y` every 256 pairs, so any number of rows is safe.
 */
export const INT8_SEGMENT_PAIRS = 256;

/**
 * int8(a, w, y, pairs, panels): `y += a · W` on panels of 32 columns.
 * `a`: int16 [2 · pairs]; `w`: per panel, per pair of rows, 64 bytes
 * `[w(2i, c), w(2i+1, c)]` for its 32 columns c (so one 16-byte load is 8
 * columns × 2 rows, and `i32x4.dot_i16x8_s` with the splatted pair
 * `(a[2i], a[2i+1])` adds both rows into 4 column sums); `y`: f32 [32 · panels].
 * Each panel's 8 i32x4 sums stay in registers over its rows, and are
 * converted and added into `y` every {@link INT8_SEGMENT_PAIRS} pairs.
 */
function int8Kernel(): Bytes {
  const [a, w, y, pairs, panels] = [0, 1, 2, 3, 4];
  const [ap, left, count] = [5, 6, 7];
  const accs = [8, 9, 10, 11, 12, 13, 14, 15];
  // `zero` is never set: locals start at zero.
  const [pair, v, zero] = [16, 17, 18];
  const body: Bytes = [
    ...loop([
      ...get(a),
      ...set(ap),
      ...get(pairs),
      ...set(left),
      ...loop([
        ...accs.flatMap((acc) => [...get(zero), ...set(acc)]),
        // count = min(left, INT8_SEGMENT_PAIRS); left -= count.
        ...get(left),
        ...i32(INT8_SEGMENT_PAIRS),
        ...get(left),
        ...i32(INT8_SEGMENT_PAIRS),
        ...ltU,
        ...select,
        ...set(count),
        ...get(left),
        ...get(count),
        ...sub,
        ...set(left),
        ...loop([
          ...get(ap),
          ...i32Load(0),
          ...i32x4Splat,
          ...set(pair),
          ...[0, 1, 2, 3].flatMap((j) => [
            ...get(w),
            ...v128Load(16 * j),
            ...set(v),
            ...get(accs[2 * j]!),
            ...get(v),
            ...i16x8ExtendLowS,
            ...get(pair),
            ...i32x4DotI16x8S,
            ...i32x4Add,
            ...set(accs[2 * j]!),
            ...get(accs[2 * j + 1]!),
            ...get(v),
            ...i16x8ExtendHighS,
            ...get(pair),
            ...i32x4DotI16x8S,
            ...i32x4Add,
            ...set(accs[2 * j + 1]!),
          ]),
          ...get(ap),
          ...i32(4),
          ...add,
          ...set(ap),
          ...get(w),
          ...i32(64),
          ...add,
          ...set(w),
          ...get(count),
          ...i32(-1),
          ...add,
          ...tee(count),
          ...brIf(0),
        ]),
        ...accs.flatMap((acc, j) => [
          ...get(y),
          ...get(y),
          ...v128Load(16 * j),
          ...get(acc),
          ...f32x4ConvertI32x4S,
          ...f32x4Add,
          ...v128Store(16 * j),
        ]),
        ...get(left),
        ...brIf(0),
      ]),
      ...get(y),
      ...i32(128),
      ...add,
      ...set(y),
      ...get(panels),
      ...i32(-1),
      ...add,
      ...tee(panels),
      ...brIf(0),
    ]),
  ];
  return func(
    [
      [3, I32],
      [11, V128],
    ],
    body,
  );
}

/**
 * The most input pairs per group in `int4`: an i32 lane adds 2 products of
 * |code| ≤ 8 and |a| ≤ 32767 per pair, so 4,096 pairs reach at most
 * 4096 · 2 · 8 · 32767 = 2,147,418,112 < 2^31 − 1. Groups of more than 8,192
 * rows are not packed for this kernel (their products run the JS loops).
 */
export const INT4_MAX_GROUP_PAIRS = 4096;

/** `acc += dot(widen(h, half), pair)`, `h` an i8x16 local. */
function dotInto(acc: number, h: number, high: boolean, pair: number): Bytes {
  return [
    ...get(acc),
    ...get(h),
    ...(high ? i16x8ExtendHighS : i16x8ExtendLowS),
    ...get(pair),
    ...i32x4DotI16x8S,
    ...i32x4Add,
    ...set(acc),
  ];
}

/**
 * int4(a, w, y, s, groups, pairsPerGroup, panels): `y += a · W` for 4-bit
 * codes, on panels of 32 columns like `int8`. Per pair of rows a panel holds
 * 32 bytes: byte 16h + b's low nibble is column 16h + (b >> 1), its high
 * nibble column 16h + 8 + (b >> 1), row b & 1 of the pair (unsigned, offset
 * by 8). Rows come in groups of 2 · pairsPerGroup (the int4 groups padded to
 * even); per group the 8 i32x4 sums are converted, multiplied by the group's
 * 32 column scales (`s`: per panel, per group, 32 floats) and added into
 * `y` (f32 [32 · panels]).
 */
function int4Kernel(): Bytes {
  const [a, w, y, s, groups, perGroup, panels] = [0, 1, 2, 3, 4, 5, 6];
  const [ap, g, count] = [8, 9, 10];
  const accs = [11, 12, 13, 14, 15, 16, 17, 18];
  const [pair, v, half, mask, eight, zero] = [19, 20, 21, 22, 23, 24];
  const body: Bytes = [
    ...v128Const(Array<number>(16).fill(0x0f)),
    ...set(mask),
    ...v128Const(Array<number>(16).fill(8)),
    ...set(eight),
    ...loop([
      ...get(a),
      ...set(ap),
      ...get(groups),
      ...set(g),
      ...loop([
        ...accs.flatMap((acc) => [...get(zero), ...set(acc)]),
        ...get(perGroup),
        ...set(count),
        ...loop([
          ...get(ap),
          ...i32Load(0),
          ...i32x4Splat,
          ...set(pair),
          ...[0, 1].flatMap((h) => [
            ...get(w),
            ...v128Load(16 * h),
            ...set(v),
            // Low nibbles: columns 16h + 0..7; high nibbles: 16h + 8..15.
            ...get(v),
            ...get(mask),
            ...v128And,
            ...get(eight),
            ...i8x16Sub,
            ...set(half),
            ...dotInto(accs[4 * h]!, half, false, pair),
            ...dotInto(accs[4 * h + 1]!, half, true, pair),
            ...get(v),
            ...i32(4),
            ...i8x16ShrU,
            ...get(eight),
            ...i8x16Sub,
            ...set(half),
            ...dotInto(accs[4 * h + 2]!, half, false, pair),
            ...dotInto(accs[4 * h + 3]!, half, true, pair),
          ]),
          ...get(ap),
          ...i32(4),
          ...add,
          ...set(ap),
          ...get(w),
          ...i32(32),
          ...add,
          ...set(w),
          ...get(count),
          ...i32(-1),
          ...add,
          ...tee(count),
          ...brIf(0),
        ]),
        ...accs.flatMap((acc, j) => [
          ...get(y),
          ...get(y),
          ...v128Load(16 * j),
          ...get(acc),
          ...f32x4ConvertI32x4S,
          ...get(s),
          ...v128Load(16 * j),
          ...f32x4Mul,
          ...f32x4Add,
          ...v128Store(16 * j),
        ]),
        ...get(s),
        ...i32(128),
        ...add,
        ...set(s),
        ...get(g),
        ...i32(-1),
        ...add,
        ...tee(g),
        ...brIf(0),
      ]),
      ...get(y),
      ...i32(128),
      ...add,
      ...set(y),
      ...get(panels),
      ...i32(-1),
      ...add,
      ...tee(panels),
      ...brIf(0),
    ]),
  ];
  return func(
    [
      [3, I32],
      [14, V128],
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
 * dot4(x, s, t, w, y, blocks, stride, blocksPerGroup): `y = w · (x ⊙ s_g)`,
 * the product with the transpose (rows of w are contiguous along x), four rows
 * of w per block; each row leaves 4 float lanes in y (16 bytes) whose sum,
 * `(l0 + l1) + (l2 + l3)`, the caller takes. At the start of each group of
 * `blocksPerGroup` blocks, `t = x ⊙ s` (then `s` moves on one row of `stride`
 * floats), so the codes meet pre-scaled inputs.
 */
function dot4Kernel(): Bytes {
  const [x, s, t, w, y, blocks, stride, perGroup] = [0, 1, 2, 3, 4, 5, 6, 7];
  const [w1, w2, w3, p, c, k, rowBytes] = [8, 9, 10, 11, 12, 13, 14];
  const accs = [15, 16, 17, 18];
  const xv = [19, 20, 21, 22, 23, 24, 25, 26];
  const [v, h, half, mask, eight] = [27, 28, 29, 30, 31];
  const rows = [w, w1, w2, w3];
  const zero = Array<number>(16).fill(0);
  const chunk: Bytes = [
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
  ];
  const body: Bytes = [
    ...v128Const(Array<number>(16).fill(0x0f)),
    ...set(mask),
    ...v128Const(Array<number>(16).fill(8)),
    ...set(eight),
    ...get(stride),
    ...i32(1),
    ...shrU,
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
 * The module's bytes: the functions `int8`, `int4`, `dot4` and a
 * memory exported as `memory`. By default the module owns its memory (1 page
 * to start); `shared` makes it import `env.memory` instead, a shared memory of
 * up to {@link SHARED_MAX_PAGES} pages (the threads feature), so that worker
 * threads can run the same kernels on the same bytes.
 */
export function quantizedSimdModule(shared = false): Uint8Array {
  const funcType = (n: number): Bytes => [0x60, ...uleb(n), ...Array<number>(n).fill(I32), 0];
  const bytes = [
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, [2, ...funcType(5), ...funcType(8)]),
    ...(shared ? envMemoryImport(1, true) : []),
    ...section(3, [3, 0, 1, 1]),
    ...(shared ? [] : section(5, [1, 0x00, 1])),
    ...section(7, [
      4,
      ...name('memory'),
      2,
      0,
      ...name('int8'),
      0,
      0,
      ...name('int4'),
      0,
      1,
      ...name('dot4'),
      0,
      2,
    ]),
    ...section(10, [3, ...int8Kernel(), ...int4Kernel(), ...dot4Kernel()]),
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
