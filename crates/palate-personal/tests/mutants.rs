//! Hostile input for the two parsers that read outside data here: preference-data lines and taste
//! files. Seeded mutants (byte flips, truncations, numbers made huge or non-finite, fields dropped)
//! must give a typed error or a valid result, never a panic; a taste file that parses must rank
//! without one.

use palate_personal::features::{FeatureSpec, ReplyEmbedding};
use palate_personal::pairs::parse_lines;
use palate_personal::taste::TasteModel;
use rand::{Rng, SeedableRng, rngs::StdRng};

fn mutate(rng: &mut StdRng, bytes: &[u8]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    match rng.random_range(0..5) {
        0 => {
            // Flip a few bytes.
            for _ in 0..rng.random_range(1..8) {
                let i = rng.random_range(0..b.len());
                b[i] ^= 1 << rng.random_range(0..8);
            }
        }
        1 => b.truncate(rng.random_range(0..b.len())),
        2 => {
            // A number made huge, negative, or not a number.
            let text = String::from_utf8_lossy(&b).into_owned();
            let digits: Vec<usize> = text.char_indices().filter(|(_, c)| c.is_ascii_digit()).map(|(i, _)| i).collect();
            if let Some(&i) = digits.get(rng.random_range(0..digits.len().max(1))) {
                let with = ["1e308", "-1e308", "NaN", "99999999999999999999", "-0"][rng.random_range(0..5)];
                b = format!("{}{}{}", &text[..i], with, &text[i + 1..]).into_bytes();
            }
        }
        3 => {
            // A span deleted (drops fields, brackets, quotes).
            let i = rng.random_range(0..b.len());
            let j = (i + rng.random_range(1..64)).min(b.len());
            b.drain(i..j);
        }
        _ => {
            // A span duplicated.
            let i = rng.random_range(0..b.len());
            let j = (i + rng.random_range(1..64)).min(b.len());
            let span = b[i..j].to_vec();
            b.splice(i..i, span);
        }
    }
    b
}

#[test]
fn mutated_preference_lines_are_refused_or_read_never_a_panic() {
    let line = r#"{"source": "hh-rlhf/helpful-base", "user": "w1", "context": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}], "prompt": "How do I boil an egg?", "chosen": "Nine minutes.", "rejected": "No idea.", "strength": 2}"#;
    let mut rng = StdRng::seed_from_u64(21);
    let (mut ok, mut refused) = (0, 0);
    for _ in 0..500 {
        let text = String::from_utf8_lossy(&mutate(&mut rng, line.as_bytes())).into_owned();
        match parse_lines(&format!("{line}\n{text}\n"), "mutant.jsonl") {
            Ok(pairs) => {
                // A mutant cut to nothing is a blank line (skipped); a flipped byte may split it.
                assert!((1..=3).contains(&pairs.len()));
                ok += 1;
            }
            Err(e) => {
                let msg = e.to_string();
                assert!(msg.starts_with("mutant.jsonl:2:") || msg.starts_with("mutant.jsonl:3:"), "the error names the line: {msg}");
                refused += 1;
            }
        }
    }
    assert!(refused > 250 && ok > 10, "{ok} read, {refused} refused");
}

#[test]
fn mutated_taste_files_are_refused_or_rank_never_a_panic() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets/taste/all-MiniLM-L6-v2.json");
    let json = std::fs::read(path).unwrap();
    let spec = FeatureSpec::from_json(std::str::from_utf8(&json).unwrap()).unwrap();
    let dim = spec.embedding_dim;
    let mut rng = StdRng::seed_from_u64(26);
    let mut reply = || {
        let mut v = || (0..dim).map(|_| rng.random_range(-1.0f32..1.0)).collect::<Vec<f32>>();
        ReplyEmbedding { whole: v(), sentences: vec![v(), v()], tokens: v(), prompt: v(), chars: 120 }
    };
    let replies = [reply(), reply(), reply()];
    let (mut ranked, mut refused) = (0, 0);
    for _ in 0..300 {
        let mutant = mutate(&mut rng, &json);
        let Ok(text) = std::str::from_utf8(&mutant) else {
            refused += 1;
            continue;
        };
        match FeatureSpec::from_json(text).and_then(TasteModel::new) {
            Err(_) => refused += 1,
            Ok(model) => {
                // A file that parses either ranks or refuses these replies with an error.
                if let Ok(features) = model.features(&replies, None)
                    && model.rerank(&features, Some(1.0)).is_ok()
                {
                    ranked += 1;
                }
            }
        }
    }
    assert!(refused > 100, "{ranked} ranked, {refused} refused");
}

