//! Full-size scale run: a reward model with the exact configuration of Skywork-Reward-V2-Qwen3-0.6B
//! (Qwen3ForSequenceClassification: 28 layers, hidden 1024, 16 query / 8 key-value heads of 128,
//! vocab 151,936), random weights made here (the hub is unreachable), quantized to q4 (or
//! PALATE_SCALE_PRECISION), scoring one 512-token conversation. Prints load, quantize and score
//! latency and the process's peak resident memory after each step. A benchmark, not a test.
//!
//!   cargo bench -p palate-tests --bench scale                       (CPU, then wgpu where present)
//!   PALATE_SCALE_BACKENDS=wgpu PALATE_SCALE_TOKENS=128 cargo bench -p palate-tests --bench scale
//!
//! On wgpu the token-embedding table (594 MiB in f32) is over the 128 MiB binding limit that real
//! GPUs often have, so it stays on the CPU as in the browser.

use std::time::Instant;

use palate_models::decoder::{DecoderConfig, DecoderScorer};
use palate_models::{BackendKind, Precision, device};

const CONFIG: &str = r#"{
  "architectures": ["Qwen3ForSequenceClassification"], "model_type": "qwen3",
  "hidden_size": 1024, "intermediate_size": 3072, "num_hidden_layers": 28,
  "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 128,
  "vocab_size": 151936, "max_position_embeddings": 40960, "rms_norm_eps": 1e-6,
  "rope_theta": 1000000, "tie_word_embeddings": true, "num_labels": 1,
  "pad_token_id": 151643, "torch_dtype": "bfloat16"
}"#;

const BINDING_LIMIT: u64 = 128 << 20;

/// Peak resident set size of this process so far (Linux), in MiB.
fn peak_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(str::to_string))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn run(backend: BackendKind, precision: Precision, tokens: usize) -> Result<(), String> {
    let device = pollster::block_on(device::device(backend)).map_err(|e| e.to_string())?;
    let config = DecoderConfig::from_json(CONFIG.as_bytes()).map_err(|e| e.to_string())?;
    let limit = (backend == BackendKind::Wgpu).then_some(BINDING_LIMIT);
    let t = Instant::now();
    let scorer = DecoderScorer::random(config, &device, limit);
    println!("{backend:?}: random init {:.1} s, peak RSS {:.0} MiB, embeddings on CPU: {}",
        t.elapsed().as_secs_f64(), peak_mib(), scorer.embeddings_on_cpu());
    let t = Instant::now();
    let scorer = scorer.quantize(precision).map_err(|e| e.to_string())?;
    println!("{backend:?}: quantize to {} {:.1} s, peak RSS {:.0} MiB", precision.as_str(), t.elapsed().as_secs_f64(), peak_mib());
    // A deterministic token sequence inside the vocabulary.
    let ids: Vec<u32> = (0..tokens as u32).map(|i| (i * 7919 + 13) % 151_000).collect();
    for call in ["first", "second"] {
        let t = Instant::now();
        let scores = pollster::block_on(scorer.score_ids(std::slice::from_ref(&ids))).map_err(|e| e.to_string())?;
        println!("{backend:?}: {call} score of {tokens} tokens {:.2} s (score {:+.4}), peak RSS {:.0} MiB",
            t.elapsed().as_secs_f64(), scores[0], peak_mib());
        if !scores[0].is_finite() {
            return Err(format!("score is not finite: {}", scores[0]));
        }
    }
    Ok(())
}

fn main() {
    let precision: Precision = std::env::var("PALATE_SCALE_PRECISION").unwrap_or_else(|_| "q4".into()).parse()
        .unwrap_or_else(|e| panic!("PALATE_SCALE_PRECISION: {e}"));
    let tokens: usize = std::env::var("PALATE_SCALE_TOKENS").ok().and_then(|t| t.parse().ok()).unwrap_or(512);
    let backends = std::env::var("PALATE_SCALE_BACKENDS").unwrap_or_else(|_| "cpu,wgpu".into());
    // `cargo bench` passes --bench; anything else is ignored.
    for name in backends.split(',') {
        let backend: BackendKind = match name.trim().parse() {
            Ok(b) => b,
            Err(e) => panic!("PALATE_SCALE_BACKENDS: {e}"),
        };
        if let Err(e) = run(backend, precision, tokens) {
            println!("{backend:?}: failed: {e}");
        }
    }
}
