//! Native timings of the per-answer and per-rerank work (`cargo bench -p palate-personal`).
//! Targets: one posterior update and a rerank of 16 cached candidates each < 5 ms.
//! The shipped taste file: the shared reward (1,154 weights over the reply), 3 cues, 8 principle
//! heads, 6 basis directions (18 features), 384-dim embeddings.

use std::collections::HashSet;

use criterion::{Criterion, criterion_group, criterion_main};
use palate_personal::features::{FeatureSpec, ReplyEmbedding};
use palate_personal::posterior::Answer;
use palate_personal::taste::TasteModel;
use rand::{Rng, SeedableRng, rngs::StdRng};

fn spec() -> FeatureSpec {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets/taste/all-MiniLM-L6-v2.json");
    let json = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    FeatureSpec::from_json(&json).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn random_reply(rng: &mut StdRng, dim: usize, sentences: usize) -> ReplyEmbedding {
    let mut v = || (0..dim).map(|_| rng.random_range(-1.0f32..1.0)).collect::<Vec<f32>>();
    ReplyEmbedding { whole: v(), sentences: (0..sentences).map(|_| v()).collect(), tokens: v(), prompt: v(), chars: 400 }
}

fn benches(c: &mut Criterion) {
    let spec = spec();
    let mut rng = StdRng::seed_from_u64(1);
    let replies: Vec<ReplyEmbedding> = (0..16).map(|_| random_reply(&mut rng, spec.embedding_dim, 8)).collect();
    let mut model = TasteModel::new(spec).unwrap();
    let features = model.features(&replies, None).unwrap();
    // A user with 20 answers so far.
    for i in 0..20 {
        let (a, b) = (i % 16, (i * 7 + 3) % 16);
        model.answer(&features[a], &features[b], if i % 3 == 0 { Answer::B } else { Answer::A }).unwrap();
    }

    c.bench_function("posterior update (21st answer, 18 features)", |bench| {
        bench.iter_batched(
            || model.clone(),
            |mut m| m.answer(&features[1], &features[2], Answer::A).unwrap(),
            criterion::BatchSize::SmallInput,
        )
    });
    c.bench_function("rerank 16 cached candidates with explanations", |bench| {
        bench.iter(|| model.rerank(&features, Some(1.0)).unwrap())
    });
    c.bench_function("next question among 16 candidates (120 pairs, BALD)", |bench| {
        bench.iter(|| model.next_question(&features, &HashSet::new()).unwrap())
    });
    c.bench_function("features of 16 replies (8 sentences each)", |bench| {
        bench.iter(|| model.features(&replies, None).unwrap())
    });
}

criterion_group!(taste, benches);
criterion_main!(taste);
