// Palate's JavaScript API. Everything heavy runs in a Web Worker (worker.js) that owns the wasm.
//
//   import { createRanker } from './src/palate.js';
//   const r = await createRanker({ model: '/models/all-MiniLM-L6-v2/', backend: 'auto',
//                                  onProgress: (p) => console.log(p.phase, p.loaded, p.total) });
//   r.backend;                        // 'webgpu' or 'cpu'
//   const ranked = await r.rerank(prompt, replies);          // [{ index, reward, uncertainty, explanation, contributions }]
//   const q = await r.nextQuestion(prompt, replies);         // { id, a, b, gain }: ask "reply a or reply b?"
//   await r.answer(q.id, 'a');                               // 'a' | 'b' | 'tie' | 'skip'; saved on this device
//   const json = await r.profile.export(); await r.profile.import(json); await r.profile.forget();
//   r.dispose();

/** @typedef {{ answers: number, weights: { name: string, label: string, mean: number, sd: number }[] }} TasteSummary */
/** @typedef {{ phase: 'wasm'|'cache'|'download'|'load', file?: string, loaded: number, total: number }} Progress */

function replyList(replies, fn) {
  if (!Array.isArray(replies) || replies.some((r) => typeof r !== 'string')) {
    return new TypeError(`${fn}() takes the replies as an array of strings`);
  }
  return null;
}

class Ranker {
  #worker;
  #pending = new Map();
  #nextId = 1;
  #broken = null;
  /** @type {'webgpu'|'cpu'} */ backend;
  /** @type {number} */ dim;
  /** @type {string} sha256 of the model's config and weights */ fingerprint;
  /** @type {string} IndexedDB key of this model's and principles' profile */ profileKey;
  /** @type {{ state: 'new'|'restored'|'unreadable'|'unavailable'|'none', message?: string, keptAs?: string }} */ profileStatus;
  /** @type {number} bytes read from Cache Storage instead of the network */ fromCache;

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

  /**
   * Reward-model scores, one per response, in order (needs createRanker({ rewardModel })).
   * @param {string} prompt
   * @param {string[]} responses
   * @returns {Promise<number[]>}
   */
  score(prompt, responses) {
    const bad = replyList(responses, 'score');
    if (bad) return Promise.reject(bad);
    return this._request('score', { prompt, responses });
  }

  /**
   * Per-token log-probabilities under a causal LM (needs createRanker({ rewardModel: '….gguf' })):
   * for each text, its ids (with the tokenizer's default special tokens) and
   * `logprobs[i]` = log p(ids[i + 1] | ids[..i + 1]).
   * @param {string[]} texts
   * @returns {Promise<{ ids: number[], logprobs: number[] }[]>}
   */
  logprobs(texts) {
    if (!Array.isArray(texts)) return Promise.reject(new TypeError('logprobs() takes an array of strings'));
    return this._request('logprobs', { texts });
  }

  /**
   * The replies ranked for this user, best first, each with its explanation.
   * @param {string} prompt  the user's message (kept for reward models; the taste features read the replies)
   * @param {string[]} replies  1 to 64 candidate replies
   * @param {{ conservative?: number }} [options]  rank by reward − conservative·uncertainty (best-of-N safety)
   * @returns {Promise<{ index: number, reward: number, uncertainty: number, explanation: string,
   *   contributions: { group: string, label: string, value: number }[] }[]>}
   */
  rerank(prompt, replies, { conservative } = {}) {
    const bad = replyList(replies, 'rerank');
    if (bad) return Promise.reject(bad);
    return this._request('rerank', { prompt: String(prompt ?? ''), replies, conservative });
  }

  /**
   * The pair of replies whose answer would teach Palate most about this user (never one asked before).
   * @returns {Promise<{ id: number, a: number, b: number, gain: number }>}  a, b: indices into replies
   */
  nextQuestion(prompt, replies) {
    const bad = replyList(replies, 'nextQuestion');
    if (bad) return Promise.reject(bad);
    return this._request('nextQuestion', { prompt: String(prompt ?? ''), replies });
  }

