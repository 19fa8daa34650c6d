// Cross-backend agreement in the browser: every case of the Node suite
// (test/reliability/cross-backend-cases.ts) runs on cpu and then on the
// backend named by `?backend=webgl|webgpu`, in this page, with the same
// inputs (built on cpu from seeded numbers, copied as numbers). Per case the
// page records the largest output and gradient error against cpu, or the
// error the backend threw. `window.__crossBackend` holds the results as they
// come (see CrossBackendResult); test/browser/cross-backend.test.ts reads it.
//   ?backend=webgl|webgpu   the backend compared with cpu (default webgl)
//   ?cases=0,5,12           only these case indices (default: all)
//   ?fresh=1                the gradient pass gets fresh input tensors (see
//                           CompareOptions in cross-backend-cases.ts)
// Browser-only cases follow the shared ones (EXTRA_CASES). The page stops
// after a case that throws, reports WebGPU errors or misses the bound; the
// test runs the remaining cases in a fresh page.
// The backends' CPU forwarding is switched off (WEBGL_CPU_FORWARD,
// WEBGPU_CPU_FORWARD): with it on, ops on small tensors (under 128 / 1,000
// entries, i.e. most of these tiny cases) run on cpu kernels and the
// comparison would measure cpu against itself.
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
// Bundled from source, tfjs-blocks' import of tfjs-layers (which registers
// core's gradients) is tree-shaken away: register them directly.
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { applyUpdates, clipByGlobalNorm, seededRandom } from '../../../src/index';
import { CASES, type Case, compareCase, RTOL } from '../../reliability/cross-backend-cases';

/**
 * Browser-only cases, numbered after the shared ones. clipByGlobalNorm over
 * 12 tensors: WebGPU allows 8 storage buffers per shader, and tfjs's AddN
 * takes all its inputs in one shader, so a sum of more than 7 tensors must be
 * split (tfjs-blocks' sumTensors does).
 */
const EXTRA_CASES: Case[] = [
  {
    fn: 'clipByGlobalNorm',
    variant: '12 tensors (over WebGPU’s 8 storage buffers per shader), norm above the limit',
    setup: () => {
      const r = seededRandom(77);
      const inputs: Record<string, tf.Tensor> = {};
      for (let i = 0; i < 12; i++)
        inputs[`u${i}`] = tf.tensor(
          Array.from({ length: 6 + i }, () => 2 * r() - 1),
          [6 + i],
        );
      return {
        inputs,
        run: (t) => {
          const clip = clipByGlobalNorm(1);
          const params = Object.fromEntries(Object.keys(t).map((k) => [k, tf.zerosLike(t[k]!)]));
          const { updates } = clip.update(t, clip.init(params), params);
          const applied = applyUpdates(params, updates);
          return Object.keys(t).map((k) => applied[k]!);
        },
        // No gradient: the clip's limit test (Greater) has none in tfjs.
      };
    },
  },
];
const ALL_CASES = [...CASES, ...EXTRA_CASES];

/** One case's figures. */
export type CaseResult = {
  index: number;
  fn: string;
  variant: string;
  exact: boolean;
  /** Largest output error against cpu; null when the backend threw. */
  output: number | null;
  /** Largest gradient error; null when the case takes no gradient or the backend threw. */
  gradient: number | null;
  /** Outputs and gradients counted on cpu and on the backend. */
  counts?: { cpu: [number, number]; other: [number, number] };
  /** Tensors left behind on cpu and on the backend. */
  leaked?: [number, number];
  /** What the backend (or the case) threw. */
  error?: string;
  /** WebGPU errors the device reported during the case (invalid shaders, lost device). */
  gpuErrors?: string[];
  /** Wall time of the case, both backends. */
  seconds: number;
};

/** What the page exposes as `window.__crossBackend`. */
export type CrossBackendResult = {
  status: 'running' | 'done' | 'error';
  requested: string;
  /** `?fresh=1`: fresh inputs for the gradient pass. */
  freshInputs: boolean;
  /** `tf.getBackend()` while the backend ran (set once it started). */
  backend?: string;
  /** Facts about the backend: float32 textures, adapter, flags. */
  info: Record<string, unknown>;
  /** Cases asked for (indices). */
  cases: number[];
  results: CaseResult[];
  /** Wall time of all cases, seconds. */
  seconds?: number;
  /** Why the page could not run at all (backend did not start, ...). */
  error?: string;
  /**
   * The index of the case after which the page stopped, because that case
   * threw, reported GPU errors or missed the bound: the backend may be
   * broken for what follows (a lost WebGPU device fails every later case),
   * so the test runs the rest in a fresh page.
   */
  stoppedAfter?: number;
};

declare global {
  interface Window {
    __crossBackend?: CrossBackendResult;
  }
}

const query = new URLSearchParams(location.search);
const requested = query.get('backend') ?? 'webgl';
const only = query.get('cases');
const freshInputs = query.get('fresh') === '1';
const indices = only ? only.split(',').map(Number) : ALL_CASES.map((_, i) => i);
const result: CrossBackendResult = {
  status: 'running',
  requested,
  freshInputs,
  info: {},
  cases: indices,
  results: [],
};
window.__crossBackend = result;
const status = document.getElementById('status')!;
const rows = document.getElementById('rows')!;
const fmt = (x: number | null) => (x === null ? '–' : x.toExponential(1));
/** Errors the WebGPU device reports (uncaptured validation errors, device loss), per case. */
let gpuErrors: string[] = [];

