import { defineConfig } from 'tsup';

export default defineConfig({
  // `node` is its own entry so browser bundles of `index` never see node:fs;
  // `layers` registers its classes for deserialization when imported.
  entry: { index: 'src/index.ts', layers: 'src/layers/index.ts', node: 'src/node/index.ts' },
  format: ['esm', 'cjs'],
  // Backends are imported on demand by useBackend: never bundle any tfjs package.
  external: [/^@tensorflow\//],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'es2020',
  treeshake: true,
  // Shared modules (TfjsBlocksError) go to one chunk in both formats, so an
  // error thrown by tfjs-blocks/node is an instance of the main entry's class.
  splitting: true,
  // Keep `node:fs` as written: unambiguous to bundlers, Deno and Bun.
  removeNodeProtocol: false,
});
