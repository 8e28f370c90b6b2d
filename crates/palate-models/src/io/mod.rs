//! Model files: a Hugging Face folder's file names and readers ([`files`]), files and `Blob`s read
//! by byte ranges ([`ranges`]), Palate's one-file
//! `.bpk` packs read by byte ranges ([`pack`]), and llama.cpp's GGUF ([`gguf`]). Formats only:
//! which model a file becomes is decided above, in `models` and `convert`.

pub mod files;
pub mod gguf;
pub mod ranges;
pub mod pack;
