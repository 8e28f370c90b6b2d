//! Quantization fidelity (weight-only q8 / q4, block 32) against the same model in f32:
//! - all-MiniLM-L6-v2 (real weights): cosine of each embedding to its f32 counterpart, and how
//!   often the quantized model orders two texts' similarity to a third the same way as f32;
//! - the tiny Qwen3 reward model: Spearman correlation of its scores with the f32 scores.
//!
//! Targets from the reward-model issue: q8 cosine >= 0.999 (met: mean 0.9998, min 0.9995), q4 >= 0.99
//! (not met by min-max 4-bit blocks of 32: mean 0.957; the floor below holds today's level so a
//! regression fails, and crate::quantize says what was tried).

use palate_models::burn::tensor::Device;
use palate_models::pipelines::reward::{RewardFiles, RewardModel};
use palate_models::{BackendKind, ModelFiles, Precision, SentenceEmbedder, device};
use palate_tests::{minilm_dir, minilm_fixture, root};

fn texts() -> Vec<String> {
    let mut texts = minilm_fixture().texts;
    texts.extend(
        [
            "How do I reset my router?",
            "Unplug the router for thirty seconds, then plug it back in.",
            "Routers can be reset by holding the small button on the back for ten seconds.",
            "The weather in Lisbon is mild in winter.",
            "Lisbon winters are rainy but rarely cold.",
            "A recipe for pancakes needs flour, eggs and milk.",
            "Mix flour, eggs and milk, then fry thin rounds in butter.",
            "Rust's borrow checker prevents data races at compile time.",
            "Ownership rules in Rust make concurrent code safer.",
            "I prefer short answers without any preamble.",
        ]
        .map(String::from),
    );
    texts
}

fn embed(precision: Precision, device: &Device, texts: &[String]) -> Vec<Vec<f32>> {
    let embedder = SentenceEmbedder::load(ModelFiles::from_dir(minilm_dir()).unwrap(), device)
        .unwrap()
        .quantize(precision)
        .unwrap();
    assert_eq!(embedder.precision(), precision);
    embedder.embed_blocking(texts).unwrap().into_iter().map(|e| e.embedding).collect()
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

/// Over every anchor i and pair (j, k) of other texts: the fraction where both models agree on
/// which of j and k is more similar to i.
fn ranking_agreement(reference: &[Vec<f32>], other: &[Vec<f32>]) -> f64 {
    let n = reference.len();
    let (mut agree, mut total) = (0usize, 0usize);
    for i in 0..n {
        for j in 0..n {
            for k in (j + 1)..n {
                if i == j || i == k {
                    continue;
                }
                let r = cosine(&reference[i], &reference[j]) - cosine(&reference[i], &reference[k]);
                let o = cosine(&other[i], &other[j]) - cosine(&other[i], &other[k]);
                agree += usize::from((r > 0.0) == (o > 0.0));
                total += 1;
            }
        }
    }
    agree as f64 / total as f64
}

fn check_minilm(backend: BackendKind, device: Device) {
    let texts = texts();
    let f32s = embed(Precision::F32, &device, &texts);
    for (precision, floor, agreement_floor) in [(Precision::Q8, 0.999, 0.99), (Precision::Q4, 0.95, 0.88)] {
        let q = embed(precision, &device, &texts);
        let cos: Vec<f64> = f32s.iter().zip(&q).map(|(a, b)| cosine(a, b)).collect();
        let mean = cos.iter().sum::<f64>() / cos.len() as f64;
        let min = cos.iter().copied().fold(f64::INFINITY, f64::min);
        let agreement = ranking_agreement(&f32s, &q);
        println!(
            "{backend:?} MiniLM {}: cosine to f32 mean {mean:.5}, min {min:.5}; similarity-ranking agreement {agreement:.4} over {} texts",
            precision.as_str(),
            texts.len()
        );
        // The model really changed (a quantizer that matched nothing would pass the floors).
        assert!(min < 0.999_999, "{precision:?}: embeddings identical to f32: were any weights quantized?");
        assert!(mean >= floor, "{backend:?} {precision:?}: mean cosine {mean} below {floor}");
        assert!(agreement >= agreement_floor, "{backend:?} {precision:?}: ranking agreement {agreement}");
    }
}

#[test]
fn minilm_q8_and_q4_stay_close_to_f32_on_cpu() {
    check_minilm(BackendKind::Cpu, device::cpu_device());
}

/// The browser's CPU path for q8 (`SentenceEmbedder::quantize_on_host`: blocks of 32 along d_in,
/// integer products in `palate_models::kernels::igemm`, activations rounded to i16), run natively:
/// against f32 and against weight-only q8 (blocks along d_out, f32 products). A second
/// quantization is refused, not applied to the held weights.
#[test]
fn minilm_q8_in_integers_stays_close_to_f32() {
    let cpu = device::cpu_device();
    let texts = texts();
    let f32s = embed(Precision::F32, &cpu, &texts);
    let weight_only = embed(Precision::Q8, &cpu, &texts);
    let held = SentenceEmbedder::load(ModelFiles::from_dir(minilm_dir()).unwrap(), &cpu).unwrap().quantize_on_host();
    assert_eq!(held.precision(), Precision::Q8);
    let (count, bytes) = held.host_weights();
    assert_eq!(count, 6 * 6, "six linear layers in each of six blocks");
    let values = 4 * 384 * 384 + 2 * 384 * 1536;
    assert_eq!(bytes, 6 * (values + values / 32 * 4), "a byte per value, a scale per block of 32");
    let ints: Vec<Vec<f32>> = held.embed_blocking(&texts).unwrap().into_iter().map(|e| e.embedding).collect();
    let cosines = |other: &[Vec<f32>]| -> Vec<f64> { f32s.iter().zip(other).map(|(a, b)| cosine(a, b)).collect() };
    let (ints_cos, q8_cos) = (cosines(&ints), cosines(&weight_only));
    let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let agreement = ranking_agreement(&f32s, &ints);
    println!(
        "MiniLM q8 in integers: cosine to f32 mean {:.5}, min {:.5} (weight-only q8: {:.5}, {:.5}); ranking agreement {agreement:.4}",
        mean(&ints_cos),
        min(&ints_cos),
        mean(&q8_cos),
        min(&q8_cos)
    );
    assert!(min(&ints_cos) < 0.999_999, "embeddings identical to f32: were any weights quantized?");
    assert!(min(&ints_cos) >= 0.999, "min cosine to f32 {}", min(&ints_cos));
    assert!(agreement >= 0.99, "ranking agreement {agreement}");
    let e = held.quantize(Precision::Q4).unwrap_err().to_string();
    assert!(e.contains("already quantized (q8)"), "{e}");
}

#[test]
fn minilm_q8_and_q4_stay_close_to_f32_on_wgpu() {
    match pollster::block_on(device::wgpu_device()) {
        Ok(device) => check_minilm(BackendKind::Wgpu, device),
        Err(e) => {
            assert!(palate_tests::wgpu_skip_allowed(), "no wgpu adapter ({e}); set PALATE_ALLOW_NO_WGPU=1 to skip the wgpu tests");
            eprintln!("skipped: {e}");
        }
    }
}

fn ranks(xs: &[f32]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..xs.len()).collect();
    order.sort_by(|&a, &b| xs[a].total_cmp(&xs[b]));
    let mut r = vec![0.0; xs.len()];
    for (rank, &i) in order.iter().enumerate() {
        r[i] = rank as f64;
    }
    r
}

