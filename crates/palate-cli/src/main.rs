//! `palate`: Palate's models from the command line, on the same code path as the browser.

mod pairs;
mod personal;
mod plot;

use std::collections::HashMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use palate_models::io::gguf::Gguf;
use palate_models::pipelines::causal::CausalLm;
use palate_models::pipelines::reward::{RewardFiles, RewardModel, Rewarder};
use palate_models::{BackendKind, ModelFiles, Pack, PalateError, Precision, SentenceEmbedder, StoredPrecision, device};
use palate_personal::PersonalError;
use palate_personal::basis::BasisConfig;
use palate_personal::eval::Strategy;
use palate_personal::features::{ReplyEmbedding, split_sentences};

#[derive(Parser)]
#[command(name = "palate", version, about = "Reward models and personal taste, on your own machine")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Sentence embeddings of TEXTs (or of stdin, one text per line).
    Embed {
        /// A Hugging Face model folder (config.json, tokenizer.json, model.safetensors, …) or a `.bpk` from `palate convert`.
        #[arg(long)]
        model: PathBuf,
        /// Where to run: cpu (burn Flex) or wgpu (Vulkan/Metal/DX12).
        #[arg(long, default_value = "cpu", value_parser = parse_backend)]
        backend: BackendKind,
        /// Weight precision in memory: f32, or weight-only q8 / q4 (block 32) for the linear layers.
        #[arg(long, default_value = "f32", value_parser = parse_precision)]
        quantize: Precision,
        /// Print a JSON array, one object per text: {"text", "ids", "embedding"}.
        #[arg(long)]
        json: bool,
        /// Texts to embed; when none are given, read stdin, one text per line.
        texts: Vec<String>,
    },
    /// Reward-model scores of RESPONSEs to PROMPT: a Qwen3 / Llama sequence-classification model, or
    /// a causal LM's GGUF scored by follow-up likelihood (FLR).
    Score {
        /// A Hugging Face reward-model folder (config.json, tokenizer.json, chat template, weights),
        /// a `.bpk`, or a llama-architecture `.gguf` (FLR).
        #[arg(long)]
        model: PathBuf,
        #[arg(long)]
        prompt: String,
        /// A candidate response; repeat for several.
        #[arg(long = "response", required = true)]
        responses: Vec<String>,
        /// Print [{"response", "score"}] as JSON.
        #[arg(long)]
        json: bool,
        #[arg(long, default_value = "cpu", value_parser = parse_backend)]
        backend: BackendKind,
        /// Weight precision in memory: f32, or weight-only q8 / q4 (block 32) for the linear layers.
        #[arg(long, default_value = "f32", value_parser = parse_precision)]
        quantize: Precision,
    },
    /// Rank RESPONSEs to PROMPT as the browser does for a user: the taste file's shared reward and
    /// features, the optional reward model, and the user's stored profile (their answers).
    Rerank {
        /// A sentence-encoder folder or `.bpk`.
        #[arg(long)]
        model: PathBuf,
        /// A reward-model folder or `.bpk`, or a causal LM's `.gguf` (follow-up likelihood).
        #[arg(long)]
        reward_model: Option<PathBuf>,
        /// Taste file (default: the model's palate-taste.json).
        #[arg(long)]
        taste: Option<PathBuf>,
        /// A profile exported by the browser (`exportProfile()`): the user's answers so far.
        #[arg(long)]
        profile: Option<PathBuf>,
        #[arg(long)]
        prompt: String,
        /// A candidate response; repeat for several.
        #[arg(long = "response", required = true)]
        responses: Vec<String>,
        /// Print the ranking as JSON: [{"index", "response", "reward", "uncertainty", "explanation", "contributions"}], best first.
        #[arg(long)]
        json: bool,
        #[arg(long, default_value = "cpu", value_parser = parse_backend)]
        backend: BackendKind,
    },
    /// Per-token log-probabilities of TEXTs under a causal LM from a GGUF file: log p(ids[i] | ids[<i]).
    Logprobs {
        /// A llama-architecture `.gguf` (e.g. SmolLM2-135M-Instruct, from scripts/fetch-model.sh smollm2).
        #[arg(long)]
        model: PathBuf,
        #[arg(long, default_value = "cpu", value_parser = parse_backend)]
        backend: BackendKind,
        /// Print one JSON array of {"text", "ids", "logprobs"} (logprobs[0] is null).
        #[arg(long)]
        json: bool,
        /// Texts, each encoded with the tokenizer's default special tokens.
        #[arg(required = true)]
        texts: Vec<String>,
    },
    /// Write a model folder (a sentence encoder or a reward model) as one `.bpk` file, quantized or
    /// not, carrying its config and tokenizer: `embed` / `score --model FILE.bpk` and the browser
    /// load it directly.
    Convert {
        /// Hugging Face model folder.
        #[arg(long)]
        model: PathBuf,
        /// How to store the weights: f32, f16, or q8 / q4 linear layers (block 32) with f16 for the rest.
        #[arg(long, default_value = "q8", value_parser = parse_stored_precision)]
        quantize: StoredPrecision,
        /// The file to write (conventionally NAME.PRECISION.bpk).
        #[arg(long)]
        out: PathBuf,
    },
    /// Learn the shared taste basis and population prior from many users' choices; writes a
    /// taste file (install it as MODEL/palate-taste.json).
    TrainBasis {
        #[arg(long)]
        model: PathBuf,
        /// JSON lines: {"user", "prompt", "chosen", "rejected", "split"} (both splits are used).
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// Number of basis directions.
        #[arg(long, default_value_t = 6)]
        rank: usize,
        /// VLM-RM partial projection strength α of the principle heads, in [0, 1].
        #[arg(long, default_value_t = palate_personal::features::DEFAULT_ALPHA)]
        alpha: f64,
        /// JSON list of {"name", "label", "goal", "baseline"} replacing the default principles.
        #[arg(long)]
        principles: Option<PathBuf>,
        /// Alternation rounds after the initialisation (0: the PCA initialisation alone).
        #[arg(long, default_value_t = BasisConfig::default().rounds)]
        rounds: usize,
        /// Prior variance of embedding-space user weights in the initialisation (smaller: smoother basis).
        #[arg(long, default_value_t = BasisConfig::default().init_prior_variance)]
        init_variance: f64,
        /// Leave the bag of token embeddings out of the basis (sentence embeddings only).
        #[arg(long)]
        no_token_bag: bool,
        /// Kinds of users in the prior (a Gaussian mixture over their weights): a number, or
        /// chosen by BIC up to 8 when left out. 1 is a single Gaussian.
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..=64))]
        prior_components: Option<u16>,
        /// Laplace-EM rounds refitting the prior to the users' choices (each user with their own
        /// uncertainty) after fitting it to their point estimates; 0 keeps the point-estimate fit.
        #[arg(long, default_value_t = BasisConfig::default().prior_em_rounds)]
        prior_em_rounds: usize,
        /// Importance samples per user and kind in each EM round (0: the Laplace approximation's
        /// moments, which shrink the prior's spread somewhat for binary choices).
        #[arg(long, default_value_t = BasisConfig::default().prior_em_samples)]
        prior_em_samples: usize,
        /// What the data is, recorded in the taste file (default: its name and size).
        #[arg(long)]
        description: Option<String>,
        #[arg(long, default_value = "cpu", value_parser = parse_backend)]
        backend: BackendKind,
    },
    /// Pairwise accuracy on human preference pairs: each pair ranked as a new user's `rerank`
    /// ranks it (no answers yet), right when the human-preferred reply comes first; per source,
    /// with 95% bootstrap intervals and the baselines "longer reply wins" and "reply closer to
    /// the prompt".
    EvalPairs {
        /// A sentence-encoder folder or `.bpk`.
        #[arg(long)]
        model: PathBuf,
        /// A reward-model folder or `.bpk`, or a causal LM's `.gguf` (follow-up likelihood): its
        /// score becomes a feature with prior weight 1, each pair's earlier turns reach it through
        /// its chat template, and its accuracy alone is reported as the baseline "reward-model".
        #[arg(long)]
        reward_model: Option<PathBuf>,
        /// Taste file (default: the model's palate-taste.json).
        #[arg(long)]
        taste: Option<PathBuf>,
        /// JSON lines (`.jsonl` or `.jsonl.gz`): {"source", "user", "context", "prompt", "chosen", "rejected"}.
        #[arg(long, required = true, num_args = 1..)]
        data: Vec<PathBuf>,
        /// Score only the held-out conversations (the 20% `train-reward` never trains on).
        #[arg(long)]
        held_out: bool,
        /// At most N pairs of each source, a deterministic sample spread over the data (for slow
        /// reward models).
        #[arg(long, value_name = "N")]
        per_source: Option<usize>,
        /// Print {"pairs", "accuracy", "ci95", "by_source": {name: {"pairs", "accuracy", "ci95", "baselines"}}, "baselines"}.
        #[arg(long)]
        json: bool,
        /// Keep embeddings in this file between runs (made for this model only).
        #[arg(long)]
        cache: Option<PathBuf>,
        #[arg(long, default_value = "cpu", value_parser = parse_backend)]
        backend: BackendKind,
    },
    /// Learn the shared reward, every new user's starting point, from human preference pairs
    /// (their held-out 20% of conversations excluded), and write it into a taste file.
    TrainReward {
        #[arg(long)]
        model: PathBuf,
        /// The taste file whose principle heads and basis are kept (default: the model's).
        #[arg(long)]
        taste: Option<PathBuf>,
        #[arg(long, required = true, num_args = 1..)]
        data: Vec<PathBuf>,
        #[arg(long)]
        out: PathBuf,
        /// What the reward reads of (prompt, reply), comma-separated: reply, sentences, tokens,
        /// prompt-product, prompt-cosine, length.
        #[arg(long, value_delimiter = ',', value_parser = pairs::parse_blocks,
              default_value = "reply,sentences,tokens,length")]
        blocks: Vec<palate_personal::shared::Block>,
        /// Plain properties a user's answers may weigh their own way (personal features after
        /// the shared reward), comma-separated: length, prompt-cosine; "none" for none.
        #[arg(long, value_delimiter = ',', value_parser = parse_cue, default_value = "length,prompt-cosine")]
        cues: Vec<Option<palate_personal::shared::Block>>,
        /// Prior variance of a user's weights on the cues (mean 0).
        #[arg(long, default_value_t = 0.25)]
        cue_variance: f64,
        /// L2 penalties to choose from on a validation part of the training conversations.
        #[arg(long, value_delimiter = ',', default_value = "30000,10000,3000,1000,300")]
        l2: Vec<f64>,
        /// Prior variance of a user's weight on the shared reward (its mean is 1).
        #[arg(long, default_value_t = 0.02)]
        shared_variance: f64,
        /// Prior variance of a user's weights on the principle heads and the taste basis (mean 0):
        /// small, because on real annotators these directions (fitted to simulated personas) do
        /// not generalise and large weights on them made answers hurt (bench/REAL.md).
        #[arg(long, default_value_t = 0.005)]
        personal_variance: f64,
        /// Where the reward was learned, in plain words (shown in explanations).
        #[arg(long)]
        description: Option<String>,
        #[arg(long)]
        cache: Option<PathBuf>,
        /// Also write the training pairs' feature differences to this file (raw f64 rows; a
        /// .json beside it names each row's source), for analysis outside Palate.
        #[arg(long)]
        export: Option<PathBuf>,
        #[arg(long, default_value = "cpu", value_parser = parse_backend)]
        backend: BackendKind,
    },
    /// Few-shot personalisation accuracy: after k answers from each user's train pairs, accuracy
    /// on their test pairs, for k = 0..=max-k.
    EvalPersonal {
        #[arg(long)]
        model: PathBuf,
        /// JSON lines: {"user", "prompt", "chosen", "rejected", "split": "train"|"test"}; or
        /// annotated pairs (`.jsonl.gz`, {"source", "user", "prompt", …}), where each annotator
        /// is a user and half of the prompts (the same for all) are the answers, half the test.
        #[arg(long, required = true, num_args = 1..)]
        data: Vec<PathBuf>,
        /// Keep embeddings in this file between runs (annotated pairs only).
        #[arg(long)]
        cache: Option<PathBuf>,
        /// Taste file (default: MODEL/palate-taste.json).
        #[arg(long)]
        taste: Option<PathBuf>,
        /// Comma-separated: active, random, none.
        #[arg(long, default_value = "active,random,none", value_delimiter = ',', value_parser = parse_strategy)]
        strategies: Vec<Strategy>,
        #[arg(long, default_value_t = 20)]
        max_k: usize,
        /// Random orders averaged for the random strategy.
        #[arg(long, default_value_t = 5)]
        seeds: u64,
        /// Print {"users", "pairs", "accuracy": {strategy: [k = 0..=max-k]}, "answers_to_reach_85"}.
        #[arg(long)]
        json: bool,
        /// Also draw the accuracy curves as SVG.
        #[arg(long)]
        plot: Option<PathBuf>,
        #[arg(long, default_value = "cpu", value_parser = parse_backend)]
        backend: BackendKind,
    },
}

