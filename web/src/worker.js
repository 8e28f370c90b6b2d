// Palate's Web Worker: owns the wasm module, the model, the user's taste and its storage, so the
// page never blocks. Protocol (see palate.js): {id, type, ...} in; {id, ok, result | error} or
// {id, type: 'progress', ...} out.
//
// Storage, all on this device:
// - Cache Storage "palate-models": model files, keyed by URL + sha256 from the folder's
//   palate-manifest.json (written by scripts/fetch-model.sh). A second visit reads them from the
//   cache without any network; a changed manifest (new sha256) fetches the changed files again
//   and drops the stale copies. The manifest itself is fetched network-first with the cached copy
//   as fallback, so an offline visit still works. Folders without a manifest are fetched directly.
// - IndexedDB "palate" / store "profiles": the user's profile, keyed by model fingerprint, saved
//   after every answer, import and forget. A stored profile that cannot be read is kept aside under
//   "<fingerprint>:unreadable:<time>" and reported, never deleted or silently replaced.

// Two builds of the same wasm API (scripts/build-wasm.sh): web/pkg has burn's WebGPU backend (and
// the CPU one), web/pkg-cpu only the CPU backend, at under half the download (no cubecl). The worker
// imports the one the chosen backend needs, once it has chosen, so a page on the CPU never
// downloads the WebGPU code. Both paths are literals (`import('…')`, `new URL('…', import.meta.url)`)
// so that bundlers (Vite, Rollup, webpack; esbuild for the imports) see them and emit the files.
const BUILDS = {
  webgpu: {
    bindings: () => import('../pkg/palate_wasm.js'),
    wasm: () => new URL('../pkg/palate_wasm_bg.wasm', import.meta.url),
  },
  cpu: {
    bindings: () => import('../pkg-cpu/palate_wasm.js'),
    wasm: () => new URL('../pkg-cpu/palate_wasm_bg.wasm', import.meta.url),
  },
  // The CPU build on every core: shared memory and a pool of workers (wasm-bindgen-rayon), so
  // only where the page is cross-origin isolated (COOP + COEP); elsewhere the `cpu` build runs.
  'cpu-threads': {
    bindings: () => import('../pkg-threads/palate_wasm.js'),
    wasm: () => new URL('../pkg-threads/palate_wasm_bg.wasm', import.meta.url),
  },
};

/** The build for a backend: on the CPU, the threaded one where this worker may share memory
 *  (`threads` false asks for the single-threaded one anyway). */
function buildFor(backend, threads) {
  if (backend !== 'cpu') return backend;
  const canShare = self.crossOriginIsolated === true && typeof SharedArrayBuffer === 'function';
  return canShare && threads !== false ? 'cpu-threads' : 'cpu';
}

// Files of a Hugging Face / sentence-transformers folder. Required ones must exist.
const FILES = [
  { key: 'config', name: 'config.json', required: true },
  { key: 'tokenizer', name: 'tokenizer.json', required: true },
  { key: 'weights', name: 'model.safetensors', required: true },
  { key: 'sentenceBertConfig', name: 'sentence_bert_config.json', required: false },
  { key: 'modules', name: 'modules.json', required: false },
  { key: 'pooling', name: '1_Pooling/config.json', required: false },
  { key: 'taste', name: 'palate-taste.json', required: false },
];
const CACHE = 'palate-models';
const MANIFEST = 'palate-manifest.json';

// Files of a reward-model folder (Qwen3 / Llama sequence classification).
const RM_FILES = [
  { key: 'config', name: 'config.json', required: true },
  { key: 'tokenizer', name: 'tokenizer.json', required: true },
  { key: 'tokenizerConfig', name: 'tokenizer_config.json', required: false },
  { key: 'chatTemplate', name: 'chat_template.jinja', required: false },
  { key: 'weights', name: 'model.safetensors', required: false },
  { key: 'index', name: 'model.safetensors.index.json', required: false },
];

/** An error with one of palate.js's ERROR_CODES; posted back as { error, code }. */
class CodedError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

let runtime = null; // the loaded build: { backend ('webgpu', 'cpu' or 'cpu-threads'), bindings (its classes), exports (its memory, for stats()), threads }
let embedder = null;
let reward = null;
let taste = null;
let profileKey = null;

