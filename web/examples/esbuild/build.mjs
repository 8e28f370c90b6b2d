// Bundles the app with esbuild. esbuild does not follow `new URL(…, import.meta.url)`, so two
// things are spelled out here that Vite finds by itself: the worker is a second entry point
// (dist/worker.js, where the bundled app's `new URL('./worker.js', import.meta.url)` points), and
// the .wasm files are imported by the app (`palate/wasm/cpu`, file loader) and handed to
// createRanker({ wasmUrl }).
import * as esbuild from 'esbuild';
import fs from 'node:fs/promises';

await fs.rm('dist', { recursive: true, force: true });
await esbuild.build({
  entryPoints: { app: 'main.js', worker: 'palate/worker' },
  bundle: true,
  format: 'esm',
  splitting: true,
  outdir: 'dist',
  entryNames: '[name]',
  assetNames: '[name]-[hash]',
  loader: { '.wasm': 'file' },
  minify: true,
  logLevel: 'warning',
});
await fs.copyFile('index.html', 'dist/index.html');
