//! Features of a reply: the small vector the personal posterior weighs.
//!
//! `x = [base reward?, principle heads…, taste basis…]`, each entry standardised (offset and scale
//! stored in the [`FeatureSpec`]) so one prior variance means the same for every entry.
//!
//! - **Base reward** (when a reward model is loaded): the log-sigmoid transform of Wang et al.,
//!   "Transforming and Combining Rewards for Aligning Large Language Models" (2024), centred on the
//!   median of the prompt's candidates ([`crate::transform::centred_transform`]), so adding it to
//!   the other terms is their "sum as logical AND".
//! - **Principle heads**: zero-shot rewards from natural-language principles with VLM-RM's
//!   goal–baseline projection (Rocamonde et al., "Vision-Language Models are Zero-Shot Reward
//!   Models for Reinforcement Learning", 2023, eq. 2): with unit embeddings `g` (goal), `b`
//!   (baseline) and `x` (reply), `d = g − b`, `P = α·ddᵀ/‖d‖² + (1 − α)·I`, and
//!   `R(x) = 1 − ½‖P(x − g)‖²`. α = 1 keeps only the goal-vs-baseline direction, α = 0 is plain
//!   cosine similarity to the goal.
//! - **Taste basis**: `K` directions `u_k` shared by all users, feature `u_kᵀr` — the low-rank
//!   reward basis of LoRe (Bose et al., 2025) and PAL's shared preference space (Chen et al.,
//!   2024); a user is a weight vector over them. Learned by [`crate::basis`]. `r` is the reply's
//!   representation: its unit embedding next to the sum of its sentences' unit embeddings
//!   ([`ReplyEmbedding::representation`]). Style cues are local (a friendly opener, a caveat, list
//!   items) and mean pooling over the whole reply dilutes them; the sentence sum keeps them and
//!   how many sentences carry them. On the synthetic benchmark this lifted held-out accuracy
//!   after 40 answers from 0.67 to 0.72 (measured with a throwaway numpy prototype of the same
//!   basis fit on `palate embed` output, before the Rust version; not a committed benchmark).

use nalgebra::DVector;
use serde::{Deserialize, Serialize};

use crate::shared::SharedReward;
use crate::transform::centred_transform;
use crate::{PersonalError, Result};

/// Schema version of [`FeatureSpec`] files.
pub const SPEC_VERSION: u32 = 1;

/// VLM-RM's partial projection strength used by default.
pub const DEFAULT_ALPHA: f64 = 0.5;

/// The baseline prompt every default principle is contrasted with.
pub const DEFAULT_BASELINE: &str = "A reply to a question.";

/// A principle in words: `label` completes "it is …" in explanations, `goal` is the text embedded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Principle {
    pub name: String,
    /// Defaults to the name.
    #[serde(default)]
    pub label: String,
    pub goal: String,
    /// Defaults to [`DEFAULT_BASELINE`].
    #[serde(default)]
    pub baseline: String,
}

impl Principle {
    pub fn new(name: &str, label: &str, goal: &str) -> Self {
        Self { name: name.into(), label: label.into(), goal: goal.into(), baseline: DEFAULT_BASELINE.into() }
    }

    /// Parses a JSON list of `{name, label?, goal, baseline?}`, filling the defaults and
    /// refusing empty or duplicate names and empty goals.
    pub fn list_from_json(json: &str) -> Result<Vec<Self>> {
        let mut list: Vec<Self> = serde_json::from_str(json)
            .map_err(|e| PersonalError::InvalidSpec(format!("principles must be a list of {{name, label?, goal, baseline?}}: {e}")))?;
        let mut seen = std::collections::HashSet::new();
        for p in &mut list {
            if p.name.trim().is_empty() || p.goal.trim().is_empty() {
                return Err(PersonalError::InvalidSpec("every principle needs a name and a goal text".into()));
            }
            if !seen.insert(p.name.clone()) {
                return Err(PersonalError::InvalidSpec(format!("principle '{}' appears twice", p.name)));
            }
            if RESERVED_NAMES.contains(&p.name.as_str()) || p.name.starts_with("taste-") {
                return Err(PersonalError::InvalidSpec(format!(
                    "principle '{}' would share its name with one of Palate's own feature groups ({}, taste-N): choose another name",
                    p.name,
                    RESERVED_NAMES.join(", ")
                )));
            }
            if p.label.trim().is_empty() {
                p.label = p.name.clone();
            }
            if p.baseline.trim().is_empty() {
                p.baseline = DEFAULT_BASELINE.into();
            }
        }
        Ok(list)
    }
}

