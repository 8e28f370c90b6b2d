//! The taste model through its public API: ranking follows answers, explanations cite them,
//! conservative ranking, profiles, evaluation, and bad input.

use std::collections::HashSet;

use nalgebra::DVector;
use palate_personal::PersonalError;
use palate_personal::eval::{EvalUser, Strategy, evaluate};
use palate_personal::features::{
    BasisDirection, FeatureSpec, Principle, PrincipleHead, Prior, PriorComponent, ReplyEmbedding, SPEC_VERSION, Standardise,
    split_sentences,
};
use palate_personal::posterior::Answer;
use palate_personal::taste::TasteModel;

fn v(xs: &[f64]) -> DVector<f64> {
    DVector::from_column_slice(xs)
}

/// A 4-D embedding space: principle "concise" along axis 0, "formal" along axis 1, one basis
/// direction on axis 2 of the whole embedding. Prior N(mean, diag(var)).
fn spec(mean: [f64; 3], var: [f64; 3]) -> FeatureSpec {
    let head = |name: &str, axis: usize| {
        let mut goal = [0.0f32; 4];
        goal[axis] = 1.0;
        let baseline = [0.0f32, 0.0, 0.0, 1.0];
        PrincipleHead::new(Principle::new(name, name, "goal"), &goal, &baseline, 1.0).unwrap()
    };
    let mut basis = vec![0.0; 8];
    basis[2] = 1.0;
    FeatureSpec {
        version: SPEC_VERSION,
        model: "model-fingerprint".into(),
        trained_on: "unit test".into(),
        embedding_dim: 4,
        base_reward: false,
        shared: None,
        cues: Vec::new(),
        token_bag: false,
        principles: vec![head("concise", 0), head("formal", 1)],
        principle_standardise: vec![Standardise::IDENTITY; 2],
        basis: vec![BasisDirection { direction: basis, standardise: Standardise::IDENTITY }],
        prior: Prior {
            components: Vec::new(),
            mean: mean.to_vec(),
            covariance: (0..3).map(|i| (0..3).map(|j| if i == j { var[i] } else { 0.0 }).collect()).collect(),
        },
    }
}

#[test]
fn ranking_follows_answers_and_the_explanation_cites_them() {
    let mut model = TasteModel::new(spec([0.0, 0.0, 0.0], [1.0, 1.0, 1.0])).unwrap();
    // Replies: [concise, formal, taste]
    let concise = v(&[2.0, 0.0, 0.0]);
    let formal = v(&[0.0, 2.0, 0.0]);
    let plain = v(&[0.0, 0.0, 0.0]);
    for _ in 0..5 {
        model.answer(&concise, &formal, Answer::A).unwrap();
    }
    model.answer(&concise, &formal, Answer::Skip).unwrap();
    let ranked = model.rerank(&[formal.clone(), plain.clone(), concise.clone()], None).unwrap();
    assert_eq!(ranked.iter().map(|r| r.index).collect::<Vec<_>>(), vec![2, 1, 0]);
    let top = &ranked[0].explanation;
    assert!(top.starts_with("Ranked first mostly because it is more concise"), "{top}");
    assert!(top.contains("you picked the more concise reply in 5 of 5 choices"), "{top}");
    let last = &ranked[2].explanation;
    assert!(last.contains("formal"), "{last}");
    // Contributions are relative to the average candidate: they sum to zero over candidates.
    let total: f64 = ranked.iter().flat_map(|r| r.contributions.iter().map(|c| c.value)).sum();
    assert!(total.abs() < 1e-9);
    assert!(ranked[0].reward > ranked[1].reward && ranked[1].reward > ranked[2].reward);

    // Forget: back to the prior, no preference between them.
    model.forget();
    assert!(model.history().is_empty());
    let p = model.prefer(&concise, &formal).unwrap();
    assert!((p.probability - 0.5).abs() < 1e-12);
}

#[test]
fn conservative_ranking_prefers_the_certain_reply() {
    // Weight 0 is known to be 1; weight 1 is believed to be 1 but very uncertain.
    let model = TasteModel::new(spec([1.0, 1.0, 0.0], [1e-4, 4.0, 1.0])).unwrap();
    let sure = v(&[1.0, 0.0, 0.0]);
    let risky = v(&[0.0, 1.05, 0.0]);
    let baseline = v(&[0.0, 0.0, 0.0]);
    let mean_first = model.rerank(&[sure.clone(), risky.clone(), baseline.clone()], None).unwrap();
    assert_eq!(mean_first[0].index, 1, "by the mean alone the risky reply wins");
    let conservative = model.rerank(&[sure, risky, baseline], Some(1.0)).unwrap();
    assert_eq!(conservative[0].index, 0, "mean − sd prefers the certain one");
    assert!(conservative.iter().find(|r| r.index == 1).unwrap().uncertainty > 1.0);
}

