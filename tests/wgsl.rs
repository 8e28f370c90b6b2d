//! Palate's WGSL kernels (`palate_models::kernels::wgsl`: the linear kernel and the general batched product)
//! against float64 products, on wgpu (on CI: Mesa's lavapipe; a missing adapter fails unless
//! `PALATE_ALLOW_NO_WGPU=1`). Shapes straddle every edge of the tiling: rows around the
//! 32-row tile and the 4 rows a thread owns, k around the 32-deep block, n around the 32-column
//! tile, and widths that are not multiples of 4.

use palate_models::burn::tensor::{Device, Tensor, TensorData};
use palate_models::device;
use palate_models::kernels::wgsl;

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

fn read<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_into_vec::<f32>().unwrap()
}

/// `a [batch, m, k] · b [batch or 1, k, n]` in float64, against `got [batch, m, n]`.
fn check_product(got: &[f32], a: &[f32], b: &[f32], (batch, m, k, n): (usize, usize, usize, usize), shared_b: bool, bias: Option<&[f32]>) {
    assert_eq!(got.len(), batch * m * n);
    for z in 0..batch {
        let bz = if shared_b { 0 } else { z * k * n };
        for i in 0..m {
            for j in 0..n {
                let want: f64 = (0..k).map(|p| f64::from(a[z * m * k + i * k + p]) * f64::from(b[bz + p * n + j])).sum::<f64>()
                    + bias.map_or(0.0, |b| f64::from(b[j]));
                let g = f64::from(got[z * m * n + i * n + j]);
                assert!((g - want).abs() <= 1e-4 * (k as f64).sqrt().max(1.0), "{batch}x{m}x{k}x{n}: [{z}, {i}, {j}] {g} vs {want}");
            }
        }
    }
}

#[test]
fn linear_matches_a_float64_product_at_every_tile_edge() {
    let Some(dev) = wgpu() else { return };
    let mut checked = 0;
    // Multiples of 4 run the vec4 kernel; the rest (k or n of 1, 6, 33, …) the general one.
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
        (4, 6, 8),
        (4, 8, 6),
        (9, 33, 1),
        (40, 1024, 1),
    ] {
        for with_bias in [true, false] {
            let (a, w, b) = (values(m * k, 1), values(k * n, 2), values(n, 3));
            let x = Tensor::<2>::from_data(TensorData::new(a.clone(), [m, k]), &dev);
            let weight = Tensor::<2>::from_data(TensorData::new(w.clone(), [k, n]), &dev);
            let bias = Tensor::<1>::from_data(TensorData::new(b.clone(), [n]), &dev);
            let got = wgsl::linear(&x, &weight, with_bias.then_some(&bias)).expect("the kernels apply to these shapes");
            assert_eq!(got.dims(), [m, n]);
            check_product(&read(got), &a, &w, (1, m, k, n), true, with_bias.then_some(&b[..]));
            checked += 1;
        }
    }
    assert_eq!(checked, 26);
}

/// Attention's products: `[batch, heads, m, k] · [batch, heads, k, n]` with sequence lengths for
/// widths, and a 2-D right side shared by every batch.
#[test]
fn batched_products_match_float64_at_every_tile_edge() {
    let Some(dev) = wgpu() else { return };
    for &(b, h, m, k, n) in &[(1, 1, 1, 1, 1), (2, 3, 5, 32, 5), (2, 12, 7, 32, 7), (1, 2, 33, 7, 32), (3, 1, 40, 65, 31), (1, 4, 128, 128, 128)] {
        let (av, bv) = (values(b * h * m * k, 11), values(b * h * k * n, 12));
        let a = Tensor::<4>::from_data(TensorData::new(av.clone(), [b, h, m, k]), &dev);
        let rhs = Tensor::<4>::from_data(TensorData::new(bv.clone(), [b, h, k, n]), &dev);
        let got = wgsl::matmul(&a, &rhs).expect("the kernel applies");
        assert_eq!(got.dims(), [b, h, m, n]);
        check_product(&read(got), &av, &bv, (b * h, m, k, n), false, None);
    }
    // A transposed (non-contiguous) right side, as `k.swap_dims(2, 3)` gives.
    let (b, h, s, d) = (2, 3, 9, 8);
    let (qv, kv) = (values(b * h * s * d, 13), values(b * h * s * d, 14));
    let q = Tensor::<4>::from_data(TensorData::new(qv.clone(), [b, h, s, d]), &dev);
    let k = Tensor::<4>::from_data(TensorData::new(kv.clone(), [b, h, s, d]), &dev);
    let got = read(wgsl::matmul(&q, &k.swap_dims(2, 3)).expect("the kernel applies"));
    let kt: Vec<f32> = (0..b * h).flat_map(|z| (0..d).flat_map(move |p| (0..s).map(move |j| (z, p, j)))).map(|(z, p, j)| kv[z * s * d + j * d + p]).collect();
    check_product(&got, &qv, &kt, (b * h, s, d, s), false, None);
    // One `[k, n]` for a whole batch.
    let (batch, m, k, n) = (3, 10, 20, 6);
    let (av, wv) = (values(batch * m * k, 15), values(k * n, 16));
    let a = Tensor::<3>::from_data(TensorData::new(av.clone(), [batch, m, k]), &dev);
    let w = Tensor::<2>::from_data(TensorData::new(wv.clone(), [k, n]), &dev);
    let got = wgsl::matmul(&a, &w).expect("the kernel applies");
    assert_eq!(got.dims(), [batch, m, n]);
    check_product(&read(got), &av, &wv, (batch, m, k, n), true, None);
}

