// The browser-safety boundary: only src/node/ may import Node's built-in
// modules (`node:fs`, `path`, `worker_threads`, ...), and nothing outside
// src/node/ may import from it, so the root and `tfjs-blocks/layers` entries
// bundle for the browser. Biome's `noNodejsModules` (biome.json overrides)
// flags the first in the editor; this test checks both, including type-only
// imports, `export ... from`, dynamic `import()` and `require()`.
//
// And the layering (docs/architecture.md, "What may import what"): each
// folder of src/ imports only the folders its row in ALLOWED_IMPORTS names,
// no file imports an entry module, and packages stay where they belong.

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

// The layering: each folder of src/ (and each top-level file) imports only
// from the units its row names, which lie below it. docs/architecture.md
// ("What may import what") shows the same table; a test keeps them equal.
// A new folder needs a row here and there before its files pass.

/** Units every file may import: the error class. */
const EVERYWHERE = ['errors.ts'];
/** The model stack, bottom to top below `models/`. */
const MODEL_STACK = ['models/', 'blocks/', 'attention/', 'nn/'];
/** The training side, beside the model stack. */
const TRAINING = ['optim/', 'schedules/', 'losses/'];
const BASE = ['tree/', 'internal/'];

/** What each unit of src/ may import besides itself and `errors.ts`, bottom to top. */
const ALLOWED_IMPORTS: Readonly<Record<string, readonly string[]>> = {
  'errors.ts': [],
  'internal/': [],
  'tree/': ['internal/'],
  'nn/': BASE,
  'attention/': ['nn/', ...BASE],
  'blocks/': ['attention/', 'nn/', ...BASE],
  'models/': [...MODEL_STACK.slice(1), ...BASE],
  'generate/': [...MODEL_STACK, ...BASE],
  'schedules/': ['internal/'],
  'optim/': ['schedules/', ...BASE],
  'losses/': BASE,
  'perf/': ['internal/'],
  'backends.ts': ['internal/'],
  'efficiency/': [...MODEL_STACK, ...TRAINING, ...BASE],
  'interop/': [...MODEL_STACK, ...BASE],
  'tokenizers/': ['generate/', ...MODEL_STACK, ...BASE],
  'pretrained/': ['tokenizers/', 'interop/', 'generate/', 'efficiency/', ...MODEL_STACK, ...BASE],
  'responsible/': ['efficiency/', ...MODEL_STACK, ...TRAINING, ...BASE],
  'layers/': ['fine-tuning/', ...MODEL_STACK, ...TRAINING, ...BASE],
  'fine-tuning/': [
    'pretrained/',
    'tokenizers/',
    'interop/',
    'generate/',
    'efficiency/',
    'responsible/',
    ...MODEL_STACK,
    ...TRAINING,
    ...BASE,
  ],
  'node/': [
    'fine-tuning/',
    'pretrained/',
    'tokenizers/',
    'interop/',
    'generate/',
    ...MODEL_STACK,
    ...TRAINING,
    ...BASE,
    'backends.ts',
  ],
  'index.ts': [
    'generate/',
    ...MODEL_STACK,
    ...TRAINING,
    ...BASE,
    'interop/',
    'tokenizers/',
    'pretrained/',
    'fine-tuning/',
    'efficiency/',
    'responsible/',
    'perf/',
    'layers/',
    'backends.ts',
  ],
};

/** The unit a path under src/ belongs to: `nn/` for `src/nn/...`, `errors.ts` for `src/errors.ts`. */
function unitOf(srcPath: string): string {
  const rest = srcPath.slice('src/'.length);
  const slash = rest.indexOf('/');
  if (slash >= 0) return rest.slice(0, slash + 1);
  if (`${rest}/` in ALLOWED_IMPORTS) return `${rest}/`;
  return `${rest.replace(/\.[cm]?[jt]sx?$/, '')}.ts`;
}

/** Whether a resolved path (no extension) is an entry module: `src/index`, `src/optim`, `src/optim/index`. */
function isEntry(resolved: string): boolean {
  return (
    resolved === 'src' ||
    /^src\/index(\.[cm]?[jt]s)?$/.test(resolved) ||
    (/^src\/[^/]+$/.test(resolved) && unitOf(resolved).endsWith('/')) ||
    /^src\/[^/]+\/index(\.[cm]?[jt]s)?$/.test(resolved)
  );
}