#[test]
fn questions_skip_asked_and_identical_pairs() {
    let model = TasteModel::new(spec([0.0, 0.0, 0.0], [1.0, 1.0, 1.0])).unwrap();
    let a = v(&[1.0, 0.0, 0.0]);
    let b = v(&[0.0, 1.0, 0.0]);
    let q = model.next_question(&[a.clone(), b.clone(), b.clone()], &HashSet::new()).unwrap();
    assert_eq!(q.a, 0, "the identical pair (1, 2) carries no information");
    let asked: HashSet<_> = [(0, 1), (0, 2)].into_iter().collect();
    assert_eq!(model.next_question(&[a.clone(), b.clone(), b.clone()], &asked), Err(PersonalError::NoQuestionLeft));
    assert_eq!(
        model.next_question(std::slice::from_ref(&a), &HashSet::new()),
        Err(PersonalError::TooFewCandidates { needed: 2, found: 1 })
    );
}

#[test]
fn bad_input_gets_a_clear_error_and_changes_nothing() {
    let mut model = TasteModel::new(spec([0.0, 0.0, 0.0], [1.0, 1.0, 1.0])).unwrap();
    assert_eq!(model.rerank(&[], None), Err(PersonalError::TooFewCandidates { needed: 1, found: 0 }));
    let nan = v(&[f64::NAN, 0.0, 0.0]);
    assert!(matches!(model.rerank(std::slice::from_ref(&nan), None), Err(PersonalError::NonFinite { .. })));
    assert!(matches!(model.answer(&nan, &v(&[0.0, 0.0, 0.0]), Answer::A), Err(PersonalError::NonFinite { .. })));
    assert_eq!(
        model.answer(&v(&[1.0]), &v(&[0.0, 0.0, 0.0]), Answer::A),
        Err(PersonalError::DimensionMismatch { expected: 3, found: 1 })
    );
    assert!(model.history().is_empty() && model.posterior().answers() == 0);
    assert!(model.rerank(&[v(&[0.0, 0.0, 0.0])], Some(-1.0)).is_err());
    let one = model.rerank(&[v(&[0.0, 0.0, 0.0])], None).unwrap();
    assert_eq!(one[0].explanation, "The only reply.");
    // Identical candidates: ranked in input order, explained as alike.
    let same = model.rerank(&[v(&[1.0, 1.0, 1.0]), v(&[1.0, 1.0, 1.0])], None).unwrap();
    assert_eq!(same.iter().map(|r| r.index).collect::<Vec<_>>(), vec![0, 1]);
    assert!(same[1].explanation.contains("much like the other replies"), "{}", same[1].explanation);
    // Embeddings of the wrong size or with NaN.
    let bad = ReplyEmbedding { whole: vec![1.0, 0.0], ..Default::default() };
    assert!(matches!(model.features(&[bad], None), Err(PersonalError::DimensionMismatch { .. })));
    let nan = ReplyEmbedding { whole: vec![f32::NAN, 0.0, 0.0, 0.0], ..Default::default() };
    assert!(matches!(model.features(&[nan], None), Err(PersonalError::NonFinite { .. })));
    assert!(model.features(&[], None).is_err());
}

