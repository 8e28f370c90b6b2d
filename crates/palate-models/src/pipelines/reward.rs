//! A reward model end to end: (prompt, response) → the model's chat text → token ids → score.
//! The folder is a Hugging Face one: config.json, tokenizer.json, the chat template
//! (tokenizer_config.json or chat_template.jinja) and model.safetensors, or shards listed in
//! model.safetensors.index.json.

use tokenizers::Tokenizer;

use crate::pipelines::chat::{ChatTemplate, Message};
use crate::models::decoder::{DecoderScorer, DecoderWeights};
use crate::error::{PalateError, Result};
use crate::io::files::names;
use crate::io::pack::{Pack, PackKind, StoredPrecision};

pub const WEIGHTS_INDEX: &str = "model.safetensors.index.json";

/// Responses scored per forward pass.
pub const BATCH: usize = 8;

/// The bytes of a reward-model folder.
pub struct RewardFiles {
    pub config: Vec<u8>,
    pub tokenizer: Vec<u8>,
    pub tokenizer_config: Option<Vec<u8>>,
    pub chat_template: Option<Vec<u8>>,
    pub weights: DecoderWeights,
}

impl RewardFiles {
    /// Reads a folder; a shard named in the index but absent is a `MissingFile` naming it.
    #[cfg(not(target_family = "wasm"))]
    pub fn from_dir(dir: impl AsRef<std::path::Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let read = |name: &str| -> Result<Vec<u8>> {
            let path = dir.join(name);
            std::fs::read(&path).map_err(|e| {
                let file = path.display().to_string();
                if e.kind() == std::io::ErrorKind::NotFound {
                    PalateError::MissingFile { file, detail: "no such file".into() }
                } else {
                    PalateError::Io { file, detail: e.to_string() }
                }
            })
        };
        let optional = |name: &str| -> Result<Option<Vec<u8>>> {
            if dir.join(name).exists() { read(name).map(Some) } else { Ok(None) }
        };
        let weights = if dir.join(names::WEIGHTS).exists() {
            DecoderWeights::Single(read(names::WEIGHTS)?)
        } else if dir.join(WEIGHTS_INDEX).exists() {
            let shards = shard_names(&read(WEIGHTS_INDEX)?)?;
            DecoderWeights::Sharded(shards.into_iter().map(|s| Ok((s.clone(), read(&s)?))).collect::<Result<_>>()?)
        } else {
            return Err(PalateError::MissingFile {
                file: dir.join(names::WEIGHTS).display().to_string(),
                detail: format!("no {} and no {WEIGHTS_INDEX}", names::WEIGHTS),
            });
        };
        Ok(Self {
            config: read(names::CONFIG)?,
            tokenizer: read(names::TOKENIZER)?,
            tokenizer_config: optional(crate::pipelines::chat::TOKENIZER_CONFIG)?,
            chat_template: optional(crate::pipelines::chat::CHAT_TEMPLATE)?,
            weights,
        })
    }
}

/// The distinct shard files of a `model.safetensors.index.json`, in order of first mention.
pub fn shard_names(index: &[u8]) -> Result<Vec<String>> {
    #[derive(serde::Deserialize)]
    struct Index {
        weight_map: std::collections::BTreeMap<String, String>,
    }
    let index: Index = serde_json::from_slice(index)
        .map_err(|e| PalateError::InvalidJson { file: WEIGHTS_INDEX.into(), detail: e.to_string() })?;
    let mut shards: Vec<String> = Vec::new();
    for file in index.weight_map.into_values() {
        if file.contains('/') || file.contains("..") {
            return Err(PalateError::InvalidConfig { file: WEIGHTS_INDEX.into(), detail: format!("shard name {file:?} is not a file name") });
        }
        if !shards.contains(&file) {
            shards.push(file);
        }
    }
    if shards.is_empty() {
        return Err(PalateError::InvalidConfig { file: WEIGHTS_INDEX.into(), detail: "weight_map names no shard".into() });
    }
    Ok(shards)
}

/// The chat template and the tokenizer (no padding, no truncation: the model sees the whole text).
fn text_side(tokenizer: &[u8], tokenizer_config: Option<&[u8]>, chat_template: Option<&[u8]>) -> Result<(ChatTemplate, Tokenizer)> {
    let template = ChatTemplate::from_files(tokenizer_config, chat_template)?;
    let mut tokenizer = crate::pipelines::text::load_tokenizer(tokenizer, names::TOKENIZER)?;
    tokenizer.with_padding(None);
    tokenizer
        .with_truncation(None)
        .map_err(|e| PalateError::InvalidTokenizer { file: names::TOKENIZER.into(), detail: e.to_string() })?;
    Ok((template, tokenizer))
}

/// A loaded reward model.
pub struct RewardModel {
    scorer: DecoderScorer,
    tokenizer: Tokenizer,
    template: ChatTemplate,
}

impl RewardModel {
    pub fn load(files: RewardFiles, device: &burn::tensor::Device) -> Result<Self> {
        Self::load_with_binding_limit(files, device, None)
    }

    /// See [`DecoderScorer::load_with_binding_limit`]: a token-embedding table larger than one GPU
    /// storage binding stays on the CPU.
    pub fn load_with_binding_limit(files: RewardFiles, device: &burn::tensor::Device, max_binding_bytes: Option<u64>) -> Result<Self> {
        let (template, tokenizer) = text_side(&files.tokenizer, files.tokenizer_config.as_deref(), files.chat_template.as_deref())?;
        let scorer = DecoderScorer::load_with_binding_limit(&files.config, files.weights, device, max_binding_bytes)?;
        Ok(Self { scorer, tokenizer, template })
    }

