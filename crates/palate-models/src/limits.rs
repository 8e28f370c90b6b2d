//! What Palate accepts, stated once. Each limit is checked where the input arrives, and going past
//! it is a typed error ([`PalateError::InvalidInput`] for calls, [`PalateError::InvalidConfig`]
//! for model files), never a panic or an allocation sized by it. The README's API section lists
//! these with the ranking's own (`palate_personal::session::MAX_REPLIES`, `MAX_REPLY_CHARS`).
//! Model files are bounded by their own size: every count, shape and offset in a GGUF, `.bpk` or
//! safetensors header is checked against the bytes that back it before anything is allocated.

use crate::error::{PalateError, Result};

/// Tokens in a vocabulary. Real ones: MiniLM 30,522; SmolLM2 49,152; Qwen3 151,669; Gemma 3 262,144.
pub const MAX_VOCAB: usize = 1 << 20;

/// Bytes (UTF-8) of one text to embed, score or read log-probabilities of: 4 MiB. An encoder
/// truncates to its context and a decoder refuses a text longer than its own; this bounds the
/// tokenizer's work and memory before either happens.
pub const MAX_TEXT_BYTES: usize = 4 << 20;

/// Texts in one call to embed, score or read log-probabilities.
pub const MAX_TEXTS: usize = 1024;

/// Parameters of a model loaded in the browser: wasm32 addresses 4 GiB, and weights are held as
/// f32 once loaded (a q8 / q4 precision is applied after loading), so 800M parameters (3.2 GB)
/// leaves room for activations. Natively the machine's memory is the limit.
pub const MAX_BROWSER_PARAMETERS: usize = 800_000_000;

/// `texts` within [`MAX_TEXTS`] and each within [`MAX_TEXT_BYTES`].
pub fn check_texts<S: AsRef<str>>(texts: &[S]) -> Result<()> {
    if texts.len() > MAX_TEXTS {
        return Err(PalateError::InvalidInput(format!("{} texts given; Palate takes at most {MAX_TEXTS} in one call", texts.len())));
    }
    for (i, t) in texts.iter().enumerate() {
        let n = t.as_ref().len();
        if n > MAX_TEXT_BYTES {
            return Err(PalateError::InvalidInput(format!("text {} is {n} bytes long; Palate reads at most {MAX_TEXT_BYTES} bytes of one text", i + 1)));
        }
    }
    Ok(())
}

/// A vocabulary of `size` tokens (from `key` in `file`) within [`MAX_VOCAB`].
pub fn check_vocab(size: usize, file: &str, key: &str) -> Result<()> {
    if size > MAX_VOCAB {
        return Err(PalateError::InvalidConfig { file: file.into(), detail: format!("{key} is {size}; Palate reads vocabularies of at most {MAX_VOCAB} tokens") });
    }
    Ok(())
}

/// A model of `parameters` parameters fits where it is loaded ([`MAX_BROWSER_PARAMETERS`] in wasm).
pub fn check_parameters(parameters: usize, file: &str) -> Result<()> {
    if cfg!(target_family = "wasm") && parameters > MAX_BROWSER_PARAMETERS {
        return Err(PalateError::InvalidConfig {
            file: file.into(),
            detail: format!("describes {parameters} parameters; in the browser Palate loads at most {MAX_BROWSER_PARAMETERS} (f32 weights in 4 GiB of wasm memory)"),
        });
    }
    Ok(())
}

/// Whether one forward pass of `rows` sequences of up to `seq` tokens fits the WebGPU kernels' u32
/// indices (`kernels::wgsl`): attention scores `rows × heads × seq²` and activations
/// `rows × seq × widest` (f32, so a quarter of the range). Checked before a pass on wgpu, so that
/// `kernels::ops` never meets a product it cannot run.
pub fn fits_webgpu_kernels(rows: usize, heads: usize, seq: usize, widest: usize) -> bool {
    let scores = rows.checked_mul(heads).and_then(|v| v.checked_mul(seq)).and_then(|v| v.checked_mul(seq));
    let activations = rows.checked_mul(seq).and_then(|v| v.checked_mul(widest));
    scores.is_some_and(|v| v < u32::MAX as usize) && activations.is_some_and(|v| v < u32::MAX as usize / 4)
}

/// A config describing `parameters` is backed by `bytes` of weights at half a byte or more per
/// parameter (q4's floor), checked before the module is allocated: a hostile config could
/// otherwise ask for any amount of memory, and a failed allocation aborts (a trap in the browser).
pub fn check_backed(parameters: usize, bytes: usize, file: &str) -> Result<()> {
    if parameters.saturating_div(2) > bytes {
        return Err(PalateError::InvalidConfig {
            file: file.into(),
            detail: format!("describes a model of {parameters} parameters, more than the {bytes} bytes of weights can hold — does it belong to these weights?"),
        });
    }
    Ok(())
}

/// Outputs of a model (`what`: "score", "embedding", "log-probability") are finite: a NaN or an
/// infinity means the weights hold one (or overflow), and must not reach a ranking's sort.
pub fn check_finite<'a>(values: impl IntoIterator<Item = &'a f32>, what: &str) -> Result<()> {
    if values.into_iter().any(|v| !v.is_finite()) {
        return Err(PalateError::InvalidWeights {
            file: "the model's weights".into(),
            detail: format!("a {what} came out NaN or infinite: the weights hold non-finite values, or overflow"),
        });
    }
    Ok(())
}
