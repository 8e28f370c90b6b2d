//! The linear layer, `y = x · W + b`, and the forms its weight is stored in.
//!
//! One type for every linear layer of every model: [`Linear`] owns its weight `W`, `[d_in, d_out]`
//! (burn-nn's layout) in whichever form its device multiplies best ([`Weight`]), and [`Linear::forward`]
//! picks the product from that form. Checkpoints load into the burn tensor (field names `weight`
//! and `bias`, as burn-nn's `Linear`, so burn-store's PyTorch adapter transposes it); the model then
//! moves it to the host where that is faster or smaller:
//!
//! | form | where | product |
//! |---|---|---|
//! | burn tensor, f32 | wgpu; native CPU | [`crate::kernels::ops::linear`] (WGSL kernel / burn) |
//! | burn tensor, q8 / q4 | wgpu; native CPU | dequantized per call, then as f32 ([`burn_quantized`]) |
//! | [`HostWeight::F32`] | the browser's CPU backend ([`gemm::PREFERRED`]) | [`gemm::matmul`] on packed panels |
//! | [`HostWeight::I8`] | an encoder quantized on the browser's CPU | [`igemm::matmul`], integer products |
//! | [`HostWeight::Q4`] | a decoder's q4 weights on any CPU | dequantized per call into panels |

use std::sync::Arc;

use burn::module::{Module, Param};
use burn::tensor::{DType, Device, Tensor, TensorData};

use crate::kernels::gemm::{self, PackedMatrix};
use crate::kernels::igemm::{self, PackedI8};
use crate::nn::params;
use crate::nn::quantize::{HostQ4, dequantize_on_host, row_blocked};

/// A linear layer whose weight is a burn tensor or held on the host ([`Weight`]).
///
/// Exactly one of `weight` and `host` holds the weight; the fields are private so that only the
/// methods below move it between them.
#[derive(Module, Debug)]
pub struct Linear {
    /// `W`, `[d_in, d_out]`, as a burn tensor (f32 or burn-quantized): the form checkpoints load
    /// into, quantization maps and packs are written from. `None` while held on the host.
    weight: Option<Param<Tensor<2>>>,
    /// `b`, `[d_out]`.
    bias: Option<Param<Tensor<1>>>,
    /// `W` in a form burn does not hold. Shared, so cloning the module does not copy the weight.
    #[module(skip)]
    host: Option<Arc<HostWeight>>,
}

/// A linear weight held outside burn, on the host, `[d_in, d_out]` in every form.
#[derive(Debug)]
pub enum HostWeight {
    /// f32 in [`gemm`]'s panels (the browser's CPU backend, [`gemm::PREFERRED`]).
    F32(PackedMatrix),
    /// q8 in blocks along d_in for [`igemm`]'s integer products (a sentence encoder quantized on
    /// the browser's CPU backend).
    I8(PackedI8),
    /// q4, packed two values a byte (a decoder's weights on the CPU; dequantized per call).
    Q4(HostQ4),
}

/// A [`Linear`]'s weight, borrowed from whichever field holds it.
enum Held<'a> {
    Burn(&'a Param<Tensor<2>>),
    Host(&'a HostWeight),
}

/// Bytes and count of the weights held on the host among `linears`: `(layers, bytes)`.
pub fn held_on_host<'a>(linears: impl IntoIterator<Item = &'a Linear>) -> (usize, usize) {
    linears.into_iter().filter_map(Linear::host_bytes).fold((0, 0), |(n, b), bytes| (n + 1, b + bytes))
}

/// Where a [`Linear`]'s weight is, for reports and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Weight {
    /// A burn tensor of this dtype (`F32`, or `QFloat` for q8 / q4).
    Burn(DType),
    /// [`HostWeight::F32`].
    HostF32,
    /// [`HostWeight::I8`].
    HostI8,
    /// [`HostWeight::Q4`].
    HostQ4,
}

impl HostWeight {
    /// `[d_in, d_out]`.
    pub fn shape(&self) -> [usize; 2] {
        match self {
            Self::F32(w) => w.shape(),
            Self::I8(w) => w.shape(),
            Self::Q4(w) => w.shape(),
        }
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        match self {
            Self::F32(w) => w.bytes(),
            Self::I8(w) => w.bytes(),
            Self::Q4(w) => w.bytes(),
        }
    }

