//! all-MiniLM-L6-v2 on burn against the float64 numpy reference in tests/fixtures/minilm.json:
//! token ids identical, every embedding component within 1e-4, on the CPU backend and on wgpu.

use palate_models::{BackendKind, ModelFiles, SentenceEmbedder, device};
use palate_tests::{minilm_dir, minilm_fixture};

const TOLERANCE: f64 = 1e-4;

fn check_parity(backend: BackendKind, device: palate_models::burn::tensor::Device) {
    let fixture = minilm_fixture();
    assert!(fixture.texts.len() >= 10);
    let embedder = SentenceEmbedder::load(ModelFiles::from_dir(minilm_dir()).unwrap(), &device).unwrap();
    assert_eq!(embedder.config().max_seq_length, fixture.max_seq_length);

    // One padded batch holding every length (2 … 256 tokens) exercises the attention mask.
    let results = embedder.embed_blocking(&fixture.texts).unwrap();
    assert_eq!(results.len(), fixture.texts.len());
    let mut worst = 0f64;
    for (i, (got, text)) in results.iter().zip(&fixture.texts).enumerate() {
        assert_eq!(got.ids, fixture.ids[i], "token ids differ for text {i} {text:?}");
        assert_eq!(got.embedding.len(), fixture.embeddings[i].len());
        for (j, (&a, &b)) in got.embedding.iter().zip(&fixture.embeddings[i]).enumerate() {
            let err = (f64::from(a) - b).abs();
            assert!(err <= TOLERANCE, "{backend:?}: text {i} {text:?} component {j}: {a} vs {b}");
            worst = worst.max(err);
        }
    }
    println!("{backend:?}: max |error| = {worst:.3e} over {} texts", results.len());

    // Batching must not change results: one text at a time gives the same vectors.
    let mut single = embedder;
    single.batch_size = 1;
    let alone = single.embed_blocking(&fixture.texts[..4]).unwrap();
    for (a, b) in alone.iter().zip(&results) {
        let diff = a.embedding.iter().zip(&b.embedding).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
        assert!(diff < 1e-5, "batched and unbatched embeddings differ by {diff}");
    }
}

#[test]
fn minilm_matches_reference_on_cpu() {
    check_parity(BackendKind::Cpu, device::cpu_device());
}

/// Runs where a wgpu adapter exists (on CI: Mesa's lavapipe). With `PALATE_REQUIRE_WGPU=1` a
/// missing adapter fails the test instead of skipping it.
#[test]
fn minilm_matches_reference_on_wgpu() {
    let device = match std::panic::catch_unwind(|| pollster::block_on(device::wgpu_device())) {
        Ok(Ok(device)) => device,
        outcome => {
            let why = match outcome {
                Ok(Err(e)) => e.to_string(),
                _ => "wgpu panicked while looking for an adapter".to_string(),
            };
            assert!(std::env::var("PALATE_REQUIRE_WGPU").as_deref() != Ok("1"), "wgpu required: {why}");
            eprintln!("skipped: {why}");
            return;
        }
    };
    check_parity(BackendKind::Wgpu, device);
}
