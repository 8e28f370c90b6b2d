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

/// Seeded mutants of a reward-model folder's text files (config.json, tokenizer.json, the chat
/// template in tokenizer_config.json: bytes flipped, numbers made huge or negative, spans deleted
/// or repeated) give a typed error or a model that scores, never a panic.
#[test]
fn mutated_config_tokenizer_and_template_never_panic() {
    use palate_models::models::decoder::DecoderWeights;
    use palate_models::pipelines::reward::{RewardFiles, RewardModel};
    use rand::{Rng, SeedableRng, rngs::StdRng};
    let dir = palate_tests::root().join("tests/fixtures/rm/qwen3");
    let read = |n: &str| std::fs::read(dir.join(n)).unwrap();
    let (config, tokenizer, tok_config, weights) = (read("config.json"), read("tokenizer.json"), read("tokenizer_config.json"), read("model.safetensors"));
    let device = device::cpu_device();
    let mut rng = StdRng::seed_from_u64(26);
    let mutate = |rng: &mut StdRng, b: &[u8]| -> Vec<u8> {
        let mut b = b.to_vec();
        match rng.random_range(0..4) {
            0 => {
                for _ in 0..rng.random_range(1..4) {
                    let i = rng.random_range(0..b.len());
                    b[i] ^= 1 << rng.random_range(0..7);
                }
            }
            1 => {
                let digits: Vec<usize> = b.iter().enumerate().filter(|(_, c)| c.is_ascii_digit()).map(|(i, _)| i).collect();
                if !digits.is_empty() {
                    let i = digits[rng.random_range(0..digits.len())];
                    let with: &[u8] = [&b"99999999999"[..], b"-1", b"0", b"1e30"][rng.random_range(0..4)];
                    b.splice(i..i + 1, with.iter().copied());
                }
            }
            2 => {
                let i = rng.random_range(0..b.len());
                b.drain(i..(i + rng.random_range(1..48)).min(b.len()));
            }
            _ => {
                let i = rng.random_range(0..b.len());
                let span = b[i..(i + rng.random_range(1..48)).min(b.len())].to_vec();
                b.splice(i..i, span);
            }
        }
        b
    };
    let (mut loaded, mut scored) = (0, 0);
    let cases = 600;
    for case in 0..cases {
        let (mut c, mut t, mut tc) = (config.clone(), tokenizer.clone(), tok_config.clone());
        match case % 3 {
            0 => c = mutate(&mut rng, &config),
            1 => t = mutate(&mut rng, &tokenizer),
            _ => tc = mutate(&mut rng, &tok_config),
        }
        let files = RewardFiles { config: c, tokenizer: t, tokenizer_config: Some(tc), chat_template: None, weights: DecoderWeights::Single(weights.clone()) };
        let device = device.clone();
        let outcome = palate_tests::bounded(case, move || match RewardModel::load(files, &device) {
            Err(_) => (false, false),
            Ok(rm) => (true, rm.score_blocking("How do I boil an egg?", &["Nine minutes.".to_string(), "".to_string()]).is_ok()),
        });
        let (l, s) = outcome.unwrap_or_else(|_| panic!("mutant {case} (of {}) panicked", ["config.json", "tokenizer.json", "tokenizer_config.json"][case % 3]));
        loaded += l as usize;
        scored += s as usize;
    }
    eprintln!("{cases} mutants: {loaded} loaded, {scored} scored");
    assert!(loaded < cases && scored > 0, "both outcomes reached");
}

/// Seeded mutants of a reward model's `model.safetensors` (its JSON header's bytes flipped, lengths
/// and offsets made huge, spans deleted or repeated, the file cut; weights set to NaN or ±inf)
/// give a typed error or a model that scores, never a panic; a NaN or infinite score never reaches
/// the caller (a ranking would sort it).
#[test]
fn mutated_safetensors_never_panic() {
    use palate_models::models::decoder::DecoderWeights;
    use palate_models::pipelines::reward::{RewardFiles, RewardModel};
    use rand::{Rng, SeedableRng, rngs::StdRng};
    let dir = palate_tests::root().join("tests/fixtures/rm/qwen3");
    let read = |n: &str| std::fs::read(dir.join(n)).unwrap();
    let (config, tokenizer, tok_config, weights) = (read("config.json"), read("tokenizer.json"), read("tokenizer_config.json"), read("model.safetensors"));
    let header_end = 8 + u64::from_le_bytes(weights[..8].try_into().unwrap()) as usize;
    let device = device::cpu_device();
    let mut rng = StdRng::seed_from_u64(28);
    let (mut loaded, mut finite) = (0, 0);
    let cases = 300;
    for case in 0..cases {
        let mut b = weights.clone();
        match rng.random_range(0..6) {
            0 => {
                for _ in 0..rng.random_range(1..6) {
                    let i = rng.random_range(0..header_end);
                    b[i] ^= 1 << rng.random_range(0..7);
                }
            }
            1 => {
                // A number in the header (a shape or an offset) made huge, negative or zero.
                let digits: Vec<usize> = (8..header_end).filter(|&i| b[i].is_ascii_digit()).collect();
                let i = digits[rng.random_range(0..digits.len())];
                let with: &[u8] = [&b"99999999999999"[..], b"18446744073709551615", b"-1", b"0"][rng.random_range(0..4)];
                b.splice(i..i + 1, with.iter().copied());
            }
            2 => b.truncate(rng.random_range(0..b.len())),
            3 => {
                let i = rng.random_range(0..header_end);
                b.drain(i..(i + rng.random_range(1..32)).min(header_end));
            }
            4 => {
                let i = rng.random_range(0..header_end);
                let span = b[i..(i + rng.random_range(1..32)).min(header_end)].to_vec();
                b.splice(i..i, span);
            }
            _ => {
                // Weights that are not numbers (f32 little-endian, 4-aligned in the data).
                let bad = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY][rng.random_range(0..3)];
                for _ in 0..rng.random_range(1..20) {
                    let i = header_end + 4 * rng.random_range(0..(b.len() - header_end) / 4);
                    b[i..i + 4].copy_from_slice(&bad.to_le_bytes());
                }
            }
        }
        let files = RewardFiles { config: config.clone(), tokenizer: tokenizer.clone(), tokenizer_config: Some(tok_config.clone()), chat_template: None, weights: DecoderWeights::Single(b) };
        let device = device.clone();
        let outcome = palate_tests::bounded(case, move || match RewardModel::load(files, &device) {
            Err(e) => {
                assert!(matches!(e, PalateError::InvalidWeights { .. } | PalateError::InvalidConfig { .. }), "{e:?}");
                (false, false)
            }
            Ok(rm) => match rm.score_blocking("How do I boil an egg?", &["Nine minutes.".to_string(), "".to_string()]) {
                Ok(scores) => {
                    assert!(scores.iter().all(|s| s.is_finite()), "mutant {case}: scores {scores:?} reach the caller");
                    (true, true)
                }
                Err(e) => {
                    assert!(matches!(e, PalateError::InvalidWeights { .. } | PalateError::InvalidInput(_)), "{e:?}");
                    (true, false)
                }
            },
        });
        let (l, f) = outcome.unwrap_or_else(|_| panic!("mutant {case} panicked"));
        loaded += l as usize;
        finite += f as usize;
    }
    eprintln!("{cases} safetensors mutants: {loaded} loaded, {finite} scored finite");
    assert!(loaded < cases && finite > 0, "both outcomes reached");
}