/** The packages a file in `unit` may import; an entry module (`index.ts`) may also import tfjs-layers for its side effect. */
function packageAllowed(unit: string, isEntryFile: boolean, specifier: string): boolean {
  if (specifier === '@tensorflow/tfjs-core') return true;
  if (specifier === '@tensorflow/tfjs-layers') return unit === 'layers/' || isEntryFile;
  // Hugging Face's tokenizer.json reader and Jinja engine: the tokenizers folder wraps them.
  if (specifier === '@huggingface/tokenizers' || specifier === '@huggingface/jinja') {
    return unit === 'tokenizers/';
  }
  return unit === 'node/' && isNodeBuiltin(specifier);
}

/**
 * The imports that break the layering, as `path: specifier (why)`: a relative
 * import into a unit the importer's row does not name, out of src/, or of an
 * entry module (`index.ts`: import the file that defines the name); a file in
 * a unit with no row; a package other than tfjs-core (tfjs-layers in
 * `layers/` and entry modules, Node built-ins in `node/`).
 */
function layeringViolations(files: SourceFile[]): string[] {
  const found: string[] = [];
  for (const { path, source } of files) {
    const from = unitOf(path);
    const allowed = ALLOWED_IMPORTS[from];
    if (allowed === undefined) {
      found.push(`${path}: (${from} has no row in ALLOWED_IMPORTS)`);
      continue;
    }
    const entryFile = /(^|\/)index\.ts$/.test(path);
    for (const specifier of importsOf(source)) {
      if (!specifier.startsWith('.')) {
        if (!packageAllowed(from, entryFile, specifier)) {
          found.push(`${path}: ${specifier} (a package ${from} may not import)`);
        }
        continue;
      }
      const resolved = posix.normalize(posix.join(posix.dirname(path), specifier));
      if (!resolved.startsWith('src/') && resolved !== 'src') {
        found.push(`${path}: ${specifier} (outside src/)`);
      } else if (isEntry(resolved)) {
        found.push(`${path}: ${specifier} (an entry module: import the defining file)`);
      } else {
        const to = unitOf(resolved);
        if (to !== from && !EVERYWHERE.includes(to) && !allowed.includes(to)) {
          found.push(`${path}: ${specifier} (${from} may not import ${to})`);
        }
      }
    }
  }
  return found;
}