fn parse_backend(s: &str) -> Result<BackendKind, String> {
    s.parse().map_err(|e: PalateError| e.to_string())
}

fn parse_precision(s: &str) -> Result<Precision, String> {
    s.parse().map_err(|e: PalateError| e.to_string())
}

fn parse_stored_precision(s: &str) -> Result<StoredPrecision, String> {
    s.parse().map_err(|e: PalateError| e.to_string())
}

fn parse_cue(s: &str) -> Result<Option<palate_personal::shared::Block>, String> {
    if s.trim() == "none" {
        return Ok(None);
    }
    pairs::parse_blocks(s).map(Some)
}

fn parse_strategy(s: &str) -> Result<Strategy, String> {
    s.parse().map_err(|e: PersonalError| e.to_string())
}

/// Everything that can go wrong, worded for the person at the terminal.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Model(#[from] PalateError),
    #[error(transparent)]
    Personal(#[from] PersonalError),
    #[error("{file}: {detail}")]
    Io { file: String, detail: String },
    #[error("{file}:{line}: {detail}")]
    Data { file: String, line: usize, detail: String },
    #[error("{0}")]
    Usage(String),
}

impl From<palate::Error> for CliError {
    fn from(e: palate::Error) -> Self {
        match e {
            palate::Error::Model(e) => Self::Model(e),
            palate::Error::Taste(e) => Self::Personal(e),
            other => Self::Usage(other.to_string()),
        }
    }
}

