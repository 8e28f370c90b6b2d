//! Decoder reward models against Hugging Face transformers: tiny random Qwen3 and Llama
//! sequence-classification checkpoints and the scores transformers computed for 8 sequences in
//! one padded batch (tests/fixtures/rm, made by scripts/make_rm_fixture.py). f32 on CPU and wgpu
//! within 1e-4 relative; the bf16 copies within bf16's precision; bad configs and weights are
//! typed errors.

use palate_models::models::decoder::{DecoderConfig, DecoderScorer, DecoderWeights};
use palate_models::{BackendKind, device};
use palate_tests::root;

#[derive(serde::Deserialize)]
struct Fixture {
    inputs: Vec<Vec<u32>>,
    scores: std::collections::BTreeMap<String, Vec<f32>>,
}

fn fixture() -> Fixture {
    let path = root().join("tests/fixtures/rm/scores.json");
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

fn load(name: &str, variant: &str, backend: BackendKind) -> Option<DecoderScorer> {
    let dir = root().join("tests/fixtures/rm").join(name).join(variant);
    let device = match pollster::block_on(device::device(backend)) {
        Ok(d) => d,
        Err(e) if palate_tests::wgpu_skip_allowed() => {
            eprintln!("skipping {backend:?} (PALATE_ALLOW_NO_WGPU=1): {e}");
            return None;
        }
        Err(e) => panic!("{backend:?} is unavailable ({e}); set PALATE_ALLOW_NO_WGPU=1 to skip the wgpu tests"),
    };
    let config = std::fs::read(dir.join("config.json")).unwrap();
    let weights = std::fs::read(dir.join("model.safetensors")).unwrap();
    Some(DecoderScorer::load(&config, DecoderWeights::Single(weights), &device).unwrap())
}

/// Error relative to the score (`tolerance`), or, for `spread_tolerance`, relative to the spread
/// of the fixture's scores (bf16 weights shift every score a little; near-zero ones by a lot).
fn check(name: &str, variant: &str, backend: BackendKind, tolerance: f32) {
    check_with(name, variant, backend, tolerance, false)
}

fn check_spread(name: &str, variant: &str, backend: BackendKind, tolerance: f32) {
    check_with(name, variant, backend, tolerance, true)
}

fn check_with(name: &str, variant: &str, backend: BackendKind, tolerance: f32, spread: bool) {
    let Some(scorer) = load(name, variant, backend) else { return };
    let fx = fixture();
    let got = scorer.score_ids_blocking(&fx.inputs).unwrap();
    let want = &fx.scores[name];
    let range = want.iter().cloned().fold(f32::MIN, f32::max) - want.iter().cloned().fold(f32::MAX, f32::min);
    let mut worst = 0.0f32;
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let rel = (g - w).abs() / if spread { range } else { w.abs().max(1e-3) };
        worst = worst.max(rel);
        assert!(rel <= tolerance, "{name}/{variant} on {backend:?}: sequence {i} ({} tokens): {g} vs {w}", fx.inputs[i].len());
    }
    println!("{name}/{variant} on {backend:?}: max relative error {worst:.2e}");
}

#[test]
fn qwen3_matches_transformers_on_cpu() {
    check("qwen3", "", BackendKind::Cpu, 1e-4);
}

#[test]
fn llama_with_llama3_rope_scaling_matches_transformers_on_cpu() {
    check("llama", "", BackendKind::Cpu, 1e-4);
}

#[test]
fn both_match_transformers_on_wgpu() {
    check("qwen3", "", BackendKind::Wgpu, 1e-4);
    check("llama", "", BackendKind::Wgpu, 1e-4);
}

#[test]
fn bf16_checkpoints_load_and_stay_close() {
    // bf16 weights keep ~3 significant digits: every score stays within 2% of the scores' spread.
    check_spread("qwen3", "bf16", BackendKind::Cpu, 0.02);
    check_spread("llama", "bf16", BackendKind::Cpu, 0.02);
}

#[test]
fn a_sequence_scores_the_same_alone_and_in_a_batch() {
    let scorer = load("qwen3", "", BackendKind::Cpu).unwrap();
    let fx = fixture();
    let alone = scorer.score_ids_blocking(&fx.inputs[3..4]).unwrap()[0];
    let batch = scorer.score_ids_blocking(&fx.inputs).unwrap()[3];
    assert!((alone - batch).abs() < 1e-5, "{alone} vs {batch}");
}

