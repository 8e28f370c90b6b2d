//! Decoder-only reward models: Hugging Face's `Qwen3ForSequenceClassification` and
//! `LlamaForSequenceClassification` (transformers' `modeling_qwen3.py`, `modeling_llama.py`) as one
//! burn module. Skywork-Reward-V2-Qwen3-0.6B and -Llama-3.2-1B are of this shape: a decoder, then a
//! `score` linear head read at the last real token.
//!
//! Tensor names are the checkpoint's (`model.embed_tokens`, `model.layers.N.self_attn.q_proj`,
//! `model.layers.N.mlp.gate_proj`, `model.norm`, `score`). Pieces, as transformers defines them:
//! RMSNorm; rotary embeddings (`rope_theta`, and Llama 3's `rope_scaling` frequency smoothing) with
//! the rotate-half convention; grouped-query attention (each key/value head serves
//! `heads / kv_heads` query heads); Qwen3's per-head RMSNorm on queries and keys before the
//! rotation; the SwiGLU MLP `down(silu(gate(x)) · up(x))`.

use burn::module::Module;
use burn::nn::{Embedding, RmsNorm};
use burn::store::{FloatCastAdapter, ModuleAdapter, ModuleSnapshot, PyTorchToBurnAdapter, SafetensorsStore};
use burn::tensor::{Bool, DType, Device, Tensor, TensorData, activation};
use serde::Deserialize;

use crate::error::{PalateError, Result};
use crate::io::files::{names, parse_json};
use crate::kernels::{cpu_ops, ops};
use crate::nn::linear::{HostWeight, Linear};
use crate::nn::{params, quantize};

/// The architectures this module implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecoderKind {
    Qwen3,
    Llama,
}

/// Rotary-embedding settings: transformers 4 writes `rope_theta` + `rope_scaling`, transformers 5
/// `rope_parameters` (with `rope_theta` inside). Both are read.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct RopeParameters {
    #[serde(default)]
    pub rope_theta: Option<f64>,
    #[serde(default, alias = "type")]
    pub rope_type: Option<String>,
    #[serde(default)]
    pub factor: Option<f64>,
    #[serde(default)]
    pub low_freq_factor: Option<f64>,
    #[serde(default)]
    pub high_freq_factor: Option<f64>,
    #[serde(default)]
    pub original_max_position_embeddings: Option<f64>,
}

#[derive(Clone, Debug, Deserialize)]
struct RawConfig {
    model_type: Option<String>,
    vocab_size: usize,
    hidden_size: usize,
    intermediate_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    num_key_value_heads: Option<usize>,
    head_dim: Option<usize>,
    #[serde(default = "default_rms_eps")]
    rms_norm_eps: f64,
    rope_theta: Option<f64>,
    rope_scaling: Option<RopeParameters>,
    rope_parameters: Option<RopeParameters>,
    #[serde(default = "default_max_pos")]
    max_position_embeddings: usize,
    #[serde(default)]
    id2label: Option<std::collections::BTreeMap<String, String>>,
    num_labels: Option<usize>,
    pad_token_id: Option<i64>,
    #[serde(default)]
    attention_bias: bool,
    #[serde(default)]
    mlp_bias: bool,
    #[serde(default = "default_act")]
    hidden_act: String,
}

fn default_rms_eps() -> f64 {
    1e-6
}
fn default_max_pos() -> usize {
    2048
}
fn default_act() -> String {
    "silu".into()
}

/// A validated decoder config.
#[derive(Clone, Debug, PartialEq)]
pub struct DecoderConfig {
    pub kind: DecoderKind,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: usize,
    pub head_dim: usize,
    pub rms_norm_eps: f64,
    pub rope_theta: f64,
    pub rope: RopeParameters,
    pub max_position_embeddings: usize,
    pub num_labels: usize,
    pub pad_token_id: Option<i64>,
    pub attention_bias: bool,
    pub mlp_bias: bool,
}

