//! Palate's personal-taste math, pure Rust (nalgebra), no burn: it runs unchanged natively and in
//! wasm, and is cheap enough to update after every answer.
//!
//! - [`transform`]: the log-sigmoid reward transform and sum-as-AND combination.
//! - [`posterior`]: a Laplace-approximated Bayesian Bradley–Terry model of one user's weights over
//!   reply features, with predictive preference probabilities and their uncertainty.
//! - [`mixture`]: the same posterior under a Gaussian-mixture population prior (kinds of users,
//!   PAL/MiCRo style), and fitting that prior.
//! - [`active`]: which pair to ask about next (BALD information gain).
//! - [`features`]: what a reply is to the model (principle heads, taste basis, base reward).
//! - [`basis`]: learning the taste basis and population prior from many users (`train-basis`).
//! - [`taste`]: one user's model: rerank with explanations, questions, answers.
//! - [`profile`]: the versioned JSON profile (export, import, forget).
//! - [`session`]: texts in, serialisable results out, for the browser worker.
//! - [`eval`]: offline evaluation (`eval-personal`).
//! - [`shared`]: the reward every user starts from, learned from human preference pairs.
//! - [`pairs`]: reading human preference pairs, the held-out split, accuracy with intervals.

// A panic is a dead worker in the browser: library code returns errors. The few `expect`s left
// hold invariants input cannot reach, each with an `allow` that says why.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod active;
pub mod basis;
pub mod eval;
pub mod features;
pub mod mixture;
pub mod pairs;
pub mod posterior;
pub mod profile;
pub mod quadrature;
pub mod session;
pub mod shared;
pub mod taste;
pub mod transform;

/// Errors from the personal model, worded for the web developer who passed the data.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PersonalError {
    #[error("feature vector has {found} entries, the model expects {expected}")]
    DimensionMismatch { expected: usize, found: usize },
    #[error("{what} contains NaN or infinity")]
    NonFinite { what: &'static str },
    #[error("need at least {needed} candidates, got {found}")]
    TooFewCandidates { needed: usize, found: usize },
    #[error("invalid prior: {0}")]
    InvalidPrior(String),
    #[error("{0}")]
    InvalidInput(String),
    #[error("profile refused: {0}")]
    Profile(String),
    #[error("invalid taste file: {0}")]
    InvalidSpec(String),
    #[error("{0}")]
    Encoder(String),
    #[error("no pair left to ask about: every pair was asked already or its replies are indistinguishable")]
    NoQuestionLeft,
}

pub type Result<T, E = PersonalError> = std::result::Result<T, E>;