#[test]
fn features_follow_the_spec() {
    let model = TasteModel::new(spec([0.0, 0.0, 0.0], [1.0, 1.0, 1.0])).unwrap();
    let reply = ReplyEmbedding { whole: vec![0.0, 0.0, 2.0, 0.0], sentences: vec![vec![1.0, 0.0, 0.0, 0.0]], tokens: Vec::new(), ..Default::default() };
    let f = model.features(std::slice::from_ref(&reply), None).unwrap();
    // Whole embedding is unit axis 2: basis feature 1; principle heads with α = 1 measure the
    // projection of x − g on g − b: for x ⟂ g, b: R = 1 − ½ (dᵀ(x − g))²/‖d‖² = 1 − ½·(−1)²/2.
    assert!((f[0][2] - 1.0).abs() < 1e-12);
    assert!((f[0][0] - 0.75).abs() < 1e-12, "{}", f[0][0]);
    assert_eq!(reply.representation(4, false).unwrap(), vec![0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0]);
    // A spec with a base reward needs the scores, one per candidate.
    let mut with_reward = spec([1.0, 0.0, 0.0], [1.0, 1.0, 1.0]);
    with_reward.base_reward = true;
    with_reward.prior = Prior::gaussian(
        vec![1.0, 0.0, 0.0, 0.0],
        (0..4).map(|i| (0..4).map(|j| if i == j { 1.0 } else { 0.0 }).collect()).collect(),
    );
    let m = TasteModel::new(with_reward).unwrap();
    let two = [reply.clone(), reply.clone()];
    assert!(m.features(&two, None).is_err());
    assert!(m.features(&two, Some(&[1.0])).is_err());
    let f = m.features(&two, Some(&[3.0, 1.0])).unwrap();
    // log σ(r − median): median of {3, 1} is 2.
    assert!((f[0][0] - (1.0f64 / (1.0 + (-1.0f64).exp())).ln()).abs() < 1e-12);
    assert!((f[1][0] - (1.0f64 / (1.0 + 1.0f64.exp())).ln()).abs() < 1e-12);
    let ranked = m.rerank(&f, None).unwrap();
    assert_eq!(ranked[0].index, 0);
    assert!(ranked[0].explanation.contains("reward model rates it above"), "{}", ranked[0].explanation);
}

#[test]
fn sentences_are_split_by_lines_and_unicode_rules() {
    let s = split_sentences("Sure thing! It works, e.g. here. Really.\n\n1. Read it.\n2. Do it.\n\nHope that helps! 😊\n");
    assert_eq!(s, vec!["Sure thing!", "It works, e.g. here.", "Really.", "1. Read it.", "2. Do it.", "Hope that helps! 😊"]);
    assert!(split_sentences("").is_empty());
    assert!(split_sentences("   \n\n").is_empty());
    assert_eq!(split_sentences("42"), vec!["42"]);
    let huge = "Word. ".repeat(10_000);
    assert_eq!(split_sentences(&huge).len(), palate_personal::features::MAX_SENTENCES);
}

