//! BERT encoder (`BertModel` in Hugging Face transformers' `modeling_bert.py`), as a burn module.
//!
//! Field names follow the Hugging Face checkpoint (`embeddings.LayerNorm`, `encoder.layer.N.attention
//! .self.query`, …) so any BERT-layout `model.safetensors` loads as is; the one rename is
//! `attention.self` → `attention.self_` because `self` is a Rust keyword. Checkpoints saved from a
//! task model (`BertForSequenceClassification`, …) carry a `bert.` prefix, which is stripped. The
//! pooler and task heads are not part of the encoder and are ignored when present.

// `LayerNorm` fields keep the checkpoint's name; the Module derive also binds them as variables.
#![allow(non_snake_case)]

use burn::module::Module;
use burn::module::Param;
use burn::nn::Embedding;
use burn::store::{FloatCastAdapter, ModuleAdapter, ModuleSnapshot, PyTorchToBurnAdapter, SafetensorsStore};
use burn::tensor::{Bool, DType, Device, Int, Tensor, activation};
use serde::Deserialize;

use crate::error::{PalateError, Result};
use crate::io::files::{names, parse_json};
use crate::kernels::{cpu_ops, ops};
use crate::nn::{Linear, params};

/// The keys of a Hugging Face `BertConfig` that the encoder uses; defaults are transformers'.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct BertConfig {
    #[serde(default)]
    pub model_type: Option<String>,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    #[serde(default = "default_act")]
    pub hidden_act: String,
    #[serde(default = "default_max_pos")]
    pub max_position_embeddings: usize,
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: usize,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    #[serde(default)]
    pub position_embedding_type: Option<String>,
}

fn default_act() -> String {
    "gelu".into()
}
fn default_max_pos() -> usize {
    512
}
fn default_type_vocab() -> usize {
    2
}
fn default_eps() -> f64 {
    1e-12
}

/// Activation functions named by `hidden_act`, as transformers' `ACT2FN` defines them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// `gelu`: exact, erf-based.
    Gelu,
    /// `gelu_new` / `gelu_pytorch_tanh`: tanh approximation.
    GeluTanh,
    Relu,
}

impl BertConfig {
    /// Parses and checks a config.json.
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        let config: Self = parse_json(names::CONFIG, bytes)?;
        config.validate()?;
        Ok(config)
    }

    fn invalid(detail: String) -> PalateError {
        PalateError::InvalidConfig { file: names::CONFIG.into(), detail }
    }

    fn validate(&self) -> Result<()> {
        match self.model_type.as_deref() {
            None | Some("bert") => {}
            Some(other) => {
                return Err(Self::invalid(format!(
                    "model_type \"{other}\" is not supported by the BERT encoder (supported: \"bert\")"
                )));
            }
        }
        if let Some(kind) = self.position_embedding_type.as_deref()
            && kind != "absolute"
        {
            return Err(Self::invalid(format!(
                "position_embedding_type \"{kind}\" is not supported (supported: \"absolute\")"
            )));
        }
        for (key, value) in [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("intermediate_size", self.intermediate_size),
            ("max_position_embeddings", self.max_position_embeddings),
            ("type_vocab_size", self.type_vocab_size),
        ] {
            if value == 0 {
                return Err(Self::invalid(format!("{key} must be positive")));
            }
        }
        crate::limits::check_vocab(self.vocab_size, names::CONFIG, "vocab_size")?;
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return Err(Self::invalid(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            )));
        }
        self.activation()?;
        Ok(())
    }

    /// The activation named by `hidden_act`.
    pub fn activation(&self) -> Result<Activation> {
        match self.hidden_act.as_str() {
            "gelu" => Ok(Activation::Gelu),
            "gelu_new" | "gelu_pytorch_tanh" => Ok(Activation::GeluTanh),
            "relu" => Ok(Activation::Relu),
            other => Err(Self::invalid(format!(
                "hidden_act \"{other}\" is not supported (supported: gelu, gelu_new, gelu_pytorch_tanh, relu)"
            ))),
        }
    }

    /// Builds the module with placeholder weights; [`BertModel::load`] fills them in.
    /// Parameters the config describes (embeddings, layers, pooler), saturating: what the weights
    /// must back before the module is allocated ([`crate::limits::check_backed`]).
    pub fn parameter_count(&self) -> usize {
        let d = self.hidden_size;
        let embeddings = (self.vocab_size.saturating_add(self.max_position_embeddings).saturating_add(self.type_vocab_size)).saturating_mul(d);
        let attention = d.saturating_mul(d).saturating_mul(4);
        let mlp = d.saturating_mul(self.intermediate_size).saturating_mul(2);
        let layer = attention.saturating_add(mlp);
        embeddings.saturating_add(layer.saturating_mul(self.num_hidden_layers)).saturating_add(d.saturating_mul(d))
    }

    pub fn init(&self, device: &Device) -> Result<BertModel> {
        let activation = self.activation()?;
        let d = self.hidden_size;
        let layer_norm = || LayerNorm::new(d, self.layer_norm_eps, device);
        let linear = |i, o| Linear::new(i, o, true, device);
        let embeddings = BertEmbeddings {
            word_embeddings: params::embedding(self.vocab_size, d, device),
            position_embeddings: params::embedding(self.max_position_embeddings, d, device),
            token_type_embeddings: params::embedding(self.type_vocab_size, d, device),
            LayerNorm: layer_norm(),
        };
        let layer = (0..self.num_hidden_layers)
            .map(|_| BertLayer {
                attention: BertAttention {
                    self_: BertSelfAttention {
                        query: linear(d, d),
                        key: linear(d, d),
                        value: linear(d, d),
                        num_heads: self.num_attention_heads,
                    },
                    output: BertSelfOutput { dense: linear(d, d), LayerNorm: layer_norm() },
                },
                intermediate: BertIntermediate {
                    dense: linear(d, self.intermediate_size),
                    activation,
                },
                output: BertOutput {
                    dense: linear(self.intermediate_size, d),
                    LayerNorm: layer_norm(),
                },
            })
            .collect();
        Ok(BertModel { embeddings, encoder: BertEncoder { layer } })
    }
}

