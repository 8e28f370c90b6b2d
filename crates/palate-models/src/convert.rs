//! The top layer: `palate convert`, a Hugging Face folder → a `.bpk` ([`crate::io::pack`]). It is
//! the one place that knows every model kind, so the file formats below it need not.

use crate::error::{PalateError, Result};
use crate::io::files::{ModelFiles, names};
use crate::io::pack::{PackKind, StoredPrecision};
use crate::models::decoder::DecoderWeights;
use crate::pipelines::reward::{RewardFiles, RewardModel};

/// `palate convert`: loads the Hugging Face folder `dir` on the CPU — a sentence-transformers BERT
/// encoder (config `model_type` "bert") or a decoder reward model (any other) — and returns its
/// `.bpk` bytes at `precision`. The encoder's `palate-taste.json`, when present, is carried too.
pub fn convert_dir(dir: impl AsRef<std::path::Path>, precision: StoredPrecision) -> Result<(PackKind, Vec<u8>)> {
    let dir = dir.as_ref();
    let device = crate::device::cpu_device();
    let config_path = dir.join(names::CONFIG);
    let config = std::fs::read(&config_path).map_err(|e| PalateError::MissingFile {
        file: config_path.display().to_string(),
        detail: format!("{e}; pass a Hugging Face model folder"),
    })?;
    let model_type: Option<String> = serde_json::from_slice::<serde_json::Value>(&config)
        .map_err(|e| PalateError::InvalidJson { file: config_path.display().to_string(), detail: e.to_string() })?
        .get("model_type")
        .and_then(|v| v.as_str().map(str::to_string));
    if model_type.as_deref() == Some("bert") {
        let files = ModelFiles::from_dir(dir)?;
        let taste = match std::fs::read(dir.join(names::TASTE)) {
            Ok(bytes) => Some(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(PalateError::Io { file: dir.join(names::TASTE).display().to_string(), detail: e.to_string() }),
        };
        let embedder = crate::SentenceEmbedder::load(files.clone(), &device)?;
        let bytes = embedder.to_pack(&files, precision, taste.as_deref())?;
        Ok((PackKind::SentenceEmbedder, bytes))
    } else {
        let files = RewardFiles::from_dir(dir)?;
        let text = RewardFiles {
            config: files.config.clone(),
            tokenizer: files.tokenizer.clone(),
            tokenizer_config: files.tokenizer_config.clone(),
            chat_template: files.chat_template.clone(),
            weights: DecoderWeights::Single(Vec::new()),
        };
        let model = RewardModel::load(files, &device)?;
        Ok((PackKind::RewardModel, model.to_pack(&text, precision)?))
    }
}
