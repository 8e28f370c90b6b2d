#!/usr/bin/env node
// WebGPU on a real GPU without a browser: Palate's wasm build and onnxruntime-web (the runtime
// under transformers.js) run in Node on Dawn, the WebGPU implementation inside Chromium, through
// its Node binding (npm `webgpu`, dawn.node). For machines where Chromium offers no hardware
// adapter (bench/NATIVE-GPU.md: the lent GPU machines have no display stack). Same model, same
// texts and same batches as scripts/bench-browser.mjs; one child process per configuration, so a
// crash in one engine costs only its row.
//
//   node scripts/bench-dawn-node.mjs [--runs 5] [--warmup 1] [--only palate-webgpu,ortweb-webgpu-fp32]
//        [--model models/all-MiniLM-L6-v2] [--pkg web/pkg] [--pkg-cpu web/pkg-cpu] [--dawn backend=vulkan;adapter=NVIDIA…]
//        [--out bench/dawn-node/results.json] [--child-timeout 300] [--trace [--trace-batch 1x32] [--trace-kernels]]
//
// What differs from the browser run, and is written into the results: no browser process, no
// page, no worker (Palate's wasm runs on Node's main thread), and Dawn's defaults as dawn.node sets
// them rather than Chromium's. Both engines see the same Dawn, so the ratio compares the engines.
//
// The peer: onnxruntime-web's WebGPU bundle (the same files transformers.js loads in a browser),
// called directly: transformers.js' tokenizer (@huggingface/tokenizers) → InferenceSession.run →
// masked mean pooling and L2 normalisation in JS, which is what transformers.js'
// feature-extraction pipeline does. (transformers.js' own Node build would use onnxruntime-node,
// a native library, not the wasm runtime a page gets.)
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { BATCHES, COLD, cosine, median } from './bench-texts.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const self = fileURLToPath(import.meta.url);
const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const RUNS = Number(arg('runs', 5));
const WARMUP = Number(arg('warmup', 1));
const MODEL_DIR = path.resolve(root, arg('model', 'models/all-MiniLM-L6-v2'));
const DAWN_FLAGS = (arg('dawn', '') || '').split(';').filter(Boolean);
const OUT = path.resolve(root, arg('out', 'bench/dawn-node/results.json'));
const PKG = arg('pkg', 'web/pkg'); // another wasm-bindgen build of palate-wasm, to compare builds
// The palate-cpu row: the WebGPU build has no CPU backend (scripts/build-wasm.sh builds one each).
const PKG_CPU = arg('pkg-cpu', 'web/pkg-cpu');
const CHILD_TIMEOUT_S = Number(arg('child-timeout', 300)); // a configuration that hangs loses its row only
const PEERS = path.join(root, 'bench/browser/node_modules');
const ORT = path.join(PEERS, 'onnxruntime-web/dist');

const CONFIGS = [
  // Every matrix product in Palate's own WGSL kernels (crates/palate-models/src/kernels/wgsl.rs).
  { key: 'palate-webgpu', engine: 'palate', device: 'webgpu', precision: 'f32' },
  { key: 'palate-webgpu-q8', engine: 'palate', device: 'webgpu', precision: 'q8' },
  { key: 'palate-cpu', engine: 'palate', device: 'cpu', precision: 'f32' },
  { key: 'ortweb-webgpu-fp32', engine: 'ortweb', device: 'webgpu', precision: 'f32' },
  { key: 'ortweb-wasm-fp32', engine: 'ortweb', device: 'wasm', precision: 'f32' },
  // onnxruntime-node's native WebGPU EP (its own Dawn, compiled in): not what a page gets; a
  // second reference, and the peer's GPU figure if the wasm one fails on a machine.
  { key: 'ortnode-webgpu-fp32', engine: 'ortnode', device: 'webgpu', precision: 'f32' },
];

