import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// `npm run demo` writes runs/char-gpt/checkpoints/…/checkpoint.json, and the
// tests write into scratch/: output the checks must never see (`npm test` right
// after `npm run demo` once failed in Biome on that JSON). These write a badly
// formatted JSON file, a TypeScript file with a lint error and a type error,
// and a failing test file into each git-ignored output folder, then run the
// checks as `npm test` does.
const folders = ['runs', 'scratch'].map((root) => join(root, `generated-output-${process.pid}`));
const npx = (args: string[]) =>
  spawnSync('npx', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

describe('generated output in git-ignored folders', () => {
  beforeAll(() => {
    for (const folder of folders) {
      mkdirSync(folder, { recursive: true });
      writeFileSync(join(folder, 'checkpoint.json'), '{"step":2,\n  "params":   [1,2]}');
      writeFileSync(join(folder, 'bad.ts'), 'var x: number = "one"; debugger;\n');
      writeFileSync(
        join(folder, 'bad.test.ts'),
        "import { it } from 'vitest';\nit('fails', () => { throw new Error('picked up'); });\n",
      );
    }
    // The test relies on git agreeing that these folders are ignored.
    const ignored = execFileSync('git', ['check-ignore', ...folders], { encoding: 'utf8' });
    expect(ignored.trim().split('\n')).toEqual(folders);
  });
  afterAll(() => {
    for (const folder of folders) rmSync(folder, { recursive: true, force: true });
  });

  it('Biome skips them (VCS integration honours .gitignore)', () => {
    // Without --no-errors-on-unmatched an all-ignored path list is itself an error.
    const run = npx(['biome', 'check', '--no-errors-on-unmatched', ...folders]);
    expect(run.stdout + run.stderr).not.toMatch(/checkpoint\.json|bad\.ts/);
    expect(run.status, run.stdout + run.stderr).toBe(0);
  });

  it('tsc does not include them', () => {
    const run = npx(['tsc', '--showConfig']);
    expect(run.status, run.stderr).toBe(0);
    const files: string[] = JSON.parse(run.stdout).files;
    expect(files.length).toBeGreaterThan(100);
    expect(files.filter((f) => /(^|\/)(runs|scratch|dist|docs\/api)\//.test(f))).toEqual([]);
  });

  it('vitest does not collect test files from them', () => {
    const run = npx(['vitest', 'list', '--filesOnly']);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain('test/examples/generated-output.test.ts');
    expect(run.stdout).not.toMatch(/(^|\n)(runs|scratch)\//);
  }, 60_000);
});
