//! One-file models (`palate convert`, `crates/palate-models/src/io/pack.rs`): a `.bpk` loads exactly
//! like its folder, on CPU and wgpu, at every stored precision; damaged or mismatched packs are
//! typed errors. References are the folder-loaded models (themselves checked against HF
//! transformers and the float64 reference in parity.rs / reward.rs / quantize.rs).

use palate_models::burn::tensor::Device;
use palate_models::io::pack::{self, Pack, PackKind, StoredPrecision};
use palate_models::pipelines::reward::{RewardFiles, RewardModel};
use palate_models::{BackendKind, ModelFiles, Precision, SentenceEmbedder, device};
use palate_tests::{minilm_dir, minilm_fixture, root};

fn embed(embedder: &SentenceEmbedder, texts: &[String]) -> Vec<Vec<f32>> {
    embedder.embed_blocking(texts).unwrap().into_iter().map(|e| e.embedding).collect()
}

/// Smallest cosine between matching rows.
fn min_cosine(a: &[Vec<f32>], b: &[Vec<f32>]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| {
            let dot: f64 = x.iter().zip(y).map(|(p, q)| *p as f64 * *q as f64).sum();
            let norm = |v: &[f32]| v.iter().map(|p| (*p as f64).powi(2)).sum::<f64>().sqrt();
            dot / (norm(x) * norm(y))
        })
        .fold(f64::INFINITY, f64::min)
}

fn max_abs_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    a.iter().flatten().zip(b.iter().flatten()).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn wgpu() -> Device {
    pollster::block_on(device::device(BackendKind::Wgpu)).expect("a wgpu adapter (lavapipe in CI)")
}

#[test]
fn minilm_packs_embed_like_the_folder_at_every_precision() {
    let texts = minilm_fixture().texts;
    let cpu = device::cpu_device();
    let files = ModelFiles::from_dir(minilm_dir()).unwrap();
    let folder = |p: Precision| embed(&SentenceEmbedder::load(files.clone(), &cpu).unwrap().quantize(p).unwrap(), &texts);
    let (f32_ref, q8_ref, q4_ref) = (folder(Precision::F32), folder(Precision::Q8), folder(Precision::Q4));
    let gpu = wgpu();
    let mut sizes = Vec::new();
    for precision in [StoredPrecision::F32, StoredPrecision::F16, StoredPrecision::Q8, StoredPrecision::Q4] {
        let (kind, bytes) = palate_models::convert::convert_dir(minilm_dir(), precision).unwrap();
        assert_eq!(kind, PackKind::SentenceEmbedder);
        sizes.push(bytes.len());
        // Natively a pack is read from disk a tensor at a time; check it against the in-memory one.
        let on_disk = (precision == StoredPrecision::Q4).then(|| {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("minilm.q4.bpk");
            std::fs::write(&path, &bytes).unwrap();
            std::fs::write(dir.path().join("half.bpk"), &bytes[..bytes.len() / 2]).unwrap();
            let e = Pack::from_file(dir.path().join("half.bpk")).unwrap_err().to_string();
            assert!(e.contains("half.bpk") && e.contains("damaged"), "{e}");
            let pack = Pack::from_file(&path).unwrap();
            assert_eq!(pack.len(), bytes.len());
            embed(&SentenceEmbedder::from_pack(&pack, &cpu).unwrap(), &texts[..4])
        });
        let pack = Pack::parse(bytes, "minilm.bpk").unwrap();
        assert_eq!(pack.precision, precision);
        assert_eq!(pack.fingerprint.as_deref(), Some(files.fingerprint().as_str()), "profiles and taste files stay valid");
        let taste = std::fs::read(minilm_dir().join("palate-taste.json")).ok();
        assert_eq!(pack.file("palate-taste.json"), taste.as_deref(), "the taste file travels with the weights");

        let on_cpu = SentenceEmbedder::from_pack(&pack, &cpu).unwrap();
        assert_eq!(on_cpu.precision(), precision.quantization());
        let got = embed(&on_cpu, &texts);
        if let Some(from_disk) = on_disk {
            assert_eq!(from_disk, got[..4].to_vec(), "a pack read from disk embeds like the same bytes in memory");
        }
        let cos_f32 = min_cosine(&got, &f32_ref);
        println!("{}: {} bytes, min cosine to f32 {cos_f32:.6}", precision.as_str(), sizes.last().unwrap());
        // Quantized packs hold u32-packed values, the GPU backend's own layout (burn's CPU backend
        // keeps one per byte, which the GPU backend refuses): both must read them alike.
        if precision != StoredPrecision::F32 && precision != StoredPrecision::F16 {
            let on_gpu = embed(&SentenceEmbedder::from_pack(&pack, &gpu).unwrap(), &texts[..4]);
            let cos_gpu = min_cosine(&on_gpu, &got[..4]);
            assert!(cos_gpu > 0.99999, "{}: wgpu and CPU disagree ({cos_gpu})", precision.as_str());
        }
        match precision {
            StoredPrecision::F32 => assert!(max_abs_diff(&got, &f32_ref) < 1e-6),
            StoredPrecision::F16 => assert!(cos_f32 > 0.9999, "{cos_f32}"),
            // Same quantized weights as quantizing after loading; only the f16 rest differs.
            StoredPrecision::Q8 => assert!(min_cosine(&got, &q8_ref) > 0.9999 && cos_f32 > 0.999),
            StoredPrecision::Q4 => assert!(min_cosine(&got, &q4_ref) > 0.999),
        }
    }
    // f16 halves the file; q8 / q4 shrink the linear layers further (the f16 token-embedding
    // table, 23.4 MB, is what remains).
    let ratio = |i: usize| sizes[i] as f64 / sizes[0] as f64;
    assert!(ratio(1) < 0.51 && ratio(2) < 0.41 && ratio(3) < 0.35, "sizes {sizes:?}");
}

