//! Palate's WGSL linear kernel (`palate_models::wgsl_linear`) against a float64 product, on wgpu
//! (on CI: Mesa's lavapipe; with `PALATE_REQUIRE_WGPU=1` a missing adapter fails instead of
//! skipping). Shapes straddle every edge of its tiling: rows around the 32-row tile and the 4 rows
//! a thread owns, k around the 32-deep block (multiples of 4), n around the 32-column tile.

use palate_models::burn::tensor::{Device, Tensor, TensorData};
use palate_models::{device, wgsl_linear};

fn wgpu() -> Option<Device> {
    palate_tests::wgpu_device_or_skip()
}

/// Deterministic values in [-1, 1) that differ at every index.
fn values(len: usize, seed: u64) -> Vec<f32> {
    (0..len as u64)
        .map(|i| {
            let x = (i.wrapping_add(seed).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as f32 / (1u64 << 24) as f32;
            2.0 * x - 1.0
        })
        .collect()
}

fn read(t: Tensor<2>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_into_vec::<f32>().unwrap()
}

#[test]
fn matches_a_float64_product_at_every_tile_edge() {
    let Some(dev) = wgpu() else { return };
    let mut checked = 0;
    for &(m, k, n) in &[
        (1, 4, 4),
        (3, 8, 12),
        (4, 32, 32),
        (5, 36, 28),
        (31, 60, 36),
        (32, 64, 64),
        (33, 68, 100),
        (70, 384, 132),
        (128, 384, 1536),
    ] {
        for with_bias in [true, false] {
            let (a, w, b) = (values(m * k, 1), values(k * n, 2), values(n, 3));
            let x = Tensor::<2>::from_data(TensorData::new(a.clone(), [m, k]), &dev);
            let weight = Tensor::<2>::from_data(TensorData::new(w.clone(), [k, n]), &dev);
            let bias = Tensor::<1>::from_data(TensorData::new(b.clone(), [n]), &dev);
            let got = wgsl_linear::linear(&x, &weight, with_bias.then_some(&bias)).expect("the kernel applies to these shapes");
            assert_eq!(got.dims(), [m, n]);
            let got = read(got);
            for i in 0..m {
                for j in 0..n {
                    let want: f64 = (0..k).map(|p| f64::from(a[i * k + p]) * f64::from(w[p * n + j])).sum::<f64>()
                        + if with_bias { f64::from(b[j]) } else { 0.0 };
                    let err = (f64::from(got[i * n + j]) - want).abs();
                    assert!(err <= 1e-4 * (k as f64).sqrt(), "{m}x{k}x{n} bias {with_bias}: [{i}, {j}] {} vs {want}", got[i * n + j]);
                }
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 18);
}

/// A batch of sequences `[b, s, k]` is one `[b·s, k]` product, reshaped back.
#[test]
fn keeps_the_leading_dimensions() {
    let Some(dev) = wgpu() else { return };
    let (b, s, k, n) = (3, 7, 12, 20);
    let x = Tensor::<3>::from_data(TensorData::new(values(b * s * k, 4), [b, s, k]), &dev);
    let w = Tensor::<2>::from_data(TensorData::new(values(k * n, 5), [k, n]), &dev);
    let got = wgsl_linear::linear(&x, &w, None).unwrap();
    assert_eq!(got.dims(), [b, s, n]);
    let want = x.matmul(w.unsqueeze::<3>());
    let diff = (got - want).abs().max().into_scalar::<f32>();
    assert!(diff <= 1e-5, "largest difference {diff}");
}

/// Widths that are not multiples of 4, a bias of the wrong length, or a tensor on the CPU: the
/// kernel declines (the caller then uses burn's matmul).
#[test]
fn declines_what_it_cannot_run() {
    let cpu = device::cpu_device();
    let on = |dev: &Device, m: usize, k: usize, n: usize| {
        (
            Tensor::<2>::from_data(TensorData::new(values(m * k, 6), [m, k]), dev),
            Tensor::<2>::from_data(TensorData::new(values(k * n, 7), [k, n]), dev),
        )
    };
    let (x, w) = on(&cpu, 4, 8, 8);
    assert!(wgsl_linear::linear(&x, &w, None).is_none(), "CPU tensors are not for the WGSL kernel");
    let Some(dev) = wgpu() else { return };
    let (x, w) = on(&dev, 4, 6, 8);
    assert!(wgsl_linear::linear(&x, &w, None).is_none(), "k = 6");
    let (x, w) = on(&dev, 4, 8, 6);
    assert!(wgsl_linear::linear(&x, &w, None).is_none(), "n = 6");
    let (x, w) = on(&dev, 4, 8, 8);
    let short = Tensor::<1>::from_data(TensorData::new(values(4, 8), [4]), &dev);
    assert!(wgsl_linear::linear(&x, &w, Some(&short)).is_none(), "bias of 4 for n = 8");
    assert!(wgsl_linear::linear(&x, &w, None).is_some());
}

/// MiniLM with the kernel switched on (`set_enabled`, as `useWgslLinear(true)` in a browser):
/// every embedding within 1e-4 of the float64 reference. The switch is process-wide, so this test
/// lives in its own test binary.
#[test]
fn minilm_with_the_kernel_matches_the_reference() {
    use palate_models::{ModelFiles, SentenceEmbedder};
    use palate_tests::{minilm_dir, minilm_fixture};
    let Some(dev) = wgpu() else { return };
    assert!(!wgsl_linear::enabled(), "off by default");
    wgsl_linear::set_enabled(true);
    let fixture = minilm_fixture();
    let embedder = SentenceEmbedder::load(ModelFiles::from_dir(minilm_dir()).unwrap(), &dev).unwrap();
    let before = wgsl_linear::launches();
    let results = embedder.embed_blocking(&fixture.texts).unwrap();
    // At least 6 layers × 6 linear layers (query, key, value, attention output, intermediate,
    // output): the model really ran the kernel. The counter is process-wide and the other tests
    // here launch it at most 20 times, so they cannot make up 36 between them.
    let launched = wgsl_linear::launches() - before;
    assert!(launched >= 36, "{launched} kernel launches");
    let mut worst = 0f64;
    for (got, want) in results.iter().zip(&fixture.embeddings) {
        for (&a, &b) in got.embedding.iter().zip(want) {
            worst = worst.max((f64::from(a) - b).abs());
        }
    }
    assert!(worst <= 1e-4, "largest error {worst}");
}