impl DecoderConfig {
    /// Parses and checks a config.json of a Qwen3 or Llama model.
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        let raw: RawConfig = parse_json(names::CONFIG, bytes)?;
        let invalid = |detail: String| PalateError::InvalidConfig { file: names::CONFIG.into(), detail };
        let kind = match raw.model_type.as_deref() {
            Some("qwen3") => DecoderKind::Qwen3,
            Some("llama") => DecoderKind::Llama,
            other => {
                return Err(invalid(format!(
                    "model_type {other:?} is not supported here (Palate's decoder reward models are \"qwen3\" and \"llama\")"
                )));
            }
        };
        crate::limits::check_vocab(raw.vocab_size, names::CONFIG, "vocab_size")?;
        if raw.hidden_act != "silu" {
            return Err(invalid(format!("hidden_act \"{}\" is not supported (expected \"silu\")", raw.hidden_act)));
        }
        let heads = raw.num_attention_heads;
        let kv_heads = raw.num_key_value_heads.unwrap_or(heads);
        if heads == 0 || kv_heads == 0 || !heads.is_multiple_of(kv_heads) {
            return Err(invalid(format!(
                "num_attention_heads ({heads}) must be a positive multiple of num_key_value_heads ({kv_heads})"
            )));
        }
        let head_dim = match raw.head_dim {
            Some(d) => d,
            None if raw.hidden_size.is_multiple_of(heads) => raw.hidden_size / heads,
            None => return Err(invalid(format!("hidden_size {} is not divisible by {heads} heads", raw.hidden_size))),
        };
        if head_dim % 2 != 0 {
            return Err(invalid(format!("head_dim {head_dim} must be even for rotary embeddings")));
        }
        let rope = raw.rope_parameters.clone().or(raw.rope_scaling.clone()).unwrap_or_default();
        let rope_theta = rope.rope_theta.or(raw.rope_theta).unwrap_or(10_000.0);
        match rope.rope_type.as_deref() {
            None | Some("default") => {}
            Some("llama3") => {
                if rope.factor.is_none() || rope.original_max_position_embeddings.is_none() {
                    return Err(invalid("rope type llama3 needs factor and original_max_position_embeddings".into()));
                }
            }
            Some(other) => return Err(invalid(format!("rope type \"{other}\" is not supported (default, llama3)"))),
        }
        let num_labels = raw.num_labels.or(raw.id2label.as_ref().map(|m| m.len())).unwrap_or(1);
        if let Some(pad) = raw.pad_token_id
            && !(0..raw.vocab_size as i64).contains(&pad)
        {
            return Err(invalid(format!("pad_token_id {pad} is outside the vocabulary (vocab_size {})", raw.vocab_size)));
        }
        let config = Self {
            kind,
            vocab_size: raw.vocab_size,
            hidden_size: raw.hidden_size,
            intermediate_size: raw.intermediate_size,
            num_hidden_layers: raw.num_hidden_layers,
            num_attention_heads: heads,
            num_key_value_heads: kv_heads,
            head_dim,
            rms_norm_eps: raw.rms_norm_eps,
            rope_theta,
            rope,
            max_position_embeddings: raw.max_position_embeddings,
            num_labels: num_labels.max(1),
            pad_token_id: raw.pad_token_id,
            attention_bias: raw.attention_bias,
            mlp_bias: raw.mlp_bias,
        };
        // Every decoder (folder, pack, GGUF) is parsed here before anything is allocated for it.
        crate::limits::check_parameters(config.parameter_count(), names::CONFIG)?;
        Ok(config)
    }

    /// Parameters the config describes (token table, blocks, final norm, head), saturating: what a
    /// checkpoint must hold before the module is allocated for it.
    pub fn parameter_count(&self) -> usize {
        let (h, hd) = (self.hidden_size, self.head_dim);
        let q = self.num_attention_heads.saturating_mul(hd);
        let kv = self.num_key_value_heads.saturating_mul(hd);
        let attention = [h.saturating_mul(q), h.saturating_mul(kv), h.saturating_mul(kv), q.saturating_mul(h)];
        let mlp = h.saturating_mul(self.intermediate_size).saturating_mul(3);
        let block = attention.iter().fold(mlp, |a, &b| a.saturating_add(b)).saturating_add(h.saturating_mul(2));
        self.vocab_size
            .saturating_mul(h)
            .saturating_add(block.saturating_mul(self.num_hidden_layers))
            .saturating_add(h)
            .saturating_add(h.saturating_mul(self.num_labels))
    }

    /// Inverse frequencies of the rotary embedding (transformers' `_compute_default_rope_parameters`
    /// and `_compute_llama3_parameters`), in f64.
    pub fn inv_freq(&self) -> Vec<f64> {
        let d = self.head_dim as f64;
        let base: Vec<f64> = (0..self.head_dim / 2).map(|i| 1.0 / self.rope_theta.powf(2.0 * i as f64 / d)).collect();
        if self.rope.rope_type.as_deref() != Some("llama3") {
            return base;
        }
        let factor = self.rope.factor.unwrap_or(1.0);
        let low = self.rope.low_freq_factor.unwrap_or(1.0);
        let high = self.rope.high_freq_factor.unwrap_or(4.0);
        let old = self.rope.original_max_position_embeddings.unwrap_or(8192.0);
        let (low_wavelen, high_wavelen) = (old / low, old / high);
        base.into_iter()
            .map(|f| {
                let wavelen = 2.0 * std::f64::consts::PI / f;
                if wavelen < high_wavelen {
                    f
                } else if wavelen > low_wavelen {
                    f / factor
                } else {
                    let smooth = (old / wavelen - low) / (high - low);
                    (1.0 - smooth) * f / factor + smooth * f
                }
            })
            .collect()
    }

    /// The module on `device`; with `table_on_host` its token table is a 1-row placeholder (the
    /// table itself is a [`RowTable`]).
    fn init(&self, device: &Device, table_on_host: bool) -> DecoderRewardModel {
        let (h, hd) = (self.hidden_size, self.head_dim);
        let linear = |i: usize, o: usize, bias: bool| Linear::new(i, o, bias, device);
        let norm = |d: usize| params::rms_norm(d, self.rms_norm_eps, device);
        let qk_norm = self.kind == DecoderKind::Qwen3;
        let layers = (0..self.num_hidden_layers)
            .map(|_| DecoderLayer {
                input_layernorm: norm(h),
                self_attn: Attention {
                    q_proj: linear(h, self.num_attention_heads * hd, self.attention_bias),
                    k_proj: linear(h, self.num_key_value_heads * hd, self.attention_bias),
                    v_proj: linear(h, self.num_key_value_heads * hd, self.attention_bias),
                    o_proj: linear(self.num_attention_heads * hd, h, self.attention_bias),
                    q_norm: qk_norm.then(|| norm(hd)),
                    k_norm: qk_norm.then(|| norm(hd)),
                    heads: self.num_attention_heads,
                    kv_heads: self.num_key_value_heads,
                    head_dim: hd,
                },
                post_attention_layernorm: norm(h),
                mlp: Mlp {
                    gate_proj: linear(h, self.intermediate_size, self.mlp_bias),
                    up_proj: linear(h, self.intermediate_size, self.mlp_bias),
                    down_proj: linear(self.intermediate_size, h, self.mlp_bias),
                },
            })
            .collect();
        DecoderRewardModel {
            model: DecoderModel {
                embed_tokens: params::embedding(if table_on_host { 1 } else { self.vocab_size }, h, device),
                layers,
                norm: norm(h),
            },
            score: linear(h, self.num_labels, false),
        }
    }
}

#[derive(Module, Debug)]
pub struct Attention {
    pub q_proj: Linear,
    pub k_proj: Linear,
    pub v_proj: Linear,
    pub o_proj: Linear,
    /// Qwen3 only: RMSNorm over each head's query / key before the rotation.
    pub q_norm: Option<RmsNorm>,
    pub k_norm: Option<RmsNorm>,
    #[module(skip)]
    pub heads: usize,
    #[module(skip)]
    pub kv_heads: usize,
    #[module(skip)]
    pub head_dim: usize,
}

#[derive(Module, Debug)]
pub struct Mlp {
    pub gate_proj: Linear,
    pub up_proj: Linear,
    pub down_proj: Linear,
}

#[derive(Module, Debug)]
pub struct DecoderLayer {
    pub input_layernorm: RmsNorm,
    pub self_attn: Attention,
    pub post_attention_layernorm: RmsNorm,
    pub mlp: Mlp,
}

impl DecoderLayer {
    /// The seven linear layers, in order.
    fn linears(&self) -> [&Linear; 7] {
        let (a, m) = (&self.self_attn, &self.mlp);
        [&a.q_proj, &a.k_proj, &a.v_proj, &a.o_proj, &m.gate_proj, &m.up_proj, &m.down_proj]
    }

    /// The seven linear layers, each with its path inside the layer (`self_attn.q_proj`, …).
    fn linears_mut(&mut self) -> [(&'static str, &mut Linear); 7] {
        let (a, m) = (&mut self.self_attn, &mut self.mlp);
        [
            ("self_attn.q_proj", &mut a.q_proj),
            ("self_attn.k_proj", &mut a.k_proj),
            ("self_attn.v_proj", &mut a.v_proj),
            ("self_attn.o_proj", &mut a.o_proj),
            ("mlp.gate_proj", &mut m.gate_proj),
            ("mlp.up_proj", &mut m.up_proj),
            ("mlp.down_proj", &mut m.down_proj),
        ]
    }
}

#[derive(Module, Debug)]
pub struct DecoderModel {
    pub embed_tokens: Embedding,
    pub layers: Vec<DecoderLayer>,
    pub norm: RmsNorm,
}

/// `…ForSequenceClassification`: the decoder and its `score` head.
#[derive(Module, Debug)]
pub struct DecoderRewardModel {
    pub model: DecoderModel,
    pub score: Linear,
}

/// The weights of a model: one `model.safetensors`, or the shards named by
/// `model.safetensors.index.json` (as `(file name, bytes)`).
pub enum DecoderWeights {
    Single(Vec<u8>),
    Sharded(Vec<(String, Vec<u8>)>),
}

/// A decoder reward model ready to score token sequences.
pub struct DecoderScorer {
    pub config: DecoderConfig,
    model: DecoderRewardModel,
    device: Device,
    /// The token table held on the host ([`RowTable`]: larger than one storage binding of the GPU,
    /// see [`DecoderScorer::load_with_binding_limit`], or q8 on the CPU); the module's own
    /// `embed_tokens` is then a 1-row placeholder.
    row_table: Option<RowTable>,
}

/// The token-embedding table held on the host and read row by row: a lookup touches only the rows
/// it uses, and only those go to the device. Two cases put it here:
/// - a GPU whose storage binding is smaller than the table (often 128 MiB against Qwen3-0.6B's
///   594 MiB in f32): the table is never uploaded, in the dtype it was stored in (f32, f16, bf16
///   or q8), so the WebGPU build needs no CPU tensor backend;
/// - a q8 table on burn's CPU backend, whose quantized `select` would dequantize the whole table
///   first (594 MiB per call): 149 MiB of i8 and 19 MiB of block scales instead.
///
/// A pack read by byte ranges (a file natively, a `Blob` in the browser) keeps the table in the
/// file, and a lookup reads just its rows.
struct RowTable {
    format: RowFormat,
    rows: Rows,
    hidden: usize,
    vocab: usize,
}

/// How a [`RowTable`] stores its values: a `.bpk`'s layout (row-major values; for q8 the i8
/// values, then one f32 scale per block of [`crate::nn::quantize::BLOCK`] along a row).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RowFormat {
    F32,
    F16,
    BF16,
    Q8,
}