function progress(id, data) {
  postMessage({ id, type: 'progress', ...data });
}

async function readBody(response, onBytes) {
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

async function fetchOrExplain(url, name) {
  try {
    return await fetch(url, { cache: 'no-store' });
  } catch (e) {
    throw new CodedError('model-missing', `${name}: cannot fetch ${url}: ${e.message}`);
  }
}

async function sha256Hex(bytes) {
  const digest = await crypto.subtle.digest('SHA-256', bytes);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** The folder's manifest: network first, then the cached copy; null when there is none. */
async function loadManifest(base, cache) {
  const url = new URL(MANIFEST, base).href;
  try {
    const response = await fetch(url, { cache: 'no-store' });
    if (response.ok) {
      const text = await response.text();
      const manifest = JSON.parse(text);
      await cache?.put(url, new Response(text, { headers: { 'content-type': 'application/json' } }));
      return manifest;
    }
    if (response.status === 404) return null;
  } catch {
    // Offline: fall through to the cached manifest.
  }
  const cached = await cache?.match(url);
  return cached ? JSON.parse(await cached.text()) : null;
}

/**
 * One file: from the cache when the manifest's sha256 matches, else from the network. Bytes as a
 * Uint8Array, or, for `file.blob` (a `.bpk`), as a Blob that wasm reads a tensor at a time (from
 * the Cache API it stays on disk), so a large model is never copied whole into wasm memory.
 */
async function loadFile(base, file, manifest, cache, onBytes, onCached) {
  const url = new URL(file.name, base).href;
  const entry = manifest?.files?.[file.name];
  if (manifest && !entry) {
    if (file.required) throw new CodedError('model-invalid', `${file.name}: not listed in ${MANIFEST}`);
    return null;
  }
  const key = entry ? `${url}?sha256=${entry.sha256}` : null;
  if (key && cache) {
    const hit = await cache.match(key);
    if (hit) {
      if (file.blob) {
        const blob = await hit.blob();
        onCached(blob.size);
        return blob;
      }
      const bytes = new Uint8Array(await hit.arrayBuffer());
      onCached(bytes.byteLength);
      return bytes;
    }
  }
  const response = await fetchOrExplain(url, file.name);
  if (!response.ok) {
    if (!file.required && response.status === 404) return null;
    throw new CodedError('model-missing', `${file.name}: missing (HTTP ${response.status} for ${url})`);
  }
  const bytes = await readBody(response, onBytes);
  if (entry) {
    if (bytes.byteLength !== entry.size || (await sha256Hex(bytes)) !== entry.sha256) {
      throw new CodedError('model-invalid', `${file.name}: the download does not match ${MANIFEST} (size or sha256); reload to try again`);
    }
    if (cache) {
      // Drop stale versions of this file, then store this one.
      for (const old of await cache.keys()) {
        if (old.url.startsWith(`${url}?sha256=`) && old.url !== key) await cache.delete(old);
      }
      await cache.put(key, new Response(bytes, { headers: { 'content-type': 'application/octet-stream' } }))
        .catch(() => {}); // quota exceeded: work uncached rather than fail
      if (file.blob) {
        const stored = await cache.match(key);
        if (stored) return stored.blob();
      }
    }
  }
  return file.blob ? new Blob([bytes]) : bytes;
}

/** Like Promise.all (the downloads run in parallel), but when several fail, the error is the
 *  first one in list order — config.json before tokenizer.json — not whichever failed first. */
async function inOrder(promises) {
  const settled = await Promise.allSettled(promises);
  const failed = settled.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((r) => r.value);
}

async function webgpuAdapter() {
  if (!('gpu' in navigator) || !navigator.gpu) return null;
  try {
    return await navigator.gpu.requestAdapter();
  } catch {
    return null;
  }
}

/**
 * Imports and instantiates the build for `backend` ("webgpu" or "cpu") and returns it as
 * `{ backend, bindings, exports }` (a worker loads one build, once), reporting the .wasm
 * download through `onBytes(loaded, total)` (total 0 when unknown: a compressed response's
 * Content-Length is not the size of what it decodes to). The bytes are counted as they stream into
 * `WebAssembly.instantiateStreaming`, so compiling still overlaps the download.
 */
async function loadBuild(backend, wasmUrl, onBytes) {
  const wasm = wasmUrl ? new URL(wasmUrl) : BUILDS[backend].wasm();
  const explain = (why) => new CodedError('model-missing', `cannot load Palate's ${backend} build (${wasm.href}): ${why}`);
  let bindings;
  let response;
  try {
    [bindings, response] = await Promise.all([BUILDS[backend].bindings(), fetch(wasm)]);
  } catch (e) {
    throw explain(`${e?.message ?? e}; is the network up, and was scripts/build-wasm.sh run?`);
  }
  if (!response.ok) throw explain(`HTTP ${response.status}; run scripts/build-wasm.sh`);
  const encoded = response.headers.get('content-encoding');
  const total = encoded && encoded !== 'identity' ? 0 : Number(response.headers.get('content-length')) || 0;
  let loaded = 0;
  onBytes(0, total);
  const counted = response.body.pipeThrough(new TransformStream({
    transform(chunk, controller) {
      loaded += chunk.byteLength;
      onBytes(loaded, total);
      controller.enqueue(chunk);
    },
  }));
  const body = new Response(counted, { status: response.status, statusText: response.statusText, headers: response.headers });
  try {
    const exports = await bindings.default({ module_or_path: body });
    if (bindings.initThreadPool) await bindings.initThreadPool(Math.max(1, navigator.hardwareConcurrency || 1));
    return { backend, bindings, exports, threads: bindings.threads?.() ?? 1 };
  } catch (e) {
    throw explain(`${e?.message ?? e}`);
  }
}

// ---- IndexedDB ---------------------------------------------------------------------------------

function openDb() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open('palate', 1);
    req.onupgradeneeded = () => req.result.createObjectStore('profiles');
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function dbOp(mode, fn) {
  const db = await openDb();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction('profiles', mode);
      const req = fn(tx.objectStore('profiles'));
      tx.oncomplete = () => resolve(req?.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

const dbGet = (key) => dbOp('readonly', (s) => s.get(key));
const dbPut = (key, value) => dbOp('readwrite', (s) => s.put(value, key));
const dbDelete = (key) => dbOp('readwrite', (s) => s.delete(key));

async function saveProfile() {
  if (taste && profileKey) await dbPut(profileKey, taste.exportProfile());
}

/** Restores the stored profile; an unreadable one is kept aside and reported. */
async function restoreProfile() {
  let stored;
  try {
    stored = await dbGet(profileKey);
  } catch (e) {
    return { state: 'unavailable', message: `IndexedDB is not available (${e?.message ?? e}); answers will not be kept` };
  }
  if (stored === undefined) return { state: 'new' };
  try {
    if (typeof stored !== 'string') throw new Error('stored value is not a JSON string');
    taste.importProfile(stored);
    return { state: 'restored' };
  } catch (e) {
    const keptAs = `${profileKey}:unreadable:${Date.now()}`;
    await dbPut(keptAs, stored);
    await dbDelete(profileKey);
    return {
      state: 'unreadable',
      keptAs,
      message: `your saved profile could not be read (${e.message}); it was kept aside as "${keptAs}" and a new one started`,
    };
  }
}

// ---- requests ----------------------------------------------------------------------------------

/** Whether a model URL names one `.bpk` file (`palate convert`) rather than a folder. */
function isPack(url) {
  return /\.bpk$/i.test(new URL(url, self.location.href).pathname);
}

/** Whether a model URL names a GGUF file (a causal LM, scored by follow-up likelihood). */
function isGguf(url) {
  return /\.gguf$/i.test(new URL(url, self.location.href).pathname);
}

/** A `.bpk` URL as the folder that holds it (with its manifest, if any) and the file's entry. */
function packFile(url) {
  const href = new URL(url, self.location.href);
  const name = decodeURIComponent(href.pathname.split('/').pop());
  return { base: new URL('./', href).href, file: { key: 'pack', name, required: true, blob: true } };
}

async function handleInit(id, { model, backend, principles, rewardModel, precision, maxBindingBytes, wasmUrl, threads }) {
  const pack = isPack(model) ? packFile(model) : null;
  const base = pack ? pack.base : model.endsWith('/') ? model : `${model}/`;
  const modelFiles = pack ? [pack.file] : FILES;
  let chosen = backend;
  let bindingLimit;
  if (backend === 'auto' || backend === 'webgpu') {
    const adapter = await webgpuAdapter();
    bindingLimit = adapter?.limits?.maxStorageBufferBindingSize;
    if (adapter) chosen = 'webgpu';
    else if (backend === 'webgpu') throw new CodedError('no-webgpu', 'backend "webgpu" was requested but this browser offers no WebGPU adapter; use backend "auto" or "cpu"');
    else chosen = 'cpu';
  } else if (backend !== 'cpu') {
    throw new CodedError('input-invalid', `unknown backend "${backend}" (expected "auto", "webgpu" or "cpu")`);
  }

  // The wasm downloads and compiles while the model files download: neither waits for the other.
  const build = buildFor(chosen, threads);
  const buildReady = loadBuild(build, wasmUrl?.[build], (loaded, total) => progress(id, { phase: 'wasm', file: `${build} build`, loaded, total }));
  buildReady.catch(() => {}); // awaited below; a failure must not also surface as an unhandled rejection

  const cache = await caches?.open(CACHE).catch(() => null);
  const manifest = await loadManifest(base, cache);
  // Progress over all files: bytes from the network and from the cache.
  const expected = manifest ? modelFiles.reduce((a, f) => a + (manifest.files?.[f.name]?.size ?? 0), 0) : 0;
  const totals = new Map();
  let loaded = 0;
  let fromCache = 0;
  const report = (name) => (n, total) => {
    totals.set(name, total);
    loaded += n;
    const all = expected || [...totals.values()].reduce((a, b) => a + b, 0);
    progress(id, { phase: 'download', file: name, loaded, total: all });
  };
  const cached = (n) => {
    fromCache += n;
    loaded += n;
    progress(id, { phase: 'cache', loaded, total: expected });
  };
  const bytes = await inOrder(modelFiles.map((f) => loadFile(base, f, manifest, cache, report(f.name), cached)));
  const files = Object.fromEntries(modelFiles.map((f, i) => [f.key, bytes[i] ?? undefined]));

  runtime = await buildReady;
  const { Embedder, Reward } = runtime.bindings;
  progress(id, { phase: 'load', loaded: 1, total: 1 });
  let tasteJson;
  if (pack) {
    // One file: weights (maybe quantized), config, tokenizer and taste file inside.
    embedder = await Embedder.fromPack(chosen, files.pack, precision);
    tasteJson = embedder.packedTaste;
  } else {
    embedder = await Embedder.create(
      chosen, files.config, files.tokenizer, files.weights,
      files.sentenceBertConfig, files.modules, files.pooling, precision,
    );
    tasteJson = files.taste === undefined ? undefined : new TextDecoder().decode(files.taste);
  }
  reward = null;
  // Tables larger than one GPU storage binding stay on the CPU (maxBindingBytes forces a limit).
  const limit = maxBindingBytes ?? (chosen === 'webgpu' ? bindingLimit : undefined);
  if (rewardModel && (isPack(rewardModel) || isGguf(rewardModel))) {
    // One file (a .bpk or a GGUF), kept as a Blob and read by byte ranges.
    const { base: rmBase, file } = packFile(rewardModel);
    const rmManifest = await loadManifest(rmBase, cache);
    let rmLoaded = 0;
    const rmReport = (n, total) => { rmLoaded += n; progress(id, { phase: 'download', file: file.name, loaded: rmLoaded, total }); };
    const rmBytes = await loadFile(rmBase, file, rmManifest, cache, rmReport, () => {});
    progress(id, { phase: 'load', loaded: 1, total: 1 });
    reward = isGguf(rewardModel)
      ? await Reward.fromGguf(chosen, rmBytes, file.name)
      : await Reward.fromPack(chosen, rmBytes, limit, precision);
  } else if (rewardModel) {
    const rmBase = rewardModel.endsWith('/') ? rewardModel : `${rewardModel}/`;
    const rmManifest = await loadManifest(rmBase, cache);
    let rmLoaded = 0;
    const rmReport = (n, total) => { rmLoaded += n; progress(id, { phase: 'download', file: 'reward model', loaded: rmLoaded, total }); };
    const got = await inOrder(RM_FILES.map((f) => loadFile(rmBase, f, rmManifest, cache, rmReport, () => {})));
    const rm = Object.fromEntries(RM_FILES.map((f, i) => [f.key, got[i] ?? undefined]));
    let shardNames = [];
    let shards = [];
    if (!rm.weights) {
      if (!rm.index) throw new CodedError('model-missing', `model.safetensors: missing (neither it nor model.safetensors.index.json is in ${rmBase})`);
      shardNames = Reward.shardNames(rm.index);
      shards = await inOrder(shardNames.map((name) => loadFile(rmBase, { name, required: true }, rmManifest, cache, rmReport, () => {})));
    }
    progress(id, { phase: 'load', loaded: 1, total: 1 });
    reward = await Reward.create(chosen, rm.config, rm.tokenizer, rm.tokenizerConfig, rm.chatTemplate, rm.weights, shardNames, shards, limit, precision);
  }
  taste = null;
  let profile = { state: 'none', message: 'this model folder has no palate-taste.json: rerank and questions are off' };
  if (tasteJson !== undefined) {
    progress(id, { phase: 'load', loaded: 1, total: 1 });
    taste = await embedder.createTaste(tasteJson, principles ? JSON.stringify(principles) : undefined);
    if (reward) taste.useReward(reward); // the reward model's score joins as a feature (weight 1)
    // One profile per model and feature spec: custom principles keep their own.
    profileKey = `${embedder.fingerprint}:${taste.featuresFingerprint.slice(0, 16)}`;
    profile = await restoreProfile();
  } else if (principles) {
    throw new CodedError('input-invalid', 'principles need a taste file (palate-taste.json) in the model folder');
  }
  return {
    backend: embedder.backend, dim: embedder.dim, fingerprint: embedder.fingerprint, profileKey, reward: reward !== null,
    rewardEmbeddingsOnCpu: reward?.embeddingsOnCpu ?? false,
    cached: manifest !== null, fromCache, profile,
    taste: taste ? JSON.parse(taste.summary()) : null,
  };
}

function needTaste() {
  if (!embedder) throw new CodedError('input-invalid', 'the model is not loaded');
  if (!taste) throw new CodedError('input-invalid', 'this model has no taste file (palate-taste.json), so Palate cannot rank or ask questions');
  return taste;
}

function checkReplies(replies, fn) {
  if (!Array.isArray(replies) || replies.some((r) => typeof r !== 'string')) {
    throw new CodedError('input-invalid', `${fn}() takes the replies as an array of strings`);
  }
}

const handlers = {
  /** Memory held by the worker's WebAssembly module: its linear memory only grows, so this is the
   *  peak since the worker started (model bytes, weights, activations); and which build is loaded. */
  async stats() {
    return { wasmMemoryBytes: runtime?.exports.memory?.buffer?.byteLength ?? 0, build: runtime?.backend ?? null, threads: runtime?.threads ?? 0 };
  },
  async embed({ texts }) {
    if (!embedder) throw new CodedError('input-invalid', 'the model is not loaded');
    if (!Array.isArray(texts) || texts.some((t) => typeof t !== 'string')) {
      throw new CodedError('input-invalid', 'embed() takes an array of strings');
    }
    const rows = await embedder.embed(texts);
    return rows.map((r) => ({ ids: Array.from(r.ids), embedding: r.embedding }));
  },
  async score({ prompt, responses }) {
    if (!reward) throw new CodedError('input-invalid', 'no reward model is loaded: pass createRanker({ rewardModel: URL of a Qwen3/Llama reward-model folder, a .bpk or a .gguf })');
    if (typeof prompt !== 'string') throw new CodedError('input-invalid', 'score() takes the prompt as a string');
    checkReplies(responses, 'score');
    if (responses.length === 0) return [];
    return Array.from(await reward.score(prompt, responses));
  },
  async logprobs({ texts }) {
    if (!reward) throw new CodedError('input-invalid', 'no causal LM is loaded: pass createRanker({ rewardModel: URL of a .gguf file })');
    if (!Array.isArray(texts) || texts.some((t) => typeof t !== 'string')) throw new CodedError('input-invalid', 'logprobs() takes an array of strings');
    return JSON.parse(await reward.logprobs(texts));
  },
  async rerank({ prompt, replies, conservative }) {
    checkReplies(replies, 'rerank');
    if (conservative !== undefined && conservative !== null && !(Number.isFinite(conservative) && conservative >= 0)) {
      throw new CodedError('input-invalid', 'rerank(..., { conservative }) takes a number ≥ 0 (how many standard deviations to subtract)');
    }
    return JSON.parse(await needTaste().rerank(String(prompt ?? ''), replies, conservative ?? undefined));
  },
  async nextQuestion({ prompt, replies }) {
    checkReplies(replies, 'nextQuestion');
    return JSON.parse(await needTaste().nextQuestion(String(prompt ?? ''), replies));
  },
  async answer({ questionId, answer }) {
    if (!['a', 'b', 'tie', 'skip'].includes(answer)) throw new CodedError('input-invalid', `answer must be 'a', 'b', 'tie' or 'skip', not ${JSON.stringify(answer)}`);
    const summary = JSON.parse(needTaste().answer(questionId >>> 0, answer));
    await saveProfile();
    return summary;
  },
  async summary() {
    return JSON.parse(needTaste().summary());
  },
  async exportProfile() {
    return needTaste().exportProfile();
  },
  async importProfile({ json }) {
    if (typeof json !== 'string') throw new CodedError('input-invalid', 'profile.import() takes the profile as a JSON string');
    const summary = JSON.parse(needTaste().importProfile(json));
    await saveProfile();
    return summary;
  },
  async forget() {
    const summary = JSON.parse(needTaste().forget());
    await saveProfile();
    return summary;
  },
  /** Tests only (Ranker._trapForTests): a Rust panic, which the wasm turns into a trap. */
  async trapForTests() {
    if (!runtime) throw new CodedError('input-invalid', 'the model is not loaded');
    runtime.bindings.trapForTests();
  },
};

/** What an error from the wasm (a plain Error with Rust's message) means, by request. */
const DEFAULT_CODES = { init: 'model-invalid', importProfile: 'profile-corrupt' };

// Requests run one at a time, in the order they came (two calls into the wasm never interleave);
// a 'cancel' (its call was aborted) is read at once and drops the call if it has not started.
const cancelled = new Set();
let queue = Promise.resolve();

self.onmessage = (event) => {
  const { id, type, ...args } = event.data;
  if (type === 'cancel') {
    cancelled.add(args.target);
    return;
  }
  queue = queue.then(() => run(id, type, args));
};

/** Resolves after the messages already waiting, so that a 'cancel' sent while the worker was busy
 *  is read before the call it cancels starts. Every call yields: a call into the wasm can block the
 *  worker for its whole length, so by the time the next message is read the queue may look idle
 *  although that message (and a cancel behind it) waited the whole time. */
const afterWaitingMessages = () => new Promise((resolve) => setTimeout(resolve, 0));

async function run(id, type, args) {
  await afterWaitingMessages();
  if (cancelled.delete(id)) {
    postMessage({ id, ok: false, code: 'aborted', error: 'aborted before it started' });
    return;
  }
  for (const stale of cancelled) if (stale < id) cancelled.delete(stale); // cancelled after they ended
  try {
    let result;
    if (type === 'init') result = await handleInit(id, args);
    else if (Object.hasOwn(handlers, type)) result = await handlers[type](args);
    else throw new CodedError('input-invalid', `unknown request "${type}"`);
    const transfer = type === 'embed' ? result.map((r) => r.embedding.buffer) : [];
    postMessage({ id, ok: true, result }, transfer);
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    if (e instanceof WebAssembly.RuntimeError) {
      // A wasm trap (a Rust panic): the module's state is unknown, nothing here may call it again.
      // The page side (palate.js) replaces this worker with a fresh one.
      embedder = null; taste = null; reward = null; runtime = null;
      postMessage({ id, ok: false, code: 'worker-crashed', error: `the WebAssembly module trapped: ${message}` });
      return;
    }
    postMessage({ id, ok: false, code: e?.code ?? DEFAULT_CODES[type] ?? 'input-invalid', error: message });
  }
}
