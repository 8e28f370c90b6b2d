//! A causal language model from one GGUF file: its tokenizer and chat template from the file's
//! metadata, its weights through [`crate::models::llama_gguf`] into the decoder; per-token
//! log-probabilities, and the follow-up likelihood reward.
//!
//! **Follow-up likelihood as reward** (FLR; Zhang et al., "Aligning Language Models Using
//! Follow-up Likelihood as Reward Signal", `shared/papers.md`): a reply is good when the user is
//! likely to answer it with a satisfied follow-up and unlikely to answer with a dissatisfied one.
//! `reward = mean_p log P(p | conversation, reply) − mean_n log P(n | conversation, reply)` over the
//! positive follow-ups [`POSITIVE`] and negative ones [`NEGATIVE`], each a user turn rendered
//! through the model's own chat template after the reply. Only the follow-up's tokens are summed
//! (the user-turn header is the same for every follow-up and cancels).

use tokenizers::Tokenizer;

use crate::error::{PalateError, Result};
use crate::io::gguf::Gguf;
use crate::models::decoder::DecoderScorer;
use crate::models::llama_gguf::{self, LlamaGgufConfig};
use crate::pipelines::chat::{ChatTemplate, Message};

/// Satisfied user follow-ups (FLR's positive set, in the spirit of the paper's examples).
pub const POSITIVE: [&str; 3] = [
    "Thank you, that's exactly what I needed.",
    "Great answer, that really helps.",
    "Perfect, that makes sense now.",
];

/// Dissatisfied user follow-ups (FLR's negative set).
pub const NEGATIVE: [&str; 3] = [
    "That's not what I asked.",
    "That doesn't help at all.",
    "That answer is wrong.",
];

/// `tokenizer.ggml.pre` → the pre-tokenizer of Hugging Face's tokenizer.json for that model
/// family (llama.cpp's `llama-vocab.cpp` lists the same splits as regexes).
fn pre_tokenizer(pre: &str) -> Option<serde_json::Value> {
    use serde_json::json;
    let byte_level = |use_regex: bool| json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": use_regex});
    let split = |regex: &str| json!({"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": false});
    Some(match pre {
        "gpt2" | "default" => byte_level(true),
        // SmolLM / StarCoder: every digit alone, then GPT-2's split.
        "smollm" | "starcoder" => json!({"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": true}, byte_level(true)]}),
        "llama-bpe" | "llama3" => json!({"type": "Sequence", "pretokenizers": [
            split(r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"),
            byte_level(false)]}),
        "qwen2" => json!({"type": "Sequence", "pretokenizers": [
            split(r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"),
            byte_level(false)]}),
        _ => return None,
    })
}

