//! Sentence embeddings as sentence-transformers defines them for a model folder:
//! Transformer (truncated to `max_seq_length`) → Pooling (mean over the attention mask, or CLS) →
//! Normalize (L2) when modules.json lists it.

use burn::tensor::{Device, Tensor};
use serde::Deserialize;

use crate::models::bert::{BertConfig, BertModel};
use crate::error::{PalateError, Result};
use crate::io::files::{ModelFiles, names, parse_json};
use crate::io::pack::{Pack, PackKind, StoredPrecision};
use crate::nn::quantize::Precision;
use crate::pipelines::text::TextTokenizer;

/// How token states become one vector (`1_Pooling/config.json`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pooling {
    /// Mean over the tokens the attention mask keeps (sentence-transformers' default).
    Mean,
    /// The first token's state.
    Cls,
}

/// What sentence-transformers' config files say about the pipeline around the encoder.
#[derive(Clone, Debug, PartialEq)]
pub struct SentenceConfig {
    pub max_seq_length: usize,
    pub pooling: Pooling,
    pub normalize: bool,
}

#[derive(Deserialize)]
struct SentenceBertConfig {
    max_seq_length: Option<usize>,
}

#[derive(Deserialize)]
struct ModuleEntry {
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize, Default)]
struct PoolingConfig {
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
}

impl SentenceConfig {
    /// Reads the optional sentence-transformers files. Absent files mean: truncate at the model's
    /// `max_position_embeddings`, mean pooling, L2 normalisation (Palate compares by cosine).
    pub fn from_files(files: &ModelFiles, bert: &BertConfig) -> Result<Self> {
        let max_seq_length = match &files.sentence_bert_config {
            Some(bytes) => parse_json::<SentenceBertConfig>(names::SENTENCE_BERT_CONFIG, bytes)?
                .max_seq_length
                .unwrap_or(bert.max_position_embeddings),
            None => bert.max_position_embeddings,
        };
        if max_seq_length > bert.max_position_embeddings {
            return Err(PalateError::InvalidConfig {
                file: names::SENTENCE_BERT_CONFIG.into(),
                detail: format!(
                    "max_seq_length {max_seq_length} exceeds the model's max_position_embeddings {}",
                    bert.max_position_embeddings
                ),
            });
        }
        let normalize = match &files.modules {
            Some(bytes) => parse_json::<Vec<ModuleEntry>>(names::MODULES, bytes)?
                .iter()
                .any(|m| m.kind.ends_with(".Normalize")),
            None => true,
        };
        let pooling = match &files.pooling_config {
            None => Pooling::Mean,
            Some(bytes) => {
                let p: PoolingConfig = parse_json(names::POOLING_CONFIG, bytes)?;
                let unsupported = p.pooling_mode_max_tokens || p.pooling_mode_mean_sqrt_len_tokens;
                match (p.pooling_mode_mean_tokens, p.pooling_mode_cls_token, unsupported) {
                    (true, false, false) => Pooling::Mean,
                    (false, true, false) => Pooling::Cls,
                    _ => {
                        return Err(PalateError::InvalidConfig {
                            file: names::POOLING_CONFIG.into(),
                            detail: "only one of pooling_mode_mean_tokens or pooling_mode_cls_token is supported".into(),
                        });
                    }
                }
            }
        };
        Ok(Self { max_seq_length, pooling, normalize })
    }
}

/// One text's result.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Embedded {
    /// Token ids after truncation, special tokens included.
    pub ids: Vec<u32>,
    /// The sentence embedding.
    pub embedding: Vec<f32>,
}

/// A sentence-embedding model ready to run on one device.
#[derive(Debug)]
pub struct SentenceEmbedder {
    model: BertModel,
    tokenizer: TextTokenizer,
    config: SentenceConfig,
    hidden_size: usize,
    device: Device,
    precision: Precision,
    /// Attention heads and the widest activation (hidden or feed-forward), for the WebGPU guard.
    heads: usize,
    widest: usize,
    /// Most texts per forward pass ([`Self::set_batch_size`]). Inputs are sorted by length and a
    /// batch never pads a text to more than twice its length, so a long text does not make short
    /// ones expensive.
    batch_size: usize,
}

impl SentenceEmbedder {
    /// Builds the model from a folder's files on `device`. Fails with an error naming the file
    /// when any of them is missing, malformed or inconsistent with another.
    pub fn load(files: ModelFiles, device: &Device) -> Result<Self> {
        let bert = BertConfig::from_json(&files.config)?;
        let config = SentenceConfig::from_files(&files, &bert)?;
        let tokenizer = TextTokenizer::from_bytes(&files.tokenizer, config.max_seq_length)?;
        let model = BertModel::load(&bert, files.weights, device)?;
        Ok(Self::assemble(model, tokenizer, config, &bert, device, Precision::F32))
    }

