// The browser benchmark's page side: one engine, one device, one fresh page per call.
// scripts/bench-browser.mjs calls palateBench.run(options) and collects the figures.
//
//   engine 'palate'        createRanker({ model, backend }).embed(texts)         (web/src/palate.js, in its worker)
//   engine 'transformers'  pipeline('feature-extraction', model, { device, dtype })(texts,
//                          { pooling: 'mean', normalize: true })               (transformers.js on onnxruntime-web)
//
// Both produce mean-pooled, L2-normalised all-MiniLM-L6-v2 embeddings from the same texts.

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };

async function makePalate({ model, device, precision, threads = 1 }) {
  const { createRanker } = await import('/src/palate.js');
  const ranker = await createRanker({ model, backend: device === 'webgpu' ? 'webgpu' : 'cpu', precision, threads: threads > 1 });
  const stats = await ranker.stats();
  if (device !== 'webgpu' && stats.threads !== threads) {
    throw new Error(`Palate asked for ${threads} thread(s) but runs ${stats.build} on ${stats.threads}`);
  }
  if ((device === 'webgpu') !== (ranker.backend === 'webgpu')) {
    throw new Error(`Palate asked for ${device} but runs on ${ranker.backend}`);
  }
  return {
    embed: async (texts) => (await ranker.embed(texts)).map((r) => r.embedding),
    tokens: async (texts) => (await ranker.embed(texts)).map((r) => r.ids.length),
    dispose: () => ranker.dispose(),
  };
}

async function makeTransformers({ modelId, device, dtype, threads = 1 }) {
  const { pipeline, env } = await import('@huggingface/transformers');
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.localModelPath = '/tjs-models/';
  env.useBrowserCache = false;
  const ort = env.backends.onnx;
  // onnxruntime-web's own wasm, from the local npm install instead of the CDN.
  ort.wasm.wasmPaths = {
    mjs: '/peers/onnxruntime-web/dist/ort-wasm-simd-threaded.asyncify.mjs',
    wasm: '/peers/onnxruntime-web/dist/ort-wasm-simd-threaded.asyncify.wasm',
  };
  // One thread, or one per core (a cross-origin-isolated page: onnxruntime-web's own worker pool).
  ort.wasm.numThreads = threads;
  const extractor = await pipeline('feature-extraction', modelId, { device, dtype });
  return {
    embed: async (texts) => {
      const out = await extractor(texts, { pooling: 'mean', normalize: true });
      const [n, d] = out.dims;
      const rows = [];
      for (let i = 0; i < n; i++) rows.push(out.data.slice(i * d, (i + 1) * d));
      return rows;
    },
    dispose: () => extractor.dispose?.(),
  };
}

/**
 * @param {{ engine: 'palate'|'transformers', device: 'webgpu'|'cpu'|'wasm', dtype?: string,
 *   model: string, modelId: string, batches: { name: string, texts: string[] }[], coldTexts: string[],
 *   warmup: number, runs: number, threads?: number }} o   threads: CPU threads (default 1)
 * @returns {Promise<{ loadMs: number, coldMs: number, warm: Record<string, number[]>,
 *   medians: Record<string, number>, check: number[][], tokens?: number[] }>}
 */
async function run(o) {
  const t0 = performance.now();
  const engine = o.engine === 'palate' ? await makePalate(o) : await makeTransformers(o);
  const loadMs = performance.now() - t0;
  const t1 = performance.now();
  const coldRows = await engine.embed(o.coldTexts);
  const coldMs = performance.now() - t1;
  const warm = {};
  for (const { name, texts } of o.batches) {
    for (let i = 0; i < o.warmup; i++) await engine.embed(texts);
    warm[name] = [];
    for (let i = 0; i < o.runs; i++) {
      const s = performance.now();
      await engine.embed(texts);
      warm[name].push(performance.now() - s);
    }
  }
  const medians = Object.fromEntries(Object.entries(warm).map(([k, v]) => [k, median(v)]));
  const tokens = engine.tokens ? await engine.tokens(o.coldTexts) : undefined;
  engine.dispose();
  return { loadMs, coldMs, warm, medians, check: coldRows.map((r) => Array.from(r)), tokens };
}

window.palateBench = { run };