    /// The f32 values, row-major (dequantized for q8 and q4).
    pub fn to_row_major(&self) -> Vec<f32> {
        match self {
            Self::F32(w) => w.to_row_major(),
            Self::I8(w) => w.to_row_major(),
            Self::Q4(w) => w.dequantize(),
        }
    }

    /// `x · W + bias`, `x` on burn's CPU backend.
    fn forward<const D: usize>(&self, x: Tensor<D>, bias: Option<Tensor<1>>) -> Tensor<D> {
        match self {
            Self::F32(packed) => on_host(x, packed.shape(), bias, |a, rows, bias| gemm::matmul(a, rows, packed, bias)),
            Self::I8(packed) => on_host(x, packed.shape(), bias, |a, rows, bias| igemm::matmul(a, rows, packed, bias)),
            Self::Q4(weight) if gemm::PREFERRED => {
                let packed = weight.dequantize_packed();
                on_host(x, packed.shape(), bias, |a, rows, bias| gemm::matmul(a, rows, &packed, bias))
            }
            Self::Q4(weight) => {
                let w = Tensor::<2>::from_data(TensorData::new(weight.dequantize(), weight.shape()), &x.device());
                crate::kernels::ops::linear(x, w, bias)
            }
        }
    }
}

impl Linear {
    /// A layer `[d_in, d_out]` with lazy placeholder parameters (zeros, nothing allocated) for a
    /// checkpoint to fill ([`params`] says why not burn-nn's `LinearConfig::init`).
    pub fn new(d_in: usize, d_out: usize, bias: bool, device: &Device) -> Self {
        Self { weight: Some(params::zeros([d_in, d_out], device)), bias: bias.then(|| params::zeros([d_out], device)), host: None }
    }

    /// The weight, wherever it is held: the one place that reads the pair of fields.
    fn held(&self) -> Held<'_> {
        match (self.host.as_deref(), &self.weight) {
            (Some(host), _) => Held::Host(host),
            (None, Some(weight)) => Held::Burn(weight),
            // Only `hold` empties `weight`, and it fills `host` in the same step.
            (None, None) => unreachable!("a linear layer without a weight"),
        }
    }

    /// `[d_in, d_out]`, wherever the weight is held (read without allocating a lazy parameter).
    pub fn shape(&self) -> [usize; 2] {
        match self.held() {
            Held::Host(host) => host.shape(),
            Held::Burn(weight) => weight.lazy_shape().dims::<2>(),
        }
    }

    /// Where the weight is held (a burn tensor's dtype is read from its value: call it on a
    /// loaded layer, or a lazy placeholder is allocated).
    pub fn stored(&self) -> Weight {
        match self.held() {
            Held::Host(HostWeight::F32(_)) => Weight::HostF32,
            Held::Host(HostWeight::I8(_)) => Weight::HostI8,
            Held::Host(HostWeight::Q4(_)) => Weight::HostQ4,
            Held::Burn(weight) => Weight::Burn(weight.val().dtype()),
        }
    }

    /// The weight as a burn tensor; `None` while it is held on the host.
    pub fn weight(&self) -> Option<Tensor<2>> {
        self.weight.as_ref().map(Param::val)
    }

    /// The bias, `[d_out]`.
    pub fn bias(&self) -> Option<Tensor<1>> {
        self.bias.as_ref().map(Param::val)
    }

    /// Bytes of a weight held on the host; `None` for a burn tensor.
    pub fn host_bytes(&self) -> Option<usize> {
        self.host.as_deref().map(HostWeight::bytes)
    }

    /// `x [.., d_in]` → `[.., d_out]`.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let bias = self.bias();
        match self.held() {
            Held::Host(host) => host.forward(x, bias),
            Held::Burn(weight) => burn_forward(weight.val(), x, bias),
        }
    }

    /// Holds `weight` on the host in place of the burn tensor. The caller has checked its shape.
    pub(crate) fn hold(&mut self, weight: HostWeight) {
        self.weight = None;
        self.host = Some(Arc::new(weight));
    }

    /// Moves an f32 weight on burn's CPU backend to the host, packed for the host's products:
    /// into [`gemm`]'s panels, or with `q8` quantized for [`igemm`]'s integer products (blocks of
    /// 32 along d_in). Any other weight stays as it is.
    pub(crate) fn hold_packed(&mut self, q8: bool) {
        let Some(weight) = self.weight() else { return };
        if weight.dtype() != DType::F32 || !crate::device::is_cpu(&weight.device()) {
            return;
        }
        let [rows, cols] = weight.dims();
        let Ok(values) = weight.into_data().try_into_vec::<f32>() else { return };
        let held = if q8 {
            PackedI8::from_row_major(&values, rows, cols).map(HostWeight::I8)
        } else {
            PackedMatrix::from_row_major(&values, rows, cols).map(HostWeight::F32)
        };
        if let Some(held) = held {
            self.hold(held);
        }
    }

    /// Moves a q4 weight on burn's CPU backend (a byte per value there) to the host, two values
    /// a byte ([`HostQ4`]). Any other weight stays as it is.
    pub(crate) fn hold_q4(&mut self) {
        if let Some(weight) = self.weight().filter(|w| crate::device::is_cpu(&w.device())).and_then(|w| HostQ4::from_tensor(&w)) {
            self.hold(HostWeight::Q4(weight));
        }
    }

    /// Puts a weight held on the host back into a burn f32 tensor on `device` (q8 / q4
    /// dequantized), for writing the module out or quantizing it.
    pub(crate) fn restore(&mut self, device: &Device) {
        if let Some(host) = self.host.take() {
            let tensor = Tensor::<2>::from_data(TensorData::new(host.to_row_major(), host.shape()), device);
            self.weight = Some(Param::from_tensor(tensor));
        }
    }
}