#[derive(serde::Serialize)]
struct EmbedRow<'a> {
    text: &'a str,
    ids: &'a [u32],
    embedding: &'a [f32],
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn load(model: &PathBuf, backend: BackendKind) -> Result<(SentenceEmbedder, ModelFiles), CliError> {
    let device = pollster::block_on(device::device(backend))?;
    let files = ModelFiles::from_dir(model)?;
    let embedder = SentenceEmbedder::load(files.clone(), &device)?;
    Ok((embedder, files))
}

/// A sentence encoder (folder or `.bpk`), its fingerprint, and its taste file: `taste`, else the
/// one the pack carries or the folder's palate-taste.json.
fn load_with_taste(
    model: &std::path::Path,
    taste: Option<&std::path::Path>,
    backend: BackendKind,
) -> Result<(SentenceEmbedder, String, palate_personal::features::FeatureSpec), CliError> {
    let device = pollster::block_on(device::device(backend))?;
    let (embedder, fingerprint, packed) = if is_pack(model) {
        let pack = Pack::from_file(model)?;
        let fingerprint = pack.fingerprint.clone().ok_or_else(|| CliError::Usage(format!("{}: records no model fingerprint; re-run `palate convert`", model.display())))?;
        let packed = pack.file(palate_models::io::files::names::TASTE).map(|t| String::from_utf8_lossy(t).into_owned());
        (SentenceEmbedder::from_pack(&pack, &device)?, fingerprint, packed)
    } else {
        let files = ModelFiles::from_dir(model)?;
        let fingerprint = files.fingerprint();
        (SentenceEmbedder::load(files, &device)?, fingerprint, None)
    };
    let (file, json) = match (taste, packed) {
        (Some(path), _) => (path.display().to_string(), read_text(path)?),
        (None, Some(json)) => (format!("{} (its taste file)", model.display()), json),
        (None, None) => {
            let path = model.join(personal::TASTE_FILE);
            (path.display().to_string(), read_text(&path)?)
        }
    };
    let spec = palate_personal::features::FeatureSpec::from_json(&json).map_err(|e| CliError::Io { file: file.clone(), detail: e.to_string() })?;
    if spec.model != fingerprint {
        return Err(CliError::Io { file, detail: "this taste file was made for another model (its model fingerprint differs)".into() });
    }
    Ok((embedder, fingerprint, spec))
}

