// The test tree mirrors src/: a test for src/<path>/<file>.ts lives in
// test/<path>/, so a newcomer finds a module's tests by its path. Only the
// cross-cutting suites and the test's own support folders stand outside.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

/** Suites that test the library as a whole rather than one folder of it. */
const crossCutting = ['architecture', 'browser', 'property', 'reliability'];
/** Support: shared test code, data, reference scripts, tests of examples/ and the package. */
const support = ['examples', 'fixtures', 'goldens', 'helpers', 'reference'];
/** Top-level test files that test no single src file. */
const topLevelFiles = ['layout.test.ts', 'setup.ts'];

function entries(dir: string) {
  return readdirSync(join(root, dir), { withFileTypes: true });
}

/** Every folder under test/, as a path relative to test/, outside the exempt top-level ones. */
function mirroredTestDirs(path = ''): string[] {
  return entries(join('test', path))
    .filter((e) => e.isDirectory())
    .filter((e) => path !== '' || ![...crossCutting, ...support].includes(e.name))
    .flatMap((e) => {
      const child = path === '' ? e.name : `${path}/${e.name}`;
      return [child, ...mirroredTestDirs(child)];
    });
}

function srcHas(path: string, kind: 'dir' | 'file') {
  const slash = path.lastIndexOf('/');
  const [parent, name] = slash < 0 ? ['', path] : [path.slice(0, slash), path.slice(slash + 1)];
  try {
    return entries(join('src', parent)).some(
      (e) => e.name === name && (kind === 'dir' ? e.isDirectory() : e.isFile()),
    );
  } catch {
    return false;
  }
}

describe('the test tree mirrors src/', () => {
  it('names a src/<path>/ with every test/<path>/ (cross-cutting and support folders aside)', () => {
    const dirs = mirroredTestDirs();
    expect(dirs).toContain('nn'); // the walk sees the tree
    expect(dirs.filter((dir) => !srcHas(dir, 'dir')).map((dir) => `test/${dir}/`)).toEqual([]);
  });

  it('names a src/<name>.ts with every top-level test/<name>.test.ts', () => {
    const files = entries('test')
      .filter((e) => e.isFile() && !topLevelFiles.includes(e.name))
      .map((e) => e.name);
    expect(files).toContain('backends.test.ts');
    const orphans = files.filter(
      (name) => !name.endsWith('.test.ts') || !srcHas(name.replace(/\.test\.ts$/, '.ts'), 'file'),
    );
    expect(orphans.map((name) => `test/${name}`)).toEqual([]);
  });

  it('exempts only folders that exist', () => {
    const names = entries('test').map((e) => e.name);
    for (const name of [...crossCutting, ...support, ...topLevelFiles]) {
      expect(names).toContain(name);
    }
  });
});

describe('shared checks live in src/internal/', () => {
  /** The relative import paths of every .ts file under src/<dir>/. */
  function importsUnder(dir: string): string[] {
    return readdirSync(join(root, 'src', dir), { recursive: true, encoding: 'utf8' })
      .filter((file) => file.endsWith('.ts'))
      .flatMap((file) =>
        [...readFileSync(join(root, 'src', dir, file), 'utf8').matchAll(/from '(\.[^']*)'/g)].map(
          (m) => `src/${dir}/${file}: ${m[1]}`,
        ),
      );
  }

  it('lets src/nn/ and src/attention/ import nothing from src/losses/', () => {
    const imports = [...importsUnder('nn'), ...importsUnder('attention')];
    expect(imports.length).toBeGreaterThan(10); // the scan sees the imports
    expect(imports.filter((line) => /\/losses\//.test(line))).toEqual([]);
  });
});