#[test]
fn reward_model_packs_score_like_the_folder() {
    let responses: Vec<String> =
        ["Put it in boiling water for nine minutes.", "Eggs are nice.", "Boil water, add the egg, wait 9 min, cool it."]
            .map(String::from)
            .to_vec();
    let prompt = "How do I boil an egg?";
    // The llama fixture has no tokenizer (its parity test scores token ids), so only qwen3 here.
    for arch in ["qwen3"] {
        let dir = root().join("tests/fixtures/rm").join(arch);
        let cpu = device::cpu_device();
        let folder = |p: Precision| {
            RewardModel::load(RewardFiles::from_dir(&dir).unwrap(), &cpu).unwrap().quantize(p).unwrap().score_blocking(prompt, &responses).unwrap()
        };
        // The tolerances cover the pack's f16 norms and biases (the folder's are f32).
        for (precision, reference, tolerance) in [
            (StoredPrecision::F32, folder(Precision::F32), 1e-5),
            (StoredPrecision::Q8, folder(Precision::Q8), 2e-2),
            (StoredPrecision::Q4, folder(Precision::Q4), 2e-2),
        ] {
            let (kind, bytes) = palate_models::convert::convert_dir(&dir, precision).unwrap();
            assert_eq!(kind, PackKind::RewardModel);
            let pack = Pack::parse(bytes, "rm.bpk").unwrap();
            let mut by_device = Vec::new();
            // The last: a binding limit that sends the token table to the CPU, where an f16 / q8 /
            // q4 pack keeps it in f16.
            for (device, limit) in [(cpu.clone(), None), (wgpu(), None), (wgpu(), Some(1024))] {
                let model = RewardModel::from_pack(&pack, &device, limit).unwrap();
                assert_eq!(model.scorer().embeddings_on_cpu(), limit.is_some());
                // A quantized model's table, where it lives on the CPU, is read as q8 rows.
                let on_cpu = device == cpu || limit.is_some();
                assert_eq!(model.scorer().token_table_quantized(), on_cpu && matches!(precision, StoredPrecision::Q8 | StoredPrecision::Q4));
                // On the CPU a q4 pack's linear weights go into packed host memory (the fixture's
                // 64- and 96-wide ones; the 48-wide k/v projections are stored f16); on wgpu burn
                // holds them.
                let (held, bytes) = model.scorer().host_weights();
                let want = if device == cpu && precision == StoredPrecision::Q4 { 2 * 5 } else { 0 };
                assert_eq!(held, want, "{arch} {}: weights held on the host", precision.as_str());
                assert_eq!(bytes > 0, want > 0);
                let got = model.score_blocking(prompt, &responses).unwrap();
                for (g, r) in got.iter().zip(&reference) {
                    assert!((g - r).abs() <= tolerance * r.abs().max(1.0), "{arch} {}: {got:?} vs {reference:?}", precision.as_str());
                }
                by_device.push(got);
            }
            // The same file: the host-held q4 (CPU) against burn's own dequantization (wgpu).
            for other in &by_device[1..] {
                for (a, b) in by_device[0].iter().zip(other) {
                    assert!((a - b).abs() <= 1e-4 * a.abs().max(1.0), "{arch} {}: CPU {:?} vs wgpu {other:?}", precision.as_str(), by_device[0]);
                }
            }
        }
    }
}