fn read_text(path: &std::path::Path) -> Result<String, CliError> {
    std::fs::read_to_string(path).map_err(|e| CliError::Io { file: path.display().to_string(), detail: e.to_string() })
}

/// A reward model (folder or `.bpk`), or a causal LM's GGUF scored by follow-up likelihood.
fn load_reward(model: &std::path::Path, backend: BackendKind) -> Result<Rewarder, CliError> {
    let device = pollster::block_on(device::device(backend))?;
    Ok(if is_gguf(model) {
        Rewarder::FollowUp(CausalLm::from_gguf(&Gguf::from_file(model)?, &device)?)
    } else if is_pack(model) {
        Rewarder::Classifier(RewardModel::from_pack(&Pack::from_file(model)?, &device, None)?)
    } else {
        Rewarder::Classifier(RewardModel::load(RewardFiles::from_dir(model)?, &device)?)
    })
}

/// Whether `--model` names a GGUF file (llama.cpp's format).
fn is_gguf(model: &std::path::Path) -> bool {
    model.is_file() && model.extension().is_some_and(|e| e == "gguf")
}

/// Whether `--model` names a `.bpk` file (from `palate convert`) rather than a folder.
fn is_pack(model: &std::path::Path) -> bool {
    model.is_file() && model.extension().is_some_and(|e| e == palate_models::io::pack::EXTENSION)
}

