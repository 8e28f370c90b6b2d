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
/** @typedef {{ signal?: AbortSignal }} CallOptions */

/** The stable codes of {@link PalateError}: what went wrong, for code to branch on. */
export const ERROR_CODES = Object.freeze([
  'model-missing', // a model file (or Palate's wasm) cannot be fetched: 404, network down
  'model-invalid', // a model file is there but cannot be used: corrupt, foreign, wrong shapes
  'no-webgpu', // backend 'webgpu' was asked for and the browser offers no adapter
  'aborted', // the call's AbortSignal fired, or the ranker was disposed
  'profile-corrupt', // profile.import() was given a foreign or damaged profile; nothing changed
  'input-invalid', // a call's arguments are wrong (not strings, too many replies, unknown option)
  'worker-crashed', // the worker died, or the wasm trapped and the restart failed
]);

/** Every error Palate's API rejects with: a readable `message` and a stable `code` (ERROR_CODES). */
export class PalateError extends Error {
  /**
   * @param {string} code  one of ERROR_CODES
   * @param {string} message
   * @param {{ cause?: unknown }} [options]
   */
  constructor(code, message, options) {
    super(message, options);
    this.name = 'PalateError';
    /** @type {string} */
    this.code = code;
  }
}

const invalid = (message) => new PalateError('input-invalid', message);

function replyList(replies, fn) {
  if (!Array.isArray(replies) || replies.some((r) => typeof r !== 'string')) {
    return invalid(`${fn}() takes the replies as an array of strings`);
  }
  return null;
}

function abortError(signal) {
  const reason = signal?.reason;
  const why = reason instanceof Error ? reason.message : reason === undefined ? 'aborted' : String(reason);
  return new PalateError('aborted', `the call was aborted (${why})`, { cause: reason });
}

/**
 * A loaded model and this user's taste, in a Web Worker. Created by {@link createRanker}.
 * Events: 'restart' (a CustomEvent, detail `{ reason }`) after the wasm trapped and a fresh worker
 * took over with the same model (from Cache Storage) and the stored profile.
 */
class Ranker extends EventTarget {
  #spawn;
  #init;
  #worker = null;
  #pending = new Map();
  #nextId = 1;
  #broken = null;
  #restarting = null;
  /** @type {'webgpu'|'cpu'} */ backend;
  /** @type {number} */ dim;
  /** @type {string} sha256 of the model's config and weights */ fingerprint;
  /** @type {string} IndexedDB key of this model's and principles' profile */ profileKey;
  /** @type {{ state: 'new'|'restored'|'unreadable'|'unavailable'|'none', message?: string, keptAs?: string }} */ profileStatus;
  /** @type {number} bytes read from Cache Storage instead of the network */ fromCache;
  /** @type {boolean} */ rewardEmbeddingsOnCpu;

  /** @param {() => Worker} spawn  starts a worker (again, after a trap) */
  constructor(spawn) {
    super();
    this.#spawn = spawn;
    this.#attach(spawn());
  }

