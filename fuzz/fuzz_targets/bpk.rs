//! A `.bpk` pack (`palate convert`), read as either model kind would read it, then used once.
#![no_main]
use libfuzzer_sys::fuzz_target;
use palate_models::device;
use palate_models::io::pack::Pack;
use palate_models::pipelines::reward::RewardModel;
use palate_models::SentenceEmbedder;

fuzz_target!(|data: &[u8]| {
    let Ok(pack) = Pack::parse(data.to_vec(), "fuzz.bpk") else { return };
    let cpu = device::cpu_device();
    if let Ok(rm) = RewardModel::from_pack(&pack, &cpu, None) {
        let _ = rm.score_blocking("How do I boil an egg?", &["Nine minutes.".to_string()]);
    }
    if let Ok(embedder) = SentenceEmbedder::from_pack(&pack, &cpu) {
        let _ = embedder.embed_blocking(&["How do I boil an egg?".to_string()]);
    }
});
