//! Native timings of the sentence encoder (all-MiniLM-L6-v2) on burn's CPU backend (Flex) and on
//! wgpu (Vulkan; Mesa lavapipe on CPU-only machines): batches of 1, 8 and 32 texts of about 32 and
//! 128 tokens. `cargo bench -p palate-tests --bench encoder` (the model must be fetched);
//! `PALATE_BENCH_PRECISION=q8` (or q4) times the quantized encoder, `PALATE_MODEL_DIR` another folder.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use palate_models::{BackendKind, ModelFiles, Precision, SentenceEmbedder, device};

/// A text of `tokens` tokens including [CLS] and [SEP] ("word" is one token).
fn text(tokens: usize, i: usize) -> String {
    let mut words: Vec<String> = (0..tokens - 3).map(|_| "word".to_string()).collect();
    words.push(format!("{i}"));
    words.join(" ")
}

fn bench(c: &mut Criterion) {
    let files = ModelFiles::from_dir(palate_tests::minilm_dir()).expect("model folder");
    let precision: Precision = std::env::var("PALATE_BENCH_PRECISION").unwrap_or_else(|_| "f32".into()).parse()
        .unwrap_or_else(|e| panic!("PALATE_BENCH_PRECISION: {e}"));
    for backend in [BackendKind::Cpu, BackendKind::Wgpu] {
        let device = match pollster::block_on(device::device(backend)) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("skipping {backend:?}: {e}");
                continue;
            }
        };
        let embedder = SentenceEmbedder::load(files.clone(), &device).expect("model loads")
            .quantize(precision).expect("quantizes");
        let mut group = c.benchmark_group(format!("minilm {backend:?} {}", precision.as_str()));
        group.sample_size(10);
        for tokens in [32, 128] {
            for batch in [1, 8, 32] {
                let texts: Vec<String> = (0..batch).map(|i| text(tokens, i)).collect();
                assert_eq!(embedder.tokenize(&texts[..1]).expect("tokenize")[0].len(), tokens);
                embedder.embed_blocking(&texts).expect("warm-up");
                group.bench_with_input(BenchmarkId::new(format!("{tokens} tokens"), batch), &texts, |b, texts| {
                    b.iter(|| embedder.embed_blocking(texts).expect("embed"))
                });
            }
        }
        group.finish();
    }
}

criterion_group!(encoder, bench);
criterion_main!(encoder);