#[test]
fn profile_round_trip_and_refusals() {
    let s = spec([0.2, 0.0, 0.0], [1.0, 1.0, 1.0]);
    let mut model = TasteModel::new(s.clone()).unwrap();
    model.answer(&v(&[1.0, 0.0, 0.5]), &v(&[0.0, 1.0, 0.0]), Answer::A).unwrap();
    model.answer(&v(&[0.0, 1.0, 0.0]), &v(&[1.0, 0.2, 0.0]), Answer::B).unwrap();
    model.answer(&v(&[0.3, 0.3, 0.3]), &v(&[0.0, 0.0, 0.0]), Answer::Tie).unwrap();
    model.answer(&v(&[0.3, 0.3, 0.3]), &v(&[0.0, 0.0, 0.0]), Answer::Skip).unwrap();
    let json = model.export_profile();
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(doc["schema"], "palate-profile");
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["feature_names"], serde_json::json!(["concise", "formal", "taste-1"]));
    assert_eq!(doc["history"].as_array().unwrap().len(), 4);

    let back = TasteModel::import_profile(s.clone(), &json).unwrap();
    assert!((back.posterior().mean() - model.posterior().mean()).norm() < 1e-9);
    assert_eq!(back.history(), model.history());

    // Stored and read again (the browser restores it after every worker start), a profile is the
    // same to the last bit: serde_json parses floats exactly (its float_roundtrip feature).
    let mut exact = TasteModel::new(s.clone()).unwrap();
    exact.answer(&v(&[0.1 + 0.2, 1.0 / 3.0, -1.8225891911515686]), &v(&[0.005795342347747347, 2.0f64.sqrt(), 1e-300]), Answer::A).unwrap();
    let stored = exact.export_profile();
    let restored = TasteModel::import_profile(s.clone(), &stored).unwrap();
    assert_eq!(restored.history(), exact.history());
    assert_eq!(restored.export_profile(), stored, "export → import → export changed the profile");

    // Another model.
    let mut other = s.clone();
    other.model = "another-model".into();
    let err = TasteModel::import_profile(other, &json).unwrap_err();
    assert!(err.to_string().contains("another model"), "{err}");
    // Other features (a different principle).
    let mut other = s.clone();
    other.principles[0].principle.name = "verbose".into();
    let err = TasteModel::import_profile(other, &json).unwrap_err();
    assert!(err.to_string().contains("other features"), "{err}");
    // Tampered weights.
    let mut tampered = doc.clone();
    tampered["posterior"]["mean"][0] = serde_json::json!(9.0);
    let err = TasteModel::import_profile(s.clone(), &tampered.to_string()).unwrap_err();
    assert!(err.to_string().contains("do not follow from its answers"), "{err}");
    // The same features under a new population prior (a mixture): the answers are replayed
    // under it, so the weights move but nothing is refused or lost.
    let mut new_prior = s.clone();
    new_prior.prior.components = vec![
        PriorComponent { weight: 0.5, mean: vec![1.0, 0.0, 0.0], covariance: new_prior.prior.covariance.clone() },
        PriorComponent { weight: 0.5, mean: vec![-1.0, 0.0, 0.0], covariance: new_prior.prior.covariance.clone() },
    ];
    assert_eq!(new_prior.fingerprint(), s.fingerprint());
    assert_ne!(new_prior.prior_fingerprint(), s.prior_fingerprint());
    let replayed = TasteModel::import_profile(new_prior.clone(), &json).unwrap();
    assert_eq!(replayed.history(), model.history());
    assert!((replayed.posterior().mean() - model.posterior().mean()).norm() > 1e-3);
    assert!((replayed.posterior().responsibilities().iter().sum::<f64>() - 1.0).abs() < 1e-12);
    // Future version, random JSON, not JSON, bad answer, NaN-like values.
    let mut future = doc.clone();
    future["version"] = serde_json::json!(2);
    assert!(TasteModel::import_profile(s.clone(), &future.to_string()).unwrap_err().to_string().contains("version 2"));
    let err = TasteModel::import_profile(s.clone(), r#"{"hello": [1, 2, 3]}"#).unwrap_err();
    assert!(err.to_string().contains("not a Palate profile"), "{err}");
    assert!(TasteModel::import_profile(s.clone(), "\u{0}garbage").is_err());
    let mut bad_answer = doc.clone();
    bad_answer["history"][0]["answer"] = serde_json::json!("maybe");
    assert!(TasteModel::import_profile(s.clone(), &bad_answer.to_string()).unwrap_err().to_string().contains("maybe"));
    let mut short = doc.clone();
    short["history"][1]["a"] = serde_json::json!([1.0]);
    assert!(TasteModel::import_profile(s.clone(), &short.to_string()).unwrap_err().to_string().contains("answer 2"));
    // The model that exported is unchanged by all of this.
    assert_eq!(model.history().len(), 4);
}

#[test]
fn taste_file_round_trip_and_fingerprint() {
    let s = spec([0.0, 0.0, 0.0], [1.0, 1.0, 1.0]);
    let back = FeatureSpec::from_json(&s.to_json()).unwrap();
    assert_eq!(back, s);
    assert_eq!(back.fingerprint(), s.fingerprint());
    let mut changed = s.clone();
    changed.basis[0].standardise.scale = 2.0;
    assert_ne!(changed.fingerprint(), s.fingerprint());
    let mut broken = s.clone();
    broken.basis[0].direction.pop();
    assert!(FeatureSpec::from_json(&broken.to_json()).unwrap_err().to_string().contains("basis direction 1"));
    let mut broken = s.clone();
    broken.version = 99;
    assert!(FeatureSpec::from_json(&broken.to_json()).is_err());
    assert!(FeatureSpec::from_json("[]").is_err());
    let mut not_pd = s;
    not_pd.prior.covariance[0][0] = -1.0;
    assert!(TasteModel::new(not_pd).is_err());
}

