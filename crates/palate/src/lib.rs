//! One composition of a ranking, above `palate-models` (what scores text) and `palate-personal`
//! (what learns a user's taste): a [`Ranker`] owns the encoder, the optional reward model and the
//! user's [`Session`], and ranks replies the same way wherever it runs. The browser's worker
//! (through `palate-wasm`, bindings only) and the CLI (`palate rerank`, `palate eval-pairs`) both
//! rank through it, so a native evaluation measures exactly what a page shows.
//!
//! A ranking of `replies` to `prompt`:
//! 1. embed what the session lacks: the prompt, each reply, its sentences and its token bag
//!    ([`palate_personal::session::prepare`], cached per text);
//! 2. with a reward model, its score of each reply in the conversation (the base reward, a
//!    feature the taste weighs like any other);
//! 3. the session's rerank: features → the user's posterior → rewards, uncertainty, explanations.
//!
//! Async where the browser needs it (the encoder and the reward model await the GPU); natively,
//! `pollster::block_on` drives the same futures.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::cell::{Ref, RefCell};
use std::rc::Rc;

use palate_models::pipelines::chat::Message;
use palate_models::pipelines::reward::Rewarder;
use palate_models::{PalateError, SentenceEmbedder};
use palate_personal::PersonalError;
use palate_personal::features::{DEFAULT_ALPHA, FeatureSpec, Principle, PrincipleHead};
use palate_personal::session::{Encoder, QuestionOut, RankedReply, Session, TasteSummary, prepare};

pub use palate_models;
pub use palate_personal;

