//! `palate train-basis` and `palate eval-personal`: the personal-taste model on preference data.
//!
//! Data format (JSON lines): `{"user": str, "prompt": str, "chosen": str, "rejected": str,
//! "split": "train"|"test"}`.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use nalgebra::DVector;
use palate_models::{ModelFiles, SentenceEmbedder};
use palate_personal::basis::{self, BasisConfig, TrainingData};
use palate_personal::eval::{self, EvalUser, Strategy};
use palate_personal::features::{FeatureSpec, PrincipleHead, default_principles, Principle};

use crate::{CliError, embed_all, embed_replies, progress_bar};

/// File name of the taste file inside a model folder.
pub const TASTE_FILE: &str = "palate-taste.json";

#[derive(serde::Deserialize)]
struct Line {
    user: String,
    #[allow(dead_code)]
    prompt: String,
    chosen: String,
    rejected: String,
    split: String,
}

/// Texts deduplicated, and each user's pairs as indices into them.
pub struct Dataset {
    pub texts: Vec<String>,
    pub users: Vec<EvalUser>,
    pub pairs: usize,
}

pub fn read_dataset(path: &Path) -> Result<Dataset, CliError> {
    let file = path.display().to_string();
    let reader = std::io::BufReader::new(
        std::fs::File::open(path).map_err(|e| CliError::Io { file: file.clone(), detail: e.to_string() })?,
    );
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut texts = Vec::new();
    let mut users: BTreeMap<String, EvalUser> = BTreeMap::new();
    let mut pairs = 0;
    for (n, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| CliError::Io { file: file.clone(), detail: e.to_string() })?;
        if line.trim().is_empty() {
            continue;
        }
        let bad = |detail: String| CliError::Data { file: file.clone(), line: n + 1, detail };
        let l: Line = serde_json::from_str(&line).map_err(|e| bad(e.to_string()))?;
        let mut id = |t: String| {
            *index.entry(t.clone()).or_insert_with(|| {
                texts.push(t);
                texts.len() - 1
            })
        };
        let pair = (id(l.chosen), id(l.rejected));
        let user = users.entry(l.user.clone()).or_insert_with(|| EvalUser { name: l.user.clone(), ..Default::default() });
        match l.split.as_str() {
            "train" => user.train.push(pair),
            "test" => user.test.push(pair),
            other => return Err(bad(format!("split must be \"train\" or \"test\", got \"{other}\""))),
        }
        pairs += 1;
    }
    if pairs == 0 {
        return Err(CliError::Data { file, line: 0, detail: "no preference pairs in the file".into() });
    }
    Ok(Dataset { texts, users: users.into_values().collect(), pairs })
}

/// The taste file: `--taste FILE`, else `MODEL/palate-taste.json`.
pub fn load_spec(model: &Path, taste: Option<&Path>, files: &ModelFiles) -> Result<FeatureSpec, CliError> {
    let path = taste.map(Path::to_path_buf).unwrap_or_else(|| model.join(TASTE_FILE));
    let file = path.display().to_string();
    let json = std::fs::read_to_string(&path).map_err(|e| CliError::Io {
        file: file.clone(),
        detail: format!("{e} (scripts/fetch-model.sh installs the default taste file; `palate train-basis` makes one)"),
    })?;
    let spec = FeatureSpec::from_json(&json).map_err(|e| CliError::Io { file: file.clone(), detail: e.to_string() })?;
    if spec.model != files.fingerprint() {
        return Err(CliError::Io {
            file,
            detail: "this taste file was made for another model (its model fingerprint differs)".into(),
        });
    }
    Ok(spec)
}

pub struct TrainArgs {
    pub data: PathBuf,
    pub out: PathBuf,
    pub rank: usize,
    pub alpha: f64,
    pub principles: Option<PathBuf>,
    pub description: Option<String>,
    pub rounds: usize,
    pub init_variance: f64,
    pub prior_components: Option<usize>,
    pub prior_em_rounds: usize,
    pub prior_em_samples: usize,
    pub token_bag: bool,
}

