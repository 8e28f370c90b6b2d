/** Download / start-up progress reported by {@link createRanker}. */
export interface Progress {
  /** 'wasm': compiling the module; 'download': model bytes; 'load': building the model. */
  phase: 'wasm' | 'download' | 'load';
  /** For 'download': the file the last bytes belonged to. */
  file?: string;
  /** Bytes received so far over all files (0 when unknown). */
  loaded: number;
  /** Total bytes announced by the server over all files (0 when unknown). */
  total: number;
}

export interface Embedding {
  /** Token ids after truncation, special tokens included. */
  ids: number[];
  /** The sentence embedding (L2-normalised for all-MiniLM-L6-v2). */
  embedding: Float32Array;
}

export interface RankerOptions {
  /** URL of a Hugging Face model folder (config.json, tokenizer.json, model.safetensors, …). */
  model: string | URL;
  /** 'auto' (default): WebGPU when the browser offers an adapter, else the CPU. */
  backend?: 'auto' | 'webgpu' | 'cpu';
  onProgress?: (progress: Progress) => void;
  /** Where worker.js is served, if not beside palate.js. */
  workerUrl?: string | URL;
}

export interface Ranker {
  /** The backend actually in use. */
  readonly backend: 'webgpu' | 'cpu';
  /** Embedding width. */
  readonly dim: number;
  /** Sentence embeddings, one per text, in order. */
  embed(texts: string[]): Promise<Embedding[]>;
  /** Stops the worker and frees the model; pending calls reject. */
  dispose(): void;
}

/** Loads a model in a Web Worker; rejects with a readable message when a file is missing or broken. */
export function createRanker(options: RankerOptions): Promise<Ranker>;