/// Names of the feature groups that are not principles (the reward model, the shared reward, the
/// personal cues of [`crate::shared::Block::cue_names`]): explanations and profiles key on group
/// names, so a principle may not take one.
pub const RESERVED_NAMES: [&str; 5] = ["reward", "shared", "length", "sentences", "on-topic"];

/// The default principles (override with your own list).
pub fn default_principles() -> Vec<Principle> {
    vec![
        Principle::new("concise", "concise", "A short, concise reply that gets straight to the point."),
        Principle::new("detailed", "detailed", "A detailed, thorough reply that explains everything at length."),
        Principle::new("formal", "formal", "A formal, polite and professional reply."),
        Principle::new("casual", "warm and casual", "A warm, casual and friendly reply, like a chat with a friend!"),
        Principle::new("structured", "structured step by step", "A reply structured as numbered step-by-step instructions: 1. 2. 3."),
        Principle::new("cautious", "cautious", "A cautious reply that mentions caveats, risks and exceptions."),
        Principle::new("creative", "creative", "A creative reply with a vivid analogy or metaphor."),
        Principle::new("technical", "technical", "A technical, in-depth reply with precise terms, numbers and examples."),
    ]
}

/// Replies are cut into at most this many sentences for the sentence sum (a safeguard against
/// huge replies; later sentences are ignored).
pub const MAX_SENTENCES: usize = 64;

/// A reply's sentences: lines first (list items and paragraphs are structure), then Unicode
/// sentence boundaries (UAX #29) within each line; fragments without letters ("1.", "😊") stay
/// attached to their neighbour. At most [`MAX_SENTENCES`].
pub fn split_sentences(text: &str) -> Vec<String> {
    use unicode_segmentation::UnicodeSegmentation;
    let mut out = Vec::new();
    for line in text.lines() {
        let mut pending = String::new();
        let mut parts: Vec<String> = Vec::new();
        for piece in line.split_sentence_bounds() {
            pending.push_str(piece);
            if pending.chars().any(char::is_alphabetic) {
                parts.push(std::mem::take(&mut pending));
            }
        }
        if !pending.trim().is_empty() {
            match parts.last_mut() {
                Some(last) => last.push_str(&pending),
                None => parts.push(pending),
            }
        }
        out.extend(parts.into_iter().map(|p| p.trim().to_string()).filter(|p| !p.is_empty()));
        if out.len() >= MAX_SENTENCES {
            out.truncate(MAX_SENTENCES);
            break;
        }
    }
    out
}

/// The embeddings Palate needs of one reply: the whole text and each of its sentences
/// ([`split_sentences`]), all from the same sentence-embedding model, and the bag of its token
/// embeddings when the taste file's basis reads it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReplyEmbedding {
    pub whole: Vec<f32>,
    pub sentences: Vec<Vec<f32>>,
    /// Sum of the model's static input embeddings over the reply's tokens (the sentence
    /// embedder's `token_bags`); empty when the taste file does not use it ([`FeatureSpec::token_bag`]).
    /// Pooled sentence embeddings are normalised averages: they lose how long a reply is and
    /// dilute single words (a hedge, an exclamation). A sum of word vectors keeps both linear.
    pub tokens: Vec<f32>,
    /// Embedding of the prompt this reply answers; read by a shared reward with prompt blocks
    /// ([`crate::shared::Block`]), empty otherwise.
    pub prompt: Vec<f32>,
    /// Length of the reply in characters (Unicode scalar values).
    pub chars: usize,
}