/// A batch of sequences `[b, s, k]` is one `[b·s, k]` product, reshaped back.
#[test]
fn linear_keeps_the_leading_dimensions() {
    let Some(dev) = wgpu() else { return };
    for (k, n) in [(12, 20), (10, 3)] {
        let (b, s) = (3, 7);
        let (xv, wv) = (values(b * s * k, 4), values(k * n, 5));
        let x = Tensor::<3>::from_data(TensorData::new(xv.clone(), [b, s, k]), &dev);
        let w = Tensor::<2>::from_data(TensorData::new(wv.clone(), [k, n]), &dev);
        let got = wgsl::linear(&x, &w, None).unwrap();
        assert_eq!(got.dims(), [b, s, n]);
        check_product(&read(got), &xv, &wv, (1, b * s, k, n), true, None);
    }
}

/// Shapes that do not multiply, a bias of the wrong length, or a tensor on the CPU: the kernels
/// decline (`None`).
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
    assert!(wgsl::linear(&x, &w, None).is_none(), "CPU tensors are not for the WGSL kernels");
    assert!(wgsl::matmul(&x, &w).is_none(), "CPU tensors are not for the WGSL kernels");
    let Some(dev) = wgpu() else { return };
    let (x, w) = on(&dev, 4, 8, 8);
    let short = Tensor::<1>::from_data(TensorData::new(values(4, 8), [4]), &dev);
    assert!(wgsl::linear(&x, &w, Some(&short)).is_none(), "bias of 4 for n = 8");
    let (_, w6) = on(&dev, 4, 6, 8);
    assert!(wgsl::linear(&x, &w6, None).is_none(), "k = 8 against a [6, 8] weight");
    assert!(wgsl::matmul(&x, &w6).is_none(), "[4, 8] · [6, 8]");
    let a = Tensor::<3>::from_data(TensorData::new(values(2 * 4 * 8, 9), [2, 4, 8]), &dev);
    let b = Tensor::<3>::from_data(TensorData::new(values(3 * 8 * 4, 10), [3, 8, 4]), &dev);
    assert!(wgsl::matmul(&a, &b).is_none(), "batches of 2 and 3");
    assert!(wgsl::linear(&x, &w, None).is_some());
}

/// MiniLM on wgpu runs its products in these kernels (nothing to switch on): every embedding within
/// 1e-4 of the float64 reference, and at least 6 layers × (6 linear layers + 2 attention products)
/// launches.
#[test]
fn minilm_on_wgpu_runs_the_kernels_and_matches_the_reference() {
    use palate_models::{ModelFiles, SentenceEmbedder};
    use palate_tests::{minilm_dir, minilm_fixture};
    let Some(dev) = wgpu() else { return };
    let fixture = minilm_fixture();
    let embedder = SentenceEmbedder::load(ModelFiles::from_dir(minilm_dir()).unwrap(), &dev).unwrap();
    let before = wgsl::launches();
    let results = embedder.embed_blocking(&fixture.texts).unwrap();
    // The counter is process-wide; the other tests here launch at most 40 times between them.
    let launched = wgsl::launches() - before;
    assert!(launched >= 48, "{launched} kernel launches");
    let mut worst = 0f64;
    for (got, want) in results.iter().zip(&fixture.embeddings) {
        for (&a, &b) in got.embedding.iter().zip(want) {
            worst = worst.max((f64::from(a) - b).abs());
        }
    }
    assert!(worst <= 1e-4, "largest error {worst}");
}
