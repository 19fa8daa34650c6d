import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/** The first ```ts block after `heading` in the README. */
function codeBlockAfter(heading: string): string {
  const readme = readFileSync('README.md', 'utf8');
  const section = readme.slice(readme.indexOf(heading));
  const match = /```ts\n([\s\S]*?)```/.exec(section);
  if (!match) throw new Error(`no ts block after ${heading}`);
  return match[1]!;
}

const repo = resolve('.');

/** Runs `npx tsx <file>` in `cwd`, tfjs's Node.js banner dropped as in every child the tests start. */
async function npxTsx(file: string, cwd: string): Promise<{ code: number | null; output: string }> {
  const quiet = new URL('../helpers/quiet-tfjs-preload.ts', import.meta.url).href;
  const child = spawn('npx', ['tsx', '--import', quiet, file], {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => {
    output += d;
  });
  child.stderr.on('data', (d) => {
    output += d;
  });
  const code = await new Promise<number | null>((done) => child.on('close', done));
  return { code, output };
}

// The README's quickstart, run as its text says: saved as quickstart.mts in a
// fresh `npm init -y` project (CommonJS) and run with `npx tsx quickstart.mts`.
// The project gets tfjs and tsx from this checkout's node_modules and
// `tfjs-blocks` from src/ (through its tsconfig paths): no install, no network;
// scripts/check-dist.mjs repeats it with the packed tarball.
describe('README quickstart', () => {
  let project = '';
  beforeAll(() => {
    project = mkdtempSync(join(tmpdir(), 'tfjs-blocks-quickstart-'));
    execFileSync('npm', ['init', '-y'], { cwd: project, stdio: 'ignore' });
    mkdirSync(join(project, 'node_modules', '.bin'), { recursive: true });
    for (const name of ['@tensorflow', 'tsx'])
      symlinkSync(join(repo, 'node_modules', name), join(project, 'node_modules', name));
    symlinkSync('../tsx/dist/cli.mjs', join(project, 'node_modules', '.bin', 'tsx'));
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { paths: { 'tfjs-blocks': [join(repo, 'src', 'index.ts')] } },
      }),
    );
    const code = codeBlockAfter('## Quickstart');
    writeFileSync(join(project, 'quickstart.mts'), code);
    writeFileSync(join(project, 'quickstart.ts'), code);
  });
  afterAll(() => rmSync(project, { recursive: true, force: true }));

  it('says how to run it (the commands tested below), and is at most 20 lines', () => {
    const intro = readFileSync('README.md', 'utf8').split('## Quickstart')[1]!.split('```ts')[0]!;
    expect(intro).toContain('`quickstart.mts`');
    expect(intro).toContain('`npx tsx quickstart.mts`');
    expect(intro).toContain(
      'Top-level await is currently not supported with the "cjs" output format',
    );
    expect(codeBlockAfter('## Quickstart').trimEnd().split('\n').length).toBeLessThanOrEqual(20);
    const pkg = JSON.parse(readFileSync(join(project, 'package.json'), 'utf8'));
    expect(pkg.type ?? 'commonjs').toBe('commonjs');
  });

  it('runs as quickstart.mts with npx tsx and prints what its comment says', async () => {
    const { code, output } = await npxTsx('quickstart.mts', project);
    expect(code, output).toBe(0);
    expect(output).toContain('to be or not to be, that is the ');
  }, 240_000);

  it('as quickstart.ts in that project fails the way the README says', async () => {
    const { code, output } = await npxTsx('quickstart.ts', project);
    expect(code).not.toBe(0);
    expect(output).toContain(
      'Top-level await is currently not supported with the "cjs" output format',
    );
  }, 60_000);
});