/// `palate rerank`: one ranking through [`palate::Ranker`] ([`pairs::rank`]), as `eval-pairs` and the browser rank.
#[allow(clippy::too_many_arguments)]
fn rerank(
    model: &std::path::Path,
    reward_model: Option<&std::path::Path>,
    taste: Option<&std::path::Path>,
    profile: Option<&std::path::Path>,
    prompt: &str,
    responses: &[String],
    json: bool,
    backend: BackendKind,
) -> Result<(), CliError> {
    let (embedder, fingerprint, spec) = load_with_taste(model, taste, backend)?;
    let reward = reward_model.map(|path| load_reward(path, backend)).transpose()?;
    let encoder = std::rc::Rc::new(pairs::CachedEncoder::new(&embedder, &fingerprint, None));
    let mut ranker = pollster::block_on(palate::Ranker::new(encoder, &fingerprint, spec, None))?;
    if let Some(reward) = reward {
        ranker.use_reward(std::rc::Rc::new(reward))?;
    }
    if let Some(path) = profile {
        let text = std::fs::read_to_string(path).map_err(|e| CliError::Io { file: path.display().to_string(), detail: e.to_string() })?;
        ranker.import_profile(&text)?;
    }
    let (ranked, _) = pairs::rank(&ranker, &[], prompt, responses)?;
    let mut out = std::io::stdout().lock();
    let write_err = |e: std::io::Error| CliError::Io { file: "<stdout>".into(), detail: e.to_string() };
    if json {
        let rows: Vec<serde_json::Value> = ranked
            .iter()
            .map(|r| {
                serde_json::json!({"index": r.index, "response": responses[r.index], "reward": r.reward,
                    "uncertainty": r.uncertainty, "explanation": r.explanation, "contributions": r.contributions})
            })
            .collect();
        writeln!(out, "{}", serde_json::Value::Array(rows)).map_err(write_err)?;
    } else {
        for (rank, r) in ranked.iter().enumerate() {
            let text = &responses[r.index];
            let head: String = text.chars().take(60).collect();
            let more = if text.chars().count() > 60 { "…" } else { "" };
            writeln!(out, "{}. [{}] {:+.3} ± {:.3}  {head}{more}\n   {}", rank + 1, r.index, r.reward, r.uncertainty, r.explanation).map_err(write_err)?;
        }
    }
    Ok(())
}

