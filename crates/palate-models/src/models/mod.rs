//! Architectures, one file each with a `Config` and Hugging Face parameter names: the BERT encoder
//! ([`bert`]) and the Llama / Qwen3 decoder ([`decoder`]).

pub mod bert;
pub mod decoder;
pub mod llama_gguf;
