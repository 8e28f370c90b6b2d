/** Download / start-up progress reported by {@link createRanker}. */
export interface Progress {
  /** 'wasm': downloading and compiling Palate's WebAssembly (loaded / total: its bytes); 'cache':
   *  model bytes read from Cache Storage; 'download': model bytes from the network; 'load':
   *  building the model. */
  phase: 'wasm' | 'cache' | 'download' | 'load';
  /** For 'download': the file the last bytes belonged to; for 'wasm': which build is downloading,
   *  'webgpu build' (web/pkg) or 'cpu build' (web/pkg-cpu). */
  file?: string;
  /** Bytes received so far over all files (0 when unknown). */
  loaded: number;
  /** Total bytes announced by the server over all files (0 when unknown, e.g. for a compressed
   *  response). */
  total: number;
}

/** The stable codes of {@link PalateError}. */
export type PalateErrorCode =
  /** A model file (or Palate's wasm) cannot be fetched: HTTP 404, network down. */
  | 'model-missing'
  /** A model file is there but cannot be used: corrupt, foreign, wrong shapes, sha256 mismatch. */
  | 'model-invalid'
  /** backend 'webgpu' was asked for and the browser offers no WebGPU adapter. */
  | 'no-webgpu'
  /** The call's AbortSignal fired, or the ranker was disposed. */
  | 'aborted'
  /** profile.import() was given a foreign or damaged profile; nothing changed. */
  | 'profile-corrupt'
  /** A call's arguments are wrong (not strings, too many replies, an unknown option, a call the
   *  loaded model cannot answer). */
  | 'input-invalid'
  /** The worker died, or the wasm trapped and no fresh worker could take over. */
  | 'worker-crashed';

/** Every code, in the order above. */
export const ERROR_CODES: readonly PalateErrorCode[];

/** What every promise of this API rejects with: a readable message and a stable code. */
export class PalateError extends Error {
  constructor(code: PalateErrorCode, message: string, options?: { cause?: unknown });
  readonly name: 'PalateError';
  readonly code: PalateErrorCode;
}

/** Options every call accepts. */
export interface CallOptions {
  /** Aborting rejects the call at once with code 'aborted'; the worker drops it if it has not
   *  started (a started call runs to its end and its result is discarded). */
  signal?: AbortSignal;
}

export interface Embedding {
  /** Token ids after truncation, special tokens included. */
  ids: number[];
  /** The sentence embedding (L2-normalised for all-MiniLM-L6-v2). */
  embedding: Float32Array;
}

export interface RankerOptions {
  /** URL of a Hugging Face model folder (config.json, tokenizer.json, model.safetensors, …), or of
   *  one `.bpk` file written by `palate convert` (weights f32/f16/q8/q4, config, tokenizer and
   *  taste file inside). */
  model: string | URL;
  /** 'auto' (default): WebGPU when the browser offers an adapter, else the CPU. */
  backend?: 'auto' | 'webgpu' | 'cpu';
  onProgress?: (progress: Progress) => void;
  /** Your own principles instead of the taste file's: zero-shot heads from sentence embeddings
   *  (VLM-RM goal/baseline projection). Profiles are kept per set of principles. */
  principles?: { name: string; goal: string; label?: string; baseline?: string }[];
  /** URL of a Hugging Face reward-model folder (Qwen3ForSequenceClassification or
   *  LlamaForSequenceClassification: config.json, tokenizer.json, chat template, model.safetensors
   *  or shards with model.safetensors.index.json), or of its `.bpk` (`palate convert`), or a
   *  llama-architecture `.gguf` causal LM (its reward: follow-up likelihood), for score(). */
  rewardModel?: string | URL;
  /** Weight precision after loading: 'f32' (default), or weight-only 'q8' / 'q4' (block 32) for the
   *  linear layers of the encoder and the reward model. A q8 / q4 `.bpk` is already quantized
   *  and refuses another precision; a `.gguf` reward model keeps its own (its weights load as f32). */
  precision?: 'f32' | 'q8' | 'q4';
  /** Storage-binding limit to plan for (default: the WebGPU adapter's maxStorageBufferBindingSize).
   *  A reward model's token-embedding table larger than this is kept on the CPU. */
  maxBindingBytes?: number;
  /** Aborting stops the load (the worker is terminated); createRanker rejects with code 'aborted'. */
  signal?: AbortSignal;
  /** Where worker.js is served, when not where a bundler (or this package's layout) puts it. */
  workerUrl?: string | URL;
  /** Where each build's .wasm is served, when not found through `new URL(…, import.meta.url)`:
   *  a CDN, or esbuild (`import cpu from 'palate/wasm/cpu'` with the file loader). */
  wasmUrl?: { webgpu?: string | URL; cpu?: string | URL; threads?: string | URL };
  /** On the CPU, run on every core where the page is cross-origin isolated (default); `false`: one thread. */
  threads?: boolean;
}

export interface Contribution {
  /** 'shared' (the reward learned from human preferences), 'reward' (a reward model), a cue ('length', 'sentences', 'on-topic'), a principle's name (e.g. 'concise'), or 'taste' (the learned style basis). */
  group: string;
  /** Words for it: 'concise', 'warm and casual', 'your learned style'. */
  label: string;
  /** Reward contributed relative to the average reply. */
  value: number;
}

