#!/usr/bin/env node
// Palate vs transformers.js in one headless Chromium, one run: all-MiniLM-L6-v2 sentence
// embeddings, batch 1/8/32 × ~32/~128 tokens, warm (median of --runs after --warmup calls) and cold
// (model load, then the first 8×128 call). Run it through scripts/bench-browser.sh, which prepares
// the ONNX export and the peer's npm install; this file only measures.
//
//   node scripts/bench-browser.mjs [--runs 5] [--warmup 1] [--only palate-cpu,transformers-wasm-fp32]
//                                  [--out bench/browser/results.json] [--not-isolated]
//
// Each configuration gets a fresh browser context (empty caches), so "load" includes fetching the
// files from the local server and compiling the wasm. The page is cross-origin isolated (COOP +
// COEP), so both engines can run threads: each CPU path is measured on one thread (Palate's
// web/pkg-cpu, onnxruntime-web with numThreads 1) and on one thread per core (web/pkg-threads,
// numThreads = cores).
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startServer } from './serve.mjs';
import { BATCHES, COLD, cosine } from './bench-texts.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { chromium } = await import(path.join(root, 'web/node_modules/playwright-core/index.mjs'));
const { CHROMIUM_ARGS } = await import(path.join(root, 'web/test/chromium.mjs'));

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const RUNS = Number(arg('runs', 5));
const WARMUP = Number(arg('warmup', 1));
// WebGPU without a GPU is SwiftShader, ~25× slower than the wasm CPU path: a 32×128 batch takes
// minutes. There, by default, fewer runs and no 32-text batches (--gpu-runs, --gpu-batches all).
const GPU_RUNS = Number(arg('gpu-runs', 3));
const GPU_BATCHES = arg('gpu-batches', '1x32,8x32,1x128,8x128');
const OUT = path.resolve(root, arg('out', 'bench/browser/results.json'));
const MODEL_DIR = path.join(root, 'models/all-MiniLM-L6-v2');

// Same work for every engine; f32 against f32 ONNX, q8 against transformers.js' q8 export. The
// q8 schemes differ: on the CPU Palate rounds activations to i16 (igemm.rs), onnxruntime's
// dynamic q8 to 8 bits (less accurate: see the agreement figures); both multiply in integers.
const CORES = os.cpus().length;
const CONFIGS = [
  { key: 'palate-webgpu', engine: 'palate', device: 'webgpu', precision: 'f32' },
  { key: 'palate-cpu', engine: 'palate', device: 'cpu', precision: 'f32', threads: 1 },
  { key: 'palate-cpu-q8', engine: 'palate', device: 'cpu', precision: 'q8', threads: 1 },
  { key: 'palate-cpu-threads', engine: 'palate', device: 'cpu', precision: 'f32', threads: CORES },
  { key: 'palate-cpu-q8-threads', engine: 'palate', device: 'cpu', precision: 'q8', threads: CORES },
  { key: 'transformers-webgpu-fp32', engine: 'transformers', device: 'webgpu', dtype: 'fp32', precision: 'f32' },
  { key: 'transformers-wasm-fp32', engine: 'transformers', device: 'wasm', dtype: 'fp32', precision: 'f32', threads: 1 },
  { key: 'transformers-wasm-q8', engine: 'transformers', device: 'wasm', dtype: 'q8', precision: 'q8', threads: 1 },
  { key: 'transformers-wasm-fp32-threads', engine: 'transformers', device: 'wasm', dtype: 'fp32', precision: 'f32', threads: CORES },
  { key: 'transformers-wasm-q8-threads', engine: 'transformers', device: 'wasm', dtype: 'q8', precision: 'q8', threads: CORES },
];
const only = arg('only', null)?.split(',');
const configs = only ? CONFIGS.filter((c) => only.includes(c.key)) : CONFIGS;


function chromiumVersion() {
  try { return execFileSync(process.env.CHROMIUM ?? '/usr/bin/chromium', ['--version']).toString().trim(); } catch { return 'unknown'; }
}

