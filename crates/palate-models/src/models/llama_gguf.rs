//! A llama-architecture GGUF (llama.cpp's names and layout) as the Hugging Face checkpoint the
//! [`crate::models::decoder`] loads: a `config.json` from the `llama.*` metadata and safetensors
//! bytes with transformers' names, every tensor dequantized to f32 ([`crate::io::gguf`]).
//!
//! Two differences from transformers' layout are undone, as transformers' own GGUF loader does
//! (`integrations/ggml.py`, `reverse_permute_weights`):
//! - llama.cpp's converter interleaves the two rotary halves of each head's rows of `attn_q` and
//!   `attn_k` (`convert_hf_to_gguf.py`, `LlamaModel.permute`); they are put back;
//! - a tied output embedding has no `output.weight`: the token table serves as the LM head.
//!
//! The LM head becomes the decoder's `score` head with one label per vocabulary entry, so the
//! same forward pass gives a causal LM's logits at every position.

use crate::error::{PalateError, Result};
use crate::io::gguf::Gguf;

/// GGUF tensor name (after `blk.N.`) → transformers' (after `model.layers.N.`).
const LAYER_NAMES: [(&str, &str); 9] = [
    ("attn_norm.weight", "input_layernorm.weight"),
    ("attn_q.weight", "self_attn.q_proj.weight"),
    ("attn_k.weight", "self_attn.k_proj.weight"),
    ("attn_v.weight", "self_attn.v_proj.weight"),
    ("attn_output.weight", "self_attn.o_proj.weight"),
    ("ffn_norm.weight", "post_attention_layernorm.weight"),
    ("ffn_gate.weight", "mlp.gate_proj.weight"),
    ("ffn_up.weight", "mlp.up_proj.weight"),
    ("ffn_down.weight", "mlp.down_proj.weight"),
];

/// The decoder settings a llama GGUF carries.
#[derive(Clone, Debug, PartialEq)]
pub struct LlamaGgufConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: usize,
    pub rms_norm_eps: f64,
    pub rope_theta: f64,
    pub max_position_embeddings: usize,
    pub pad_token_id: Option<u64>,
}

impl LlamaGgufConfig {
    /// Reads the `llama.*` keys; another architecture is an error naming it.
    pub fn from_gguf(g: &Gguf) -> Result<Self> {
        let arch = g.get_str("general.architecture")?;
        if arch != "llama" {
            return Err(PalateError::InvalidConfig {
                file: g.file.clone(),
                detail: format!("general.architecture is \"{arch}\"; Palate reads GGUF decoders of architecture \"llama\""),
            });
        }
        let heads = g.get_usize("llama.attention.head_count")?;
        let hidden = g.get_usize("llama.embedding_length")?;
        let vocab = match g.get_usize("llama.vocab_size") {
            Ok(v) => v,
            Err(_) => g.get_strings("tokenizer.ggml.tokens")?.len(),
        };
        crate::limits::check_vocab(vocab, &g.file, "llama.vocab_size")?;
        let config = Self {
            vocab_size: vocab,
            hidden_size: hidden,
            intermediate_size: g.get_usize("llama.feed_forward_length")?,
            num_hidden_layers: g.get_usize("llama.block_count")?,
            num_attention_heads: heads,
            num_key_value_heads: match g.metadata.get("llama.attention.head_count_kv") {
                Some(_) => g.get_usize("llama.attention.head_count_kv")?,
                None => heads,
            },
            rms_norm_eps: g.get_f64("llama.attention.layer_norm_rms_epsilon")?,
            rope_theta: match g.metadata.get("llama.rope.freq_base") {
                Some(_) => g.get_f64("llama.rope.freq_base")?,
                None => 10_000.0,
            },
            max_position_embeddings: g.get_usize("llama.context_length")?,
            pad_token_id: g.get_u64("tokenizer.ggml.padding_token_id").ok(),
        };
        let bad = |detail: String| PalateError::InvalidConfig { file: g.file.clone(), detail };
        // Each block is nine tensors: a count the tensor table cannot back is refused before
        // anything is sized by it.
        if config.num_hidden_layers == 0 || config.num_hidden_layers > g.tensors.len() / LAYER_NAMES.len() {
            return Err(bad(format!("llama.block_count is {}; the file has {} tensors", config.num_hidden_layers, g.tensors.len())));
        }
        if heads == 0 || hidden % heads != 0 || (hidden / heads) % 2 != 0 {
            return Err(bad(format!("llama.embedding_length {hidden} does not split into {heads} heads of even width")));
        }
        if let Ok(rope_dims) = g.get_usize("llama.rope.dimension_count")
            && rope_dims != hidden / heads
        {
            return Err(bad(format!("llama.rope.dimension_count {rope_dims} differs from the head width {}: partial rotary is not supported", hidden / heads)));
        }
        if g.metadata.contains_key("llama.rope.scaling.type") {
            return Err(bad("llama.rope.scaling.type is set: scaled rotary embeddings from GGUF are not supported yet".into()));
        }
        Ok(config)
    }

