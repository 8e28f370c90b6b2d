import { defineConfig } from 'vite';

export default defineConfig({
  // Palate's worker imports its wasm build lazily (a code-split chunk): workers must be ES modules.
  worker: { format: 'es' },
  // In `vite dev`, pre-bundling would move the package away from its .wasm files.
  optimizeDeps: { exclude: ['palate'] },
});
