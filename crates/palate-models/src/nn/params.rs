//! Modules with placeholder parameters (zeros; norms' scales ones) for a checkpoint to fill, built
//! without burn-nn's `*Config::init`. Those carry burn-nn's `Initializer`, whose orthogonal variant
//! multiplies matrices, and that alone links burn's matmul — 0.45 MB gzip of cubek kernels — into
//! the browser's WebGPU build, which never multiplies with it ([`crate::kernels::wgsl`]). Parameters are
//! lazy (`Param::uninitialized`): nothing is allocated until a value is read, and loading a
//! checkpoint replaces them first.

use burn::module::{Module, ModuleMapper, Param, ParamId};
use burn::nn::{Embedding, RmsNorm};
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

#[cfg(all(test, feature = "cpu"))]
mod tests {
    use super::*;

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().convert::<f32>().try_into_vec::<f32>().expect("f32 values")
    }

    #[test]
    fn placeholders_have_burn_nn_shapes_and_fixed_values() {
        let device = crate::device::cpu_device();
        let linear = crate::nn::Linear::new(3, 5, true, &device);
        assert_eq!(linear.shape(), [3, 5], "burn-nn's Linear layout is [d_in, d_out]");
        assert!(values(linear.weight().expect("a weight")).iter().all(|&v| v == 0.0));
        assert_eq!(values(linear.bias().expect("a bias")), vec![0.0; 5]);
        assert!(crate::nn::Linear::new(3, 5, false, &device).bias().is_none());
        assert_eq!(values(rms_norm(4, 1e-6, &device).gamma.val()), vec![1.0; 4]);
        assert_eq!(embedding(7, 2, &device).weight.lazy_shape().dims::<2>(), [7, 2]);
    }

    #[test]
    fn randomize_fills_matrices_within_kaimings_bound_and_leaves_vectors() {
        let device = crate::device::cpu_device();
        let linear = randomize(crate::nn::Linear::new(16, 8, true, &device), &device);
        let w = values(linear.weight().expect("a weight"));
        let bound = 1.0 / 4.0; // 1/√16
        assert!(w.iter().all(|v| v.abs() <= bound), "{w:?}");
        assert!(w.iter().filter(|&&v| v != 0.0).count() > 100, "random, not the zero placeholder");
        assert_eq!(values(linear.bias().expect("a bias")), vec![0.0; 8]);
    }
}