/// burn-nn's `LayerNorm` (same fields, `gamma` and `beta`, and the same op), built without its
/// config's `init`: that carries burn-nn's `Initializer`, which reaches burn's matmul (see
/// [`crate::kernels::wgsl`] for what that costs the WebGPU build). Its `epsilon` is private there.
#[derive(Module, Debug)]
pub struct LayerNorm {
    pub gamma: Param<Tensor<1>>,
    pub beta: Option<Param<Tensor<1>>>,
    pub epsilon: f64,
}

impl LayerNorm {
    fn new(d: usize, epsilon: f64, device: &Device) -> Self {
        Self { gamma: params::ones([d], device), beta: Some(params::zeros([d], device)), epsilon }
    }

    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        burn::tensor::module::layer_norm(x, self.gamma.val(), self.beta.as_ref().map(|b| b.val()), self.epsilon)
    }
}

/// Word + position + token-type embeddings, then LayerNorm.
#[derive(Module, Debug)]
pub struct BertEmbeddings {
    pub word_embeddings: Embedding,
    pub position_embeddings: Embedding,
    pub token_type_embeddings: Embedding,
    pub LayerNorm: LayerNorm,
}

#[derive(Module, Debug)]
pub struct BertSelfAttention {
    pub query: Linear,
    pub key: Linear,
    pub value: Linear,
    #[module(skip)]
    pub num_heads: usize,
}

#[derive(Module, Debug)]
pub struct BertSelfOutput {
    pub dense: Linear,
    pub LayerNorm: LayerNorm,
}

#[derive(Module, Debug)]
pub struct BertAttention {
    pub self_: BertSelfAttention,
    pub output: BertSelfOutput,
}

#[derive(Module, Debug)]
pub struct BertIntermediate {
    pub dense: Linear,
    #[module(skip)]
    pub activation: Activation,
}

#[derive(Module, Debug)]
pub struct BertOutput {
    pub dense: Linear,
    pub LayerNorm: LayerNorm,
}

#[derive(Module, Debug)]
pub struct BertLayer {
    pub attention: BertAttention,
    pub intermediate: BertIntermediate,
    pub output: BertOutput,
}

#[derive(Module, Debug)]
pub struct BertEncoder {
    pub layer: Vec<BertLayer>,
}

/// The BERT encoder: token ids in, last hidden states out.
#[derive(Module, Debug)]
pub struct BertModel {
    pub embeddings: BertEmbeddings,
    pub encoder: BertEncoder,
}

impl BertModel {
    /// Builds the encoder described by `config` and loads `model.safetensors` (f32, f16 or bf16)
    /// into it. A tensor whose shape disagrees with the config, or a missing tensor, is an error
    /// that names both.
    pub fn load(config: &BertConfig, weights: Vec<u8>, device: &Device) -> Result<Self> {
        let invalid = |detail: String| PalateError::InvalidWeights { file: names::WEIGHTS.into(), detail };
        // A damaged file is named as such before its size is held against the config.
        safetensors::SafeTensors::read_metadata(&weights).map_err(|e| invalid(format!("not a valid safetensors file: {e}")))?;
        crate::limits::check_backed(config.parameter_count(), weights.len(), names::CONFIG)?;
        let mut model = config.init(device)?;
        let mut store = SafetensorsStore::from_bytes(Some(weights))
            .with_from_adapter(PyTorchToBurnAdapter.chain(FloatCastAdapter::to(DType::F32)))
            .with_key_remapping(r"^bert\.", "")
            .with_key_remapping(r"\.attention\.self\.", ".attention.self_.")
            .allow_partial(true);
        let result = model
            .load_from(&mut store)
            .map_err(|e| invalid(format!("not a valid safetensors file: {e}")))?;
        if let Some(error) = result.errors.first() {
            return Err(invalid(format!(
                "{error} — does config.json (hidden_size {}, intermediate_size {}, vocab_size {}) describe this checkpoint?",
                config.hidden_size, config.intermediate_size, config.vocab_size
            )));
        }
        if !result.missing.is_empty() {
            let missing: Vec<&str> = result.missing.iter().take(5).map(|(path, _)| path.as_str()).collect();
            return Err(invalid(format!(
                "{} tensor(s) the BERT encoder needs are missing, e.g. {} — is this a BERT checkpoint with {} layers?",
                result.missing.len(),
                missing.join(", "),
                config.num_hidden_layers
            )));
        }
        Ok(model)
    }

