//! The one composition of a ranking: what it embeds, what the reward model sees, what it refuses.
//! A counting encoder with deterministic vectors stands in for MiniLM (the composition, not the
//! encoder, is under test; `palate rerank` and the browser tests run it on the real model); the
//! reward model is the tiny random-weight Qwen3 fixture.

use std::cell::RefCell;
use std::rc::Rc;

use palate::{Error, Ranker};
use palate_models::pipelines::chat::Message;
use palate_models::pipelines::reward::{RewardFiles, RewardModel, Rewarder};
use palate_personal::PersonalError;
use palate_personal::features::{FeatureSpec, Principle};
use palate_personal::session::Encoder;
use palate_tests::root;
use pollster::block_on;

/// Unit vectors drawn from each text's hash; records every text it is asked for.
struct Counting {
    dim: usize,
    embedded: RefCell<Vec<String>>,
    bagged: RefCell<Vec<String>>,
}

impl Counting {
    fn vector(&self, text: &str, salt: u64) -> Vec<f32> {
        let mut state = text.bytes().fold(0xcbf2_9ce4_8422_2325u64 ^ salt, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
        let v: Vec<f32> = (0..self.dim)
            .map(|_| {
                state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                ((state >> 33) as f32 / (1u64 << 31) as f32) - 0.5
            })
            .collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.into_iter().map(|x| x / norm).collect()
    }
}

impl Encoder for Counting {
    async fn embed(&self, texts: &[String]) -> palate_personal::Result<Vec<Vec<f32>>> {
        self.embedded.borrow_mut().extend(texts.iter().cloned());
        Ok(texts.iter().map(|t| self.vector(t, 1)).collect())
    }
    async fn token_bags(&self, texts: &[String]) -> palate_personal::Result<Vec<Vec<f32>>> {
        self.bagged.borrow_mut().extend(texts.iter().cloned());
        Ok(texts.iter().map(|t| self.vector(t, 2)).collect())
    }
}

fn shipped_spec() -> FeatureSpec {
    let path = root().join("assets/taste/all-MiniLM-L6-v2.json");
    FeatureSpec::from_json(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).expect("the shipped taste file")
}

fn ranker() -> (Rc<Counting>, Ranker<Counting>) {
    let spec = shipped_spec();
    let encoder = Rc::new(Counting { dim: spec.embedding_dim, embedded: RefCell::default(), bagged: RefCell::default() });
    let fingerprint = spec.model.clone();
    (Rc::clone(&encoder), block_on(Ranker::new(encoder, &fingerprint, spec, None)).expect("a ranker"))
}

fn replies() -> Vec<String> {
    ["Boil it for nine minutes, then cool it in cold water.", "No idea.", "Eggs are a good source of protein. Boil water first."]
        .map(String::from)
        .to_vec()
}

fn reward_model() -> Rc<Rewarder> {
    let device = palate_models::device::cpu_device();
    let files = RewardFiles::from_dir(root().join("tests/fixtures/rm/qwen3")).expect("the tiny Qwen3 fixture");
    Rc::new(Rewarder::Classifier(RewardModel::load(files, &device).expect("loads")))
}

/// A ranking is a permutation, best first; each text is embedded once, however often it is ranked.
#[test]
fn ranks_every_reply_once_and_embeds_each_text_once() {
    let (encoder, ranker) = ranker();
    let prompt = "How do I boil an egg?";
    let ranking = block_on(ranker.rerank(&[], prompt, &replies(), None)).expect("ranks");
    let mut indices: Vec<usize> = ranking.replies.iter().map(|r| r.index).collect();
    assert!(ranking.replies.windows(2).all(|w| w[0].reward >= w[1].reward), "not best first");
    assert!(ranking.replies.iter().all(|r| r.reward.is_finite() && r.uncertainty.is_finite()));
    indices.sort();
    assert_eq!(indices, [0, 1, 2]);
    assert!(ranking.base.is_none(), "no reward model, no base scores");
    let embedded = encoder.embedded.borrow().len();
    assert!(encoder.embedded.borrow().iter().any(|t| t == prompt), "the prompt was not embedded");
    for reply in replies() {
        assert_eq!(encoder.embedded.borrow().iter().filter(|t| **t == reply).count(), 1, "{reply}");
    }
    // Again, and a question: nothing new to embed, the same ranking.
    let again = block_on(ranker.rerank(&[], prompt, &replies(), None)).expect("ranks");
    block_on(ranker.next_question(&[], prompt, &replies())).expect("a question");
    assert_eq!(encoder.embedded.borrow().len(), embedded, "embedded again");
    let order = |r: &palate::Ranking| r.replies.iter().map(|x| (x.index, x.reward.to_bits())).collect::<Vec<_>>();
    assert_eq!(order(&again), order(&ranking));
}

/// Answers move the ranking, and the profile they leave restores the same ranking elsewhere.
#[test]
fn answers_change_the_ranking_and_travel_in_the_profile() {
    let (_, taught) = ranker();
    let prompt = "How do I boil an egg?";
    let before = block_on(taught.rerank(&[], prompt, &replies(), None)).expect("ranks");
    let worst = before.replies.last().expect("three replies").index;
    let best = before.replies[0].index;
    // Three replies make three pairs; each is asked once.
    for _ in 0..3 {
        let q = block_on(taught.next_question(&[], prompt, &replies())).expect("a question");
        let answer = if q.a == worst { "a" } else if q.b == worst { "b" } else { "skip" };
        taught.answer(q.id, answer).expect("answered");
    }
    let after = block_on(taught.rerank(&[], prompt, &replies(), None)).expect("ranks");
    let reward = |r: &palate::Ranking, i: usize| r.replies.iter().find(|x| x.index == i).map(|x| x.reward).expect("ranked");
    assert!(reward(&after, worst) - reward(&after, best) > reward(&before, worst) - reward(&before, best), "the answers did not move the ranking");

    let (_, elsewhere) = ranker();
    elsewhere.import_profile(&taught.export_profile()).expect("restores");
    let restored = block_on(elsewhere.rerank(&[], prompt, &replies(), None)).expect("ranks");
    // The same order; rewards equal up to the rounding of a posterior rebuilt from the profile.
    let order = |r: &palate::Ranking| r.replies.iter().map(|x| x.index).collect::<Vec<_>>();
    assert_eq!(order(&restored), order(&after));
    for (a, b) in restored.replies.iter().zip(&after.replies) {
        assert!((a.reward - b.reward).abs() <= 1e-12 * (1.0 + b.reward.abs()), "{} vs {}", a.reward, b.reward);
    }
    assert_eq!(taught.forget().answers, 0);
}

/// With a reward model, its scores of the whole conversation (earlier turns included) are the
/// ranking's base: exactly what the model says on its own.
#[test]
fn the_reward_model_scores_the_conversation_the_ranking_sees() {
    let (_, mut ranker) = ranker();
    let reward = reward_model();
    ranker.use_reward(Rc::clone(&reward)).expect("uses the reward");
    let history = [Message::new("user", "Hi"), Message::new("assistant", "Hello! How can I help?")];
    let prompt = "How do I boil an egg?";
    let ranking = block_on(ranker.rerank(&history, prompt, &replies(), None)).expect("ranks");
    let alone: Vec<f64> = block_on(reward.score_conversation(&history, prompt, &replies())).expect("scores").into_iter().map(f64::from).collect();
    assert_eq!(ranking.base.as_deref(), Some(alone.as_slice()));
    let without_history: Vec<f64> = block_on(reward.score_conversation(&[], prompt, &replies())).expect("scores").into_iter().map(f64::from).collect();
    assert_ne!(alone, without_history, "the fixture should tell a conversation from its last turn");
    assert!(ranker.reward().is_some());
}

/// A taste file for another model, or an empty list of principles, is refused by kind.
#[test]
fn refuses_a_spec_for_another_model_and_empty_principles() {
    let spec = shipped_spec();
    let encoder = Rc::new(Counting { dim: spec.embedding_dim, embedded: RefCell::default(), bagged: RefCell::default() });
    let other = block_on(Ranker::new(Rc::clone(&encoder), "sha256:another", spec.clone(), None));
    assert!(matches!(other, Err(Error::WrongModel)), "{:?}", other.err());
    let fingerprint = spec.model.clone();
    let empty = block_on(Ranker::new(Rc::clone(&encoder), &fingerprint, spec.clone(), Some(Vec::new())));
    assert!(matches!(empty, Err(Error::Taste(PersonalError::InvalidInput(_)))), "{:?}", empty.err());

    // Principles given replace the file's: their texts are embedded, the spec changes.
    let plain = block_on(Ranker::new(Rc::clone(&encoder), &fingerprint, spec.clone(), None)).expect("a ranker");
    let principle = Principle::new("brief", "Brief", "A short, direct answer.");
    let custom = block_on(Ranker::new(Rc::clone(&encoder), &fingerprint, spec, Some(vec![principle.clone()]))).expect("a ranker");
    assert!(encoder.embedded.borrow().contains(&principle.goal));
    assert_ne!(custom.session().model().spec().fingerprint(), plain.session().model().spec().fingerprint());
}
