// End-to-end: the browser demo (examples/web), built by Vite as for
// production and served by `vite preview`, run in headless Chromium on WebGPU,
// WebGL and wasm (which checks that the .wasm binaries are served). Each run
// must use exactly that backend, lower the loss and print generated names; a
// screenshot per backend goes to test-results/web-demo-<backend>.png.
// Without /usr/bin/chromium (or $CHROMIUM_PATH), or when it cannot start, the
// tests are skipped, loudly: `.ci/run` installs it.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { build, type PreviewServer, preview } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DemoResult } from '../../examples/web/main';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) {
  console.warn(
    `SKIPPED test/browser/web-demo.test.ts: ${CHROMIUM} not found (apt-get install chromium, or set CHROMIUM_PATH)`,
  );
}

// Flags that work on these machines (../shared/notes/tfjs-facts.md). WebGPU's
// adapter is then SwiftShader, on the CPU: about 0.3 GFLOP/s, hence the tiny run.
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
// 8 steps take the loss from ln(28) ≈ 3.34 to about 2.9. Most of a run is
// compiling shaders (WebGPU: ~100 pipelines, 20-60 s on SwiftShader with two
// busy cores), hence the long limit.
const STEPS = 8;
const SAMPLES = 2;
const RUN_TIMEOUT_MS = 240_000;
/** WebGPU validation errors reach the console as warnings, and the work they drop is silently lost. */
const GPU_VALIDATION = /is invalid|exceeds the maximum|validation/i;

describe.skipIf(!hasChromium)('browser demo (examples/web) in headless Chromium', () => {
  const configFile = 'examples/web/vite.config.ts';
  let outDir = '';
  let server: PreviewServer | undefined;
  let browser: Browser | undefined;
  let url = '';
  let launchError = '';

  beforeAll(async () => {
    try {
      // launch() gives each browser a fresh temporary user-data dir.
      browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS, headless: true });
    } catch (e) {
      launchError = (e as Error).message.split('\n')[0]!;
      console.warn(`SKIPPED browser demo tests: Chromium did not start: ${launchError}`);
      return;
    }
    // A build (a few seconds) rather than the dev server: it tests what ships,
    // and no edit elsewhere in the checkout can reload the page mid-run.
    outDir = mkdtempSync(join(tmpdir(), 'web-demo-'));
    await build({ configFile, build: { outDir, emptyOutDir: true }, logLevel: 'warn' });
    server = await preview({
      configFile,
      build: { outDir },
      preview: { port: 0, host: '127.0.0.1', strictPort: false },
      logLevel: 'warn',
    });
    url = server.resolvedUrls!.local[0]!;
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (outDir) rmSync(outDir, { recursive: true, force: true });
  });

  for (const backend of ['webgpu', 'webgl', 'wasm']) {
    it(
      `trains, lowers the loss and streams names on ${backend}`,
      async (ctx) => {
        if (!browser) {
          console.warn(`SKIPPED ${backend} run: Chromium did not start: ${launchError}`);
          ctx.skip();
          return;
        }
        const started = performance.now();
        const context = await browser.newContext({ viewport: { width: 900, height: 760 } });
        const page = await context.newPage();
        const problems: string[] = [];
        page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
        page.on('console', (m) => {
          if (m.type() === 'error' || GPU_VALIDATION.test(m.text()))
            problems.push(`console.${m.type()}: ${m.text()}`);
        });
        try {
          await page.goto(`${url}?backend=${backend}&steps=${STEPS}&samples=${SAMPLES}`);
          await page.waitForFunction(
            () => window.__demo && window.__demo.status !== 'running',
            null,
            {
              timeout: RUN_TIMEOUT_MS,
              polling: 250,
            },
          );
          const result = (await page.evaluate(() => window.__demo)) as DemoResult;
          const shown = await page.evaluate(() => ({
            backend: document.getElementById('backend')?.textContent,
            samples: document.getElementById('samples')?.textContent ?? '',
          }));
          mkdirSync('test-results', { recursive: true });
          await page.screenshot({ path: join('test-results', `web-demo-${backend}.png`) });
          const seconds = (performance.now() - started) / 1000;
          const t = result.timings;
          console.log(
            `web demo on ${result.backend}: ${seconds.toFixed(1)} s in all (page times: backend ` +
              `${t.backend} s, first step ${t.firstStep} s, trained ${t.trained} s, sampled ` +
              `${t.sampled} s), ${result.tokensPerSecond} tokens/s after the first step, loss ` +
              `${result.firstLoss?.toFixed(3)} -> ${result.finalLoss?.toFixed(3)}, names: ` +
              `${JSON.stringify(result.samples)}, ${result.framesWhileSampling} frames drawn in ` +
              `${result.samplingSeconds?.toFixed(2)} s of sampling`,
          );

          expect(result.error, problems.join('\n')).toBeUndefined();
          expect(result.status).toBe('done');
          expect(result.backend).toBe(backend);
          expect(result.skipped).toEqual([]);
          expect(shown.backend).toBe(backend);
          expect(result.losses).toHaveLength(STEPS);
          expect(result.losses.every(Number.isFinite)).toBe(true);
          // ln(28) ≈ 3.33 at the start; a model that learns nothing stays there.
          expect(result.firstLoss!).toBeGreaterThan(3);
          expect(result.finalLoss!).toBeLessThan(result.firstLoss! - 0.25);
          expect(result.samples).toHaveLength(SAMPLES);
          expect(result.samples.join('').length).toBeGreaterThan(0);
          expect(shown.samples).toBe(result.samples.join('\n'));
          // Streaming repaints: generate yields a macrotask per token, so frames are drawn
          // while it runs (a microtask yield gave 0 frames in 0.8 s of sampling).
          if (result.samplingSeconds! > 0.25) expect(result.framesWhileSampling).toBeGreaterThan(0);
          expect(problems).toEqual([]);
        } finally {
          await context.close();
        }
      },
      RUN_TIMEOUT_MS + 30_000,
    );
  }
});
