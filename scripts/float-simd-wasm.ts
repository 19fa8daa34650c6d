// Writes src/perf/float-simd-module.ts: the bytes (base64) of a small
// WebAssembly module with 128-bit SIMD float32 products for a few rows,
// assembled here by hand because no wasm toolchain (wabt, assemblyscript,
// emscripten) is a dependency of this repository.
// Run: npx tsx scripts/float-simd-wasm.ts
//
// The module has no memory of its own: it imports the wasm backend's
// (`env.memory`), so the kernels read tfjs tensors where they lie and write
// straight into a tfjs output. All pointers are byte offsets in that memory.
// For m = 1…4 rows (one function per m, so the rows' sums stay in registers):
//
//   rowsM(x, w, y, k, width, stride)   y[r, c] += Σ_j x[r, j] · w[j, c]
//     x: f32 [m, k] (rows k · 4 bytes apart); w: f32 [k, ·] and y: f32 [m, ·],
//     both with rows `stride` bytes apart; c in [0, width). Accumulates: the
//     caller zeroes y. Streams w four rows at a time over the column range,
//     so the caller sweeps the columns in tiles that keep y in L1.
//   dotM(x, b, y, k, n, stride)        y[r, j] = Σ_i x[r, i] · b[j, i]
//     x: f32 [m, k]; b: f32 [n, k] (x · bᵀ, the tied output head); y: f32
//     [m, ·] with rows `stride` bytes apart, j in [0, n). Writes y.
//
// Neither needs padding: odd k and n run through 1-row and 1-column tails.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  add,
  type Bytes,
  base64Lines,
  envMemoryImport,
  F32,
  f32Add,
  f32Load,
  f32Mul,
  f32Store,
  f32x4Add,
  f32x4ExtractLane,
  f32x4Mul,
  f32x4Splat,
  get,
  I32,
  i32,
  leU,
  ltU,
  mul,
  name,
  section,
  set,
  uleb,
  V128,
  v128Load,
  v128Store,
  v128Zero,
  whileLoop,
} from './wasm-encoder';

// ---------------------------------------------------------------------------
// The float32 kernels.
// ---------------------------------------------------------------------------

/** Locals of one function: `params` i32 parameters, then locals allocated in order. */
class Locals {
  private readonly types: number[] = [];
  constructor(private readonly params: number) {}
  /** A new local of `type`; returns its index. */
  of(type: number): number {
    this.types.push(type);
    return this.params + this.types.length - 1;
  }
  many(count: number, type: number): number[] {
    return Array.from({ length: count }, () => this.of(type));
  }
  /** The function body's local declarations (runs of one type). */
  declaration(): Bytes {
    const runs: [number, number][] = [];
    for (const t of this.types) {
      const last = runs[runs.length - 1];
      if (last !== undefined && last[1] === t) last[0]++;
      else runs.push([1, t]);
    }
    return [...uleb(runs.length), ...runs.flatMap(([n, t]) => [...uleb(n), t])];
  }
}

function func(locals: Locals, body: Bytes): Bytes {
  const code = [...locals.declaration(), ...body, 0x0b];
  return [...uleb(code.length), ...code];
}

/** `local[to] = local[from] + local[step]` (or `+ step` for a number). */
const addTo = (to: number, from: number, step: number | { local: number }): Bytes => [
  ...get(from),
  ...(typeof step === 'number' ? i32(step) : get(step.local)),
  ...add,
  ...set(to),
];