    /// The Hugging Face `config.json` of this model as a causal LM: `num_labels` is the vocabulary,
    /// so the decoder's `score` head is the LM head.
    pub fn config_json(&self) -> Vec<u8> {
        serde_json::json!({
            "model_type": "llama",
            "architectures": ["LlamaForCausalLM"],
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "intermediate_size": self.intermediate_size,
            "num_hidden_layers": self.num_hidden_layers,
            "num_attention_heads": self.num_attention_heads,
            "num_key_value_heads": self.num_key_value_heads,
            "rms_norm_eps": self.rms_norm_eps,
            "rope_theta": self.rope_theta,
            "max_position_embeddings": self.max_position_embeddings,
            "num_labels": self.vocab_size,
            "pad_token_id": self.pad_token_id,
            "hidden_act": "silu",
        })
        .to_string()
        .into_bytes()
    }
}

/// `attn_q` / `attn_k` rows back from llama.cpp's interleaved rotary order: within each head, the
/// file's row `2i + j` is transformers' row `j·(d/2) + i`.
fn unpermute(values: &[f32], rows: usize, cols: usize, heads: usize) -> Vec<f32> {
    let d = rows / heads;
    let mut out = vec![0f32; values.len()];
    for h in 0..heads {
        for i in 0..d / 2 {
            for j in 0..2 {
                let from = (h * d + 2 * i + j) * cols;
                let to = (h * d + j * (d / 2) + i) * cols;
                out[to..to + cols].copy_from_slice(&values[from..from + cols]);
            }
        }
    }
    out
}

/// One planned tensor: GGUF name, transformers name, shape.
type Entry = (String, String, Vec<usize>);

/// Every tensor the decoder needs, grouped by shard (the token table, LM head and final norm;
/// then one shard per block), each shape checked against `config` before anything is read.
fn plan(g: &Gguf, config: &LlamaGgufConfig) -> Result<Vec<Vec<Entry>>> {
    let (h, hd) = (config.hidden_size, config.hidden_size / config.num_attention_heads);
    let kv = config.num_key_value_heads * hd;
    let i = config.intermediate_size;
    let v = config.vocab_size;
    let head = if g.tensor("output.weight").is_ok() { "output.weight" } else { "token_embd.weight" };
    let mut groups = vec![vec![
        ("token_embd.weight".into(), "model.embed_tokens.weight".into(), vec![v, h]),
        (head.into(), "score.weight".into(), vec![v, h]),
        ("output_norm.weight".into(), "model.norm.weight".into(), vec![h]),
    ]];
    for layer in 0..config.num_hidden_layers {
        groups.push(
            LAYER_NAMES
                .iter()
                .map(|&(ours, theirs)| {
                    let want = match ours {
                        "attn_norm.weight" | "ffn_norm.weight" => vec![h],
                        "attn_q.weight" | "attn_output.weight" => vec![h, h],
                        "attn_k.weight" | "attn_v.weight" => vec![kv, h],
                        "ffn_gate.weight" | "ffn_up.weight" => vec![i, h],
                        _ => vec![h, i],
                    };
                    (format!("blk.{layer}.{ours}"), format!("model.layers.{layer}.{theirs}"), want)
                })
                .collect(),
        );
    }
    for (name, _, want) in groups.iter().flatten() {
        let info = g.tensor(name)?;
        if &info.shape != want {
            return Err(PalateError::InvalidWeights {
                file: g.file.clone(),
                detail: format!("tensor {name} has shape {:?}; the metadata says {want:?}", info.shape),
            });
        }
    }
    Ok(groups)
}

