import { defineConfig } from 'tsup';

export default defineConfig({
  // `node` is its own entry so browser bundles of `index` never see node:fs;
  // `layers` registers its classes for deserialization when imported. The
  // other subpaths mirror src/ folders (package.json `exports` lists the same
  // names; test/index.test.ts checks they agree).
  entry: {
    index: 'src/index.ts',
    layers: 'src/layers/index.ts',
    node: 'src/node/index.ts',
    optim: 'src/optim/index.ts',
    schedules: 'src/schedules/index.ts',
    losses: 'src/losses/index.ts',
    generate: 'src/generate/index.ts',
    models: 'src/models/index.ts',
    efficiency: 'src/efficiency/index.ts',
    responsible: 'src/responsible/index.ts',
    tree: 'src/tree/index.ts',
    tokenizers: 'src/tokenizers/index.ts',
    'fine-tuning': 'src/fine-tuning/index.ts',
  },
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
