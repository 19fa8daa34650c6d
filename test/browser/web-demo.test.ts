// End-to-end: the browser demo (examples/web), built by Vite as for
// production and served by `vite preview`, run in headless Chromium on WebGPU,
// WebGL and wasm (which checks that the .wasm binaries are served). Each run
// must use exactly that backend, lower the loss and print generated names; a
// screenshot per backend goes to test-results/web-demo-<backend>.png. Without
// ?backend= the page must pass over Chromium's software WebGPU and WebGL
// (SwiftShader) for wasm, and say why.
// Without /usr/bin/chromium (or $CHROMIUM_PATH), or when it cannot start, the
// tests are skipped, loudly: `.ci/run` installs it.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DemoResult } from '../../examples/web/main';
import { buildAndServe, hasChromium, launchChromium, type ServedPage } from '../helpers/browser';

const chromiumFound = hasChromium('test/browser/web-demo.test.ts');

// 8 steps take the loss from ln(28) ≈ 3.34 to about 2.9. Most of a run is
// compiling shaders (WebGPU: ~100 pipelines, 20-60 s on SwiftShader with two
// busy cores), hence the long limit.
const STEPS = 8;
const SAMPLES = 2;
const RUN_TIMEOUT_MS = 240_000;
/** WebGPU validation errors reach the console as warnings, and the work they drop is silently lost. */
const GPU_VALIDATION = /is invalid|exceeds the maximum|validation/i;

describe.skipIf(!chromiumFound)('browser demo (examples/web) in headless Chromium', () => {
  const configFile = 'examples/web/vite.config.ts';
  let page: ServedPage | undefined;
  let browser: Browser | undefined;
  let url = '';
  let launchError = '';

  beforeAll(async () => {
    ({ browser, launchError } = await launchChromium('browser demo tests'));
    if (browser) page = await buildAndServe(configFile, 'web-demo-');
    url = page?.url ?? '';
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await page?.close();
  });

  for (const backend of ['webgpu', 'webgl', 'wasm', 'chosen']) {
    it(
      backend === 'chosen'
        ? 'without ?backend= passes over software WebGPU and WebGL for wasm, and says why'
        : `trains, lowers the loss and streams names on ${backend}`,
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
          const query = backend === 'chosen' ? '' : `backend=${backend}&`;
          await page.goto(`${url}?${query}steps=${STEPS}&samples=${SAMPLES}`);
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
            reason: document.getElementById('reason')?.textContent,
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
          expect(result.skipped).toEqual([]);
          expect(shown.reason).toBe(result.reason);
          if (backend === 'chosen') {
            // Headless Chromium here: WebGPU and WebGL on SwiftShader (tfjs-facts.md).
            expect(result.backend).toBe('wasm');
            expect(result.passedOver).toEqual([
              expect.stringMatching(
                /^webgpu: its adapter is a software fallback \(isFallbackAdapter/,
              ),
              expect.stringMatching(/^webgl: its renderer runs in software \(.*SwiftShader/i),
            ]);
            expect(shown.reason).toMatch(
              /^chosen over webgpu: .*; webgl: .*\(try \?backend= to compare\)$/,
            );
          } else {
            expect(result.backend).toBe(backend);
            expect(result.passedOver).toEqual([]);
            expect(shown.reason).toBe(`asked for with ?backend=${backend}`);
          }
          expect(shown.backend).toBe(result.backend);
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