/// A row's bytes and, for q8, its block scales' bytes.
type RowBytes<'a> = (std::borrow::Cow<'a, [u8]>, std::borrow::Cow<'a, [u8]>);

enum Rows {
    /// The table's bytes, laid out as [`RowFormat`] says.
    Memory(Vec<u8>),
    /// In the pack's file, from byte `at`, laid out the same way.
    Stored { read: std::sync::Arc<dyn crate::io::ranges::ByteRanges>, at: usize },
}

impl RowFormat {
    /// The float formats by dtype; q8 has its own check ([`RowTable::q8_layout`]).
    fn float(dtype: DType) -> Option<Self> {
        match dtype {
            DType::F32 => Some(Self::F32),
            DType::F16 => Some(Self::F16),
            DType::BF16 => Some(Self::BF16),
            _ => None,
        }
    }

    fn value_bytes(self) -> usize {
        match self {
            Self::F32 => 4,
            Self::F16 | Self::BF16 => 2,
            Self::Q8 => 1,
        }
    }

    /// Bytes of one row's scales (q8 only).
    fn scale_bytes(self, hidden: usize) -> usize {
        if self == Self::Q8 { hidden / crate::nn::quantize::BLOCK as usize * 4 } else { 0 }
    }

    /// One row's values as f32, from its value bytes and (q8) scale bytes.
    fn decode(self, values: &[u8], scales: &[u8]) -> Vec<f32> {
        let block = crate::nn::quantize::BLOCK as usize;
        match self {
            Self::F32 => values.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
            Self::F16 => values.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
            Self::BF16 => values.chunks_exact(2).map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
            Self::Q8 => values
                .iter()
                .enumerate()
                .map(|(j, &v)| {
                    let s = &scales[j / block * 4..j / block * 4 + 4];
                    (v as i8) as f32 * f32::from_le_bytes([s[0], s[1], s[2], s[3]])
                })
                .collect(),
        }
    }
}

impl RowTable {
    /// `(vocab, hidden)` when `dtype` / `shape` / `len` bytes are a q8 block-32 table as a `.bpk`
    /// stores it (`pack::PackedQuantAdapter`: the i8 values, then one f32 scale per block).
    fn q8_layout(dtype: DType, shape: &[usize], len: usize) -> Option<(usize, usize)> {
        use burn::tensor::quantization::{QuantStore, QuantValue};
        let DType::QFloat(scheme) = dtype else { return None };
        let block = crate::nn::quantize::BLOCK as usize;
        let &[vocab, hidden] = shape else { return None };
        let layout_ok = scheme.value == QuantValue::Q8S
            && matches!(scheme.store, QuantStore::PackedU32(0) | QuantStore::Native)
            && scheme.block_size().is_some_and(|b| b.num_elements() == block)
            && hidden.is_multiple_of(block);
        let n = vocab.checked_mul(hidden)?;
        (layout_ok && len == n + n / block * 4).then_some((vocab, hidden))
    }

    /// The format and `(vocab, hidden)` of a stored table of `len` bytes: q8 block 32, or f32 / f16
    /// / bf16; `None` for anything else or a length that does not fit the shape.
    fn layout(dtype: DType, shape: &[usize], len: usize) -> Option<(RowFormat, usize, usize)> {
        if let Some((vocab, hidden)) = Self::q8_layout(dtype, shape, len) {
            return Some((RowFormat::Q8, vocab, hidden));
        }
        let format = RowFormat::float(dtype)?;
        let &[vocab, hidden] = shape else { return None };
        (vocab.checked_mul(hidden)?.checked_mul(format.value_bytes())? == len).then_some((format, vocab, hidden))
    }

    /// Takes a q8 block-32 table `[vocab, hidden]` apart; `None` for any other dtype or layout.
    fn from_tensor(table: &Tensor<2>) -> Option<Self> {
        use burn::tensor::quantization::QuantValue;
        let blocked = quantize::row_blocked(table).filter(|b| b.value == QuantValue::Q8S && b.global.is_none_or(|g| g == 1.0))?;
        let [vocab, hidden] = table.dims();
        let mut bytes: Vec<u8> = blocked.values.iter().map(|&v| v as u8).collect();
        bytes.extend(blocked.scales.iter().flat_map(|s| s.to_le_bytes()));
        Some(Self { format: RowFormat::Q8, rows: Rows::Memory(bytes), hidden, vocab })
    }

    /// From a table's stored bytes (a `.bpk` tensor or a safetensors one); `None` for a dtype or
    /// layout it does not read.
    fn from_packed(dtype: DType, shape: &[usize], bytes: Vec<u8>) -> Option<Self> {
        let (format, vocab, hidden) = Self::layout(dtype, shape, bytes.len())?;
        Some(Self { format, rows: Rows::Memory(bytes), hidden, vocab })
    }

    /// A table left in the pack's file at bytes `start..end`, read a row at a time on lookup.
    fn from_stored(dtype: DType, shape: &[usize], read: std::sync::Arc<dyn crate::io::ranges::ByteRanges>, start: usize, end: usize) -> Option<Self> {
        let (format, vocab, hidden) = Self::layout(dtype, shape, end.checked_sub(start)?)?;
        Some(Self { format, rows: Rows::Stored { read, at: start }, hidden, vocab })
    }

    /// Random f32 rows (uniform in ±0.05, a fixed xorshift stream): for scale benchmarks, whose
    /// timings do not depend on the values.
    fn random(vocab: usize, hidden: usize) -> Self {
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let mut bytes = Vec::with_capacity(vocab * hidden * 4);
        for _ in 0..vocab * hidden {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let unit = (state >> 40) as f32 / (1u64 << 24) as f32; // [0, 1)
            bytes.extend_from_slice(&((unit - 0.5) * 0.1).to_le_bytes());
        }
        Self { format: RowFormat::F32, rows: Rows::Memory(bytes), hidden, vocab }
    }

