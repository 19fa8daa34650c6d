// The package's entries (src/index.ts and the subpath entries beside it):
// package.json `exports`, tsup and typedoc name the same subpaths; the root
// re-exports every subpath name unchanged; and a one-line import of each
// subpath bundles without the code it does not need (zod's tree-shaking test).
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';
import { describe, expect, it } from 'vitest';
import tsupConfig from '../tsup.config';

const root = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as {
  exports: Record<string, unknown>;
  sideEffects: string[];
};
const typedoc = JSON.parse(readFileSync(`${root}typedoc.json`, 'utf8')) as {
  entryPoints: string[];
};
const entries = (tsupConfig as { entry: Record<string, string> }).entry;

/** The subpaths that mirror a src/ folder and whose names the root re-exports. */
const FOLDER_SUBPATHS = [
  'optim',
  'schedules',
  'losses',
  'generate',
  'models',
  'efficiency',
  'responsible',
  'tree',
  'tokenizers',
  'fine-tuning',
] as const;

/** Resolves `tfjs-blocks` and `tfjs-blocks/<name>` to the tsup entry's source file. */
const sourceEntries: Plugin = {
  name: 'tfjs-blocks-source',
  setup(b) {
    b.onResolve({ filter: /^tfjs-blocks(\/|$)/ }, (args) => {
      const name = args.path === 'tfjs-blocks' ? 'index' : args.path.slice('tfjs-blocks/'.length);
      const file = entries[name];
      if (file === undefined) return { errors: [{ text: `no tsup entry for ${args.path}` }] };
      return { path: `${root}${file}` };
    });
  },
};

/**
 * Bundles `import { name } from specifier` with esbuild, tfjs external.
 * `ignoreAnnotations` makes esbuild ignore package.json's `sideEffects` (which
 * names only dist files, so every src file would count as pure): a module
 * reached stays unless esbuild proves each statement pure, so this errs on
 * the side of keeping code, and what is absent here is absent from the dist.
 */
async function bundle(specifier: string, name: string): Promise<string> {
  const result = await build({
    stdin: {
      contents: `import { ${name} } from '${specifier}';\nconsole.log(${name});\n`,
      resolveDir: root,
      loader: 'ts',
    },
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'neutral',
    external: ['@tensorflow/*'],
    plugins: [sourceEntries],
    ignoreAnnotations: true,
    logLevel: 'silent',
  });
  return result.outputFiles[0]!.text;
}