fn spearman(a: &[f32], b: &[f32]) -> f64 {
    let (ra, rb) = (ranks(a), ranks(b));
    let n = a.len() as f64;
    let d2: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - y).powi(2)).sum();
    1.0 - 6.0 * d2 / (n * (n * n - 1.0))
}

#[test]
fn tiny_reward_model_scores_keep_their_order_when_quantized() {
    let device = device::cpu_device();
    let dir = root().join("tests/fixtures/rm/qwen3");
    let prompt = "Which reply is better?";
    let responses: Vec<String> = [
        "Yes.",
        "No, I do not think so.",
        "It depends on what you need: speed, cost or comfort.",
        "Let me explain step by step.\n1. First this.\n2. Then that.",
        "Absolutely! Here is a long and detailed answer with many words in it.",
        "I'm not sure.",
        "The capital of France is Paris.",
        "Bonjour, ça va ?",
        "print('hello world')",
        "Please see the attached document for further details and caveats.",
        "🙂",
        "Short.",
    ]
    .map(String::from)
    .to_vec();
    let load = |p: Precision| {
        RewardModel::load(RewardFiles::from_dir(&dir).unwrap(), &device).unwrap().quantize(p).unwrap()
    };
    let reference = load(Precision::F32).score_blocking(prompt, &responses).unwrap();
    for (precision, floor) in [(Precision::Q8, 0.99), (Precision::Q4, 0.9)] {
        let scores = load(precision).score_blocking(prompt, &responses).unwrap();
        let rho = spearman(&reference, &scores);
        let max_diff = reference.iter().zip(&scores).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        println!("tiny Qwen3 RM {}: Spearman to f32 {rho:.4}, max |Δscore| {max_diff:.4}", precision.as_str());
        assert!(max_diff > 0.0, "{precision:?}: scores identical to f32: were any weights quantized?");
        assert!(rho >= floor, "{precision:?}: Spearman {rho} below {floor}");
    }
}