/// `palate logprobs`: each text's ids and per-token log-probabilities.
fn logprobs(model: PathBuf, backend: BackendKind, json: bool, texts: Vec<String>) -> Result<(), CliError> {
    if !is_gguf(&model) {
        return Err(CliError::Usage(format!("{}: --model must be a .gguf file", model.display())));
    }
    let device = pollster::block_on(device::device(backend))?;
    let lm = CausalLm::from_gguf(&Gguf::from_file(&model)?, &device)?;
    let mut rows = Vec::with_capacity(texts.len());
    for text in &texts {
        let ids = lm.encode(text)?;
        let lp = if ids.is_empty() { Vec::new() } else { lm.logprobs_blocking(&ids)? };
        let logprobs: Vec<Option<f32>> = (!ids.is_empty()).then_some(None).into_iter().chain(lp.into_iter().map(Some)).collect();
        rows.push(serde_json::json!({ "text": text, "ids": ids, "logprobs": logprobs }));
    }
    let mut out = std::io::stdout().lock();
    let write_err = |e: std::io::Error| CliError::Io { file: "<stdout>".into(), detail: e.to_string() };
    if json {
        writeln!(out, "{}", serde_json::Value::Array(rows)).map_err(write_err)?;
    } else {
        for row in &rows {
            let lp: Vec<f64> = row["logprobs"].as_array().map(|a| a.iter().filter_map(|v| v.as_f64()).collect()).unwrap_or_default();
            writeln!(out, "{} tokens\tsum log p {:+.3}\t{}", lp.len() + 1, lp.iter().sum::<f64>(), row["text"].as_str().unwrap_or_default()).map_err(write_err)?;
        }
    }
    Ok(())
}

/// `palate convert`: one `.bpk` file from a model folder, with sizes on stderr.
fn convert(model: PathBuf, precision: StoredPrecision, out: PathBuf) -> Result<(), CliError> {
    let source: u64 = std::fs::read_dir(&model)
        .map(|entries| entries.filter_map(|e| e.ok()?.metadata().ok()).filter(|m| m.is_file()).map(|m| m.len()).sum())
        .unwrap_or(0);
    eprintln!("loading {} …", model.display());
    let (kind, bytes) = palate_models::convert::convert_dir(&model, precision)?;
    let tmp = out.with_extension("bpk.part");
    std::fs::write(&tmp, &bytes)
        .and_then(|()| std::fs::rename(&tmp, &out))
        .map_err(|e| CliError::Io { file: out.display().to_string(), detail: e.to_string() })?;
    eprintln!(
        "wrote {} ({}, {}): {:.1} MB, {:.2}× the folder's {:.1} MB",
        out.display(),
        kind.as_str(),
        precision.as_str(),
        bytes.len() as f64 / 1e6,
        bytes.len() as f64 / source.max(1) as f64,
        source as f64 / 1e6
    );
    Ok(())
}

fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Embed { model, backend, quantize, json, texts } => embed(model, backend, quantize, json, texts),
        Command::Score { model, prompt, responses, json, backend, quantize } => {
            score(model, backend, quantize, prompt, responses, json)
        }
        Command::Convert { model, quantize, out } => convert(model, quantize, out),
        Command::Logprobs { model, backend, json, texts } => logprobs(model, backend, json, texts),
        Command::Rerank { model, reward_model, taste, profile, prompt, responses, json, backend } => {
            rerank(&model, reward_model.as_deref(), taste.as_deref(), profile.as_deref(), &prompt, &responses, json, backend)
        }
        Command::TrainBasis { model, data, out, rank, alpha, principles, rounds, init_variance, prior_components, prior_em_rounds, prior_em_samples, no_token_bag, description, backend } => {
            let (embedder, files) = load(&model, backend)?;
            let args = personal::TrainArgs {
                data,
                out,
                rank,
                alpha,
                principles,
                description,
                rounds,
                init_variance,
                prior_components: prior_components.map(usize::from),
                prior_em_rounds,
                prior_em_samples,
                token_bag: !no_token_bag,
            };
            personal::train_basis(args, &embedder, &files)
        }
        Command::EvalPairs { model, reward_model, taste, data, held_out, per_source, json, cache, backend } => {
            let (embedder, fingerprint, spec) = load_with_taste(&model, taste.as_deref(), backend)?;
            let reward = match reward_model {
                Some(path) => Some(load_reward(&path, backend)?),
                None => None,
            };
            pairs::eval_pairs(pairs::EvalPairsArgs { data, held_out, per_source, json, cache }, &embedder, &fingerprint, spec, reward.map(std::rc::Rc::new))
        }
        Command::TrainReward { model, taste, data, out, blocks, cues, cue_variance, l2, shared_variance, personal_variance, description, cache, export, backend } => {
            let (embedder, fingerprint, spec) = load_with_taste(&model, taste.as_deref(), backend)?;
            let cues = cues.into_iter().flatten().collect();
            let args = pairs::TrainRewardArgs { data, blocks, cues, cue_variance, l2, personal_variance, shared_variance, description, out, cache, export };
            pairs::train_reward(args, &embedder, &fingerprint, spec)
        }
        Command::EvalPersonal { model, data, taste, strategies, max_k, seeds, json, plot, backend, cache } => {
            if data.iter().all(|d| pairs::is_pairs_file(d)) {
                let (embedder, fingerprint, spec) = load_with_taste(&model, taste.as_deref(), backend)?;
                let args = pairs::AnnotatorArgs { data, strategies, max_k, seeds, json, cache };
                return pairs::eval_annotators(args, &embedder, &fingerprint, spec);
            }
            let [data] = <[PathBuf; 1]>::try_from(data).map_err(|_| CliError::Usage("give one --data file of {\"user\", …, \"split\"} lines".into()))?;
            let (embedder, files) = load(&model, backend)?;
            let args = personal::EvalArgs { model, data, taste, strategies, max_k, seeds, json, plot };
            personal::eval_personal(args, &embedder, &files)
        }
    }
}

/// A progress bar on stderr (hidden when stderr is not a terminal).
pub fn progress_bar(len: u64, template: &str) -> ProgressBar {
    ProgressBar::new(len).with_style(ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()))
}

