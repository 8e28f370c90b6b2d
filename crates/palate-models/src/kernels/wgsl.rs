//! Palate's own WGSL kernels for the wgpu backend (WebGPU in the browser): every matrix product
//! a model runs there — linear layers and attention's batched products — goes through them, never
//! through burn's matmul.
//!
//! - `linear.wgsl`: `x · w + bias` for widths `k` and `n` that are multiples of 4 (every linear
//!   layer of MiniLM and Qwen3): a 32 × 32 output tile per workgroup of 8 × 8 threads, 4 × 4
//!   outputs (one vec4 of columns) per thread, blocks of 32 along k through workgroup memory, the
//!   bias fused.
//! - `matmul.wgsl`: the same tiling with scalar, guarded loads and stores, so any `m`, `k`, `n`,
//!   batched over leading dimensions (attention's `q · kᵀ` and `p · v`, whose widths are sequence
//!   lengths); linear layers of other widths use it too.
//!
//! Why not burn's matmul, for speed: on a real GPU in the browser, burn 0.22's default (not
//! autotuned) cubek matmul took 3.6 ms per dispatch on an NVIDIA H200 through Dawn with WebGPU's
//! robustness transform (every index clamped), 0.17 ms with robustness off — 98% of a MiniLM
//! call's GPU time (bench/NATIVE-GPU.md). Browsers never turn robustness off. cubek's tile sizes
//! are runtime values, so its loops do not unroll and every clamp stays; these kernels' sizes are
//! constants and their workgroup-memory indices provably in range. The layout follows the classic
//! shared-memory tiled GEMM (as in onnxruntime-web's WebGPU MatMul: vec4 along n, constant tiles).
//! Not yet measured on a real GPU (this project's machines have none). On Chromium's SwiftShader,
//! with attention's products here too, MiniLM's 13 reference texts embed in 13.2 s against 44.1 s
//! with burn's matmul (the browser test's own timing, one run each, same machine and hour).
//!
//! Why not burn's matmul, for size: cubek's matmul (its tile, stage and quantized-view machinery)
//! is 0.45 MB of the WebGPU wasm after gzip, and a build reaches it the moment anything calls
//! burn's matmul — `Tensor::matmul`, `module::linear`, or burn-nn's `Initializer` (its orthogonal
//! variant multiplies), which every `*Config::init` carries. So on the wgpu backend nothing does:
//! [`crate::kernels::ops`] routes products here, and models build their modules with placeholder
//! parameters ([`crate::nn::params`]). The browser's WebGPU build (no `cpu` feature) then has no
//! burn matmul at all; `scripts/size-budget.mjs` holds it to that.
//!
//! Exactness: tests/wgsl.rs against a float64 product at every tile edge; MiniLM and the
//! reward models within their usual tolerances of the float64 / transformers references.

use burn::tensor::{DType, Tensor};
use burn_cubecl::cubecl::ir::{UIntKind, metadata::Info};
use burn_cubecl::cubecl::prelude::*;
use burn_cubecl::cubecl::server::KernelArguments;
use burn_cubecl::cubecl::{CubeKernel, PrecompiledSource};
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::Cube;

use std::sync::atomic::{AtomicUsize, Ordering};

const SOURCE: &str = include_str!("linear.wgsl");
const MATMUL_SOURCE: &str = include_str!("matmul.wgsl");
/// The lines `SOURCE` has for the bias, and what replaces them for a layer without one.
const BIAS_BINDING: &str = "@group(0) @binding(4) var<storage, read_write> bias: array<vec4<f32>>;\n";
const BIAS_READ: (&str, &str) = ("let bv = bias[col];", "let bv = vec4<f32>(0.0);");

static LAUNCHES: AtomicUsize = AtomicUsize::new(0);