#[test]
fn bad_configs_weights_and_inputs_are_typed_errors() {
    let dir = root().join("tests/fixtures/rm/qwen3");
    let config = std::fs::read(dir.join("config.json")).unwrap();
    let weights = std::fs::read(dir.join("model.safetensors")).unwrap();
    let device = pollster::block_on(device::device(BackendKind::Cpu)).unwrap();
    let edit = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut v: serde_json::Value = serde_json::from_slice(&config).unwrap();
        f(&mut v);
        serde_json::to_vec(&v).unwrap()
    };
    let err = |c: Vec<u8>, w: Vec<u8>| DecoderScorer::load(&c, DecoderWeights::Single(w), &device).err().expect("must fail").to_string();

    let e = err(edit(&|v| v["model_type"] = "mamba".into()), weights.clone());
    assert!(e.starts_with("config.json: model_type Some(\"mamba\") is not supported"), "{e}");
    let e = err(edit(&|v| v["num_key_value_heads"] = 3.into()), weights.clone());
    assert!(e.contains("multiple of num_key_value_heads (3)"), "{e}");
    let e = err(edit(&|v| v["hidden_size"] = 96.into()), weights.clone());
    assert!(e.starts_with("model.safetensors: ") && e.contains("96"), "{e}");
    let e = err(edit(&|v| v["num_hidden_layers"] = 3.into()), weights.clone());
    assert!(e.contains("missing") && e.contains("model.layers.2"), "{e}");
    let e = err(config.clone(), weights[..weights.len() / 2].to_vec());
    assert!(e.contains("not a valid safetensors file"), "{e}");
    let e = err(b"{".to_vec(), weights.clone());
    assert!(e.starts_with("config.json: invalid JSON"), "{e}");

    let scorer = DecoderScorer::load(&config, DecoderWeights::Single(weights), &device).unwrap();
    assert!(scorer.score_ids_blocking(&[vec![]]).unwrap_err().to_string().contains("sequence 1 is empty"));
    assert!(scorer.score_ids_blocking(&[vec![1; 300]]).unwrap_err().to_string().contains("context is 256"));
    assert!(scorer.score_ids_blocking(&[vec![9999]]).unwrap_err().to_string().contains("outside the vocabulary"));
    assert!(scorer.score_ids_blocking(&[]).unwrap().is_empty());
}

#[test]
fn transformers_4_and_5_config_forms_agree() {
    // transformers 5 (the fixture) nests rope settings in rope_parameters; 4 writes rope_theta and
    // rope_scaling at the top level.
    let v5 = std::fs::read(root().join("tests/fixtures/rm/llama/config.json")).unwrap();
    let mut v4: serde_json::Value = serde_json::from_slice(&v5).unwrap();
    let rope = v4["rope_parameters"].take();
    v4["rope_theta"] = rope["rope_theta"].clone();
    v4["rope_scaling"] = serde_json::json!({"type": "llama3", "factor": rope["factor"], "low_freq_factor": rope["low_freq_factor"],
        "high_freq_factor": rope["high_freq_factor"], "original_max_position_embeddings": rope["original_max_position_embeddings"]});
    v4.as_object_mut().unwrap().remove("rope_parameters");
    let a = DecoderConfig::from_json(&v5).unwrap();
    let b = DecoderConfig::from_json(&serde_json::to_vec(&v4).unwrap()).unwrap();
    assert_eq!(a.inv_freq(), b.inv_freq());
    assert_eq!(a.rope_theta, 500_000.0);
    // Llama 3 smoothing: high frequencies untouched, low ones divided by the factor.
    let plain: Vec<f64> = (0..8).map(|i| 1.0 / 500_000f64.powf(2.0 * i as f64 / 16.0)).collect();
    assert_eq!(a.inv_freq()[0], plain[0]);
    assert!((a.inv_freq()[7] - plain[7] / 32.0).abs() < 1e-15);
}

/// A GPU's storage-binding limit smaller than the token-embedding table (forced to 1 KiB here; real
/// GPUs often allow 128 MiB against Qwen3-0.6B's 594 MiB table): the table stays on the CPU, rows
/// are looked up there and uploaded, and the scores do not change.
#[test]
fn the_embedding_table_stays_on_the_cpu_under_a_small_binding_limit() {
    let fx = fixture();
    let dir = root().join("tests/fixtures/rm/qwen3");
    let config = std::fs::read(dir.join("config.json")).unwrap();
    let weights = std::fs::read(dir.join("model.safetensors")).unwrap();
    for backend in [BackendKind::Wgpu, BackendKind::Cpu] {
        let Ok(device) = pollster::block_on(device::device(backend)) else { continue };
        let load = |limit| DecoderScorer::load_with_binding_limit(&config, DecoderWeights::Single(weights.clone()), &device, limit).unwrap();
        assert!(!load(Some(1 << 30)).embeddings_on_cpu(), "a 128 KiB table fits a 1 GiB binding");
        let scorer = load(Some(1024));
        assert_eq!(scorer.embeddings_on_cpu(), backend != BackendKind::Cpu, "on the CPU backend there is nothing to move");
        let got = scorer.score_ids_blocking(&fx.inputs).unwrap();
        for (g, w) in got.iter().zip(&fx.scores["qwen3"]) {
            assert!((g - w).abs() / w.abs().max(1e-3) < 1e-4, "{backend:?}: {g} vs {w}");
        }
    }
}

/// A batch whose attention scores would pass Palate's u32-indexed WebGPU kernels is refused with
/// a typed error before anything runs (it used to panic inside a kernel).
#[test]
fn a_batch_beyond_the_webgpu_kernels_is_a_typed_error() {
    let Some(device) = palate_tests::wgpu_device_or_skip() else { return };
    let dir = root().join("tests/fixtures/rm/qwen3");
    let mut config: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
    config["max_position_embeddings"] = 100_000.into();
    let weights = std::fs::read(dir.join("model.safetensors")).unwrap();
    let scorer = DecoderScorer::load(&serde_json::to_vec(&config).unwrap(), DecoderWeights::Single(weights), &device).unwrap();
    let heads = scorer.config.num_attention_heads;
    // heads × seq² just past u32::MAX.
    let seq = ((u32::MAX as f64 / heads as f64).sqrt() as usize) + 2;
    match scorer.score_ids_blocking(&[vec![1; seq]]) {
        Err(palate_models::PalateError::InvalidInput(m)) => assert!(m.contains("too large for one pass on WebGPU"), "{m}"),
        other => panic!("expected InvalidInput, got {:?}", other.map(|_| ())),
    }
}