/** rowsM(x, w, y, k, width, stride): y[r, 0:width] += x[r] · w[:, 0:width] for m rows. */
function rowsKernel(m: number): Bytes {
  const [x, w, y, k, width, stride] = [0, 1, 2, 3, 4, 5];
  const l = new Locals(6);
  const xRow = l.of(I32); // x's row pitch in bytes (4k)
  const end = l.of(I32); // width in bytes
  const j = l.of(I32); // input row (of w) at the block's start
  const c = l.of(I32); // column byte offset in the tile
  const xp = l.many(m, I32); // x + r·xRow + 4j
  const yp = l.many(m, I32); // y + r·stride
  const wp = l.many(4, I32); // the block's rows of w
  const xs = l.many(4 * m, V128); // splatted x[r, j + t]: xs[4r + t]
  const ws = l.many(4, V128);
  const sx = l.many(4 * m, F32); // scalar x[r, j + t]

  /** One block of `rows` (4 or 1) input rows, all columns of the tile. */
  const block = (rows: number): Bytes => {
    const ts = Array.from({ length: rows }, (_, t) => t);
    // `acc(y) += Σ_t ws[t] · xs[r, t]` for `lanes` columns at byte `offset` from c.
    const columns = (offset: number): Bytes => [
      ...ts.flatMap((t) => [
        ...get(wp[t]!),
        ...get(c),
        ...add,
        ...v128Load(offset),
        ...set(ws[t]!),
      ]),
      ...Array.from({ length: m }, (_, r) => [
        ...get(yp[r]!),
        ...get(c),
        ...add,
        ...get(yp[r]!),
        ...get(c),
        ...add,
        ...v128Load(offset),
        ...ts.flatMap((t) => [...get(ws[t]!), ...get(xs[4 * r + t]!), ...f32x4Mul, ...f32x4Add]),
        ...v128Store(offset),
      ]).flat(),
    ];
    const scalarColumn: Bytes = Array.from({ length: m }, (_, r) => [
      ...get(yp[r]!),
      ...get(c),
      ...add,
      ...get(yp[r]!),
      ...get(c),
      ...add,
      ...f32Load(0),
      ...ts.flatMap((t) => [
        ...get(wp[t]!),
        ...get(c),
        ...add,
        ...f32Load(0),
        ...get(sx[4 * r + t]!),
        ...f32Mul,
        ...f32Add,
      ]),
      ...f32Store(0),
    ]).flat();
    return whileLoop(
      [...get(j), ...i32(rows), ...add, ...get(k), ...leU],
      [
        // Row pointers of this block: w + j · stride, then + stride each.
        ...get(w),
        ...get(j),
        ...get(stride),
        ...mul,
        ...add,
        ...set(wp[0]!),
        ...ts.slice(1).flatMap((t) => addTo(wp[t]!, wp[t - 1]!, { local: stride })),
        ...Array.from({ length: m }, (_, r) =>
          ts.flatMap((t) => [
            ...get(xp[r]!),
            ...f32Load(4 * t),
            ...set(sx[4 * r + t]!),
            ...get(sx[4 * r + t]!),
            ...f32x4Splat,
            ...set(xs[4 * r + t]!),
          ]),
        ).flat(),
        ...i32(0),
        ...set(c),
        // 16 columns at a time, then 4, then 1.
        ...whileLoop(
          [...get(c), ...i32(64), ...add, ...get(end), ...leU],
          [...[0, 16, 32, 48].flatMap(columns), ...addTo(c, c, 64)],
        ),
        ...whileLoop(
          [...get(c), ...i32(16), ...add, ...get(end), ...leU],
          [...columns(0), ...addTo(c, c, 16)],
        ),
        ...whileLoop([...get(c), ...get(end), ...ltU], [...scalarColumn, ...addTo(c, c, 4)]),
        ...addTo(j, j, rows),
        ...xp.flatMap((p) => addTo(p, p, 4 * rows)),
      ],
    );
  };

  const body: Bytes = [
    ...get(k),
    ...i32(4),
    ...mul,
    ...set(xRow),
    ...get(width),
    ...i32(4),
    ...mul,
    ...set(end),
    ...get(x),
    ...set(xp[0]!),
    ...get(y),
    ...set(yp[0]!),
    ...xp.slice(1).flatMap((p, r) => addTo(p, xp[r]!, { local: xRow })),
    ...yp.slice(1).flatMap((p, r) => addTo(p, yp[r]!, { local: stride })),
    ...i32(0),
    ...set(j),
    ...block(4),
    ...block(1),
  ];
  return func(l, body);
}