    /// Builds the model from a `.bpk` written by `palate convert` ([`crate::io::pack`]): the carried
    /// files configure it exactly as the folder did; quantized weights load quantized.
    pub fn from_pack(pack: &Pack, device: &Device) -> Result<Self> {
        pack.expect_kind(PackKind::SentenceEmbedder)?;
        let files = pack.model_files()?;
        let bert = BertConfig::from_json(&files.config)?;
        let config = SentenceConfig::from_files(&files, &bert)?;
        let tokenizer = TextTokenizer::from_bytes(&files.tokenizer, config.max_seq_length)?;
        crate::limits::check_backed(bert.parameter_count(), pack.len(), names::CONFIG)?;
        let mut model = bert.init(device)?;
        pack.load_into(&mut model, &[], &[])?;
        let precision = pack.precision.quantization();
        Ok(Self::assemble(model, tokenizer, config, &bert, device, precision))
    }

    fn assemble(model: BertModel, tokenizer: TextTokenizer, config: SentenceConfig, bert: &BertConfig, device: &Device, precision: Precision) -> Self {
        let (heads, widest) = (bert.num_attention_heads, bert.hidden_size.max(bert.intermediate_size));
        Self { model, tokenizer, config, hidden_size: bert.hidden_size, device: device.clone(), precision, heads, widest, batch_size: 32 }
            .for_this_target()
    }

    /// Most texts per forward pass (default 32; 1 to 256).
    pub fn set_batch_size(&mut self, batch_size: usize) -> Result<()> {
        if !(1..=256).contains(&batch_size) {
            return Err(PalateError::InvalidInput(format!("batch_size is {batch_size}; it is 1 to 256")));
        }
        self.batch_size = batch_size;
        Ok(())
    }

    /// The `.bpk` bytes of this model ([`crate::io::pack`]): `files` are the folder it was loaded
    /// from, `precision` how to store it (q8 / q4 quantize the linear weights first).
    pub fn to_pack(self, files: &ModelFiles, precision: StoredPrecision, taste: Option<&[u8]>) -> Result<Vec<u8>> {
        let model = self.restore_host_weights().quantize(precision.quantization())?.model;
        let mut carried: Vec<(&str, &[u8])> = vec![(names::CONFIG, &files.config), (names::TOKENIZER, &files.tokenizer)];
        for (name, file) in [
            (names::SENTENCE_BERT_CONFIG, &files.sentence_bert_config),
            (names::MODULES, &files.modules),
            (names::POOLING_CONFIG, &files.pooling_config),
        ] {
            if let Some(bytes) = file {
                carried.push((name, bytes));
            }
        }
        if let Some(taste) = taste {
            carried.push((names::TASTE, taste));
        }
        crate::io::pack::write(&model, PackKind::SentenceEmbedder, precision, Some(&files.fingerprint()), &carried)
    }

    /// Quantizes the encoder's linear weights ([`crate::nn::quantize`]); f32 leaves it as loaded.
    /// An already-quantized model (a q8 / q4 `.bpk`) refuses another quantization. In the
    /// browser's CPU build q8 is [`Self::quantize_on_host`].
    pub fn quantize(mut self, precision: Precision) -> Result<Self> {
        if precision == Precision::F32 {
            return Ok(self); // as loaded (a quantized pack stays quantized)
        }
        if self.precision != Precision::F32 {
            // Checked here: weights held on the host come back as f32 and would be quantized again.
            return Err(PalateError::InvalidInput(format!(
                "the model is already quantized ({}); load the f32 model to quantize it to {}",
                self.precision.as_str(),
                precision.as_str()
            )));
        }
        if crate::kernels::gemm::PREFERRED && precision == Precision::Q8 && crate::device::is_cpu(&self.device) {
            return Ok(self.quantize_on_host());
        }
        self = self.restore_host_weights();
        self.model = crate::nn::quantize::quantize_linear_weights(self.model, precision)?;
        self.precision = precision;
        Ok(self)
    }

    /// q8 for integer products on the host ([`crate::kernels::igemm`]: blocks of 32 along d_in, activations
    /// rounded to i16 per call): what [`Self::quantize`] does in the browser's CPU build, where
    /// it is faster than f32; natively, for the tests. A model that is already quantized, or not on
    /// the CPU, is returned as it is.
    pub fn quantize_on_host(mut self) -> Self {
        if self.precision != Precision::F32 || !crate::device::is_cpu(&self.device) {
            return self;
        }
        self = self.restore_host_weights();
        self.model.hold_weights_on_host(true);
        self.precision = Precision::Q8;
        self
    }

