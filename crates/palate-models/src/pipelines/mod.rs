//! What a caller uses: text → ids ([`text`]), chat templates ([`chat`]), sentence embeddings
//! ([`sentence`]), reward-model scores ([`reward`]) and a causal LM's log-probabilities and
//! follow-up likelihood reward ([`causal`]).

pub mod causal;
pub mod chat;
pub mod reward;
pub mod sentence;
pub mod text;
