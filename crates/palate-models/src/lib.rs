//! Palate's models on burn, in layers that import only downwards:
//!
//! | layer | role |
//! |---|---|
//! | [`error`], [`device`], [`limits`] | the error type; CPU / wgpu devices; what Palate accepts |
//! | [`kernels`] | CPU gemm / igemm / fused ops and the WGSL matmuls; [`kernels::ops::matmul`] picks one |
//! | [`nn`] | the linear layer and its weight's storage ([`nn::Linear`]), quantization, parameters, batches |
//! | [`io`] | model folders, `.bpk` packs, GGUF files: formats only |
//! | [`models`] | architectures with Hugging Face names: BERT, the Llama / Qwen3 decoder |
//! | [`pipelines`] | tokenizers and chat templates, sentence embeddings, reward scores, causal-LM log-probs |
//! | [`convert`] | a Hugging Face folder → a `.bpk` (native) |
//!
//! Backend-generic: the same code runs on burn's CPU backend and on wgpu/WebGPU.

// A panic is a dead worker in the browser: library code returns errors. The few `expect`s left
// hold invariants input cannot reach, each with an `allow` that says why.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod device;
pub mod error;
pub mod io;
pub mod kernels;
pub mod limits;
pub mod models;
pub mod nn;
pub mod pipelines;
#[cfg(all(not(target_family = "wasm"), feature = "cpu"))]
pub mod convert;

pub use burn;
pub use device::BackendKind;
pub use error::{PalateError, Result};
pub use io::files::ModelFiles;
pub use io::pack::{Pack, PackKind, StoredPrecision};
pub use nn::quantize::Precision;
pub use pipelines::sentence::{Embedded, SentenceEmbedder};
