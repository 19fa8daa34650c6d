/**
 * The float32 few-row products of `scripts/float-simd-wasm.ts`: a
 * WebAssembly SIMD module that imports the wasm backend's own memory, so it
 * reads tfjs tensors in place and writes into tfjs outputs (it holds no
 * memory of its own). One instance per backend memory; the threaded build's
 * memory is shared, and takes the variant that imports a shared memory.
 */
import { floatSimdSharedWasm, floatSimdWasm } from './float-simd-module';

/** `(x, w, y, k, width, stride)` or `(x, b, y, k, n, stride)`: byte offsets and counts (see the generator). */
export type FloatSimdKernel = (
  x: number,
  w: number,
  y: number,
  k: number,
  width: number,
  stride: number,
) => void;

export type FloatSimdKernels = {
  /** `rows[m - 1]`: `y[m, width] += x[m, k] · w[k, width]` (w and y rows `stride` bytes apart). */
  rows: FloatSimdKernel[];
  /** `dots[m - 1]`: `y[m, n] = x[m, k] · b[n, k]ᵀ` (y rows `stride` bytes apart). */
  dots: FloatSimdKernel[];
};

/** Rows one kernel call handles. */
export const FLOAT_SIMD_MAX_ROWS = 4;

/** Per variant (unshared, shared memory): `undefined`: not tried yet; `null`: no WebAssembly SIMD here (or still compiling). */
const compiled: [WebAssembly.Module | null | undefined, WebAssembly.Module | null | undefined] = [
  undefined,
  undefined,
];
const instances = /* @__PURE__ */ new WeakMap<WebAssembly.Memory, FloatSimdKernels | null>();
let enabled = true;

function moduleBytes(shared: boolean): Uint8Array<ArrayBuffer> | null {
  if (typeof WebAssembly !== 'object' || typeof atob !== 'function') return null;
  const text = atob(shared ? floatSimdSharedWasm : floatSimdWasm);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return WebAssembly.validate(bytes) ? bytes : null;
}

function compile(shared: boolean): WebAssembly.Module | null {
  const bytes = moduleBytes(shared);
  if (bytes === null) return null;
  try {
    return new WebAssembly.Module(bytes);
  } catch {
    // A browser's main thread refuses synchronous compilation of larger
    // modules: compile in the background; the stock paths run meanwhile.
    WebAssembly.compile(bytes).then(
      (m) => {
        compiled[shared ? 1 : 0] = m;
      },
      () => undefined,
    );
    return null;
  }
}

/**
 * The kernels over `memory` (the wasm backend's `WebAssembly.Memory`,
 * shared or not), or `null` where they cannot run: no WebAssembly SIMD, no
 * such memory, or turned off with {@link setFloatSimdEnabled}.
 */
export function floatSimdKernels(memory: unknown): FloatSimdKernels | null {
  if (!enabled || !(typeof WebAssembly === 'object' && memory instanceof WebAssembly.Memory)) {
    return null;
  }
  const shared =
    typeof SharedArrayBuffer === 'function' && memory.buffer instanceof SharedArrayBuffer;
  const variant = shared ? 1 : 0;
  if (compiled[variant] === undefined) compiled[variant] = compile(shared);
  const module = compiled[variant];
  if (module === null) return null;
  let kernels = instances.get(memory);
  if (kernels === undefined) {
    try {
      const instance = new WebAssembly.Instance(module, { env: { memory } });
      const e = instance.exports as Record<string, FloatSimdKernel>;
      const ms = Array.from({ length: FLOAT_SIMD_MAX_ROWS }, (_, i) => i + 1);
      kernels = { rows: ms.map((m) => e[`rows${m}`]!), dots: ms.map((m) => e[`dot${m}`]!) };
    } catch {
      kernels = null;
    }
    instances.set(memory, kernels);
  }
  return kernels;
}

/**
 * Turns the float32 SIMD kernels on or off (default on; off: the fast
 * kernels use XNNPACK as before), for comparisons in tests and benchmarks;
 * returns the previous setting.
 */
export function setFloatSimdEnabled(on: boolean): boolean {
  const previous = enabled;
  enabled = on;
  return previous;
}