    /// Row `r`'s value bytes and scale bytes (empty unless q8).
    fn row_bytes(&self, r: usize) -> std::result::Result<RowBytes<'_>, String> {
        let (vb, sb) = (self.hidden * self.format.value_bytes(), self.format.scale_bytes(self.hidden));
        let scales_at = self.vocab * vb;
        match &self.rows {
            Rows::Memory(bytes) => {
                Ok((bytes[r * vb..(r + 1) * vb].into(), bytes[scales_at + r * sb..scales_at + (r + 1) * sb].into()))
            }
            Rows::Stored { read, at } => {
                let values = read.read(at + r * vb, at + (r + 1) * vb)?;
                let scales = if sb == 0 { Vec::new() } else { read.read(at + scales_at + r * sb, at + scales_at + (r + 1) * sb)? };
                if values.len() != vb || scales.len() != sb {
                    return Err(format!("{} + {} bytes read, {vb} + {sb} expected", values.len(), scales.len()));
                }
                Ok((values.into(), scales.into()))
            }
        }
    }

    /// Row `r` as f32.
    fn row(&self, r: usize) -> Result<Vec<f32>> {
        let (values, scales) =
            self.row_bytes(r).map_err(|e| PalateError::Backend(format!("reading token {r}'s row from the model file: {e}")))?;
        Ok(self.format.decode(&values, &scales))
    }

    /// The table quantized to q8, block 32 along each row, with burn's formula (burn-flex's
    /// `quantize_dynamic`: scale = 2·max|x| / (b − a) per block for q8's range [a, b] = ±127,
    /// value = round(x · (1 / scale)) clamped to it), so a table quantized here equals one
    /// quantized by burn on the CPU (a unit test checks it bit for bit). A q8 table, or one whose
    /// width is not a multiple of the block, is returned as it is (as `quantize_linear_weights`
    /// leaves such a weight f32).
    fn into_q8(self) -> Result<Self> {
        let block = crate::nn::quantize::BLOCK as usize;
        if self.format == RowFormat::Q8 || !self.hidden.is_multiple_of(block) {
            return Ok(self);
        }
        let (a, b) = burn::tensor::quantization::QuantValue::Q8S.range();
        let n = self.vocab * self.hidden;
        let mut values = Vec::with_capacity(n + n / block * 4);
        let mut scales = Vec::with_capacity(n / block * 4);
        for r in 0..self.vocab {
            for chunk in self.row(r)?.chunks(block) {
                let alpha = chunk.iter().fold(0.0f32, |m, x| m.max(x.abs()));
                let scale = 2.0 * alpha / (b - a);
                let scale = if scale > 0.0 && scale.is_finite() { scale } else { f32::MIN_POSITIVE };
                let inv = 1.0 / scale;
                values.extend(chunk.iter().map(|&x| (x * inv).round().clamp(a, b) as i8 as u8));
                scales.extend_from_slice(&scale.to_le_bytes());
            }
        }
        values.extend(scales);
        Ok(Self { format: RowFormat::Q8, rows: Rows::Memory(values), hidden: self.hidden, vocab: self.vocab })
    }

    /// Rows for right-padded `batch` (padding looks up `pad`), as `[rows, seq, hidden]` f32.
    fn lookup(&self, batch: &[Vec<u32>], seq: usize, pad: u32) -> Result<Vec<f32>> {
        let h = self.hidden;
        // Each distinct token once: from memory, or one or two reads (values, scales) from the file.
        let mut rows: std::collections::HashMap<u32, Vec<f32>> = std::collections::HashMap::new();
        let padded = batch.iter().any(|row| row.len() < seq);
        for &id in batch.iter().flatten().chain(padded.then_some(&pad)) {
            if rows.contains_key(&id) {
                continue;
            }
            if id as usize >= self.vocab {
                return Err(PalateError::InvalidInput(format!("token id {id} is outside the table ({} rows)", self.vocab)));
            }
            rows.insert(id, self.row(id as usize)?);
        }
        let mut out = Vec::with_capacity(batch.len() * seq * h);
        for row in batch {
            for t in 0..seq {
                out.extend_from_slice(&rows[&row.get(t).copied().unwrap_or(pad)]);
            }
        }
        Ok(out)
    }
}

/// Whether the token table is held on the host ([`RowTable`]) instead of `device`: on a GPU whose
/// storage binding (`max_binding_bytes`) is smaller than the table in f32. On burn's CPU backend
/// the table stays in the module (there is nothing to move).
fn table_on_host(config: &DecoderConfig, device: &Device, max_binding_bytes: Option<u64>) -> bool {
    let table = (config.vocab_size * config.hidden_size * 4) as u64;
    !crate::device::is_cpu(device) && max_binding_bytes.is_some_and(|limit| table > limit)
}

/// The token table from one safetensors file's bytes as a [`RowTable`] (f32, f16 or bf16, as
/// stored); `None` when this file (a shard) does not hold it. The error is worded for the user.
fn table_from_safetensors(bytes: &[u8], config: &DecoderConfig) -> std::result::Result<Option<RowTable>, String> {
    use safetensors::{Dtype, SafeTensors};
    let file = SafeTensors::deserialize(bytes).map_err(|e| format!("not a valid safetensors file: {e}"))?;
    // Checkpoints saved from the bare decoder (no task head) lack the `model.` prefix.
    let name = crate::io::pack::TOKEN_TABLE_PATH;
    let Some(view) = [name, name.trim_start_matches("model.")].into_iter().find_map(|n| file.tensor(n).ok()) else {
        return Ok(None);
    };
    let dtype = match view.dtype() {
        Dtype::F32 => DType::F32,
        Dtype::F16 => DType::F16,
        Dtype::BF16 => DType::BF16,
        other => return Err(format!("{name} is {other:?}; the token table must be f32, f16 or bf16")),
    };
    let want = [config.vocab_size, config.hidden_size];
    if view.shape() != want {
        return Err(format!(
            "{name} has shape {:?}; config.json (vocab_size, hidden_size) says {want:?} — does it describe this checkpoint?",
            view.shape()
        ));
    }
    RowTable::from_packed(dtype, view.shape(), view.data().to_vec())
        .map(Some)
        .ok_or_else(|| format!("{name}: {} bytes do not hold a {want:?} {dtype:?} table", view.data().len()))
}

impl DecoderScorer {
    /// Quantizes the transformer blocks' linear weights ([`crate::nn::quantize`]) and the token table
    /// to q8 (as host rows where the table is held on the host, or on the CPU); norms and the
    /// `score` head stay f32.
    pub fn quantize(mut self, precision: crate::nn::quantize::Precision) -> Result<Self> {
        if precision == crate::nn::quantize::Precision::F32 {
            return Ok(self); // as loaded (a quantized pack stays quantized)
        }
        if self.token_table_quantized() || self.host_weights().0 > 0 {
            return Err(PalateError::InvalidInput("the model is already quantized; load the f32 model to quantize it".into()));
        }
        self.model = crate::nn::quantize::quantize_linear_weights(self.model, precision)?;
        Ok(self.take_row_table()?.hold_q4_on_host())
    }

