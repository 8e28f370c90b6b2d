//! Weight-only quantization of a loaded model with burn's own quantized tensors.
//!
//! Only the weights of the linear layers in the transformer blocks are quantized — attention
//! projections and the MLP (BERT: `query`, `key`, `value`, `dense`; decoders: `q_proj` … `down_proj`).
//! These hold almost all the compute and, apart from the token embeddings, most of the bytes.
//! Embedding tables, norms, biases and the reward `score` head stay f32: they are small, and the
//! lookups and reductions on them are not matmuls that burn's quantized kernels speed up.
//!
//! Scheme: symmetric integers per block of 32 consecutive values with an f32 scale per block (the
//! layout of GGUF's Q8_0 / Q4_0), calibrated by min-max. Activations stay f32 (weight-only), so the
//! error is the rounding of each weight to 1/127 (q8) or 1/7 (q4) of its block's largest magnitude.

use std::str::FromStr;

use burn::module::{Module, ParamGroup, Quantizer};
use burn::tensor::quantization::{Calibration, QuantScheme, QuantValue, ScaleDtype};

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

/// Values per quantization block.
pub const BLOCK: u8 = 32;

/// Module paths (as burn's mappers see them) of the weights that get quantized.
const LINEAR_WEIGHTS: &str =
    r"\.(query|key|value|dense|q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)\.weight$";

/// Quantizes the linear-layer weights of `module` (see the module docs); f32 returns it unchanged.
pub fn quantize_linear_weights<M: Module>(module: M, precision: Precision) -> Result<M> {
    let Some(scheme) = precision.scheme() else { return Ok(module) };
    let group = ParamGroup::from_regex(LINEAR_WEIGHTS)
        .map_err(|e| PalateError::Backend(format!("quantization pattern: {e:?}")))?;
    let mut quantizer = Quantizer::new(Calibration::MinMax, scheme);
    quantizer.set_param_group(group);
    Ok(module.quantize_weights(&mut quantizer))
}