#[test]
fn damaged_or_mismatched_packs_are_typed_errors() {
    let (_, bytes) = palate_models::convert::convert_dir(minilm_dir(), StoredPrecision::Q8).unwrap();
    let cpu = device::cpu_device();

    let e = Pack::parse(bytes[..bytes.len() / 2].to_vec(), "half.bpk").unwrap_err().to_string();
    assert!(e.contains("half.bpk") && e.contains("damaged"), "{e}");
    let e = Pack::parse(b"\x08\0\0\0\0\0\0\0{}".to_vec(), "x.bpk").unwrap_err().to_string();
    assert!(e.contains("not a Burnpack"), "{e}");
    let e = Pack::parse(Vec::new(), "empty.bpk").unwrap_err().to_string();
    assert!(e.contains("empty.bpk"), "{e}");

    let pack = Pack::parse(bytes, "minilm.q8.bpk").unwrap();
    let e = RewardModel::from_pack(&pack, &cpu, None).err().expect("a sentence-embedder pack is refused").to_string();
    assert!(e.contains("holds a sentence-embedder, not a reward-model"), "{e}");
    let e = SentenceEmbedder::from_pack(&pack, &cpu).unwrap().quantize(Precision::Q4).unwrap_err().to_string();
    assert!(e.contains("already quantized"), "{e}");

    // A reward-model pack whose carried config disagrees with its tensors.
    let dir = root().join("tests/fixtures/rm/qwen3");
    let (_, bytes) = palate_models::convert::convert_dir(&dir, StoredPrecision::F32).unwrap();
    let rm = Pack::parse(bytes, "rm.bpk").unwrap();
    let e = SentenceEmbedder::from_pack(&rm, &cpu).unwrap_err().to_string();
    assert!(e.contains("holds a reward-model"), "{e}");

    // A q8 reward-model pack whose carried config.json claims a larger vocabulary than its token
    // table (read as host rows, outside burn's shape checks): refused, not a panic on lookup.
    let mut text = RewardFiles::from_dir(&dir).unwrap();
    let model = RewardModel::load(RewardFiles::from_dir(&dir).unwrap(), &cpu).unwrap();
    let mut config: serde_json::Value = serde_json::from_slice(&text.config).unwrap();
    config["vocab_size"] = serde_json::json!(config["vocab_size"].as_u64().unwrap() * 2);
    text.config = config.to_string().into_bytes();
    let bytes = model.to_pack(&text, StoredPrecision::Q8).unwrap();
    let e = RewardModel::from_pack(&Pack::parse(bytes, "vocab.bpk").unwrap(), &cpu, None).err().expect("refused").to_string();
    assert!(e.contains("token table") && e.contains("config.json says"), "{e}");

    // A q4 reward-model pack read on the CPU, where its q4 linear weights go straight from the file
    // into host memory (outside burn's shape checks): a config that disagrees with their shapes,
    // or asks for a layer the file lacks, is refused with the tensor named.
    for (key, value, expect) in [
        ("intermediate_size", 160, "_proj.weight is ["),
        ("num_hidden_layers", 3, "missing"),
    ] {
        let mut text = RewardFiles::from_dir(&dir).unwrap();
        let mut config: serde_json::Value = serde_json::from_slice(&text.config).unwrap();
        config[key] = serde_json::json!(value);
        text.config = config.to_string().into_bytes();
        let model = RewardModel::load(RewardFiles::from_dir(&dir).unwrap(), &cpu).unwrap();
        let bytes = model.to_pack(&text, StoredPrecision::Q4).unwrap();
        let e = RewardModel::from_pack(&Pack::parse(bytes, "q4.bpk").unwrap(), &cpu, None).err().expect("refused").to_string();
        assert!(e.contains(expect) && (key != "intermediate_size" || e.contains("config.json says")), "{key}: {e}");
    }

    // A pack whose carried config.json asks for more layers than its tensors hold.
    let mut files = ModelFiles::from_dir(minilm_dir()).unwrap();
    let embedder = SentenceEmbedder::load(files.clone(), &cpu).unwrap();
    let mut config: serde_json::Value = serde_json::from_slice(&files.config).unwrap();
    config["num_hidden_layers"] = serde_json::json!(7);
    files.config = config.to_string().into_bytes();
    let bytes = embedder.to_pack(&files, StoredPrecision::F16, None).unwrap();
    let e = SentenceEmbedder::from_pack(&Pack::parse(bytes, "seven.bpk").unwrap(), &cpu).unwrap_err().to_string();
    assert!(e.contains("missing") && e.contains("encoder.layer.6"), "{e}");
}

