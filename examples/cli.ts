// Shared by every example, so `--backend tensorflow-gpu` takes the same path as `--backend cpu`.
import { parseArgs } from 'node:util';
import { type BackendName, useBackend } from 'tfjs-blocks';

/** Reads `--backend <name>` (default `wasm`), starts that backend and returns its tfjs name. */
export async function startBackendFromArgs(): Promise<string> {
  const { values } = parseArgs({
    options: { backend: { type: 'string', default: 'wasm' } },
    strict: false,
  });
  return useBackend(values.backend as BackendName);
}