#[test]
fn evaluation_improves_with_answers_and_active_is_not_worse() {
    // Features are the users' true attributes; users differ in which of three they weigh.
    use rand::{Rng, SeedableRng, rngs::StdRng};
    let mut rng = StdRng::seed_from_u64(11);
    let features: Vec<DVector<f64>> =
        (0..60).map(|_| v(&[rng.random_range(-1.5..1.5), rng.random_range(-1.5..1.5), rng.random_range(-1.5..1.5)])).collect();
    let users: Vec<EvalUser> = (0..12)
        .map(|u| {
            let mut w = [0.0; 3];
            w[u % 3] = if u % 2 == 0 { 3.0 } else { -3.0 };
            let mut pair = |_| {
                let (a, b) = (rng.random_range(0..60), rng.random_range(0..60));
                let m: f64 = (0..3).map(|i| w[i] * (features[a][i] - features[b][i])).sum();
                if m >= 0.0 { (a, b) } else { (b, a) }
            };
            EvalUser { name: format!("u{u}"), train: (0..30).map(&mut pair).collect(), test: (0..30).map(&mut pair).collect() }
        })
        .collect();
    let s = spec([0.0, 0.0, 0.0], [4.0, 4.0, 4.0]);
    let none = evaluate(&s, &features, &users, Strategy::None, 10, 1, |_| {}).unwrap();
    let random = evaluate(&s, &features, &users, Strategy::Random, 10, 3, |_| {}).unwrap();
    let active = evaluate(&s, &features, &users, Strategy::Active, 10, 1, |_| {}).unwrap();
    assert_eq!(none.len(), 11);
    assert!(none.iter().all(|&a| (a - none[0]).abs() < 1e-12), "none never changes");
    assert!((none[0] - 0.5).abs() < 1e-12, "a zero prior mean is a coin flip");
    assert!(random[10] > 0.85 && active[10] > 0.85, "random {random:?} active {active:?}");
    assert!(active[10] >= random[10] - 0.03, "active {} vs random {}", active[10], random[10]);
    assert!(evaluate(&s, &features, &[EvalUser::default()], Strategy::None, 3, 1, |_| {}).is_err());
}

mod session {
    use super::*;
    use palate_personal::session::{MAX_REPLIES, Session};

    /// A fake embedder: texts mentioning "short" point along axis 0, others along axis 1.
    fn embed(texts: &[String]) -> Vec<Vec<f32>> {
        texts.iter().map(|t| if t.contains("short") { vec![1.0, 0.0, 0.2, 0.1] } else { vec![0.0, 1.0, 0.1, 0.1] }).collect()
    }

    fn ready(session: &mut Session, replies: &[String]) {
        let missing = session.missing_texts("prompt", replies);
        let embedded = embed(&missing);
        session.remember(missing, embedded).unwrap();
        assert!(session.missing_texts("prompt", replies).is_empty(), "everything is cached now");
    }

    #[test]
    fn texts_in_questions_answers_and_profile_out() {
        let mut s = Session::new(spec([0.0, 0.0, 0.0], [1.0, 1.0, 1.0])).unwrap();
        let replies: Vec<String> = vec!["A short one.".into(), "A long one. With two sentences.".into(), "short again".into()];
        // Replies and each sentence, once each (a one-sentence reply is its own sentence).
        let missing = s.missing_texts("prompt", &replies);
        assert_eq!(missing, ["A short one.", "A long one. With two sentences.", "A long one.", "With two sentences.", "short again"]);
        assert!(s.rerank("prompt", &replies, None, None).unwrap_err().to_string().contains("not embedded"));
        ready(&mut s, &replies);

        let q = s.next_question("prompt", &replies, None).unwrap();
        assert_ne!(q.a, q.b);
        let short = if replies[q.a].contains("short") { "a" } else { "b" };
        let summary = s.answer(q.id, short).unwrap();
        assert_eq!(summary.answers, 1);
        assert_eq!(summary.weights.len(), 3);
        assert_eq!(summary.weights[2].label, "learned style 1");
        assert!(s.answer(q.id, "a").unwrap_err().to_string().contains("no open question"), "a question is answered once");
        assert!(s.answer(12345, "a").is_err());

        let ranked = s.rerank("prompt", &replies, None, Some(0.5)).unwrap();
        assert!(replies[ranked[0].index].contains("short"), "{ranked:?}");
        assert_eq!(ranked[0].contributions.iter().map(|c| c.label.as_str()).collect::<Vec<_>>(), vec!["concise", "formal", "your learned style"]);

        // The asked pair is not asked again.
        let q2 = s.next_question("prompt", &replies, None).unwrap();
        assert!((q2.a, q2.b) != (q.a, q.b));

        let json = s.export_profile();
        s.forget();
        assert_eq!(s.summary().answers, 0);
        assert!(s.import_profile("{}").is_err());
        assert_eq!(s.summary().answers, 0, "a refused import changes nothing");
        assert_eq!(s.import_profile(&json).unwrap().answers, 1);
    }

