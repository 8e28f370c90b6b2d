// Palate's JavaScript API. Everything heavy runs in a Web Worker (worker.js) that owns the wasm.
//
//   import { createRanker } from './src/palate.js';
//   const r = await createRanker({ model: '/models/all-MiniLM-L6-v2/', backend: 'auto',
//                                  onProgress: (p) => console.log(p.phase, p.loaded, p.total) });
//   r.backend;                        // 'webgpu' or 'cpu'
//   const [{ ids, embedding }] = await r.embed(['hello']);
//   r.dispose();

/** @typedef {{ phase: 'wasm'|'download'|'load', file?: string, loaded: number, total: number }} Progress */

class Ranker {
  #worker;
  #pending = new Map();
  #nextId = 1;
  #broken = null;
  /** @type {'webgpu'|'cpu'} */ backend;
  /** @type {number} */ dim;

  constructor(worker) {
    this.#worker = worker;
    worker.onmessage = (event) => this.#onMessage(event.data);
    // A worker that dies (out of memory, failed import) must not leave promises hanging.
    worker.onerror = (event) => {
      event.preventDefault?.();
      this.#fail(new Error(`Palate worker failed: ${event.message || 'unknown error (see the console)'}`));
    };
    worker.onmessageerror = () => this.#fail(new Error('Palate worker sent an unreadable message'));
  }

  #fail(error) {
    this.#broken = error;
    for (const { reject } of this.#pending.values()) reject(error);
    this.#pending.clear();
  }

  #onMessage(msg) {
    const entry = this.#pending.get(msg.id);
    if (!entry) return;
    if (msg.type === 'progress') {
      const { id, type, ...progress } = msg;
      entry.onProgress?.(progress);
      return;
    }
    this.#pending.delete(msg.id);
    if (msg.ok) entry.resolve(msg.result);
    else entry.reject(new Error(msg.error));
  }

  _request(type, args = {}, onProgress) {
    if (this.#broken) return Promise.reject(this.#broken);
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, onProgress });
      this.#worker.postMessage({ id, type, ...args });
    });
  }

  /**
   * Sentence embeddings, one per text, in order.
   * @param {string[]} texts
   * @returns {Promise<{ ids: number[], embedding: Float32Array }[]>}
   */
  embed(texts) {
    if (!Array.isArray(texts)) return Promise.reject(new TypeError('embed() takes an array of strings'));
    return this._request('embed', { texts });
  }

  /** Stops the worker and frees the model. Pending calls reject. */
  dispose() {
    this.#fail(new Error('the ranker was disposed'));
    this.#worker.terminate();
  }
}

/**
 * Loads a model in a Web Worker and resolves once it is ready.
 * @param {{ model: string, backend?: 'auto'|'webgpu'|'cpu', onProgress?: (p: Progress) => void,
 *           workerUrl?: string|URL }} options
 *   model: URL of a Hugging Face model folder (config.json, tokenizer.json, model.safetensors, …).
 *   backend: 'auto' (default) uses WebGPU when the browser offers an adapter, else the CPU.
 * @returns {Promise<Ranker>}
 */
export async function createRanker({ model, backend = 'auto', onProgress, workerUrl } = {}) {
  if (typeof model !== 'string' && !(model instanceof URL)) {
    throw new TypeError('createRanker({ model }) needs the URL of a model folder');
  }
  const modelUrl = new URL(String(model), globalThis.location?.href).href;
  const worker = new Worker(workerUrl ?? new URL('./worker.js', import.meta.url), { type: 'module' });
  const ranker = new Ranker(worker);
  try {
    const info = await ranker._request('init', { model: modelUrl, backend }, onProgress);
    ranker.backend = info.backend;
    ranker.dim = info.dim;
    return ranker;
  } catch (e) {
    ranker.dispose();
    throw e;
  }
}
