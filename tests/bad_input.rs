//! Broken model folders give typed errors that name the file and the problem — never a panic.

use std::path::Path;

use palate_models::{ModelFiles, PalateError, SentenceEmbedder, device};
use palate_tests::minilm_dir;

/// A copy of the real model folder that a test may break.
fn scratch_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let src = minilm_dir();
    for name in ["config.json", "tokenizer.json", "model.safetensors", "sentence_bert_config.json", "modules.json"] {
        std::fs::copy(src.join(name), dir.path().join(name)).unwrap();
    }
    dir
}

fn load(dir: &Path) -> Result<SentenceEmbedder, PalateError> {
    SentenceEmbedder::load(ModelFiles::from_dir(dir)?, &device::cpu_device())
}

fn edit_json(path: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let mut value: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    edit(&mut value);
    std::fs::write(path, serde_json::to_vec(&value).unwrap()).unwrap();
}

#[test]
fn missing_file_is_named() {
    let dir = scratch_copy();
    std::fs::remove_file(dir.path().join("tokenizer.json")).unwrap();
    let err = load(dir.path()).unwrap_err();
    assert!(matches!(err, PalateError::MissingFile { .. }), "{err:?}");
    assert!(err.to_string().contains("tokenizer.json"), "{err}");
}

#[test]
fn missing_folder_says_how_to_fetch() {
    let err = ModelFiles::from_dir("/nonexistent/palate-model").unwrap_err();
    assert!(matches!(err, PalateError::MissingFile { .. }));
    assert!(err.to_string().contains("fetch-model.sh"), "{err}");
}

#[test]
fn truncated_safetensors_is_rejected() {
    let dir = scratch_copy();
    let path = dir.path().join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    for keep in [bytes.len() / 2, 100, 4] {
        std::fs::write(&path, &bytes[..keep]).unwrap();
        let err = load(dir.path()).unwrap_err();
        assert!(matches!(err, PalateError::InvalidWeights { .. }), "{keep} bytes: {err:?}");
        assert!(err.to_string().starts_with("model.safetensors"), "{err}");
    }
}

#[test]
fn wrong_hidden_size_is_a_shape_mismatch() {
    let dir = scratch_copy();
    edit_json(&dir.path().join("config.json"), |c| c["hidden_size"] = 768.into());
    let err = load(dir.path()).unwrap_err();
    assert!(matches!(err, PalateError::InvalidWeights { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("model.safetensors") && msg.contains("768") && msg.contains("384"), "{msg}");
}

#[test]
fn impossible_config_is_rejected_before_loading() {
    let dir = scratch_copy();
    edit_json(&dir.path().join("config.json"), |c| c["num_attention_heads"] = 7.into());
    let err = load(dir.path()).unwrap_err();
    assert!(matches!(err, PalateError::InvalidConfig { .. }), "{err:?}");
    assert!(err.to_string().contains("config.json"), "{err}");

    edit_json(&dir.path().join("config.json"), |c| {
        c["num_attention_heads"] = 12.into();
        c["model_type"] = "t5".into();
    });
    let err = load(dir.path()).unwrap_err();
    assert!(err.to_string().contains("\"t5\" is not supported"), "{err}");
}

#[test]
fn invalid_tokenizer_is_named() {
    let dir = scratch_copy();
    std::fs::write(dir.path().join("tokenizer.json"), br#"{"version": "1.0", "model": 42}"#).unwrap();
    let err = load(dir.path()).unwrap_err();
    assert!(matches!(err, PalateError::InvalidTokenizer { .. }), "{err:?}");
    assert!(err.to_string().starts_with("tokenizer.json"), "{err}");
}

#[test]
fn malformed_json_is_named() {
    let dir = scratch_copy();
    std::fs::write(dir.path().join("sentence_bert_config.json"), b"{ not json").unwrap();
    let err = load(dir.path()).unwrap_err();
    assert!(matches!(err, PalateError::InvalidJson { .. }), "{err:?}");
    assert!(err.to_string().contains("sentence_bert_config.json"), "{err}");
}

#[test]
fn empty_and_huge_texts_embed() {
    let embedder = load(&minilm_dir()).unwrap();
    let huge = "palate ".repeat(200_000); // ~1.4 MB, truncated to 256 tokens
    let out = embedder.embed_blocking(&["", huge.as_str()]).unwrap();
    assert_eq!(out[0].ids.len(), 2, "empty text is [CLS] [SEP]");
    assert_eq!(out[1].ids.len(), 256);
    for r in &out {
        let norm: f32 = r.embedding.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4 && r.embedding.iter().all(|x| x.is_finite()));
    }
    assert!(embedder.embed_blocking::<&str>(&[]).unwrap().is_empty());
}
