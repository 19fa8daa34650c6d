// StrykerJS configuration for `npm run test:mutation` (issue 22): mutation
// testing of the numeric core, each module against its own tests. Run it
// through scripts/mutation.mjs, which sets `mutate` and `testFiles` per
// module and scores the results; `npx stryker run` alone mutates every
// module below against all of their tests at once (slower, less strict).
// See docs/reliability.md, "Mutation testing".

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  packageManager: 'npm',
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.config.ts', related: false },
  // Per-test coverage: each mutant runs only the tests that reach it.
  coverageAnalysis: 'perTest',
  // Mutants that do not compile are discarded before any test runs.
  checkers: ['typescript'],
  tsconfigFile: 'tsconfig.stryker.json',
  // Stryker puts `// @ts-nocheck` atop every source and test file in its
  // sandbox; not atop the generated src/nn/quantized-simd-module.ts, which a
  // test compares byte for byte with its generator's output.
  disableTypeChecks: '{src,test}/**/!(quantized-simd-module).{js,ts,mts,cts}',
  typescriptChecker: { prioritizePerformanceOverAccuracy: true },
  // The machines this runs on have two shared cores.
  concurrency: 1,
  mutate: [
    'src/attention/**/*.ts',
    'src/nn/**/*.ts',
    'src/losses/**/*.ts',
    'src/optim/**/*.ts',
    'src/schedules/**/*.ts',
    'src/generate/logits-processors.ts',
    'src/responsible/privacy-accountant.ts',
    '!src/**/index.ts',
  ],
  testFiles: [
    'test/attention/**/*.test.ts',
    'test/nn/**/*.test.ts',
    'test/losses/**/*.test.ts',
    'test/optim/**/*.test.ts',
    'test/schedules/**/*.test.ts',
    'test/generate/processors.test.ts',
    'test/generate/hf-processors.test.ts',
    'test/responsible/privacy-accountant.test.ts',
  ],
  // Not copied to the sandbox: no test above reads them.
  ignorePatterns: ['bench', 'examples', 'dist', 'runs', 'scratch'],
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  incrementalFile: 'reports/mutation/stryker-incremental.json',
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
  // Slow tensor tests on a loaded machine: generous timeouts, so a timeout
  // means an infinite loop rather than a busy core.
  timeoutMS: 60_000,
  timeoutFactor: 3,
  dryRunTimeoutMinutes: 30,
  thresholds: { high: 90, low: 80, break: null },
};
