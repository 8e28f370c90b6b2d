//! Weight-only quantization of a loaded model with burn's own quantized tensors.
//!
//! Only the weights of the linear layers in the transformer blocks are quantized — attention
//! projections and the MLP (BERT: `query`, `key`, `value`, `dense`; decoders: `q_proj` … `down_proj`)
//! — and a decoder's token table, always to q8 (it is only looked up, by `decoder::RowTable`).
//! These hold almost all the compute and, apart from the token embeddings, most of the bytes.
//! BERT's embedding tables, norms, biases and the reward `score` head stay f32: they are small.
//!
//! Scheme: symmetric integers per block of 32 consecutive values with an f32 scale per block (the
//! layout of GGUF's Q8_0 / Q4_0), calibrated by min-max. Activations stay f32 (weight-only), so the
//! error is the rounding of each weight to 1/127 (q8) or 1/7 (q4) of its block's largest magnitude.
//!
//! Where the weights live: burn's quantized tensors, except q4 linear weights of a decoder on the
//! CPU, which Palate holds packed itself ([`HostQ4`]: burn's CPU backend would take a byte per
//! value). Either way, every call dequantizes and multiplies in f32 ([`crate::nn::linear::Linear::forward`]).
//! One exception: a sentence encoder quantized to q8 on the browser's CPU backend holds its weights
//! in [`crate::kernels::igemm`]'s layout (blocks of 32 along d_in instead, quantized from f32) and multiplies
//! in integers, its activations rounded to i16 per call. A stored q8 pack keeps the f32 path
//! (the module docs of [`crate::kernels::igemm`] say why).
//!
//! Measured on all-MiniLM-L6-v2 (tests/quantize.rs, 23 texts): q8 keeps embeddings at cosine 0.9998
//! (min 0.9995) to f32; q4 only at 0.957 (min 0.920) — min-max 4-bit is too coarse for this small
//! encoder (blocks of 16, or along d_in, gave 0.969 / 0.947). Use q4 for large decoders, where it
//! is what makes them fit; q8 for the encoder.

use std::str::FromStr;

use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::{DType, Tensor};
use burn::tensor::quantization::{Calibration, QuantScheme, QuantValue, ScaleDtype, compute_q_params, compute_range};

use crate::error::{PalateError, Result};
use crate::kernels::gemm::{self, PackedMatrix};

/// The weights' precision, as users name it (`--quantize`, `precision:` in JS).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Precision {
    /// As loaded (f32 in memory, whatever the file held).
    #[default]
    F32,
    /// 8-bit symmetric integers, block 32.
    Q8,
    /// 4-bit symmetric integers, block 32.
    Q4,
}

impl Precision {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::Q8 => "q8",
            Self::Q4 => "q4",
        }
    }

    /// burn's scheme for this precision; `None` for f32.
    pub fn scheme(self) -> Option<QuantScheme> {
        let value = match self {
            Self::F32 => return None,
            Self::Q8 => QuantValue::Q8S,
            Self::Q4 => QuantValue::Q4S,
        };
        Some(QuantScheme::default().with_value(value).per_block([BLOCK], ScaleDtype::F32))
    }
}

impl FromStr for Precision {
    type Err = PalateError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "f32" | "fp32" => Ok(Self::F32),
            "q8" | "int8" => Ok(Self::Q8),
            "q4" | "int4" => Ok(Self::Q4),
            other => Err(PalateError::InvalidInput(format!(
                "unknown precision \"{other}\" (expected \"f32\", \"q8\" or \"q4\")"
            ))),
        }
    }
}

/// A q4 weight `[rows, cols]` held on the host in its packed form: two values per byte (value
/// `2i` in the low nibble of byte `i`, `2i + 1` in the high one, two's complement) and one f32
/// scale per block of [`BLOCK`] values along a row. These are the bytes of a `.bpk`'s q4 tensor as
/// written (`pack::PackedQuantAdapter`: little-endian u32 words of eight nibbles, then the scales).
///
/// burn's CPU backend unpacks q4 to one byte per value (`QuantStore::Native`): Qwen3-0.6B's layers
/// would take 434 MB instead of 217 MB. So on the CPU a decoder keeps its q4 linear weights here,
/// and each call dequantizes one weight at a time ([`crate::nn::linear::Linear::forward`]).
#[derive(Debug)]
pub struct HostQ4 {
    shape: [usize; 2],
    nibbles: Vec<u8>,
    scales: Vec<f32>,
}