/// Stored profiles come back from IndexedDB or from a user's import: a mutated one is refused with
/// a typed error, or restores a model that still ranks, never a panic.
#[test]
fn mutated_profiles_are_refused_or_restored_never_a_panic() {
    use palate_personal::posterior::Answer;
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets/taste/all-MiniLM-L6-v2.json");
    let spec = FeatureSpec::from_json(&std::fs::read_to_string(path).unwrap()).unwrap();
    let dim = spec.embedding_dim;
    let mut rng = StdRng::seed_from_u64(27);
    let mut reply = || {
        let mut v = || (0..dim).map(|_| rng.random_range(-1.0f32..1.0)).collect::<Vec<f32>>();
        ReplyEmbedding { whole: v(), sentences: vec![v()], tokens: v(), prompt: v(), chars: 80 }
    };
    let replies = [reply(), reply(), reply()];
    let mut model = TasteModel::new(spec.clone()).unwrap();
    let features = model.features(&replies, None).unwrap();
    for (a, b, answer) in [(0, 1, Answer::A), (1, 2, Answer::B), (0, 2, Answer::Tie)] {
        model.answer(&features[a], &features[b], answer).unwrap();
    }
    let json = model.export_profile().into_bytes();
    let (mut restored, mut refused) = (0, 0);
    for case in 0..300 {
        let mutant = mutate(&mut rng, &json);
        let Ok(text) = std::str::from_utf8(&mutant) else {
            refused += 1;
            continue;
        };
        let outcome = std::panic::catch_unwind(|| match TasteModel::import_profile(spec.clone(), text) {
            Err(e) => {
                assert!(!e.to_string().is_empty());
                false
            }
            Ok(back) => {
                let ranked = back.rerank(&features, None).expect("a restored profile ranks");
                assert!(ranked.iter().all(|r| r.reward.is_finite() && r.uncertainty.is_finite()), "a restored profile ranks with finite rewards");
                true
            }
        });
        match outcome {
            Ok(true) => restored += 1,
            Ok(false) => refused += 1,
            Err(_) => panic!("mutant {case} panicked:\n{text}"),
        }
    }
    eprintln!("300 profile mutants: {restored} restored, {refused} refused");
    assert!(refused > 50 && restored > 0, "{restored} restored, {refused} refused: both outcomes reached");
}

/// Seeds for the `profile` fuzz target (`fuzz/`, scripts/fuzz.sh sets PALATE_FUZZ_SEEDS): a profile
/// of the shipped taste file with three answers, so the fuzzer starts from one that restores.
#[test]
#[ignore = "writes fuzz seeds; run by scripts/fuzz.sh"]
fn write_fuzz_seeds() {
    use palate_personal::posterior::Answer;
    let dir = std::path::PathBuf::from(std::env::var("PALATE_FUZZ_SEEDS").expect("PALATE_FUZZ_SEEDS names the corpus folder"));
    std::fs::create_dir_all(&dir).unwrap();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets/taste/all-MiniLM-L6-v2.json");
    let spec = FeatureSpec::from_json(&std::fs::read_to_string(path).unwrap()).unwrap();
    let dim = spec.embedding_dim;
    let v = |k: usize| (0..dim).map(|i| ((i * 5 + k * 11) % 13) as f32 / 13.0 - 0.5).collect::<Vec<f32>>();
    let replies: Vec<ReplyEmbedding> = (0..3)
        .map(|k| ReplyEmbedding { whole: v(k), sentences: vec![v(k + 1)], tokens: v(k + 2), prompt: v(7), chars: 50 + 20 * k })
        .collect();
    let mut model = TasteModel::new(spec).unwrap();
    let features = model.features(&replies, None).unwrap();
    for (a, b, answer) in [(0, 1, Answer::A), (1, 2, Answer::B), (0, 2, Answer::Tie)] {
        model.answer(&features[a], &features[b], answer).unwrap();
    }
    std::fs::write(dir.join("profile.json"), model.export_profile()).unwrap();
}
