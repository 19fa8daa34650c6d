// The WebAssembly binary encoder our kernel generators share
// (scripts/quantized-simd-wasm.ts, scripts/float-simd-wasm.ts): LEB128
// integers, value types, the few instructions the kernels use
// (https://webassembly.github.io/spec/core/binary/instructions.html) and
// section framing, hand-written because no wasm toolchain (wabt,
// assemblyscript, emscripten) is a dependency of this repository.

export type Bytes = number[];

export function uleb(n: number): Bytes {
  const out: Bytes = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

export function sleb(n: number): Bytes {
  const out: Bytes = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

export const I32 = 0x7f;

export const V128 = 0x7b;

export const get = (i: number): Bytes => [0x20, ...uleb(i)];

export const set = (i: number): Bytes => [0x21, ...uleb(i)];

export const tee = (i: number): Bytes => [0x22, ...uleb(i)];

export const i32 = (n: number): Bytes => [0x41, ...sleb(n)];

export const add = [0x6a];

export const mul = [0x6c];

export const divU = [0x6e];

export const shrU = [0x76];

export const ltU = [0x49];

export const loop = (body: Bytes): Bytes => [0x03, 0x40, ...body, 0x0b];

export const brIf = (depth: number): Bytes => [0x0d, ...uleb(depth)];

export const f32Load = (offset: number): Bytes => [0x2a, 2, ...uleb(offset)];

export const sub = [0x6b];

export const eqz = [0x45];

export const ifThen = (body: Bytes): Bytes => [0x04, 0x40, ...body, 0x0b];

export const simd = (op: number): Bytes => [0xfd, ...uleb(op)];

export const v128Load = (offset: number): Bytes => [...simd(0x00), 0, ...uleb(offset)];

export const v128Store = (offset: number): Bytes => [...simd(0x0b), 0, ...uleb(offset)];

export const v128Const = (lanes: number[]): Bytes => [...simd(0x0c), ...lanes];

export const f32x4Splat = simd(0x13);

export const v128And = simd(0x4e);

export const i8x16ShrU = simd(0x6d);

export const i8x16Sub = simd(0x71);

export const i16x8ExtendLowS = simd(0x87);

export const i16x8ExtendHighS = simd(0x88);

export const i32x4ExtendLowS = simd(0xa7);

export const i32x4ExtendHighS = simd(0xa8);

export const f32x4Add = simd(0xe4);

export const f32x4Mul = simd(0xe6);

export const f32x4ConvertI32x4S = simd(0xfa);

export const F32 = 0x7d;

export const leU = [0x4d];

export const f32Store = (offset: number): Bytes => [0x38, 2, ...uleb(offset)];

export const f32Add = [0x92];

export const f32Mul = [0x94];

export const v128Zero = [...simd(0x0c), ...Array<number>(16).fill(0)];

export const f32x4ExtractLane = (lane: number): Bytes => [...simd(0x1f), lane];

/** `while (cond) body`: `block (loop (br_if 1 (eqz cond)) body (br 0)))`. */
export function whileLoop(cond: Bytes, body: Bytes): Bytes {
  return [0x02, 0x40, 0x03, 0x40, ...cond, ...eqz, 0x0d, 1, ...body, 0x0c, 0, 0x0b, 0x0b];
}

export function section(id: number, content: Bytes): Bytes {
  return [id, ...uleb(content.length), ...content];
}

export function name(text: string): Bytes {
  const bytes = [...new TextEncoder().encode(text)];
  return [...uleb(bytes.length), ...bytes];
}

export const select = [0x1b];

export const i32Load = (offset: number): Bytes => [0x28, 2, ...uleb(offset)];

export const i32x4Splat = simd(0x11);

export const i32x4Add = simd(0xae);

/** `i32x4.dot_i16x8_s`: lane i = a[2i]·b[2i] + a[2i+1]·b[2i+1] (pmaddwd). */
export const i32x4DotI16x8S = simd(0xba);

/** Pages a shared memory may grow to (4 GiB, wasm32's limit, which Emscripten's threaded builds also declare). */
export const SHARED_MAX_PAGES = 65536;

/**
 * An import section importing `env.memory`: with `shared`, a shared memory
 * (the threads feature) of at least `minPages` and at most
 * {@link SHARED_MAX_PAGES} pages, which a shared memory import must declare
 * (it matches any shared memory whose maximum is at most that); otherwise an
 * unshared memory of at least `minPages` and no maximum.
 */
export function envMemoryImport(minPages: number, shared: boolean): Bytes {
  const limits = shared
    ? [0x03, ...uleb(minPages), ...uleb(SHARED_MAX_PAGES)]
    : [0x00, ...uleb(minPages)];
  return section(2, [1, ...name('env'), ...name('memory'), 0x02, ...limits]);
}

/** Base64 in lines of 96 characters, as a TS string expression (for the generated modules). */
export function base64Lines(bytes: Uint8Array): string {
  const lines =
    Buffer.from(bytes)
      .toString('base64')
      .match(/.{1,96}/g) ?? [];
  return lines.map((line) => `  '${line}'`).join(' +\n');
}