async function start(): Promise<void> {
  if (requested === 'webgpu') {
    await import('@tensorflow/tfjs-backend-webgpu');
    tf.env().set('WEBGPU_CPU_FORWARD', false);
    const adapter = await (
      navigator as unknown as { gpu?: { requestAdapter(): Promise<unknown> } }
    ).gpu?.requestAdapter();
    const info = (adapter as { info?: Record<string, unknown> } | null)?.info;
    result.info.adapter = info
      ? { vendor: info.vendor, architecture: info.architecture, description: info.description }
      : null;
    result.info.WEBGPU_CPU_FORWARD = tf.env().getBool('WEBGPU_CPU_FORWARD');
  } else if (requested === 'webgl') {
    await import('@tensorflow/tfjs-backend-webgl');
    tf.env().set('WEBGL_CPU_FORWARD', false);
    result.info.WEBGL_CPU_FORWARD = tf.env().getBool('WEBGL_CPU_FORWARD');
  } else {
    throw new Error(`unknown backend ${requested} (webgl or webgpu)`);
  }
  if (!(await tf.setBackend(requested))) throw new Error(`tf.setBackend('${requested}') failed`);
  await tf.ready();
  result.backend = tf.getBackend();
  if (requested === 'webgpu') {
    type Device = EventTarget & { lost: Promise<{ message: string }> };
    const device = (tf.backend() as unknown as { device: Device }).device;
    device.addEventListener('uncapturederror', (e) =>
      gpuErrors.push(
        String((e as unknown as { error: { message: string } }).error.message).split('\n')[0]!,
      ),
    );
    device.lost.then((info) => gpuErrors.push(`device lost: ${info.message}`));
  }
  if (requested === 'webgl') {
    result.info.WEBGL_VERSION = tf.env().getNumber('WEBGL_VERSION');
    result.info.WEBGL_RENDER_FLOAT32_ENABLED = tf.env().getBool('WEBGL_RENDER_FLOAT32_ENABLED');
    result.info.WEBGL_PACK = tf.env().getBool('WEBGL_PACK');
  }
  await tf.setBackend('cpu');
}

async function main(): Promise<void> {
  const started = performance.now();
  try {
    await start();
  } catch (e) {
    result.error = String((e as Error).message ?? e);
    result.status = 'error';
    status.textContent = `error: ${result.error}`;
    return;
  }
  for (const index of indices) {
    const c = ALL_CASES[index]!;
    status.textContent = `${requested}: case ${index} of ${ALL_CASES.length}: ${c.fn}`;
    gpuErrors = [];
    const t0 = performance.now();
    const row: CaseResult = {
      index,
      fn: c.fn,
      variant: c.variant,
      exact: c.exact === true,
      output: null,
      gradient: null,
      seconds: 0,
    };
    try {
      const r = await compareCase(c, index, requested, { freshInputs });
      row.output = r.output;
      row.gradient = r.gradient;
      row.counts = {
        cpu: [r.cpu.result.outputs.length, r.cpu.result.grads.length],
        other: [r.other.result.outputs.length, r.other.result.grads.length],
      };
      row.leaked = [r.cpu.leaked, r.other.leaked];
    } catch (e) {
      row.error = String((e as Error).message ?? e);
      await tf.setBackend('cpu');
    }
    // Is the backend still usable? (A lost WebGPU device fails silently, or
    // only on the next read.) Then give the device's error events a moment.
    try {
      await tf.setBackend(requested);
      const two = await tf.tidy(() => tf.add(tf.scalar(1), tf.scalar(1))).data();
      if (two[0] !== 2) throw new Error(`1 + 1 = ${two[0]}`);
    } catch (e) {
      gpuErrors.push(`backend unusable after the case: ${(e as Error).message ?? e}`);
    } finally {
      await tf.setBackend('cpu');
    }
    if (requested === 'webgpu') await new Promise((resolve) => setTimeout(resolve, 50));
    if (gpuErrors.length > 0) row.gpuErrors = gpuErrors;
    row.seconds = (performance.now() - t0) / 1000;
    result.results.push(row);
    const tr = document.createElement('tr');
    if (row.error) tr.className = 'bad';
    tr.innerHTML = `<td>${index}</td><td></td><td>${fmt(row.output)}</td><td>${fmt(row.gradient)}</td><td>${row.seconds.toFixed(1)}</td>`;
    tr.children[1]!.textContent = `${c.fn} (${c.variant})${row.error ? `: ${row.error}` : ''}`;
    rows.append(tr);
    const bad = (x: number | null) => x !== null && !(x < RTOL);
    if (row.error || row.gpuErrors || bad(row.output) || bad(row.gradient)) {
      result.stoppedAfter = index;
      break;
    }
    // Let the page (and the test's polling) breathe between cases.
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  result.seconds = (performance.now() - started) / 1000;
  result.status = 'done';
  status.textContent = `${requested}: done in ${result.seconds.toFixed(1)} s`;
}

main();
