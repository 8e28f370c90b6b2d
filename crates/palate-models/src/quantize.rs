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
//! Measured on all-MiniLM-L6-v2 (tests/quantize.rs, 23 texts): q8 keeps embeddings at cosine 0.9998
//! (min 0.9995) to f32; q4 only at 0.957 (min 0.920) — min-max 4-bit is too coarse for this small
//! encoder (blocks of 16, or along d_in, gave 0.969 / 0.947). Use q4 for large decoders, where it
//! is what makes them fit; q8 for the encoder.

use std::str::FromStr;

use burn::module::{Module, ModuleMapper, Param};
use burn::nn::Linear;
use burn::tensor::{DType, Tensor};
use burn::tensor::quantization::{Calibration, QuantScheme, QuantValue, ScaleDtype, compute_q_params, compute_range};

use crate::error::{PalateError, Result};

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

/// `linear.forward(x)`, with a quantized weight dequantized first and multiplied as f32.
///
/// burn 0.22's fused quantized matmul is not safe to call on real GPUs: on an NVIDIA H200 (Vulkan)
/// it picks a tiling that needs 72 KiB of workgroup memory where the device allows 48 KiB, and
/// `burn-cubecl` unwraps the launch error (a panic; a trap in wasm). Browsers allow 16–32 KiB.
/// Dequantizing costs one elementwise pass over the weight per call (memory-bound, about a
/// millisecond for a 0.6B model on a datacentre GPU) and keeps the weights packed at rest, which is
/// what quantization is for here: download size and resident memory. It is also what burn's CPU
/// backend does inside its own quantized matmul.
pub fn linear<const D: usize>(linear: &Linear, x: Tensor<D>) -> Tensor<D> {
    let weight = linear.weight.val();
    let DType::QFloat(scheme) = weight.dtype() else {
        return linear.forward(x);
    };
    let weight = if weight.device() == crate::device::cpu_device() {
        dequantize_on_host(weight, scheme).unwrap_or_else(|w| w.dequantize())
    } else {
        weight.dequantize()
    };
    burn::tensor::module::linear(x, weight, linear.bias.as_ref().map(|b| b.val()))
}

/// [`Tensor::dequantize`] for a weight on burn's CPU backend, where blocks of [`BLOCK`] run along
/// the last axis: one pass over the values. burn-flex computes each value's block from its index
/// with a division and a remainder per axis, which in wasm costs ~8 ns per weight (180 ms per call
/// for MiniLM's 21 M weights, more than the f32 matmuls of a short batch). Hands the tensor back
/// when its layout is not the one expected (then burn's own path runs).
fn dequantize_on_host(weight: Tensor<2>, scheme: QuantScheme) -> std::result::Result<Tensor<2>, Tensor<2>> {
    let [rows, cols] = weight.dims();
    let blocked_by_row = scheme.block_size().is_some_and(|b| b.to_dim_vec(2) == [1, BLOCK]) && cols.is_multiple_of(BLOCK as usize);
    if !blocked_by_row {
        return Err(weight);
    }
    let device = weight.device();
    let data = weight.clone().into_data();
    let (values, scales) =
        burn::tensor::quantization::QuantizedBytes { bytes: data.into_bytes(), scheme, shape: [rows, cols].into() }.into_vec_i8();
    if values.len() != rows * cols || scales.block.len() * BLOCK as usize != values.len() {
        return Err(weight);
    }
    let multiplier = scales.global.unwrap_or(1.0);
    let mut out = Vec::with_capacity(values.len());
    for (block, &scale) in values.chunks(BLOCK as usize).zip(&scales.block) {
        // burn-flex's order of operations, so the result is bit-identical.
        out.extend(block.iter().map(|&q| multiplier * scale * q as f32));
    }
    Ok(Tensor::from_data(burn::tensor::TensorData::new(out, [rows, cols]), &device))
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
            let DType::QFloat(stored) = q.dtype() else { panic!("not quantized") };
            let burn: TensorData = q.clone().dequantize().into_data();
            let ours = dequantize_on_host(q, stored).unwrap_or_else(|_| panic!("{precision:?}: layout not handled")).into_data();
            assert_eq!(ours.shape(), burn.shape());
            let (a, b) = (ours.try_to_vec::<f32>().unwrap(), burn.try_to_vec::<f32>().unwrap());
            assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()), "{precision:?}: values differ");
            assert!(a.iter().any(|&x| x != 0.0));
        }
    }
}