    /// `input_ids` and `attention_mask` are `[batch, seq]`; returns `[batch, seq, hidden]`.
    pub fn forward(&self, input_ids: Tensor<2, Int>, attention_mask: Tensor<2, Bool>) -> Tensor<3> {
        let [batch, seq] = input_ids.dims();
        let device = input_ids.device();
        let positions = Tensor::<1, Int>::arange(0..seq as i64, &device)
            .unsqueeze_dim::<2>(0)
            .expand([batch, seq]);
        let token_types = Tensor::<2, Int>::zeros([batch, seq], &device);
        let e = &self.embeddings;
        let mut hidden = e.LayerNorm.forward(
            e.word_embeddings.forward(input_ids)
                + e.position_embeddings.forward(positions)
                + e.token_type_embeddings.forward(token_types),
        );
        // Keys that are padding get -inf-like bias: [batch, 1, 1, seq].
        let pad = attention_mask.bool_not().unsqueeze_dims::<4>(&[1, 2]);
        for layer in &self.encoder.layer {
            hidden = layer.forward(hidden, pad.clone());
        }
        hidden
    }

    /// The transformer blocks' linear layers, in order.
    pub fn linears(&self) -> impl Iterator<Item = &Linear> {
        self.encoder.layer.iter().flat_map(|l| {
            let (a, o) = (&l.attention.self_, &l.attention.output);
            [&a.query, &a.key, &a.value, &o.dense, &l.intermediate.dense, &l.output.dense]
        })
    }

    /// Moves the f32 linear weights on burn's CPU backend to the host, packed for the host's
    /// products: [`crate::kernels::gemm`]'s panels, or with `q8` [`crate::kernels::igemm`]'s
    /// quantized ones ([`Linear::hold_packed`]); quantized weights and other devices stay.
    pub fn hold_weights_on_host(&mut self, q8: bool) {
        for layer in &mut self.encoder.layer {
            for linear in layer.linears_mut() {
                linear.hold_packed(q8);
            }
        }
    }

    /// Puts the weights held on the host back into burn tensors on `device`.
    pub fn restore_host_weights(&mut self, device: &Device) {
        for layer in &mut self.encoder.layer {
            for linear in layer.linears_mut() {
                linear.restore(device);
            }
        }
    }
}

impl BertLayer {
    fn linears_mut(&mut self) -> [&mut Linear; 6] {
        let (a, o) = (&mut self.attention.self_, &mut self.attention.output);
        [&mut a.query, &mut a.key, &mut a.value, &mut o.dense, &mut self.intermediate.dense, &mut self.output.dense]
    }

    fn forward(&self, x: Tensor<3>, pad: Tensor<4, Bool>) -> Tensor<3> {
        let attn = self.attention.self_.forward(x.clone(), pad);
        let attn = self.attention.output.LayerNorm.forward(self.attention.output.dense.forward(attn) + x);
        let inner = self.intermediate.dense.forward(attn.clone());
        let inner = match self.intermediate.activation {
            Activation::Gelu => cpu_ops::gelu(inner),
            Activation::GeluTanh => activation::gelu_approximate(inner),
            Activation::Relu => activation::relu(inner),
        };
        self.output.LayerNorm.forward(self.output.dense.forward(inner) + attn)
    }
}

impl BertSelfAttention {
    fn forward(&self, x: Tensor<3>, pad: Tensor<4, Bool>) -> Tensor<3> {
        let [batch, seq, hidden] = x.dims();
        let head_dim = hidden / self.num_heads;
        let scale = 1.0 / (head_dim as f64).sqrt();
        let (q, k, v) = (self.query.forward(x.clone()), self.key.forward(x.clone()), self.value.forward(x));
        if let Some(y) = crate::kernels::attention::self_attention(&q, &k, &v, self.num_heads, scale, &pad) {
            return y;
        }
        let heads = |t: Tensor<3>| t.reshape([batch, seq, self.num_heads, head_dim]).swap_dims(1, 2);
        let (q, k, v) = (heads(q), heads(k), heads(v));
        let probs = cpu_ops::masked_softmax(ops::matmul(q, k.swap_dims(2, 3)), scale, pad);
        ops::matmul(probs, v).swap_dims(1, 2).reshape([batch, seq, hidden])
    }
}
