// The npm package as a web developer meets it: `npm pack` (its contents and size checked), the
// tarball installed into two tiny apps (web/examples/vite, web/examples/esbuild, lock files
// committed), each built by its bundler, served from its build output alone, and run in headless
// Chromium: embed, rerank, one answer, an aborted call, the widget. Nothing here imports web/src:
// the apps reach Palate through `node_modules/palate`, as an installed app does.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';
import { startServer } from '../../scripts/serve.mjs';
import { CHROMIUM_ARGS } from './chromium.mjs';

const run = promisify(execFile);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const web = path.join(root, 'web');
const modelDir = process.env.PALATE_MODEL_DIR ?? path.join(root, 'models/all-MiniLM-L6-v2');
const budgets = JSON.parse(await fs.readFile(path.join(web, 'size-budget.json'), 'utf8'));
const STEP_TIMEOUT_MS = 5 * 60_000;

// What the tarball must hold, exactly: the API, the worker, the widget, their types, the three builds,
// the README and the licences. Anything else (tests, the demo, sources of the wasm) is a mistake.
// The threaded build carries wasm-bindgen-rayon's worker helper under a hashed snippets folder.
const THREAD_SNIPPETS = (await fs.readdir(path.join(web, 'pkg-threads/snippets'), { recursive: true }).catch(() => []))
  .filter((f) => f.endsWith('.js')).map((f) => `pkg-threads/snippets/${f}`);
const EXPECTED_FILES = [
  'LICENSE-APACHE', 'LICENSE-MIT', 'README.md', 'package.json',
  'pkg-cpu/palate_wasm.d.ts', 'pkg-cpu/palate_wasm.js', 'pkg-cpu/palate_wasm_bg.wasm',
  'pkg-threads/palate_wasm.d.ts', 'pkg-threads/palate_wasm.js', 'pkg-threads/palate_wasm_bg.wasm', ...THREAD_SNIPPETS,
  'pkg/palate_wasm.d.ts', 'pkg/palate_wasm.js', 'pkg/palate_wasm_bg.wasm',
  'src/bars.js', 'src/palate-rerank.d.ts', 'src/palate-rerank.js', 'src/palate.d.ts', 'src/palate.js',
  'src/wasm.d.ts', 'src/worker.js',
].sort();

async function npm(args, cwd) {
  try {
    return await run('npm', args, { cwd, maxBuffer: 64 << 20, env: { ...process.env, npm_config_update_notifier: 'false' } });
  } catch (e) {
    throw new Error(`npm ${args.join(' ')} in ${cwd} failed:\n${e.stdout}\n${e.stderr}`);
  }
}

let packDir, tarball, browser, userDataDir;

before(async () => {
  await fs.access(path.join(modelDir, 'palate-taste.json')).catch(() => {
    throw new Error(`${modelDir} has no palate-taste.json: run scripts/fetch-model.sh`);
  });
  packDir = await fs.mkdtemp(path.join(os.tmpdir(), 'palate-pack-'));
  const { stdout } = await npm(['pack', '--json', '--pack-destination', packDir], web);
  const [info] = JSON.parse(stdout);
  tarball = { ...info, path: path.join(packDir, info.filename) };
  userDataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'palate-chromium-'));
  browser = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_ARGS,
  });
});

after(async () => {
  await browser?.close();
  for (const dir of [packDir, userDataDir]) if (dir) await fs.rm(dir, { recursive: true, force: true });
});

