//! `palate eval-pairs`, `palate train-reward` and `palate eval-personal` on real human preference
//! pairs (data/preferences, committed with their provenance).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use palate_tests::{minilm_dir, root};

fn palate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_palate")).args(args).output().unwrap()
}

fn ok_json(out: &Output) -> serde_json::Value {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn data(name: &str) -> PathBuf {
    root().join("data/preferences").join(name)
}

/// The first `n` lines of a gzip data file (held-out HH conversations only when `held_out`).
fn lines(name: &str, n: usize, held_out: Option<bool>) -> Vec<String> {
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(std::fs::File::open(data(name)).unwrap()), &mut text).unwrap();
    text.lines()
        .filter(|l| {
            held_out.is_none_or(|h| {
                let p = palate_personal::pairs::PreferencePair::parse(l, name, 0).unwrap();
                palate_personal::pairs::held_out(&p, palate_personal::pairs::HELD_OUT_FRACTION) == h
            })
        })
        .take(n)
        .map(str::to_string)
        .collect()
}

fn write_lines(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
    let path = dir.join(name);
    let mut f = std::fs::File::create(&path).unwrap();
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
    path
}

fn shipped_taste() -> PathBuf {
    root().join("assets/taste/all-MiniLM-L6-v2.json")
}

#[test]
fn eval_pairs_reports_sources_intervals_and_baselines() {
    let dir = tempfile::tempdir().unwrap();
    let mut mixed = lines("tulu1-human-eval.jsonl.gz", 30, None);
    mixed.extend(lines("hh-rlhf-helpful-base.jsonl.gz", 30, None));
    let file = write_lines(dir.path(), "mixed.jsonl", &mixed);
    let model = minilm_dir();
    let args = ["eval-pairs", "--model", model.to_str().unwrap(), "--data", file.to_str().unwrap(), "--json"];
    let v = ok_json(&palate(&args));
    assert_eq!(v["pairs"], 60);
    let sources = v["by_source"].as_object().unwrap();
    assert_eq!(sources.keys().collect::<Vec<_>>(), ["hh-rlhf/helpful-base", "tulu1-human-eval"]);
    let mut weighted = 0.0;
    for s in sources.values() {
        let (acc, lo, hi) = (s["accuracy"].as_f64().unwrap(), s["ci95"][0].as_f64().unwrap(), s["ci95"][1].as_f64().unwrap());
        assert!(lo <= acc && acc <= hi && (0.0..=1.0).contains(&lo) && hi <= 1.0, "{s}");
        assert!(hi - lo > 0.05, "30 pairs cannot give a narrow interval: {s}");
        for b in ["longer", "closer-to-prompt"] {
            assert!(s["baselines"][b]["accuracy"].as_f64().unwrap() >= 0.0, "{b}");
        }
        weighted += acc * s["pairs"].as_f64().unwrap();
    }
    assert!((weighted / 60.0 - v["accuracy"].as_f64().unwrap()).abs() < 1e-12);
    // "Longer reply wins", counted here by hand.
    let longer = mixed
        .iter()
        .map(|l| {
            let p = palate_personal::pairs::PreferencePair::parse(l, "x", 0).unwrap();
            let (c, r) = (p.chosen.chars().count(), p.rejected.chars().count());
            if c > r { 1.0 } else if c == r { 0.5 } else { 0.0 }
        })
        .sum::<f64>()
        / 60.0;
    assert!((v["baselines"]["longer"]["accuracy"].as_f64().unwrap() - longer).abs() < 1e-12);
    // The same run again (with an embedding cache, twice) gives the same figures.
    let cache = dir.path().join("cache.bin");
    let mut cached: Vec<&str> = args.to_vec();
    cached.extend(["--cache", cache.to_str().unwrap()]);
    assert_eq!(ok_json(&palate(&cached)), v);
    assert_eq!(ok_json(&palate(&cached)), v, "read back from the cache file");
}