// ---------------------------------------------------------------- child: one configuration
// --trace-kernels (with --trace): GPU time per kernel in the traced call. Each dispatch runs in a
// compute pass of its own with timestamp writes (the engine's passes are split here, in JS), and
// the time is summed by pipeline label (cubecl and onnxruntime name their kernels there). Run it
// with --dawn 'disable-dawn-features=timestamp_quantization' or the times come in coarse steps.
const TRACE_KERNELS = process.argv.includes('--trace-kernels');
const kernelSlots = []; // { label, readBuffer, index } per traced dispatch
const QUERIES = Number(process.env.PALATE_TRACE_QUERIES ?? 1024); // timestamps per command encoder
function traceKernels() {
  const labels = new WeakMap();
  const deviceOf = new WeakMap();
  const { createComputePipeline, createComputePipelineAsync, createCommandEncoder } = GPUDevice.prototype;
  GPUDevice.prototype.createComputePipeline = function (d) {
    const p = createComputePipeline.call(this, d);
    labels.set(p, d?.label ?? d?.compute?.entryPoint ?? '?');
    return p;
  };
  GPUDevice.prototype.createComputePipelineAsync = async function (d) {
    const p = await createComputePipelineAsync.call(this, d);
    labels.set(p, d?.label ?? d?.compute?.entryPoint ?? '?');
    return p;
  };
  GPUDevice.prototype.createCommandEncoder = function (d) {
    const e = createCommandEncoder.call(this, d);
    deviceOf.set(e, this);
    return e;
  };
  const { beginComputePass, finish } = GPUCommandEncoder.prototype;
  const pending = new WeakMap(); // encoder -> { querySet, labels (one per timed dispatch), device }
  GPUCommandEncoder.prototype.beginComputePass = function (d) {
    const device = deviceOf.get(this);
    if (!trace.t0 || !device?.features?.has('timestamp-query')) return beginComputePass.call(this, d);
    const encoder = this;
    let q = pending.get(encoder);
    if (!q) {
      q = { querySet: device.createQuerySet({ type: 'timestamp', count: QUERIES }), labels: [], device };
      pending.set(encoder, q);
    }
    let pipeline = null;
    const groups = new Map();
    const run = (dispatch) => {
      // Past the query set's capacity a dispatch still runs, in a pass of its own, untimed.
      const i = q.labels.length;
      const timed = 2 * i + 1 < QUERIES;
      if (timed) q.labels.push(labels.get(pipeline) ?? '?');
      const pass = beginComputePass.call(encoder, timed ? {
        ...d, timestampWrites: { querySet: q.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 },
      } : d);
      if (pipeline) pass.setPipeline(pipeline);
      for (const [index, args] of groups) pass.setBindGroup(index, ...args);
      dispatch(pass);
      pass.end();
    };
    return {
      label: d?.label ?? '',
      setPipeline: (p) => { pipeline = p; },
      setBindGroup: (index, ...args) => { groups.set(index, args); },
      dispatchWorkgroups: (...a) => run((p) => p.dispatchWorkgroups(...a)),
      dispatchWorkgroupsIndirect: (...a) => run((p) => p.dispatchWorkgroupsIndirect(...a)),
      pushDebugGroup() {}, popDebugGroup() {}, insertDebugMarker() {},
      end() {},
    };
  };
  GPUCommandEncoder.prototype.finish = function (d) {
    const q = pending.get(this);
    if (q && q.labels.length) {
      const n = 2 * q.labels.length;
      const resolve = q.device.createBuffer({ size: n * 8, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
      const readBuffer = q.device.createBuffer({ size: n * 8, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
      this.resolveQuerySet(q.querySet, 0, n, resolve, 0);
      this.copyBufferToBuffer(resolve, 0, readBuffer, 0, n * 8);
      q.labels.forEach((label, index) => kernelSlots.push({ label, readBuffer, index }));
      pending.delete(this);
    }
    return finish.call(this, d);
  };
}

/** GPU milliseconds per kernel name (the label without cubecl's hash suffix) in the traced call. */
async function kernelTimes() {
  const buffers = [...new Set(kernelSlots.map((k) => k.readBuffer))];
  const data = new Map();
  for (const b of buffers) {
    await b.mapAsync(GPUMapMode.READ);
    data.set(b, new BigUint64Array(b.getMappedRange().slice(0)));
    b.unmap();
  }
  const byKernel = {};
  let total = 0;
  for (const { label, readBuffer, index } of kernelSlots) {
    const t = data.get(readBuffer);
    const ms = Number(t[2 * index + 1] - t[2 * index]) / 1e6;
    const name = label.replace(/_[0-9a-f]{8}$/, '');
    byKernel[name] ??= { count: 0, ms: 0 };
    byKernel[name].count += 1;
    byKernel[name].ms += ms;
    total += ms;
  }
  kernelSlots.length = 0;
  const sorted = Object.entries(byKernel).sort((a, b) => b[1].ms - a[1].ms);
  return { totalMs: total, kernels: Object.fromEntries(sorted) };
}

// --trace: every GPU* method call is counted and timed (JS-side time in the call), and each
// mapAsync's wait until its promise settles, per warm call of one batch (--trace-batch 1x32).
const TRACE = process.argv.includes('--trace');
const TRACE_BATCH = arg('trace-batch', '1x32');
const trace = { calls: {}, ms: {}, mapWaitMs: 0, submitsDoneAtMs: [], t0: 0 };
function traceGpu() {
  if (TRACE_KERNELS) traceKernels();
  for (const cls of ['GPUDevice', 'GPUQueue', 'GPUBuffer', 'GPUCommandEncoder', 'GPUComputePassEncoder']) {
    const proto = globalThis[cls]?.prototype;
    if (!proto) continue;
    for (const name of Object.getOwnPropertyNames(proto)) {
      const d = Object.getOwnPropertyDescriptor(proto, name);
      if (name === 'constructor' || typeof d.value !== 'function') continue;
      const f = d.value, key = `${cls}.${name}`;
      proto[name] = function (...a) {
        const t = performance.now();
        const r = f.apply(this, a);
        trace.calls[key] = (trace.calls[key] ?? 0) + 1;
        trace.ms[key] = (trace.ms[key] ?? 0) + performance.now() - t;
        if (name === 'mapAsync' && r?.then) r.then(() => { trace.mapWaitMs += performance.now() - t; }, () => {});
        // When each submission's work is done on the GPU, from the start of the traced call.
        if (cls === 'GPUQueue' && name === 'submit' && trace.t0) {
          const i = trace.submitsDoneAtMs.push(null) - 1;
          this.onSubmittedWorkDone().then(() => { trace.submitsDoneAtMs[i] = performance.now() - trace.t0; }, () => {});
        }
        return r;
      };
    }
  }
}

async function installDawn() {
  const { create, globals } = await import(path.join(PEERS, 'webgpu/index.js'));
  Object.assign(globalThis, globals);
  // wgpu's web backend finds `navigator.gpu` through a global `Window` (wgpu 30,
  // backend/webgpu.rs get_browser_gpu_property); Node 20 has neither.
  globalThis.navigator = { gpu: create(DAWN_FLAGS) };
  globalThis.Window ??= function Window() {};
  // dawn.node crashes (SIGSEGV) on writeBuffer from a view of a SharedArrayBuffer, which is what
  // onnxruntime-web's threaded wasm heap is in Node. Such writes go through a copy of the written
  // range (a browser copies writeBuffer data into its GPU process's shared memory as well).
  const writeBuffer = GPUQueue.prototype.writeBuffer;
  GPUQueue.prototype.writeBuffer = function (buffer, offset, data, dataOffset = 0, size = undefined) {
    if (ArrayBuffer.isView(data) && data.buffer instanceof SharedArrayBuffer) {
      const el = data.BYTES_PER_ELEMENT ?? 1;
      const bytes = (size ?? (data.byteLength / el - dataOffset)) * el;
      const copy = new Uint8Array(bytes);
      copy.set(new Uint8Array(data.buffer, data.byteOffset + dataOffset * el, bytes));
      return writeBuffer.call(this, buffer, offset, copy);
    }
    return writeBuffer.call(this, buffer, offset, data, dataOffset, size);
  };
  if (TRACE) traceGpu();
  const adapter = await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) return 'none';
  const i = adapter.info ?? {};
  return [i.vendor, i.architecture, i.device, i.description].filter(Boolean).join(' / ') || 'unknown (no adapter info)';
}

async function makePalate({ device, precision }) {
  const pkg = device === 'cpu' ? PKG_CPU : PKG;
  const { default: init, Embedder } = await import(path.resolve(root, pkg, 'palate_wasm.js'));
  await init({ module_or_path: await fs.readFile(path.resolve(root, pkg, 'palate_wasm_bg.wasm')) });
  const read = async (f, required = true) => {
    try { return await fs.readFile(path.join(MODEL_DIR, f)); } catch (e) { if (required) throw e; return undefined; }
  };
  const embedder = await Embedder.create(
    device, await read('config.json'), await read('tokenizer.json'), await read('model.safetensors'),
    await read('sentence_bert_config.json', false), await read('modules.json', false),
    await read('1_Pooling/config.json', false), precision,
  );
  if (embedder.backend !== device) throw new Error(`Palate asked for ${device} but runs on ${embedder.backend}`);
  return {
    embed: async (texts) => (await embedder.embed(texts)).map((r) => r.embedding),
    tokens: async (texts) => (await embedder.embed(texts)).map((r) => r.ids.length),
  };
}

async function makeOrt({ engine, device }) {
  let ort;
  if (engine === 'ortweb') {
    ort = await import(path.join(ORT, 'ort.webgpu.bundle.min.mjs'));
    ort.env.wasm.numThreads = 1; // as in the page, which is not cross-origin isolated
    ort.env.wasm.wasmPaths = {
      mjs: path.join(ORT, 'ort-wasm-simd-threaded.asyncify.mjs'),
      wasm: path.join(ORT, 'ort-wasm-simd-threaded.asyncify.wasm'),
    };
  } else {
    ort = await import(path.join(PEERS, 'onnxruntime-node/dist/index.js'));
  }
  const { Tokenizer } = await import(path.join(PEERS, '@huggingface/tokenizers/dist/tokenizers.mjs'));
  const tokenizer = new Tokenizer(
    JSON.parse(await fs.readFile(path.join(MODEL_DIR, 'tokenizer.json'), 'utf8')),
    JSON.parse(await fs.readFile(path.join(MODEL_DIR, 'tokenizer_config.json'), 'utf8')),
  );
  const session = await ort.InferenceSession.create(
    await fs.readFile(path.join(MODEL_DIR, 'onnx/model.onnx')), { executionProviders: [device] },
  );
  return {
    embed: async (texts) => {
      const enc = texts.map((t) => tokenizer.encode(t, { return_token_type_ids: true }));
      const n = enc.length;
      const len = Math.max(...enc.map((e) => e.ids.length));
      const ids = new BigInt64Array(n * len), mask = new BigInt64Array(n * len), types = new BigInt64Array(n * len);
      enc.forEach((e, r) => e.ids.forEach((id, c) => {
        ids[r * len + c] = BigInt(id);
        mask[r * len + c] = 1n;
        types[r * len + c] = BigInt(e.token_type_ids?.[c] ?? 0);
      }));
      const feeds = {
        input_ids: new ort.Tensor('int64', ids, [n, len]),
        attention_mask: new ort.Tensor('int64', mask, [n, len]),
      };
      if (session.inputNames.includes('token_type_ids')) feeds.token_type_ids = new ort.Tensor('int64', types, [n, len]);
      const out = (await session.run(feeds))[session.outputNames[0]];
      const [, , d] = out.dims;
      const h = out.data;
      return enc.map((e, r) => {
        const row = new Float32Array(d);
        for (let c = 0; c < e.ids.length; c++) for (let j = 0; j < d; j++) row[j] += h[(r * len + c) * d + j];
        let norm = 0;
        for (let j = 0; j < d; j++) { row[j] /= e.ids.length; norm += row[j] * row[j]; }
        norm = Math.sqrt(norm) || 1;
        for (let j = 0; j < d; j++) row[j] /= norm;
        return row;
      });
    },
  };
}

async function child(key) {
  const config = CONFIGS.find((c) => c.key === key);
  if (!config) throw new Error(`unknown configuration ${key}`);
  const adapter = await installDawn();
  if (config.device === 'webgpu' && adapter === 'none') throw new Error('Dawn offers no WebGPU adapter here');
  const t0 = performance.now();
  const engine = config.engine === 'palate' ? await makePalate(config) : await makeOrt(config);
  const loadMs = performance.now() - t0;
  const byName = Object.fromEntries(BATCHES.map((b) => [b.name, b.texts]));
  const t1 = performance.now();
  const coldRows = await engine.embed(byName[COLD]);
  const coldMs = performance.now() - t1;
  const warm = {};
  for (const { name, texts } of BATCHES) {
    for (let i = 0; i < WARMUP; i++) await engine.embed(texts);
    warm[name] = [];
    for (let i = 0; i < RUNS; i++) {
      const s = performance.now();
      await engine.embed(texts);
      warm[name].push(performance.now() - s);
    }
    process.stderr.write(`  ${name} ${median(warm[name]).toFixed(1)} ms\n`);
  }
  const medians = Object.fromEntries(Object.entries(warm).map(([k, v]) => [k, median(v)]));
  let traced;
  if (TRACE) {
    Object.assign(trace, { calls: {}, ms: {}, mapWaitMs: 0, submitsDoneAtMs: [], t0: performance.now() });
    const s = trace.t0;
    await engine.embed(byName[TRACE_BATCH]);
    const wallMs = performance.now() - s;
    await new Promise((r) => setTimeout(r, 50)); // the last onSubmittedWorkDone callbacks
    trace.t0 = 0;
    if (TRACE_KERNELS) {
      trace.gpu = await kernelTimes();
      process.stderr.write(`  GPU time per kernel (${trace.gpu.totalMs.toFixed(2)} ms in all): ${Object.entries(trace.gpu.kernels).slice(0, 8).map(([k, v]) => `${k} ×${v.count} ${v.ms.toFixed(2)} ms`).join('; ')}\n`);
    }
    traced = { batch: TRACE_BATCH, wallMs, apiMs: Object.values(trace.ms).reduce((a, b) => a + b, 0), ...trace };
    process.stderr.write(`  trace ${TRACE_BATCH}: ${traced.wallMs.toFixed(1)} ms wall, ${traced.apiMs.toFixed(1)} ms in GPU calls, ${traced.mapWaitMs.toFixed(1)} ms waiting on mapAsync; submissions done at ${trace.submitsDoneAtMs.map((x) => x?.toFixed(1)).join(' ')} ms; ${JSON.stringify(trace.calls)}\n`);
  }
  const tokens = engine.tokens ? await engine.tokens(byName[COLD]) : undefined;
  return { ...config, adapter, loadMs, coldMs, warm, medians, trace: traced, tokens, check: coldRows.map((r) => Array.from(r)) };
}

if (process.argv.includes('--child')) {
  try {
    const out = await child(arg('child'));
    process.stdout.write(`\n@@RESULT ${JSON.stringify(out)}\n`);
    process.exit(0);
  } catch (e) {
    process.stderr.write(`${e?.stack ?? e}\n`);
    process.exit(1);
  }
}

// ---------------------------------------------------------------- parent: every configuration
function runChild(key) {
  return new Promise((resolve) => {
    const args = [self, '--child', key, '--runs', String(RUNS), '--warmup', String(WARMUP), '--model', MODEL_DIR];
    if (DAWN_FLAGS.length) args.push('--dawn', DAWN_FLAGS.join(';'));
    if (PKG !== 'web/pkg') args.push('--pkg', PKG);
    if (TRACE) args.push('--trace', '--trace-batch', TRACE_BATCH);
    if (TRACE_KERNELS) args.push('--trace-kernels');
    const p = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => p.kill('SIGKILL'), CHILD_TIMEOUT_S * 1000);
    let stdout = '', stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; process.stderr.write(d); });
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      const line = stdout.split('\n').find((l) => l.startsWith('@@RESULT '));
      if (code === 0 && line) resolve(JSON.parse(line.slice('@@RESULT '.length)));
      else resolve({ key, failed: signal ? `killed by ${signal}` : `exit ${code}`, log: stderr.slice(-2000) });
    });
  });
}