impl ReplyEmbedding {
    /// `[unit(whole), Σ unit(sentence)]` (`2·dim` entries), followed by the token bag when
    /// `tokens` (`3·dim`).
    pub fn representation(&self, dim: usize, tokens: bool) -> Result<Vec<f64>> {
        if tokens && self.tokens.len() != dim {
            return Err(if self.tokens.is_empty() {
                PersonalError::InvalidInput("this taste file reads the bag of a reply's token embeddings, and none was given".into())
            } else {
                PersonalError::DimensionMismatch { expected: dim, found: self.tokens.len() }
            });
        }
        if tokens && self.tokens.iter().any(|x| !x.is_finite()) {
            return Err(PersonalError::NonFinite { what: "token bag" });
        }
        if self.whole.len() != dim {
            return Err(PersonalError::DimensionMismatch { expected: dim, found: self.whole.len() });
        }
        let mut r = unit(&self.whole, "embedding")?;
        let mut sum = vec![0.0; dim];
        for s in &self.sentences {
            if s.len() != dim {
                return Err(PersonalError::DimensionMismatch { expected: dim, found: s.len() });
            }
            for (acc, v) in sum.iter_mut().zip(unit(s, "sentence embedding")?) {
                *acc += v;
            }
        }
        r.extend(sum);
        if tokens {
            r.extend(self.tokens.iter().map(|&x| f64::from(x)));
        }
        Ok(r)
    }
}

/// One principle head, ready to score unit embeddings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PrincipleHead {
    pub principle: Principle,
    /// Unit embedding of the goal text.
    pub goal: Vec<f64>,
    /// `g − b` for the unit goal and baseline embeddings.
    pub direction: Vec<f64>,
    pub alpha: f64,
}

impl PrincipleHead {
    /// Builds the head from the embeddings of the goal and baseline texts (normalised here).
    pub fn new(principle: Principle, goal: &[f32], baseline: &[f32], alpha: f64) -> Result<Self> {
        if goal.len() != baseline.len() {
            return Err(PersonalError::DimensionMismatch { expected: goal.len(), found: baseline.len() });
        }
        if !(0.0..=1.0).contains(&alpha) {
            return Err(PersonalError::InvalidSpec(format!("alpha must lie in [0, 1], got {alpha}")));
        }
        let g = unit(goal, "goal embedding")?;
        let b = unit(baseline, "baseline embedding")?;
        let direction: Vec<f64> = g.iter().zip(&b).map(|(g, b)| g - b).collect();
        if direction.iter().map(|x| x * x).sum::<f64>() < 1e-12 {
            return Err(PersonalError::InvalidSpec(format!(
                "principle '{}': its goal and baseline texts embed identically",
                principle.name
            )));
        }
        Ok(Self { principle, goal: g, direction, alpha })
    }

    /// `R(x) = 1 − ½‖P(x − g)‖²` for the unit embedding `x`.
    pub fn reward(&self, x: &[f64]) -> f64 {
        // P v = (1 − α) v + α (dᵀv / dᵀd) d
        let v: Vec<f64> = x.iter().zip(&self.goal).map(|(x, g)| x - g).collect();
        let dd: f64 = self.direction.iter().map(|d| d * d).sum();
        let dv: f64 = self.direction.iter().zip(&v).map(|(d, v)| d * v).sum();
        let c = self.alpha * dv / dd;
        let norm2: f64 = v.iter().zip(&self.direction).map(|(v, d)| ((1.0 - self.alpha) * v + c * d).powi(2)).sum();
        1.0 - 0.5 * norm2
    }
}

/// `(value − offset) / scale`, fitted on a calibration set of replies.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Standardise {
    pub offset: f64,
    pub scale: f64,
}

impl Standardise {
    pub const IDENTITY: Self = Self { offset: 0.0, scale: 1.0 };

    /// Scaled for comparisons: offset the mean of `values`, scale the root-mean-square difference
    /// over `pairs` divided by √2 (the standard deviation if pairs were independent draws). Only
    /// differences between replies to the same prompt enter Bradley–Terry, so this is the scale
    /// that matters: between-prompt variation (topic) would otherwise swamp it.
    pub fn fit_differences(values: &[f64], pairs: &[(usize, usize)]) -> Self {
        let offset = values.iter().sum::<f64>() / values.len().max(1) as f64;
        let ms = pairs.iter().map(|&(a, b)| (values[a] - values[b]).powi(2)).sum::<f64>() / pairs.len().max(1) as f64;
        let scale = (ms / 2.0).sqrt();
        Self { offset, scale: if scale > 1e-12 { scale } else { 1.0 } }
    }