/// A pack behind [`pack::ByteRanges`] that counts what is read (the browser's Blob path).
struct Counted {
    bytes: Vec<u8>,
    reads: std::sync::Mutex<Vec<(usize, usize)>>,
}

impl pack::ByteRanges for Counted {
    fn len(&self) -> usize {
        self.bytes.len()
    }
    fn read(&self, start: usize, end: usize) -> Result<Vec<u8>, String> {
        self.reads.lock().unwrap().push((start, end));
        self.bytes.get(start..end).map(<[u8]>::to_vec).ok_or_else(|| format!("bytes {start}..{end} are past the end"))
    }
}

/// Read by byte ranges, a pack loads like the same bytes in memory, a tensor at a time: no read
/// is larger than the largest tensor, and together they read the file about once. A truncated
/// or foreign file is a typed error, and so is a damaged table of contents (151 single-byte
/// changes across the metadata, by ranges and from memory: refused or loaded, never a panic).
#[test]
fn packs_load_by_byte_ranges_a_tensor_at_a_time() {
    use std::sync::Arc;
    let texts = minilm_fixture().texts;
    let cpu = device::cpu_device();
    let (_, bytes) = palate_models::convert::convert_dir(minilm_dir(), StoredPrecision::Q8).unwrap();
    let reference = embed(&SentenceEmbedder::from_pack(&Pack::parse(bytes.clone(), "m.bpk").unwrap(), &cpu).unwrap(), &texts[..4]);
    let source = Arc::new(Counted { bytes: bytes.clone(), reads: Default::default() });
    let pack = Pack::from_ranges(source.clone(), "m.bpk").unwrap();
    assert_eq!(pack.len(), bytes.len());
    assert_eq!(pack.precision, StoredPrecision::Q8);
    assert!(pack.file("tokenizer.json").is_some());
    for device in [cpu.clone(), wgpu()] {
        source.reads.lock().unwrap().clear();
        let embedder = SentenceEmbedder::from_pack(&pack, &device).unwrap();
        let reads = source.reads.lock().unwrap().clone();
        let largest = reads.iter().map(|(s, e)| e - s).max().unwrap();
        let total: usize = reads.iter().map(|(s, e)| e - s).sum();
        // The token-embedding table (30522 × 384, f16) is the largest tensor: 23.4 MB.
        assert!(largest <= 30522 * 384 * 2 + 64, "one read of {largest} bytes");
        assert!(reads.len() > 50, "{} reads", reads.len());
        assert!(total <= bytes.len() && total > bytes.len() * 9 / 10, "read {total} of {} bytes", bytes.len());
        let got = embed(&embedder, &texts[..4]);
        assert!(max_abs_diff(&got, &reference) < 1e-5, "ranges and memory disagree");
    }
    // The reward model's CPU-side q8 token table is read the same way.
    let rm_dir = root().join("tests/fixtures/rm/qwen3");
    let (_, rm_bytes) = palate_models::convert::convert_dir(&rm_dir, StoredPrecision::Q8).unwrap();
    let responses = vec!["Boil it.".to_string(), "Eggs are nice.".to_string()];
    let in_memory = RewardModel::from_pack(&Pack::parse(rm_bytes.clone(), "rm.bpk").unwrap(), &cpu, None).unwrap();
    let rm_len = rm_bytes.len();
    let rm_source = Arc::new(Counted { bytes: rm_bytes, reads: Default::default() });
    let ranged = Pack::from_ranges(rm_source.clone(), "rm.bpk").unwrap();
    let ranged = RewardModel::from_pack(&ranged, &cpu, None).unwrap();
    assert!(ranged.scorer().token_table_quantized());
    // The table (512 × 64 q8 values + block scales) stays in the file: loading skips it, and a
    // score reads only the rows of its tokens (64 value bytes, 8 scale bytes each).
    let table = 512 * 64 + 512 * 64 / 32 * 4;
    let loaded: usize = rm_source.reads.lock().unwrap().drain(..).map(|(s, e)| e - s).sum();
    assert!(loaded <= rm_len - table, "loading read {loaded} of {rm_len} bytes");
    assert_eq!(ranged.score_blocking("Egg?", &responses).unwrap(), in_memory.score_blocking("Egg?", &responses).unwrap());
    let rows = rm_source.reads.lock().unwrap().clone();
    assert!(!rows.is_empty() && rows.iter().all(|(s, e)| e - s == 64 || e - s == 8), "row reads {rows:?}");

    // Damaged: cut short, or not a pack at all.
    let half = Arc::new(Counted { bytes: bytes[..bytes.len() / 2].to_vec(), reads: Default::default() });
    let e = Pack::from_ranges(half, "half.bpk").unwrap_err().to_string();
    assert!(e.contains("half.bpk") && e.contains("truncated"), "{e}");
    let junk = Arc::new(Counted { bytes: b"PK\x03\x04 not a pack".to_vec(), reads: Default::default() });
    assert!(Pack::from_ranges(junk, "junk.bpk").unwrap_err().to_string().contains("not a Burnpack"));
    let empty = Arc::new(Counted { bytes: Vec::new(), reads: Default::default() });
    assert!(Pack::from_ranges(empty, "empty.bpk").is_err());

    // A damaged table of contents (one byte changed anywhere in the metadata) is refused or
    // loads; it never panics.
    let (_, rm) = palate_models::convert::convert_dir(&rm_dir, StoredPrecision::Q8).unwrap();
    let meta_len = u32::from_le_bytes([rm[6], rm[7], rm[8], rm[9]]) as usize;
    let (mut refused, mut loaded) = (0, 0);
    for i in (10..10 + meta_len).step_by((meta_len / 150).max(1)) {
        let mut bad = rm.clone();
        bad[i] ^= 0x5a;
        // By ranges (the browser) and from memory.
        for by_ranges in [true, false] {
            let bad = bad.clone();
            let outcome = std::panic::catch_unwind(|| {
                let pack = if by_ranges {
                    Pack::from_ranges(Arc::new(Counted { bytes: bad, reads: Default::default() }), "bad.bpk")?
                } else {
                    Pack::parse(bad, "bad.bpk")?
                };
                RewardModel::from_pack(&pack, &cpu, None)?.score_blocking("Egg?", &responses)
            });
            match outcome {
                Ok(Ok(_)) => loaded += 1,
                Ok(Err(_)) => refused += 1,
                Err(_) => panic!("a pack with byte {i} of its metadata changed made the loader panic (by ranges: {by_ranges})"),
            }
        }
    }
    println!("damaged metadata: {refused} refused, {loaded} loaded");
    assert!(refused > 0, "{refused} refused, {loaded} loaded");
}

