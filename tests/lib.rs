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

/// The wgpu device where an adapter exists (on CI: Mesa's lavapipe), `None` (with a note) where
/// none does; with `PALATE_REQUIRE_WGPU=1` a missing adapter fails the test instead.
pub fn wgpu_device_or_skip() -> Option<palate_models::burn::tensor::Device> {
    match std::panic::catch_unwind(|| pollster::block_on(palate_models::device::wgpu_device())) {
        Ok(Ok(device)) => Some(device),
        outcome => {
            let why = match outcome {
                Ok(Err(e)) => e.to_string(),
                _ => "wgpu panicked while looking for an adapter".to_string(),
            };
            assert!(std::env::var("PALATE_REQUIRE_WGPU").as_deref() != Ok("1"), "wgpu required: {why}");
            eprintln!("skipped: {why}");
            None
        }
    }
}