export interface RankedReply {
  /** Position of the reply in the input array. */
  index: number;
  /** Posterior mean of the personal reward. */
  reward: number;
  /** Posterior standard deviation, relative to the average reply. */
  uncertainty: number;
  /** "Ranked first mostly because it is more concise than the other replies; you picked …". */
  explanation: string;
  contributions: Contribution[];
}

export interface Question {
  id: number;
  /** Indices into the replies passed to nextQuestion(). */
  a: number;
  b: number;
  /** Expected information gain in nats. */
  gain: number;
}

export interface TasteSummary {
  /** Answers that carried information (skips excluded). */
  answers: number;
  weights: { name: string; label: string; mean: number; sd: number }[];
}

export interface ProfileStatus {
  /** 'restored' from this device, 'new', 'unreadable' (kept aside, see keptAs), 'unavailable'
   *  (no IndexedDB), 'none' (the model has no taste file). */
  state: 'new' | 'restored' | 'unreadable' | 'unavailable' | 'none';
  message?: string;
  keptAs?: string;
}

/** Events of a {@link Ranker}. */
export interface RankerEventMap {
  /** The wasm trapped (a bug); calls pending then rejected with 'worker-crashed', and a fresh worker
   *  has loaded the same model (from Cache Storage) and the profile stored on this device. */
  restart: CustomEvent<{ reason: string }>;
}

export interface Ranker extends EventTarget {
  /** The backend actually in use. */
  readonly backend: 'webgpu' | 'cpu';
  /** Embedding width. */
  readonly dim: number;
  /** sha256 of the model's config.json and weights. */
  readonly fingerprint: string;
  /** Whether the reward model's token-embedding table was kept on the CPU (over the binding limit). */
  readonly rewardEmbeddingsOnCpu: boolean;
  /** IndexedDB key of the profile: model fingerprint and feature-spec fingerprint. */
  readonly profileKey: string;
  /** What happened to the profile stored on this device at start-up. */
  readonly profileStatus: ProfileStatus;
  /** Bytes of model files read from Cache Storage (0 on a first visit). */
  readonly fromCache: number;
  /** Sentence embeddings, one per text, in order. */
  embed(texts: string[], options?: CallOptions): Promise<Embedding[]>;
  /** Reward-model scores, one per response (needs the rewardModel option). */
  score(prompt: string, responses: string[], options?: CallOptions): Promise<number[]>;
  /** Per-token log-probabilities under a `.gguf` causal LM: `logprobs[i]` = log p(ids[i + 1] | ids[..i + 1]). */
  logprobs(texts: string[], options?: CallOptions): Promise<{ ids: number[]; logprobs: number[] }[]>;
  /** The replies (1 to 64) ranked for this user, best first. */
  /** `conservative`: rank by reward − conservative·uncertainty (best-of-N safety). */
  rerank(prompt: string, replies: string[], options?: CallOptions & { conservative?: number }): Promise<RankedReply[]>;
  /** The most informative pair to ask about next (never a pair asked before). */
  nextQuestion(prompt: string, replies: string[], options?: CallOptions): Promise<Question>;
  /** Records an answer; the profile is saved on this device. */
  answer(questionId: number, answer: 'a' | 'b' | 'tie' | 'skip', options?: CallOptions): Promise<TasteSummary>;
  /** The user's current weights and their uncertainty. */
  taste(options?: CallOptions): Promise<TasteSummary>;
  readonly profile: {
    /** The profile as JSON (schema: crates/palate-personal/src/profile.rs). */
    export(options?: CallOptions): Promise<string>;
    /** Replaces the profile; a foreign or damaged one is refused and nothing changes. */
    import(json: string, options?: CallOptions): Promise<TasteSummary>;
    /** Forgets every answer. */
    forget(options?: CallOptions): Promise<TasteSummary>;
  };
  /** The worker's WebAssembly memory in bytes (its peak so far, since wasm memory only grows),
   *  which wasm build it loaded: 'webgpu' (web/pkg), the CPU-only 'cpu' (web/pkg-cpu) or
   *  'cpu-threads' (web/pkg-threads, cross-origin-isolated pages), and the threads its CPU work runs on. */
  stats(options?: CallOptions): Promise<{ wasmMemoryBytes: number; build: 'webgpu' | 'cpu' | 'cpu-threads'; threads: number }>;
  /** Stops the worker and frees the model; pending and later calls reject with code 'aborted'. */
  dispose(): void;
  /** `using ranker = await createRanker(…)` disposes it at the end of the block. */
  [Symbol.dispose](): void;
  addEventListener<K extends keyof RankerEventMap>(type: K, listener: (this: Ranker, event: RankerEventMap[K]) => unknown, options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void;
  removeEventListener<K extends keyof RankerEventMap>(type: K, listener: (this: Ranker, event: RankerEventMap[K]) => unknown, options?: boolean | EventListenerOptions): void;
  removeEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | EventListenerOptions): void;
}

/** Loads a model in a Web Worker; rejects with a {@link PalateError} (readable message, stable code)
 *  when a file is missing or broken. */
export function createRanker(options: RankerOptions): Promise<Ranker>;
