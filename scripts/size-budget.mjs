#!/usr/bin/env node
// What a page downloads to run Palate, gzip -9 sized, against the budget in web/size-budget.json;
// and the model files per precision (downloaded once, then served from Cache Storage).
//
//   node scripts/size-budget.mjs            print the table
//   node scripts/size-budget.mjs --check    also exit 1 when the runtime is over budget (CI does this)
//   node scripts/size-budget.mjs --json     machine-readable (bench/report.py reads it)
import fs from 'node:fs/promises';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const budget = JSON.parse(await fs.readFile(path.join(root, 'web/size-budget.json'), 'utf8'));

// The runtime: the wasm, its bindings, the API, the worker and the widget (the demo page's own
// files are not part of what an app embeds).
const RUNTIME = [
  'web/pkg/palate_wasm_bg.wasm', 'web/pkg/palate_wasm.js',
  'web/src/palate.js', 'web/src/worker.js', 'web/src/palate-rerank.js',
];
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

const runtime = [];
for (const rel of RUNTIME) {
  try {
    runtime.push(await sizes(rel));
  } catch (e) {
    console.error(`[size-budget] error: ${rel} is missing (${e.code}); run scripts/build-wasm.sh first`);
    process.exit(2);
  }
}
const total = { raw: runtime.reduce((s, f) => s + f.raw, 0), gzip: runtime.reduce((s, f) => s + f.gzip, 0) };
const models = [];
for (const [model, precision, rel] of MODELS) {
  const stat = await fs.stat(path.join(root, rel)).catch(() => null);
  if (stat) models.push({ model, precision, file: rel, raw: stat.size });
}
const over = total.gzip > budget.runtime_gzip_bytes;

if (process.argv.includes('--json')) {
  console.log(JSON.stringify({ budget: budget.runtime_gzip_bytes, runtime, total, models }, null, 2));
} else {
  const mb = (n) => (n / 1e6).toFixed(3).padStart(8) + ' MB';
  console.log('runtime (what a page downloads)        raw         gzip -9');
  for (const f of runtime) console.log(`  ${f.file.padEnd(34)} ${mb(f.raw)} ${mb(f.gzip)}`);
  console.log(`  ${'total'.padEnd(34)} ${mb(total.raw)} ${mb(total.gzip)}   budget ${mb(budget.runtime_gzip_bytes)}${over ? '  OVER' : ''}`);
  if (models.length) console.log('model files (fetched once, then from Cache Storage)');
  for (const m of models) console.log(`  ${(m.model + ', ' + m.precision).padEnd(46)} ${mb(m.raw)}`);
}
if (process.argv.includes('--check') && over) {
  console.error(`[size-budget] error: the runtime is ${total.gzip} bytes gzip, over the budget of ` +
    `${budget.runtime_gzip_bytes} in web/size-budget.json (${budget.why})`);
  process.exit(1);
}
