#!/usr/bin/env node
// `npm pack` / `npm publish` in web/ run this first (package.json "prepack"): it refuses to pack
// without the three wasm builds (they are built by scripts/build-wasm.sh, which takes minutes and a
// Rust toolchain, so packing does not build them itself), and copies the licence files, which live
// at the repository's root, into web/ where npm can take them.
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const web = path.join(root, 'web');
const BUILT = ['palate_wasm.js', 'palate_wasm.d.ts', 'palate_wasm_bg.wasm'];

const missing = [];
for (const build of ['pkg', 'pkg-cpu', 'pkg-threads']) {
  for (const name of BUILT) {
    const file = path.join(web, build, name);
    const stat = await fs.stat(file).catch(() => null);
    if (!stat?.isFile() || stat.size === 0) missing.push(`web/${build}/${name}`);
  }
}
if (missing.length) {
  console.error(`[prepack] refusing to pack without the wasm builds (${missing.join(', ')}): run scripts/build-wasm.sh first`);
  process.exit(1);
}
for (const name of ['LICENSE-MIT', 'LICENSE-APACHE']) {
  await fs.copyFile(path.join(root, name), path.join(web, name));
}
