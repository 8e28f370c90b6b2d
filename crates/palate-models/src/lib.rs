//! Palate's models on burn: one file per architecture with Hugging Face names ([`bert`]), the files
//! of a model folder ([`files`]), tokenization ([`text`]) and the sentence-embedding pipeline
//! ([`sentence`]). Backend-generic: the same code runs on burn's CPU backend and on wgpu/WebGPU
//! ([`device`]).

mod batch;
pub mod bert;
pub mod chat;
pub mod cpu_ops;
pub mod decoder;
pub mod device;
pub mod error;
pub mod files;
pub mod gemm;
pub mod igemm;
pub mod ops;
pub mod pack;
mod params;
pub mod quantize;
pub mod reward;
pub mod sentence;
pub mod text;
#[cfg(feature = "wgpu")]
pub mod wgsl;

pub use burn;
pub use device::BackendKind;
pub use error::{PalateError, Result};
pub use files::ModelFiles;
pub use pack::{Pack, PackKind, StoredPrecision};
pub use quantize::Precision;
pub use sentence::{Embedded, SentenceEmbedder};