impl HostQ4 {
    /// From a `.bpk`'s stored q4 tensor; `None` for any other dtype, layout or length.
    pub(crate) fn from_packed(dtype: DType, shape: &[usize], mut bytes: Vec<u8>) -> Option<Self> {
        use burn::tensor::quantization::QuantStore;
        let DType::QFloat(scheme) = dtype else { return None };
        let &[rows, cols] = shape else { return None };
        let block = BLOCK as usize;
        if !is_row_blocked_q4(scheme, cols) || !matches!(scheme.store, QuantStore::PackedU32(0)) {
            return None;
        }
        let n = rows.checked_mul(cols)?;
        if bytes.len() != n / 2 + n / block * 4 {
            return None;
        }
        let scales = bytes[n / 2..].chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        bytes.truncate(n / 2);
        bytes.shrink_to_fit();
        Some(Self { shape: [rows, cols], nibbles: bytes, scales })
    }

    /// From a q4 tensor on burn's CPU backend (one byte per value there); `None` for any other
    /// dtype or layout.
    pub(crate) fn from_tensor(weight: &Tensor<2>) -> Option<Self> {
        let blocked = row_blocked(weight).filter(|b| b.value == QuantValue::Q4S && b.global.is_none_or(|g| g == 1.0))?;
        let nibbles = blocked.values.chunks_exact(2).map(|p| (p[0] as u8 & 0x0f) | ((p[1] as u8) << 4)).collect();
        Some(Self { shape: weight.dims(), nibbles, scales: blocked.scales })
    }

    /// `[rows, cols]`.
    pub fn shape(&self) -> [usize; 2] {
        self.shape
    }

    /// Bytes held: the packed values and the scales.
    pub fn bytes(&self) -> usize {
        self.nibbles.len() + self.scales.len() * 4
    }

    /// The f32 values, row-major; bit-identical to burn's dequantization of the same tensor
    /// (`scale · q`, as burn-flex computes it).
    pub fn dequantize(&self) -> Vec<f32> {
        let mut out = vec![0f32; self.nibbles.len() * 2];
        dequantize_q4(&self.nibbles, &self.scales, &mut out);
        out
    }

    /// The same values straight into [`gemm`]'s panels, a block of [`BLOCK`] at a time (a block
    /// never straddles two rows: rows are a whole number of blocks). One pass over the weight, no
    /// row-major copy: this runs for every call. Split across threads by groups of [`BLOCK`]
    /// columns (`BLOCK / NR` whole panels each, [`crate::kernels::pool::split_mut`]): each value is
    /// computed as on one thread.
    pub fn dequantize_packed(&self) -> PackedMatrix {
        let [rows, cols] = self.shape;
        let (block, half) = (BLOCK as usize, BLOCK as usize / 2);
        let blocks_per_row = cols / block;
        let group = block * rows; // BLOCK / NR panels of rows · NR values
        let mut packed = PackedMatrix::zeros(rows, cols);
        crate::kernels::pool::split_mut(packed.panels_mut(), group, |first, piece| {
            let mut values = [0f32; BLOCK as usize];
            for (offset, panels) in piece.chunks_exact_mut(group).enumerate() {
                let g = first + offset;
                for r in 0..rows {
                    let b = r * blocks_per_row + g;
                    dequantize_q4(&self.nibbles[b * half..(b + 1) * half], &self.scales[b..b + 1], &mut values);
                    for (j, chunk) in values.chunks_exact(gemm::NR).enumerate() {
                        let at = (j * rows + r) * gemm::NR;
                        panels[at..at + gemm::NR].copy_from_slice(chunk);
                    }
                }
            }
        });
        packed
    }
}

/// `out[32 b + j] = scales[b] · q` for the `j`-th value `q` of block `b` (16 bytes each).
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
fn dequantize_q4(nibbles: &[u8], scales: &[f32], out: &mut [f32]) {
    let half = BLOCK as usize / 2;
    for ((out, bytes), &scale) in out.chunks_exact_mut(2 * half).zip(nibbles.chunks_exact(half)).zip(scales) {
        for (pair, &b) in out.chunks_exact_mut(2).zip(bytes) {
            pair[0] = scale * (((b << 4) as i8) >> 4) as f32;
            pair[1] = scale * ((b as i8) >> 4) as f32;
        }
    }
}