/// A `tokenizers` tokenizer.json for a GGUF's byte-level BPE vocabulary (`tokenizer.ggml.model`
/// "gpt2"): tokens and merges as stored, control tokens (type 3) special, user-defined ones
/// (type 4) added as written; a BOS / EOS added when `add_bos_token` / `add_eos_token` say so.
pub fn tokenizer_json(g: &Gguf) -> Result<Vec<u8>> {
    let bad = |detail: String| PalateError::InvalidTokenizer { file: g.file.clone(), detail };
    let model = g.get_str("tokenizer.ggml.model")?;
    if model != "gpt2" {
        return Err(bad(format!("tokenizer.ggml.model \"{model}\" is not supported (byte-level BPE, \"gpt2\", is)")));
    }
    let pre_name = g.get_str("tokenizer.ggml.pre").unwrap_or("default");
    let pre = pre_tokenizer(pre_name).ok_or_else(|| {
        bad(format!("tokenizer.ggml.pre \"{pre_name}\" is not known here (smollm, starcoder, gpt2, llama-bpe, qwen2 are)"))
    })?;
    let tokens = g.get_strings("tokenizer.ggml.tokens")?;
    crate::limits::check_vocab(tokens.len(), &g.file, "the number of tokenizer.ggml.tokens")?;
    let types = match g.metadata.get("tokenizer.ggml.token_type") {
        Some(_) => g.get_ints("tokenizer.ggml.token_type")?,
        None => vec![1; tokens.len()],
    };
    if types.len() != tokens.len() {
        return Err(bad(format!("{} token types for {} tokens", types.len(), tokens.len())));
    }
    let merges = g.get_strings("tokenizer.ggml.merges")?;
    let mut vocab = serde_json::Map::with_capacity(tokens.len());
    let mut added = Vec::new();
    for (id, (&token, &kind)) in tokens.iter().zip(&types).enumerate() {
        if vocab.insert(token.to_string(), id.into()).is_some() {
            return Err(bad(format!("token {token:?} appears twice")));
        }
        if kind == 3 || kind == 4 {
            added.push(serde_json::json!({"id": id, "content": token, "single_word": false, "lstrip": false,
                "rstrip": false, "normalized": kind == 4, "special": kind == 3}));
        }
    }
    let token_of = |key: &str| -> Result<Option<(u64, String)>> {
        match g.metadata.get(key) {
            None => Ok(None),
            Some(_) => {
                let id = g.get_u64(key)?;
                let text = tokens.get(id as usize).ok_or_else(|| bad(format!("{key} = {id} is outside the vocabulary")))?;
                Ok(Some((id, text.to_string())))
            }
        }
    };
    let flag = |key: &str| g.metadata.get(key).and_then(|v| v.as_bool()).unwrap_or(false);
    // BOS, the text, EOS: each special token only where the GGUF asks for it.
    let mut single = Vec::new();
    let mut special = serde_json::Map::new();
    for (key, add) in [("tokenizer.ggml.bos_token_id", "tokenizer.ggml.add_bos_token"), ("", ""), ("tokenizer.ggml.eos_token_id", "tokenizer.ggml.add_eos_token")] {
        if key.is_empty() {
            single.push(serde_json::json!({"Sequence": {"id": "A", "type_id": 0}}));
            continue;
        }
        if !flag(add) {
            continue;
        }
        let (id, text) = token_of(key)?.ok_or_else(|| bad(format!("{add} is set but {key} is missing")))?;
        single.push(serde_json::json!({"SpecialToken": {"id": text, "type_id": 0}}));
        special.insert(text.clone(), serde_json::json!({"id": text, "ids": [id], "tokens": [text]}));
    }
    let post = if special.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::json!({"type": "TemplateProcessing", "single": single, "pair": single, "special_tokens": special})
    };
    let json = serde_json::json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": if pre_name == "qwen2" { serde_json::json!({"type": "NFC"}) } else { serde_json::Value::Null },
        "pre_tokenizer": pre,
        "post_processor": post,
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
            "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
            "vocab": vocab, "merges": merges},
    });
    Ok(json.to_string().into_bytes())
}

/// A `tokenizer_config.json` carrying the GGUF's chat template and BOS / EOS texts, for [`ChatTemplate`].
fn tokenizer_config_json(g: &Gguf) -> Result<Vec<u8>> {
    let tokens = g.get_strings("tokenizer.ggml.tokens")?;
    let text = |key: &str| g.get_u64(key).ok().and_then(|id| tokens.get(id as usize).map(|t| t.to_string()));
    let template = g.get_str("tokenizer.chat_template").map_err(|_| PalateError::MissingFile {
        file: g.file.clone(),
        detail: "the GGUF has no tokenizer.chat_template".into(),
    })?;
    Ok(serde_json::json!({
        "chat_template": template,
        "bos_token": text("tokenizer.ggml.bos_token_id"),
        "eos_token": text("tokenizer.ggml.eos_token_id"),
    })
    .to_string()
    .into_bytes())
}

/// A loaded causal LM.
pub struct CausalLm {
    decoder: DecoderScorer,
    tokenizer: Tokenizer,
    template: ChatTemplate,
}

impl CausalLm {
    /// Loads a llama-architecture GGUF onto `device`, every tensor dequantized to f32.
    pub fn from_gguf(g: &Gguf, device: &burn::tensor::Device) -> Result<Self> {
        let config = LlamaGgufConfig::from_gguf(g)?;
        let tokenizer_bytes = tokenizer_json(g)?;
        let mut tokenizer = crate::pipelines::text::load_tokenizer(&tokenizer_bytes, &g.file)?;
        tokenizer.with_padding(None);
        tokenizer.with_truncation(None).map_err(|e| PalateError::InvalidTokenizer { file: g.file.clone(), detail: e.to_string() })?;
        let template = ChatTemplate::from_files(Some(&tokenizer_config_json(g)?), None)?;
        let decoder = DecoderScorer::load_shards(&config.config_json(), llama_gguf::shards(g, &config)?, device, None)?;
        Ok(Self { decoder, tokenizer, template })
    }