    pub fn apply(&self, v: f64) -> f64 {
        (v - self.offset) / self.scale
    }
}

/// One direction of the shared taste basis.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BasisDirection {
    pub direction: Vec<f64>,
    pub standardise: Standardise,
}

/// The population prior over a user's weights, one entry per feature.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Prior {
    /// Mean of the training users' weights.
    pub mean: Vec<f64>,
    /// Row-major `d × d`, symmetric positive definite: their covariance.
    pub covariance: Vec<Vec<f64>>,
    /// Kinds of users: a Gaussian mixture over the weights ([`crate::mixture`]). Empty means the
    /// single Gaussian `N(mean, covariance)`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<PriorComponent>,
}

/// `(weight, mean, covariance rows)` of one prior component, borrowed.
pub type ComponentView<'a> = (f64, &'a [f64], &'a [Vec<f64>]);

/// One kind of user in a mixture prior.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PriorComponent {
    /// Share of users of this kind (the weights of a prior sum to 1).
    pub weight: f64,
    pub mean: Vec<f64>,
    /// Row-major `d × d`, symmetric positive definite.
    pub covariance: Vec<Vec<f64>>,
}

impl Prior {
    /// The single Gaussian `N(mean, covariance)`.
    pub fn gaussian(mean: Vec<f64>, covariance: Vec<Vec<f64>>) -> Self {
        Self { mean, covariance, components: Vec::new() }
    }

    /// `(weight, mean, covariance)` of each component (one for a single Gaussian).
    pub fn mixture(&self) -> Vec<ComponentView<'_>> {
        if self.components.is_empty() {
            vec![(1.0, &self.mean[..], &self.covariance[..])]
        } else {
            self.components.iter().map(|c| (c.weight, &c.mean[..], &c.covariance[..])).collect()
        }
    }

    /// The prior over `d` features where feature `i` is old feature `old(i)`, or, where that is
    /// None, a new feature with prior mean and variance `new(i)`, independent of the rest.
    fn remap(&self, d: usize, old: impl Fn(usize) -> Option<usize>, new: impl Fn(usize) -> (f64, f64)) -> Self {
        let map = |mean: &[f64], cov: &[Vec<f64>]| -> (Vec<f64>, Vec<Vec<f64>>) {
            let m = (0..d).map(|i| old(i).map_or_else(|| new(i).0, |o| mean[o])).collect();
            let c = (0..d)
                .map(|i| {
                    (0..d)
                        .map(|j| match (old(i), old(j)) {
                            (Some(oi), Some(oj)) => cov[oi][oj],
                            _ if i == j => new(i).1,
                            _ => 0.0,
                        })
                        .collect()
                })
                .collect();
            (m, c)
        };
        let (mean, covariance) = map(&self.mean, &self.covariance);
        let components = self
            .components
            .iter()
            .map(|c| {
                let (mean, covariance) = map(&c.mean, &c.covariance);
                PriorComponent { weight: c.weight, mean, covariance }
            })
            .collect();
        Self { mean, covariance, components }
    }
}

/// A plain measurable property of a reply that people weigh differently (how long it is, how
/// close it stays to the question), as a personal feature: the shared reward fixes the crowd's
/// weight, a user's answers move their own. Values are [`crate::shared::Block`]s with
/// [`crate::shared::Block::cue_names`], standardised on the training pairs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cue {
    pub block: crate::shared::Block,
    /// One per value of the block.
    pub standardise: Vec<Standardise>,
}

/// What a feature means, for explanations and for the profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeatureKind {
    BaseReward,
    /// The reward learned from human preferences ([`FeatureSpec::shared`]).
    Shared,
    /// Value `.0` of the cues ([`FeatureSpec::cues`]), counted over all of them.
    Cue(usize),
    Principle(usize),
    Basis(usize),
}

