import { engine, type Tensor } from '@tensorflow/tfjs-core';

/** What this module reads of tfjs-backend-webgpu's per-tensor record (internal, 4.x). */
type WebGpuTensorData = { values?: ArrayLike<number> | null };
type WebGpuTensorMap = {
  has(dataId: object): boolean;
  get(dataId: object): WebGpuTensorData | undefined;
};

/** The backend instance that owns `t`'s data, and whether it is WebGPU. */
function owner(t: Tensor): { backend: object | undefined; webgpu: boolean } {
  const e = engine();
  const backend = e.state?.tensorInfo?.get(t.dataId)?.backend;
  // Compared by instance, not by class name: bundlers may rename classes.
  const webgpu = backend !== undefined && e.registry?.webgpu === backend;
  return { backend, webgpu };
}

/**
 * `t`'s values when they can be read synchronously without a GPU readback,
 * else `undefined`.
 *
 * Why: tfjs-backend-webgpu (4.22) drops a tensor's CPU copy once an op has
 * uploaded it, and its `dataSync` then reads back through an
 * `OffscreenCanvas`, which is slow and on some adapters (SwiftShader in
 * headless Chromium) returns zeros and loses the device. So on WebGPU this
 * returns the CPU copy when the backend still holds one (a tensor made from
 * numbers and not yet used, or one already read with `data()`), and
 * `undefined` when the values are only on the GPU or the backend's internals
 * are not the ones this reads. On every other backend (cpu, wasm, webgl,
 * tensorflow) a synchronous read is safe, and this is `dataSync()`.
 */
export function hostValues(t: Tensor): ArrayLike<number> | undefined {
  const { webgpu, backend } = owner(t);
  if (!webgpu) return t.dataSync() as ArrayLike<number>;
  const tensorMap = (backend as { tensorMap?: Partial<WebGpuTensorMap> }).tensorMap;
  // `get` of an id the map lacks would make the engine move the data: ask `has` first.
  if (typeof tensorMap?.has !== 'function' || typeof tensorMap.get !== 'function') return undefined;
  if (!tensorMap.has(t.dataId)) return undefined;
  const values = tensorMap.get(t.dataId)?.values;
  return values != null && typeof values.length === 'number' ? values : undefined;
}
