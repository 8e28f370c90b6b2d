//! Layers over the kernels: the linear layer and the forms of its weight ([`linear`]), weight
//! quantization ([`quantize`]), parameter construction for loading ([`params`]), padded batches
//! ([`batch`]).

pub(crate) mod batch;
pub mod linear;
pub(crate) mod params;
pub mod quantize;

pub use linear::Linear;