/// Everything needed to turn embeddings (and base rewards) into features, plus the population
/// prior: one JSON file (`palate-taste.json`) shipped beside the model it was made for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureSpec {
    pub version: u32,
    /// Fingerprint of the embedding model the vectors below belong to.
    pub model: String,
    /// Free text: what the basis and prior were learned from.
    pub trained_on: String,
    pub embedding_dim: usize,
    /// Whether the first feature is the reward model's (transformed) score.
    pub base_reward: bool,
    pub principles: Vec<PrincipleHead>,
    pub principle_standardise: Vec<Standardise>,
    /// Whether the basis reads the bag of token embeddings ([`ReplyEmbedding::tokens`]) after
    /// the sentence embeddings: its directions then have `3·embedding_dim` entries, else `2·`.
    #[serde(default)]
    pub token_bag: bool,
    pub basis: Vec<BasisDirection>,
    pub prior: Prior,
    /// The reward learned from human preference pairs, every user's starting point
    /// ([`crate::shared`]); when present it is the feature after the base reward.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared: Option<SharedReward>,
    /// Personal cues, the features after the shared reward ([`Cue`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cues: Vec<Cue>,
}

impl FeatureSpec {
    /// Number of features.
    pub fn dim(&self) -> usize {
        self.offset() + self.principles.len() + self.basis.len()
    }

    /// Index of the first principle: after the base reward and the shared reward, when present.
    pub fn offset(&self) -> usize {
        self.cue_offset() + self.cue_names().len()
    }

    /// Index of the first cue.
    fn cue_offset(&self) -> usize {
        usize::from(self.base_reward) + usize::from(self.shared.is_some())
    }

