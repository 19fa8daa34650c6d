import { availableParallelism } from 'node:os';
import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Stryker's sandboxes (npm run test:mutation) hold a copy of the tests.
    exclude: [...configDefaults.exclude, '.stryker-tmp/**', 'reports/**'],
    setupFiles: ['test/setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Vitest's default (cores - 1) runs one file at a time on a 2-core CI
    // machine, while the browser suites mostly wait on Chromium's GPU
    // process: two at a time takes 6 min instead of 8.5 there.
    maxWorkers: Math.max(2, availableParallelism() - 1),
  },
});
