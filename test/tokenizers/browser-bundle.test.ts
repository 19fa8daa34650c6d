// The tokenizers bundle for the browser: esbuild with platform 'browser'
// fails on any Node built-in, and the bundle, run on its own, gives the ids
// Python gave.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { readExpected, readFiles } from './fixture-files';

const root = fileURLToPath(new URL('../..', import.meta.url));

describe('tfjs-blocks/tokenizers in a browser bundle', () => {
  it('bundles with no Node built-in and encodes as Python does', async () => {
    const files = readFiles('llama');
    const c = (readExpected().llama as { cases: { text: string; ids: number[] }[] }).cases[60]!;
    const result = await build({
      stdin: {
        contents: `import { loadTokenizer } from './src/tokenizers/index.ts';
export const ids = loadTokenizer(${JSON.stringify(files)}).encode(${JSON.stringify(c.text)});`,
        resolveDir: root,
        loader: 'ts',
      },
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'browser',
      external: ['@tensorflow/*'],
      logLevel: 'silent',
    });
    const text = result.outputFiles[0]!.text;
    // Printing a 200 kB bundle on failure helps no one: test, then assert the booleans.
    const nodeImport = /\bfrom\s*["']node:|\brequire\(["'](node:)?(fs|path|url|crypto)["']\)/;
    expect(nodeImport.test(text)).toBe(false);
    expect(/\bHuggingFaceTokenizer\b/.test(text)).toBe(true);
    // Run it as a module of its own (tfjs-core, the peer dependency, resolves from node_modules).
    const dir = join(root, 'scratch');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `tokenizers-bundle-${process.pid}.mjs`);
    writeFileSync(file, text);
    try {
      const bundled = (await import(/* @vite-ignore */ pathToFileURL(file).href)) as {
        ids: number[];
      };
      expect(bundled.ids).toEqual(c.ids);
    } finally {
      rmSync(file, { force: true });
    }
  });
});
