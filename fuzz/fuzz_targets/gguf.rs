//! A GGUF file, read as the browser and the CLI read one: the header, metadata and tensor table,
//! the llama config, the decoder's shards (every tensor dequantized), the tokenizer built from the
//! metadata and the chat template. Errors are fine; a panic, a hang or a huge allocation is a bug.
#![no_main]
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use palate_models::io::gguf::Gguf;
use palate_models::io::ranges::MemoryRanges;
use palate_models::models::llama_gguf::{self, LlamaGgufConfig};
use palate_models::pipelines::{causal, text};

fuzz_target!(|data: &[u8]| {
    let Ok(g) = Gguf::open(Arc::new(MemoryRanges(data.to_vec())), "fuzz.gguf") else { return };
    if let Ok(config) = LlamaGgufConfig::from_gguf(&g)
        && let Ok(shards) = llama_gguf::shards(&g, &config)
    {
        for shard in shards {
            if shard.is_err() {
                break;
            }
        }
    }
    if let Ok(json) = causal::tokenizer_json(&g) {
        let _ = text::load_tokenizer(&json, &g.file);
    }
});
