// The browser-safety boundary: only src/node/ may import Node's built-in
// modules (`node:fs`, `path`, `worker_threads`, ...), and nothing outside
// src/node/ may import from it, so the root and `tfjs-blocks/layers` entries
// bundle for the browser. Biome's `noNodejsModules` (biome.json overrides)
// flags the first in the editor; this test checks both, including type-only
// imports, `export ... from`, dynamic `import()` and `require()`.

import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, posix, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

type SourceFile = { path: string; source: string };

/** Every module specifier `source` imports or re-exports, static or dynamic. */
function importsOf(source: string): string[] {
  return ts.preProcessFile(source, true, true).importedFiles.map((f) => f.fileName);
}

/** Whether `specifier` names a Node built-in (`node:fs`, `fs`, `fs/promises`). */
function isNodeBuiltin(specifier: string): boolean {
  if (specifier.startsWith('node:')) return true;
  return builtinModules.includes(specifier) || builtinModules.includes(specifier.split('/')[0]!);
}

const inNodeFolder = (path: string) => path === 'src/node' || path.startsWith('src/node/');

/**
 * The imports that cross the boundary, as `path: specifier (why)`: a Node
 * built-in, or a relative import into src/node/, in a file outside src/node/.
 * Paths are POSIX and relative to the repository root.
 */
function boundaryViolations(files: SourceFile[]): string[] {
  const found: string[] = [];
  for (const { path, source } of files) {
    if (inNodeFolder(path)) continue;
    for (const specifier of importsOf(source)) {
      if (isNodeBuiltin(specifier)) {
        found.push(`${path}: ${specifier} (a Node built-in outside src/node/)`);
      } else if (
        specifier.startsWith('.') &&
        inNodeFolder(posix.normalize(posix.join(posix.dirname(path), specifier)))
      ) {
        found.push(`${path}: ${specifier} (imports from src/node/)`);
      }
    }
  }
  return found;
}

/** The TypeScript files under src/, paths relative to the repository root. */
function sourceFiles(): SourceFile[] {
  const dir = join(ROOT, 'src');
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((name) => /\.[cm]?tsx?$/.test(name))
    .map((name) => {
      const file = join(dir, name);
      return {
        path: relative(ROOT, file).split(sep).join('/'),
        source: readFileSync(file, 'utf8'),
      };
    });
}

describe('browser safety: Node-only code lives under src/node/', () => {
  it('no file outside src/node/ imports a Node built-in or anything from src/node/', () => {
    const files = sourceFiles();
    // The scan sees the tree: many files, and src/node/'s own Node imports.
    expect(files.length).toBeGreaterThan(100);
    const nodeImports = files
      .filter((f) => inNodeFolder(f.path))
      .flatMap((f) => importsOf(f.source))
      .filter(isNodeBuiltin);
    expect(nodeImports).toContain('node:worker_threads');
    expect(nodeImports).toContain('node:fs/promises');
    expect(boundaryViolations(files)).toEqual([]);
  });

  it('catches each way of crossing the boundary (planted violations)', () => {
    const planted: SourceFile[] = [
      { path: 'src/interop/a.ts', source: "import { readFile } from 'node:fs/promises';" },
      { path: 'src/interop/b.ts', source: "import { join } from 'path';" },
      { path: 'src/nn/c.ts', source: "import type { Worker } from 'worker_threads';" },
      { path: 'src/optim/d.ts', source: "const m = await import('node:os');" },
      { path: 'src/e.ts', source: "const c = require('crypto');" },
      { path: 'src/interop/f.ts', source: "export { saveCheckpoint } from '../node/checkpoint';" },
      { path: 'src/g.ts', source: "import { startDataParallel } from './node';" },
      { path: 'src/optim/h.ts', source: "import '../node/index';" },
    ];
    expect(boundaryViolations(planted)).toEqual([
      'src/interop/a.ts: node:fs/promises (a Node built-in outside src/node/)',
      'src/interop/b.ts: path (a Node built-in outside src/node/)',
      'src/nn/c.ts: worker_threads (a Node built-in outside src/node/)',
      'src/optim/d.ts: node:os (a Node built-in outside src/node/)',
      'src/e.ts: crypto (a Node built-in outside src/node/)',
      'src/interop/f.ts: ../node/checkpoint (imports from src/node/)',
      'src/g.ts: ./node (imports from src/node/)',
      'src/optim/h.ts: ../node/index (imports from src/node/)',
    ]);
  });

  it('allows Node built-ins inside src/node/, and names that only look alike outside it', () => {
    const allowed: SourceFile[] = [
      {
        path: 'src/node/x.ts',
        source: "import { open } from 'node:fs/promises';\nimport '../errors';",
      },
      { path: 'src/node/data-parallel/y.ts', source: "import { Worker } from 'worker_threads';" },
      { path: 'src/interop/z.ts', source: "import './nodes';\nimport '../nodes/x';" },
      { path: 'src/optim/w.ts', source: "import * as tf from '@tensorflow/tfjs-core';" },
    ];
    expect(boundaryViolations(allowed)).toEqual([]);
  });
});
