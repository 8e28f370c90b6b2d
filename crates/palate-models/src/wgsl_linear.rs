//! Linear layers on the wgpu backend (WebGPU in the browser) with Palate's own WGSL kernel,
//! `linear.wgsl`: a 32 × 32 output tile per workgroup of 8 × 8 threads, 4 × 4 outputs (one vec4 of
//! columns) per thread, blocks of 32 along k through workgroup memory, the bias fused.
//!
//! Why not burn's matmul: on a real GPU in the browser, burn 0.22's default (not autotuned) cubek
//! matmul took 3.6 ms per dispatch on an NVIDIA H200 through Dawn with WebGPU's robustness
//! transform (every index clamped), 0.17 ms with robustness off — 98% of a MiniLM call's GPU time
//! (bench/NATIVE-GPU.md). Browsers never turn robustness off. cubek's tile sizes are runtime
//! values, so its loops do not unroll and every clamp stays; this kernel's sizes are constants and
//! its workgroup-memory indices provably in range. The layout follows the classic shared-memory
//! tiled GEMM (as in onnxruntime-web's WebGPU MatMul: vec4 along n, constant tiles).
//!
//! Applies to f32 tensors on the Cube backend whose widths `k` and `n` are multiples of 4 (every
//! linear layer of MiniLM and Qwen3); anything else returns `None` and the caller uses burn.
//!
//! **Off by default** ([`set_enabled`]; `useWgslLinear(true)` in JS, `--wgsl-linear` in
//! `scripts/bench-dawn-node.mjs`): it is exact (tests/wgsl_linear.rs, MiniLM within 1e-4 of the
//! float64 reference) but its speed is unmeasured where it matters. On the software adapters here
//! it does not pay: Chromium's SwiftShader, MiniLM, one run each, 1 × 32 6.8 s, 8 × 32 32.2 s,
//! 1 × 128 8.6 s against burn's 4.4 / 30.7 / 8.4 s (bench/RESULTS.md; SwiftShader runs workgroup
//! barriers as coroutines, so shared-memory tiling is its worst case). Turn it on by default
//! once `bench-dawn-node.mjs --wgsl-linear` on a real GPU shows the gap close.

use burn::tensor::{DType, Tensor};
use burn_cubecl::cubecl::ir::{UIntKind, metadata::Info};
use burn_cubecl::cubecl::prelude::*;
use burn_cubecl::cubecl::server::KernelArguments;
use burn_cubecl::cubecl::{CubeKernel, PrecompiledSource};
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::Cube;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

const SOURCE: &str = include_str!("linear.wgsl");
/// The lines `SOURCE` has for the bias, and what replaces them for a layer without one.
const BIAS_BINDING: &str = "@group(0) @binding(4) var<storage, read_write> bias: array<vec4<f32>>;\n";
const BIAS_READ: (&str, &str) = ("let bv = bias[col];", "let bv = vec4<f32>(0.0);");

static ENABLED: AtomicBool = AtomicBool::new(false);
static LAUNCHES: AtomicUsize = AtomicUsize::new(0);

/// How many times this process has launched the kernel (tests check that a model really ran it).
pub fn launches() -> usize {
    LAUNCHES.load(Ordering::Relaxed)
}

/// Routes the wgpu backend's f32 linear layers (`quantize::linear`) through this kernel, or back
/// to burn's matmul; process-wide (the whole worker in a browser).
pub fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// Whether [`set_enabled`] turned the kernel on.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}
/// Output rows and columns per workgroup (`TILE` in the shader).
const TILE: usize = 32;

/// The kernel: its WGSL text is the whole definition; without a bias, the text without it.
struct LinearKernel {
    bias: bool,
}

impl KernelMetadata for LinearKernel {
    fn id(&self) -> KernelId {
        KernelId::new::<Self>().info(self.bias)
    }

    fn address_type(&self) -> ElemType {
        UIntKind::U32.into()
    }
}