/// Embeds `texts` in chunks, with a progress bar when there are many.
pub fn embed_all(embedder: &SentenceEmbedder, texts: &[String], what: &str) -> Result<Vec<Vec<f32>>, CliError> {
    const CHUNK: usize = 256;
    let bar = progress_bar(texts.len() as u64, &format!("embedding {what} {{bar:30}} {{pos}}/{{len}}, eta {{eta}}"));
    if texts.len() <= CHUNK {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    let mut out = Vec::with_capacity(texts.len());
    for chunk in texts.chunks(CHUNK) {
        out.extend(embedder.embed_blocking(chunk)?.into_iter().map(|e| e.embedding));
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    Ok(out)
}

/// Embeds replies and their sentences (each distinct text once) for the taste features.
pub fn embed_replies(embedder: &SentenceEmbedder, replies: &[String]) -> Result<Vec<ReplyEmbedding>, CliError> {
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut unique: Vec<String> = Vec::new();
    let mut id = |t: &str| -> usize {
        *index.entry(t.to_string()).or_insert_with(|| {
            unique.push(t.to_string());
            unique.len() - 1
        })
    };
    let layout: Vec<(usize, Vec<usize>)> =
        replies.iter().map(|r| (id(r), split_sentences(r).iter().map(|t| id(t)).collect())).collect();
    let embedded = embed_all(embedder, &unique, "replies and sentences")?;
    let bags = embedder.token_bags_blocking(&embedder.tokenize(replies)?)?;
    Ok(layout
        .into_iter()
        .zip(bags)
        .zip(replies)
        .map(|(((w, ids), tokens), text)| ReplyEmbedding {
            whole: embedded[w].clone(),
            sentences: ids.iter().map(|&i| embedded[i].clone()).collect(),
            tokens,
            prompt: Vec::new(),
            chars: text.chars().count(),
        })
        .collect())
}

fn score(
    model: PathBuf,
    backend: BackendKind,
    precision: Precision,
    prompt: String,
    responses: Vec<String>,
    json: bool,
) -> Result<(), CliError> {
    let scores = match load_reward(&model, backend)? {
        Rewarder::Classifier(rm) => rm.quantize(precision)?.score_blocking(&prompt, &responses)?,
        lm @ Rewarder::FollowUp(_) => {
            if precision != Precision::F32 {
                return Err(CliError::Usage("--quantize applies to reward-model folders and packs; a GGUF keeps its own quantization".into()));
            }
            lm.score_conversation_blocking(&[], &prompt, &responses)?
        }
    };
    let mut out = std::io::stdout().lock();
    let write_err = |e: std::io::Error| CliError::Io { file: "<stdout>".into(), detail: e.to_string() };
    if json {
        let rows: Vec<serde_json::Value> =
            responses.iter().zip(&scores).map(|(r, s)| serde_json::json!({ "response": r, "score": s })).collect();
        writeln!(out, "{}", serde_json::Value::Array(rows)).map_err(write_err)?;
    } else {
        for (i, (r, s)) in responses.iter().zip(&scores).enumerate() {
            let head: String = r.chars().take(60).collect();
            writeln!(out, "{i}\t{s:+.4}\t{head}{}", if r.chars().count() > 60 { "…" } else { "" }).map_err(write_err)?;
        }
    }
    Ok(())
}

fn embed(
    model: PathBuf,
    backend: BackendKind,
    precision: Precision,
    json: bool,
    mut texts: Vec<String>,
) -> Result<(), CliError> {
    if texts.is_empty() {
        if std::io::stdin().is_terminal() {
            eprintln!("reading texts from stdin, one per line (Ctrl-D to finish)");
        }
        for line in std::io::stdin().lock().lines() {
            texts.push(line.map_err(|e| PalateError::Io { file: "<stdin>".into(), detail: e.to_string() })?);
        }
    }
    let embedder = if is_pack(&model) {
        let device = pollster::block_on(device::device(backend))?;
        SentenceEmbedder::from_pack(&Pack::from_file(&model)?, &device)?
    } else {
        load(&model, backend)?.0
    };
    let embedder = embedder.quantize(precision)?;

    // Chunks so that a long stdin shows progress (the bar hides itself when stderr is no terminal).
    const CHUNK: usize = 256;
    let progress = progress_bar(texts.len() as u64, "{bar:40} {pos}/{len} texts, {per_sec}, eta {eta}");
    if texts.len() <= CHUNK {
        progress.set_draw_target(ProgressDrawTarget::hidden());
    }
    let mut results = Vec::with_capacity(texts.len());
    for chunk in texts.chunks(CHUNK) {
        results.extend(embedder.embed_blocking(chunk)?);
        progress.inc(chunk.len() as u64);
    }
    progress.finish_and_clear();

    let mut out = std::io::stdout().lock();
    let write_err = |e: std::io::Error| PalateError::Io { file: "<stdout>".into(), detail: e.to_string() };
    if json {
        let rows: Vec<EmbedRow> = texts
            .iter()
            .zip(&results)
            .map(|(text, r)| EmbedRow { text, ids: &r.ids, embedding: &r.embedding })
            .collect();
        serde_json::to_writer(&mut out, &rows).map_err(|e| write_err(e.into()))?;
        writeln!(out).map_err(write_err)?;
    } else {
        for (i, r) in results.iter().enumerate() {
            let head: Vec<String> = r.embedding.iter().take(4).map(|x| format!("{x:+.4}")).collect();
            writeln!(out, "{i}\t{} tokens\t[{}, …] ({} dims)", r.ids.len(), head.join(", "), r.embedding.len())
                .map_err(write_err)?;
        }
    }
    Ok(())
}