    /// On the CPU, moves q4 linear weights to the host, two values a byte ([`Linear::hold_q4`]:
    /// burn's CPU backend holds q4 at a byte per value).
    fn hold_q4_on_host(mut self) -> Self {
        for layer in &mut self.model.model.layers {
            for (_, linear) in layer.linears_mut() {
                linear.hold_q4();
            }
        }
        self
    }

    /// Linear weights held on the host (q4 on the CPU), and their bytes.
    pub fn host_weights(&self) -> (usize, usize) {
        crate::nn::linear::held_on_host(self.model.model.layers.iter().flat_map(DecoderLayer::linears).chain([&self.model.score]))
    }

    /// After quantizing the module: a table held on the host becomes q8 there
    /// ([`RowTable::into_q8`]); on the CPU a q8 table moves out of the module into a [`RowTable`]
    /// (the module keeps a 1-row placeholder); anything else stays as it is.
    fn take_row_table(mut self) -> Result<Self> {
        if let Some(table) = self.row_table.take() {
            self.row_table = Some(table.into_q8()?);
            return Ok(self);
        }
        let weight = self.model.model.embed_tokens.weight.val();
        if !crate::device::is_cpu(&self.device) || !matches!(weight.dtype(), DType::QFloat(_)) {
            return Ok(self);
        }
        if let Some(table) = RowTable::from_tensor(&weight) {
            self.set_row_table(table);
        }
        Ok(self)
    }

    /// Holds `table` and shrinks the module's own table to a 1-row placeholder.
    fn set_row_table(&mut self, table: RowTable) {
        let placeholder = Tensor::<2>::zeros([1, table.hidden], &self.device);
        self.model.model.embed_tokens.weight = burn::module::Param::from_tensor(placeholder);
        self.row_table = Some(table);
    }

    /// Builds the model from config.json bytes and its weights (f32, f16 or bf16 on disk). A tensor
    /// whose shape disagrees with the config, or a missing one, is an error naming it.
    pub fn load(config_json: &[u8], weights: DecoderWeights, device: &Device) -> Result<Self> {
        Self::load_with_binding_limit(config_json, weights, device, None)
    }

    /// [`Self::load`], keeping the token-embedding table on the host when it is larger than
    /// `max_binding_bytes` (a GPU's `maxStorageBufferBindingSize`, often 128 MiB; Qwen3-0.6B's
    /// table is 151,936 × 1024 f32 = 594 MiB): read from the safetensors bytes in its stored dtype
    /// ([`RowTable`]), never uploaded; tokens are looked up on the host and only the rows used go
    /// to the device. Everything else stays on `device`.
    pub fn load_with_binding_limit(
        config_json: &[u8],
        weights: DecoderWeights,
        device: &Device,
        max_binding_bytes: Option<u64>,
    ) -> Result<Self> {
        let shards = match weights {
            DecoderWeights::Single(bytes) => vec![(names::WEIGHTS.to_string(), bytes)],
            DecoderWeights::Sharded(shards) => shards,
        };
        let config = DecoderConfig::from_json(config_json)?;
        let stored: usize = shards.iter().map(|(_, b)| b.len()).sum();
        crate::limits::check_backed(config.parameter_count(), stored, names::CONFIG)?;
        Self::load_config_shards(config, shards.into_iter().map(Ok), device, max_binding_bytes)
    }

    /// [`Self::load_with_binding_limit`] from safetensors shards made one at a time (a GGUF's
    /// layers, [`crate::models::llama_gguf::shards`]): each is applied and dropped before the next
    /// is made, so loading never holds more than the model and one shard.
    pub fn load_shards(
        config_json: &[u8],
        shards: impl Iterator<Item = Result<(String, Vec<u8>)>>,
        device: &Device,
        max_binding_bytes: Option<u64>,
    ) -> Result<Self> {
        Self::load_config_shards(DecoderConfig::from_json(config_json)?, shards, device, max_binding_bytes)
    }

    fn load_config_shards(
        config: DecoderConfig,
        shards: impl Iterator<Item = Result<(String, Vec<u8>)>>,
        device: &Device,
        max_binding_bytes: Option<u64>,
    ) -> Result<Self> {
        let on_host = table_on_host(&config, device, max_binding_bytes);
        let mut model = config.init(device, on_host);
        let mut table = None;
        let mut applied = std::collections::HashSet::new();
        let mut missing = Vec::new();
        for shard in shards {
            let (file, bytes) = shard?;
            let invalid = |detail: String| PalateError::InvalidWeights { file: file.clone(), detail };
            if on_host && table.is_none() {
                table = table_from_safetensors(&bytes, &config).map_err(invalid)?;
            }
            let mut store = SafetensorsStore::from_bytes(Some(bytes))
                .with_from_adapter(PyTorchToBurnAdapter.chain(FloatCastAdapter::to(DType::F32)))
                // Checkpoints saved from the bare decoder (no task head) lack the `model.` prefix.
                .with_key_remapping(r"^(embed_tokens|layers|norm)\b", "model.$1")
                .allow_partial(true);
            if on_host {
                // The table is the RowTable's: the module holds a placeholder.
                store = store.with_predicate(|path, _| path != crate::io::pack::TOKEN_TABLE_PATH);
            }
            let result = model.load_from(&mut store).map_err(|e| invalid(format!("not a valid safetensors file: {e}")))?;
            if let Some(error) = result.errors.first() {
                return Err(invalid(format!(
                    "{error} — does config.json (hidden_size {}, heads {}/{}, head_dim {}, vocab_size {}) describe this checkpoint?",
                    config.hidden_size, config.num_attention_heads, config.num_key_value_heads, config.head_dim, config.vocab_size
                )));
            }
            applied.extend(result.applied);
            missing = result.missing.into_iter().map(|(path, _)| path).collect();
        }
        missing.retain(|p| !(applied.contains(p) || on_host && p == crate::io::pack::TOKEN_TABLE_PATH));
        if on_host && table.is_none() {
            missing.push(crate::io::pack::TOKEN_TABLE_PATH.to_string());
        }
        if !missing.is_empty() {
            return Err(PalateError::InvalidWeights {
                file: names::WEIGHTS.into(),
                detail: format!(
                    "{} tensor(s) the model needs are missing, e.g. {} — is this a {:?} checkpoint with {} layers?",
                    missing.len(),
                    missing.iter().take(5).cloned().collect::<Vec<_>>().join(", "),
                    config.kind,
                    config.num_hidden_layers
                ),
            });
        }
        let mut scorer = Self { config, model, device: device.clone(), row_table: None };
        if let Some(table) = table {
            scorer.set_row_table(table);
        }
        Ok(scorer)
    }

