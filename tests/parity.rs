//! all-MiniLM-L6-v2 on burn against the float64 numpy reference in tests/fixtures/minilm.json:
//! token ids identical, every embedding component within 1e-4, on the CPU backend and on wgpu.

use palate_models::{BackendKind, ModelFiles, SentenceEmbedder, device};
use palate_tests::{minilm_dir, minilm_fixture};

const TOLERANCE: f64 = 1e-4;

fn check_parity(backend: BackendKind, device: palate_models::burn::tensor::Device) {
    check_embedder(backend, SentenceEmbedder::load(ModelFiles::from_dir(minilm_dir()).unwrap(), &device).unwrap());
}

fn check_embedder(backend: BackendKind, embedder: SentenceEmbedder) {
    let fixture = minilm_fixture();
    assert!(fixture.texts.len() >= 10);
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
    single.set_batch_size(1).unwrap();
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

/// The browser's CPU path: linear weights packed once for `palate_models::kernels::gemm` (what `load` does
/// in wasm), against the same float64 reference. Quantizing or writing a pack afterwards sees the
/// weights as loaded.
#[test]
fn minilm_with_packed_weights_matches_reference_and_quantizes_as_loaded() {
    let files = ModelFiles::from_dir(minilm_dir()).unwrap();
    let cpu = device::cpu_device();
    let held = SentenceEmbedder::load(files.clone(), &cpu).unwrap().hold_weights_on_host();
    let (count, bytes) = held.host_weights();
    assert_eq!(count, 6 * 6, "six linear layers in each of six blocks");
    assert_eq!(bytes, 6 * 4 * (4 * 384 * 384 + 2 * 384 * 1536), "f32, no padding at these widths");
    check_embedder(BackendKind::Cpu, held);

    let texts = &minilm_fixture().texts[..5];
    let q8 = |e: SentenceEmbedder| e.quantize(palate_models::Precision::Q8).unwrap().embed_blocking(texts).unwrap();
    let plain = SentenceEmbedder::load(files.clone(), &cpu).unwrap();
    let held = SentenceEmbedder::load(files.clone(), &cpu).unwrap().hold_weights_on_host();
    assert_eq!(q8(held), q8(plain), "quantizing restores the weights first, exactly");
    // Packs carry burn's random parameter ids, so compare what they load to.
    let from_pack = |e: SentenceEmbedder| {
        let bytes = e.to_pack(&files, palate_models::StoredPrecision::F32, None).unwrap();
        let pack = palate_models::Pack::parse(bytes, "test.bpk").unwrap();
        SentenceEmbedder::from_pack(&pack, &cpu).unwrap().embed_blocking(texts).unwrap()
    };
    let plain = SentenceEmbedder::load(files.clone(), &cpu).unwrap();
    let held = SentenceEmbedder::load(files.clone(), &cpu).unwrap().hold_weights_on_host();
    assert!(from_pack(held) == from_pack(plain), "a pack written from held weights holds the same weights");
}

/// Needs a wgpu adapter (on CI: Mesa's lavapipe); without one it fails unless `PALATE_ALLOW_NO_WGPU=1`.
#[test]
fn minilm_matches_reference_on_wgpu() {
    let Some(device) = palate_tests::wgpu_device_or_skip() else { return };
    check_parity(BackendKind::Wgpu, device);
}

/// The bag of token embeddings against the checkpoint itself, read with the `safetensors` crate
/// and summed in f64: on the CPU and, where an adapter exists, on wgpu. An id outside the
/// vocabulary is a typed error.
#[test]
fn token_bags_sum_the_checkpoint_input_table() {
    let fixture = minilm_fixture();
    let bytes = std::fs::read(minilm_dir().join("model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let name = st.names().into_iter().find(|n| n.ends_with("embeddings.word_embeddings.weight")).unwrap();
    let table = st.tensor(name).unwrap();
    assert_eq!(table.dtype(), safetensors::Dtype::F32);
    let dim = table.shape()[1];
    let row = |id: u32| -> Vec<f64> {
        let start = id as usize * dim * 4;
        table.data()[start..start + dim * 4].chunks(4).map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))).collect()
    };
    let expected: Vec<Vec<f64>> = fixture
        .ids
        .iter()
        .map(|ids| ids.iter().fold(vec![0.0; dim], |acc, &id| acc.iter().zip(row(id)).map(|(a, r)| a + r).collect()))
        .collect();
    let mut devices = vec![(BackendKind::Cpu, device::cpu_device())];
    if let Ok(Ok(wgpu)) = std::panic::catch_unwind(|| pollster::block_on(device::wgpu_device())) {
        devices.push((BackendKind::Wgpu, wgpu));
    }
    for (backend, dev) in devices {
        let embedder = SentenceEmbedder::load(ModelFiles::from_dir(minilm_dir()).unwrap(), &dev).unwrap();
        let bags = pollster::block_on(embedder.token_bags(&fixture.ids)).unwrap();
        assert_eq!(bags.len(), expected.len());
        for (i, (got, want)) in bags.iter().zip(&expected).enumerate() {
            let scale = want.iter().map(|x| x.abs()).fold(0.0, f64::max);
            for (a, b) in got.iter().zip(want) {
                assert!((f64::from(*a) - b).abs() <= 1e-5 * (1.0 + scale), "{backend:?}: text {i}: {a} vs {b}");
            }
        }
        // The ids the embedder itself produces give the same bags (what the taste features use).
        let own = embedder.token_bags_blocking(&embedder.tokenize(&fixture.texts[..3]).unwrap()).unwrap();
        assert_eq!(own, bags[..3].to_vec());
        let err = embedder.token_bags_blocking(&[vec![101, 9_999_999]]).unwrap_err();
        assert!(err.to_string().contains("outside the vocabulary"), "{err}");
    }
}
