// The cross-backend page's Vite config. test/browser/cross-backend.test.ts
// builds it into a temporary folder and serves that with `vite preview`; by
// hand: `npx vite test/browser/cross-backend-page` and open
// `?backend=webgl` or `?backend=webgpu`.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const repo = fileURLToPath(new URL('../../..', import.meta.url));

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  // The library from source, as in the repository's tsconfig paths.
  resolve: {
    alias: [{ find: /^tfjs-blocks$/, replacement: `${repo}src/index.ts` }],
  },
  // Its own cache, apart from anything else in the repository that uses Vite.
  cacheDir: `${repo}node_modules/.vite/cross-backend-page`,
  optimizeDeps: {
    include: [
      '@tensorflow/tfjs-core',
      '@tensorflow/tfjs-core/dist/register_all_gradients',
      '@tensorflow/tfjs-backend-cpu',
      '@tensorflow/tfjs-backend-webgpu',
      '@tensorflow/tfjs-backend-webgl',
    ],
  },
  server: { host: '127.0.0.1', fs: { allow: [repo] } },
  preview: { host: '127.0.0.1' },
  build: { target: 'es2022', chunkSizeWarningLimit: 8000 },
});