/// Seeded mutants of a reward-model `.bpk` (bit flips in the header and metadata, a length field
/// set huge, truncation, spans deleted or repeated) give a typed error or a model that scores,
/// never a panic: the pack's own checks stand between burn-pack and a hostile file.
#[test]
fn mutated_packs_never_panic() {
    use palate_models::pipelines::reward::RewardModel;
    use rand::{Rng, SeedableRng, rngs::StdRng};
    let dir = palate_tests::root().join("tests/fixtures/rm/qwen3");
    let (_, whole) = palate_models::convert::convert_dir(&dir, StoredPrecision::F32).unwrap();
    // Most mutants hit the header and CBOR metadata, where the parsing is.
    use palate_models::burn::store::burn_pack::{HEADER_SIZE, Header};
    let meta_end = HEADER_SIZE + Header::from_bytes(&whole[..HEADER_SIZE]).unwrap().metadata_size as usize;
    let hot = meta_end.min(whole.len()).max(64);
    let device = device::cpu_device();
    let mut rng = StdRng::seed_from_u64(26);
    let (mut parsed, mut scored) = (0, 0);
    let cases = 400;
    for case in 0..cases {
        let mut b = whole.clone();
        match rng.random_range(0..5) {
            0 => {
                for _ in 0..rng.random_range(1..6) {
                    let i = rng.random_range(0..hot);
                    b[i] ^= 1 << rng.random_range(0..8);
                }
            }
            1 => {
                let i = rng.random_range(0..hot - 4);
                b[i..i + 4].copy_from_slice(&[0xff, 0xff, 0xff, 0x7f]);
            }
            2 => b.truncate(rng.random_range(0..b.len())),
            3 => {
                let i = rng.random_range(0..hot);
                b.drain(i..(i + rng.random_range(1..32)).min(b.len()));
            }
            _ => {
                let i = rng.random_range(0..hot);
                let span = b[i..(i + rng.random_range(1..32)).min(b.len())].to_vec();
                b.splice(i..i, span);
            }
        }
        let device = device.clone();
        let outcome = palate_tests::bounded(case, move || match Pack::parse(b, "mutant.bpk") {
            Err(_) => (false, false),
            Ok(pack) => match RewardModel::from_pack(&pack, &device, None) {
                Err(_) => (true, false),
                Ok(rm) => (true, rm.score_blocking("How do I boil an egg?", &["Nine minutes.".to_string()]).is_ok()),
            },
        });
        let (p, s) = outcome.unwrap_or_else(|_| panic!("mutant {case} panicked"));
        parsed += p as usize;
        scored += s as usize;
    }
    eprintln!("{cases} mutants: {parsed} parsed, {scored} loaded and scored");
    assert!(parsed < cases, "the mutants reach the error paths");
}

