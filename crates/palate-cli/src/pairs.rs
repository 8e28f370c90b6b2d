//! Real human preference pairs on the command line: `palate eval-pairs` (how often the ranking a
//! new user gets puts the human-preferred reply first) and `palate train-reward` (the shared
//! reward every user starts from, learned from such pairs).
//!
//! Both rank through [`palate::Ranker`], the same composition the browser worker calls; only the
//! encoder differs ([`CachedEncoder`]: the same model, with every embedding computed once and
//! optionally kept in a file between runs).

use std::cell::RefCell;
use std::rc::Rc;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use nalgebra::{DMatrix, DVector};
use palate_models::pipelines::chat::Message;
use palate_models::pipelines::reward::Rewarder;
use palate_models::SentenceEmbedder;
use palate_personal::PersonalError;
use palate_personal::features::{Cue, FeatureSpec, Prior, ReplyEmbedding, Standardise, split_sentences};
use palate_personal::pairs::{self, Accuracy, PreferencePair};
use palate::Ranker;
use palate_personal::session::{Encoder, RankedReply};
use palate_personal::shared::{self, Block, SharedReward};

use crate::{CliError, progress_bar};

/// Reads preference pairs from JSON-lines files, gzip-compressed when the name ends in `.gz`.
pub fn read_pairs(paths: &[PathBuf]) -> Result<Vec<PreferencePair>, CliError> {
    let mut out = Vec::new();
    for path in paths {
        let file = path.display().to_string();
        let io = |e: std::io::Error| CliError::Io { file: file.clone(), detail: e.to_string() };
        let raw = std::fs::File::open(path).map_err(io)?;
        let mut text = String::new();
        if path.extension().is_some_and(|e| e == "gz") {
            flate2::read::MultiGzDecoder::new(raw).read_to_string(&mut text).map_err(io)?;
        } else {
            BufReader::new(raw).read_to_string(&mut text).map_err(io)?;
        }
        out.extend(pairs::parse_lines(&text, &file).map_err(|e| CliError::Usage(e.to_string()))?);
    }
    Ok(out)
}

/// The sentence encoder for a [`Session`], with every result kept by text: data sets repeat
/// replies and sentences, and `warm` embeds what a whole run needs in large batches first.
/// With a cache file, results persist between runs (keyed by the model's fingerprint).
pub struct CachedEncoder<'a> {
    embedder: &'a SentenceEmbedder,
    embeddings: RefCell<HashMap<String, Vec<f32>>>,
    bags: RefCell<HashMap<String, Vec<f32>>>,
    file: Option<PathBuf>,
    fingerprint: String,
    /// Entries not yet written to the cache file.
    fresh: RefCell<Vec<(u8, String)>>,
}

const CACHE_MAGIC: &[u8; 12] = b"PALATE-EMB-1";
const KIND_EMBEDDING: u8 = 0;
const KIND_BAG: u8 = 1;

impl<'a> CachedEncoder<'a> {
    /// `file`: where to keep results between runs (read if it exists and was made by this model,
    /// otherwise started afresh).
    pub fn new(embedder: &'a SentenceEmbedder, fingerprint: &str, file: Option<PathBuf>) -> Self {
        let me = Self {
            embedder,
            embeddings: RefCell::default(),
            bags: RefCell::default(),
            file,
            fingerprint: fingerprint.to_string(),
            fresh: RefCell::default(),
        };
        if let Some(path) = &me.file {
            match me.read_file(path) {
                Ok(n) if n > 0 => eprintln!("embedding cache {}: {n} entries", path.display()),
                Ok(_) => {}
                Err(e) => eprintln!("embedding cache {} not used ({e}); it will be rewritten", path.display()),
            }
        }
        me
    }