/// How many times this process has launched either kernel (tests check that a model really ran them).
pub fn launches() -> usize {
    LAUNCHES.load(Ordering::Relaxed)
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

/// `x · w (+ bias)` for `x [.., k]`, `w [k, n]`, `bias [n]` on the wgpu backend; `None` when
/// the tensors are not the wgpu backend's or the sizes do not fit the kernels' u32 indices or
/// WebGPU's grid. Floats
/// of another dtype are computed in f32 (the result is f32).
pub fn linear<const D: usize>(x: &Tensor<D>, w: &Tensor<2>, bias: Option<&Tensor<1>>) -> Option<Tensor<D>> {
    let [k, n] = w.dims();
    let mut dims = x.dims();
    if dims[D - 1] != k || bias.is_some_and(|b| b.dims() != [n]) {
        return None;
    }
    let m: usize = dims[..D - 1].iter().product();
    if k % 4 != 0 || n % 4 != 0 || m == 0 {
        // Any width: the general kernel, then the bias (an elementwise add).
        let y = matmul(&x.clone().reshape([m, k]), w)?;
        let y = match bias {
            Some(b) => y + f32(b.clone()).unsqueeze_dim(0),
            None => y,
        };
        dims[D - 1] = n;
        return Some(y.reshape(dims));
    }
    // Every size the kernel indexes with (in vec4) must fit its u32 arithmetic, and the grid
    // WebGPU's 65,535 workgroups per dimension (as `matmul` checks).
    let too_many_groups = m.div_ceil(TILE) > 65_535 || n.div_ceil(TILE) > 65_535;
    if too_many_groups || m.checked_mul(k.max(n)).is_none_or(|e| e >= u32::MAX as usize / 4) || k * n >= u32::MAX as usize / 4 {
        return None;
    }
    // The weight first: on another backend this fails before any work on `x`.
    let b = f32(w.clone()).try_into_primitive::<Cube>().ok()?;
    let a = f32(x.clone()).reshape([m, k]).try_into_primitive::<Cube>().ok()?;
    let bias = match bias {
        Some(bias) => Some(f32(bias.clone()).try_into_primitive::<Cube>().ok()?),
        None => None,
    };
    let out = launch(a, b, bias, m, k, n);
    dims[D - 1] = n;
    Some(Tensor::<2>::from_primitive::<Cube>(out).reshape(dims))
}

/// `a · b` for `a [.., m, k]` and `b [.., k, n]` with the same leading dimensions, or a 2-D `b`
/// shared by all of them (`[k, n]`), on the wgpu backend: `[.., m, n]`. `None` when the tensors are
/// not the wgpu backend's, the shapes do not multiply, or the sizes do not fit the kernel's u32
/// indices (or WebGPU's 65,535 workgroups per dimension). Floats of another dtype are computed in
/// f32.
pub fn matmul<const D: usize, const E: usize>(a: &Tensor<D>, b: &Tensor<E>) -> Option<Tensor<D>> {
    if D < 2 || !(E == D || E == 2) {
        return None;
    }
    let (ad, bd) = (a.dims(), b.dims());
    let (m, k, n) = (ad[D - 2], ad[D - 1], bd[E - 1]);
    if bd[E - 2] != k || (E == D && ad[..D - 2] != bd[..E - 2]) {
        return None;
    }
    let batch: usize = ad[..D - 2].iter().product();
    let mut out_dims = ad;
    out_dims[D - 1] = n;
    let total = |x: usize, y: usize| batch.checked_mul(x).and_then(|v| v.checked_mul(y)).filter(|&v| v < u32::MAX as usize);
    let fits = total(m, k).is_some() && total(k, n).is_some() && total(m, n).is_some();
    let (groups_x, groups_y) = (n.div_ceil(TILE), m.div_ceil(TILE));
    if !fits || batch > 65_535 || groups_x > 65_535 || groups_y > 65_535 {
        return None;
    }
    if batch * m * n == 0 || k == 0 {
        // Nothing to launch; an empty sum is zero, as burn's matmul gives.
        a.clone().try_into_primitive::<Cube>().ok()?;
        return Some(Tensor::zeros(out_dims, &a.device()));
    }
    let b_batch = if E == D { k * n } else { 0 };
    let bp = into_contiguous(f32(b.clone()).try_into_primitive::<Cube>().ok()?);
    let ap = into_contiguous(f32(a.clone()).try_into_primitive::<Cube>().ok()?);
    let client = ap.client.clone();
    let out = client.empty(batch * m * n * 4);
    let shape = burn::tensor::Shape::from(out_dims.to_vec());
    let info: Vec<u8> =
        [m, k, n, m * k, b_batch, 0, 0, 0].iter().flat_map(|&v| (v as u32).to_le_bytes()).collect();
    let info = client.create_from_slice(&info);
    let args = KernelArguments::new()
        .with_buffer(ap.handle.binding())
        .with_buffer(bp.handle.binding())
        .with_buffer(out.clone().binding())
        .with_buffer(info.binding());
    let count = CubeCount::Static(groups_x as u32, groups_y as u32, batch as u32);
    client.launch(Box::new(MatmulKernel), count, args);
    LAUNCHES.fetch_add(1, Ordering::Relaxed);
    let out = CubeTensor::new_contiguous(client, ap.device.clone(), shape, out, DType::F32);
    Some(Tensor::<D>::from_primitive::<Cube>(out))
}

/// A float tensor in f32 (the kernels' only dtype).
fn f32<const D: usize>(t: Tensor<D>) -> Tensor<D> {
    if t.dtype() == DType::F32 { t } else { t.cast(DType::F32) }
}

/// The general kernel: one WGSL text for every shape (sizes come in its `info` buffer).
struct MatmulKernel;

impl KernelMetadata for MatmulKernel {
    fn id(&self) -> KernelId {
        KernelId::new::<Self>()
    }

    fn address_type(&self) -> ElemType {
        UIntKind::U32.into()
    }
}

impl CubeKernel for MatmulKernel {
    fn define(&self) -> KernelDefinition {
        let settings = KernelSettings::new(CubeDim::new_2d(8, 8).0, ExecutionMode::Checked, AddressType::U32);
        KernelDefinition { body: Scope::root(settings.clone()), settings, info: Info::default() }
    }

    fn source(&self) -> Option<PrecompiledSource> {
        Some(PrecompiledSource { source: MATMUL_SOURCE.to_string(), entrypoint_name: "main".to_string(), lang: "wgsl" })
    }
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