/// What a ranking can fail with: the models' errors or the taste's, kept apart so callers can
/// tell a bad model file from a bad profile.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// From the encoder or the reward model (files, weights, input sizes, devices).
    #[error(transparent)]
    Model(#[from] PalateError),
    /// From the taste: its file, a profile, an answer, the replies given.
    #[error(transparent)]
    Taste(#[from] PersonalError),
    /// A taste file made for another encoder (its model fingerprint differs).
    #[error("palate-taste.json was made for another model (its model fingerprint differs)")]
    WrongModel,
}

pub type Result<T> = std::result::Result<T, Error>;

/// A [`SentenceEmbedder`] as a taste session asks for it: sentence embeddings and token bags.
pub struct SentenceEncoder(pub Rc<SentenceEmbedder>);

impl Encoder for SentenceEncoder {
    async fn embed(&self, texts: &[String]) -> palate_personal::Result<Vec<Vec<f32>>> {
        let embedded = self.0.embed(texts).await.map_err(|e| PersonalError::Encoder(e.to_string()))?;
        Ok(embedded.into_iter().map(|e| e.embedding).collect())
    }

    async fn token_bags(&self, texts: &[String]) -> palate_personal::Result<Vec<Vec<f32>>> {
        let ids = self.0.tokenize(texts).map_err(|e| PersonalError::Encoder(e.to_string()))?;
        self.0.token_bags(&ids).await.map_err(|e| PersonalError::Encoder(e.to_string()))
    }
}

/// A ranking: the replies best first, and the reward model's scores (in the order given) when
/// the ranker has one.
#[derive(Clone, Debug)]
pub struct Ranking {
    pub replies: Vec<RankedReply>,
    pub base: Option<Vec<f64>>,
}

/// One user's ranker over one encoder: rerank, questions, answers, profile.
///
/// Cloning is cheap and shares everything (the session included): the browser glue moves a clone
/// into each call's future. Calls may interleave at their awaits; the session is borrowed only
/// between them.
pub struct Ranker<E> {
    encoder: Rc<E>,
    session: Rc<RefCell<Session>>,
    reward: Option<Rc<Rewarder>>,
}

impl<E> Clone for Ranker<E> {
    fn clone(&self) -> Self {
        Self { encoder: Rc::clone(&self.encoder), session: Rc::clone(&self.session), reward: self.reward.clone() }
    }
}

impl<E: Encoder> Ranker<E> {
    /// A new user's ranker from a taste file's spec, refused when the spec was made for another
    /// model than `fingerprint` (the encoder's). `principles` replace the file's principle heads;
    /// their goal and baseline texts are embedded here, with the file's α (or the default).
    pub async fn new(encoder: Rc<E>, fingerprint: &str, mut spec: FeatureSpec, principles: Option<Vec<Principle>>) -> Result<Self> {
        if spec.model != fingerprint {
            return Err(Error::WrongModel);
        }
        if let Some(principles) = principles {
            if principles.is_empty() {
                return Err(PersonalError::InvalidInput("principles: give at least one, or leave the option out for the defaults".into()).into());
            }
            let texts: Vec<String> = principles.iter().flat_map(|p| [p.goal.clone(), p.baseline.clone()]).collect();
            let embedded = encoder.embed(&texts).await?;
            if embedded.len() != texts.len() {
                return Err(PersonalError::Encoder(format!("{} embeddings for {} principle texts", embedded.len(), texts.len())).into());
            }
            let alpha = spec.principles.first().map_or(DEFAULT_ALPHA, |p| p.alpha);
            let heads = principles
                .into_iter()
                .zip(embedded.chunks(2))
                .map(|(p, e)| PrincipleHead::new(p, &e[0], &e[1], alpha))
                .collect::<palate_personal::Result<Vec<_>>>()?;
            spec = spec.with_principles(heads)?;
        }
        Ok(Self { encoder, session: Rc::new(RefCell::new(Session::new(spec)?)), reward: None })
    }

    /// Makes `reward`'s score a feature (prior weight 1). Call before restoring a profile: a
    /// profile is bound to the features it was learned over.
    pub fn use_reward(&mut self, reward: Rc<Rewarder>) -> Result<()> {
        self.session.borrow_mut().use_base_reward()?;
        self.reward = Some(reward);
        Ok(())
    }

    /// The reward model, if the ranker uses one.
    pub fn reward(&self) -> Option<&Rewarder> {
        self.reward.as_deref()
    }

    /// The user's session (features, posterior, caches), read-only.
    pub fn session(&self) -> Ref<'_, Session> {
        self.session.borrow()
    }

    /// Ranks `replies` to `prompt` after the earlier turns `history` (see the crate docs).
    /// `conservative` ranks by a lower confidence bound (mean − `conservative` · sd) instead of
    /// the mean.
    pub async fn rerank(&self, history: &[Message], prompt: &str, replies: &[String], conservative: Option<f64>) -> Result<Ranking> {
        let base = self.prepare(history, prompt, replies).await?;
        let ranked = self.session.borrow().rerank(prompt, replies, base.as_deref(), conservative)?;
        Ok(Ranking { replies: ranked, base })
    }

    /// The pair of `replies` whose answer would teach the taste most (at least two replies).
    pub async fn next_question(&self, history: &[Message], prompt: &str, replies: &[String]) -> Result<QuestionOut> {
        Session::check_replies(replies, 2)?;
        let base = self.prepare(history, prompt, replies).await?;
        Ok(self.session.borrow_mut().next_question(prompt, replies, base.as_deref())?)
    }

    /// Steps 1 and 2 of a ranking: the session's embeddings, and the reward model's scores.
    async fn prepare(&self, history: &[Message], prompt: &str, replies: &[String]) -> Result<Option<Vec<f64>>> {
        prepare(&self.session, self.encoder.as_ref(), prompt, replies).await?;
        let Some(reward) = &self.reward else { return Ok(None) };
        let scores = reward.score_conversation(history, prompt, replies).await?;
        Ok(Some(scores.into_iter().map(f64::from).collect()))
    }

    /// Records an answer ("a", "b", "tie", "skip") to question `id`.
    pub fn answer(&self, id: u32, answer: &str) -> Result<TasteSummary> {
        Ok(self.session.borrow_mut().answer(id, answer)?)
    }

    /// The user's answers so far and current weights.
    pub fn summary(&self) -> TasteSummary {
        self.session.borrow().summary()
    }

    /// The profile as JSON: what the user taught, bound to this model and spec.
    pub fn export_profile(&self) -> String {
        self.session.borrow().export_profile()
    }

    /// Replaces the taste with a stored profile; on error nothing changes.
    pub fn import_profile(&self, json: &str) -> Result<TasteSummary> {
        Ok(self.session.borrow_mut().import_profile(json)?)
    }

    /// Forgets every answer: back to the prior.
    pub fn forget(&self) -> TasteSummary {
        self.session.borrow_mut().forget()
    }
}