/// The same with wasm's 128-bit lanes: the wasm profile's `opt-level = "z"` does not vectorise
/// the loop above, which then costs more than burn's byte-per-value path it replaces. A block's
/// 16 bytes are split into low and high nibbles (sign-extended by shifts), interleaved back into
/// value order, widened to i32 and converted; the multiply is the same IEEE product.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
fn dequantize_q4(nibbles: &[u8], scales: &[f32], out: &mut [f32]) {
    use core::arch::wasm32::*;
    let half = BLOCK as usize / 2;
    for ((out, bytes), &scale) in out.chunks_exact_mut(2 * half).zip(nibbles.chunks_exact(half)).zip(scales) {
        // SAFETY: `bytes` holds 16 bytes and `out` 32 f32s (the chunk sizes above); wasm's
        // v128 loads and stores need no alignment.
        let v = unsafe { v128_load(bytes.as_ptr().cast::<v128>()) };
        let (lo, hi) = (i8x16_shr(i8x16_shl(v, 4), 4), i8x16_shr(v, 4));
        let first = i8x16_shuffle::<0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23>(lo, hi);
        let second = i8x16_shuffle::<8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31>(lo, hi);
        let s = f32x4_splat(scale);
        for (k, values) in [first, second].into_iter().enumerate() {
            let (a, b) = (i16x8_extend_low_i8x16(values), i16x8_extend_high_i8x16(values));
            let quads = [i32x4_extend_low_i16x8(a), i32x4_extend_high_i16x8(a), i32x4_extend_low_i16x8(b), i32x4_extend_high_i16x8(b)];
            for (m, q) in quads.into_iter().enumerate() {
                let f = f32x4_mul(s, f32x4_convert_i32x4(q));
                // SAFETY: 16 k + 4 m + 4 <= 32.
                unsafe { v128_store(out.as_mut_ptr().add(16 * k + 4 * m).cast::<v128>(), f) };
            }
        }
    }
}

/// Whether `scheme` is q4 in blocks of [`BLOCK`] along the last axis of a `[rows, cols]` weight.
fn is_row_blocked_q4(scheme: QuantScheme, cols: usize) -> bool {
    scheme.value == QuantValue::Q4S
        && scheme.block_size().is_some_and(|b| b.to_dim_vec(2) == [1, BLOCK])
        && cols.is_multiple_of(BLOCK as usize)
}

/// A quantized weight `[rows, cols]` on burn's CPU backend, blocked by [`BLOCK`] along its rows,
/// taken apart: one i8 per value, one scale per block, and the tensor-wide scale if the scheme has
/// one. `None` for any other layout.
pub(crate) struct RowBlocked {
    pub value: QuantValue,
    pub values: Vec<i8>,
    pub scales: Vec<f32>,
    pub global: Option<f32>,
}

pub(crate) fn row_blocked(weight: &Tensor<2>) -> Option<RowBlocked> {
    let DType::QFloat(scheme) = weight.dtype() else { return None };
    let [rows, cols] = weight.dims();
    let by_row = scheme.block_size().is_some_and(|b| b.to_dim_vec(2) == [1, BLOCK]) && cols.is_multiple_of(BLOCK as usize);
    if !by_row {
        return None;
    }
    let data = weight.clone().into_data();
    let (values, scales) =
        burn::tensor::quantization::QuantizedBytes { bytes: data.into_bytes(), scheme, shape: [rows, cols].into() }.into_vec_i8();
    (values.len() == rows * cols && scales.block.len() * BLOCK as usize == values.len())
        .then_some(RowBlocked { value: scheme.value, values, scales: scales.block, global: scales.global })
}

/// [`Tensor::dequantize`] for a weight on burn's CPU backend, where blocks of [`BLOCK`] run along
/// the last axis: one pass over the values. burn-flex computes each value's block from its index
/// with a division and a remainder per axis, which in wasm costs ~8 ns per weight (180 ms per call
/// for MiniLM's 21 M weights, more than the f32 matmuls of a short batch). `None` when the layout
/// is not the one expected (then burn's own path runs).
pub(crate) fn dequantize_on_host(weight: &Tensor<2>) -> Option<Vec<f32>> {
    let blocked = row_blocked(weight)?;
    let multiplier = blocked.global.unwrap_or(1.0);
    let mut out = Vec::with_capacity(blocked.values.len());
    for (block, &scale) in blocked.values.chunks(BLOCK as usize).zip(&blocked.scales) {
        // burn-flex's order of operations, so the result is bit-identical.
        out.extend(block.iter().map(|&q| multiplier * scale * q as f32));
    }
    Some(out)
}

/// Values per quantization block.
pub const BLOCK: u8 = 32;