    /// Loads a reward-model `.bpk` ([`crate::io::pack`]); the binding limit as in
    /// [`Self::load_with_binding_limit`].
    pub fn from_pack(pack: &Pack, device: &burn::tensor::Device, max_binding_bytes: Option<u64>) -> Result<Self> {
        pack.expect_kind(PackKind::RewardModel)?;
        let (template, tokenizer) = text_side(
            &pack.required(names::TOKENIZER)?,
            pack.file(crate::pipelines::chat::TOKENIZER_CONFIG),
            pack.file(crate::pipelines::chat::CHAT_TEMPLATE),
        )?;
        let scorer = DecoderScorer::from_pack(pack, device, max_binding_bytes)?;
        Ok(Self { scorer, tokenizer, template })
    }

    /// The `.bpk` bytes of the model loaded from `files` ([`crate::io::pack`]); q8 / q4 quantize the
    /// linear weights first.
    pub fn to_pack(self, files: &RewardFiles, precision: StoredPrecision) -> Result<Vec<u8>> {
        let mut carried: Vec<(&str, &[u8])> = vec![(names::CONFIG, &files.config), (names::TOKENIZER, &files.tokenizer)];
        if let Some(bytes) = &files.tokenizer_config {
            carried.push((crate::pipelines::chat::TOKENIZER_CONFIG, bytes));
        }
        if let Some(bytes) = &files.chat_template {
            carried.push((crate::pipelines::chat::CHAT_TEMPLATE, bytes));
        }
        self.scorer.to_pack(precision, &carried)
    }

    /// Quantizes the scorer's linear weights ([`crate::nn::quantize`]).
    pub fn quantize(mut self, precision: crate::nn::quantize::Precision) -> Result<Self> {
        self.scorer = self.scorer.quantize(precision)?;
        Ok(self)
    }

    pub fn scorer(&self) -> &DecoderScorer {
        &self.scorer
    }

    /// The training text of a one-turn conversation.
    pub fn format(&self, prompt: &str, response: &str) -> Result<String> {
        self.template.render(&[Message::new("user", prompt), Message::new("assistant", response)])
    }

    /// Token ids of a rendered conversation (the template already holds every special token).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let encoding = self.tokenizer.encode(text, false).map_err(|e| PalateError::Tokenize(e.to_string()))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// One score per response to `prompt`, in order; responses are batched [`BATCH`] at a time.
    /// A conversation longer than the model's context is an error naming the response.
    pub async fn score(&self, prompt: &str, responses: &[String]) -> Result<Vec<f32>> {
        self.score_conversation(&[], prompt, responses).await
    }

    /// As [`Self::score`], after the earlier turns `history` (user and assistant messages), all
    /// rendered through the model's chat template.
    pub async fn score_conversation(&self, history: &[Message], prompt: &str, responses: &[String]) -> Result<Vec<f32>> {
        let context = self.scorer.config.max_position_embeddings;
        crate::limits::check_texts(responses)?;
        crate::limits::check_texts(&[prompt])?;
        let mut ids = Vec::with_capacity(responses.len());
        for (i, r) in responses.iter().enumerate() {
            let mut messages = history.to_vec();
            messages.extend([Message::new("user", prompt), Message::new("assistant", r)]);
            let seq = self.encode(&self.template.render(&messages)?)?;
            if seq.len() > context {
                return Err(PalateError::InvalidInput(format!(
                    "response {}: the conversation is {} tokens long; this model reads at most {context}",
                    i + 1,
                    seq.len()
                )));
            }
            ids.push(seq);
        }
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(BATCH) {
            out.extend(self.scorer.score_ids(chunk).await?);
        }
        crate::limits::check_finite(&out, "score")?;
        Ok(out)
    }

    #[cfg(not(target_family = "wasm"))]
    pub fn score_blocking(&self, prompt: &str, responses: &[String]) -> Result<Vec<f32>> {
        pollster::block_on(self.score(prompt, responses))
    }
}

/// Whatever scores replies for a ranking: a sequence-classification reward model, or a causal LM
/// through follow-up likelihood ([`crate::pipelines::causal`]).
pub enum Rewarder {
    Classifier(RewardModel),
    FollowUp(crate::pipelines::causal::CausalLm),
}

impl Rewarder {
    /// One reward per response to `prompt` after `history`, in order.
    pub async fn score_conversation(&self, history: &[Message], prompt: &str, responses: &[String]) -> Result<Vec<f32>> {
        match self {
            Self::Classifier(rm) => rm.score_conversation(history, prompt, responses).await,
            Self::FollowUp(lm) => lm.follow_up_reward(history, prompt, responses).await,
        }
    }

    #[cfg(not(target_family = "wasm"))]
    pub fn score_conversation_blocking(&self, history: &[Message], prompt: &str, responses: &[String]) -> Result<Vec<f32>> {
        pollster::block_on(self.score_conversation(history, prompt, responses))
    }

    /// What the reward is, for reports: "reward model" or "follow-up likelihood".
    pub fn describe(&self) -> &'static str {
        match self {
            Self::Classifier(_) => "the reward model",
            Self::FollowUp(_) => "follow-up likelihood (FLR)",
        }
    }
}
