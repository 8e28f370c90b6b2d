//! Helpers shared by the integration tests: where the model and fixtures are.

use std::path::PathBuf;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The default model folder (`PALATE_MODEL_DIR` overrides). Panics with the fix when absent: a
/// test that needs the real model must not pass without it.
pub fn minilm_dir() -> PathBuf {
    let dir = std::env::var_os("PALATE_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("models/all-MiniLM-L6-v2"));
    assert!(
        dir.join("model.safetensors").is_file(),
        "{} has no model.safetensors: run scripts/fetch-model.sh first",
        dir.display()
    );
    dir
}

/// Golden outputs from an independent implementation (scripts/make_fixture.py).
#[derive(serde::Deserialize)]
pub struct EmbeddingFixture {
    pub max_seq_length: usize,
    pub texts: Vec<String>,
    pub ids: Vec<Vec<u32>>,
    pub embeddings: Vec<Vec<f64>>,
}

pub fn minilm_fixture() -> EmbeddingFixture {
    let path = root().join("tests/fixtures/minilm.json");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