    /// Moves the f32 linear weights on burn's CPU backend out of the module into
    /// [`crate::kernels::gemm`]'s packed form. Same results, within f32 rounding; [`Self::load`] does it
    /// where that is the faster path ([`crate::kernels::gemm::PREFERRED`]: the browser).
    pub fn hold_weights_on_host(mut self) -> Self {
        self.model.hold_weights_on_host(false);
        self
    }

    /// [`Self::hold_weights_on_host`] where [`crate::kernels::gemm::PREFERRED`].
    fn for_this_target(self) -> Self {
        if crate::kernels::gemm::PREFERRED { self.hold_weights_on_host() } else { self }
    }

    /// Linear weights held on the host ([`crate::nn::linear::HostWeight`]), and their bytes.
    pub fn host_weights(&self) -> (usize, usize) {
        crate::nn::linear::held_on_host(self.model.linears())
    }

    /// Puts weights held on the host back into the module (to quantize or write it): f32, or q8
    /// as its dequantized f32 values.
    fn restore_host_weights(mut self) -> Self {
        self.model.restore_host_weights(&self.device);
        self
    }

    /// The precision of the encoder's linear weights.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Embedding width.
    pub fn dim(&self) -> usize {
        self.hidden_size
    }

    /// The pipeline settings read from the folder.
    pub fn config(&self) -> &SentenceConfig {
        &self.config
    }

    /// Token ids per text, as [`Self::embed`] will use them.
    pub fn tokenize<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<Vec<u32>>> {
        texts.iter().map(|t| self.tokenizer.encode(t.as_ref())).collect()
    }

    /// Embeds `texts`, results in input order. Works in a browser (reads back asynchronously).
    pub async fn embed<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<Embedded>> {
        crate::limits::check_texts(texts)?;
        let ids = self.tokenize(texts)?;
        let mut order: Vec<usize> = (0..ids.len()).collect();
        order.sort_by_key(|&i| ids[i].len());
        let mut embeddings: Vec<Vec<f32>> = vec![Vec::new(); ids.len()];
        for chunk in length_buckets(&order, |i| ids[i].len(), self.batch_size) {
            let batch: Vec<&[u32]> = chunk.iter().map(|&i| ids[i].as_slice()).collect();
            let vectors = self.embed_ids(&batch).await?;
            crate::limits::check_finite(vectors.iter().flatten(), "sentence embedding")?;
            for (&i, v) in chunk.iter().zip(vectors) {
                embeddings[i] = v;
            }
        }
        Ok(ids.into_iter().zip(embeddings).map(|(ids, embedding)| Embedded { ids, embedding }).collect())
    }

    /// Native convenience: [`Self::embed`], blocking.
    #[cfg(not(target_family = "wasm"))]
    pub fn embed_blocking<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<Embedded>> {
        pollster::block_on(self.embed(texts))
    }

    /// Bag of token embeddings: for each id list (as [`Embedded::ids`]), the sum of its rows of
    /// the model's static input table (`embeddings.word_embeddings`), special tokens included.
    /// Unlike the pooled embedding it grows with the text and adds up its words linearly, so
    /// counts of words (length, hedges, markers of tone) stay linearly readable; the personal
    /// taste basis uses it (`palate_personal::features::ReplyEmbedding::tokens`). Works in a browser.
    pub async fn token_bags(&self, ids: &[Vec<u32>]) -> Result<Vec<Vec<f32>>> {
        let table = &self.model.embeddings.word_embeddings;
        let vocab = table.weight.dims()[0];
        if let Some(bad) = ids.iter().flatten().find(|&&id| id as usize >= vocab) {
            return Err(PalateError::InvalidInput(format!("token id {bad} is outside the vocabulary ({vocab})")));
        }
        let mut order: Vec<usize> = (0..ids.len()).collect();
        order.sort_by_key(|&i| ids[i].len());
        let mut bags: Vec<Vec<f32>> = vec![Vec::new(); ids.len()];
        for chunk in length_buckets(&order, |i| ids[i].len(), self.batch_size) {
            let rows = chunk.len();
            let batch: Vec<&[u32]> = chunk.iter().map(|&i| ids[i].as_slice()).collect();
            let (tokens, mask) = crate::nn::batch::pad_right(&batch, 0, &self.device);
            let summed: Tensor<2> =
                (table.forward(tokens) * mask.float().unsqueeze_dim::<3>(2)).sum_dim(1).reshape([rows, self.hidden_size]);
            let data = summed
                .into_data_async()
                .await
                .map_err(|e| PalateError::Backend(format!("reading token bags back: {e:?}")))?
                .convert::<f32>();
            let flat = data
                .try_into_vec::<f32>()
                .map_err(|e| PalateError::Backend(format!("unexpected token-bag data: {e:?}")))?;
            for (&i, v) in chunk.iter().zip(flat.chunks(self.hidden_size)) {
                bags[i] = v.to_vec();
            }
        }
        Ok(bags)
    }

