//! GGUF: SmolLM2-135M-Instruct (scripts/fetch-model.sh smollm2) through Palate's reader, tokenizer
//! and decoder against transformers' float64 forward of the same file
//! (tests/fixtures/gguf/smollm2-logprobs.json, scripts/make_gguf_fixture.py); follow-up
//! likelihood; and hostile GGUF files, each a typed error naming the key or tensor.

use std::sync::Arc;

use palate_models::PalateError;
use palate_models::io::gguf::Gguf;
use palate_models::io::ranges::MemoryRanges;
use palate_models::models::llama_gguf::{self, LlamaGgufConfig};
use palate_models::pipelines::causal::CausalLm;
use palate_models::pipelines::chat::Message;
use palate_models::device;
use palate_tests::root;

/// Largest |Δ log p| allowed against the float64 reference (the bound).
const TOLERANCE: f64 = 2e-3;

fn smollm2_path() -> std::path::PathBuf {
    let path = root().join("models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(path.is_file(), "{} is missing: run scripts/fetch-model.sh smollm2", path.display());
    path
}

#[derive(serde::Deserialize)]
struct Fixture {
    rows: Vec<Row>,
}

#[derive(serde::Deserialize)]
struct Row {
    text: String,
    ids: Vec<u32>,
    logprobs: Vec<Option<f64>>,
}

fn fixture() -> Fixture {
    let path = root().join("tests/fixtures/gguf/smollm2-logprobs.json");
    serde_json::from_slice(&std::fs::read(&path).expect("fixture")).expect("fixture parses")
}

fn check_parity(lm: &CausalLm, backend: &str) {
    let fixture = fixture();
    assert!(fixture.rows.len() >= 6, "the fixture covers text, code, numbers, unicode and chats");
    let mut worst = 0f64;
    for row in &fixture.rows {
        let ids = lm.encode(&row.text).expect("encodes");
        assert_eq!(ids, row.ids, "token ids of {:?}", row.text);
        let got = lm.logprobs_blocking(&ids).expect("runs");
        assert_eq!(got.len() + 1, row.logprobs.len());
        for (i, (g, want)) in got.iter().zip(&row.logprobs[1..]).enumerate() {
            let want = want.expect("reference log-probs after the first token");
            let d = (*g as f64 - want).abs();
            worst = worst.max(d);
            assert!(d <= TOLERANCE, "{backend}: {:?} token {}: {g} vs {want}", row.text, i + 1);
        }
    }
    eprintln!("{backend}: largest |Δ log p| against transformers (f64): {worst:.2e}");
}

#[test]
fn smollm2_matches_transformers_on_cpu() {
    let g = Gguf::from_file(smollm2_path()).expect("opens");
    let lm = CausalLm::from_gguf(&g, &device::cpu_device()).expect("loads");
    check_parity(&lm, "cpu");
}

#[test]
fn smollm2_matches_transformers_on_wgpu() {
    let Some(device) = palate_tests::wgpu_device_or_skip() else { return };
    let g = Gguf::from_file(smollm2_path()).expect("opens");
    let lm = CausalLm::from_gguf(&g, &device).expect("loads");
    check_parity(&lm, "wgpu");
}

/// The file's metadata as read: what transformers and llama.cpp report for it.
#[test]
fn smollm2_metadata() {
    let g = Gguf::from_file(smollm2_path()).expect("opens");
    let c = LlamaGgufConfig::from_gguf(&g).expect("llama");
    assert_eq!((c.num_hidden_layers, c.hidden_size, c.num_attention_heads, c.num_key_value_heads), (30, 576, 9, 3));
    assert_eq!((c.vocab_size, c.intermediate_size, c.rope_theta), (49152, 1536, 100000.0));
    assert_eq!(g.tensors.len(), 272);
    assert_eq!(g.get_str("tokenizer.ggml.pre").unwrap(), "smollm");
}

/// Follow-up likelihood equals its definition computed the long way: each follow-up's whole
/// conversation through [`CausalLm::logprobs`], summed from the first token after the reply.
#[test]
fn follow_up_reward_is_its_definition() {
    use palate_models::pipelines::causal::{NEGATIVE, POSITIVE};
    let g = Gguf::from_file(smollm2_path()).expect("opens");
    let lm = CausalLm::from_gguf(&g, &device::cpu_device()).expect("loads");
    let history = [Message::new("user", "Hi!"), Message::new("assistant", "Hello! How can I help?")];
    let prompt = "What is the capital of France?";
    let replies = vec!["The capital of France is Paris.".to_string(), "I like turtles.".to_string()];
    let got = lm.follow_up_reward_blocking(&history, prompt, &replies).expect("scores");
    assert_eq!(got.len(), 2);
    for (reply, &reward) in replies.iter().zip(&got) {
        let mut base = history.to_vec();
        base.extend([Message::new("user", prompt), Message::new("assistant", reply)]);
        let prefix = lm.encode(&lm.render(&base).unwrap()).unwrap();
        let sum = |follow: &str| -> f64 {
            let mut m = base.clone();
            m.push(Message::new("user", follow));
            let ids = lm.encode(&lm.render(&m).unwrap()).unwrap();
            assert_eq!(&ids[..prefix.len()], &prefix[..], "the follow-up extends the conversation's tokens");
            let lp = lm.logprobs_blocking(&ids).unwrap();
            lp[prefix.len() - 1..].iter().map(|&v| v as f64).sum()
        };
        let mean = |set: &[&str]| set.iter().map(|f| sum(f)).sum::<f64>() / set.len() as f64;
        let want = mean(&POSITIVE) - mean(&NEGATIVE);
        assert!((reward as f64 - want).abs() < 1e-3, "{reply:?}: {reward} vs {want}");
    }
    // A conversation beyond the context is refused, naming the reply.
    let long = "word ".repeat(9000);
    match lm.follow_up_reward_blocking(&[Message::new("user", "hi"), Message::new("assistant", "hello")], "go on", &[long]) {
        Err(PalateError::InvalidInput(m)) => assert!(m.contains("reply 1") && m.contains("8192"), "{m}"),
        other => panic!("expected InvalidInput, got {:?}", other.map(|_| ())),
    }
}

/// A small GGUF writer for hostile files.
#[derive(Default)]
struct Writer {
    kv: Vec<u8>,
    kvs: u64,
    infos: Vec<u8>,
    tensors: u64,
    data: Vec<u8>,
}

impl Writer {
    fn string(buf: &mut Vec<u8>, s: &str) {
        buf.extend((s.len() as u64).to_le_bytes());
        buf.extend(s.as_bytes());
    }
    fn key(&mut self, key: &str, kind: u32) -> &mut Vec<u8> {
        self.kvs += 1;
        Self::string(&mut self.kv, key);
        self.kv.extend(kind.to_le_bytes());
        &mut self.kv
    }
    fn str(mut self, key: &str, value: &str) -> Self {
        Self::string(self.key(key, 8), value);
        self
    }
    fn u32(mut self, key: &str, value: u32) -> Self {
        self.key(key, 4).extend(value.to_le_bytes());
        self
    }
    fn f32(mut self, key: &str, value: f32) -> Self {
        self.key(key, 6).extend(value.to_le_bytes());
        self
    }
    /// An array of strings (GGUF type 9 of type 8).
    fn strs(mut self, key: &str, values: &[&str]) -> Self {
        let buf = self.key(key, 9);
        buf.extend(8u32.to_le_bytes());
        buf.extend((values.len() as u64).to_le_bytes());
        for v in values {
            Self::string(buf, v);
        }
        self
    }
    /// An array of i32 (GGUF type 9 of type 5).
    fn i32s(mut self, key: &str, values: &[i32]) -> Self {
        let buf = self.key(key, 9);
        buf.extend(5u32.to_le_bytes());
        buf.extend((values.len() as u64).to_le_bytes());
        for v in values {
            buf.extend(v.to_le_bytes());
        }
        self
    }
    /// An f32 tensor of zeros with `ne` in GGUF order (contiguous axis first), or raw `bytes` of type `kind`.
    fn tensor(mut self, name: &str, ne: &[u64], kind: u32, bytes: Vec<u8>) -> Self {
        self.tensors += 1;
        Self::string(&mut self.infos, name);
        self.infos.extend((ne.len() as u32).to_le_bytes());
        for d in ne {
            self.infos.extend(d.to_le_bytes());
        }
        self.infos.extend(kind.to_le_bytes());
        self.infos.extend((self.data.len() as u64).to_le_bytes());
        self.data.extend(bytes);
        while !self.data.len().is_multiple_of(32) {
            self.data.push(0);
        }
        self
    }
    fn f32_tensor(self, name: &str, ne: &[u64]) -> Self {
        let n: u64 = ne.iter().product();
        self.tensor(name, ne, 0, vec![0; n as usize * 4])
    }
    fn bytes(self) -> Vec<u8> {
        let mut out = b"GGUF".to_vec();
        out.extend(3u32.to_le_bytes());
        out.extend(self.tensors.to_le_bytes());
        out.extend(self.kvs.to_le_bytes());
        out.extend(self.kv);
        out.extend(self.infos);
        while !out.len().is_multiple_of(32) {
            out.push(0);
        }
        out.extend(self.data);
        out
    }
}

/// A one-layer llama GGUF (hidden 8, 2 heads, 1 KV head, feed-forward 16, vocabulary 4) whose
/// `attn_q` has `q_rows` rows (8 is right).
fn tiny_llama(arch: &str, q_rows: u64) -> Writer {
    let w = Writer::default()
        .str("general.architecture", arch)
        .u32(&format!("{arch}.block_count"), 1)
        .u32(&format!("{arch}.context_length"), 64)
        .u32(&format!("{arch}.embedding_length"), 8)
        .u32(&format!("{arch}.feed_forward_length"), 16)
        .u32(&format!("{arch}.attention.head_count"), 2)
        .u32(&format!("{arch}.attention.head_count_kv"), 1)
        .u32(&format!("{arch}.vocab_size"), 4)
        .f32(&format!("{arch}.attention.layer_norm_rms_epsilon"), 1e-5);
    w.f32_tensor("token_embd.weight", &[8, 4])
        .f32_tensor("output_norm.weight", &[8])
        .f32_tensor("blk.0.attn_norm.weight", &[8])
        .f32_tensor("blk.0.attn_q.weight", &[8, q_rows])
        .f32_tensor("blk.0.attn_k.weight", &[8, 4])
        .f32_tensor("blk.0.attn_v.weight", &[8, 4])
        .f32_tensor("blk.0.attn_output.weight", &[8, 8])
        .f32_tensor("blk.0.ffn_norm.weight", &[8])
        .f32_tensor("blk.0.ffn_gate.weight", &[8, 16])
        .f32_tensor("blk.0.ffn_up.weight", &[8, 16])
        .f32_tensor("blk.0.ffn_down.weight", &[16, 8])
}

fn open(bytes: Vec<u8>) -> palate_models::Result<Gguf> {
    Gguf::open(Arc::new(MemoryRanges(bytes)), "tiny.gguf")
}

fn message(e: PalateError) -> String {
    match e {
        PalateError::InvalidWeights { file, detail } | PalateError::InvalidConfig { file, detail } => {
            assert_eq!(file, "tiny.gguf");
            detail
        }
        other => panic!("expected a typed file error, got {other:?}"),
    }
}

#[test]
fn a_well_formed_tiny_llama_reads() {
    let g = open(tiny_llama("llama", 8).bytes()).expect("opens");
    let c = LlamaGgufConfig::from_gguf(&g).expect("config");
    let shards: Vec<(String, Vec<u8>)> = llama_gguf::shards(&g, &c).expect("planned").collect::<Result<_, _>>().expect("shards");
    assert_eq!(shards.len(), 2, "the table, head and norm; then one block");
    let head = safetensors::SafeTensors::deserialize(&shards[0].1).expect("a safetensors file");
    assert_eq!(head.tensor("score.weight").unwrap().shape(), [4, 8], "the tied token table is the LM head");
    assert_eq!(head.len(), 3);
    let block = safetensors::SafeTensors::deserialize(&shards[1].1).expect("a safetensors file");
    assert_eq!(block.tensor("model.layers.0.self_attn.q_proj.weight").unwrap().shape(), [8, 8]);
    assert_eq!(block.len(), 9);
}

#[test]
fn another_architecture_is_named() {
    let g = open(tiny_llama("bert", 8).bytes()).expect("the file itself is fine");
    let m = message(LlamaGgufConfig::from_gguf(&g).unwrap_err());
    assert!(m.contains("general.architecture") && m.contains("bert"), "{m}");
}

#[test]
fn a_shape_that_disagrees_with_the_metadata_is_named() {
    let g = open(tiny_llama("llama", 6).bytes()).expect("opens");
    let c = LlamaGgufConfig::from_gguf(&g).expect("config");
    let m = message(llama_gguf::shards(&g, &c).err().expect("the plan refuses the shape"));
    assert!(m.contains("blk.0.attn_q.weight") && m.contains("[6, 8]"), "{m}");
}

#[test]
fn an_unsupported_tensor_type_is_named() {
    // Q5_K (type 13): 256 values in a 176-byte block, named but not read yet.
    let bytes = tiny_llama("llama", 8).tensor("blk.0.extra.weight", &[256], 13, vec![0; 176]).bytes();
    let m = message(open(bytes).unwrap_err());
    assert!(m.contains("blk.0.extra.weight") && m.contains("Q5_K"), "{m}");
    let bytes = tiny_llama("llama", 8).tensor("blk.0.odd.weight", &[32], 99, vec![0; 32]).bytes();
    let m = message(open(bytes).unwrap_err());
    assert!(m.contains("blk.0.odd.weight") && m.contains("unknown ggml tensor type 99"), "{m}");
}

#[test]
fn truncated_files_are_refused_wherever_they_end() {
    let whole = tiny_llama("llama", 8).bytes();
    assert!(open(whole.clone()).is_ok());
    // Cut inside the data: the last tensor runs past the end.
    let m = message(open(whole[..whole.len() - 40].to_vec()).unwrap_err());
    assert!(m.contains("blk.0.ffn_down.weight") && m.contains("past the end"), "{m}");
    // Cut anywhere in the header or tables: an error, never a panic.
    for cut in (0..whole.len() - 40).step_by(7) {
        let e = open(whole[..cut].to_vec()).expect_err("a truncated file");
        assert!(matches!(e, PalateError::InvalidWeights { .. }), "cut at {cut}: {e:?}");
    }
}

#[test]
fn counts_the_file_cannot_hold_are_refused_before_allocating() {
    let mut bytes = tiny_llama("llama", 8).bytes();
    // The metadata count (bytes 16..24) claims 2^60 entries.
    bytes[16..24].copy_from_slice(&(1u64 << 60).to_le_bytes());
    let m = message(open(bytes).unwrap_err());
    assert!(m.contains("metadata count"), "{m}");
    let m = message(open(b"GGUF\x07\0\0\0".to_vec()).unwrap_err());
    assert!(m.contains("version 7"), "{m}");
    let m = message(open(b"GGML....".to_vec()).unwrap_err());
    assert!(m.contains("not a GGUF file"), "{m}");
}

/// Seeded mutants of a valid file (bit flips anywhere, a little-endian field set huge, truncation,
/// spans deleted or repeated) are refused with a typed error or read consistently, never a panic;
/// whatever opens either maps to the decoder's tensors or says why not.
#[test]
fn mutated_gguf_files_never_panic() {
    use rand::{Rng, SeedableRng, rngs::StdRng};
    let whole = tiny_llama("llama", 8).bytes();
    let header_end = whole.len() - 32 * 11; // the tensor data is the last part; most mutants hit the tables
    let mut rng = StdRng::seed_from_u64(26);
    let (mut opened, mut mapped) = (0, 0);
    for case in 0..3000 {
        let mut b = whole.clone();
        match rng.random_range(0..5) {
            0 => {
                for _ in 0..rng.random_range(1..6) {
                    let i = rng.random_range(0..header_end);
                    b[i] ^= 1 << rng.random_range(0..8);
                }
            }
            1 => {
                let i = rng.random_range(0..header_end - 8);
                let huge = [u64::MAX, 1 << 40, 1 << 62, u32::MAX as u64 + 1][rng.random_range(0..4)];
                b[i..i + 8].copy_from_slice(&huge.to_le_bytes());
            }
            2 => b.truncate(rng.random_range(0..b.len())),
            3 => {
                let i = rng.random_range(0..header_end);
                let j = (i + rng.random_range(1..40)).min(b.len());
                b.drain(i..j);
            }
            _ => {
                let i = rng.random_range(0..header_end);
                let j = (i + rng.random_range(1..40)).min(b.len());
                let span = b[i..j].to_vec();
                b.splice(i..i, span);
            }
        }
        let result = palate_tests::bounded(case, move || match open(b) {
            Ok(g) => {
                for t in &g.tensors {
                    assert!(t.start <= t.end && t.end <= g.tensors.iter().map(|t| t.end).max().unwrap_or(0));
                }
                let mapped = LlamaGgufConfig::from_gguf(&g).is_ok_and(|c| llama_gguf::shards(&g, &c).is_ok_and(|mut it| it.all(|s| s.is_ok())));
                (true, mapped)
            }
            Err(e) => {
                assert!(matches!(e, PalateError::InvalidWeights { .. } | PalateError::InvalidConfig { .. }), "{e:?}");
                (false, false)
            }
        });
        let (o, m) = result.unwrap_or_else(|_| panic!("mutant {case} panicked"));
        opened += o as usize;
        mapped += m as usize;
    }
    eprintln!("3000 mutants: {opened} opened, {mapped} mapped to the decoder");
    assert!(opened > 0 && opened < 3000, "the mutants reach both outcomes");
}

/// Q4_K and Q6_K blocks dequantize as gguf-py (llama.cpp's Python reader) does
/// (tests/fixtures/gguf/kquants.json, scripts/make_kquant_fixture.py).
#[test]
fn k_quants_match_gguf_py() {
    use palate_models::io::gguf::{TensorType, dequantize};
    #[derive(serde::Deserialize)]
    struct Row {
        #[serde(rename = "type")]
        kind: String,
        bytes: String,
        values: Vec<f32>,
    }
    #[derive(serde::Deserialize)]
    struct K {
        rows: Vec<Row>,
    }
    let k: K = serde_json::from_slice(&std::fs::read(root().join("tests/fixtures/gguf/kquants.json")).unwrap()).unwrap();
    assert_eq!(k.rows.len(), 2);
    for row in k.rows {
        let kind = match row.kind.as_str() {
            "Q4_K" => TensorType::Q4K,
            "Q6_K" => TensorType::Q6K,
            other => panic!("{other}"),
        };
        let bytes: Vec<u8> = (0..row.bytes.len()).step_by(2).map(|i| u8::from_str_radix(&row.bytes[i..i + 2], 16).unwrap()).collect();
        let got = dequantize(kind, &bytes);
        assert_eq!(got.len(), row.values.len());
        let worst = got.iter().zip(&row.values).map(|(a, b)| (a - b).abs() / b.abs().max(1e-6)).fold(0f32, f32::max);
        assert!(worst <= 1e-6, "{}: worst relative difference {worst}", row.kind);
        assert!(got.iter().any(|v| *v != 0.0));
    }
}

/// Seeds for the `gguf` fuzz target (`fuzz/`, run by scripts/fuzz.sh, which sets PALATE_FUZZ_SEEDS
/// to the corpus folder): the tiny llama, alone and with a byte-level BPE tokenizer and a chat
/// template in its metadata, so the fuzzer starts from files that reach every stage.
#[test]
#[ignore = "writes fuzz seeds; run by scripts/fuzz.sh"]
fn write_fuzz_seeds() {
    let dir = std::path::PathBuf::from(std::env::var("PALATE_FUZZ_SEEDS").expect("PALATE_FUZZ_SEEDS names the corpus folder"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("tiny-llama.gguf"), tiny_llama("llama", 8).bytes()).unwrap();
    let with_tokenizer = tiny_llama("llama", 8)
        .str("tokenizer.ggml.model", "gpt2")
        .str("tokenizer.ggml.pre", "smollm")
        .strs("tokenizer.ggml.tokens", &["a", "b", "ab", "<|im_end|>"])
        .i32s("tokenizer.ggml.token_type", &[1, 1, 1, 3])
        .strs("tokenizer.ggml.merges", &["a b"])
        .u32("tokenizer.ggml.bos_token_id", 3)
        .u32("tokenizer.ggml.eos_token_id", 3)
        .str("tokenizer.chat_template", "{% for m in messages %}{{ m.role }}: {{ m.content }}<|im_end|>{% endfor %}");
    let bytes = with_tokenizer.bytes();
    let g = open(bytes.clone()).expect("the seed opens");
    let json = palate_models::pipelines::causal::tokenizer_json(&g).expect("the seed's tokenizer builds");
    palate_models::pipelines::text::load_tokenizer(&json, "seed.gguf").expect("the seed's tokenizer loads");
    std::fs::write(dir.join("tiny-llama-tokenizer.gguf"), bytes).unwrap();
}