impl CubeKernel for LinearKernel {
    fn define(&self) -> KernelDefinition {
        // No IR: the definition only keys cubecl's compilation cache; `source` is what runs.
        let settings = KernelSettings::new(CubeDim::new_2d(8, 8).0, ExecutionMode::Checked, AddressType::U32);
        KernelDefinition { body: Scope::root(settings.clone()), settings, info: Info::default() }
    }

    fn source(&self) -> Option<PrecompiledSource> {
        let source = if self.bias {
            SOURCE.to_string()
        } else {
            SOURCE.replace(BIAS_BINDING, "").replace(BIAS_READ.0, BIAS_READ.1)
        };
        Some(PrecompiledSource { source, entrypoint_name: "main".to_string(), lang: "wgsl" })
    }
}

/// `x · w (+ bias)` for `x [.., k]`, `w [k, n]`, `bias [n]`, all f32 on the wgpu backend; `None`
/// when the kernel does not apply (another backend or dtype, a width not a multiple of 4).
pub fn linear<const D: usize>(x: &Tensor<D>, w: &Tensor<2>, bias: Option<&Tensor<1>>) -> Option<Tensor<D>> {
    let [k, n] = w.dims();
    let mut dims = x.dims();
    if dims[D - 1] != k || k % 4 != 0 || n % 4 != 0 || k == 0 || n == 0 {
        return None;
    }
    if x.dtype() != DType::F32 || w.dtype() != DType::F32 || bias.is_some_and(|b| b.dtype() != DType::F32 || b.dims() != [n]) {
        return None;
    }
    let m: usize = dims[..D - 1].iter().product();
    // Every size the kernel indexes with must fit its u32 arithmetic.
    if m == 0 || m.checked_mul(k.max(n)).is_none_or(|e| e >= u32::MAX as usize / 4) || k * n >= u32::MAX as usize / 4 {
        return None;
    }
    // The weight first: on another backend this fails before any work on `x`.
    let b = w.clone().try_into_primitive::<Cube>().ok()?;
    let a = x.clone().reshape([m, k]).try_into_primitive::<Cube>().ok()?;
    let bias = match bias {
        Some(bias) => Some(bias.clone().try_into_primitive::<Cube>().ok()?),
        None => None,
    };
    let out = launch(a, b, bias, m, k, n);
    dims[D - 1] = n;
    Some(Tensor::<2>::from_primitive::<Cube>(out).reshape(dims))
}

fn launch(a: CubeTensor, b: CubeTensor, bias: Option<CubeTensor>, m: usize, k: usize, n: usize) -> CubeTensor {
    let (a, b) = (into_contiguous(a), into_contiguous(b));
    let client = a.client.clone();
    let info: Vec<u8> = [m, k, n, 0].iter().flat_map(|&v| (v as u32).to_le_bytes()).collect();
    let info = client.create_from_slice(&info);
    let out = client.empty(m * n * 4);
    let count = CubeCount::Static(n.div_ceil(TILE) as u32, m.div_ceil(TILE) as u32, 1);
    let mut args = KernelArguments::new()
        .with_buffer(a.handle.binding())
        .with_buffer(b.handle.binding())
        .with_buffer(out.clone().binding())
        .with_buffer(info.binding());
    let has_bias = bias.is_some();
    if let Some(bias) = bias {
        args = args.with_buffer(into_contiguous(bias).handle.binding());
    }
    client.launch(Box::new(LinearKernel { bias: has_bias }), count, args);
    LAUNCHES.fetch_add(1, Ordering::Relaxed);
    CubeTensor::new_contiguous(client, a.device.clone(), [m, n].into(), out, DType::F32)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The no-bias variant is made by removing text from the shader: that text must be there.
    #[test]
    fn the_shader_has_the_bias_lines_the_no_bias_variant_removes() {
        assert_eq!(SOURCE.matches(BIAS_BINDING).count(), 1);
        assert_eq!(SOURCE.matches(BIAS_READ.0).count(), 1);
        let without = LinearKernel { bias: false }.source().expect("a WGSL source").source;
        assert!(!without.contains("var<storage, read_write> bias") && !without.contains(BIAS_READ.0), "{without}");
        assert!(without.contains(BIAS_READ.1));
    }
}