/** The table in docs/architecture.md under "What may import what": unit → its allowed units. */
function documentedTable(): Record<string, string[]> {
  const doc = readFileSync(join(ROOT, 'docs/architecture.md'), 'utf8');
  const start = doc.indexOf('### What may import what');
  expect(start, 'docs/architecture.md has a "### What may import what" section').toBeGreaterThan(0);
  const table: Record<string, string[]> = {};
  for (const line of doc.slice(start).split('\n').slice(1)) {
    if (line.startsWith('#')) break;
    const row = /^\| `([^`]+)` \| ([^|]*) \|/.exec(line);
    if (row === null) continue;
    table[row[1]!] = [...row[2]!.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
  }
  return table;
}

describe('layering: a unit imports only what its row allows', () => {
  it('every import under src/ is allowed by ALLOWED_IMPORTS', () => {
    const files = sourceFiles();
    expect(files.length).toBeGreaterThan(100);
    // The scan sees the graph: edges that the table must allow are there.
    const edges = new Set(
      files.flatMap((f) =>
        importsOf(f.source)
          .filter((s) => s.startsWith('.'))
          .map(
            (s) =>
              `${unitOf(f.path)} -> ${unitOf(posix.normalize(posix.join(posix.dirname(f.path), s)))}`,
          ),
      ),
    );
    for (const edge of ['attention/ -> nn/', 'optim/ -> schedules/', 'node/ -> interop/']) {
      expect(edges).toContain(edge);
    }
    expect(layeringViolations(files)).toEqual([]);
  });

  it('catches each kind of violation (planted)', () => {
    const planted: SourceFile[] = [
      { path: 'src/nn/a.ts', source: "import { x } from '../attention/multi-head-attention';" },
      { path: 'src/internal/b.ts', source: "import type { T } from '../tree/types';" },
      {
        path: 'src/losses/c.ts',
        source: "import { checkSchedule } from '../optim/hyperparameters';",
      },
      { path: 'src/models/d.ts', source: "export { y } from '../generate/kv-cache';" },
      { path: 'src/optim/e.ts', source: "import { f } from '../schedules';" },
      { path: 'src/nn/f.ts', source: "import { g } from '../index';" },
      { path: 'src/blocks/g.ts', source: "const m = await import('../layers/index');" },
      { path: 'src/nn/h.ts', source: "import * as tfl from '@tensorflow/tfjs-layers';" },
      { path: 'src/optim/i.ts', source: "import { z } from 'zod';" },
      { path: 'src/tree/j.ts', source: "import '../../package.json';" },
      { path: 'src/widgets/k.ts', source: "import '../errors';" },
      { path: 'src/attention/l.ts', source: "import '../efficiency/cost';" },
      { path: 'src/efficiency/m.ts', source: "import '../responsible/dp-sgd';" },
      { path: 'src/errors.ts', source: "import '../src/internal/checks';" },
      { path: 'src/generate/n.ts', source: "import { Template } from '@huggingface/jinja';" },
    ];
    expect(layeringViolations(planted)).toEqual([
      'src/nn/a.ts: ../attention/multi-head-attention (nn/ may not import attention/)',
      'src/internal/b.ts: ../tree/types (internal/ may not import tree/)',
      'src/losses/c.ts: ../optim/hyperparameters (losses/ may not import optim/)',
      'src/models/d.ts: ../generate/kv-cache (models/ may not import generate/)',
      'src/optim/e.ts: ../schedules (an entry module: import the defining file)',
      'src/nn/f.ts: ../index (an entry module: import the defining file)',
      'src/blocks/g.ts: ../layers/index (an entry module: import the defining file)',
      'src/nn/h.ts: @tensorflow/tfjs-layers (a package nn/ may not import)',
      'src/optim/i.ts: zod (a package optim/ may not import)',
      'src/tree/j.ts: ../../package.json (outside src/)',
      'src/widgets/k.ts: (widgets/ has no row in ALLOWED_IMPORTS)',
      'src/attention/l.ts: ../efficiency/cost (attention/ may not import efficiency/)',
      'src/efficiency/m.ts: ../responsible/dp-sgd (efficiency/ may not import responsible/)',
      'src/errors.ts: ../src/internal/checks (errors.ts may not import internal/)',
      'src/generate/n.ts: @huggingface/jinja (a package generate/ may not import)',
    ]);
  });

  it('allows what the table names, within a unit, and the packages where they belong', () => {
    const allowed: SourceFile[] = [
      { path: 'src/attention/a.ts', source: "import { linear } from '../nn/linear';" },
      { path: 'src/nn/b.ts', source: "import './norm';\nimport '../errors';" },
      { path: 'src/optim/transforms/c.ts', source: "import '../../schedules/schedule';" },
      { path: 'src/node/data-parallel/d.ts', source: "import '../../interop/safetensors';" },
      { path: 'src/layers/e.ts', source: "import { Layer } from '@tensorflow/tfjs-layers';" },
      { path: 'src/losses/index.ts', source: "import '@tensorflow/tfjs-layers';" },
      {
        path: 'src/index.ts',
        source: "export { LearningRateScheduler } from './layers/learning-rate-callbacks';",
      },
      { path: 'src/backends.ts', source: "import { TfjsBlocksError } from './errors';" },
      { path: 'src/node/f.ts', source: "import { readFile } from 'node:fs/promises';" },
      {
        path: 'src/tokenizers/g.ts',
        source: "import { Tokenizer } from '@huggingface/tokenizers';",
      },
    ];
    expect(layeringViolations(allowed)).toEqual([]);
  });

  it('is a layering: the allowed imports have no cycle', () => {
    const order: string[] = [];
    const visiting = new Set<string>();
    const visit = (unit: string, trail: string[]): void => {
      if (order.includes(unit)) return;
      expect(visiting.has(unit), `cycle: ${[...trail, unit].join(' -> ')}`).toBe(false);
      visiting.add(unit);
      for (const below of [...(ALLOWED_IMPORTS[unit] ?? []), ...EVERYWHERE]) {
        if (below !== unit) visit(below, [...trail, unit]);
      }
      visiting.delete(unit);
      order.push(unit);
    };
    for (const unit of Object.keys(ALLOWED_IMPORTS)) visit(unit, []);
    expect(order).toHaveLength(Object.keys(ALLOWED_IMPORTS).length);
    // Every unit a row names has a row of its own.
    for (const below of Object.values(ALLOWED_IMPORTS).flat()) {
      expect(ALLOWED_IMPORTS).toHaveProperty([below]);
    }
  });

  it('docs/architecture.md shows the same table', () => {
    const table = Object.fromEntries(
      Object.entries(ALLOWED_IMPORTS).map(([unit, below]) => [unit, [...below].sort()]),
    );
    const documented = Object.fromEntries(
      Object.entries(documentedTable()).map(([unit, below]) => [unit, below.sort()]),
    );
    expect(documented).toEqual(table);
  });
});
