//! Matrix products, routed by device: on the wgpu backend Palate's WGSL kernels ([`crate::kernels::wgsl`]),
//! on burn's CPU backend burn's own matmul. burn's matmul is referenced only with the `cpu`
//! feature, so the browser's WebGPU build (no `cpu`) carries none of it — 0.45 MB gzip of cubek
//! kernels. Any call that merely could run links it, so on the WebGPU build nothing may reference
//! it; [`crate::kernels::wgsl`] lists the indirect callers (burn-nn's initializers) and what replaces them.

use burn::tensor::Tensor;

/// `a · b`, batched over the leading dimensions: `[.., m, k] · [.., k, n] → [.., m, n]`.
pub fn matmul<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> Tensor<D> {
    #[cfg(feature = "wgpu")]
    if let Some(y) = crate::kernels::wgsl::matmul(&a, &b) {
        return y;
    }
    burn_matmul(a, b)
}

/// `x · w + bias` for `x [.., k]`, `w [k, n]` (burn's `Linear` layout), `bias [n]`.
pub fn linear<const D: usize>(x: Tensor<D>, w: Tensor<2>, bias: Option<Tensor<1>>) -> Tensor<D> {
    #[cfg(feature = "wgpu")]
    if let Some(y) = crate::kernels::wgsl::linear(&x, &w, bias.as_ref()) {
        return y;
    }
    burn_linear(x, w, bias)
}

#[cfg(feature = "cpu")]
fn burn_matmul<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> Tensor<D> {
    a.matmul(b)
}

#[cfg(feature = "cpu")]
fn burn_linear<const D: usize>(x: Tensor<D>, w: Tensor<2>, bias: Option<Tensor<1>>) -> Tensor<D> {
    burn::tensor::module::linear(x, w, bias)
}

// Without burn's CPU backend every tensor is the wgpu backend's, and the kernels decline only
// products whose indices overflow u32 (tens of gigabytes: the device refuses such buffers first).
// These panics cannot fire from input: every forward pass on wgpu is guarded first, refusing a
// batch whose products would pass u32 with an error (`DecoderScorer::embed_batch`,
// `SentenceEmbedder::embed_ids`).
#[cfg(not(feature = "cpu"))]
fn burn_matmul<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> Tensor<D> {
    panic!("a matrix product of {:?} by {:?} is beyond Palate's WebGPU kernels (u32 indices)", a.dims(), b.dims())
}

#[cfg(not(feature = "cpu"))]
fn burn_linear<const D: usize>(x: Tensor<D>, w: Tensor<2>, _bias: Option<Tensor<1>>) -> Tensor<D> {
    panic!("a linear layer of {:?} by {:?} is beyond Palate's WebGPU kernels (u32 indices)", x.dims(), w.dims())
}