const only = arg('only', null)?.split(',');
const configs = only ? CONFIGS.filter((c) => only.includes(c.key)) : CONFIGS;
const unknown = (only ?? []).filter((k) => !CONFIGS.some((c) => c.key === k));
if (unknown.length) {
  console.error(`[bench-dawn-node] unknown configuration(s) ${unknown.join(', ')}; known: ${CONFIGS.map((c) => c.key).join(', ')}`);
  process.exit(2);
}
// What the run needs, with the command that makes it (scripts/bench-browser.sh makes all three).
const exists = (p) => fs.access(p).then(() => true, () => false);
for (const [file, how] of [
  [path.join(PEERS, 'webgpu/package.json'), 'the peers\' npm install: (cd bench/browser && npm ci --ignore-scripts)'],
  [path.resolve(root, PKG, 'palate_wasm_bg.wasm'), 'the wasm build: scripts/build-wasm.sh'],
  ...(configs.some((c) => c.engine !== 'palate')
    ? [[path.join(MODEL_DIR, 'onnx/model.onnx'), 'the ONNX export: scripts/bench-browser.sh (or scripts/export_onnx.py)']] : []),
]) {
  if (!await exists(file)) {
    console.error(`[bench-dawn-node] missing ${path.relative(root, file)}: make ${how}`);
    process.exit(2);
  }
}
const dawnPkg = JSON.parse(await fs.readFile(path.join(PEERS, 'webgpu/package.json'), 'utf8'));
const ortPkg = JSON.parse(await fs.readFile(path.join(ORT, '../package.json'), 'utf8'));
const results = {
  date: new Date().toISOString(),
  machine: `${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB`,
  runtime: `Node ${process.version}, dawn.node (npm webgpu ${dawnPkg.version})${DAWN_FLAGS.length ? `, flags ${DAWN_FLAGS.join(' ')}` : ''}`,
  peer: `onnxruntime-web ${ortPkg.version} (WebGPU bundle, asyncify wasm)`,
  runs: RUNS, warmup: WARMUP, cold: COLD,
  batches: BATCHES.map(({ name, size, tokens }) => ({ name, size, tokens })),
  configs: {},
};
for (const config of configs) {
  process.stderr.write(`[bench-dawn-node] ${config.key}\n`);
  const out = await runChild(config.key);
  if (out.failed) process.stderr.write(`[bench-dawn-node] ${config.key} failed (${out.failed})\n`);
  results.adapter ??= out.adapter;
  results.configs[config.key] = out;
}
const ok = Object.values(results.configs).filter((c) => !c.failed);
const palate = ok.find((c) => c.key === 'palate-cpu') ?? ok.find((c) => c.engine === 'palate');
if (palate?.tokens && palate.tokens.some((n) => n !== 128)) {
  throw new Error(`the ${COLD} texts are not 128 tokens each: ${palate.tokens}`);
}
results.agreement = {};
for (const c of ok) {
  if (c === palate || !palate) continue;
  results.agreement[`${c.key} vs ${palate.key}`] = Math.min(...c.check.map((row, i) => cosine(row, palate.check[i])));
}
for (const c of ok) delete c.check;
results.ratios = {};
for (const [ours, peer] of [['palate-webgpu', 'ortweb-webgpu-fp32'], ['palate-webgpu', 'ortnode-webgpu-fp32'], ['palate-cpu', 'ortweb-wasm-fp32']]) {
  const a = results.configs[ours], b = results.configs[peer];
  if (!a?.medians || !b?.medians) continue;
  results.ratios[`${ours} / ${peer}`] = Object.fromEntries([
    ...Object.keys(a.medians).map((k) => [k, a.medians[k] / b.medians[k]]),
    ['load', a.loadMs / b.loadMs], ['first call', a.coldMs / b.coldMs],
  ]);
}
await fs.mkdir(path.dirname(OUT), { recursive: true });
await fs.writeFile(OUT, JSON.stringify(results, null, 2) + '\n');
console.error(`[bench-dawn-node] adapter: ${results.adapter}; wrote ${OUT}`);
for (const [pair, r] of Object.entries(results.ratios)) {
  console.error(`[bench-dawn-node] ${pair}: ${Object.entries(r).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')}`);
}
for (const [pair, cos] of Object.entries(results.agreement)) {
  const f32 = !pair.includes('q8');
  console.error(`[bench-dawn-node] min cosine ${pair}: ${cos.toFixed(6)}${f32 && cos < 0.999 ? '  << below 0.999' : ''}`);
  if (f32 && cos < 0.999) process.exitCode = 1;
}