describe('the npm package', { timeout: 20 * 60_000 }, () => {
  test('npm pack holds exactly the runtime, its types, README and licences, within the size budget', async () => {
    const files = tarball.files.map((f) => f.path).sort();
    assert.deepEqual(files, [...EXPECTED_FILES].sort());
    const budget = budgets.package?.gzip_bytes;
    assert.ok(Number.isFinite(budget), 'web/size-budget.json has no package.gzip_bytes');
    console.log(`${tarball.filename}: ${tarball.size} bytes (gzip), ${tarball.unpackedSize} unpacked, ${files.length} files`);
    for (const f of tarball.files) console.log(`  ${String(f.size).padStart(9)}  ${f.path}`);
    assert.ok(tarball.size <= budget, `the tarball is ${tarball.size} bytes, over its budget of ${budget}`);
    const manifest = JSON.parse(await fs.readFile(path.join(web, 'package.json'), 'utf8'));
    assert.equal(manifest.private, undefined, 'a private package cannot be published');
    assert.deepEqual(manifest.sideEffects, ['./src/palate-rerank.js']);
  });

  test('packing refuses without the wasm builds', async () => {
    // The prepack check, run against a copy of web/ that lacks pkg-cpu.
    const copy = await fs.mkdtemp(path.join(os.tmpdir(), 'palate-nobuild-'));
    try {
      await fs.mkdir(path.join(copy, 'web'));
      await fs.mkdir(path.join(copy, 'scripts'));
      await fs.cp(path.join(root, 'scripts/prepack.mjs'), path.join(copy, 'scripts/prepack.mjs'));
      await fs.cp(path.join(web, 'pkg'), path.join(copy, 'web/pkg'), { recursive: true });
      const failed = await run('node', [path.join(copy, 'scripts/prepack.mjs')], { cwd: path.join(copy, 'web') }).then(() => null, (e) => e);
      assert.ok(failed, 'prepack accepted a package without web/pkg-cpu');
      assert.match(failed.stderr, /refusing to pack without the wasm builds \(web\/pkg-cpu\/palate_wasm\.js.*run scripts\/build-wasm\.sh/);
    } finally {
      await fs.rm(copy, { recursive: true, force: true });
    }
  });

  test('the package types check in a typed app (tsc --noEmit)', async () => {
    const app = path.join(web, 'examples/vite');
    await npm(['install', '--no-save', '--no-audit', '--no-fund', '--no-package-lock', tarball.path], app);
    try {
      await run(path.join(app, 'node_modules/.bin/tsc'), ['--noEmit', '-p', app], { cwd: app });
    } catch (e) {
      assert.fail(`tsc --noEmit on examples/vite/main.ts:\n${e.stdout}${e.stderr}`);
    }
  });

  for (const name of ['vite', 'esbuild']) {
    test(`an app bundled by ${name} runs in Chromium: embed, rerank, an answer, an abort, the widget`, { timeout: STEP_TIMEOUT_MS }, async () => {
      const app = path.join(web, 'examples', name);
      await npm(['install', '--no-save', '--no-audit', '--no-fund', '--no-package-lock', tarball.path], app);
      await npm(['run', 'build'], app);
      const dist = path.join(app, 'dist');
      const emitted = await fs.readdir(dist, { recursive: true });
      const wasm = emitted.filter((f) => f.endsWith('.wasm'));
      console.log(`${name}: dist/ holds ${emitted.length} files, .wasm: ${wasm.join(', ')}`);
      assert.ok(wasm.length >= 1, `${name} emitted no .wasm file`);
      // Served from the build output alone: no web/ behind it.
      // Not cross-origin isolated: the apps run the single-threaded CPU build (the threaded one,
      // in the package too, is tested unbundled in browser.test.mjs).
      const server = await startServer({ port: 0, mounts: { '/': dist, '/models/all-MiniLM-L6-v2/': modelDir }, isolated: false });
      const page = await browser.newPage();
      const fetched = [];
      const failed = [];
      page.on('request', (r) => fetched.push(new URL(r.url()).pathname));
      page.on('response', (r) => { if (r.status() >= 400) failed.push(`${r.status()} ${new URL(r.url()).pathname}`); });
      page.on('console', (m) => { if (m.type() === 'error') console.error(`[${name} page]`, m.text()); });
      try {
        await page.goto(`${server.url}index.html`);
        await page.waitForFunction(() => window.palateResult !== undefined, null, { timeout: STEP_TIMEOUT_MS });
        const result = await page.evaluate(() => window.palateResult);
        assert.equal(result.error, undefined, `${name} app failed: ${JSON.stringify(result.error)}`);
        assert.equal(result.backend, 'cpu');
        assert.equal(result.dim, 384);
        assert.deepEqual(result.ranking.map((r) => r.index).sort(), [0, 1, 2]);
        assert.ok(result.ranking.every((r) => Number.isFinite(r.reward) && typeof r.explanation === 'string'));
        assert.equal(result.answered, 1, 'one answer recorded');
        assert.equal(result.aborted, 'aborted', 'an aborted rerank rejects with code "aborted"');
        // The widget renders its best reply inside its shadow root.
        const best = await page.waitForFunction(
          () => document.getElementById('widget')?.shadowRoot?.querySelector('.best')?.textContent,
          null, { timeout: STEP_TIMEOUT_MS },
        ).then((h) => h.jsonValue());
        assert.ok(['Put it in boiling water for 7 minutes, then in cold water.', 'Eggs are a good source of protein.'].includes(best), `widget shows ${best}`);
        const wasmFetched = fetched.filter((p) => p.endsWith('.wasm'));
        assert.ok(wasmFetched.length >= 1 && wasmFetched.every((p) => wasm.some((w) => p.endsWith(path.basename(w)))),
          `the .wasm came from the bundle: fetched ${wasmFetched.join(', ')}`);
        // The browser asks for a favicon the apps do not have; nothing else may fail.
        assert.deepEqual(failed.filter((f) => !f.endsWith('/favicon.ico')), [], 'failed requests');
        assert.ok(!fetched.some((p) => p.includes('/src/') || p.includes('/pkg/') || p.includes('/pkg-cpu/')),
          `nothing fetched outside the bundle's layout: ${fetched.join(', ')}`);
      } finally {
        await page.close();
        await server.close();
      }
    });
  }
});
