//! Modules with placeholder parameters (zeros; norms' scales ones) for a checkpoint to fill, built
//! without burn-nn's `*Config::init`. Those carry burn-nn's `Initializer`, whose orthogonal variant
//! multiplies matrices, and that alone links burn's matmul — 0.45 MB gzip of cubek kernels — into
//! the browser's WebGPU build, which never multiplies with it ([`crate::wgsl`]). Parameters are
//! lazy (`Param::uninitialized`): nothing is allocated until a value is read, and loading a
//! checkpoint replaces them first.

use burn::module::{Module, ModuleMapper, Param, ParamId};
use burn::nn::{Embedding, Linear, RmsNorm};
use burn::tensor::{Device, Distribution, Tensor};

/// A lazy parameter of `shape`, all `value`.
fn filled<const D: usize>(shape: [usize; D], value: f32, device: &Device) -> Param<Tensor<D>> {
    Param::uninitialized(
        ParamId::new(),
        move |device, _| Tensor::<D>::full(shape, value, device),
        device.clone(),
        false,
        shape.into(),
    )
}

pub(crate) fn zeros<const D: usize>(shape: [usize; D], device: &Device) -> Param<Tensor<D>> {
    filled(shape, 0.0, device)
}

pub(crate) fn ones<const D: usize>(shape: [usize; D], device: &Device) -> Param<Tensor<D>> {
    filled(shape, 1.0, device)
}

/// burn-nn's `Linear` layout: weight `[d_in, d_out]`.
pub(crate) fn linear(d_in: usize, d_out: usize, bias: bool, device: &Device) -> Linear {
    Linear { weight: zeros([d_in, d_out], device), bias: bias.then(|| zeros([d_out], device)) }
}

pub(crate) fn embedding(rows: usize, d: usize, device: &Device) -> Embedding {
    Embedding { weight: zeros([rows, d], device) }
}

pub(crate) fn rms_norm(d: usize, epsilon: f64, device: &Device) -> RmsNorm {
    RmsNorm { gamma: ones([d], device), epsilon }
}

/// `module` with every float parameter of two or more dimensions drawn uniformly within Kaiming's
/// bound `1/√(rows)` (burn-nn's default for linear layers), others left as they are: random
/// weights of the right shapes, for benchmarks.
pub(crate) fn randomize<M: Module>(module: M, device: &Device) -> M {
    struct Randomize(Device);
    impl ModuleMapper for Randomize {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let shape = param.lazy_shape();
            if D < 2 {
                return param;
            }
            let bound = 1.0 / (shape.dims::<D>()[0].max(1) as f64).sqrt();
            let device = self.0.clone();
            param.map(move |_| Tensor::random(shape, Distribution::Uniform(-bound, bound), &device))
        }
    }
    module.map(&mut Randomize(device.clone()))
}