    /// The cues' value names, in feature order.
    pub fn cue_names(&self) -> Vec<&'static str> {
        self.cues.iter().flat_map(|c| c.block.cue_names().unwrap_or(&[]).iter().copied()).collect()
    }

    /// Whether features need the prompt's embedding ([`ReplyEmbedding::prompt`]).
    pub fn needs_prompt(&self) -> bool {
        self.shared.as_ref().is_some_and(SharedReward::needs_prompt) || self.cues.iter().any(|c| c.block.needs_prompt())
    }

    /// Whether features need each reply's token bag ([`ReplyEmbedding::tokens`]).
    pub fn needs_tokens(&self) -> bool {
        self.token_bag || self.shared.as_ref().is_some_and(SharedReward::needs_tokens)
    }

    /// Length of [`ReplyEmbedding::representation`] that the basis reads.
    pub fn representation_dim(&self) -> usize {
        (2 + usize::from(self.token_bag)) * self.embedding_dim
    }

    pub fn kind(&self, i: usize) -> FeatureKind {
        let b = self.offset();
        if i < usize::from(self.base_reward) {
            FeatureKind::BaseReward
        } else if i < self.cue_offset() {
            FeatureKind::Shared
        } else if i < b {
            FeatureKind::Cue(i - self.cue_offset())
        } else if i < b + self.principles.len() {
            FeatureKind::Principle(i - b)
        } else {
            FeatureKind::Basis(i - b - self.principles.len())
        }
    }

    /// Short feature names: "reward", principle names, "taste-1"….
    pub fn names(&self) -> Vec<String> {
        (0..self.dim())
            .map(|i| match self.kind(i) {
                FeatureKind::BaseReward => "reward".to_string(),
                FeatureKind::Shared => "shared".to_string(),
                FeatureKind::Cue(j) => self.cue_names().get(j).copied().unwrap_or("cue").to_string(),
                FeatureKind::Principle(p) => self.principles[p].principle.name.clone(),
                FeatureKind::Basis(k) => format!("taste-{}", k + 1),
            })
            .collect()
    }

    /// A stable fingerprint of everything that changes what a feature means (sha256, hex).
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(self.model.as_bytes());
        h.update((self.embedding_dim as u64).to_le_bytes());
        h.update([u8::from(self.base_reward)]);
        if self.token_bag {
            h.update(b"token-bag");
        }
        let mut put = |xs: &[f64]| xs.iter().for_each(|x| h.update(x.to_le_bytes()));
        for (p, s) in self.principles.iter().zip(&self.principle_standardise) {
            put(&p.goal);
            put(&p.direction);
            put(&[p.alpha, s.offset, s.scale]);
        }
        for b in &self.basis {
            put(&b.direction);
            put(&[b.standardise.offset, b.standardise.scale]);
        }
        if let Some(shared) = &self.shared {
            h.update(b"shared");
            for b in &shared.blocks {
                h.update(b.name().as_bytes());
            }
            shared.weights.iter().for_each(|x| h.update(x.to_le_bytes()));
        }
        for c in &self.cues {
            h.update(b"cue");
            h.update(c.block.name().as_bytes());
            c.standardise.iter().for_each(|s| put_pair(&mut h, s.offset, s.scale));
        }
        for (p, _) in self.principles.iter().zip(0..) {
            h.update(p.principle.name.as_bytes());
            h.update([0]);
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Fingerprint of the population prior (not part of [`Self::fingerprint`]: a new prior over
    /// the same features keeps profiles valid, their answers are replayed under it).
    pub fn prior_fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let json = serde_json::to_string(&self.prior).unwrap_or_default();
        Sha256::digest(json.as_bytes()).iter().take(16).map(|b| format!("{b:02x}")).collect()
    }

    /// Checks internal consistency (after loading a file).
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(PersonalError::InvalidSpec(m));
        if self.version != SPEC_VERSION {
            return bad(format!("taste file version {} is not supported (this Palate reads version {SPEC_VERSION})", self.version));
        }
        if self.principle_standardise.len() != self.principles.len() {
            return bad("principle_standardise must have one entry per principle".into());
        }
        for p in &self.principles {
            if p.goal.len() != self.embedding_dim || p.direction.len() != self.embedding_dim {
                return bad(format!("principle '{}' does not have {} dimensions", p.principle.name, self.embedding_dim));
            }
        }
        for (k, b) in self.basis.iter().enumerate() {
            if b.direction.len() != self.representation_dim() {
                return bad(format!("basis direction {} does not have {} dimensions", k + 1, self.representation_dim()));
            }
        }
        if let Some(shared) = &self.shared {
            shared.validate(self.embedding_dim)?;
        }
        for c in &self.cues {
            match c.block.cue_names() {
                Some(names) if names.len() == c.standardise.len() => {}
                Some(_) => return bad(format!("cue '{}' needs one scaling per value", c.block.name())),
                None => return bad(format!("'{}' cannot be a cue (cues are length and prompt-cosine)", c.block.name())),
            }
        }
        let d = self.dim();
        let shaped = |mean: &[f64], cov: &[Vec<f64>]| mean.len() == d && cov.len() == d && cov.iter().all(|r| r.len() == d);
        if !shaped(&self.prior.mean, &self.prior.covariance) || !self.prior.components.iter().all(|c| shaped(&c.mean, &c.covariance)) {
            return bad(format!("the prior must be over {d} features"));
        }
        if !self.prior.components.iter().all(|c| c.weight.is_finite() && c.weight > 0.0) {
            return bad("the prior's component weights must be positive".into());
        }
        let finite = |xs: &[f64]| xs.iter().all(|x| x.is_finite());
        let scales_ok = self
            .principle_standardise
            .iter()
            .chain(self.basis.iter().map(|b| &b.standardise))
            .all(|s| s.offset.is_finite() && s.scale.is_finite() && s.scale > 0.0);
        if !scales_ok
            || !finite(&self.prior.mean)
            || !self.prior.covariance.iter().all(|r| finite(r))
            || !self.prior.components.iter().all(|c| finite(&c.mean) && c.covariance.iter().all(|r| finite(r)))
            || !self.principles.iter().all(|p| finite(&p.goal) && finite(&p.direction) && finite(&[p.alpha]))
            || !self.basis.iter().all(|b| finite(&b.direction))
        {
            return Err(PersonalError::NonFinite { what: "taste file" });
        }
        Ok(())
    }

    /// Parses and validates a taste file.
    pub fn from_json(json: &str) -> Result<Self> {
        let spec: Self = serde_json::from_str(json).map_err(|e| PersonalError::InvalidSpec(format!("not a Palate taste file: {e}")))?;
        spec.validate()?;
        Ok(spec)
    }

    pub fn to_json(&self) -> String {
        // Serialising plain numbers, strings and vectors cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// This spec with other principle heads (a user's own principles). The taste basis and its
    /// part of the prior are kept. New heads have no calibration data, so each gets the median
    /// scale of the heads it replaces (they are VLM-RM rewards on the same embedding model) and a
    /// prior N(0, median variance of the replaced heads), uncorrelated with the rest. The
    /// fingerprint changes: profiles made with other principles are refused, as they should be.
    pub fn with_principles(&self, heads: Vec<PrincipleHead>) -> Result<Self> {
        if heads.iter().any(|h| h.goal.len() != self.embedding_dim) {
            return Err(PersonalError::DimensionMismatch { expected: self.embedding_dim, found: heads.first().map_or(0, |h| h.goal.len()) });
        }
        let median = |mut v: Vec<f64>, fallback: f64| {
            if v.is_empty() {
                return fallback;
            }
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let b = self.offset();
        let p_old = self.principles.len();
        let scale = median(self.principle_standardise.iter().map(|s| s.scale).collect(), 1.0);
        let variance = median((b..b + p_old).map(|i| self.prior.covariance[i][i]).collect(), 1.0);
        let old_index = |i: usize, p_new: usize| -> Option<usize> {
            // Index in the old spec of feature i of the new one (None for a new principle).
            if i < b {
                Some(i)
            } else if i < b + p_new {
                None
            } else {
                Some(i - p_new + p_old)
            }
        };
        let p_new = heads.len();
        let d = b + p_new + self.basis.len();
        let prior = self.prior.remap(d, |i| old_index(i, p_new), |_| (0.0, variance));
        let spec = Self {
            principle_standardise: vec![Standardise { offset: 0.0, scale }; p_new],
            principles: heads,
            prior,
            ..self.clone()
        };
        spec.validate()?;
        Ok(spec)
    }

    /// This spec with the reward model's score as the first feature: prior mean `weight` (1 by
    /// default: trust the reward model as it is) and variance `variance`, uncorrelated with the
    /// rest. The fingerprint changes, so profiles with and without a reward model stay apart.
    pub fn with_base_reward(&self, weight: f64, variance: f64) -> Result<Self> {
        if self.base_reward {
            return Ok(self.clone());
        }
        if !(weight.is_finite() && variance.is_finite() && variance > 0.0) {
            return Err(PersonalError::InvalidPrior(format!("base reward prior N({weight}, {variance})")));
        }
        let prior = self.prior.remap(self.dim() + 1, |i| i.checked_sub(1), |_| (weight, variance));
        let spec = Self { base_reward: true, prior, ..self.clone() };
        spec.validate()?;
        Ok(spec)
    }

    /// Features of one prompt's candidates from their embeddings and, when the spec has a base
    /// reward, the reward model's raw scores (transformed and centred on these candidates here).
    pub fn candidate_features(&self, replies: &[ReplyEmbedding], base_rewards: Option<&[f64]>) -> Result<Vec<DVector<f64>>> {
        if replies.is_empty() {
            return Err(PersonalError::TooFewCandidates { needed: 1, found: 0 });
        }
        let shared = match &self.shared {
            Some(s) => Some(replies.iter().map(|r| s.reward(self.embedding_dim, r)).collect::<Result<Vec<f64>>>()?),
            None => None,
        };
        let transformed = match (self.base_reward, base_rewards) {
            (true, Some(r)) if r.len() == replies.len() => Some(centred_transform(r)?),
            (true, Some(r)) => return Err(PersonalError::DimensionMismatch { expected: replies.len(), found: r.len() }),
            (true, None) => return Err(PersonalError::InvalidSpec("this taste file expects reward-model scores".into())),
            (false, _) => None,
        };
        replies
            .iter()
            .enumerate()
            .map(|(i, reply)| {
                let r = reply.representation(self.embedding_dim, self.token_bag)?;
                let x = &r[..self.embedding_dim];
                let mut f = Vec::with_capacity(self.dim());
                if let Some(t) = &transformed {
                    f.push(t[i]);
                }
                if let Some(s) = &shared {
                    f.push(s[i]);
                }
                for c in &self.cues {
                    let values = crate::shared::representation(&[c.block], self.embedding_dim, reply)?;
                    f.extend(values.iter().zip(&c.standardise).map(|(v, s)| s.apply(*v)));
                }
                for (p, s) in self.principles.iter().zip(&self.principle_standardise) {
                    f.push(s.apply(p.reward(x)));
                }
                for b in &self.basis {
                    f.push(b.standardise.apply(dot(&b.direction, &r)));
                }
                Ok(DVector::from_vec(f))
            })
            .collect()
    }
}

fn put_pair(h: &mut sha2::Sha256, a: f64, b: f64) {
    use sha2::Digest;
    h.update(a.to_le_bytes());
    h.update(b.to_le_bytes());
}

pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(a, b)| a * b).sum()
}

