// Cross-backend agreement in headless Chromium: every case of the Node suite
// (test/reliability/cross-backend-cases.ts) plus the page's browser-only
// ones runs on cpu and on webgl, and on cpu and on webgpu, in the page
// test/browser/cross-backend-page (built by Vite, served by `vite preview`).
// Outputs and the gradients of sum(output · cotangent) must agree with cpu
// within 1e-4 of each tensor's largest entry (as in Node), unless the case is
// a known tfjs backend failure listed in KNOWN_FAILURES, whose failure must
// then be exactly the known one (a case that starts passing fails the test
// too, so the list stays true). The backends' CPU forwarding is off, so every
// op runs on the GPU backend. A table of the figures is printed at the end.
// Without /usr/bin/chromium (or $CHROMIUM_PATH), or when it cannot start, the
// tests are skipped, loudly.
//   npm run test:cross-backend        # webgl and webgpu (and the Node suite): about 3 min on 2 busy cores
//   npx vitest run test/browser/cross-backend.test.ts   # both halves, as `npm test` runs them
//   TFJS_BLOCKS_WEBGPU_SUITE=0 npx vitest run test/browser/cross-backend.test.ts   # webgl only
//   CROSS_BACKEND_REPORT=/tmp/xbb.json npx vitest run test/browser/cross-backend.test.ts
import { writeFileSync } from 'node:fs';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAndServe, hasChromium, launchChromium, type ServedPage } from '../helpers/browser';
import type { CaseResult, CrossBackendResult } from './cross-backend-page/main';

const chromiumFound = hasChromium('test/browser/cross-backend.test.ts');

const RTOL = 1e-4;
/** One page's limit; a backend's whole run (all its pages) gets BACKEND_TIMEOUT_MS. */
const PAGE_TIMEOUT_MS = 300_000;
const BACKEND_TIMEOUT_MS = 420_000;

/**
 * Cases a tfjs 4.22 backend gets wrong or cannot run, keyed `fn: variant`,
 * with what the failure must look like (matched against the thrown error and
 * the GPU errors) and why. docs/backends.md lists them.
 */
const KNOWN_FAILURES: Record<
  string,
  Record<string, { signature: RegExp; why: string; freshPasses?: boolean }>
> = {
  webgl: {},
  webgpu: {},
};

const key = (r: Pick<CaseResult, 'fn' | 'variant'>) => `${r.fn}: ${r.variant}`;
const fmt = (x: number | null) => (x === null ? '-' : x.toExponential(1));
/** The figures, or the failure, in one line: also what KNOWN_FAILURES' signatures match. */
const summary = (r: CaseResult) =>
  r.error
    ? `FAILED: ${r.error}`
    : `output ${fmt(r.output)}  gradient ${fmt(r.gradient)}${r.gpuErrors ? `  GPU errors: ${r.gpuErrors.join(' | ')}` : ''}`;
/** Within RTOL (exact cases: equal), no error, same counts, no tensor left behind. */
const passes = (r: CaseResult) =>
  !r.error &&
  !r.gpuErrors &&
  r.output !== null &&
  r.output < RTOL &&
  (r.gradient === null || r.gradient < RTOL) &&
  (!r.exact || r.output === 0) &&
  r.counts!.cpu.join() === r.counts!.other.join() &&
  r.leaked!.join() === '0,0';

