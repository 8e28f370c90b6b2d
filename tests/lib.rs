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

/// Whether a test that needs a wgpu adapter may skip when there is none: only when told so
/// explicitly with `PALATE_ALLOW_NO_WGPU=1`. Otherwise a missing adapter fails the test, so a run
/// that checked nothing never passes.
pub fn wgpu_skip_allowed() -> bool {
    std::env::var("PALATE_ALLOW_NO_WGPU").as_deref() == Ok("1")
}

/// The wgpu device where an adapter exists (on CI: Mesa's lavapipe). Where none does, the test
/// fails, unless `PALATE_ALLOW_NO_WGPU=1` allows skipping ([`wgpu_skip_allowed`]): then `None`, with a note.
pub fn wgpu_device_or_skip() -> Option<palate_models::burn::tensor::Device> {
    match std::panic::catch_unwind(|| pollster::block_on(palate_models::device::wgpu_device())) {
        Ok(Ok(device)) => Some(device),
        outcome => {
            let why = match outcome {
                Ok(Err(e)) => e.to_string(),
                _ => "wgpu panicked while looking for an adapter".to_string(),
            };
            assert!(wgpu_skip_allowed(), "no wgpu adapter ({why}); set PALATE_ALLOW_NO_WGPU=1 to skip the wgpu tests");
            eprintln!("skipped: {why}");
            None
        }
    }
}

/// How long one mutant may take in a mutation test before the test fails as a hang.
pub const MUTANT_TIME_LIMIT: std::time::Duration = std::time::Duration::from_secs(20);

/// Runs one mutant's check on its own thread, like `std::panic::catch_unwind`, and fails the test
/// (naming `case`) when it does not finish within [`MUTANT_TIME_LIMIT`]: a parser that loops on a
/// hostile file is as broken as one that panics.
pub fn bounded<T: Send + 'static>(case: usize, check: impl FnOnce() -> T + Send + 'static) -> std::thread::Result<T> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(std::panic::catch_unwind(std::panic::AssertUnwindSafe(check)));
    });
    match rx.recv_timeout(MUTANT_TIME_LIMIT) {
        Ok(outcome) => outcome,
        Err(_) => panic!("mutant {case} did not finish within {MUTANT_TIME_LIMIT:?}"),
    }
}
