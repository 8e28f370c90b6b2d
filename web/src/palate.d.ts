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
  /** Where worker.js is served, if not beside palate.js. */
  workerUrl?: string | URL;
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

export interface Ranker {
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
  embed(texts: string[]): Promise<Embedding[]>;
  /** Reward-model scores, one per response (needs the rewardModel option). */
  score(prompt: string, responses: string[]): Promise<number[]>;
  /** Per-token log-probabilities under a `.gguf` causal LM: `logprobs[i]` = log p(ids[i + 1] | ids[..i + 1]). */
  logprobs(texts: string[]): Promise<{ ids: number[]; logprobs: number[] }[]>;
  /** The replies (1 to 64) ranked for this user, best first. */
  rerank(prompt: string, replies: string[], options?: { conservative?: number }): Promise<RankedReply[]>;
  /** The most informative pair to ask about next (never a pair asked before). */
  nextQuestion(prompt: string, replies: string[]): Promise<Question>;
  /** Records an answer; the profile is saved on this device. */
  answer(questionId: number, answer: 'a' | 'b' | 'tie' | 'skip'): Promise<TasteSummary>;
  /** The user's current weights and their uncertainty. */
  taste(): Promise<TasteSummary>;
  readonly profile: {
    /** The profile as JSON (schema: crates/palate-personal/src/profile.rs). */
    export(): Promise<string>;
    /** Replaces the profile; a foreign or damaged one is refused and nothing changes. */
    import(json: string): Promise<TasteSummary>;
    /** Forgets every answer. */
    forget(): Promise<TasteSummary>;
  };
  /** The worker's WebAssembly memory in bytes (its peak so far, since wasm memory only grows), and
   *  which wasm build it loaded: 'webgpu' (web/pkg) or the CPU-only 'cpu' (web/pkg-cpu). */
  stats(): Promise<{ wasmMemoryBytes: number; build: 'webgpu' | 'cpu' }>;
  /** Stops the worker and frees the model; pending calls reject. */
  dispose(): void;
}

/** Loads a model in a Web Worker; rejects with a readable message when a file is missing or broken. */
export function createRanker(options: RankerOptions): Promise<Ranker>;