    fn read_file(&self, path: &Path) -> Result<usize, String> {
        let Ok(f) = std::fs::File::open(path) else { return Ok(0) };
        let mut r = BufReader::new(f);
        let mut magic = [0u8; 12];
        r.read_exact(&mut magic).map_err(|e| e.to_string())?;
        if &magic != CACHE_MAGIC {
            return Err("not a Palate embedding cache".into());
        }
        let mut fp = [0u8; 64];
        r.read_exact(&mut fp).map_err(|e| e.to_string())?;
        if fp[..] != self.fingerprint.as_bytes()[..self.fingerprint.len().min(64)] {
            return Err("made by another model".into());
        }
        let dim = self.embedder.dim();
        let mut n = 0;
        loop {
            let mut head = [0u8; 5];
            match r.read_exact(&mut head) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                Err(e) => return Err(e.to_string()),
            }
            let len = u32::from_le_bytes([head[1], head[2], head[3], head[4]]) as usize;
            if len > 1 << 24 {
                return Err("a record is too long".into());
            }
            let mut text = vec![0u8; len];
            let mut values = vec![0u8; 4 * dim];
            // A record cut short (an interrupted run) ends the file.
            if r.read_exact(&mut text).is_err() || r.read_exact(&mut values).is_err() {
                break;
            }
            let text = String::from_utf8(text).map_err(|e| e.to_string())?;
            let v: Vec<f32> = values.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
            match head[0] {
                KIND_EMBEDDING => self.embeddings.borrow_mut().insert(text, v),
                KIND_BAG => self.bags.borrow_mut().insert(text, v),
                _ => return Err("unknown record kind".into()),
            };
            n += 1;
        }
        Ok(n)
    }

    /// Appends what was computed since the last save to the cache file.
    pub fn save(&self) -> Result<(), CliError> {
        let Some(path) = &self.file else { return Ok(()) };
        let fresh = std::mem::take(&mut *self.fresh.borrow_mut());
        if fresh.is_empty() {
            return Ok(());
        }
        let file = path.display().to_string();
        let io = |e: std::io::Error| CliError::Io { file: file.clone(), detail: e.to_string() };
        let new = !path.exists() || self.read_header_ok(path).is_err();
        let f = std::fs::OpenOptions::new().create(true).append(!new).write(true).truncate(new).open(path).map_err(io)?;
        let mut w = BufWriter::new(f);
        if new {
            w.write_all(CACHE_MAGIC).map_err(io)?;
            let mut fp = [0u8; 64];
            let b = self.fingerprint.as_bytes();
            fp[..b.len().min(64)].copy_from_slice(&b[..b.len().min(64)]);
            w.write_all(&fp).map_err(io)?;
            // A rewritten file holds everything known, not only the fresh entries.
            for (kind, map) in [(KIND_EMBEDDING, &self.embeddings), (KIND_BAG, &self.bags)] {
                for (text, v) in map.borrow().iter() {
                    write_record(&mut w, kind, text, v).map_err(io)?;
                }
            }
        } else {
            for (kind, text) in fresh {
                let map = if kind == KIND_BAG { &self.bags } else { &self.embeddings };
                if let Some(v) = map.borrow().get(&text) {
                    write_record(&mut w, kind, &text, v).map_err(io)?;
                }
            }
        }
        w.flush().map_err(io)
    }

    fn read_header_ok(&self, path: &Path) -> Result<(), ()> {
        let mut r = std::fs::File::open(path).map_err(|_| ())?;
        let mut head = [0u8; 76];
        r.read_exact(&mut head).map_err(|_| ())?;
        let fp = self.fingerprint.as_bytes();
        (&head[..12] == CACHE_MAGIC && head[12..12 + fp.len().min(64)] == fp[..fp.len().min(64)]).then_some(()).ok_or(())
    }

    /// Embeds every text of `texts` not known yet (sentence embeddings) and the token bags of
    /// `bag_texts`, in batches of similar length, with a progress bar.
    pub fn warm(&self, texts: &[String], bag_texts: &[String]) -> Result<(), CliError> {
        const CHUNK: usize = 64;
        for (kind, wanted) in [(KIND_EMBEDDING, texts), (KIND_BAG, bag_texts)] {
            let map = if kind == KIND_BAG { &self.bags } else { &self.embeddings };
            let mut seen = HashSet::new();
            let mut todo: Vec<&String> =
                wanted.iter().filter(|t| !map.borrow().contains_key(*t) && seen.insert(t.as_str())).collect();
            if todo.is_empty() {
                continue;
            }
            // Similar lengths together: less padding in each batch.
            todo.sort_by_key(|t| t.len());
            let what = if kind == KIND_BAG { "token bags" } else { "texts" };
            let bar = progress_bar(todo.len() as u64, &format!("embedding {what} {{bar:30}} {{pos}}/{{len}}, eta {{eta}}"));
            for (i, chunk) in todo.chunks(CHUNK).enumerate() {
                self.fill(kind, chunk.iter().map(|s| s.to_string()).collect())?;
                bar.inc(chunk.len() as u64);
                // Keep the work of long runs: save every ~10k texts.
                if i % 160 == 159 {
                    self.save()?;
                }
            }
            bar.finish_and_clear();
        }
        self.save()
    }

    /// A sentence embedding already computed by [`Self::warm`] or the encoder.
    pub fn embedding(&self, text: &str) -> Option<Vec<f32>> {
        self.embeddings.borrow().get(text).cloned()
    }

    /// What a reply is to the taste model, from the cache (after [`Self::warm`]).
    pub fn reply(&self, prompt: &str, reply: &str) -> Result<ReplyEmbedding, CliError> {
        let missing = || CliError::Usage("internal: a text was not embedded before use".into());
        Ok(ReplyEmbedding {
            whole: self.embedding(reply).ok_or_else(missing)?,
            sentences: split_sentences(reply).iter().map(|s| self.embedding(s).ok_or_else(missing)).collect::<Result<_, _>>()?,
            tokens: self.bags.borrow().get(reply).cloned().unwrap_or_default(),
            prompt: self.embedding(prompt).unwrap_or_default(),
            chars: reply.chars().count(),
        })
    }

    /// Computes `texts` (sentence embeddings or token bags, by `kind`) and keeps them.
    fn fill(&self, kind: u8, texts: Vec<String>) -> Result<(), palate_models::PalateError> {
        let out = if kind == KIND_BAG {
            self.embedder.token_bags_blocking(&self.embedder.tokenize(&texts)?)?
        } else {
            self.embedder.embed_blocking(&texts)?.into_iter().map(|e| e.embedding).collect()
        };
        let mut map = if kind == KIND_BAG { self.bags.borrow_mut() } else { self.embeddings.borrow_mut() };
        let mut fresh = self.fresh.borrow_mut();
        for (t, v) in texts.into_iter().zip(out) {
            fresh.push((kind, t.clone()));
            map.insert(t, v);
        }
        Ok(())
    }

    fn compute(&self, kind: u8, texts: &[String]) -> palate_personal::Result<Vec<Vec<f32>>> {
        let map = if kind == KIND_BAG { &self.bags } else { &self.embeddings };
        let missing: Vec<String> = texts.iter().filter(|t| !map.borrow().contains_key(*t)).cloned().collect();
        if !missing.is_empty() {
            self.fill(kind, missing).map_err(|e| PersonalError::Encoder(e.to_string()))?;
        }
        let m = map.borrow();
        texts.iter().map(|t| m.get(t).cloned().ok_or_else(|| PersonalError::Encoder("the encoder returned too few results".into()))).collect()
    }
}