/// `x · W + bias` for a burn weight; a quantized one is dequantized first and multiplied as f32.
///
/// burn 0.22's fused quantized matmul is not safe to call on real GPUs: on an NVIDIA H200 (Vulkan)
/// it picks a tiling that needs 72 KiB of workgroup memory where the device allows 48 KiB, and
/// `burn-cubecl` unwraps the launch error (a panic; a trap in wasm). Browsers allow 16–32 KiB.
/// Dequantizing costs one elementwise pass over the weight per call (memory-bound) and keeps the
/// weights packed at rest, which is what quantization is for here: download size and resident
/// memory. It is also what burn's CPU backend does inside its own quantized matmul.
fn burn_forward<const D: usize>(weight: Tensor<2>, x: Tensor<D>, bias: Option<Tensor<1>>) -> Tensor<D> {
    if !matches!(weight.dtype(), DType::QFloat(_)) {
        return crate::kernels::ops::linear(x, weight, bias);
    }
    burn_quantized(weight, x, bias)
}

/// [`burn_forward`] for a burn-quantized weight.
fn burn_quantized<const D: usize>(weight: Tensor<2>, x: Tensor<D>, bias: Option<Tensor<1>>) -> Tensor<D> {
    let on_cpu = crate::device::is_cpu(&weight.device());
    // In the browser, the quantized values go straight into the packed kernel's panels.
    if on_cpu
        && gemm::PREFERRED
        && let Some(blocked) = row_blocked(&weight)
        && let [rows, cols] = weight.dims()
        && let Some(packed) = PackedMatrix::from_blocked_i8(&blocked.values, &blocked.scales, blocked.global.unwrap_or(1.0), rows, cols)
    {
        return on_host(x, packed.shape(), bias, |a, rows, bias| gemm::matmul(a, rows, &packed, bias));
    }
    let weight = match on_cpu.then(|| dequantize_on_host(&weight)).flatten() {
        Some(values) => Tensor::from_data(TensorData::new(values, weight.dims()), &weight.device()),
        None => weight.dequantize(),
    };
    crate::kernels::ops::linear(x, weight, bias)
}

/// A product with a `[k, n]` weight held on the host: `product(a, rows, bias)` gets `x` as `rows`
/// row-major rows of `k` f32 and returns `rows × n` values.
fn on_host<const D: usize>(
    x: Tensor<D>,
    [k, n]: [usize; 2],
    bias: Option<Tensor<1>>,
    product: impl FnOnce(&[f32], usize, Option<&[f32]>) -> Vec<f32>,
) -> Tensor<D> {
    let device = x.device();
    let mut dims = x.dims();
    assert_eq!(dims[D - 1], k, "linear layer: input width {} against a weight of {k} rows", dims[D - 1]);
    let rows = dims[..D - 1].iter().product();
    // `convert::<f32>()` makes the data f32, so reading it as f32 cannot fail.
    #[allow(clippy::expect_used)]
    let a = x.into_data().convert::<f32>().try_into_vec::<f32>().expect("converted to f32");
    #[allow(clippy::expect_used)]
    let bias = bias.map(|b| b.into_data().convert::<f32>().try_into_vec::<f32>().expect("converted to f32"));
    let out = product(&a, rows, bias.as_deref());
    dims[D - 1] = n;
    Tensor::from_data(TensorData::new(out, dims), &device)
}