    #[test]
    fn limits_and_bad_answers() {
        let mut s = Session::new(spec([0.0, 0.0, 0.0], [1.0, 1.0, 1.0])).unwrap();
        let many: Vec<String> = (0..MAX_REPLIES + 1).map(|i| format!("reply {i}")).collect();
        assert!(s.rerank("p", &many, None, None).unwrap_err().to_string().contains("at most 64"));
        let huge = vec!["x".repeat(200_000), "y".into()];
        assert!(s.rerank("p", &huge, None, None).unwrap_err().to_string().contains("reply 1 is 200000 characters"));
        assert!(s.next_question("p", &["only one".to_string()], None).is_err());
        let same = vec!["same".to_string(), "same".to_string()];
        ready(&mut s, &same);
        assert_eq!(s.next_question("p", &same, None), Err(PersonalError::NoQuestionLeft), "identical replies are never asked");
        let two = vec!["short".to_string(), "long long".to_string()];
        ready(&mut s, &two);
        let q = s.next_question("p", &two, None).unwrap();
        assert!(s.answer(q.id, "maybe").unwrap_err().to_string().contains("unknown answer"));
        assert_eq!(s.summary().answers, 0);
        assert!(s.remember(vec!["x".into()], vec![]).is_err());
    }

    /// A taste file whose basis reads token bags: the session asks for them (replies only, each
    /// once), refuses to rank without them, and ranks by them once given.
    #[test]
    fn token_bags_are_asked_for_when_the_basis_reads_them() {
        let mut with_bag = spec([0.0, 0.0, 0.0], [1.0, 1.0, 1.0]);
        with_bag.token_bag = true;
        // The basis reads only the first axis of the token bag.
        let mut direction = vec![0.0; 12];
        direction[8] = 1.0;
        with_bag.basis[0].direction = direction;
        with_bag.validate().unwrap();
        let mut s = Session::new(with_bag).unwrap();
        let replies: Vec<String> = vec!["One.".into(), "Two words.".into(), "One.".into()];
        assert!(Session::new(spec([0.0; 3], [1.0; 3])).unwrap().missing_bags(&replies).is_empty(), "not asked without a bag basis");
        ready(&mut s, &replies);
        assert_eq!(s.missing_bags(&replies), ["One.", "Two words."]);
        let err = s.rerank("prompt", &replies, None, None).unwrap_err();
        assert!(err.to_string().contains("token bag"), "{err}");
        assert!(s.remember_bags(vec!["One.".into()], vec![vec![1.0, 0.0]]).is_err(), "wrong width");
        assert!(s.remember_bags(vec!["One.".into()], vec![]).is_err());
        s.remember_bags(vec!["One.".into(), "Two words.".into()], vec![vec![1.0, 0.0, 0.0, 0.0], vec![3.0, 0.0, 0.0, 0.0]]).unwrap();
        assert!(s.missing_bags(&replies).is_empty());
        // A user who likes the learned style (prior mean on the basis weight) ranks the larger bag first.
        let mut likes = spec([0.0, 0.0, 2.0], [1.0, 1.0, 0.1]);
        likes.token_bag = true;
        likes.basis = s.model().spec().basis.clone();
        let mut s2 = Session::new(likes).unwrap();
        ready(&mut s2, &replies);
        s2.remember_bags(vec!["One.".into(), "Two words.".into()], vec![vec![1.0, 0.0, 0.0, 0.0], vec![3.0, 0.0, 0.0, 0.0]]).unwrap();
        let ranked = s2.rerank("p", &replies, None, None).unwrap();
        assert_eq!(ranked[0].index, 1, "{ranked:?}");
    }