pub fn train_basis(args: TrainArgs, embedder: &SentenceEmbedder, files: &ModelFiles) -> Result<(), CliError> {
    let data = read_dataset(&args.data)?;
    let principles: Vec<Principle> = match &args.principles {
        None => default_principles(),
        Some(p) => {
            let file = p.display().to_string();
            let json = std::fs::read_to_string(p).map_err(|e| CliError::Io { file: file.clone(), detail: e.to_string() })?;
            Principle::list_from_json(&json).map_err(|e| CliError::Io { file, detail: e.to_string() })?
        }
    };
    let mut head_texts = Vec::new();
    for p in &principles {
        head_texts.push(p.goal.clone());
        head_texts.push(p.baseline.clone());
    }
    let head_emb = embed_all(embedder, &head_texts, "principles")?;
    let heads = principles
        .into_iter()
        .enumerate()
        .map(|(i, p)| PrincipleHead::new(p, &head_emb[2 * i], &head_emb[2 * i + 1], args.alpha))
        .collect::<Result<Vec<_>, _>>()?;
    eprintln!("{} users, {} pairs, {} distinct replies", data.users.len(), data.pairs, data.texts.len());
    let replies = embed_replies(embedder, &data.texts)?;
    let users: Vec<Vec<(usize, usize)>> =
        data.users.iter().map(|u| u.train.iter().chain(&u.test).copied().collect()).collect();
    let config = BasisConfig {
        rank: args.rank,
        rounds: args.rounds,
        init_prior_variance: args.init_variance,
        prior_components: args.prior_components,
        prior_em_rounds: args.prior_em_rounds,
        prior_em_samples: args.prior_em_samples,
        token_bag: args.token_bag,
        ..BasisConfig::default()
    };
    let name = args.data.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let trained_on = args.description.unwrap_or_else(|| {
        format!("{name}: {} users, {} preference pairs, {} distinct replies", data.users.len(), data.pairs, data.texts.len())
    });
    let bar = progress_bar(config.rounds as u64 + 1, "{msg} {bar:30} {pos}/{len}");
    let (spec, report) = basis::train(
        heads,
        &TrainingData { replies: &replies, users: &users },
        &config,
        &files.fingerprint(),
        &trained_on,
        |stage, done, _| {
            bar.set_message(stage.to_string());
            if stage.starts_with("fitting") {
                bar.set_position(done as u64);
            }
        },
    )?;
    bar.finish_and_clear();
    for (round, (ll, acc)) in report.log_likelihood.iter().zip(&report.accuracy).enumerate() {
        eprintln!("round {round}: mean log-likelihood {ll:.4}, training accuracy {acc:.3}");
    }
    let shares: Vec<String> = report.prior_weights.iter().map(|w| format!("{:.0}%", 100.0 * w)).collect();
    eprintln!("prior: {} kind(s) of user ({})", shares.len(), shares.join(", "));
    let out = args.out.display().to_string();
    std::fs::write(&args.out, spec.to_json() + "\n").map_err(|e| CliError::Io { file: out.clone(), detail: e.to_string() })?;
    eprintln!("wrote {out}: {} features ({} principles, {} basis directions)", spec.dim(), spec.principles.len(), spec.basis.len());
    Ok(())
}

pub struct EvalArgs {
    pub model: PathBuf,
    pub data: PathBuf,
    pub taste: Option<PathBuf>,
    pub strategies: Vec<Strategy>,
    pub max_k: usize,
    pub seeds: u64,
    pub json: bool,
    pub plot: Option<PathBuf>,
}

#[derive(serde::Serialize)]
struct EvalOutput {
    users: usize,
    pairs: usize,
    accuracy: BTreeMap<&'static str, Vec<f64>>,
    answers_to_reach_85: BTreeMap<&'static str, Option<usize>>,
}

pub fn eval_personal(args: EvalArgs, embedder: &SentenceEmbedder, files: &ModelFiles) -> Result<(), CliError> {
    let spec = load_spec(&args.model, args.taste.as_deref(), files)?;
    if spec.base_reward {
        return Err(CliError::Usage("this taste file uses reward-model scores, which eval-personal cannot compute yet".into()));
    }
    let data = read_dataset(&args.data)?;
    let replies = embed_replies(embedder, &data.texts)?;
    let features: Vec<DVector<f64>> = spec.candidate_features(&replies, None)?;
    let users = data.users.iter().filter(|u| !u.test.is_empty()).count();
    let mut out = EvalOutput { users, pairs: data.pairs, accuracy: BTreeMap::new(), answers_to_reach_85: BTreeMap::new() };
    for &strategy in &args.strategies {
        let bar = progress_bar(users as u64, &format!("{:>6} {{bar:30}} {{pos}}/{{len}} users", strategy.name()));
        let curve = eval::evaluate(&spec, &features, &data.users, strategy, args.max_k, args.seeds, |u| bar.set_position(u as u64))?;
        bar.finish_and_clear();
        out.answers_to_reach_85.insert(strategy.name(), eval::answers_to_reach(&curve, 0.85));
        out.accuracy.insert(strategy.name(), curve);
    }
    let mut stdout = std::io::stdout().lock();
    let write_err = |e: std::io::Error| CliError::Io { file: "<stdout>".into(), detail: e.to_string() };
    if args.json {
        serde_json::to_writer(&mut stdout, &out).map_err(|e| write_err(e.into()))?;
        writeln!(stdout).map_err(write_err)?;
    } else {
        writeln!(stdout, "{} users, {} pairs; test accuracy after k answers", out.users, out.pairs).map_err(write_err)?;
        write!(stdout, "{:>4}", "k").map_err(write_err)?;
        for name in out.accuracy.keys() {
            write!(stdout, "{name:>9}").map_err(write_err)?;
        }
        writeln!(stdout).map_err(write_err)?;
        for k in 0..=args.max_k {
            write!(stdout, "{k:>4}").map_err(write_err)?;
            for curve in out.accuracy.values() {
                write!(stdout, "{:>9.3}", curve[k]).map_err(write_err)?;
            }
            writeln!(stdout).map_err(write_err)?;
        }
        for (name, k) in &out.answers_to_reach_85 {
            let k = k.map(|k| k.to_string()).unwrap_or_else(|| format!("not within {}", args.max_k));
            writeln!(stdout, "{name}: answers to reach 85%: {k}").map_err(write_err)?;
        }
    }
    if let Some(path) = &args.plot {
        crate::plot::accuracy_curves(path, &out.accuracy)?;
    }
    Ok(())
}