// --not-isolated: serve without COOP/COEP (then only the one-thread configurations can run).
const ISOLATED = !process.argv.includes('--not-isolated');
const server = await startServer({
  port: 0,
  isolated: ISOLATED,
  mounts: {
    '/models/all-MiniLM-L6-v2/': MODEL_DIR,
    '/tjs-models/all-MiniLM-L6-v2/': MODEL_DIR,
    '/peers/': path.join(root, 'bench/browser/node_modules'),
  },
});
const userDataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'palate-bench-'));
const browser = await chromium.launchPersistentContext(userDataDir, {
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', headless: !process.env.PALATE_HEADFUL, args: CHROMIUM_ARGS,
});
const results = {
  date: new Date().toISOString(),
  machine: `${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB`,
  browser: chromiumVersion(),
  runs: RUNS, warmup: WARMUP, cold: COLD,
  batches: BATCHES.map(({ name, size, tokens }) => ({ name, size, tokens })),
  configs: {},
};
try {
  // The adapter the page sees (SwiftShader on machines without a GPU).
  const probe = await browser.newPage();
  await probe.goto(`${server.url}bench/index.html`);
  results.adapter = await probe.evaluate(async () => {
    const a = await navigator.gpu?.requestAdapter();
    if (!a) return 'none';
    const i = a.info ?? {};
    return [i.vendor, i.architecture, i.device, i.description].filter(Boolean).join(' / ') || 'unknown';
  });
  await probe.close();
  for (const config of configs) {
    // A fresh page per configuration; caches are cleared so every load is a first visit.
    const page = await browser.newPage();
    page.on('console', (m) => { if (m.type() === 'error') console.error(`[${config.key}]`, m.text()); });
    await page.goto(`${server.url}bench/index.html`);
    await page.evaluate(async () => { for (const k of await caches.keys()) await caches.delete(k); });
    process.stderr.write(`[bench-browser] ${config.key}: `);
    const t = Date.now();
    const gpu = config.device === 'webgpu' && !/nvidia|amd|intel|apple|qualcomm/i.test(results.adapter ?? '');
    const batches = BATCHES.filter((b) => !gpu || GPU_BATCHES === 'all' || GPU_BATCHES.split(',').includes(b.name));
    const out = await page.evaluate((o) => window.palateBench.run(o), {
      ...config, model: '/models/all-MiniLM-L6-v2/', modelId: 'all-MiniLM-L6-v2',
      batches: batches.map(({ name, texts }) => ({ name, texts })),
      coldTexts: BATCHES.find((b) => b.name === COLD).texts, // timed once even when --gpu-batches leaves it out
      // On a software adapter the cold 8×128 call is the warm-up (it compiles every kernel).
      warmup: gpu ? 0 : WARMUP, runs: gpu ? GPU_RUNS : RUNS,
    });
    out.runs = gpu ? GPU_RUNS : RUNS;
    process.stderr.write(`${((Date.now() - t) / 1000).toFixed(0)} s; ${Object.entries(out.medians).map(([k, v]) => `${k} ${v.toFixed(0)} ms`).join(', ')}\n`);
    results.configs[config.key] = { ...config, ...out };
    await page.close();
  }
} finally {
  await browser.close();
  await server.close();
  await fs.rm(userDataDir, { recursive: true, force: true });
}

// Token counts as Palate's tokenizer saw them, and agreement between the engines' embeddings.
const palate = results.configs['palate-cpu'] ?? Object.values(results.configs).find((c) => c.engine === 'palate');
if (palate?.tokens && palate.tokens.some((n) => n !== 128)) {
  throw new Error(`the 8x128 texts are not 128 tokens each: ${palate.tokens}`);
}
results.agreement = {};
const keys = Object.keys(results.configs);
for (const k of keys) {
  if (k === palate?.key) continue;
  const cos = results.configs[k].check.map((row, i) => cosine(row, palate.check[i]));
  results.agreement[`${k} vs ${palate.key}`] = Math.min(...cos);
}
for (const c of Object.values(results.configs)) delete c.check;
await fs.mkdir(path.dirname(OUT), { recursive: true });
await fs.writeFile(OUT, JSON.stringify(results, null, 2) + '\n');
console.error(`[bench-browser] wrote ${path.relative(root, OUT)}`);
for (const [pair, cos] of Object.entries(results.agreement)) {
  const f32 = !pair.includes('q8');  // quantized engines are reported, not held to 0.999
  console.error(`[bench-browser] min cosine ${pair}: ${cos.toFixed(6)}${f32 && cos < 0.999 ? '  << below 0.999' : ''}`);
  if (f32 && cos < 0.999) process.exitCode = 1;
}