#[test]
fn eval_pairs_refuses_malformed_lines_and_empty_files_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let model = minilm_dir();
    let mut bad = lines("tulu1-human-eval.jsonl.gz", 2, None);
    bad.push(r#"{"source": "x", "prompt": "p", "chosen": "a"}"#.into());
    let file = write_lines(dir.path(), "bad.jsonl", &bad);
    let out = palate(&["eval-pairs", "--model", model.to_str().unwrap(), "--data", file.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.jsonl:3:") && err.contains("rejected"), "{err}");
    let empty = write_lines(dir.path(), "empty.jsonl", &[]);
    let out = palate(&["eval-pairs", "--model", model.to_str().unwrap(), "--data", empty.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("empty.jsonl: no preference pairs"));
    let missing = dir.path().join("missing.jsonl.gz");
    let out = palate(&["eval-pairs", "--model", model.to_str().unwrap(), "--data", missing.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.jsonl.gz"));
}

/// The shipped default on held-out HH-RLHF harmlessness conversations (never trained on), where
/// people mostly preferred the shorter reply: it must beat "longer reply wins" by a margin and
/// stay above chance. Full figures, every set: bench/REAL.md.
#[test]
fn shipped_reward_beats_length_on_held_out_conversations() {
    let dir = tempfile::tempdir().unwrap();
    let held = lines("hh-rlhf-harmless-base.jsonl.gz", 300, Some(true));
    let file = write_lines(dir.path(), "held.jsonl", &held);
    let model = minilm_dir();
    let taste = shipped_taste();
    let v = ok_json(&palate(&[
        "eval-pairs", "--model", model.to_str().unwrap(), "--taste", taste.to_str().unwrap(),
        "--data", file.to_str().unwrap(), "--held-out", "--json",
    ]));
    assert_eq!(v["pairs"], 300);
    let acc = v["accuracy"].as_f64().unwrap();
    let longer = v["baselines"]["longer"]["accuracy"].as_f64().unwrap();
    assert!(acc > 0.5 && acc > longer + 0.05, "Palate {acc}, longer wins {longer}");
    // Held-out filtering: none of the training conversations passes --held-out.
    let train = write_lines(dir.path(), "train.jsonl", &lines("hh-rlhf-helpful-base.jsonl.gz", 20, Some(false)));
    let out = palate(&["eval-pairs", "--model", model.to_str().unwrap(), "--data", train.to_str().unwrap(), "--held-out"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("no held-out pairs"));
}

#[test]
fn train_reward_learns_from_training_conversations_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut all = lines("hh-rlhf-helpful-base.jsonl.gz", 120, Some(false));
    let held = lines("hh-rlhf-helpful-base.jsonl.gz", 20, Some(true));
    all.extend(held.iter().cloned());
    let file = write_lines(dir.path(), "train.jsonl", &all);
    let out_path = dir.path().join("taste.json");
    let model = minilm_dir();
    let synthetic = root().join("assets/taste/all-MiniLM-L6-v2.synthetic.json");
    let out = palate(&[
        "train-reward", "--model", model.to_str().unwrap(), "--taste", synthetic.to_str().unwrap(),
        "--data", file.to_str().unwrap(), "--blocks", "reply,length", "--l2", "100,10", "--out", out_path.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("120 training pairs"), "the 20 held-out pairs must not enter: {log}");
    let spec: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out_path).unwrap()).unwrap();
    assert_eq!(spec["shared"]["blocks"], serde_json::json!(["reply", "length"]));
    assert_eq!(spec["shared"]["weights"].as_array().unwrap().len(), 384 + 2);
    assert_eq!(spec["prior"]["mean"][0], 1.0, "a new user trusts the shared reward as learned");
    // The result is a working taste file: eval-pairs reads it and ranks with it.
    let v = ok_json(&palate(&["eval-pairs", "--model", model.to_str().unwrap(), "--taste", out_path.to_str().unwrap(), "--data", file.to_str().unwrap(), "--json"]));
    assert_eq!(v["pairs"], 140);
}

#[test]
fn eval_personal_on_annotators_reports_gains_with_intervals() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_lines(dir.path(), "tulu.jsonl", &lines("tulu1-human-eval.jsonl.gz", 160, None));
    let model = minilm_dir();
    let v = ok_json(&palate(&[
        "eval-personal", "--model", model.to_str().unwrap(), "--taste", shipped_taste().to_str().unwrap(),
        "--data", file.to_str().unwrap(), "--max-k", "5", "--seeds", "2", "--json",
    ]));
    assert!(v["users"].as_u64().unwrap() >= 2);
    let none = &v["strategies"]["none"];
    let curve: Vec<f64> = serde_json::from_value(none["curve"].clone()).unwrap();
    assert!(curve.iter().all(|&a| a == curve[0]), "no answers, no change: {curve:?}");
    for s in ["active", "random"] {
        let at = v["strategies"][s]["at"].as_array().unwrap();
        assert_eq!(at.iter().map(|a| a["k"].as_u64().unwrap()).collect::<Vec<_>>(), [0, 5]);
        assert_eq!(at[0]["accuracy"], none["at"][0]["accuracy"], "k = 0 is the shared reward alone");
    }
}

/// With a reward model its score joins the ranking; each pair's earlier turns reach it through the
/// chat template (tiny random Qwen3 fixture: the figures mean nothing, the path must work).
#[test]
fn eval_pairs_with_a_reward_model_scores_whole_conversations() {
    let dir = tempfile::tempdir().unwrap();
    let with_context: Vec<String> = lines("hh-rlhf-harmless-base.jsonl.gz", 2303, None)
        .into_iter()
        .filter(|l| {
            let p = palate_personal::pairs::PreferencePair::parse(l, "x", 0).unwrap();
            !p.context.is_empty() && l.len() < 450 // within the fixture's 256-token context
        })
        .take(6)
        .collect();
    assert_eq!(with_context.len(), 6);
    let file = write_lines(dir.path(), "context.jsonl", &with_context);
    let model = minilm_dir();
    let rm = root().join("tests/fixtures/rm/qwen3");
    let v = ok_json(&palate(&[
        "eval-pairs", "--model", model.to_str().unwrap(), "--reward-model", rm.to_str().unwrap(),
        "--data", file.to_str().unwrap(), "--json",
    ]));
    assert_eq!(v["pairs"], 6);
    assert!(v["ranking"].as_str().unwrap().ends_with("+ the reward model"));
}

/// `palate rerank` ranks exactly as `eval-pairs` counts: over ten real pairs, the number it puts
/// the human-chosen reply first in equals eval-pairs' accuracy × 10 (both go through one
/// composition, `pairs::rank`).
#[test]
fn rerank_agrees_with_eval_pairs() {
    let dir = tempfile::tempdir().unwrap();
    let rows = lines("tulu1-human-eval.jsonl.gz", 10, None);
    let file = write_lines(dir.path(), "ten.jsonl", &rows);
    let model = minilm_dir();
    let m = model.to_str().unwrap();
    let v = ok_json(&palate(&["eval-pairs", "--model", m, "--data", file.to_str().unwrap(), "--json"]));
    let mut first = 0.0;
    for row in &rows {
        let p = palate_personal::pairs::PreferencePair::parse(row, "ten.jsonl", 1).unwrap();
        assert!(p.context.is_empty(), "Tulu pairs are single-turn");
        let out = ok_json(&palate(&["rerank", "--model", m, "--prompt", &p.prompt, "--response", &p.chosen, "--response", &p.rejected, "--json"]));
        let ranked = out.as_array().unwrap();
        assert_eq!(ranked.len(), 2);
        let (a, b) = (ranked[0]["reward"].as_f64().unwrap(), ranked[1]["reward"].as_f64().unwrap());
        assert!(a >= b, "best first");
        first += if a == b { 0.5 } else if ranked[0]["index"] == 0 { 1.0 } else { 0.0 };
    }
    assert_eq!(first / 10.0, v["accuracy"].as_f64().unwrap());
    // A broken profile is refused, naming the profile.
    let bad = dir.path().join("profile.json");
    std::fs::write(&bad, "{broken").unwrap();
    let out = palate(&["rerank", "--model", m, "--prompt", "p", "--response", "a", "--profile", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("profile"), "{}", String::from_utf8_lossy(&out.stderr));
}

/// eval-pairs with a causal LM's GGUF: follow-up likelihood joins the ranking and is reported
/// alone as the "reward-model" baseline.
#[test]
fn eval_pairs_with_follow_up_likelihood() {
    let gguf = root().join("models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(gguf.is_file(), "run scripts/fetch-model.sh smollm2");
    let dir = tempfile::tempdir().unwrap();
    let file = write_lines(dir.path(), "two.jsonl", &lines("tulu1-human-eval.jsonl.gz", 2, None));
    let model = minilm_dir();
    let args = ["eval-pairs", "--model", model.to_str().unwrap(), "--reward-model", gguf.to_str().unwrap(), "--data", file.to_str().unwrap(), "--json"];
    let v = ok_json(&palate(&args));
    assert_eq!(v["pairs"], 2);
    assert!(v["ranking"].as_str().unwrap().contains("follow-up likelihood"), "{}", v["ranking"]);
    let rm = &v["baselines"]["reward-model"];
    assert_eq!(rm["pairs"], 2);
    assert!((0.0..=1.0).contains(&rm["accuracy"].as_f64().unwrap()));
}