describe.skipIf(!chromiumFound)('cross-backend agreement in headless Chromium', () => {
  const configFile = 'test/browser/cross-backend-page/vite.config.ts';
  let page: ServedPage | undefined;
  let browser: Browser | undefined;
  let url = '';
  let launchError = '';
  const tables: string[] = [];
  /** Per backend: every case's result, and its fresh-inputs rerun if any. */
  const report: Record<string, { seconds: number; results: CaseResult[]; fresh: CaseResult[] }> =
    {};

  beforeAll(async () => {
    ({ browser, launchError } = await launchChromium('cross-backend browser tests'));
    if (browser) page = await buildAndServe(configFile, 'cross-backend-');
    url = page?.url ?? '';
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await page?.close();
    if (tables.length > 0) console.log(tables.join('\n\n'));
    if (process.env.CROSS_BACKEND_REPORT)
      writeFileSync(process.env.CROSS_BACKEND_REPORT, JSON.stringify(report, null, 1));
  });

  /** Opens a fresh page on `cases` (all when undefined) and waits for it to finish or stop. */
  async function runPage(backend: string, cases: number[] | undefined, fresh: boolean) {
    const context = await browser!.newContext();
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console.error: ${m.text()}`);
    });
    try {
      await page.goto(
        `${url}?backend=${backend}${cases ? `&cases=${cases.join(',')}` : ''}${fresh ? '&fresh=1' : ''}`,
      );
      await page.waitForFunction(
        () => window.__crossBackend && window.__crossBackend.status !== 'running',
        null,
        { timeout: PAGE_TIMEOUT_MS, polling: 500 },
      );
      const result = (await page.evaluate(() => window.__crossBackend)) as CrossBackendResult;
      return { result, problems };
    } finally {
      await context.close();
    }
  }

  /**
   * Runs `cases` (all when undefined) on `backend`. A case that goes wrong may
   * break the backend for the ones after it (a lost WebGPU device fails
   * everything), so the page stops there; the rest, and that case itself if
   * it did not run first, go to a fresh page: each case's figures come from a
   * page where no failure preceded it.
   */
  async function runAll(backend: string, cases: number[] | undefined, fresh: boolean) {
    const final = new Map<number, CaseResult>();
    let pending = cases;
    let total = 0;
    let pages = 0;
    let info: Record<string, unknown> = {};
    for (;;) {
      pages++;
      const { result, problems } = await runPage(backend, pending, fresh);
      expect(result.error, `${result.error}\n${problems.join('\n')}`).toBeUndefined();
      expect(result.backend).toBe(backend);
      info = result.info;
      total = total || result.cases.length;
      const asked = result.cases;
      for (const r of result.results) {
        if (r.index === result.stoppedAfter && r.index !== asked[0]) break; // rerun it first
        final.set(r.index, r);
      }
      const rest = asked.filter((i) => !final.has(i));
      if (rest.length === 0) break;
      expect(rest.length, `page made no progress on ${backend}`).toBeLessThan(asked.length);
      pending = rest;
    }
    const results = [...final.values()].sort((a, b) => a.index - b.index);
    expect(results).toHaveLength(total);
    return { results, pages, info };
  }

  for (const backend of ['webgl', 'webgpu']) {
    it(
      `every case agrees with cpu on ${backend} within ${RTOL}, or fails in its known way`,
      async (ctx) => {
        if (!browser) {
          console.warn(`SKIPPED ${backend} run: Chromium did not start: ${launchError}`);
          ctx.skip();
          return;
        }
        if (backend === 'webgpu' && process.env.TFJS_BLOCKS_WEBGPU_SUITE === '0') {
          console.warn('SKIPPED webgpu cross-backend run: TFJS_BLOCKS_WEBGPU_SUITE=0');
          ctx.skip();
          return;
        }
        const started = performance.now();
        const main = await runAll(backend, undefined, false);
        const results = main.results;
        // Known failures caused only by reusing uploaded inputs (freshPasses):
        // measured again with fresh inputs for the gradient pass, and held to RTOL.
        const known = KNOWN_FAILURES[backend]!;
        const retry = results.filter((r) => known[key(r)]?.freshPasses).map((r) => r.index);
        const fresh = new Map<number, CaseResult>();
        if (retry.length > 0)
          for (const r of (await runAll(backend, retry, true)).results) fresh.set(r.index, r);
        const seconds = (performance.now() - started) / 1000;
        report[backend] = { seconds, results, fresh: [...fresh.values()] };

        // The table.
        const width = Math.max(...results.map((r) => key(r).length));
        const lines = results.map((r) => {
          const figures = summary(r);
          const f = fresh.get(r.index);
          const again = f ? `\n${''.padEnd(width)}  with fresh inputs: ${summary(f)}` : '';
          return `${key(r).padEnd(width)}  ${figures}  (${r.seconds.toFixed(1)} s)${known[key(r)] ? `  [known failure: ${known[key(r)]!.why}]` : ''}${again}`;
        });
        tables.push(
          `max relative error, ${backend} vs cpu in headless Chromium (|diff| / max|cpu| per tensor), ` +
            `${seconds.toFixed(0)} s in all, ${main.pages} page(s), ${JSON.stringify(main.info)}:\n${lines.join('\n')}`,
        );

        const failures: string[] = [];
        for (const r of results) {
          const k = key(r);
          const expected = known[k];
          const text = summary(r);
          const ok = passes(r);
          if (expected) {
            if (ok)
              failures.push(
                `${k}: listed as a known failure but now passes: update KNOWN_FAILURES`,
              );
            else if (!expected.signature.test(text))
              failures.push(
                `${k}: fails, but not in the known way (${expected.signature}): ${text}`,
              );
          } else if (!ok) {
            failures.push(`${k}: ${text}, counts ${JSON.stringify(r.counts)}, leaked ${r.leaked}`);
          }
        }
        for (const [index, f] of fresh) {
          if (!passes(f)) failures.push(`${key(f)} with fresh inputs: ${summary(f)}`);
          expect(index).toBe(f.index);
        }
        expect(fresh.size).toBe(retry.length);
        expect(failures).toEqual([]);
      },
      BACKEND_TIMEOUT_MS,
    );
  }
});