/// A quantized tensor whose bytes do not match its shape and scheme (fewer or more than burn's
/// layout needs, or another scheme) is refused by name before burn unpacks it: burn's unpacking
/// trusts both and panics (natively, burn-store then aborts the process). Found by `fuzz/bpk`: a
/// q4 pack whose token table was relabelled Q4S while holding Q8S bytes; and a pack parsed from
/// memory skipped these checks altogether (burn-pack's own reader read it).
#[test]
fn quantized_tensors_of_the_wrong_length_are_refused() {
    let dir = root().join("tests/fixtures/rm/qwen3");
    let (_, whole) = palate_models::convert::convert_dir(&dir, StoredPrecision::Q4).unwrap();
    let find = |hay: &[u8], needle: &[u8], from: usize| hay[from..].windows(needle.len()).position(|w| w == needle).map(|i| i + from);
    let table = find(&whole, b"model.embed_tokens.weight", 0).expect("the token table is in the metadata");
    let end = find(&whole, b"data_offsets", table).expect("its byte range") + b"data_offsets".len();
    // CBOR [0, 36864]: the q8 table of 512 × 64 values, 32768 bytes and 1024 f32 block scales.
    assert_eq!(&whole[end..end + 5], &[0x82, 0x00, 0x19, 0x90, 0x00], "the layout this test edits");
    let value = find(&whole, b"cQ8S", table).expect("its scheme's value");
    type Edit = Box<dyn Fn(&mut Vec<u8>)>;
    let cases: [(&str, Edit, &str); 3] = [
        ("relabelled Q4S", Box::new(move |b: &mut Vec<u8>| b[value + 2] = b'4'), "quantized as Q4S needs 20480 bytes; the file gives 36864"),
        ("a longer range", Box::new(move |b: &mut Vec<u8>| b[end + 3] = 0xa0), "needs 36864 bytes; the file gives 40960"),
        ("a shorter range", Box::new(move |b: &mut Vec<u8>| b[end + 3] = 0x80), "needs 36864 bytes; the file gives 32768"),
    ];
    for (what, edit, expected) in cases {
        let mut bytes = whole.clone();
        edit(&mut bytes);
        let outcome = palate_tests::bounded(0, move || {
            Pack::parse(bytes, "edited.bpk").and_then(|p| RewardModel::from_pack(&p, &device::cpu_device(), None).map(|_| ()))
        })
        .unwrap_or_else(|_| panic!("{what}: panicked"));
        let e = outcome.expect_err(what).to_string();
        assert!(e.contains("model.embed_tokens.weight") && e.contains(expected), "{what}: {e}");
    }
}