/// The limits in `palate_models::limits` are errors that name the limit, before any work is sized
/// by the input: a text, a call, a vocabulary; and a model whose weights are not numbers gives an
/// error instead of NaN scores.
#[test]
fn limits_are_typed_errors() {
    use palate_models::limits::{MAX_TEXT_BYTES, MAX_TEXTS, MAX_VOCAB};
    use palate_models::models::decoder::DecoderWeights;
    use palate_models::pipelines::reward::{RewardFiles, RewardModel};
    let embedder = load(&minilm_dir()).unwrap();
    let long = "x".repeat(MAX_TEXT_BYTES + 1);
    match embedder.embed_blocking(&["fine", long.as_str()]) {
        Err(PalateError::InvalidInput(m)) => assert!(m.contains("text 2 is 4194305 bytes long") && m.contains("at most 4194304"), "{m}"),
        other => panic!("expected InvalidInput, got {:?}", other.map(|_| ())),
    }
    let many = vec!["a"; MAX_TEXTS + 1];
    match embedder.embed_blocking(&many) {
        Err(PalateError::InvalidInput(m)) => assert!(m.contains("1025 texts given"), "{m}"),
        other => panic!("expected InvalidInput, got {:?}", other.map(|_| ())),
    }
    assert_eq!(embedder.embed_blocking(&vec!["a"; MAX_TEXTS]).unwrap().len(), MAX_TEXTS, "the limit itself is accepted");

    let dir = scratch_copy();
    edit_json(&dir.path().join("config.json"), |c| c["vocab_size"] = (MAX_VOCAB + 1).into());
    match load(dir.path()) {
        Err(PalateError::InvalidConfig { file, detail }) => {
            assert_eq!(file, "config.json");
            assert!(detail.contains("vocab_size is 1048577") && detail.contains("at most 1048576"), "{detail}");
        }
        other => panic!("expected InvalidConfig, got {:?}", other.map(|_| ())),
    }
    // A config far larger than its weights is refused before anything is allocated for it
    // (this one would ask for ~150 GB).
    edit_json(&dir.path().join("config.json"), |c| {
        c["vocab_size"] = 30522.into();
        c["hidden_size"] = 1_200_000.into();
    });
    match load(dir.path()) {
        Err(PalateError::InvalidConfig { detail, .. }) => assert!(detail.contains("more than the 90868376 bytes of weights can hold"), "{detail}"),
        other => panic!("expected InvalidConfig, got {:?}", other.map(|_| ())),
    }

    // A reward model whose final norm is NaN loads (the header is fine) and refuses to score.
    let rm = palate_tests::root().join("tests/fixtures/rm/qwen3");
    let read = |n: &str| std::fs::read(rm.join(n)).unwrap();
    let weights = read("model.safetensors");
    let st = safetensors::SafeTensors::deserialize(&weights).unwrap();
    let norm = st.tensor("model.norm.weight").unwrap();
    let start = norm.data().as_ptr() as usize - weights.as_ptr() as usize;
    let mut poisoned = weights.clone();
    for chunk in poisoned[start..start + norm.data().len()].chunks_exact_mut(4) {
        chunk.copy_from_slice(&f32::NAN.to_le_bytes());
    }
    let files = RewardFiles { config: read("config.json"), tokenizer: read("tokenizer.json"), tokenizer_config: Some(read("tokenizer_config.json")), chat_template: None, weights: DecoderWeights::Single(poisoned) };
    let model = RewardModel::load(files, &device::cpu_device()).expect("NaN weights still load");
    match model.score_blocking("How do I boil an egg?", &["Nine minutes.".to_string()]) {
        Err(PalateError::InvalidWeights { detail, .. }) => assert!(detail.contains("NaN or infinite"), "{detail}"),
        other => panic!("expected InvalidWeights, got {other:?}"),
    }
}
