#!/usr/bin/env node
// The full-size reward-model run in headless Chromium: a random-weight model with the exact
// Skywork-Reward-V2-Qwen3-0.6B configuration, written by the project itself as one quantized `.bpk`
// (tests/benches/scale.rs with PALATE_SCALE_WRITE), loaded by createRanker({ rewardModel }) and
// scoring one conversation of about 512 tokens. Prints load and score latency and the worker's
// WebAssembly memory (its peak: wasm memory only grows). A benchmark, not a test.
//
//   PALATE_SCALE_WRITE=models/packs/skywork-shape.q4.bpk cargo bench -p palate-tests --bench scale
//   node scripts/bench-scale-browser.mjs [--pack models/packs/skywork-shape.q4.bpk] [--backend cpu|webgpu]
//                                        [--max-binding-bytes 134217728] [--tokens 512]
//                                        [--encoder models/packs/all-MiniLM-L6-v2.q8.bpk | a model folder]
//                                        [--varied] [--threads]   (--threads: the threaded CPU build; the page is
//                                        cross-origin isolated, so without it the single-threaded one is asked for)
//
// WebGPU without a GPU is SwiftShader: ~600 GFLOP for 512 tokens there takes far longer than this
// script waits (--timeout, default 20 minutes); use --backend cpu on such machines.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from './serve.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { chromium } = await import(path.join(root, 'web/node_modules/playwright-core/index.mjs'));
const { CHROMIUM_ARGS } = await import(path.join(root, 'web/test/chromium.mjs'));

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const PACK = path.resolve(root, arg('pack', 'models/packs/skywork-shape.q4.bpk'));
const ENCODER = path.resolve(root, arg('encoder', 'models/packs/all-MiniLM-L6-v2.q8.bpk'));
const BACKEND = arg('backend', 'cpu');
const LIMIT = Number(arg('max-binding-bytes', 128 * 2 ** 20));
const TOKENS = Number(arg('tokens', 512));
const TIMEOUT = Number(arg('timeout', 20 * 60_000));
const THREADS = process.argv.includes('--threads');

for (const file of [PACK, ENCODER]) {
  await fs.access(file).catch(() => {
    console.error(`[bench-scale-browser] error: ${path.relative(root, file)} is missing; see the header of this script`);
    process.exit(2);
  });
}

// The same conversation as tests/benches/scale.rs `conversation()`.
const prompt = 'Summarise the history of the printing press in a few paragraphs.';
// --varied: a response of many different words (a few hundred distinct tokens), so a token table
// left in the file is read for that many rows; by default five words repeated (as scale.rs).
const VARIED = process.argv.includes('--varied');
const VOCAB = (await fs.readFile(path.join(root, 'tests/fixtures/varied-words.txt'), 'utf8')).split(/\s+/).filter(Boolean);
const response = Array.from({ length: Math.max(TOKENS - 30, 1) }, (_, i) =>
  VARIED ? VOCAB[(i * 37) % VOCAB.length] : ['print', 'press', 'ink', 'paper', 'type'][i % 5]).join(' ');

// The encoder is a pack file or a Hugging Face model folder (served as a folder URL).
const encoderIsDir = (await fs.stat(ENCODER)).isDirectory();
const server = await startServer({
  port: 0,
  mounts: { '/scale/': path.dirname(PACK), '/encoder/': encoderIsDir ? ENCODER : path.dirname(ENCODER) },
});
const userDataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'palate-scale-'));
const browser = await chromium.launchPersistentContext(userDataDir, {
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', headless: !process.env.PALATE_HEADFUL, args: CHROMIUM_ARGS,
});
let failed = false;
try {
  const page = await browser.newPage();
  page.on('console', (m) => { if (m.type() === 'error') console.error('[page]', m.text()); });
  // Any page of the origin will do; the demo page would load a model of its own.
  await page.goto(`${server.url}src/palate.js`);
  const mib = (b) => `${(b / 2 ** 20).toFixed(0)} MiB`;
  const out = await page.evaluate(async ({ pack, encoder, backend, limit, prompt, response, timeout, threads }) => {
    const { createRanker } = await import('/src/palate.js');
    const timer = new Promise((_, reject) => setTimeout(() => reject(new Error(`timed out after ${timeout} ms`)), timeout));
    const work = (async () => {
      const t0 = performance.now();
      const r = await createRanker({ model: encoder, rewardModel: pack, backend, maxBindingBytes: limit, threads });
      const loadMs = performance.now() - t0;
      const { build, threads: used, wasmMemoryBytes: afterLoad } = await r.stats();
      const calls = [];
      for (let i = 0; i < 2; i++) {
        const t = performance.now();
        const [score] = await r.score(prompt, [response]);
        calls.push({ ms: performance.now() - t, score, wasm: (await r.stats()).wasmMemoryBytes });
      }
      r.dispose();
      return { backend: r.backend, build, threads: used, onCpu: r.rewardEmbeddingsOnCpu, loadMs, afterLoad, calls };
    })();
    return Promise.race([work, timer]);
  }, {
    pack: `/scale/${path.basename(PACK)}`, encoder: encoderIsDir ? '/encoder/' : `/encoder/${path.basename(ENCODER)}`,
    backend: BACKEND, limit: LIMIT, prompt, response, timeout: TIMEOUT, threads: THREADS,
  });
  const size = (await fs.stat(PACK)).size;
  console.log(`${path.basename(PACK)} (${(size / 1e6).toFixed(1)} MB), backend ${out.backend}, build ${out.build} on ${out.threads} thread(s)` +
    `${out.backend === 'webgpu' ? `, binding limit ${mib(LIMIT)}, embedding table on the CPU: ${out.onCpu}` : ''}`);
  console.log(`load (encoder + reward model): ${(out.loadMs / 1000).toFixed(1)} s, wasm memory ${mib(out.afterLoad)}`);
  out.calls.forEach((c, i) => console.log(
    `${i ? 'second' : 'first'} score (~${TOKENS} tokens): ${(c.ms / 1000).toFixed(2)} s, score ${c.score.toFixed(4)}, wasm memory ${mib(c.wasm)}`));
} catch (e) {
  console.error(`[bench-scale-browser] error: ${e.message}`);
  failed = true;
} finally {
  await browser.close();
  await server.close();
  await fs.rm(userDataDir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
