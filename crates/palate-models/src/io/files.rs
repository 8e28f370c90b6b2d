//! The bytes of a Hugging Face model folder, however they arrived (disk natively, `fetch` in the
//! browser). Everything downstream reads from [`ModelFiles`], so native and browser share one path.

use crate::error::{PalateError, Result};

/// File names inside a Hugging Face / sentence-transformers folder.
pub mod names {
    pub const CONFIG: &str = "config.json";
    pub const TOKENIZER: &str = "tokenizer.json";
    pub const WEIGHTS: &str = "model.safetensors";
    pub const SENTENCE_BERT_CONFIG: &str = "sentence_bert_config.json";
    pub const MODULES: &str = "modules.json";
    pub const POOLING_CONFIG: &str = "1_Pooling/config.json";
    /// Palate's taste file beside the model (principle heads, taste basis; `palate train-basis`).
    pub const TASTE: &str = "palate-taste.json";
}

/// The files a sentence-embedding model is made of. Optional files fall back to
/// sentence-transformers' defaults when absent.
#[derive(Clone, Debug, Default)]
pub struct ModelFiles {
    pub config: Vec<u8>,
    pub tokenizer: Vec<u8>,
    pub weights: Vec<u8>,
    pub sentence_bert_config: Option<Vec<u8>>,
    pub modules: Option<Vec<u8>>,
    pub pooling_config: Option<Vec<u8>>,
}

impl ModelFiles {
    /// Reads a model folder from disk. Required files missing → [`PalateError::MissingFile`] naming
    /// the full path.
    #[cfg(not(target_family = "wasm"))]
    pub fn from_dir(dir: impl AsRef<std::path::Path>) -> Result<Self> {
        let dir = dir.as_ref();
        if !dir.is_dir() {
            return Err(PalateError::MissingFile {
                file: dir.display().to_string(),
                detail: "not a directory; pass a Hugging Face model folder (run scripts/fetch-model.sh for the default one)".into(),
            });
        }
        let required = |name: &str| -> Result<Vec<u8>> {
            let path = dir.join(name);
            std::fs::read(&path).map_err(|e| io_error(&path, e))
        };
        let optional = |name: &str| -> Result<Option<Vec<u8>>> {
            let path = dir.join(name);
            match std::fs::read(&path) {
                Ok(bytes) => Ok(Some(bytes)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(io_error(&path, e)),
            }
        };
        Ok(Self {
            config: required(names::CONFIG)?,
            tokenizer: required(names::TOKENIZER)?,
            weights: required(names::WEIGHTS)?,
            sentence_bert_config: optional(names::SENTENCE_BERT_CONFIG)?,
            modules: optional(names::MODULES)?,
            pooling_config: optional(names::POOLING_CONFIG)?,
        })
    }
}

impl ModelFiles {
    /// Fingerprint of the model: sha256 (hex) of config.json and the weights. Taste files and
    /// profiles record it, so features made with one model are never read with another.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update((self.config.len() as u64).to_le_bytes());
        h.update(&self.config);
        h.update(&self.weights);
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

#[cfg(not(target_family = "wasm"))]
fn io_error(path: &std::path::Path, e: std::io::Error) -> PalateError {
    let file = path.display().to_string();
    if e.kind() == std::io::ErrorKind::NotFound {
        PalateError::MissingFile { file, detail: "no such file".into() }
    } else {
        PalateError::Io { file, detail: e.to_string() }
    }
}

/// Parses a JSON file, naming it in the error.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(file: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| PalateError::InvalidJson {
        file: file.to_string(),
        detail: e.to_string(),
    })
}
