//! Tokenizer wrapper: Hugging Face `tokenizers` loaded from a folder's tokenizer.json, with the
//! folder's own padding switched off (Palate pads per batch) and truncation set by the caller.

use tokenizers::{Tokenizer, TruncationParams};

use crate::error::{PalateError, Result};
use crate::io::files::names;

/// A tokenizer that truncates every text to `max_length` tokens (special tokens included).
#[derive(Clone)]
pub struct TextTokenizer {
    inner: Tokenizer,
    max_length: usize,
}

impl std::fmt::Debug for TextTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextTokenizer").field("max_length", &self.max_length).finish()
    }
}

/// `tokenizers::Tokenizer::from_bytes`, refusing bytes that are not JSON first: tokenizers 0.22
/// panics (an `expect` in its decoder deserializer) on a syntax error inside `"decoder"`, which a
/// damaged tokenizer.json reaches (found by `tests/bad_input.rs`'s mutants). `file` names the
/// file in errors.
pub fn load_tokenizer(bytes: &[u8], file: &str) -> Result<Tokenizer> {
    let invalid = |detail: String| PalateError::InvalidTokenizer { file: file.into(), detail };
    serde_json::from_slice::<serde::de::IgnoredAny>(bytes).map_err(|e| invalid(format!("not valid JSON: {e}")))?;
    Tokenizer::from_bytes(bytes).map_err(|e| invalid(e.to_string()))
}

impl TextTokenizer {
    /// Loads tokenizer.json. Any padding it prescribes (all-MiniLM-L6-v2's pads to 128) is
    /// removed; texts are cut to `max_length` tokens as sentence-transformers does.
    pub fn from_bytes(bytes: &[u8], max_length: usize) -> Result<Self> {
        let invalid = |detail: String| PalateError::InvalidTokenizer { file: names::TOKENIZER.into(), detail };
        if max_length < 2 {
            return Err(PalateError::InvalidInput(format!("max_length {max_length} leaves no room for text")));
        }
        let mut inner = load_tokenizer(bytes, names::TOKENIZER)?;
        inner.with_padding(None);
        inner
            .with_truncation(Some(TruncationParams { max_length, ..Default::default() }))
            .map_err(|e| invalid(e.to_string()))?;
        Ok(Self { inner, max_length })
    }

    /// Token ids of `text`, with the model's special tokens, truncated.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let encoding = self.inner.encode(text, true).map_err(|e| PalateError::Tokenize(e.to_string()))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// The truncation length in tokens.
    pub fn max_length(&self) -> usize {
        self.max_length
    }
}
