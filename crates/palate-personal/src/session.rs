//! One user's live session, as the browser worker and the CLI hold it: replies come in as text,
//! their embeddings are cached by text, questions get ids, and every result is a serialisable
//! value.
//!
//! A ranking is composed in one place, [`prepare`] then [`Session::rerank`]: the browser worker
//! (`palate-wasm`) and the CLI (`palate eval-pairs`) both call these two, each with its own
//! [`Encoder`] over the same sentence encoder. `prepare` embeds what is not cached yet: the prompt
//! (when the shared reward reads it), each reply and its sentences, and the replies' token bags
//! (when the taste file or the shared reward reads them).

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::future::Future;

use nalgebra::DVector;
use serde::Serialize;

use crate::features::{FeatureSpec, ReplyEmbedding, split_sentences};
use crate::posterior::Answer;
use crate::taste::TasteModel;
use crate::{PersonalError, Result};

/// Most replies one call accepts.
pub const MAX_REPLIES: usize = 64;
/// Longest reply accepted, in characters (embeddings read only the first 256 tokens anyway).
pub const MAX_REPLY_CHARS: usize = 100_000;
/// Embeddings kept in the cache before it is emptied.
pub const CACHE_LIMIT: usize = 8192;

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct RankedReply {
    pub index: usize,
    pub reward: f64,
    pub uncertainty: f64,
    pub explanation: String,
    /// Per feature group: name, human label, contribution relative to the average reply.
    pub contributions: Vec<ContributionOut>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ContributionOut {
    pub group: String,
    pub label: String,
    pub value: f64,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct QuestionOut {
    pub id: u32,
    pub a: usize,
    pub b: usize,
    /// Expected information gain (nats).
    pub gain: f64,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Weight {
    pub name: String,
    pub label: String,
    pub mean: f64,
    pub sd: f64,
}

/// The user's current weights, for charts.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TasteSummary {
    pub answers: usize,
    pub weights: Vec<Weight>,
}

/// The sentence encoder as a session needs it. Implemented over `palate_models::SentenceEmbedder`
/// by the browser glue and by the CLI.
pub trait Encoder {
    /// Unit-pooled sentence embeddings of `texts`, in order.
    fn embed(&self, texts: &[String]) -> impl Future<Output = Result<Vec<Vec<f32>>>>;
    /// The sum of each text's static token embeddings, in order.
    fn token_bags(&self, texts: &[String]) -> impl Future<Output = Result<Vec<Vec<f32>>>>;
}

/// Embeds what `session` lacks to rank `replies` to `prompt` (see the module docs). The session is
/// borrowed only between the encoder's awaits, so other calls may use it meanwhile.
pub async fn prepare(session: &RefCell<Session>, encoder: &impl Encoder, prompt: &str, replies: &[String]) -> Result<()> {
    Session::check_replies(replies, 1)?;
    session.borrow_mut().make_room(replies);
    let missing = session.borrow().missing_texts(prompt, replies);
    if !missing.is_empty() {
        let embedded = encoder.embed(&missing).await?;
        session.borrow_mut().remember(missing, embedded)?;
    }
    let bag_texts = session.borrow().missing_bags(replies);
    if !bag_texts.is_empty() {
        let bags = encoder.token_bags(&bag_texts).await?;
        session.borrow_mut().remember_bags(bag_texts, bags)?;
    }
    Ok(())
}

struct Pending {
    a: DVector<f64>,
    b: DVector<f64>,
    key: (String, String),
}

pub struct Session {
    model: TasteModel,
    cache: HashMap<String, Vec<f32>>,
    /// Token bags of replies, by text (only when the spec reads them).
    bags: HashMap<String, Vec<f32>>,
    pending: HashMap<u32, Pending>,
    asked: HashSet<(String, String)>,
    next_id: u32,
}

impl Session {
    pub fn new(spec: FeatureSpec) -> Result<Self> {
        Ok(Self {
            model: TasteModel::new(spec)?,
            cache: HashMap::new(),
            bags: HashMap::new(),
            pending: HashMap::new(),
            asked: HashSet::new(),
            next_id: 1,
        })
    }

    pub fn model(&self) -> &TasteModel {
        &self.model
    }

    /// Checks a call's replies: count and size.
    pub fn check_replies(replies: &[String], needed: usize) -> Result<()> {
        if replies.len() < needed {
            return Err(PersonalError::TooFewCandidates { needed, found: replies.len() });
        }
        if replies.len() > MAX_REPLIES {
            return Err(PersonalError::InvalidInput(format!("{} replies given; Palate ranks at most {MAX_REPLIES} at once", replies.len())));
        }
        for (i, r) in replies.iter().enumerate() {
            let n = r.chars().count();
            if n > MAX_REPLY_CHARS {
                return Err(PersonalError::InvalidInput(format!(
                    "reply {} is {n} characters long; Palate reads at most {MAX_REPLY_CHARS}",
                    i + 1
                )));
            }
        }
        Ok(())
    }

    /// Texts (the prompt when the shared reward reads it, replies and their sentences) whose
    /// embeddings are not cached yet, each once.
    pub fn missing_texts(&self, prompt: &str, replies: &[String]) -> Vec<String> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        if self.model.spec().needs_prompt() && !self.cache.contains_key(prompt) {
            seen.insert(prompt.to_string());
            out.push(prompt.to_string());
        }
        for r in replies {
            for t in std::iter::once(r.clone()).chain(split_sentences(r)) {
                if !self.cache.contains_key(&t) && seen.insert(t.clone()) {
                    out.push(t);
                }
            }
        }
        out
    }

    /// Empties the caches when ranking `replies` might take them past [`CACHE_LIMIT`]. Called
    /// before asking what is missing ([`prepare`] does), never between that and the ranking:
    /// emptying then would drop texts the ranking needs.
    pub fn make_room(&mut self, replies: &[String]) {
        let most = 1 + replies.len() * (1 + crate::features::MAX_SENTENCES);
        if self.cache.len() + most > CACHE_LIMIT {
            self.cache.clear();
        }
        if self.bags.len() + replies.len() > CACHE_LIMIT {
            self.bags.clear();
        }
    }

    /// Stores embeddings of `texts` (as returned by the model, in order).
    pub fn remember(&mut self, texts: Vec<String>, embeddings: Vec<Vec<f32>>) -> Result<()> {
        if texts.len() != embeddings.len() {
            return Err(PersonalError::DimensionMismatch { expected: texts.len(), found: embeddings.len() });
        }
        self.cache.extend(texts.into_iter().zip(embeddings));
        Ok(())
    }

    /// Replies whose token bag is needed and not cached yet, each once (none when the taste file
    /// does not read token bags).
    pub fn missing_bags(&self, replies: &[String]) -> Vec<String> {
        if !self.model.spec().needs_tokens() {
            return Vec::new();
        }
        let mut seen = HashSet::new();
        replies.iter().filter(|r| !self.bags.contains_key(*r) && seen.insert(*r)).cloned().collect()
    }

    /// Stores the token bags of `texts` (the embedder's `token_bags`, in order).
    pub fn remember_bags(&mut self, texts: Vec<String>, bags: Vec<Vec<f32>>) -> Result<()> {
        if texts.len() != bags.len() {
            return Err(PersonalError::DimensionMismatch { expected: texts.len(), found: bags.len() });
        }
        let dim = self.model.spec().embedding_dim;
        if let Some(b) = bags.iter().find(|b| b.len() != dim) {
            return Err(PersonalError::DimensionMismatch { expected: dim, found: b.len() });
        }
        self.bags.extend(texts.into_iter().zip(bags));
        Ok(())
    }

    /// Adds the reward model's score as a feature (prior weight 1, variance 0.25); the profile
    /// then belongs to this (model, reward model) pair. Call before any answer.
    pub fn use_base_reward(&mut self) -> Result<()> {
        let spec = self.model.spec().with_base_reward(1.0, 0.25)?;
        self.model = TasteModel::new(spec)?;
        self.pending.clear();
        self.asked.clear();
        Ok(())
    }

    /// Whether rerank and questions need reward-model scores.
    pub fn needs_base_reward(&self) -> bool {
        self.model.spec().base_reward
    }

    fn features(&self, prompt: &str, replies: &[String], base: Option<&[f64]>) -> Result<Vec<DVector<f64>>> {
        let get = |t: &str| {
            self.cache
                .get(t)
                .cloned()
                .ok_or_else(|| PersonalError::InvalidInput("a text was not embedded first (call prepare)".into()))
        };
        let spec = self.model.spec();
        let prompt = if spec.needs_prompt() { get(prompt)? } else { Vec::new() };
        let embedded = replies
            .iter()
            .map(|r| {
                let tokens = if spec.needs_tokens() {
                    self.bags.get(r).cloned().ok_or_else(|| {
                        PersonalError::InvalidInput("a reply's token bag was not given first (call missing_bags and remember_bags)".into())
                    })?
                } else {
                    Vec::new()
                };
                Ok(ReplyEmbedding {
                    whole: get(r)?,
                    sentences: split_sentences(r).iter().map(|s| get(s)).collect::<Result<_>>()?,
                    tokens,
                    prompt: prompt.clone(),
                    chars: r.chars().count(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        self.model.features(&embedded, base)
    }

    /// The replies ranked, best first, with explanations.
    /// `base`: the reward model's raw scores of `replies` when [`Self::needs_base_reward`].
    pub fn rerank(&self, prompt: &str, replies: &[String], base: Option<&[f64]>, conservative: Option<f64>) -> Result<Vec<RankedReply>> {
        Self::check_replies(replies, 1)?;
        let features = self.features(prompt, replies, base)?;
        let ranked = self.model.rerank(&features, conservative)?;
        Ok(ranked
            .into_iter()
            .map(|r| RankedReply {
                index: r.index,
                reward: r.reward,
                uncertainty: r.uncertainty,
                explanation: r.explanation,
                contributions: r
                    .contributions
                    .into_iter()
                    .map(|c| ContributionOut { label: self.label(&c.group), group: c.group, value: c.value })
                    .collect(),
            })
            .collect())
    }

    fn label(&self, group: &str) -> String {
        match group {
            "reward" => "reward model".into(),
            "shared" => "what people generally prefer".into(),
            "length" => "length".into(),
            "sentences" => "number of sentences".into(),
            "on-topic" => "closeness to the question".into(),
            "taste" => "your learned style".into(),
            name => self
                .model
                .spec()
                .principles
                .iter()
                .find(|p| p.principle.name == name)
                .map(|p| p.principle.label.clone())
                .unwrap_or_else(|| name.into()),
        }
    }

    /// The most informative pair of these replies that was not asked before.
    pub fn next_question(&mut self, prompt: &str, replies: &[String], base: Option<&[f64]>) -> Result<QuestionOut> {
        Self::check_replies(replies, 2)?;
        let features = self.features(prompt, replies, base)?;
        let key = |a: usize, b: usize| {
            let (x, y) = (replies[a].clone(), replies[b].clone());
            if x <= y { (x, y) } else { (y, x) }
        };
        let mut asked_idx = HashSet::new();
        for a in 0..replies.len() {
            for b in a + 1..replies.len() {
                if replies[a] == replies[b] || self.asked.contains(&key(a, b)) {
                    asked_idx.insert((a, b));
                }
            }
        }
        let q = self.model.next_question(&features, &asked_idx)?;
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        if self.pending.len() > 256 {
            self.pending.clear();
        }
        self.pending.insert(id, Pending { a: features[q.a].clone(), b: features[q.b].clone(), key: key(q.a, q.b) });
        Ok(QuestionOut { id, a: q.a, b: q.b, gain: q.gain })
    }

    /// Records the answer to question `id` ("a", "b", "tie", "skip").
    pub fn answer(&mut self, id: u32, answer: &str) -> Result<TasteSummary> {
        let answer: Answer = crate::profile::parse_answer(answer)?;
        let pending = self
            .pending
            .get(&id)
            .ok_or_else(|| PersonalError::InvalidInput(format!("no open question with id {id} (already answered, or from before a reload)")))?;
        self.model.answer(&pending.a, &pending.b, answer)?;
        let pending = self.pending.remove(&id);
        if let Some(p) = pending {
            self.asked.insert(p.key);
        }
        Ok(self.summary())
    }

    pub fn summary(&self) -> TasteSummary {
        let post = self.model.posterior();
        let names = self.model.spec().names();
        TasteSummary {
            answers: self.model.history().iter().filter(|c| c.answer != Answer::Skip).count(),
            weights: names
                .into_iter()
                .enumerate()
                .map(|(i, name)| Weight {
                    label: match name.strip_prefix("taste-") {
                        Some(k) => format!("learned style {k}"),
                        None => self.label(&name),
                    },
                    name,
                    mean: post.mean()[i],
                    sd: post.covariance()[(i, i)].max(0.0).sqrt(),
                })
                .collect(),
        }
    }

    pub fn export_profile(&self) -> String {
        self.model.export_profile()
    }

    /// Replaces the taste with an imported profile; on error the current one is kept.
    pub fn import_profile(&mut self, json: &str) -> Result<TasteSummary> {
        self.model = TasteModel::import_profile(self.model.spec().clone(), json)?;
        self.asked.clear();
        self.pending.clear();
        Ok(self.summary())
    }

    pub fn forget(&mut self) -> TasteSummary {
        self.model.forget();
        self.asked.clear();
        self.pending.clear();
        self.summary()
    }
}