    /// Builds the model from a reward-model `.bpk` ([`crate::io::pack`]), holding the token-embedding
    /// table on the host under the same rule as [`Self::load_with_binding_limit`].
    pub fn from_pack(pack: &crate::io::pack::Pack, device: &Device, max_binding_bytes: Option<u64>) -> Result<Self> {
        pack.expect_kind(crate::io::pack::PackKind::RewardModel)?;
        let config = DecoderConfig::from_json(&pack.required(names::CONFIG)?)?;
        crate::limits::check_backed(config.parameter_count(), pack.len(), names::CONFIG)?;
        let cpu = crate::device::is_cpu(device);
        let on_host = table_on_host(&config, device, max_binding_bytes);
        let mut model = config.init(device, on_host);
        // A table on the host is only looked up: it stays as stored (f32, f16, or q8 in a q8 / q4
        // pack) and the rows used are cast to f32. So does a q8 table on the CPU, whose burn
        // tensor would be dequantized whole per lookup; an f16 one there stays in the module as
        // f16. Either is read straight from the file, never through a burn tensor: the module's
        // parameter is left unloaded and replaced.
        let keep: &[&str] = if cpu { &[crate::io::pack::TOKEN_TABLE_PATH] } else { &[] };
        let quantized = matches!(pack.precision, crate::io::pack::StoredPrecision::Q8 | crate::io::pack::StoredPrecision::Q4);
        // A pack read by byte ranges leaves the table in its file (rows read on lookup).
        let table = if on_host || (cpu && quantized) {
            match pack.stored_range(crate::io::pack::TOKEN_TABLE_PATH) {
                Some((read, dtype, shape, start, end)) => RowTable::from_stored(dtype, &shape, read, start, end),
                None => pack.raw_tensor(crate::io::pack::TOKEN_TABLE_PATH)?.and_then(|(dtype, shape, bytes)| RowTable::from_packed(dtype, &shape, bytes)),
            }
        } else {
            None
        };
        if on_host && table.is_none() {
            return Err(PalateError::InvalidWeights {
                file: "reward-model .bpk".into(),
                detail: format!(
                    "its token table ({}) is missing or not f32, f16, bf16 or q8 in blocks of {}, which a table held off the GPU needs",
                    crate::io::pack::TOKEN_TABLE_PATH,
                    crate::nn::quantize::BLOCK
                ),
            });
        }
        // Token ids are checked against config.json's vocab_size: the table must have those rows.
        if let Some(t) = &table
            && (t.vocab != config.vocab_size || t.hidden != config.hidden_size)
        {
            return Err(PalateError::InvalidWeights {
                file: "reward-model .bpk".into(),
                detail: format!(
                    "its token table holds {} values of width {}; config.json says {} × {}",
                    t.vocab * t.hidden,
                    t.hidden,
                    config.vocab_size,
                    config.hidden_size
                ),
            });
        }
        let mut skip = Vec::new();
        if table.is_some() {
            skip.push(crate::io::pack::TOKEN_TABLE_PATH.to_string());
        }
        // On the CPU, q4 linear weights go straight from the file into packed host memory,
        // never through burn's CPU tensors (a byte per value): read here, skipped by the load.
        let mut host_q4 = Vec::new();
        if cpu && pack.precision == crate::io::pack::StoredPrecision::Q4 {
            // burn's Linear weight is [d_in, d_out]; the load would check the same.
            let mut linears = std::collections::HashMap::new();
            for (i, layer) in model.model.layers.iter_mut().enumerate() {
                for (name, linear) in layer.linears_mut() {
                    linears.insert(format!("model.layers.{i}.{name}.weight"), (i, name, linear.shape()));
                }
            }
            pack.raw_tensors_where(
                |path| linears.contains_key(path),
                |path, (dtype, shape, bytes)| {
                    let (Some(&(i, name, want)), Some(weight)) = (linears.get(path), quantize::HostQ4::from_packed(dtype, &shape, bytes)) else {
                        return Ok(()); // not q4 (a width that is no multiple of the block): burn loads it
                    };
                    if weight.shape() != want {
                        return Err(PalateError::InvalidWeights {
                            file: "reward-model .bpk".into(),
                            detail: format!("{path} is {:?}; config.json says {want:?}", weight.shape()),
                        });
                    }
                    skip.push(path.to_string());
                    host_q4.push((i, name, weight));
                    Ok(())
                },
            )?;
        }
        pack.load_into(&mut model, keep, &skip)?;
        let mut scorer = Self { config, model, device: device.clone(), row_table: None };
        if let Some(table) = table {
            scorer.set_row_table(table);
        }
        for (i, name, weight) in host_q4 {
            if let Some((_, linear)) = scorer.model.model.layers[i].linears_mut().into_iter().find(|(n, _)| *n == name) {
                linear.hold(HostWeight::Q4(weight));
            }
        }
        Ok(scorer)
    }

    /// The `.bpk` bytes of this model ([`crate::io::pack`]), its linear weights quantized first as
    /// `precision` says; `carried` are the text files a reward-model pack needs (config.json,
    /// tokenizer.json, the chat template).
    pub fn to_pack(self, precision: crate::io::pack::StoredPrecision, carried: &[(&str, &[u8])]) -> Result<Vec<u8>> {
        if self.row_table.is_some() || self.host_weights().0 > 0 {
            return Err(PalateError::InvalidInput(
                "write the pack from the f32 model, before quantizing it, with its token table on the device (no binding limit)".into(),
            ));
        }
        let model = crate::nn::quantize::quantize_linear_weights(self.model, precision.quantization())?;
        crate::io::pack::write(&model, crate::io::pack::PackKind::RewardModel, precision, None, carried)
    }

    /// A model with random weights (uniform, Kaiming's bound) and the exact shapes of `config`:
    /// for scale benchmarks of checkpoints that cannot be downloaded here (`tests/benches/scale.rs`).
    pub fn random(config: DecoderConfig, device: &Device, max_binding_bytes: Option<u64>) -> Self {
        let on_host = table_on_host(&config, device, max_binding_bytes);
        let model = params::randomize(config.init(device, on_host), device);
        let mut scorer = Self { config, model, device: device.clone(), row_table: None };
        if on_host {
            scorer.set_row_table(RowTable::random(scorer.config.vocab_size, scorer.config.hidden_size));
        }
        scorer
    }

    /// Whether the token table is held as q8 rows on the host (a quantized model whose table is
    /// held on the host, or lives on the CPU).
    pub fn token_table_quantized(&self) -> bool {
        self.row_table.as_ref().is_some_and(|t| t.format == RowFormat::Q8)
    }

    /// Whether the token-embedding table is held on the host while the model runs on a GPU (it is
    /// larger than one storage binding).
    pub fn embeddings_on_cpu(&self) -> bool {
        self.row_table.is_some() && !crate::device::is_cpu(&self.device)
    }

