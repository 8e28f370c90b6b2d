//! The CPU path on several threads computes exactly what it computes on one, bit for bit: the split
//! products (`kernels::pool`: `gemm` by panels, `igemm` by rows), burn's CPU ops on rayon's pool,
//! and, through the real MiniLM, the fused attention split by heads; on ragged shapes too.

use palate_models::burn::tensor::{Bool, Distribution, Tensor, TensorData};
use palate_models::kernels::{cpu_ops, gemm, igemm, pool};
use palate_models::{ModelFiles, SentenceEmbedder};
use palate_tests::minilm_dir;

fn on_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("a thread pool");
    pool.install(f)
}

fn values(len: usize, seed: u32) -> Vec<f32> {
    let mut state = seed.wrapping_mul(2_654_435_761).max(1);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state as f32 / u32::MAX as f32) - 0.5
        })
        .collect()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn the_pool_reports_the_threads_it_runs_on() {
    assert_eq!(on_threads(1, pool::threads), 1);
    assert_eq!(on_threads(3, pool::threads), 3);
}

/// Row counts around the split (a tile of 4, chunks of at least 16 rows), widths around a panel.
#[test]
fn split_products_are_the_single_threaded_ones_bit_for_bit() {
    for (m, k, n) in [(1, 64, 8), (15, 32, 24), (16, 96, 40), (17, 384, 384), (63, 300, 37), (96, 256, 203), (130, 257, 1536)] {
        let (a, w, bias) = (values(m * k, 1 + m as u32), values(k * n, 7 + n as u32), values(n, 3));
        let packed = gemm::PackedMatrix::from_row_major(&w, k, n).expect("a packed matrix");
        let one = on_threads(1, || gemm::matmul(&a, m, &packed, Some(&bias)));
        assert_eq!(one.len(), m * n);
        for threads in [2, 3, 8] {
            let many = on_threads(threads, || gemm::matmul(&a, m, &packed, Some(&bias)));
            assert_eq!(bits(&many), bits(&one), "gemm {m}×{k}×{n} on {threads} threads");
        }
        if k % 32 == 0 {
            let q = igemm::PackedI8::from_row_major(&w, k, n).expect("a q8 matrix");
            let one = on_threads(1, || igemm::matmul(&a, m, &q, Some(&bias)));
            for threads in [2, 3] {
                let many = on_threads(threads, || igemm::matmul(&a, m, &q, Some(&bias)));
                assert_eq!(bits(&many), bits(&one), "igemm {m}×{k}×{n} on {threads} threads");
            }
        }
    }
}

/// MiniLM's embeddings of a batch long enough to split, on each CPU path.
#[test]
fn minilm_embeds_the_same_on_one_thread_and_several() {
    let files = ModelFiles::from_dir(minilm_dir()).expect("the model folder");
    let cpu = palate_models::device::cpu_device();
    let texts: Vec<String> = (0..24).map(|i| format!("Sentence number {i} about boiling eggs, {} minutes.", i % 9)).collect();
    let paths = [
        ("burn", SentenceEmbedder::load(files.clone(), &cpu).expect("loads")),
        ("gemm panels", SentenceEmbedder::load(files.clone(), &cpu).expect("loads").hold_weights_on_host()),
        ("igemm q8", SentenceEmbedder::load(files, &cpu).expect("loads").quantize_on_host()),
    ];
    for (name, model) in &paths {
        let run = |threads| on_threads(threads, || model.embed_blocking(&texts).expect("embeds"));
        let one: Vec<Vec<u32>> = run(1).iter().map(|e| bits(&e.embedding)).collect();
        let two: Vec<Vec<u32>> = run(2).iter().map(|e| bits(&e.embedding)).collect();
        assert_eq!(one.len(), texts.len());
        assert!(one == two, "{name}: the embeddings differ on two threads");
    }
}

/// The element-wise and per-row passes split across threads (GELU, the attention softmax with a
/// padding mask and with a causal one) give the one-thread values.
#[test]
fn split_passes_are_the_single_threaded_ones_bit_for_bit() {
    let device = palate_models::device::cpu_device();
    let f32s = |t: Tensor<4>| bits(&t.into_data().convert::<f32>().try_into_vec::<f32>().expect("f32"));
    let x = Tensor::<4>::random([2, 12, 100, 100], Distribution::Normal(0.0, 3.0), &device);
    let padding: Vec<bool> = (0..2 * 100).map(|i| i % 100 >= 90 - 30 * (i / 100)).collect();
    let pad = Tensor::<4, Bool>::from_data(TensorData::new(padding, [2, 1, 1, 100]), &device);
    let causal = Tensor::<2, Bool>::tril_mask([100, 100], 0, &device).unsqueeze_dims::<4>(&[0, 1]);
    let run = |threads| {
        on_threads(threads, || {
            (
                f32s(cpu_ops::gelu(x.clone())),
                f32s(cpu_ops::masked_softmax(x.clone(), 0.125, pad.clone())),
                f32s(cpu_ops::masked_softmax(x.clone(), 0.125, causal.clone())),
            )
        })
    };
    let one = run(1);
    assert!(one.0.len() == 2 * 12 * 100 * 100 && one.1.contains(&0), "masked keys come out 0");
    for threads in [2, 3] {
        let many = run(threads);
        assert!(many.0 == one.0, "gelu differs on {threads} threads");
        assert!(many.1 == one.1, "padding-masked softmax differs on {threads} threads");
        assert!(many.2 == one.2, "causal softmax differs on {threads} threads");
    }
}
