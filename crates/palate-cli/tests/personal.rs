//! `palate train-basis` and `palate eval-personal` end to end on the SYNTHETIC benchmark
//! (bench/personal/make_synthetic.py, run here into a temporary folder).

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

fn synthetic(dir: &Path, extra: &[&str]) {
    let script = root().join("bench/personal/make_synthetic.py");
    let out = Command::new("python3")
        .arg(&script)
        .args(["--out", dir.to_str().unwrap()])
        .args(extra)
        .output()
        .expect("python3 runs the synthetic data generator");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn curve(v: &serde_json::Value, name: &str) -> Vec<f64> {
    serde_json::from_value(v["accuracy"][name].clone()).unwrap()
}

#[test]
fn train_basis_then_eval_personal() {
    let model = minilm_dir();
    let dir = tempfile::tempdir().unwrap();
    synthetic(dir.path(), &["--train-users", "24", "--test-users", "6"]);
    let taste = dir.path().join("taste.json");
    let out = palate(&[
        "train-basis",
        "--model",
        model.to_str().unwrap(),
        "--data",
        dir.path().join("train-users.jsonl").to_str().unwrap(),
        "--out",
        taste.to_str().unwrap(),
        "--rank",
        "4",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let spec: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&taste).unwrap()).unwrap();
    assert_eq!(spec["principles"].as_array().unwrap().len(), 8);
    assert_eq!(spec["basis"].as_array().unwrap().len(), 4);
    // [whole, Σ sentences, token bag] by default.
    assert_eq!(spec["token_bag"], true);
    assert_eq!(spec["basis"][0]["direction"].as_array().unwrap().len(), 3 * 384);
    assert_eq!(spec["prior"]["mean"].as_array().unwrap().len(), 12);

    let svg = dir.path().join("curves.svg");
    let out = palate(&[
        "eval-personal",
        "--model",
        model.to_str().unwrap(),
        "--data",
        dir.path().join("test-users.jsonl").to_str().unwrap(),
        "--taste",
        taste.to_str().unwrap(),
        "--max-k",
        "6",
        "--seeds",
        "2",
        "--json",
        "--plot",
        svg.to_str().unwrap(),
    ]);
    let v = ok_json(&out);
    assert_eq!(v["users"], 6);
    assert_eq!(v["pairs"], 6 * 80);
    for name in ["active", "random", "none"] {
        let c = curve(&v, name);
        assert_eq!(c.len(), 7, "{name}");
        assert!(c.iter().all(|a| (0.0..=1.0).contains(a)), "{name}: {c:?}");
    }
    let none = curve(&v, "none");
    assert!(none.iter().all(|&a| a == none[0]), "no answers, no change: {none:?}");
    let svg = std::fs::read_to_string(svg).unwrap();
    assert!(svg.contains("<svg") && svg.contains("active") && svg.contains("random"));
}

/// The synthetic taste file (assets/taste, the basis under the shipped shared reward) on the
/// held-out synthetic users: answers must help, and active questions must not trail a random
/// order. Figures: bench/personal/RESULTS.md.
#[test]
fn synthetic_taste_file_personalises_held_out_users() {
    let model = minilm_dir();
    let taste = root().join("assets/taste/all-MiniLM-L6-v2.synthetic.json");
    let dir = tempfile::tempdir().unwrap();
    synthetic(dir.path(), &[]);
    let out = palate(&[
        "eval-personal",
        "--model",
        model.to_str().unwrap(),
        "--taste",
        taste.to_str().unwrap(),
        "--data",
        dir.path().join("test-users.jsonl").to_str().unwrap(),
        "--max-k",
        "10",
        "--seeds",
        "3",
        "--json",
    ]);
    let v = ok_json(&out);
    let (active, random, none) = (curve(&v, "active"), curve(&v, "random"), curve(&v, "none"));
    assert!(active[10] > none[10] + 0.08, "active {active:?} none {none:?}");
    assert!(random[10] > none[10] + 0.05, "random {random:?} none {none:?}");
    let early: f64 = active[1..=5].iter().sum::<f64>() - random[1..=5].iter().sum::<f64>();
    assert!(early > 0.0, "active should lead over the first answers: {active:?} vs {random:?}");
}

#[test]
fn bad_data_and_foreign_taste_files_are_refused() {
    let model = minilm_dir();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("bad.jsonl");
    std::fs::write(
        &data,
        "{\"user\":\"u\",\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"b\",\"split\":\"train\"}\n\n{\"user\":\"u\",\"prompt\":\"p\",\"chosen\":\"a\"}\n",
    )
    .unwrap();
    let out = palate(&["eval-personal", "--model", model.to_str().unwrap(), "--data", data.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.jsonl:3:") && stderr.contains("missing field"), "{stderr}");

    std::fs::write(&data, "{\"user\":\"u\",\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"b\",\"split\":\"dev\"}\n").unwrap();
    let out = palate(&["eval-personal", "--model", model.to_str().unwrap(), "--data", data.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("split must be"), "{}", String::from_utf8_lossy(&out.stderr));

    // A taste file for another model: same content, different model fingerprint.
    let taste: PathBuf = dir.path().join("foreign.json");
    let mut spec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("assets/taste/all-MiniLM-L6-v2.json")).unwrap()).unwrap();
    spec["model"] = serde_json::json!("0000");
    std::fs::write(&taste, spec.to_string()).unwrap();
    std::fs::write(&data, "{\"user\":\"u\",\"prompt\":\"p\",\"chosen\":\"a\",\"rejected\":\"b\",\"split\":\"test\"}\n").unwrap();
    let out = palate(&[
        "eval-personal",
        "--model",
        model.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--taste",
        taste.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("another model"), "{}", String::from_utf8_lossy(&out.stderr));

    let out = palate(&["eval-personal", "--model", model.to_str().unwrap(), "--data", data.to_str().unwrap(), "--strategies", "clever"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown strategy"));
}