fn write_record(w: &mut impl Write, kind: u8, text: &str, v: &[f32]) -> std::io::Result<()> {
    w.write_all(&[kind])?;
    w.write_all(&(text.len() as u32).to_le_bytes())?;
    w.write_all(text.as_bytes())?;
    for x in v {
        w.write_all(&x.to_le_bytes())?;
    }
    Ok(())
}

impl Encoder for CachedEncoder<'_> {
    async fn embed(&self, texts: &[String]) -> palate_personal::Result<Vec<Vec<f32>>> {
        self.compute(KIND_EMBEDDING, texts)
    }
    async fn token_bags(&self, texts: &[String]) -> palate_personal::Result<Vec<Vec<f32>>> {
        self.compute(KIND_BAG, texts)
    }
}

/// Everything `warm` must embed for `pairs` under `spec`: prompts, replies, their sentences, and
/// the replies again for token bags when `bags`.
fn texts_of(pairs: &[PreferencePair], bags: bool) -> (Vec<String>, Vec<String>) {
    let mut texts = Vec::new();
    let mut bag_texts = Vec::new();
    for p in pairs {
        texts.push(p.prompt.clone());
        for r in [&p.chosen, &p.rejected] {
            texts.push(r.clone());
            texts.extend(split_sentences(r));
            if bags {
                bag_texts.push(r.clone());
            }
        }
    }
    (texts, bag_texts)
}

pub struct EvalPairsArgs {
    pub data: Vec<PathBuf>,
    pub held_out: bool,
    pub per_source: Option<usize>,
    pub json: bool,
    pub cache: Option<PathBuf>,
}

#[derive(serde::Serialize)]
struct SourceResult {
    #[serde(flatten)]
    palate: Accuracy,
    baselines: BTreeMap<&'static str, Accuracy>,
}

#[derive(serde::Serialize)]
struct EvalPairsOutput {
    pairs: usize,
    accuracy: f64,
    ci95: [f64; 2],
    by_source: BTreeMap<String, SourceResult>,
    baselines: BTreeMap<&'static str, Accuracy>,
    /// What the ranking was: the taste file's description and, if any, the reward model.
    ranking: String,
}