  #attach(worker) {
    this.#worker = worker;
    worker.onmessage = (event) => this.#onMessage(event.data);
    // A worker that dies (out of memory, failed import) must not leave promises hanging.
    worker.onerror = (event) => {
      event.preventDefault?.();
      this.#fail(new PalateError('worker-crashed', `Palate's worker failed: ${event.message || 'unknown error (see the console)'}`));
    };
    worker.onmessageerror = () => this.#fail(new PalateError('worker-crashed', "Palate's worker sent an unreadable message"));
  }

  /** Rejects every pending call; later calls reject with the same error. */
  #fail(error) {
    this.#broken = error;
    this.#rejectAll(error);
    this.#worker?.terminate();
  }

  #rejectAll(error) {
    const entries = [...this.#pending.values()];
    this.#pending.clear();
    for (const entry of entries) entry.reject(error);
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
    if (msg.ok) {
      entry.resolve(msg.result);
      return;
    }
    const error = new PalateError(msg.code ?? 'input-invalid', msg.error);
    entry.reject(error);
    // Once per trap: a restart whose own load traps ends in #fail (see #restart).
    if (msg.code === 'worker-crashed' && this.#init && !this.#restarting) this.#restart(error);
  }

  /**
   * The wasm trapped (a Rust panic): the worker's module is unusable. Every pending call rejects
   * with 'worker-crashed'; a fresh worker loads the same model (Cache Storage: no download) and
   * restores the profile from IndexedDB, which a trap never touches; calls made meanwhile wait.
   */
  #restart(cause) {
    this.#rejectAll(new PalateError('worker-crashed', `Palate's worker stopped (${cause.message}); it is being restarted`));
    this.#worker.terminate();
    this.#attach(this.#spawn());
    this.#restarting = this.#post('init', this.#init).then(
      () => {
        this.#restarting = null;
        this.dispatchEvent(new CustomEvent('restart', { detail: { reason: cause.message } }));
      },
      (e) => {
        this.#restarting = null;
        this.#fail(new PalateError('worker-crashed', `Palate's worker stopped (${cause.message}) and could not be restarted: ${e.message}`));
      },
    );
  }

  /** First load; kept so that a trapped worker can be replaced by an identical one. */
  async _init(args, options) {
    const info = await this._request('init', args, options);
    this.#init = args;
    return info;
  }

  #post(type, args = {}, { signal, onProgress } = {}) {
    if (this.#broken) return Promise.reject(this.#broken);
    if (signal?.aborted) return Promise.reject(abortError(signal));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        if (!this.#pending.delete(id)) return;
        // The worker drops the call if it has not started it; a started one runs to its end and
        // its result is discarded.
        this.#worker.postMessage({ id: 0, type: 'cancel', target: id });
        reject(abortError(signal));
      };
      const settle = (fn) => (value) => { signal?.removeEventListener('abort', onAbort); fn(value); };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#pending.set(id, { resolve: settle(resolve), reject: settle(reject), onProgress });
      this.#worker.postMessage({ id, type, ...args });
    });
  }

  /** Sends a request to the worker (after a restart in progress, if any). */
  async _request(type, args = {}, options = {}) {
    if (this.#restarting) await this.#restarting;
    return this.#post(type, args, options);
  }

  /**
   * Sentence embeddings, one per text, in order.
   * @param {string[]} texts
   * @param {CallOptions} [options]
   * @returns {Promise<{ ids: number[], embedding: Float32Array }[]>}
   */
  embed(texts, { signal } = {}) {
    if (!Array.isArray(texts) || texts.some((t) => typeof t !== 'string')) {
      return Promise.reject(invalid('embed() takes an array of strings'));
    }
    return this._request('embed', { texts }, { signal });
  }

  /**
   * Reward-model scores, one per response, in order (needs createRanker({ rewardModel })).
   * @param {string} prompt
   * @param {string[]} responses
   * @param {CallOptions} [options]
   * @returns {Promise<number[]>}
   */
  score(prompt, responses, { signal } = {}) {
    const bad = replyList(responses, 'score');
    if (bad) return Promise.reject(bad);
    if (typeof prompt !== 'string') return Promise.reject(invalid('score() takes the prompt as a string'));
    return this._request('score', { prompt, responses }, { signal });
  }

  /**
   * Per-token log-probabilities under a causal LM (needs createRanker({ rewardModel: '….gguf' })):
   * for each text, its ids (with the tokenizer's default special tokens) and
   * `logprobs[i]` = log p(ids[i + 1] | ids[..i + 1]).
   * @param {string[]} texts
   * @param {CallOptions} [options]
   * @returns {Promise<{ ids: number[], logprobs: number[] }[]>}
   */
  logprobs(texts, { signal } = {}) {
    if (!Array.isArray(texts) || texts.some((t) => typeof t !== 'string')) {
      return Promise.reject(invalid('logprobs() takes an array of strings'));
    }
    return this._request('logprobs', { texts }, { signal });
  }

  /**
   * The replies ranked for this user, best first, each with its explanation.
   * @param {string} prompt  the user's message (kept for reward models; the taste features read the replies)
   * @param {string[]} replies  1 to 64 candidate replies
   * @param {{ conservative?: number, signal?: AbortSignal }} [options]  conservative: rank by
   *   reward − conservative·uncertainty (best-of-N safety)
   * @returns {Promise<{ index: number, reward: number, uncertainty: number, explanation: string,
   *   contributions: { group: string, label: string, value: number }[] }[]>}
   */
  rerank(prompt, replies, { conservative, signal } = {}) {
    const bad = replyList(replies, 'rerank');
    if (bad) return Promise.reject(bad);
    return this._request('rerank', { prompt: String(prompt ?? ''), replies, conservative }, { signal });
  }

  /**
   * The pair of replies whose answer would teach Palate most about this user (never one asked before).
   * @param {string} prompt
   * @param {string[]} replies
   * @param {CallOptions} [options]
   * @returns {Promise<{ id: number, a: number, b: number, gain: number }>}  a, b: indices into replies
   */
  nextQuestion(prompt, replies, { signal } = {}) {
    const bad = replyList(replies, 'nextQuestion');
    if (bad) return Promise.reject(bad);
    return this._request('nextQuestion', { prompt: String(prompt ?? ''), replies }, { signal });
  }

  /**
   * Records the user's answer to a question from nextQuestion(); the profile is saved on this device.
   * @param {number} questionId
   * @param {'a'|'b'|'tie'|'skip'} answer
   * @param {CallOptions} [options]
   * @returns {Promise<TasteSummary>}
   */
  answer(questionId, answer, { signal } = {}) {
    if (!['a', 'b', 'tie', 'skip'].includes(answer)) {
      return Promise.reject(invalid(`answer must be 'a', 'b', 'tie' or 'skip', not ${JSON.stringify(answer)}`));
    }
    return this._request('answer', { questionId, answer }, { signal });
  }

  /**
   * @param {CallOptions} [options]
   * @returns {Promise<TasteSummary>} the user's current weights, for charts.
   */
  taste({ signal } = {}) {
    return this._request('summary', {}, { signal });
  }

  /** The user's profile: export to JSON, import from JSON (refused if foreign or damaged), forget. */
  get profile() {
    return {
      export: ({ signal } = {}) => this._request('exportProfile', {}, { signal }),
      import: (json, { signal } = {}) => (typeof json === 'string'
        ? this._request('importProfile', { json }, { signal })
        : Promise.reject(invalid('profile.import() takes the profile as a JSON string'))),
      forget: ({ signal } = {}) => this._request('forget', {}, { signal }),
    };
  }

  /**
   * @param {CallOptions} [options]
   * @returns {Promise<{ wasmMemoryBytes: number, build: 'webgpu'|'cpu' }>} the worker's WebAssembly
   *  memory (its peak: it only grows), and which wasm build it loaded: 'webgpu' (web/pkg) or the
   *  CPU-only 'cpu' (web/pkg-cpu, under half the download). */
  stats({ signal } = {}) {
    return this._request('stats', {}, { signal });
  }

  /** Stops the worker and frees the model. Pending and later calls reject with code 'aborted'. */
  dispose() {
    if (this.#broken?.code === 'aborted') return;
    this.#fail(new PalateError('aborted', 'the ranker was disposed'));
  }

  /** `using ranker = await createRanker(…)` disposes it at the end of the block. */
  [Symbol.dispose ?? Symbol.for('Symbol.dispose')]() {
    this.dispose();
  }

  /** Tests only: makes the wasm trap (a Rust panic), as a bug would, to exercise the restart. */
  _trapForTests() {
    return this._request('trapForTests');
  }
}

const BACKENDS = ['auto', 'webgpu', 'cpu'];

/**
 * Loads a model in a Web Worker and resolves once it is ready.
 * @param {{ model: string|URL, backend?: 'auto'|'webgpu'|'cpu', onProgress?: (p: Progress) => void,
 *           principles?: { name: string, goal: string, label?: string, baseline?: string }[],
 *           rewardModel?: string|URL, precision?: 'f32'|'q8'|'q4', maxBindingBytes?: number,
 *           threads?: boolean, signal?: AbortSignal, workerUrl?: string|URL,
 *           wasmUrl?: { webgpu?: string|URL, cpu?: string|URL, threads?: string|URL } }} options
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
 *   threads: on the CPU, whether to run on every core (the `cpu-threads` build: shared memory and a
 *     pool of workers). Default: yes where the page is cross-origin isolated (COOP + COEP headers),
 *     which shared memory needs; elsewhere the single-threaded build runs. `false` asks for that one.
 *   signal: aborting it stops the load (the worker is terminated) and rejects with code 'aborted'.
 *   workerUrl, wasmUrl: where worker.js and each build's .wasm are served, when not where a bundler
 *     (or this folder's layout) puts them: a CDN, or a bundler that does not follow
 *     `new URL(…, import.meta.url)` (esbuild).
 * @returns {Promise<Ranker>}  rejects with a {@link PalateError}
 */
export async function createRanker({
  model, backend = 'auto', principles, rewardModel, precision = 'f32', maxBindingBytes, onProgress, signal,
  workerUrl, wasmUrl, threads,
} = {}) {
  if (!['f32', 'q8', 'q4'].includes(precision)) {
    throw invalid(`createRanker({ precision }) is 'f32', 'q8' or 'q4', not ${JSON.stringify(precision)}`);
  }
  if (!BACKENDS.includes(backend)) {
    throw invalid(`unknown backend ${JSON.stringify(backend)} (expected "auto", "webgpu" or "cpu")`);
  }
  if (typeof model !== 'string' && !(model instanceof URL)) {
    throw invalid('createRanker({ model }) needs the URL of a model folder or .bpk file');
  }
  if (principles !== undefined && (!Array.isArray(principles)
      || principles.some((p) => typeof p?.name !== 'string' || typeof p?.goal !== 'string'))) {
    throw invalid('createRanker({ principles }) takes a list of { name, goal, label?, baseline? }');
  }
  if (wasmUrl !== undefined && (typeof wasmUrl !== 'object' || wasmUrl === null
      || Object.keys(wasmUrl).some((k) => !['webgpu', 'cpu', 'threads'].includes(k)))) {
    throw invalid('createRanker({ wasmUrl }) takes { webgpu?: URL, cpu?: URL, threads?: URL }');
  }
  if (threads !== undefined && typeof threads !== 'boolean') {
    throw invalid('createRanker({ threads }) is true or false');
  }
  if (signal?.aborted) throw abortError(signal);
  const absolute = (url) => (url === undefined ? undefined : new URL(String(url), globalThis.location?.href).href);
  // The literal `new Worker(new URL('./worker.js', import.meta.url), …)` is what bundlers look for.
  const spawn = workerUrl
    ? () => new Worker(workerUrl, { type: 'module' })
    : () => new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  const ranker = new Ranker(spawn);
  const onAbort = () => ranker.dispose();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const info = await ranker._init({
      model: absolute(model), backend, principles, rewardModel: absolute(rewardModel), precision, maxBindingBytes,
      wasmUrl: wasmUrl && { webgpu: absolute(wasmUrl.webgpu), cpu: absolute(wasmUrl.cpu), 'cpu-threads': absolute(wasmUrl.threads) },
      threads,
    }, { signal, onProgress });
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
    throw signal?.aborted ? abortError(signal) : e;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}