/** dotM(x, b, y, k, n, stride): y[r, j] = x[r] · b[j] for m rows and j in [0, n). */
function dotKernel(m: number): Bytes {
  const [x, b, y, k, n, stride] = [0, 1, 2, 3, 4, 5];
  const l = new Locals(6);
  const xRow = l.of(I32); // 4k: the row pitch of x and b
  const vecEnd = l.of(I32); // 4 · (k rounded down to 4)
  const j = l.of(I32);
  const off = l.of(I32);
  const xp = l.many(m, I32); // x + r · xRow
  const yp = l.many(m, I32); // y + r · stride + 4j
  const bp = l.many(4, I32); // rows j … j + 3 of b
  const accs = l.many(4 * m, V128); // accs[4r + t]
  const bs = l.many(4, V128);
  const xv = l.of(V128);
  const sums = l.many(4 * m, F32);
  const sb = l.of(F32);

  /** One block of `rows` (4 or 1) rows of b: `rows` outputs per row of x. */
  const block = (rows: number): Bytes => {
    const ts = Array.from({ length: rows }, (_, t) => t);
    const all = (f: (r: number, t: number) => Bytes): Bytes =>
      Array.from({ length: m }, (_, r) => ts.flatMap((t) => f(r, t))).flat();
    return whileLoop(
      [...get(j), ...i32(rows), ...add, ...get(n), ...leU],
      [
        ...get(b),
        ...get(j),
        ...get(xRow),
        ...mul,
        ...add,
        ...set(bp[0]!),
        ...ts.slice(1).flatMap((t) => addTo(bp[t]!, bp[t - 1]!, { local: xRow })),
        ...all((r, t) => [...v128Zero, ...set(accs[4 * r + t]!)]),
        ...i32(0),
        ...set(off),
        ...whileLoop(
          [...get(off), ...get(vecEnd), ...ltU],
          [
            ...ts.flatMap((t) => [
              ...get(bp[t]!),
              ...get(off),
              ...add,
              ...v128Load(0),
              ...set(bs[t]!),
            ]),
            ...Array.from({ length: m }, (_, r) => [
              ...get(xp[r]!),
              ...get(off),
              ...add,
              ...v128Load(0),
              ...set(xv),
              ...ts.flatMap((t) => [
                ...get(accs[4 * r + t]!),
                ...get(bs[t]!),
                ...get(xv),
                ...f32x4Mul,
                ...f32x4Add,
                ...set(accs[4 * r + t]!),
              ]),
            ]).flat(),
            ...addTo(off, off, 16),
          ],
        ),
        // Horizontal sums: (l0 + l1) + (l2 + l3).
        ...all((r, t) => {
          const a = accs[4 * r + t]!;
          return [
            ...get(a),
            ...f32x4ExtractLane(0),
            ...get(a),
            ...f32x4ExtractLane(1),
            ...f32Add,
            ...get(a),
            ...f32x4ExtractLane(2),
            ...get(a),
            ...f32x4ExtractLane(3),
            ...f32Add,
            ...f32Add,
            ...set(sums[4 * r + t]!),
          ];
        }),
        // The last k mod 4 terms.
        ...whileLoop(
          [...get(off), ...get(xRow), ...ltU],
          [
            ...ts.flatMap((t) => [
              ...get(bp[t]!),
              ...get(off),
              ...add,
              ...f32Load(0),
              ...set(sb),
              ...Array.from({ length: m }, (_, r) => [
                ...get(sums[4 * r + t]!),
                ...get(sb),
                ...get(xp[r]!),
                ...get(off),
                ...add,
                ...f32Load(0),
                ...f32Mul,
                ...f32Add,
                ...set(sums[4 * r + t]!),
              ]).flat(),
            ]),
            ...addTo(off, off, 4),
          ],
        ),
        ...all((r, t) => [...get(yp[r]!), ...get(sums[4 * r + t]!), ...f32Store(4 * t)]),
        ...addTo(j, j, rows),
        ...yp.flatMap((p) => addTo(p, p, 4 * rows)),
      ],
    );
  };

  const body: Bytes = [
    ...get(k),
    ...i32(4),
    ...mul,
    ...set(xRow),
    ...get(k),
    ...i32(-4),
    ...[0x71], // i32.and
    ...i32(4),
    ...mul,
    ...set(vecEnd),
    ...get(x),
    ...set(xp[0]!),
    ...get(y),
    ...set(yp[0]!),
    ...xp.slice(1).flatMap((p, r) => addTo(p, xp[r]!, { local: xRow })),
    ...yp.slice(1).flatMap((p, r) => addTo(p, yp[r]!, { local: stride })),
    ...i32(0),
    ...set(j),
    ...block(4),
    ...block(1),
  ];
  return func(l, body);
}

/** Rows handled by one kernel call (one function per count). */
export const FLOAT_SIMD_MAX_ROWS = 4;

/**
 * The module's bytes: imports `env.memory` (the wasm backend's), exports
 * `rows1`…`rows4` and `dot1`…`dot4`. With `shared`, the import is a shared
 * memory (the threaded build's heap, which an unshared import cannot take);
 * the code is the same.
 */
export function floatSimdModule(shared = false): Uint8Array {
  const ms = Array.from({ length: FLOAT_SIMD_MAX_ROWS }, (_, i) => i + 1);
  const exportsList = [
    ...ms.map((m, i) => [...name(`rows${m}`), 0, ...uleb(i)]),
    ...ms.map((m, i) => [...name(`dot${m}`), 0, ...uleb(ms.length + i)]),
  ];
  const bodies = [...ms.map(rowsKernel), ...ms.map(dotKernel)];
  const bytes = [
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    // One type: six i32 parameters, no results.
    ...section(1, [1, 0x60, 6, ...Array<number>(6).fill(I32), 0]),
    ...envMemoryImport(0, shared),
    ...section(3, [...uleb(bodies.length), ...bodies.map(() => 0)]),
    ...section(7, [...uleb(exportsList.length), ...exportsList.flat()]),
    ...section(10, [...uleb(bodies.length), ...bodies.flat()]),
  ];
  return Uint8Array.from(bytes);
}

/** The TS module that carries the bytes. */
export function floatSimdSource(): string {
  return [
    '// Generated by scripts/float-simd-wasm.ts (npx tsx scripts/float-simd-wasm.ts): do not edit.',
    '// The WebAssembly SIMD float32 few-row products over the wasm backend’s memory, as base64.',
    '',
    '/** The bytes of the float32 SIMD kernel module, base64. */',
    'export const floatSimdWasm =',
    `${base64Lines(floatSimdModule())};`,
    '',
    '/** The same kernels importing a shared memory (the threaded build’s heap), base64. */',
    'export const floatSimdSharedWasm =',
    `${base64Lines(floatSimdModule(true))};`,
    '',
  ].join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const target = fileURLToPath(new URL('../src/perf/float-simd-module.ts', import.meta.url));
  writeFileSync(target, floatSimdSource());
  console.log(
    `wrote ${target} (${floatSimdModule().length} and ${floatSimdModule(true).length} bytes of wasm)`,
  );
}