    /// The fake embedder as a session's encoder; counts its calls.
    struct Fake(std::cell::Cell<usize>);
    impl palate_personal::session::Encoder for Fake {
        async fn embed(&self, texts: &[String]) -> palate_personal::Result<Vec<Vec<f32>>> {
            self.0.set(self.0.get() + 1);
            Ok(embed(texts))
        }
        async fn token_bags(&self, texts: &[String]) -> palate_personal::Result<Vec<Vec<f32>>> {
            Ok(texts.iter().map(|t| vec![t.len() as f32, 0.0, 0.0, 0.0]).collect())
        }
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        // The fake encoder never waits: one poll finishes it.
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        let mut f = std::pin::pin!(f);
        match f.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(v) => v,
            std::task::Poll::Pending => panic!("the fake encoder does not wait"),
        }
    }

    /// A shared reward over (prompt, reply): `prepare` embeds the prompt too, the reward is the
    /// first feature with prior weight 1, and the explanation says where it came from.
    #[test]
    fn the_shared_reward_reads_the_prompt_and_ranks_before_any_answer() {
        use palate_personal::shared::{Block, SharedReward};
        let mut base = spec([0.0, 0.0, 0.0], [0.1, 0.1, 0.1]);
        // Reward = 3·cos(prompt, reply): replies pointing where the prompt points win.
        base.shared = Some(SharedReward { trained_on: "12 human choices (unit test)".into(), blocks: vec![Block::PromptCosine], weights: vec![3.0] });
        base.prior = Prior {
            components: Vec::new(),
            mean: vec![1.0, 0.0, 0.0, 0.0],
            covariance: (0..4).map(|i| (0..4).map(|j| if i == j { 0.1 } else { 0.0 }).collect()).collect(),
        };
        base.validate().unwrap();
        let session = std::cell::RefCell::new(Session::new(base).unwrap());
        let replies: Vec<String> = vec!["A long one.".into(), "A short one.".into()];
        let fake = Fake(std::cell::Cell::new(0));
        // Without prepare, the prompt is missing.
        assert!(session.borrow().missing_texts("short prompt", &replies).contains(&"short prompt".to_string()));
        block_on(palate_personal::session::prepare(&session, &fake, "short prompt", &replies)).unwrap();
        assert!(session.borrow().missing_texts("short prompt", &replies).is_empty());
        let ranked = session.borrow().rerank("short prompt", &replies, None, None).unwrap();
        assert_eq!(ranked[0].index, 1, "the reply along the prompt's axis: {ranked:?}");
        assert_eq!(ranked[0].contributions[0].group, "shared");
        assert!(ranked[0].explanation.contains("people generally prefer") && ranked[0].explanation.contains("12 human choices"), "{}", ranked[0].explanation);
        // Another prompt flips the order; only the new prompt is embedded.
        let calls = fake.0.get();
        block_on(palate_personal::session::prepare(&session, &fake, "long prompt", &replies)).unwrap();
        assert_eq!(fake.0.get(), calls + 1);
        assert_eq!(session.borrow().rerank("long prompt", &replies, None, None).unwrap()[0].index, 0);
        assert_eq!(session.borrow().summary().weights[0].name, "shared");
    }

    /// A long session passes the cache limit many times over; every ranking still finds what it
    /// needs (emptying the cache between asking what is missing and ranking would lose texts).
    #[test]
    fn rankings_survive_the_cache_limit() {
        let mut with_bag = spec([0.0, 0.0, 0.0], [1.0, 1.0, 1.0]);
        with_bag.token_bag = true;
        with_bag.basis[0].direction = vec![0.0; 12];
        let session = std::cell::RefCell::new(Session::new(with_bag).unwrap());
        let fake = Fake(std::cell::Cell::new(0));
        let shared = "A reply every prompt gets. It has two sentences.".to_string();
        for i in 0..palate_personal::session::CACHE_LIMIT {
            let replies = vec![shared.clone(), format!("Reply number {i}.")];
            block_on(palate_personal::session::prepare(&session, &fake, "p", &replies)).unwrap();
            session.borrow().rerank("p", &replies, None, None).unwrap();
        }
    }

    #[test]
    fn a_reward_model_joins_as_the_first_feature_with_weight_one() {
        let mut s = Session::new(spec([0.0, 0.0, 0.0], [1.0, 1.0, 1.0])).unwrap();
        let plain_key = s.model().spec().fingerprint();
        s.use_base_reward().unwrap();
        assert!(s.needs_base_reward());
        assert_ne!(s.model().spec().fingerprint(), plain_key);
        assert_eq!(s.summary().weights[0].name, "reward");
        assert_eq!(s.summary().weights[0].mean, 1.0);
        let replies: Vec<String> = vec!["long long".into(), "long again".into(), "also long".into()];
        ready(&mut s, &replies);
        assert!(s.rerank("prompt", &replies, None, None).is_err(), "scores are required now");
        // Identical embeddings: only the reward model separates them.
        let ranked = s.rerank("prompt", &replies, Some(&[0.1, 2.0, -1.0]), None).unwrap();
        assert_eq!(ranked.iter().map(|r| r.index).collect::<Vec<_>>(), vec![1, 0, 2]);
        assert!(ranked[0].explanation.contains("reward model rates it above"), "{}", ranked[0].explanation);
        assert_eq!(ranked[0].contributions[0].label, "reward model");
    }
}