    pub fn decoder(&self) -> &DecoderScorer {
        &self.decoder
    }

    /// The model's context length in tokens.
    pub fn context(&self) -> usize {
        self.decoder.config.max_position_embeddings
    }

    /// `text` → ids, with the tokenizer's default special tokens (a BOS where the GGUF asks for one).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        crate::limits::check_texts(&[text])?;
        let encoding = self.tokenizer.encode(text, true).map_err(|e| PalateError::Tokenize(e.to_string()))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// A conversation through the model's chat template (no generation prompt).
    pub fn render(&self, messages: &[Message]) -> Result<String> {
        self.template.render(messages)
    }

    /// `log p(ids[i] | ids[..i])` for `i ≥ 1`, one sequence at a time (a batch of long texts would
    /// hold `batch × seq × vocab` logits at once).
    pub async fn logprobs(&self, ids: &[u32]) -> Result<Vec<f32>> {
        if ids.len() > self.context() {
            return Err(PalateError::InvalidInput(format!("the text is {} tokens long; the model reads at most {}", ids.len(), self.context())));
        }
        let mut out = self.decoder.token_logprobs(&[ids.to_vec()]).await?;
        let logprobs = out.pop().unwrap_or_default();
        crate::limits::check_finite(&logprobs, "log-probability")?;
        Ok(logprobs)
    }

    /// FLR reward of each reply to `prompt` after `history` (see the module doc). Each follow-up is
    /// scored from the first token where it differs from the conversation that ends at the reply.
    pub async fn follow_up_reward(&self, history: &[Message], prompt: &str, replies: &[String]) -> Result<Vec<f32>> {
        crate::limits::check_texts(replies)?;
        let mut rewards = Vec::with_capacity(replies.len());
        for (r, reply) in replies.iter().enumerate() {
            let mut base = history.to_vec();
            base.extend([Message::new("user", prompt), Message::new("assistant", reply)]);
            let prefix = self.encode(&self.render(&base)?)?;
            let mut sequences = Vec::with_capacity(POSITIVE.len() + NEGATIVE.len());
            for follow in POSITIVE.iter().chain(&NEGATIVE) {
                let mut messages = base.clone();
                messages.push(Message::new("user", follow));
                let ids = self.encode(&self.render(&messages)?)?;
                if ids.len() > self.context() {
                    return Err(PalateError::InvalidInput(format!(
                        "reply {}: the conversation with its follow-up is {} tokens; the model reads at most {}",
                        r + 1,
                        ids.len(),
                        self.context()
                    )));
                }
                sequences.push(ids);
            }
            // Every follow-up shares the conversation up to the reply; the head runs from the
            // first token where any of them differs.
            let same = |ids: &[u32]| ids.iter().zip(&prefix).take_while(|(a, b)| a == b).count();
            let from = sequences.iter().map(|s| same(s)).min().unwrap_or(0).max(1);
            let logprobs = self.decoder.token_logprobs_from(&sequences, from).await?;
            let sums: Vec<f64> = sequences
                .iter()
                .zip(&logprobs)
                .map(|(ids, lp)| lp[same(ids).max(1) - from..].iter().map(|&v| v as f64).sum())
                .collect();
            let (pos, neg) = sums.split_at(POSITIVE.len());
            let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
            rewards.push((mean(pos) - mean(neg)) as f32);
        }
        crate::limits::check_finite(&rewards, "follow-up likelihood")?;
        Ok(rewards)
    }

    #[cfg(not(target_family = "wasm"))]
    pub fn logprobs_blocking(&self, ids: &[u32]) -> Result<Vec<f32>> {
        pollster::block_on(self.logprobs(ids))
    }

    #[cfg(not(target_family = "wasm"))]
    pub fn follow_up_reward_blocking(&self, history: &[Message], prompt: &str, replies: &[String]) -> Result<Vec<f32>> {
        pollster::block_on(self.follow_up_reward(history, prompt, replies))
    }
}
