// Shared by the browser tests: Debian's Chromium driven by playwright-core,
// and a page built by Vite (as for production) and served by `vite preview`.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { build, type PreviewServer, preview } from 'vite';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

// Flags that work on these machines (../shared/notes/tfjs-facts.md). WebGPU's
// adapter is then SwiftShader, on the CPU: about 0.3 GFLOP/s.
const FLAGS = [
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
  '--disable-dev-shm-usage',
  '--enable-unsafe-webgpu',
];

/** Whether the Chromium binary exists; says loudly, once per test file, when it does not. */
export function hasChromium(testFile: string): boolean {
  const found = existsSync(CHROMIUM);
  if (!found) {
    console.warn(
      `SKIPPED ${testFile}: ${CHROMIUM} not found (apt-get install chromium, or set CHROMIUM_PATH)`,
    );
  }
  return found;
}

/** Chromium with a fresh temporary profile, or why it did not start (also printed). */
export async function launchChromium(
  label: string,
): Promise<{ browser?: Browser; launchError: string }> {
  try {
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: FLAGS,
      headless: true,
    });
    return { browser, launchError: '' };
  } catch (e) {
    const launchError = (e as Error).message.split('\n')[0]!;
    console.warn(`SKIPPED ${label}: Chromium did not start: ${launchError}`);
    return { launchError };
  }
}

/** A page built by Vite into a temporary folder and served on 127.0.0.1. */
export interface ServedPage {
  url: string;
  close(): Promise<void>;
}

/**
 * Builds the page of `configFile` and serves it. A build (a few seconds)
 * rather than the dev server: it tests what ships, and no edit elsewhere in
 * the checkout can reload the page mid-run.
 */
export async function buildAndServe(configFile: string, prefix: string): Promise<ServedPage> {
  const outDir = mkdtempSync(join(tmpdir(), prefix));
  await build({ configFile, build: { outDir, emptyOutDir: true }, logLevel: 'warn' });
  const server: PreviewServer = await preview({
    configFile,
    build: { outDir },
    preview: { port: 0, host: '127.0.0.1', strictPort: false },
    logLevel: 'warn',
  });
  return {
    url: server.resolvedUrls!.local[0]!,
    async close() {
      await server.close();
      rmSync(outDir, { recursive: true, force: true });
    },
  };
}