    /// Scores token sequences (one per response), all in one right-padded batch: label 0 of the
    /// `score` head at each sequence's last token. Empty sequences and sequences longer than
    /// `max_position_embeddings` are refused.
    pub async fn score_ids(&self, batch: &[Vec<u32>]) -> Result<Vec<f32>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let (x, keep, seq) = self.embed_batch(batch)?;
        let logits = self.forward_embedded(x, keep); // [rows, seq, labels]
        let labels = self.config.num_labels;
        let data = logits
            .into_data_async()
            .await
            .map_err(|e| PalateError::Backend(format!("reading scores back: {e:?}")))?
            .try_into_vec::<f32>()
            .map_err(|e| PalateError::Backend(format!("unexpected score data: {e:?}")))?;
        Ok(batch.iter().enumerate().map(|(r, row)| data[(r * seq + row.len() - 1) * labels]).collect())
    }

    /// Checks a batch (no empty sequence, none beyond the context, every id in the vocabulary) and
    /// embeds it right-padded: `([batch, seq, hidden], keep-mask, seq)`.
    fn embed_batch(&self, batch: &[Vec<u32>]) -> Result<(Tensor<3>, Tensor<2, Bool>, usize)> {
        let seq = batch.iter().map(Vec::len).max().unwrap_or(0);
        if let Some(i) = batch.iter().position(Vec::is_empty) {
            return Err(PalateError::InvalidInput(format!("sequence {} is empty", i + 1)));
        }
        if seq > self.config.max_position_embeddings {
            return Err(PalateError::InvalidInput(format!(
                "a sequence has {seq} tokens; the model's context is {}",
                self.config.max_position_embeddings
            )));
        }
        if let Some(&bad) = batch.iter().flatten().find(|&&id| id as usize >= self.config.vocab_size) {
            return Err(PalateError::InvalidInput(format!("token id {bad} is outside the vocabulary ({})", self.config.vocab_size)));
        }
        if !crate::device::is_cpu(&self.device) {
            // Palate's WebGPU kernels index with u32 (kernels::wgsl): a batch whose attention
            // scores, feed-forward activations or head outputs would pass that is refused here, not in a kernel.
            let c = &self.config;
            let widest = c.hidden_size.max(c.intermediate_size).max(c.num_attention_heads.saturating_mul(c.head_dim)).max(c.num_labels);
            if !crate::limits::fits_webgpu_kernels(batch.len(), c.num_attention_heads, seq, widest) {
                return Err(PalateError::InvalidInput(format!(
                    "{} sequences of up to {seq} tokens are too large for one pass on WebGPU; score fewer or shorter ones at a time",
                    batch.len()
                )));
            }
        }
        let pad = self.config.pad_token_id.unwrap_or(0).max(0);
        let (ids, keep) = crate::nn::batch::pad_right(batch, pad, &self.device);
        let x = match &self.row_table {
            // Rows looked up on the host; only they go to the device.
            Some(table) => {
                let rows = table.lookup(batch, seq, pad as u32)?;
                Tensor::<3>::from_data(TensorData::new(rows, [batch.len(), seq, table.hidden]), &self.device)
            }
            None => self.model.model.embed_tokens.forward(ids).cast(DType::F32),
        };
        Ok((x, keep, seq))
    }

    /// For a causal LM (the `score` head spans the vocabulary, as [`crate::models::llama_gguf`]
    /// builds it): `log p(ids[i] | ids[..i])` for `i` in `1..len` of each sequence, in one
    /// right-padded batch. Log-softmax and the pick of each next token run on the device, so only
    /// `len − 1` values per sequence come back.
    pub async fn token_logprobs(&self, batch: &[Vec<u32>]) -> Result<Vec<Vec<f32>>> {
        self.token_logprobs_from(batch, 1).await
    }

    /// [`Self::token_logprobs`] for tokens `from..len` only (`from ≥ 1`): the head, the largest
    /// matmul of a small model with a large vocabulary, runs on those positions alone. Entry `j`
    /// of a sequence's result is `log p(ids[from + j] | ids[..from + j])`.
    pub async fn token_logprobs_from(&self, batch: &[Vec<u32>], from: usize) -> Result<Vec<Vec<f32>>> {
        let from = from.max(1);
        if self.config.num_labels != self.config.vocab_size {
            return Err(PalateError::InvalidInput(format!(
                "this decoder has a {}-label head, not a language-model head over its {} tokens",
                self.config.num_labels, self.config.vocab_size
            )));
        }
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let (x, keep, seq) = self.embed_batch(batch)?;
        if seq <= from {
            return Ok(batch.iter().map(|_| Vec::new()).collect());
        }
        let n = seq - from;
        // Position p predicts token p + 1: positions from − 1 .. seq − 1.
        let logits = crate::kernels::pool::install(&self.device, || self.model.score.forward(self.layers(x, keep).narrow(1, from - 1, n))); // [rows, n, vocab]
        let pad = self.config.pad_token_id.unwrap_or(0).max(0);
        let next: Vec<i64> = batch.iter().flat_map(|row| (from..seq).map(move |i| row.get(i).map_or(pad, |&t| t as i64))).collect();
        let next = Tensor::<3, burn::tensor::Int>::from_data(TensorData::new(next, [batch.len(), n, 1]), &self.device);
        let picked = activation::log_softmax(logits, 2).gather(2, next);
        let data = picked
            .into_data_async()
            .await
            .map_err(|e| PalateError::Backend(format!("reading log-probabilities back: {e:?}")))?
            .try_into_vec::<f32>()
            .map_err(|e| PalateError::Backend(format!("unexpected log-probability data: {e:?}")))?;
        Ok(batch.iter().enumerate().map(|(r, row)| data[r * n..r * n + row.len().saturating_sub(from)].to_vec()).collect())
    }


    /// Blocking [`Self::score_ids`] for native callers.
    #[cfg(not(target_family = "wasm"))]
    pub fn score_ids_blocking(&self, batch: &[Vec<u32>]) -> Result<Vec<f32>> {
        pollster::block_on(self.score_ids(batch))
    }

    /// Token embeddings `[batch, seq, hidden]` and a keep-mask (false = padding) →
    /// `[batch, seq, num_labels]`.
    pub fn forward_embedded(&self, x: Tensor<3>, keep: Tensor<2, Bool>) -> Tensor<3> {
        crate::kernels::pool::install(&self.device, || self.model.score.forward(self.layers(x, keep)))
    }

    /// [`Self::forward_embedded`] without the head: the final-norm hidden states `[batch, seq, hidden]`.
    /// Callers run it inside [`crate::kernels::pool::install`], head included.
    fn layers(&self, mut x: Tensor<3>, keep: Tensor<2, Bool>) -> Tensor<3> {
        let [batch, seq, _] = x.dims();
        let (cos, sin) = self.rotary(seq);
        // Key j is hidden from query i when j > i (causal) or j is padding: [batch, 1, seq, seq].
        let causal = Tensor::<2, Bool>::tril_mask([seq, seq], 0, &self.device).unsqueeze_dims::<4>(&[0, 1]);
        let padding = keep.bool_not().unsqueeze_dims::<4>(&[1, 2]);
        let mask = causal.expand([batch, 1, seq, seq]).bool_or(padding.expand([batch, 1, seq, seq]));
        for layer in &self.model.model.layers {
            let attn = layer.self_attn.forward(layer.input_layernorm.forward(x.clone()), &cos, &sin, mask.clone());
            x = x + attn;
            let h = layer.post_attention_layernorm.forward(x.clone());
            let mlp = &layer.mlp;
            let gate = mlp.gate_proj.forward(h.clone());
            x = x + mlp.down_proj.forward(activation::silu(gate) * mlp.up_proj.forward(h));
        }
        self.model.model.norm.forward(x)
    }

    /// cos and sin tables `[seq, head_dim]` (the frequencies repeated for both halves).
    fn rotary(&self, seq: usize) -> (Tensor<2>, Tensor<2>) {
        let inv = self.config.inv_freq();
        let d = self.config.head_dim;
        let (mut cos, mut sin) = (Vec::with_capacity(seq * d), Vec::with_capacity(seq * d));
        for p in 0..seq {
            for _half in 0..2 {
                for f in &inv {
                    // transformers computes position × frequency in f32; so do we.
                    let angle = (p as f32 * *f as f32) as f64;
                    cos.push(angle.cos() as f32);
                    sin.push(angle.sin() as f32);
                }
            }
        }
        (
            Tensor::<2>::from_data(TensorData::new(cos, [seq, d]), &self.device),
            Tensor::<2>::from_data(TensorData::new(sin, [seq, d]), &self.device),
        )
    }
}