  /**
   * Records the user's answer to a question from nextQuestion(); the profile is saved on this device.
   * @param {number} questionId
   * @param {'a'|'b'|'tie'|'skip'} answer
   * @returns {Promise<TasteSummary>}
   */
  answer(questionId, answer) {
    return this._request('answer', { questionId, answer });
  }

  /** @returns {Promise<TasteSummary>} the user's current weights, for charts. */
  taste() {
    return this._request('summary');
  }

  /** The user's profile: export to JSON, import from JSON (refused if foreign or damaged), forget. */
  get profile() {
    return {
      export: () => this._request('exportProfile'),
      import: (json) => this._request('importProfile', { json }),
      forget: () => this._request('forget'),
    };
  }

  /** @returns {Promise<{ wasmMemoryBytes: number, build: 'webgpu'|'cpu' }>} the worker's WebAssembly
   *  memory (its peak: it only grows), and which wasm build it loaded: 'webgpu' (web/pkg) or the
   *  CPU-only 'cpu' (web/pkg-cpu, under half the download). */
  stats() {
    return this._request('stats');
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
 *           principles?: { name: string, goal: string, label?: string, baseline?: string }[],
 *           workerUrl?: string|URL }} options
 *   model: URL of a Hugging Face model folder (config.json, tokenizer.json, model.safetensors, …),
 *     or of one `.bpk` file from `palate convert`.
 *   backend: 'auto' (default) uses WebGPU when the browser offers an adapter, else the CPU.
 *   rewardModel: URL of a Qwen3/Llama sequence-classification reward-model folder (or its
 *     `.bpk`), or a llama-architecture `.gguf` (a causal LM scored by follow-up likelihood), for score().
 *   precision: 'f32' (default), or 'q8' / 'q4': quantization (blocks of 32) of the linear layers
 *     of both models after loading — less memory, a little less accuracy. On the CPU an
 *     embedding model's q8 multiplies in integers, faster than f32; elsewhere it is weight-only.
 *   maxBindingBytes: pretend the GPU allows at most this many bytes per storage binding (default:
 *     the adapter's maxStorageBufferBindingSize); larger token-embedding tables stay on the CPU.
 *   principles: your own principle heads instead of the taste file's (e.g. { name: 'playful',
 *     goal: 'A playful reply with jokes.' }); profiles are kept per set of principles.
 * @returns {Promise<Ranker>}
 */
export async function createRanker({ model, backend = 'auto', principles, rewardModel, precision = 'f32', maxBindingBytes, onProgress, workerUrl } = {}) {
  if (!['f32', 'q8', 'q4'].includes(precision)) {
    throw new TypeError(`createRanker({ precision }) is 'f32', 'q8' or 'q4', not ${JSON.stringify(precision)}`);
  }
  if (typeof model !== 'string' && !(model instanceof URL)) {
    throw new TypeError('createRanker({ model }) needs the URL of a model folder or .bpk file');
  }
  if (principles !== undefined && (!Array.isArray(principles)
      || principles.some((p) => typeof p?.name !== 'string' || typeof p?.goal !== 'string'))) {
    throw new TypeError('createRanker({ principles }) takes a list of { name, goal, label?, baseline? }');
  }
  const modelUrl = new URL(String(model), globalThis.location?.href).href;
  const worker = new Worker(workerUrl ?? new URL('./worker.js', import.meta.url), { type: 'module' });
  const ranker = new Ranker(worker);
  try {
    const rewardUrl = rewardModel === undefined ? undefined : new URL(String(rewardModel), globalThis.location?.href).href;
    const info = await ranker._request('init', { model: modelUrl, backend, principles, rewardModel: rewardUrl, precision, maxBindingBytes }, onProgress);
    ranker.backend = info.backend;
    ranker.dim = info.dim;
    ranker.fingerprint = info.fingerprint;
    ranker.profileKey = info.profileKey;
    ranker.rewardEmbeddingsOnCpu = info.rewardEmbeddingsOnCpu;
    ranker.profileStatus = info.profile;
    ranker.fromCache = info.fromCache;
    return ranker;
  } catch (e) {
    ranker.dispose();
    throw e;
  }
}
