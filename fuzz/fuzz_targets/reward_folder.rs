//! A Hugging Face reward-model folder: the first byte picks the file the rest of the input
//! replaces (config.json, tokenizer.json, tokenizer_config.json with the chat template, or
//! model.safetensors); the other files are the tiny Qwen3 fixture's.
#![no_main]
use libfuzzer_sys::fuzz_target;
use palate_models::device;
use palate_models::models::decoder::DecoderWeights;
use palate_models::pipelines::reward::{RewardFiles, RewardModel};

const CONFIG: &[u8] = include_bytes!("../../tests/fixtures/rm/qwen3/config.json");
const TOKENIZER: &[u8] = include_bytes!("../../tests/fixtures/rm/qwen3/tokenizer.json");
const TOKENIZER_CONFIG: &[u8] = include_bytes!("../../tests/fixtures/rm/qwen3/tokenizer_config.json");
const WEIGHTS: &[u8] = include_bytes!("../../tests/fixtures/rm/qwen3/model.safetensors");

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    let mut files = [CONFIG.to_vec(), TOKENIZER.to_vec(), TOKENIZER_CONFIG.to_vec(), WEIGHTS.to_vec()];
    files[usize::from(which % 4)] = rest.to_vec();
    let [config, tokenizer, tokenizer_config, weights] = files;
    let files = RewardFiles { config, tokenizer, tokenizer_config: Some(tokenizer_config), chat_template: None, weights: DecoderWeights::Single(weights) };
    if let Ok(rm) = RewardModel::load(files, &device::cpu_device()) {
        let _ = rm.score_blocking("How do I boil an egg?", &["Nine minutes.".to_string(), String::new()]);
    }
});
