//! One error type for everything that can go wrong between a model folder and an embedding.
//!
//! Every variant names the file (as the user knows it, e.g. `config.json`) and says what is wrong in
//! words a web developer can act on; the wasm crate forwards `to_string()` as the rejected promise's
//! message.

/// Errors from loading a model or running it.
#[derive(Debug, thiserror::Error)]
pub enum PalateError {
    /// A file the model needs is not there.
    #[error("{file}: missing ({detail})")]
    MissingFile { file: String, detail: String },

    /// A file exists but could not be read.
    #[error("{file}: cannot read: {detail}")]
    Io { file: String, detail: String },

    /// A JSON file does not parse, or lacks a key.
    #[error("{file}: invalid JSON: {detail}")]
    InvalidJson { file: String, detail: String },

    /// The config parses but describes something impossible or unsupported.
    #[error("{file}: {detail}")]
    InvalidConfig { file: String, detail: String },

    /// The weights file is not valid safetensors, or does not match the config.
    #[error("{file}: {detail}")]
    InvalidWeights { file: String, detail: String },

    /// tokenizer.json does not load.
    #[error("{file}: invalid tokenizer: {detail}")]
    InvalidTokenizer { file: String, detail: String },

    /// Tokenizing an input failed.
    #[error("tokenization failed: {0}")]
    Tokenize(String),

    /// The caller's input is not usable (e.g. an unknown backend name).
    #[error("invalid input: {0}")]
    InvalidInput(String),

    /// The compute backend failed (no adapter, device lost, failed read-back).
    #[error("backend error: {0}")]
    Backend(String),
}

/// Result alias used across Palate.
pub type Result<T, E = PalateError> = std::result::Result<T, E>;
