#!/usr/bin/env node
// What a page downloads to run Palate, gzip -9 sized, against the budgets in web/size-budget.json;
// and the model files per precision (downloaded once, then served from Cache Storage).
//
// Three runtimes, because the worker loads one of three wasm builds (scripts/build-wasm.sh): a
// page that runs on WebGPU downloads web/pkg, a page on the CPU backend (asked for, or no WebGPU
// adapter) web/pkg-cpu, or web/pkg-threads where it is cross-origin isolated (with the worker
// pool's helper script). Each has its own budget.
//
//   node scripts/size-budget.mjs            print the table
//   node scripts/size-budget.mjs --check    also exit 1 when a runtime is over its budget (CI does this)
//   node scripts/size-budget.mjs --json     machine-readable (bench/report.py reads it)
import fs from 'node:fs/promises';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const budgets = JSON.parse(await fs.readFile(path.join(root, 'web/size-budget.json'), 'utf8'));

// The API, the worker and the widget: part of both runtimes (the demo page's own files are not
// part of what an app embeds).
const JS = ['web/src/palate.js', 'web/src/worker.js', 'web/src/palate-rerank.js'];
const RUNTIMES = [
  { name: 'webgpu', label: 'WebGPU runtime', build: 'web/pkg' },
  { name: 'cpu', label: 'CPU-only runtime', build: 'web/pkg-cpu' },
  { name: 'threads', label: 'CPU runtime on every core (cross-origin isolated)', build: 'web/pkg-threads', snippets: true },
].map((r) => ({ ...r, files: [`${r.build}/palate_wasm_bg.wasm`, `${r.build}/palate_wasm.js`, ...JS] }));
// The threaded build's snippets (wasm-bindgen-rayon's worker helper) are part of its download.
for (const r of RUNTIMES.filter((r) => r.snippets)) {
  const dir = path.join(root, r.build, 'snippets');
  const found = await fs.readdir(dir, { recursive: true }).catch(() => []);
  r.files.push(...found.filter((f) => f.endsWith('.js')).map((f) => `${r.build}/snippets/${f}`));
}
// Model files, per format, where they exist on this machine: the Hugging Face folder's weights,
// Palate's one-file packs (`palate convert`, written to models/packs/ by scripts/test.sh; they also
// carry config, tokenizer and taste file) and the ONNX exports transformers.js reads.
const MODELS = [
  ['all-MiniLM-L6-v2', 'f32 safetensors', 'models/all-MiniLM-L6-v2/model.safetensors'],
  ...['f32', 'f16', 'q8', 'q4'].map((p) => [
    'all-MiniLM-L6-v2', `${p} .bpk (Palate, one file)`, `models/packs/all-MiniLM-L6-v2.${p}.bpk`,
  ]),
  ['all-MiniLM-L6-v2', 'f32 ONNX (transformers.js)', 'models/all-MiniLM-L6-v2/onnx/model.onnx'],
  ['all-MiniLM-L6-v2', 'q8 ONNX (transformers.js)', 'models/all-MiniLM-L6-v2/onnx/model_quantized.onnx'],
];

async function sizes(rel) {
  const bytes = await fs.readFile(path.join(root, rel));
  return { file: rel, raw: bytes.length, gzip: zlib.gzipSync(bytes, { level: 9 }).length };
}

const runtimes = [];
for (const r of RUNTIMES) {
  const budget = budgets.runtimes?.[r.name]?.gzip_bytes;
  if (!Number.isFinite(budget)) {
    console.error(`[size-budget] error: web/size-budget.json has no runtimes.${r.name}.gzip_bytes`);
    process.exit(2);
  }
  const files = [];
  for (const rel of r.files) {
    try {
      files.push(await sizes(rel));
    } catch (e) {
      console.error(`[size-budget] error: ${rel} is missing (${e.code}); run scripts/build-wasm.sh first`);
      process.exit(2);
    }
  }
  const total = { raw: files.reduce((s, f) => s + f.raw, 0), gzip: files.reduce((s, f) => s + f.gzip, 0) };
  runtimes.push({ name: r.name, label: r.label, budget, why: budgets.runtimes[r.name].why, files, total, over: total.gzip > budget });
}
const models = [];
for (const [model, precision, rel] of MODELS) {
  const stat = await fs.stat(path.join(root, rel)).catch(() => null);
  if (stat) models.push({ model, precision, file: rel, raw: stat.size });
}

if (process.argv.includes('--json')) {
  const strip = ({ why, over, ...r }) => r;
  console.log(JSON.stringify({ runtimes: runtimes.map(strip), models }, null, 2));
} else {
  const mb = (n) => (n / 1e6).toFixed(3).padStart(8) + ' MB';
  for (const r of runtimes) {
    console.log(`${(r.label + ' (what a page downloads)').padEnd(52)} raw         gzip -9`);
    for (const f of r.files) console.log(`  ${f.file.padEnd(48)} ${mb(f.raw)} ${mb(f.gzip)}`);
    console.log(`  ${'total'.padEnd(48)} ${mb(r.total.raw)} ${mb(r.total.gzip)}   budget ${mb(r.budget)}${r.over ? '  OVER' : ''}`);
  }
  if (models.length) console.log('model files (fetched once, then from Cache Storage)');
  for (const m of models) console.log(`  ${(m.model + ', ' + m.precision).padEnd(60)} ${mb(m.raw)}`);
}
if (process.argv.includes('--check')) {
  let failed = false;
  for (const r of runtimes.filter((x) => x.over)) {
    console.error(`[size-budget] error: the ${r.label} is ${r.total.gzip} bytes gzip, over its budget of ` +
      `${r.budget} in web/size-budget.json (${r.why})`);
    failed = true;
  }
  if (failed) process.exit(1);
}