    /// Native convenience: [`Self::token_bags`], blocking.
    #[cfg(not(target_family = "wasm"))]
    pub fn token_bags_blocking(&self, ids: &[Vec<u32>]) -> Result<Vec<Vec<f32>>> {
        pollster::block_on(self.token_bags(ids))
    }

    /// One padded batch of token ids → one vector per row.
    async fn embed_ids(&self, batch: &[&[u32]]) -> Result<Vec<Vec<f32>>> {
        let rows = batch.len();
        if !crate::device::is_cpu(&self.device) {
            // Palate's WebGPU kernels index with u32 (kernels::wgsl, kernels::ops): a batch whose
            // attention scores or activations would pass that is refused here, not in a kernel.
            let seq = batch.iter().map(|b| b.len()).max().unwrap_or(0);
            if !crate::limits::fits_webgpu_kernels(rows, self.heads, seq, self.widest) {
                return Err(PalateError::InvalidInput(format!(
                    "{rows} texts of up to {seq} tokens are too large for one pass on WebGPU (this model's context is too long for its kernels)"
                )));
            }
        }
        let (ids, mask) = crate::nn::batch::pad_right(batch, 0, &self.device);
        let hidden = crate::kernels::pool::install(&self.device, || self.model.forward(ids, mask.clone()));
        let pooled: Tensor<2> = match self.config.pooling {
            Pooling::Cls => hidden.narrow(1, 0, 1).reshape([rows, self.hidden_size]),
            Pooling::Mean => {
                let weights = mask.float().unsqueeze_dim::<3>(2);
                let sum = (hidden * weights.clone()).sum_dim(1);
                let count = weights.sum_dim(1).clamp_min(1e-9);
                (sum / count).reshape([rows, self.hidden_size])
            }
        };
        let pooled = if self.config.normalize {
            let norm = pooled.clone().powf_scalar(2.0).sum_dim(1).sqrt().clamp_min(1e-12);
            pooled / norm
        } else {
            pooled
        };
        let data = pooled
            .into_data_async()
            .await
            .map_err(|e| PalateError::Backend(format!("reading embeddings back: {e:?}")))?;
        let flat = data
            .try_into_vec::<f32>()
            .map_err(|e| PalateError::Backend(format!("unexpected embedding data: {e:?}")))?;
        Ok(flat.chunks(self.hidden_size).map(<[f32]>::to_vec).collect())
    }
}

/// Splits `sorted` (indices in ascending order of `len`) into runs of at most `max_rows` where the
/// longest item is at most twice the shortest (plus 8 tokens of slack for very short texts).
fn length_buckets(sorted: &[usize], len: impl Fn(usize) -> usize, max_rows: usize) -> Vec<&[usize]> {
    let mut buckets = Vec::new();
    let mut start = 0;
    for end in 1..=sorted.len() {
        let full = end - start >= max_rows.max(1);
        let too_long = end < sorted.len() && len(sorted[end]) > 2 * len(sorted[start]) + 8;
        if end == sorted.len() || full || too_long {
            buckets.push(&sorted[start..end]);
            start = end;
        }
    }
    buckets
}

#[cfg(test)]
mod tests {
    use super::length_buckets;

    #[test]
    fn buckets_cover_everything_in_order_and_bound_padding() {
        let lens = [2, 2, 6, 9, 12, 13, 18, 19, 21, 25, 28, 54, 256];
        let order: Vec<usize> = (0..lens.len()).collect();
        let buckets = length_buckets(&order, |i| lens[i], 32);
        let flat: Vec<usize> = buckets.iter().flat_map(|b| b.iter().copied()).collect();
        assert_eq!(flat, order);
        for b in &buckets {
            assert!(lens[*b.last().unwrap()] <= 2 * lens[b[0]] + 8, "{b:?}");
        }
        assert!(buckets.len() < lens.len(), "similar lengths share a batch");
        assert_eq!(length_buckets(&order, |_| 5, 4).iter().map(|b| b.len()).collect::<Vec<_>>(), [4, 4, 4, 1]);
        assert!(length_buckets(&[], |_| 1, 4).is_empty());
    }
}
