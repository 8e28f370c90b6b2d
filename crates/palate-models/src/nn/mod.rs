//! Layers over the kernels: how a linear layer's weight is stored and applied ([`quantize`]),
//! parameter construction for loading ([`params`]), padded batches ([`batch`]).

pub(crate) mod batch;
pub(crate) mod params;
pub mod quantize;
