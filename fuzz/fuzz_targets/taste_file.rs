//! A taste file (`palate-taste.json`, also carried inside a `.bpk`): parsed, turned into a taste
//! model, and asked to rank three fixed replies.
#![no_main]
use libfuzzer_sys::fuzz_target;
use palate_personal::features::{FeatureSpec, ReplyEmbedding};
use palate_personal::taste::TasteModel;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(model) = FeatureSpec::from_json(text).and_then(TasteModel::new) else { return };
    let dim = model.spec().embedding_dim;
    if dim > 4096 {
        return; // the spec's own limit check is what is fuzzed; replies that wide are the caller's
    }
    let v = |k: usize| (0..dim).map(|i| ((i * 7 + k * 13) % 17) as f32 / 17.0 - 0.5).collect::<Vec<f32>>();
    let replies: Vec<ReplyEmbedding> = (0..3)
        .map(|k| ReplyEmbedding { whole: v(k), sentences: vec![v(k + 1)], tokens: v(k + 2), prompt: v(9), chars: 40 + 30 * k })
        .collect();
    if let Ok(features) = model.features(&replies, None) {
        let _ = model.rerank(&features, Some(1.0));
    }
});