/// `v / ‖v‖` in f64; NaN, infinity or a zero vector are errors.
pub(crate) fn unit(v: &[f32], what: &'static str) -> Result<Vec<f64>> {
    if v.iter().any(|x| !x.is_finite()) {
        return Err(PersonalError::NonFinite { what });
    }
    let norm = v.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>().sqrt();
    if norm < 1e-12 {
        return Err(PersonalError::InvalidSpec(format!("{what} is the zero vector")));
    }
    Ok(v.iter().map(|&x| f64::from(x) / norm).collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_principle_named_like_another_feature_group_is_refused() {
        for name in ["length", "on-topic", "shared", "reward", "taste-2"] {
            let json = format!(r#"[{{"name": "{name}", "goal": "A reply about {name}."}}]"#);
            match Principle::list_from_json(&json) {
                Err(PersonalError::InvalidSpec(m)) => assert!(m.contains(name) && m.contains("choose another name"), "{m}"),
                other => panic!("{name}: expected InvalidSpec, got {other:?}"),
            }
        }
        assert!(Principle::list_from_json(r#"[{"name": "lengthy", "goal": "A long reply."}]"#).is_ok());
        // Every cue name is reserved.
        for block in [crate::shared::Block::Length, crate::shared::Block::PromptCosine] {
            for n in block.cue_names().unwrap() {
                assert!(RESERVED_NAMES.contains(n), "{n}");
            }
        }
    }

    use super::*;

    #[test]
    fn vlm_rm_reward_matches_the_matrix_formula() {
        let g = [0.6f32, 0.8, 0.0];
        let b = [1.0f32, 0.0, 0.0];
        for alpha in [0.0, 0.3, 1.0] {
            let head = PrincipleHead::new(Principle::new("p", "p", "goal"), &g, &b, alpha).unwrap();
            let x = [0.2, -0.5, 0.9];
            let n = (0.2f64 * 0.2 + 0.25 + 0.81).sqrt();
            let x: Vec<f64> = x.iter().map(|v| v / n).collect();
            // Explicit P = α ddᵀ/‖d‖² + (1 − α) I.
            let d = nalgebra::Vector3::<f64>::new(0.6 - 1.0, 0.8, 0.0);
            let p: nalgebra::Matrix3<f64> = d * d.transpose() * (alpha / d.norm_squared()) + nalgebra::Matrix3::identity() * (1.0 - alpha);
            let v = nalgebra::Vector3::<f64>::new(x[0] - 0.6, x[1] - 0.8, x[2]);
            let expected = 1.0 - 0.5 * (p * v).norm_squared();
            assert!((head.reward(&x) - expected).abs() < 1e-6, "alpha {alpha}");
        }
        // α = 0 is an affine function of cosine similarity to the goal: 1 − ½‖x − g‖² = xᵀg.
        let head = PrincipleHead::new(Principle::new("p", "p", "goal"), &g, &b, 0.0).unwrap();
        let x = [0.0, 1.0, 0.0];
        assert!((head.reward(&x) - 0.8).abs() < 1e-6);
        // The goal itself gets the maximum reward, 1.
        assert!((head.reward(&[0.6, 0.8, 0.0]) - 1.0).abs() < 1e-6);
    }

    #[test]
    fn bad_heads_are_refused() {
        let p = || Principle::new("p", "p", "goal");
        assert!(PrincipleHead::new(p(), &[1.0, 0.0], &[2.0, 0.0], 0.5).is_err(), "same direction");
        assert!(PrincipleHead::new(p(), &[1.0, 0.0], &[0.0, 1.0], 1.5).is_err());
        assert!(PrincipleHead::new(p(), &[f32::NAN, 0.0], &[0.0, 1.0], 0.5).is_err());
        assert!(PrincipleHead::new(p(), &[1.0], &[0.0, 1.0], 0.5).is_err());
    }
}