#[cfg(all(test, feature = "cpu"))]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().convert::<f32>().try_into_vec::<f32>().expect("f32 values")
    }

    /// Every storage gives the burn f32 product's numbers (panels exactly, i8 within its
    /// rounding), reports its form and keeps its true shape; `restore` brings back the values.
    #[test]
    fn every_storage_multiplies_as_the_burn_tensor_does() {
        let device = crate::device::cpu_device();
        let (d_in, d_out) = (64, 96);
        let w = Tensor::<2>::random([d_in, d_out], Distribution::Normal(0.0, 0.1), &device);
        let b = Tensor::<1>::random([d_out], Distribution::Normal(0.0, 0.1), &device);
        let x = Tensor::<3>::random([2, 5, d_in], Distribution::Normal(0.0, 1.0), &device);
        let mut layer = Linear::new(d_in, d_out, true, &device);
        assert_eq!(layer.shape(), [d_in, d_out]);
        layer.weight = Some(Param::from_tensor(w.clone()));
        layer.bias = Some(Param::from_tensor(b.clone()));
        assert_eq!(layer.stored(), Weight::Burn(DType::F32));
        let want = values(burn::tensor::module::linear(x.clone(), w.clone(), Some(b)));
        assert_eq!(values(layer.forward(x.clone())), want);

        let mut panels = layer.clone();
        panels.hold_packed(false);
        assert_eq!((panels.stored(), panels.shape(), panels.weight().is_none()), (Weight::HostF32, [d_in, d_out], true));
        assert_eq!(panels.host_bytes(), Some(d_in * d_out * 4));
        let got = values(panels.forward(x.clone()));
        assert!(got.iter().zip(&want).all(|(a, b)| (a - b).abs() <= 1e-4 * (1.0 + b.abs())), "panels differ");

        let mut ints = layer.clone();
        ints.hold_packed(true);
        assert_eq!((ints.stored(), ints.shape()), (Weight::HostI8, [d_in, d_out]));
        let got = values(ints.forward(x.clone()));
        let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(got.iter().zip(&want).all(|(a, b)| (a - b).abs() <= 0.02 * scale), "i8 too far from f32");

        panels.restore(&device);
        assert_eq!((panels.stored(), panels.host_bytes()), (Weight::Burn(DType::F32), None));
        assert_eq!(values(panels.weight().expect("restored")), values(w));
    }

    /// A q4 weight moved to the host multiplies exactly as burn's dequantized q4 tensor does.
    #[test]
    fn q4_on_the_host_is_burns_q4() {
        let device = crate::device::cpu_device();
        let mut layer = Linear::new(32, 64, false, &device);
        layer.weight = Some(Param::from_tensor(Tensor::<2>::random([32, 64], Distribution::Normal(0.0, 0.1), &device)));
        let layer = crate::nn::quantize::quantize_linear_weights(Holder { up_proj: layer }, crate::Precision::Q4).expect("quantized").up_proj;
        let x = Tensor::<2>::random([3, 32], Distribution::Normal(0.0, 1.0), &device);
        let want = values(layer.forward(x.clone()));
        let mut held = layer.clone();
        held.hold_q4();
        assert_eq!((held.stored(), held.shape()), (Weight::HostQ4, [32, 64]));
        assert_eq!(held.host_bytes(), Some(32 * 64 / 2 + 32 * 64 / 32 * 4));
        let got = values(held.forward(x));
        assert!(got.iter().zip(&want).all(|(a, b)| (a - b).abs() <= 1e-5 * (1.0 + b.abs())), "{got:?} vs {want:?}");
    }

    /// A module with one layer named as the quantizer expects (`up_proj`).
    #[derive(Module, Debug)]
    struct Holder {
        up_proj: Linear,
    }
}