/// Names of the linear layers whose weights get quantized (the last module before `.weight`).
const LINEAR_LAYERS: [&str; 11] =
    ["query", "key", "value", "dense", "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

/// The decoder's token-embedding table (`model.embed_tokens`).
pub const TOKEN_TABLE: &str = "embed_tokens";

/// Quantizes the linear-layer weights of `module` (see the module docs), and a decoder's token
/// table to q8; f32 returns it unchanged.
/// A weight whose output width is not a multiple of the block stays f32 (tiny test models).
pub fn quantize_linear_weights<M: Module>(module: M, precision: Precision) -> Result<M> {
    let Some(scheme) = precision.scheme() else { return Ok(module) };
    let mut mapper = LinearQuantizer { scheme, path: Vec::new(), quantized: 0, already: 0 };
    let module = module.map(&mut mapper);
    if mapper.already > 0 {
        return Err(PalateError::InvalidInput(format!(
            "the model is already quantized ({} linear weights); load the f32 model to quantize it to {}",
            mapper.already,
            precision.as_str()
        )));
    }
    if mapper.quantized == 0 {
        return Err(PalateError::InvalidInput(format!(
            "{} quantization found no linear weight with a width divisible by {BLOCK} to quantize",
            precision.as_str()
        )));
    }
    Ok(module)
}

/// burn's [`burn::module::Quantizer`], restricted by path *and* shape: burn's block reduction
/// asserts (panics) when a dimension is not a multiple of the block.
struct LinearQuantizer {
    scheme: QuantScheme,
    path: Vec<String>,
    quantized: usize,
    /// Linear weights found already quantized (a q8 / q4 `.bpk`): left alone, reported as an error.
    already: usize,
}

impl ModuleMapper for LinearQuantizer {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let n = self.path.len();
        let is_weight = D == 2 && n >= 2 && self.path[n - 1] == "weight";
        let is_linear_weight = is_weight && LINEAR_LAYERS.contains(&self.path[n - 2].as_str());
        // A decoder's token table, only ever looked up by row: q8 at any quantized precision
        // (`decoder::RowTable` reads it on the host). BERT's `word_embeddings` stay f32.
        let is_token_table = is_weight && self.path[n - 2] == TOKEN_TABLE;
        if !is_linear_weight && !is_token_table {
            return param;
        }
        if matches!(param.val().dtype(), DType::QFloat(_)) {
            self.already += 1;
            return param;
        }
        let scheme = if is_token_table { Precision::Q8.scheme().unwrap_or(self.scheme) } else { self.scheme };
        // burn's Linear weight is [d_in, d_out]; a block of 32 runs along d_out (along the hidden
        // size of a token table's rows).
        if !param.val().dims()[D - 1].is_multiple_of(BLOCK as usize) {
            return param;
        }
        self.quantized += 1;
        param.map(|tensor| {
            let range = compute_range(&scheme, &tensor, &Calibration::MinMax);
            let qparams = compute_q_params(&scheme, range);
            tensor.quantize(&scheme, qparams)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Distribution, TensorData};

    /// The host-side dequantization gives exactly burn's values, for q8 and q4 weights.
    #[test]
    fn host_dequantization_is_burns_bit_for_bit() {
        let device = crate::device::cpu_device();
        for precision in [Precision::Q8, Precision::Q4] {
            let Some(scheme) = precision.scheme() else { unreachable!() };
            let w = Tensor::<2>::random([48, 96], Distribution::Normal(0.0, 0.05), &device);
            let range = compute_range(&scheme, &w, &Calibration::MinMax);
            let q = w.quantize(&scheme, compute_q_params(&scheme, range));
            assert!(matches!(q.dtype(), DType::QFloat(_)), "not quantized");
            let burn: TensorData = q.clone().dequantize().into_data();
            let ours = dequantize_on_host(&q).unwrap_or_else(|| panic!("{precision:?}: layout not handled"));
            assert_eq!(burn.shape().iter().product::<usize>(), ours.len());
            let (a, b) = (ours, burn.try_to_vec::<f32>().unwrap());
            assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()), "{precision:?}: values differ");
            assert!(a.iter().any(|&x| x != 0.0));
        }
    }

    /// q4 weights dequantized into panels on several threads are the one-thread panels, and
    /// burn's values.
    #[cfg(feature = "threads")]
    #[test]
    fn q4_panels_are_the_same_on_any_number_of_threads() {
        let device = crate::device::cpu_device();
        let Some(scheme) = Precision::Q4.scheme() else { unreachable!() };
        let w = Tensor::<2>::random([256, 512], Distribution::Normal(0.0, 0.05), &device);
        let q = w.clone().quantize(&scheme, compute_q_params(&scheme, compute_range(&scheme, &w, &Calibration::MinMax)));
        let host = HostQ4::from_tensor(&q).expect("q4 layout");
        let pool = |n| rayon::ThreadPoolBuilder::new().num_threads(n).build().expect("a pool");
        let one = pool(1).install(|| host.dequantize_packed());
        let burn = q.dequantize().into_data().try_to_vec::<f32>().expect("f32 values");
        assert_eq!(one, gemm::PackedMatrix::from_row_major(&burn, 256, 512).expect("256 · 512 values"));
        for n in [2, 3, 5] {
            assert_eq!(pool(n).install(|| host.dequantize_packed()), one, "{n} threads");
        }
    }

    /// A q4 weight held packed on the host, from a burn tensor or from the bytes a `.bpk`
    /// stores, dequantizes to exactly burn's values; other dtypes and layouts are refused.
    #[test]
    fn host_q4_is_burns_dequantization_bit_for_bit() {
        let device = crate::device::cpu_device();
        let Some(scheme) = Precision::Q4.scheme() else { unreachable!() };
        let w = Tensor::<2>::random([40, 96], Distribution::Normal(0.0, 0.05), &device);
        let range = compute_range(&scheme, &w, &Calibration::MinMax);
        let q = w.clone().quantize(&scheme, compute_q_params(&scheme, range));
        let burn = q.clone().dequantize().into_data().try_to_vec::<f32>().unwrap();
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();

        let host = HostQ4::from_tensor(&q).expect("q4 layout not taken");
        assert_eq!(host.shape(), [40, 96]);
        assert_eq!(host.bytes(), 40 * 96 / 2 + 40 * 96 / 32 * 4);
        assert_eq!(bits(&host.dequantize()), bits(&burn));
        // Straight into the packed kernel's panels: the same bits, in panel order.
        assert_eq!(host.dequantize_packed(), gemm::PackedMatrix::from_row_major(&burn, 40, 96).expect("40 · 96 values"));
        // Every nibble value occurs, negative ones included.
        let values: std::collections::BTreeSet<i32> =
            host.dequantize().iter().zip(0..).map(|(x, i)| (x / host.scales[i / 32]).round() as i32).collect();
        assert_eq!(values.into_iter().collect::<Vec<_>>(), (-7..=7).collect::<Vec<_>>());

        // The .bpk layout: u32 words of eight nibbles (value j at bits 4j..4j+4), then the scales.
        let DType::QFloat(stored) = q.dtype() else { panic!("not quantized") };
        let (values, scales) = burn::tensor::quantization::QuantizedBytes { bytes: q.clone().into_data().into_bytes(), scheme: stored, shape: [40, 96].into() }.into_vec_i8();
        let mut bytes = Vec::new();
        for word in values.chunks(8) {
            let w = word.iter().enumerate().fold(0u32, |acc, (j, &v)| acc | ((v as u32) & 0xf) << (4 * j));
            bytes.extend_from_slice(&w.to_le_bytes());
        }
        scales.block.iter().for_each(|s| bytes.extend_from_slice(&s.to_le_bytes()));
        let packed = DType::QFloat(stored.with_store(burn::tensor::quantization::QuantStore::PackedU32(0)));
        let from_file = HostQ4::from_packed(packed, &[40, 96], bytes.clone()).expect("the .bpk layout");
        assert_eq!(bits(&from_file.dequantize()), bits(&burn));

        // Refused: a wrong length, shape or dtype, q8, and an f32 tensor.
        assert!(HostQ4::from_packed(packed, &[40, 96], bytes[1..].to_vec()).is_none());
        assert!(HostQ4::from_packed(packed, &[40, 95], bytes.clone()).is_none());
        assert!(HostQ4::from_packed(packed, &[3840], bytes.clone()).is_none());
        assert!(HostQ4::from_packed(DType::F32, &[40, 96], bytes).is_none());
        let Some(q8) = Precision::Q8.scheme() else { unreachable!() };
        let w8 = w.clone().quantize(&q8, compute_q_params(&q8, compute_range(&q8, &w, &Calibration::MinMax)));
        assert!(HostQ4::from_tensor(&w8).is_none());
        assert!(HostQ4::from_tensor(&w).is_none());
    }
}
