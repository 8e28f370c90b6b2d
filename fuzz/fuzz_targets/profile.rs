//! A stored profile (IndexedDB, or a user's import) against the shipped taste file; a profile that
//! is restored must still rank.
#![no_main]
use libfuzzer_sys::fuzz_target;
use palate_personal::features::{FeatureSpec, ReplyEmbedding};
use palate_personal::taste::TasteModel;

const TASTE: &str = include_str!("../../assets/taste/all-MiniLM-L6-v2.json");

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(spec) = FeatureSpec::from_json(TASTE) else { panic!("the shipped taste file parses") };
    let Ok(model) = TasteModel::import_profile(spec, text) else { return };
    let dim = model.spec().embedding_dim;
    let v = |k: usize| (0..dim).map(|i| ((i * 5 + k * 11) % 13) as f32 / 13.0 - 0.5).collect::<Vec<f32>>();
    let replies: Vec<ReplyEmbedding> = (0..3)
        .map(|k| ReplyEmbedding { whole: v(k), sentences: vec![v(k + 1)], tokens: v(k + 2), prompt: v(7), chars: 50 + 20 * k })
        .collect();
    let Ok(features) = model.features(&replies, None) else { return };
    let ranked = model.rerank(&features, None);
    assert!(ranked.is_ok_and(|r| r.iter().all(|x| x.reward.is_finite())), "a restored profile ranks with finite rewards");
});
