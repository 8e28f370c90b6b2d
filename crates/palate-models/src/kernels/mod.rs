//! Kernels: the arithmetic under every layer. CPU: f32 panels ([`gemm`]), i8 and q4 blocks
//! ([`igemm`]), fused element-wise ops ([`cpu_ops`]) and self-attention ([`attention`]), all split
//! across threads by [`pool`]; GPU: Palate's WGSL matmuls ([`wgsl`]); and [`ops`], the one matmul
//! every model calls, which picks among them by backend.
//! Nothing here knows a model or a file.

pub mod attention;
pub mod cpu_ops;
pub mod gemm;
pub mod igemm;
pub mod ops;
pub mod pool;
#[cfg(feature = "wgpu")]
pub mod wgsl;