/// `entries` as one f32 safetensors file, each tensor dequantized straight into it (q / k rows
/// put back in transformers' order).
fn write_shard(g: &Gguf, config: &LlamaGgufConfig, entries: &[Entry]) -> Result<Vec<u8>> {
    let mut header = serde_json::Map::new();
    let mut offset = 0usize;
    for (_, theirs, shape) in entries {
        let bytes = shape.iter().product::<usize>() * 4;
        header.insert(theirs.clone(), serde_json::json!({"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + bytes]}));
        offset += bytes;
    }
    let mut header = serde_json::Value::Object(header).to_string().into_bytes();
    while !header.len().is_multiple_of(8) {
        header.push(b' ');
    }
    let mut out = Vec::new();
    out.try_reserve_exact(8 + header.len() + offset)
        .map_err(|_| PalateError::Backend(format!("cannot allocate {} MB for the model's f32 weights", offset >> 20)))?;
    out.extend((header.len() as u64).to_le_bytes());
    out.extend(header);
    for (name, _, shape) in entries {
        let (_, mut values) = g.tensor_f32(name)?;
        if name.ends_with("attn_q.weight") {
            values = unpermute(&values, shape[0], shape[1], config.num_attention_heads);
        } else if name.ends_with("attn_k.weight") {
            values = unpermute(&values, shape[0], shape[1], config.num_key_value_heads);
        }
        out.extend(values.iter().flat_map(|x| x.to_le_bytes()));
    }
    Ok(out)
}

/// The model as safetensors shards made one at a time, as
/// [`crate::models::decoder::DecoderScorer::load_shards`] reads them: every shape is checked
/// first, then each shard is dequantized only when the loader asks for it.
pub fn shards<'a>(g: &'a Gguf, config: &'a LlamaGgufConfig) -> Result<impl Iterator<Item = Result<(String, Vec<u8>)>> + 'a> {
    let groups = plan(g, config)?;
    Ok(groups.into_iter().enumerate().map(move |(i, entries)| Ok((format!("{} (part {i})", g.file), write_shard(g, config, &entries)?))))
}

#[cfg(test)]
mod tests {
    /// The inverse of llama.cpp's `permute` (numpy: reshape(heads, 2, d/2, cols).swapaxes(1, 2)).
    #[test]
    fn unpermute_inverts_llama_cpp_permute() {
        let (heads, d, cols) = (3, 8, 2);
        let hf: Vec<f32> = (0..heads * d * cols).map(|v| v as f32).collect();
        // llama.cpp: gguf row (h, i, j) = hf row (h, j, i).
        let mut gguf = vec![0f32; hf.len()];
        for h in 0..heads {
            for i in 0..d / 2 {
                for j in 0..2 {
                    let src = (h * d + j * (d / 2) + i) * cols;
                    let dst = (h * d + i * 2 + j) * cols;
                    gguf[dst..dst + cols].copy_from_slice(&hf[src..src + cols]);
                }
            }
        }
        assert_ne!(gguf, hf);
        assert_eq!(super::unpermute(&gguf, heads * d, cols, heads), hf);
    }
}
