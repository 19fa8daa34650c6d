import { findBackendFactory, getBackend, ready, setBackend } from '@tensorflow/tfjs-core';
import { TfjsBlocksError } from './errors';

/** Backends {@link useBackend} knows, by the name the user gives. */
export type BackendName = 'cpu' | 'wasm' | 'webgl' | 'webgpu' | 'tensorflow' | 'tensorflow-gpu';

const PACKAGES: Record<BackendName, { module: string; tfjsName: string }> = {
  cpu: { module: '@tensorflow/tfjs-backend-cpu', tfjsName: 'cpu' },
  wasm: { module: '@tensorflow/tfjs-backend-wasm', tfjsName: 'wasm' },
  webgl: { module: '@tensorflow/tfjs-backend-webgl', tfjsName: 'webgl' },
  webgpu: { module: '@tensorflow/tfjs-backend-webgpu', tfjsName: 'webgpu' },
  tensorflow: { module: '@tensorflow/tfjs-node', tfjsName: 'tensorflow' },
  'tensorflow-gpu': { module: '@tensorflow/tfjs-node-gpu', tfjsName: 'tensorflow' },
};

/**
 * Selects and initialises a tfjs backend by name, importing its package
 * only when asked (so a browser bundle never pulls in tfjs-node, and Node
 * never loads WebGPU). When the package is missing, the error says what to
 * `npm install`; when it loads but cannot start (WebGL or WebGPU outside a
 * browser, no GPU), the error says that.
 *
 * In an app built by a bundler (Vite, webpack, esbuild), import the backend
 * package yourself: the bundler includes what is imported by name, and
 * `useBackend` then finds the backend registered and only starts it.
 *
 * @param name - `'cpu'`, `'wasm'`, `'webgl'`, `'webgpu'`, `'tensorflow'` (tfjs-node) or `'tensorflow-gpu'` (tfjs-node-gpu).
 * @returns the name of the active tfjs backend.
 * @example
 * ```ts
 * import { useBackend } from 'tfjs-blocks';
 * await useBackend('wasm'); // or 'cpu', 'tensorflow' (after npm install @tensorflow/tfjs-node), 'webgpu' in a browser
 *
 * // In a bundled browser app:
 * import '@tensorflow/tfjs-backend-webgpu';
 * await useBackend('webgpu');
 * ```
 */
export async function useBackend(name: BackendName): Promise<string> {
  const fn = 'useBackend';
  // An own key only: 'toString' or 'constructor' must not find Object's methods.
  const entry = Object.hasOwn(PACKAGES, name) ? PACKAGES[name] : undefined;
  if (!entry) {
    throw new TfjsBlocksError(
      fn,
      'name',
      Object.keys(PACKAGES)
        .map((n) => `'${n}'`)
        .join(', '),
      String(name),
    );
  }
  try {
    // Already registered (the app imported the package itself, as bundled
    // browser apps must: bundlers cannot follow this computed import).
    if (!findBackendFactory(entry.tfjsName)) await import(/* @vite-ignore */ entry.module);
  } catch (e) {
    throw new TfjsBlocksError(
      fn,
      'name',
      `a backend whose package is installed (npm install ${entry.module})`,
      `'${name}', whose package could not be loaded: ${(e as Error).message.split('\n')[0]}`,
    );
  }
  const listenersBefore = processListeners();
  const started = await setBackend(entry.tfjsName).catch(() => false);
  if (!started || getBackend() !== entry.tfjsName) {
    throw new TfjsBlocksError(
      fn,
      'name',
      `a backend this environment can start (${name === 'webgl' || name === 'webgpu' ? 'a browser with that API' : 'see the backend package’s requirements'})`,
      `'${name}', which failed to initialise`,
    );
  }
  await ready();
  removeListenersAddedSince(listenersBefore);
  return getBackend();
}

type ErrorEvent = 'uncaughtException' | 'unhandledRejection';
const ERROR_EVENTS: ErrorEvent[] = ['uncaughtException', 'unhandledRejection'];

export function processListeners(): Map<ErrorEvent, unknown[]> | undefined {
  const proc = (globalThis as { process?: NodeJS.Process }).process;
  if (typeof proc?.listeners !== 'function') return undefined;
  return new Map(
    ERROR_EVENTS.map((event) => [event, proc.listeners(event as 'uncaughtException')]),
  );
}

/**
 * The wasm backend's Emscripten module installs process handlers that
 * rethrow every uncaught error from inside its one-line minified source, so
 * Node prints that whole source (hundreds of kilobytes) above the user's own
 * error. Removing them restores Node's default, which reports the same error
 * and exits the same way.
 */
export function removeListenersAddedSince(before: Map<ErrorEvent, unknown[]> | undefined): void {
  const proc = (globalThis as { process?: NodeJS.Process }).process;
  if (!before || !proc) return;
  for (const event of ERROR_EVENTS) {
    for (const listener of proc.listeners(event as 'uncaughtException')) {
      if (!before.get(event)!.includes(listener)) {
        proc.removeListener(event, listener as (...args: unknown[]) => void);
      }
    }
  }
}
