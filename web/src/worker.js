// Palate's Web Worker: owns the wasm module and the model so the page never blocks.
// Protocol (see palate.js): {id, type, ...} in; {id, ok, result | error} or {type:'progress', ...} out.
import init, { Embedder } from '../pkg/palate_wasm.js';

// Files of a Hugging Face / sentence-transformers folder. Required ones must exist.
const FILES = [
  { key: 'config', name: 'config.json', required: true },
  { key: 'tokenizer', name: 'tokenizer.json', required: true },
  { key: 'weights', name: 'model.safetensors', required: true },
  { key: 'sentenceBertConfig', name: 'sentence_bert_config.json', required: false },
  { key: 'modules', name: 'modules.json', required: false },
  { key: 'pooling', name: '1_Pooling/config.json', required: false },
];

let embedder = null;

function progress(id, data) {
  postMessage({ id, type: 'progress', ...data });
}

async function fetchFile(base, file, onBytes) {
  const url = new URL(file.name, base).href;
  let response;
  try {
    response = await fetch(url);
  } catch (e) {
    throw new Error(`${file.name}: cannot fetch ${url}: ${e.message}`);
  }
  if (!response.ok) {
    if (!file.required && response.status === 404) return null;
    throw new Error(`${file.name}: missing (HTTP ${response.status} for ${url})`);
  }
  const total = Number(response.headers.get('content-length')) || 0;
  const reader = response.body.getReader();
  const chunks = [];
  let loaded = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.byteLength;
    onBytes(value.byteLength, total);
  }
  const bytes = new Uint8Array(loaded);
  let offset = 0;
  for (const c of chunks) { bytes.set(c, offset); offset += c.byteLength; }
  return bytes;
}

async function webgpuAdapter() {
  if (!('gpu' in navigator) || !navigator.gpu) return null;
  try {
    return await navigator.gpu.requestAdapter();
  } catch {
    return null;
  }
}

async function handleInit(id, { model, backend }) {
  const base = model.endsWith('/') ? model : `${model}/`;
  let chosen = backend;
  if (backend === 'auto' || backend === 'webgpu') {
    const adapter = await webgpuAdapter();
    if (adapter) chosen = 'webgpu';
    else if (backend === 'webgpu') throw new Error('backend "webgpu" was requested but this browser offers no WebGPU adapter; use backend "auto" or "cpu"');
    else chosen = 'cpu';
  } else if (backend !== 'cpu') {
    throw new Error(`unknown backend "${backend}" (expected "auto", "webgpu" or "cpu")`);
  }

  progress(id, { phase: 'wasm', loaded: 0, total: 0 });
  await init();

  // Download all files in parallel, reporting bytes across all of them.
  const totals = new Map();
  const loadedBy = new Map();
  const report = (name) => (n, total) => {
    totals.set(name, total);
    loadedBy.set(name, (loadedBy.get(name) || 0) + n);
    const loaded = [...loadedBy.values()].reduce((a, b) => a + b, 0);
    const all = [...totals.values()].reduce((a, b) => a + b, 0);
    progress(id, { phase: 'download', file: name, loaded, total: all });
  };
  const bytes = await Promise.all(FILES.map((f) => fetchFile(base, f, report(f.name))));
  const files = Object.fromEntries(FILES.map((f, i) => [f.key, bytes[i] ?? undefined]));

  progress(id, { phase: 'load', loaded: 1, total: 1 });
  embedder = await Embedder.create(
    chosen, files.config, files.tokenizer, files.weights,
    files.sentenceBertConfig, files.modules, files.pooling,
  );
  return { backend: embedder.backend, dim: embedder.dim };
}

async function handleEmbed({ texts }) {
  if (!embedder) throw new Error('the model is not loaded');
  if (!Array.isArray(texts) || texts.some((t) => typeof t !== 'string')) {
    throw new Error('embed() takes an array of strings');
  }
  const rows = await embedder.embed(texts);
  return rows.map((r) => ({ ids: Array.from(r.ids), embedding: r.embedding }));
}

self.onmessage = async (event) => {
  const { id, type, ...args } = event.data;
  try {
    let result;
    if (type === 'init') result = await handleInit(id, args);
    else if (type === 'embed') result = await handleEmbed(args);
    else throw new Error(`unknown request "${type}"`);
    const transfer = type === 'embed' ? result.map((r) => r.embedding.buffer) : [];
    postMessage({ id, ok: true, result }, transfer);
  } catch (e) {
    // A wasm trap (a Rust panic) surfaces here as a RuntimeError; the model may be unusable after it.
    const message = e instanceof Error ? e.message : String(e);
    if (e instanceof WebAssembly.RuntimeError) embedder = null;
    postMessage({ id, ok: false, error: message });
  }
};