impl Attention {
    fn forward(&self, x: Tensor<3>, cos: &Tensor<2>, sin: &Tensor<2>, mask: Tensor<4, Bool>) -> Tensor<3> {
        let [batch, seq, _] = x.dims();
        let hd = self.head_dim;
        let split = |t: Tensor<3>, n: usize| t.reshape([batch, seq, n, hd]);
        let mut q = split(self.q_proj.forward(x.clone()), self.heads);
        let mut k = split(self.k_proj.forward(x.clone()), self.kv_heads);
        let v = split(self.v_proj.forward(x), self.kv_heads).swap_dims(1, 2);
        if let (Some(qn), Some(kn)) = (&self.q_norm, &self.k_norm) {
            q = qn.forward(q);
            k = kn.forward(k);
        }
        let q = rotate(q.swap_dims(1, 2), cos, sin);
        let k = rotate(k.swap_dims(1, 2), cos, sin);
        // Grouped-query attention: query head h reads key/value head h / (heads / kv_heads).
        let rep = self.heads / self.kv_heads;
        let repeat = |t: Tensor<4>| {
            if rep == 1 {
                t
            } else {
                t.unsqueeze_dim::<5>(2).expand([batch, self.kv_heads, rep, seq, hd]).reshape([batch, self.heads, seq, hd])
            }
        };
        let (k, v) = (repeat(k), repeat(v));
        let probs = cpu_ops::masked_softmax(ops::matmul(q, k.swap_dims(2, 3)), 1.0 / (hd as f64).sqrt(), mask);
        let out = ops::matmul(probs, v).swap_dims(1, 2).reshape([batch, seq, self.heads * hd]);
        self.o_proj.forward(out)
    }
}

/// `x·cos + rotate_half(x)·sin` with `rotate_half([a, b]) = [−b, a]`, over `[batch, heads, seq, d]`.
fn rotate(x: Tensor<4>, cos: &Tensor<2>, sin: &Tensor<2>) -> Tensor<4> {
    let d = x.dims()[3];
    let a = x.clone().narrow(3, 0, d / 2);
    let b = x.clone().narrow(3, d / 2, d / 2);
    let rotated = Tensor::cat(vec![b.neg(), a], 3);
    let cos = cos.clone().unsqueeze_dims::<4>(&[0, 1]);
    let sin = sin.clone().unsqueeze_dims::<4>(&[0, 1]);
    x * cos + rotated * sin
}

#[cfg(all(test, feature = "cpu"))]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    fn random_table(vocab: usize, hidden: usize) -> Tensor<2> {
        let device = crate::device::cpu_device();
        // Some rows all zero (scale falls back to the smallest positive f32) and one huge value.
        let t = Tensor::<2>::random([vocab, hidden], Distribution::Normal(0.0, 0.05), &device);
        let t = t.slice_assign([0..1, 0..hidden], Tensor::zeros([1, hidden], &device));
        t.slice_assign([1..2, 3..4], Tensor::full([1, 1], 40.0, &device))
    }

    fn f32_bytes(t: &Tensor<2>) -> Vec<u8> {
        t.to_data().try_to_vec::<f32>().unwrap().iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    /// A table held on the host and quantized there equals burn's own q8 quantization on the CPU
    /// (burn-flex), value for value and scale for scale.
    #[test]
    fn host_q8_quantization_is_burns() {
        let (vocab, hidden) = (37, 96);
        let table = random_table(vocab, hidden);
        let ours = RowTable::from_packed(DType::F32, &[vocab, hidden], f32_bytes(&table)).unwrap().into_q8().unwrap();
        let scheme = crate::nn::quantize::Precision::Q8.scheme().unwrap();
        let burns = RowTable::from_tensor(&table.clone().quantize_dynamic(&scheme)).unwrap();
        let (Rows::Memory(a), Rows::Memory(b)) = (&ours.rows, &burns.rows) else { panic!("both in memory") };
        assert_eq!(a.len(), vocab * hidden + vocab * hidden / 32 * 4);
        assert!(a == b, "host q8 differs from burn's in {} of {} bytes", a.iter().zip(b).filter(|(x, y)| x != y).count(), a.len());
        // And a lookup dequantizes as burn does.
        let rows = ours.lookup(&[vec![1, 5]], 2, 0).unwrap();
        let want = table.quantize_dynamic(&scheme).dequantize().to_data().try_to_vec::<f32>().unwrap();
        assert_eq!(&rows[..hidden], &want[hidden..2 * hidden]);
        assert_eq!(&rows[hidden..], &want[5 * hidden..6 * hidden]);
    }

    /// Float tables decode exactly: f32 as is, f16 and bf16 widened.
    #[test]
    fn host_tables_decode_f32_f16_and_bf16() {
        let values = [1.5f32, -0.25, 3.0e-3, 65504.0, -2.0, 0.0];
        let f32s: Vec<u8> = values.iter().flat_map(|x| x.to_le_bytes()).collect();
        let f16s: Vec<u8> = values.iter().flat_map(|&x| half::f16::from_f32(x).to_le_bytes()).collect();
        let bf16s: Vec<u8> = values.iter().flat_map(|&x| half::bf16::from_f32(x).to_le_bytes()).collect();
        for (dtype, bytes) in [(DType::F32, f32s), (DType::F16, f16s), (DType::BF16, bf16s)] {
            let t = RowTable::from_packed(dtype, &[3, 2], bytes).unwrap();
            let got = t.lookup(&[vec![2, 0], vec![1]], 2, 2).unwrap();
            let want = |r: usize| -> Vec<f32> {
                values[2 * r..2 * r + 2]
                    .iter()
                    .map(|&x| match dtype {
                        DType::F16 => half::f16::from_f32(x).to_f32(),
                        DType::BF16 => half::bf16::from_f32(x).to_f32(),
                        _ => x,
                    })
                    .collect()
            };
            assert_eq!(got, [want(2), want(0), want(1), want(2)].concat(), "{dtype:?}");
        }
        // A length that does not fit the shape, or an unreadable dtype, is refused.
        assert!(RowTable::from_packed(DType::F32, &[3, 2], vec![0; 23]).is_none());
        assert!(RowTable::from_packed(DType::I32, &[3, 2], vec![0; 24]).is_none());
        let t = RowTable::from_packed(DType::F32, &[3, 2], vec![0; 24]).unwrap();
        assert!(t.lookup(&[vec![3]], 1, 0).is_err(), "token 3 is outside a 3-row table");
    }
}