const RESAMPLES: usize = 2000;
/// "longer reply wins" (characters), "reply closer to the prompt" (embedding cosine), and, with
/// `--reward-model`, that model's score alone.
const BASELINES: [&str; 3] = ["longer", "closer-to-prompt", "reward-model"];

/// One ranking through [`palate::Ranker`], the composition the browser's worker calls: the
/// ranking and the reward model's scores. `palate rerank` and `palate eval-pairs` both rank here.
pub fn rank<E: Encoder>(
    ranker: &Ranker<E>,
    history: &[Message],
    prompt: &str,
    replies: &[String],
) -> Result<(Vec<RankedReply>, Option<Vec<f64>>), CliError> {
    let ranking = pollster::block_on(ranker.rerank(history, prompt, replies, None))?;
    Ok((ranking.replies, ranking.base))
}

/// `palate eval-pairs`: each pair ranked as a new user's `rerank` would rank it (no answers),
/// counted right when the human-preferred reply comes first (a tie counts half).
pub fn eval_pairs(
    args: EvalPairsArgs,
    embedder: &SentenceEmbedder,
    fingerprint: &str,
    spec: FeatureSpec,
    reward: Option<Rc<Rewarder>>,
) -> Result<(), CliError> {
    let mut pairs = read_pairs(&args.data)?;
    if args.held_out {
        pairs.retain(|p| pairs::held_out(p, pairs::HELD_OUT_FRACTION));
        if pairs.is_empty() {
            return Err(CliError::Usage("no held-out pairs in the data".into()));
        }
    }
    if let Some(n) = args.per_source {
        pairs = pairs::sample_per_source(pairs, n);
    }
    let ranking = spec.trained_on.clone() + &reward.as_ref().map(|r| format!(" + {}", r.describe())).unwrap_or_default();
    let with_reward = reward.is_some();
    let needs_bags = spec.needs_tokens();
    let encoder = Rc::new(CachedEncoder::new(embedder, fingerprint, args.cache));
    let mut ranker = pollster::block_on(Ranker::new(Rc::clone(&encoder), fingerprint, spec, None))?;
    if let Some(reward) = reward {
        ranker.use_reward(reward)?;
    }
    let (texts, bag_texts) = texts_of(&pairs, needs_bags);
    encoder.warm(&texts, &bag_texts)?;

    let mut by_source: BTreeMap<String, (Vec<f64>, [Vec<f64>; 3])> = BTreeMap::new();
    let bar = progress_bar(pairs.len() as u64, "ranking {bar:30} {pos}/{len} pairs, eta {eta}");
    for (index, p) in pairs.iter().enumerate() {
        let replies = [p.chosen.clone(), p.rejected.clone()];
        let history: Vec<Message> = p.context.iter().map(|t| Message::new(&t.role, &t.content)).collect();
        let (ranked, base) = rank(&ranker, &history, &p.prompt, &replies)
            .map_err(|e| CliError::Usage(format!("{} pair {}: {e}", p.source, index + 1)))?;
        let reward_of = |i: usize| ranked.iter().find(|r| r.index == i).map_or(0.0, |r| r.reward);
        let entry = by_source.entry(p.source.clone()).or_default();
        entry.0.push(pairs::outcome(reward_of(0), reward_of(1)));
        entry.1[0].push(pairs::outcome(p.chosen.chars().count() as f64, p.rejected.chars().count() as f64));
        let cos = |r: &str| -> Result<f64, CliError> {
            let (a, b) = (encoder.embedding(&p.prompt), encoder.embedding(r));
            let (Some(a), Some(b)) = (a, b) else { return Err(CliError::Usage("internal: prompt not embedded".into())) };
            Ok(cosine(&a, &b))
        };
        entry.1[1].push(pairs::outcome(cos(&p.chosen)?, cos(&p.rejected)?));
        if let Some(b) = &base {
            entry.1[2].push(pairs::outcome(b[0], b[1]));
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    encoder.save()?;

    let mut all = (Vec::new(), [Vec::new(), Vec::new(), Vec::new()]);
    let mut out_sources = BTreeMap::new();
    for (source, (palate, base)) in by_source {
        all.0.extend_from_slice(&palate);
        let baselines = baseline_accuracies(&base);
        for (acc, o) in all.1.iter_mut().zip(&base) {
            acc.extend_from_slice(o);
        }
        out_sources.insert(source, SourceResult { palate: pairs::accuracy_with_interval(&palate, RESAMPLES, 1), baselines });
    }
    let total = pairs::accuracy_with_interval(&all.0, RESAMPLES, 1);
    let out = EvalPairsOutput {
        pairs: total.pairs,
        accuracy: total.accuracy,
        ci95: total.ci95,
        by_source: out_sources,
        baselines: baseline_accuracies(&all.1),
        ranking,
    };
    if args.json {
        return print_json(&out);
    }
    let mut stdout = std::io::stdout().lock();
    let write_err = |e: std::io::Error| CliError::Io { file: "<stdout>".into(), detail: e.to_string() };
    let fmt = |a: Option<&Accuracy>| a.map_or(String::new(), |a| format!("{:.3} [{:.3}, {:.3}]", a.accuracy, a.ci95[0], a.ci95[1]));
    let line = |out: &mut std::io::StdoutLock, name: &str, pairs: usize, palate: &Accuracy, b: &BTreeMap<&str, Accuracy>| {
        let rm = if with_reward { format!(" {:<22}", fmt(b.get("reward-model"))) } else { String::new() };
        writeln!(out, "{name:<36} {pairs:>6}  {:<22} {:<22} {:<22}{rm}", fmt(Some(palate)), fmt(b.get("longer")), fmt(b.get("closer-to-prompt")))
    };
    let rm_header = if with_reward { format!(" {:<22}", "reward model alone") } else { String::new() };
    writeln!(stdout, "{:<36} {:>6}  {:<22} {:<22} {:<22}{rm_header}", "source", "pairs", "Palate", "longer wins", "closer to prompt").map_err(write_err)?;
    for (source, r) in &out.by_source {
        line(&mut stdout, source, r.palate.pairs, &r.palate, &r.baselines).map_err(write_err)?;
    }
    line(&mut stdout, "all", out.pairs, &total, &out.baselines).map_err(write_err)?;
    Ok(())
}

/// Each baseline that was measured (the reward model's only with one), by name.
fn baseline_accuracies(outcomes: &[Vec<f64>; 3]) -> BTreeMap<&'static str, Accuracy> {
    BASELINES.iter().zip(outcomes).filter(|(_, o)| !o.is_empty()).map(|(name, o)| (*name, pairs::accuracy_with_interval(o, RESAMPLES, 1))).collect()
}

/// `value` as one line of JSON on stdout.
fn print_json(value: &impl serde::Serialize) -> Result<(), CliError> {
    let mut stdout = std::io::stdout().lock();
    let write_err = |e: std::io::Error| CliError::Io { file: "<stdout>".into(), detail: e.to_string() };
    serde_json::to_writer(&mut stdout, value).map_err(|e| write_err(e.into()))?;
    writeln!(stdout).map_err(write_err)
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    if na * nb > 0.0 { dot / (na * nb) } else { 0.0 }
}

pub struct TrainRewardArgs {
    pub data: Vec<PathBuf>,
    pub blocks: Vec<Block>,
    pub cues: Vec<Block>,
    pub cue_variance: f64,
    pub l2: Vec<f64>,
    pub personal_variance: f64,
    pub shared_variance: f64,
    pub description: Option<String>,
    pub out: PathBuf,
    pub cache: Option<PathBuf>,
    /// Write the training pairs' ψ(chosen) − ψ(rejected) here (f64 little-endian rows, and a
    /// `.json` beside it with each row's source and validation flag) for analysis elsewhere.
    pub export: Option<PathBuf>,
}

/// `palate train-reward`: the shared reward from the training conversations of `data` (never
/// the held-out ones), its penalty chosen on a validation part of them, written into `base` (the
/// model's taste file) as the first feature with prior weight 1.
pub fn train_reward(args: TrainRewardArgs, embedder: &SentenceEmbedder, fingerprint: &str, base: FeatureSpec) -> Result<(), CliError> {
    let all = read_pairs(&args.data)?;
    let train: Vec<PreferencePair> = all.into_iter().filter(|p| !pairs::held_out(p, pairs::HELD_OUT_FRACTION)).collect();
    if train.len() < 20 {
        return Err(CliError::Usage(format!("{} training pairs is too few to learn a reward", train.len())));
    }
    let dim = base.embedding_dim;
    let needs_bags = args.blocks.contains(&Block::Tokens);
    let encoder = CachedEncoder::new(embedder, fingerprint, args.cache);
    let (texts, bag_texts) = texts_of(&train, needs_bags);
    encoder.warm(&texts, &bag_texts)?;

    // ψ(chosen) − ψ(rejected), one row a pair.
    let width: usize = args.blocks.iter().map(|b| b.width(dim)).sum();
    let mut rows = Vec::with_capacity(train.len() * width);
    for p in &train {
        let c = shared::representation(&args.blocks, dim, &encoder.reply(&p.prompt, &p.chosen)?)?;
        let r = shared::representation(&args.blocks, dim, &encoder.reply(&p.prompt, &p.rejected)?)?;
        rows.extend(c.iter().zip(&r).map(|(a, b)| a - b));
    }
    let diffs = DMatrix::from_row_slice(train.len(), width, &rows);
    if let Some(path) = &args.export {
        let file = path.display().to_string();
        let io = |e: std::io::Error| CliError::Io { file: file.clone(), detail: e.to_string() };
        let mut w = BufWriter::new(std::fs::File::create(path).map_err(io)?);
        for x in &rows {
            w.write_all(&x.to_le_bytes()).map_err(io)?;
        }
        w.flush().map_err(io)?;
        let meta = serde_json::json!({
            "rows": train.len(), "width": width,
            "blocks": args.blocks.iter().map(|b| b.name()).collect::<Vec<_>>(),
            "source": train.iter().map(|p| p.source.clone()).collect::<Vec<_>>(),
            "validation": train.iter().map(in_validation).collect::<Vec<_>>(),
        });
        std::fs::write(path.with_extension("json"), meta.to_string()).map_err(io)?;
        eprintln!("wrote {file}");
    }

    // The penalty: fitted on 85% of the training conversations, chosen by accuracy (then
    // log-likelihood) on the other 15%.
    let validation: Vec<bool> = train.iter().map(in_validation).collect();
    let pick = |want: bool| -> DMatrix<f64> {
        let idx: Vec<usize> = (0..train.len()).filter(|&i| validation[i] == want).collect();
        DMatrix::from_fn(idx.len(), width, |i, j| diffs[(idx[i], j)])
    };
    let (fit_part, check_part) = (pick(false), pick(true));
    let mut best: Option<(f64, f64, f64)> = None;
    let mut start: Option<DVector<f64>> = None;
    let mut l2s = args.l2.clone();
    l2s.sort_by(|a, b| b.total_cmp(a));
    eprintln!("{} training pairs ({} for fitting, {} for choosing the penalty), {width} weights", train.len(), fit_part.nrows(), check_part.nrows());
    for &l2 in &l2s {
        let w = shared::fit_bradley_terry(&fit_part, l2, start.as_ref())?;
        let margins = &check_part * &w;
        let acc = margins.iter().map(|&m| pairs::outcome(m, 0.0)).sum::<f64>() / margins.len().max(1) as f64;
        let ll = margins.iter().map(|&m| palate_personal::transform::log_sigmoid(m)).sum::<f64>() / margins.len().max(1) as f64;
        eprintln!("  penalty {l2:>8}: validation accuracy {acc:.4}, mean log-likelihood {ll:.4}");
        if best.is_none_or(|(_, a, l)| (acc, ll) > (a, l)) {
            best = Some((l2, acc, ll));
        }
        start = Some(w);
    }
    let (l2, _, _) = best.ok_or_else(|| CliError::Usage("give at least one --l2".into()))?;
    let w = shared::fit_bradley_terry(&diffs, l2, start.as_ref())?;
    let train_acc = (&diffs * &w).iter().map(|&m| pairs::outcome(m, 0.0)).sum::<f64>() / train.len() as f64;
    eprintln!("chosen penalty {l2}; training accuracy {train_acc:.4} on all {} training pairs", train.len());

    let sources: Vec<String> = train.iter().map(|p| p.source.clone()).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    let trained_on = args.description.unwrap_or_else(|| format!("{} human choices ({})", group_digits(train.len()), sources.join(", ")));
    let shared = SharedReward { trained_on: trained_on.clone(), blocks: args.blocks, weights: w.iter().copied().collect() };
    // Each cue scaled like the other features: offset its mean, scale its spread within a pair.
    let mut cues = Vec::new();
    for &block in &args.cues {
        if block.cue_names().is_none() {
            return Err(CliError::Usage(format!("'{}' cannot be a cue (cues are length and prompt-cosine)", block.name())));
        }
        let mut values: Vec<Vec<f64>> = Vec::new();
        for p in &train {
            values.push(shared::representation(&[block], dim, &encoder.reply(&p.prompt, &p.chosen)?)?);
            values.push(shared::representation(&[block], dim, &encoder.reply(&p.prompt, &p.rejected)?)?);
        }
        let pairs: Vec<(usize, usize)> = (0..train.len()).map(|i| (2 * i, 2 * i + 1)).collect();
        let width = values.first().map_or(0, Vec::len);
        let standardise = (0..width)
            .map(|j| Standardise::fit_differences(&values.iter().map(|v| v[j]).collect::<Vec<_>>(), &pairs))
            .collect();
        cues.push(Cue { block, standardise });
    }
    let spec = with_shared(base, shared, cues, [args.shared_variance, args.cue_variance, args.personal_variance])?;
    let out = args.out.display().to_string();
    std::fs::write(&args.out, spec.to_json() + "\n").map_err(|e| CliError::Io { file: out.clone(), detail: e.to_string() })?;
    eprintln!("wrote {out}: the shared reward ({trained_on}) and {} personal features", spec.dim() - 1);
    Ok(())
}

/// The validation part of the training conversations (15%, by a hash independent of the
/// held-out split's).
fn in_validation(p: &PreferencePair) -> bool {
    pairs::in_fraction(&format!("validation\u{0}{}", p.conversation_key()), 0.15)
}

/// `base` with `shared` as its first feature and `cues` after it. Prior: weight 1 on the shared
/// reward (use it as learned), 0 on everything else (the shared reward already is the crowd's
/// average taste), independent, with variances `[shared, cues, principles and basis]`.
pub fn with_shared(base: FeatureSpec, shared: SharedReward, cues: Vec<Cue>, variances: [f64; 3]) -> Result<FeatureSpec, CliError> {
    if !variances.iter().all(|v| v.is_finite() && *v > 0.0) {
        return Err(CliError::Usage("prior variances must be positive numbers".into()));
    }
    let mut spec = FeatureSpec { shared: Some(shared), cues, base_reward: false, ..base };
    let d = spec.dim();
    let first_personal = spec.offset();
    let variance = |i: usize| if i == 0 { variances[0] } else if i < first_personal { variances[1] } else { variances[2] };
    let mean: Vec<f64> = (0..d).map(|i| if i == 0 { 1.0 } else { 0.0 }).collect();
    let covariance: Vec<Vec<f64>> = (0..d).map(|i| (0..d).map(|j| if i != j { 0.0 } else { variance(i) }).collect()).collect();
    spec.prior = Prior::gaussian(mean, covariance);
    spec.trained_on = format!("shared reward: {}; personal features: {}", spec.shared.as_ref().map_or("", |s| &s.trained_on), spec.trained_on);
    spec.validate()?;
    Ok(spec)
}

fn group_digits(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Reads a `--blocks` list.
pub fn parse_blocks(s: &str) -> Result<Block, String> {
    Block::parse(s).map_err(|e| e.to_string())
}

pub struct AnnotatorArgs {
    pub data: Vec<PathBuf>,
    pub strategies: Vec<palate_personal::eval::Strategy>,
    pub max_k: usize,
    pub seeds: u64,
    pub json: bool,
    pub cache: Option<PathBuf>,
}

/// Accuracy over users at one k, with a bootstrap interval over users.
#[derive(serde::Serialize)]
struct AtK {
    k: usize,
    #[serde(flatten)]
    accuracy: Accuracy,
}

#[derive(serde::Serialize)]
struct StrategyResult {
    /// Mean over users of their test accuracy, k = 0..=max_k.
    curve: Vec<f64>,
    at: Vec<AtK>,
    /// Mean change in accuracy from k = 0 to k = 10 (or max_k), for all users, for those the
    /// shared reward serves worst (k = 0 accuracy below ½: they disagree with the crowd), and
    /// for the rest.
    gain: BTreeMap<&'static str, f64>,
}

#[derive(serde::Serialize)]
struct AnnotatorOutput {
    users: usize,
    pairs: usize,
    /// Users whose k = 0 accuracy is below ½.
    disagreeing_users: usize,
    strategies: BTreeMap<&'static str, StrategyResult>,
}

/// `palate eval-personal` on annotated pairs: every annotator is a user; half of the prompts
/// (the same half for everyone, by hash) are their training pairs (the answers), the other half
/// their test pairs.
pub fn eval_annotators(args: AnnotatorArgs, embedder: &SentenceEmbedder, fingerprint: &str, spec: FeatureSpec) -> Result<(), CliError> {
    use palate_personal::eval::{self, EvalUser, Strategy};
    let pairs: Vec<PreferencePair> = read_pairs(&args.data)?.into_iter().filter(|p| p.user.is_some()).collect();
    if pairs.is_empty() {
        return Err(CliError::Usage("no pair names its annotator (\"user\")".into()));
    }
    let encoder = CachedEncoder::new(embedder, fingerprint, args.cache);
    let (texts, bag_texts) = texts_of(&pairs, spec.needs_tokens());
    encoder.warm(&texts, &bag_texts)?;
    let mut features = Vec::with_capacity(2 * pairs.len());
    let mut users: BTreeMap<String, EvalUser> = BTreeMap::new();
    for (i, p) in pairs.iter().enumerate() {
        let f = spec.candidate_features(&[encoder.reply(&p.prompt, &p.chosen)?, encoder.reply(&p.prompt, &p.rejected)?], None)?;
        features.extend(f);
        let name = p.user.clone().unwrap_or_default();
        let user = users.entry(name.clone()).or_insert_with(|| EvalUser { name, ..Default::default() });
        if pairs::held_out(p, 0.5) {
            user.test.push((2 * i, 2 * i + 1));
        } else {
            user.train.push((2 * i, 2 * i + 1));
        }
    }
    let users: Vec<EvalUser> = users.into_values().filter(|u| !u.test.is_empty()).collect();
    let baseline = eval::evaluate_users(&spec, &features, &users, Strategy::None, 0, 1, |_| {})?;
    let disagree: Vec<bool> = baseline.iter().map(|c| c[0] < 0.5).collect();
    let gain_k = args.max_k.min(10);
    let mut out = AnnotatorOutput {
        users: users.len(),
        pairs: pairs.len(),
        disagreeing_users: disagree.iter().filter(|d| **d).count(),
        strategies: BTreeMap::new(),
    };
    for &strategy in &args.strategies {
        let bar = progress_bar(users.len() as u64, &format!("{:>6} {{bar:30}} {{pos}}/{{len}} users", strategy.name()));
        let per_user = eval::evaluate_users(&spec, &features, &users, strategy, args.max_k, args.seeds, |u| bar.set_position(u as u64))?;
        bar.finish_and_clear();
        let n = per_user.len() as f64;
        let curve: Vec<f64> = (0..=args.max_k).map(|k| per_user.iter().map(|c| c[k]).sum::<f64>() / n).collect();
        let at = [0, 5, 10, 20]
            .into_iter()
            .filter(|&k| k <= args.max_k)
            .map(|k| AtK { k, accuracy: pairs::accuracy_with_interval(&per_user.iter().map(|c| c[k]).collect::<Vec<_>>(), RESAMPLES, 1) })
            .collect();
        let mean_gain = |keep: &dyn Fn(usize) -> bool| {
            let g: Vec<f64> = (0..per_user.len()).filter(|&u| keep(u)).map(|u| per_user[u][gain_k] - per_user[u][0]).collect();
            if g.is_empty() { f64::NAN } else { g.iter().sum::<f64>() / g.len() as f64 }
        };
        let gain = BTreeMap::from([
            ("all", mean_gain(&|_| true)),
            ("disagreeing", mean_gain(&|u| disagree[u])),
            ("agreeing", mean_gain(&|u| !disagree[u])),
        ]);
        out.strategies.insert(strategy.name(), StrategyResult { curve, at, gain });
    }
    if args.json {
        return print_json(&out);
    }
    let mut stdout = std::io::stdout().lock();
    let write_err = |e: std::io::Error| CliError::Io { file: "<stdout>".into(), detail: e.to_string() };
    writeln!(stdout, "{} annotators ({} disagree with the shared reward), {} pairs; mean test accuracy after k answers", out.users, out.disagreeing_users, out.pairs)
        .map_err(write_err)?;
    for (name, r) in &out.strategies {
        let at: Vec<String> = r.at.iter().map(|a| format!("k={}: {:.3} [{:.3}, {:.3}]", a.k, a.accuracy.accuracy, a.accuracy.ci95[0], a.accuracy.ci95[1])).collect();
        writeln!(stdout, "{name:>7}: {}", at.join("  ")).map_err(write_err)?;
        writeln!(stdout, "{:>7}  gain at k={gain_k}: all {:+.3}, disagreeing {:+.3}, agreeing {:+.3}", "", r.gain["all"], r.gain["disagreeing"], r.gain["agreeing"])
            .map_err(write_err)?;
    }
    Ok(())
}

/// Whether a data file holds annotated pairs (`{"source", …}` lines) rather than
/// `{"user", …, "split"}` lines.
pub fn is_pairs_file(path: &Path) -> bool {
    if path.extension().is_some_and(|e| e == "gz") {
        return true;
    }
    let Ok(f) = std::fs::File::open(path) else { return false };
    let mut first = String::new();
    let _ = std::io::BufRead::read_line(&mut BufReader::new(f), &mut first);
    serde_json::from_str::<serde_json::Value>(&first).is_ok_and(|v| v.get("source").is_some())
}