/** Distinctive declarations of the attention code and of our tfjs-layers shells. */
const MARKERS = {
  attention: /\bfunction (scaledDotProductAttention|multiHeadAttention|maskedSoftmax)\d*\(/,
  layer: /\bregisterLayer\d*\(|\bclass \w+ extends (FunctionalLayer|Layer|Callback)\d*\b/,
  /** Any import of tfjs-layers: in a user's bundle it brings all of tfjs-layers. */
  tfjsLayers: /from\s*["']@tensorflow\/tfjs-layers["']|import\s*["']@tensorflow\/tfjs-layers["']/,
  /** A named import from tfjs-layers (a bare import only registers gradients). */
  tfjsLayersNames: /import\s*\{[^}]*\}\s*from\s*["']@tensorflow\/tfjs-layers["']/,
};

function found(text: string): string[] {
  return Object.entries(MARKERS)
    .filter(([, re]) => re.test(text))
    .map(([k]) => k);
}

describe('package entries', () => {
  it('package.json exports, tsup entries and typedoc entry points name the same subpaths', () => {
    const subpaths = Object.keys(pkg.exports)
      .filter((k) => k !== './package.json')
      .map((k) => (k === '.' ? 'index' : k.slice(2)))
      .sort();
    expect(Object.keys(entries).sort()).toEqual(subpaths);
    expect([...typedoc.entryPoints].sort()).toEqual(Object.values(entries).sort());
    for (const name of FOLDER_SUBPATHS) {
      expect(entries[name]).toBe(`src/${name}/index.ts`);
      expect(pkg.exports[`./${name}`]).toEqual({
        import: { types: `./dist/${name}.d.ts`, default: `./dist/${name}.js` },
        require: { types: `./dist/${name}.d.cts`, default: `./dist/${name}.cjs` },
      });
    }
  });

  it('the root entry re-exports every name of every folder subpath, the same object', async () => {
    const rootEntry: Record<string, unknown> = await import('../src/index');
    for (const name of FOLDER_SUBPATHS) {
      const sub: Record<string, unknown> = await import(`../src/${name}/index.ts`);
      expect(Object.keys(sub).length, name).toBeGreaterThan(0);
      for (const [key, value] of Object.entries(sub))
        expect(rootEntry[key], `${name}.${key}`).toBe(value);
    }
  });

  it('every name the root exports from a subpath folder is in that subpath, types included', () => {
    const clauses = (file: string) =>
      [
        ...readFileSync(`${root}${file}`, 'utf8').matchAll(
          /export (?:type )?\{([^}]*)\} from '([^']+)'/g,
        ),
      ].map((m) => ({
        names: m[1]!
          .split(',')
          .map((n) => n.trim().replace(/^type /, ''))
          .filter(Boolean),
        from: m[2]!,
      }));
    for (const name of FOLDER_SUBPATHS) {
      const inSub = new Set(clauses(`src/${name}/index.ts`).flatMap((c) => c.names));
      const missing = clauses('src/index.ts')
        .filter((c) => c.from.startsWith(`./${name}/`))
        .flatMap((c) => c.names)
        .filter((n) => !inSub.has(n));
      expect(missing, name).toEqual([]);
    }
  });

  it('an entry that imports tfjs-layers for its side effect is declared in sideEffects', () => {
    for (const [name, file] of Object.entries(entries)) {
      const text = readFileSync(`${root}${file}`, 'utf8');
      const sideEffect =
        /^import '@tensorflow\/tfjs-layers';$/m.test(text) || /^[\w.]+\(/m.test(text);
      if (!sideEffect) continue;
      expect(pkg.sideEffects, name).toContain(`./dist/${name}.js`);
      expect(pkg.sideEffects, name).toContain(`./dist/${name}.cjs`);
    }
  });
  it('top-level calls (registrations) sit only in entry modules and src/layers/', () => {
    // A module reached from two entries lands in a shared dist chunk, which
    // package.json does not declare as having side effects: a user's bundler
    // may drop a registration there. src/layers/ is reached by the layers entry
    // only (declared) except learning-rate-callbacks.ts, which registers nothing.
    const entryFiles = new Set(Object.values(entries));
    const offenders = (readdirSync(`${root}src`, { recursive: true }) as string[])
      .map((f) => `src/${f.replaceAll('\\', '/')}`)
      .filter((f) => f.endsWith('.ts') && !entryFiles.has(f) && !f.startsWith('src/layers/'))
      .filter((f) => /^[A-Za-z_$][\w$.]*\(/m.test(readFileSync(`${root}${f}`, 'utf8')));
    expect(offenders).toEqual([]);
    const callbacks = readFileSync(`${root}src/layers/learning-rate-callbacks.ts`, 'utf8');
    expect(callbacks).not.toMatch(/^[A-Za-z_$][\w$.]*\(/m);
  });
});

describe('each subpath tree-shakes on its own', () => {
  it("import { warmupCosineDecaySchedule } from 'tfjs-blocks/schedules' has no attention, Layer or tfjs-layers code", async () => {
    const text = await bundle('tfjs-blocks/schedules', 'warmupCosineDecaySchedule');
    expect(text).toMatch(/\bfunction warmupCosineDecaySchedule\(/);
    expect(found(text)).toEqual([]);
  });

  // One representative import per subpath, and what may be in its bundle.
  const cases: [subpath: string, name: string, allowed: (keyof typeof MARKERS)[]][] = [
    ['optim', 'adamw', ['tfjsLayers']],
    ['losses', 'softmaxCrossEntropy', ['tfjsLayers']],
    ['efficiency', 'quantizeParams', ['tfjsLayers']],
    ['responsible', 'dpSgd', ['tfjsLayers']],
    ['generate', 'generate', ['attention']],
    ['models', 'decoderLm', ['attention', 'tfjsLayers']],
    ['tree', 'treeMap', []],
    ['tokenizers', 'loadTokenizer', []],
    ['fine-tuning', 'withLora', []],
  ];
  it.each(cases)('tfjs-blocks/%s: %s', async (subpath, name, allowed) => {
    const text = await bundle(`tfjs-blocks/${subpath}`, name);
    expect(text).toMatch(new RegExp(`\\bfunction ${name}\\(`));
    expect(found(text).filter((k) => !allowed.includes(k as keyof typeof MARKERS))).toEqual([]);
  });

  it('the markers find attention and Layer code where it is (the check can fail)', async () => {
    const layers = await bundle('tfjs-blocks/layers', 'TransformerEncoderBlock');
    expect(found(layers)).toEqual(['attention', 'layer', 'tfjsLayers', 'tfjsLayersNames']);
    // The same schedule through the root entry brings tfjs-layers (its gradient registration).
    const viaRoot = await bundle('tfjs-blocks', 'warmupCosineDecaySchedule');
    expect(found(viaRoot)).toContain('tfjsLayers');
  });
});