#[test]
fn own_principles_replace_the_defaults_and_keep_the_basis() {
    let s = spec([0.5, -0.2, 0.7], [1.0, 2.0, 3.0]);
    let list = Principle::list_from_json(r#"[{"name": "playful", "goal": "A playful reply."}]"#).unwrap();
    assert_eq!(list[0].label, "playful");
    assert_eq!(list[0].baseline, palate_personal::features::DEFAULT_BASELINE);
    let head = PrincipleHead::new(list[0].clone(), &[0.0, 0.0, 1.0, 0.0], &[0.0, 0.0, 0.0, 1.0], 0.5).unwrap();
    let own = s.with_principles(vec![head]).unwrap();
    assert_eq!(own.names(), vec!["playful", "taste-1"]);
    // New head: mean 0, median variance of the replaced heads (1 and 2 → 2); basis prior kept.
    assert_eq!(own.prior.mean, vec![0.0, 0.7]);
    assert_eq!(own.prior.covariance, vec![vec![2.0, 0.0], vec![0.0, 3.0]]);
    assert_ne!(own.fingerprint(), s.fingerprint());
    let model = TasteModel::new(own.clone()).unwrap();
    let profile = model.export_profile();
    assert!(TasteModel::import_profile(s.clone(), &profile).is_err(), "profiles do not cross principle sets");
    assert!(TasteModel::import_profile(own, &profile).is_ok());
    for bad in [r#"[{"name": "", "goal": "x"}]"#, r#"[{"name": "a", "goal": "x"}, {"name": "a", "goal": "y"}]"#, r#"{"name": "a"}"#, r#"[{"name": "a"}]"#] {
        assert!(Principle::list_from_json(bad).is_err(), "{bad}");
    }
}

/// A taste file with kinds of users: it round-trips through JSON, keeps its components when a
/// reward model or other principles are added, refuses malformed components, and a few answers
/// are enough to tell which kind the user is.
#[test]
fn mixture_prior_in_the_taste_file() {
    let mut s = spec([0.0, 0.0, 0.0], [1.0, 1.0, 1.0]);
    let small: Vec<Vec<f64>> = (0..3).map(|i| (0..3).map(|j| if i == j { 0.05 } else { 0.0 }).collect()).collect();
    s.prior.components = vec![
        PriorComponent { weight: 0.5, mean: vec![2.0, 0.0, 0.0], covariance: small.clone() },
        PriorComponent { weight: 0.5, mean: vec![-2.0, 0.0, 0.0], covariance: small.clone() },
    ];
    let back = FeatureSpec::from_json(&s.to_json()).unwrap();
    assert_eq!(back, s);
    let with_reward = s.with_base_reward(1.0, 0.5).unwrap();
    assert_eq!(with_reward.prior.components.len(), 2);
    assert_eq!(with_reward.prior.components[1].mean, vec![1.0, -2.0, 0.0, 0.0]);
    assert_eq!(with_reward.prior.components[0].covariance[0], vec![0.5, 0.0, 0.0, 0.0]);
    TasteModel::new(with_reward).unwrap();

    let mut model = TasteModel::new(s.clone()).unwrap();
    assert_eq!(model.posterior().responsibilities(), &[0.5, 0.5]);
    // The user prefers the more concise reply (feature 0) twice: the first kind.
    for _ in 0..2 {
        model.answer(&v(&[1.0, 0.0, 0.0]), &v(&[0.0, 0.0, 0.0]), Answer::A).unwrap();
    }
    let r = model.posterior().responsibilities();
    assert!(r[0] > 0.95, "{r:?}");
    assert!(model.posterior().mean()[0] > 1.5);

    for bad in [
        PriorComponent { weight: 0.0, mean: vec![0.0; 3], covariance: small.clone() },
        PriorComponent { weight: 1.0, mean: vec![0.0; 2], covariance: small.clone() },
        PriorComponent { weight: 1.0, mean: vec![f64::NAN, 0.0, 0.0], covariance: small.clone() },
    ] {
        let mut broken = s.clone();
        broken.prior.components.push(bad);
        assert!(FeatureSpec::from_json(&broken.to_json()).is_err());
    }
    // Not positive definite: refused when the model is made, not later.
    let mut broken = s.clone();
    broken.prior.components[0].covariance[0][0] = -1.0;
    assert!(TasteModel::new(broken).is_err());
}
